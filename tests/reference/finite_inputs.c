/* docs/loss.md: finite inputs never produce NaN.  Logits at the far
 * ends of float's range overflow exp() (w^ = aw e^tw is infinite in double
 * for tw > ~710, and its square for tw > ~355); a loss part or gradient
 * entry may then be infinite, but never NaN, whatever the weights
 * (including a weight of 0, where the exact value is 0) and the mode. */
#include "support.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>

#define CASES 200

static const float extremes[] = {0.0f,    1.0f,    -1.0f,    30.0f,    -30.0f,  88.0f,
                                 -88.0f,  89.0f,   -89.0f,   400.0f,   -400.0f, 800.0f,
                                 -800.0f, 1e20f,   -1e20f,   FLT_MAX,  -FLT_MAX};
#define N_EXTREMES (sizeof extremes / sizeof extremes[0])

static void check(rcase *rc, const char *what)
{
    rng r = {rc->seed * 7 + 3};
    for (size_t x = 0; x < rc->count; x++)
        if (rng_int(&r, 0, 2) == 0)
            rc->logical[x] = extremes[rng_int(&r, 0, N_EXTREMES - 1)];
    rcase_relayout(rc);
    double *lam[4] = {&rc->cfg.lambda_coord, &rc->cfg.lambda_class, &rc->cfg.lambda_obj,
                      &rc->cfg.lambda_noobj};
    for (int l = 0; l < 4; l++)
        if (rng_int(&r, 0, 2) == 0)
            *lam[l] = 0.0;
    rl_plan *plan = ref_plan(&rc->cfg);
    rl_batch batch = rcase_batch(rc);
    float *grad = malloc(rc->count * sizeof *grad);
    rl_result res;
    compute_ok(plan, &batch, &res, grad);
    const double parts[6] = {res.loss, res.coord, res.cls, res.obj, res.noobj, res.warmup};
    static const char *const names[6] = {"loss", "coord", "cls", "obj", "noobj", "warmup"};
    for (int q = 0; q < 6; q++)
        cr_assert(!isnan(parts[q]),
                  "%s seed %llu: %s is NaN (lambdas coord %g class %g obj %g noobj %g)", what,
                  (unsigned long long)rc->seed, names[q], rc->cfg.lambda_coord,
                  rc->cfg.lambda_class, rc->cfg.lambda_obj, rc->cfg.lambda_noobj);
    const double diag[6] = {res.avg_iou, res.avg_obj, res.avg_noobj, res.avg_cls,
                            res.darknet.cost, res.darknet.avg_anyobj};
    for (int q = 0; q < 6; q++)
        cr_assert(!isnan(diag[q]), "%s seed %llu: diagnostic %d is NaN", what,
                  (unsigned long long)rc->seed, q);
    for (size_t x = 0; x < rc->count; x++)
        cr_assert(!isnan(grad[x]), "%s seed %llu: gradient entry %zu is NaN (input %g)", what,
                  (unsigned long long)rc->seed, x, (double)rc->pred[x]);
    free(grad);
    rl_plan_destroy(plan);
}

Test(finite_inputs, spec_mode_never_nan)
{
    const uint64_t base = test_seed(101000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rc.cfg.norm = (rl_norm)(s % 3);
        check(&rc, "spec");
        rcase_free(&rc);
    }
}

Test(finite_inputs, darknet_mode_never_nan)
{
    const uint64_t base = test_seed(102000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rcase_darknet(&rc, (int)(s / 2 % 2), (int)(s / 4 % 2),
                      s % 3 ? RL_NORM_SUM : RL_NORM_IMAGES, (int)(s / 8 % 2));
        check(&rc, "darknet");
        rcase_free(&rc);
    }
}
