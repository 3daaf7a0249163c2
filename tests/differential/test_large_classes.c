/* The softmax kernels keep up to 2048 logits in a stack buffer and take a
 * three-pass path beyond; the seeded differential cases stop at C = 300, so
 * this runs every available variant (REGIONLOSS_CHECK_VARIANT narrows it)
 * against the reference through the same oracle on a few cases with C past
 * the buffer: both layouts, both modes, overwrite and accumulate, logits up
 * to +-60, one class far ahead of the rest.  The last four cases (NCHW,
 * C = 10500, 400 truths: the bound counts truths, the work responsible
 * slots) pass the driver's bound on copying the responsible slots' logits
 * (src/driver.c, copies_logits), so there the kernels read and write the
 * class entries H*W floats apart, in the tensor itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffcheck.h"
#include "testcfg.h"

static uint64_t state = 0x243f6a8885a308d3ull;

static double unif(void)
{ /* xorshift64*: a fixed stream, the same on every machine */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (double)((state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

int main(void)
{
    const char *only = getenv("REGIONLOSS_CHECK_VARIANT");
    if (only && *only)
        rl_diffcheck_only(only);
    static const int32_t classes[] = {2049, 2055, 3001, 4100};
    static const float anchors[4] = {1.5f, 2.0f, 3.0f, 1.0f};
    int failures = 0, checked = 0;
    for (int k = 0; k < 12; k++) {
        const int strided = k >= 8; /* past the copy bound */
        rl_config cfg;
        rl_test_config(&cfg, strided ? k & 2 : k & 4, 3 + k % 3, 2 + k % 2, 2,
                       strided ? 10500 : classes[k % 4], anchors);
        cfg.layout = k & 1 && !strided ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW;
        cfg.grad_mode = (strided ? k & 1 : k & 2) ? RL_GRAD_ACCUMULATE : RL_GRAD_OVERWRITE;
        const int32_t n_images = 2;
        const size_t count = (size_t)n_images * cfg.H * cfg.W * cfg.B * (5 + (size_t)cfg.C);
        float *pred = malloc(count * sizeof *pred);
        for (size_t e = 0; e < count; e++) {
            const double u = unif();
            pred[e] = (float)(u < 0.02 ? (unif() - 0.5) * 120.0 : (unif() - 0.5) * 8.0);
        }
        static rl_box truths[400];
        const int n_truths = strided ? 400 : 6;
        int64_t offsets[3] = {0, strided ? 250 : 4, n_truths};
        for (int t = 0; t < n_truths; t++) {
            truths[t].cx = (float)unif();
            truths[t].cy = (float)unif();
            truths[t].w = (float)(0.05 + 0.9 * unif());
            truths[t].h = (float)(0.05 + 0.9 * unif());
            truths[t].cls = (int32_t)(unif() * cfg.C);
        }
        rl_batch batch;
        memset(&batch, 0, sizeof batch);
        batch.n_images = n_images;
        batch.pred = pred;
        batch.truths = truths;
        batch.truth_offsets = offsets;
        batch.seen = 64;
        char what[96];
        snprintf(what, sizeof what, "large-C case %d (C = %d, %s, %s, %s)", k, (int)cfg.C,
                 cfg.layout == RL_LAYOUT_NHWC ? "NHWC" : "NCHW",
                 cfg.grad_mode == RL_GRAD_ACCUMULATE ? "accumulate" : "overwrite",
                 cfg.mode == RL_MODE_DARKNET ? "darknet" : "spec");
        rl_diffcheck_report rep;
        failures += rl_diffcheck(&cfg, &batch, what, stdout, &rep) != 0;
        checked += rep.variants_checked;
        free(pred);
    }
    printf("large classes: %d case(s) failed, %d variant runs compared\n", failures, checked);
    return failures != 0 || checked == 0;
}
