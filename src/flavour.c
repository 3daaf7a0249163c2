/* AlexeyAB's [region] flavour of darknet mode (docs/darknet.md): its config
 * checks, and the truths it skips.  AlexeyAB's layer passes over a truth
 * whose class is not below `classes` (region_layer.c, forward_region_layer),
 * so the flavour hands the variants a batch without them: every variant then
 * sees the same truths, and none needs to know. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "variants.h"

rl_status rl_check_flavour(const rl_config *cfg)
{
    if (cfg->flavour != RL_FLAVOUR_PJREDDIE && cfg->flavour != RL_FLAVOUR_ALEXEYAB)
        return rl_fail(RL_ERR_BAD_ENUM,
                       "config: flavour = %d is neither pjreddie (0) nor alexeyab (1)",
                       (int)cfg->flavour);
    if (cfg->flavour != RL_FLAVOUR_PJREDDIE && cfg->mode != RL_MODE_DARKNET)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "config: flavour = %d needs darknet mode (mode = 1); the spec mode has "
                       "no flavours", (int)cfg->flavour);
    const int ab = cfg->mode == RL_MODE_DARKNET && cfg->flavour == RL_FLAVOUR_ALEXEYAB;
    if (cfg->classfix < -1 || cfg->classfix > 2)
        return rl_fail(RL_ERR_BAD_ARGUMENT, "config: classfix = %d is not -1, 0, 1 or 2",
                       (int)cfg->classfix);
    if (cfg->focal_loss != 0 && cfg->focal_loss != 1)
        return rl_fail(RL_ERR_BAD_ARGUMENT, "config: focal_loss = %d is not 0 or 1",
                       (int)cfg->focal_loss);
    if (!ab && cfg->classfix != 0)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "config: classfix = %d is AlexeyAB's option: it needs darknet mode with "
                       "flavour = RL_FLAVOUR_ALEXEYAB", (int)cfg->classfix);
    if (!ab && cfg->focal_loss != 0)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "config: focal_loss = 1 is AlexeyAB's option: it needs darknet mode with "
                       "flavour = RL_FLAVOUR_ALEXEYAB");
    /* AlexeyAB's softmax=0 leaves the class outputs unactivated, and its
     * focal term takes their logarithm: NaN for any output <= 0. */
    if (cfg->focal_loss && cfg->logistic_classes)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "config: focal_loss = 1 needs softmax classes (logistic_classes = 0): "
                       "AlexeyAB's focal term takes the log of the class output, which with "
                       "softmax=0 is the raw logit");
    return RL_OK;
}

int rl_flavour_skips(const rl_params *p, const rl_box *t)
{
    return p->flavour == RL_FLAVOUR_ALEXEYAB && t->cls >= p->C;
}

static int64_t kept_truths(const rl_params *p, const rl_batch *b)
{
    int64_t k = 0;
    for (int64_t t = 0; t < b->truth_offsets[b->n_images]; t++)
        k += !rl_flavour_skips(p, &b->truths[t]);
    return k;
}

#define FL_ALIGN 64
static size_t fl_align(size_t x) { return (x + FL_ALIGN - 1) & ~(size_t)(FL_ALIGN - 1); }

size_t rl_flavour_ws(const rl_params *p, int64_t n_images, int64_t n_truths)
{
    if (p->flavour != RL_FLAVOUR_ALEXEYAB)
        return 0;
    return fl_align((size_t)n_truths * sizeof(rl_box)) +
           fl_align((size_t)(n_images + 1) * sizeof(int64_t)) + FL_ALIGN;
}

rl_status rl_flavour_batch(const rl_params *p, const rl_batch *in, rl_batch *out, void **owned)
{
    *out = *in;
    *owned = NULL;
    if (p->flavour != RL_FLAVOUR_ALEXEYAB)
        return RL_OK;
    const int64_t N = in->n_images, nt = in->truth_offsets[N];
    if (kept_truths(p, in) == nt)
        return RL_OK;
    const size_t need = rl_flavour_ws(p, N, nt);
    unsigned char *mem;
    if (in->workspace && in->workspace_size >= need) { /* rl_workspace_size counted it */
        mem = in->workspace;
        out->workspace = mem + need;
        out->workspace_size = in->workspace_size - need;
    } else {
        mem = *owned = malloc(need);
        if (!mem)
            return rl_fail(RL_ERR_NO_MEMORY, "flavour: out of memory for %zu bytes", need);
    }
    uintptr_t a = ((uintptr_t)mem + FL_ALIGN - 1) & ~(uintptr_t)(FL_ALIGN - 1);
    rl_box *boxes = (rl_box *)a;
    int64_t *off = (int64_t *)(a + fl_align((size_t)nt * sizeof(rl_box)));
    int64_t k = 0;
    off[0] = 0;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t t = in->truth_offsets[n]; t < in->truth_offsets[n + 1]; t++)
            if (!rl_flavour_skips(p, &in->truths[t]))
                boxes[k++] = in->truths[t];
        off[n + 1] = k;
    }
    out->truths = k > 0 ? boxes : NULL;
    out->truth_offsets = off;
    return RL_OK;
}
