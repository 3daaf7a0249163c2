/* NCHW and NHWC are two memory orders of the same logical tensor (docs/loss.md,
 * "The tensor"): the same numbers must come out.  The reference visits slots in
 * (n, i, j, b) order whatever the layout and does the same double operations
 * on the same values, so the results are compared bit for bit, and each
 * gradient entry with its permuted twin. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>

#define CASES 60

static void compare_layouts(rcase *rc, const char *what)
{
    rc->cfg.layout = RL_LAYOUT_NCHW;
    rcase_relayout(rc);
    float *nchw = malloc(rc->count * sizeof *nchw);
    memcpy(nchw, rc->pred, rc->count * sizeof *nchw);
    rc->cfg.layout = RL_LAYOUT_NHWC;
    rcase_relayout(rc);
    const float *nhwc = rc->pred;

    rl_config c1 = rc->cfg, c2 = rc->cfg;
    c1.layout = RL_LAYOUT_NCHW;
    c2.layout = RL_LAYOUT_NHWC;
    rl_plan *p1 = ref_plan(&c1), *p2 = ref_plan(&c2);
    float *g1 = malloc(rc->count * sizeof *g1), *g2 = malloc(rc->count * sizeof *g2);
    rl_batch b1 = rcase_batch(rc), b2 = rcase_batch(rc);
    b1.pred = nchw;
    b2.pred = nhwc;
    rl_result r1, r2;
    compute_ok(p1, &b1, &r1, g1);
    compute_ok(p2, &b2, &r2, g2);
    char label[128];
    snprintf(label, sizeof label, "%s seed %llu", what, (unsigned long long)rc->seed);
    assert_results_identical(&r1, &r2, label);
    const rl_config *c = &rc->cfg;
    for (int32_t n = 0; n < rc->N; n++)
        for (int32_t i = 0; i < c->H; i++)
            for (int32_t j = 0; j < c->W; j++)
                for (int32_t b = 0; b < c->B; b++)
                    for (int32_t k = 0; k < 5 + c->C; k++) {
                        const float a = g1[spec_offset(RL_LAYOUT_NCHW, c->H, c->W, c->B, c->C,
                                                       n, i, j, b, k)];
                        const float z = g2[spec_offset(RL_LAYOUT_NHWC, c->H, c->W, c->B, c->C,
                                                       n, i, j, b, k)];
                        cr_assert(memcmp(&a, &z, sizeof a) == 0,
                                  "%s: grad (n=%d, i=%d, j=%d, b=%d, k=%d): NCHW %a, NHWC %a",
                                  label, n, i, j, b, k, (double)a, (double)z);
                    }
    free(nchw);
    free(g1);
    free(g2);
    rl_plan_destroy(p1);
    rl_plan_destroy(p2);
}

Test(prop_layout, spec_mode_all_norms)
{
    const uint64_t base = test_seed(31000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, RL_LAYOUT_NCHW);
        rc.cfg.norm = (rl_norm)(s % 3);
        compare_layouts(&rc, "spec");
        rcase_free(&rc);
    }
}

Test(prop_layout, darknet_mode)
{
    const uint64_t base = test_seed(32000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, RL_LAYOUT_NCHW);
        rcase_darknet(&rc, (int)(s % 2), (int)(s / 2 % 2),
                      s % 3 ? RL_NORM_SUM : RL_NORM_IMAGES, (int)(s / 4 % 2));
        compare_layouts(&rc, "darknet");
        rcase_free(&rc);
    }
}
