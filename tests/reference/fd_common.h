/* Central differences of the reference loss against its analytic double
 * gradient, shared by the spec-mode and darknet-mode suites.
 *
 * The function differentiated is the one docs/loss.md defines: masks,
 * counts and IoU targets held constant.  rl_reference_compute takes them
 * from `frozen` (the unperturbed predictions) while the loss is evaluated on
 * the perturbed copy, so the function is smooth in every entry (sigmoid,
 * exp, log-sum-exp) and has no kinks for the difference to straddle.
 *
 * Step and exactness.  Predictions are multiples of 2^-12 with |t| <= 2,
 * h = 2^-10 and h/2 = 2^-11: t +- h and t +- h/2 are again multiples of
 * 2^-12 below 4 in magnitude, which float holds exactly (24-bit mantissa),
 * so the perturbation is exactly the one the divisor 2h assumes.
 *
 * Estimate and bound.  D(h) = (L(t+h) - L(t-h))/2h = L' + h^2 L'''/6 +
 * h^4 L^(5)/120 + ...; Richardson's R = (4 D(h/2) - D(h))/3 cancels the h^2
 * term and leaves -h^4 L^(5)/480 ~ 2e-15 * L^(5).  The largest fifth
 * derivatives here come from (aw e^tw - Wg)^2 with aw <= 3, |tw| <= 1:
 * about 2^5 (aw e^tw)^2 ~ 2e3, i.e. ~4e-12.  Rounding: L is a double sum
 * of O(100) terms, absolute error at most ~1e-14 * S with S the sum of the
 * magnitudes of the parts; divided by h/2 = 2^-11 and weighted by
 * Richardson's 4/3 and 1/3 that is ~3e-11 * S.  The bound accepted is
 *     |R - g| <= 1e-9 * (1 + S + |g|),
 * some 30 times both estimates (the measured worst is ~1e-3 of it: run a
 * suite with --verbose to see it), and still far below any error in a
 * formula (a missing factor, a wrong sign or a dropped term is O(|g|) or
 * O(1)).  Entries the loss does not read must give exactly 0 on both
 * sides: the perturbed loss is then bit-for-bit the unperturbed one. */
#ifndef RL_TEST_FD_COMMON_H
#define RL_TEST_FD_COMMON_H

#include "support.h"

#include <stdio.h>
#include <stdlib.h>

#define FD_H 0x1p-10

typedef struct fd_stats {
    double worst_ratio; /* max |R - g| / bound over the entries checked */
    int64_t entries, read_entries;
} fd_stats;

static double fd_loss(const rl_plan *plan, rl_batch *batch, float *work, size_t x, float v,
                      const float *frozen)
{
    work[x] = v;
    rl_result r;
    ref_run(plan, batch, frozen, &r, NULL);
    return r.loss;
}

static double fd_magnitude(const rl_result *r)
{
    return fabs(r->coord) + fabs(r->cls) + fabs(r->obj) + fabs(r->noobj) + fabs(r->warmup);
}

/* Checks every entry of rc's batch with rc->cfg; labels failures with what. */
static void fd_check_case(const rcase *rc, const char *what, fd_stats *st)
{
    rl_plan *plan = ref_plan(&rc->cfg);
    rl_batch batch = rcase_batch(rc);
    rl_result r0;
    /* The public API must accept the batch: ref_run assumes validation. */
    compute_ok(plan, &batch, &r0, NULL);
    ref_bufs rb;
    ref_bufs_alloc(&rb, plan, rc->N);
    ref_run(plan, &batch, NULL, &r0, &rb);
    const double S = fd_magnitude(&r0);

    float *work = malloc(rc->count * sizeof *work);
    cr_assert(work);
    memcpy(work, rc->pred, rc->count * sizeof *work);
    batch.pred = work;
    for (size_t x = 0; x < rc->count; x++) {
        const float v = rc->pred[x];
        cr_assert((float)(v + FD_H) - FD_H == v, "step not exact at %a", (double)v);
        const double lp1 = fd_loss(plan, &batch, work, x, (float)(v + FD_H), rc->pred);
        const double lm1 = fd_loss(plan, &batch, work, x, (float)(v - FD_H), rc->pred);
        const double lp2 = fd_loss(plan, &batch, work, x, (float)(v + FD_H / 2), rc->pred);
        const double lm2 = fd_loss(plan, &batch, work, x, (float)(v - FD_H / 2), rc->pred);
        work[x] = v;
        const double d1 = (lp1 - lm1) / (2 * FD_H), d2 = (lp2 - lm2) / FD_H;
        const double rich = (4 * d2 - d1) / 3;
        const double g = rb.out.grad[x];
        st->entries++;
        if (!rb.out.touched[x]) {
            cr_assert(g == 0.0 && lp1 == r0.loss && lm1 == r0.loss && lp2 == r0.loss &&
                          lm2 == r0.loss,
                      "%s seed %llu: entry %zu is not read by the loss, yet g = %.17g and the "
                      "loss moves (%.17g, %.17g vs %.17g)",
                      what, (unsigned long long)rc->seed, x, g, lp1, lm1, r0.loss);
            continue;
        }
        st->read_entries++;
        const double bound = 1e-9 * (1 + S + fabs(g));
        const double err = fabs(rich - g);
        if (err / bound > st->worst_ratio)
            st->worst_ratio = err / bound;
        cr_assert(err <= bound,
                  "%s seed %llu (replay with REGIONLOSS_TEST_SEED=%llu): entry %zu: analytic "
                  "%.17g, finite difference %.17g (D(h) %.17g), |diff| %.3g > bound %.3g",
                  what, (unsigned long long)rc->seed, (unsigned long long)rc->seed, x, g, rich,
                  d1, err, bound);
    }
    free(work);
    ref_bufs_free(&rb);
    rl_plan_destroy(plan);
}

#endif
