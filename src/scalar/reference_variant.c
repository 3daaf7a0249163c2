/* The reference as a selectable variant: it computes in double and rounds
 * each gradient entry once into the caller's buffer (float, bfloat16 or
 * binary16, to nearest even). */
#include <stdlib.h>
#include <string.h>

#include "../elem.h"
#include "../variants.h"
#include "reference.h"

static int always(void) { return 1; }

/* A half-precision batch as the float batch of the same values: every
 * bfloat16 and binary16 value is a float, so the widening is exact and the
 * double computation sees exactly the values given.  *pf is p with float
 * predictions.  The reference allocates what it needs (never the hot path). */
static rl_status widen(const rl_params *p, const rl_batch *batch, rl_params *pf, rl_batch *wide,
                       float **storage)
{
    *pf = *p;
    *wide = *batch;
    *storage = NULL;
    if (p->pred_type == RL_DTYPE_F32)
        return RL_OK;
    const size_t count = (size_t)batch->n_images * (size_t)p->per_image;
    float *v = malloc(count * sizeof *v);
    if (!v)
        return rl_fail(RL_ERR_NO_MEMORY, "reference: out of memory for the widened predictions");
    for (size_t x = 0; x < count; x++)
        v[x] = rl_load(batch->pred, (int64_t)x, p->pred_type);
    pf->pred_type = RL_DTYPE_F32;
    wide->pred = v;
    *storage = v;
    return RL_OK;
}

static rl_status ref_compute(const rl_plan *plan, const rl_batch *batch, rl_result *res,
                             void *grad)
{
    rl_status vst = rl_validate_preds(&plan->p, batch);
    if (vst != RL_OK)
        return vst;
    rl_params pf;
    rl_batch wb;
    float *wide;
    if ((vst = widen(&plan->p, batch, &pf, &wb, &wide)) != RL_OK)
        return vst;
    const rl_params *p = &pf;
    const int gt = plan->p.grad_type;
    const size_t count = (size_t)batch->n_images * (size_t)p->per_image;
    rl_ref_out out = {0};
    if (grad) {
        out.grad = malloc(count * sizeof *out.grad);
        out.touched = malloc(count);
        if (!out.grad || !out.touched) {
            free(out.grad);
            free(out.touched);
            free(wide);
            return rl_fail(RL_ERR_NO_MEMORY, "reference: out of memory for the gradient");
        }
    }
    rl_status st = rl_reference_compute(p, &wb, NULL, res, &out);
    if (st == RL_OK && grad) {
        /* One rounding, to nearest even, into the gradient's type: of the
         * double gradient, or in accumulate mode of the exact-as-double sum. */
        const double s = p->grad_scale; /* the darknet adapter's; 1 otherwise */
        if (p->grad_mode == RL_GRAD_OVERWRITE) {
            for (size_t x = 0; x < count; x++)
                rl_store_f64(grad, (int64_t)x, gt, s * out.grad[x]);
        } else {
            for (size_t x = 0; x < count; x++)
                if (out.touched[x])
                    rl_store_f64(grad, (int64_t)x, gt,
                                 (double)rl_load(grad, (int64_t)x, gt) +
                                     s * out.grad[x]);
        }
    }
    free(out.grad);
    free(out.touched);
    free(wide);
    return st;
}

static rl_status ref_count(const rl_plan *plan, const rl_batch *batch, rl_counts *out)
{
    rl_status st = rl_validate_preds(&plan->p, batch);
    rl_params pf;
    rl_batch wb;
    float *wide = NULL;
    if (st == RL_OK && (st = widen(&plan->p, batch, &pf, &wb, &wide)) == RL_OK)
        st = rl_reference_count(&pf, &wb, out);
    free(wide);
    return st;
}

/* The oracle allocates what it needs: it is never the hot path. */
static size_t ref_workspace(const rl_params *p, int64_t n_images, int64_t n_truths)
{
    (void)p, (void)n_images, (void)n_truths;
    return 0;
}

const rl_variant_desc rl_variant_reference = {"reference", always, ref_compute, ref_count,
                                              ref_workspace, NULL};
