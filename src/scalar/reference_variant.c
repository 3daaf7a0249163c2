/* The reference as a selectable variant: it computes in double and rounds
 * each gradient entry once into the caller's float buffer. */
#include <stdlib.h>
#include <string.h>

#include "../variants.h"
#include "reference.h"

static int always(void) { return 1; }

static rl_status ref_compute(const rl_plan *plan, const rl_batch *batch, rl_result *res,
                             float *grad)
{
    const rl_params *p = &plan->p;
    rl_status vst = rl_validate_preds(p, batch);
    if (vst != RL_OK)
        return vst;
    const size_t count = (size_t)batch->n_images * (size_t)p->per_image;
    rl_ref_out out = {0};
    if (grad) {
        out.grad = malloc(count * sizeof *out.grad);
        out.touched = malloc(count);
        if (!out.grad || !out.touched) {
            free(out.grad);
            free(out.touched);
            return rl_fail(RL_ERR_NO_MEMORY, "reference: out of memory for the gradient");
        }
    }
    rl_status st = rl_reference_compute(p, batch, NULL, res, &out);
    if (st == RL_OK && grad) {
        if (p->grad_mode == RL_GRAD_OVERWRITE) {
            for (size_t x = 0; x < count; x++)
                grad[x] = (float)out.grad[x];
        } else {
            /* One rounding of the exact-as-double sum. */
            for (size_t x = 0; x < count; x++)
                if (out.touched[x])
                    grad[x] = (float)((double)grad[x] + out.grad[x]);
        }
    }
    free(out.grad);
    free(out.touched);
    return st;
}

static rl_status ref_count(const rl_plan *plan, const rl_batch *batch, rl_counts *out)
{
    rl_status st = rl_validate_preds(&plan->p, batch);
    return st != RL_OK ? st : rl_reference_count(&plan->p, batch, out);
}

/* The oracle allocates what it needs: it is never the hot path. */
static size_t ref_workspace(const rl_params *p, int64_t n_images, int64_t n_truths)
{
    (void)p, (void)n_images, (void)n_truths;
    return 0;
}

const rl_variant_desc rl_variant_reference = {"reference", always, ref_compute, ref_count,
                                              ref_workspace, NULL};
