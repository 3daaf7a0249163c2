/* The same inputs give the same bits (docs/loss.md): across repeated
 * calls on one plan, across plans made from the same config, with or
 * without a gradient pointer, with a plan that owns a thread pool, and
 * whether or not a workspace is supplied. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>

#define CASES 30
#define REPEATS 4

static void run(rcase *rc, const char *what)
{
    rl_config one = rc->cfg, pooled = rc->cfg;
    pooled.threads = 2;
    rl_plan *p1 = ref_plan(&one), *p2 = ref_plan(&one), *p3 = ref_plan(&pooled);
    rl_batch batch = rcase_batch(rc);
    const size_t bytes = rc->count * sizeof(float);
    float *g0 = malloc(bytes), *g1 = malloc(bytes);
    rl_result r0, r1;
    char label[96];
    snprintf(label, sizeof label, "%s seed %llu", what, (unsigned long long)rc->seed);
    compute_ok(p1, &batch, &r0, g0);

    for (int k = 0; k < REPEATS; k++) {
        fill_guard(g1, bytes, (unsigned char)(0x11 * k));
        compute_ok(p1, &batch, &r1, g1);
        assert_results_identical(&r0, &r1, label);
        cr_assert(memcmp(g0, g1, bytes) == 0, "%s: repeat %d gradient differs", label, k);
    }
    const rl_plan *others[2] = {p2, p3};
    for (int k = 0; k < 2; k++) {
        compute_ok(others[k], &batch, &r1, g1);
        assert_results_identical(&r0, &r1, label);
        cr_assert(memcmp(g0, g1, bytes) == 0, "%s: plan %d gradient differs", label, k);
    }
    compute_ok(p1, &batch, &r1, NULL);
    assert_results_identical(&r0, &r1, label);

    size_t ws = 0;
    cr_assert_eq(rl_workspace_size(p1, rc->N, rc->off[rc->N], &ws), RL_OK);
    unsigned char *space = malloc(ws + 64);
    batch.workspace = space;
    batch.workspace_size = ws + 64;
    compute_ok(p1, &batch, &r1, g1);
    assert_results_identical(&r0, &r1, label);
    cr_assert(memcmp(g0, g1, bytes) == 0, "%s: with workspace, gradient differs", label);

    free(space);
    free(g0);
    free(g1);
    rl_plan_destroy(p1);
    rl_plan_destroy(p2);
    rl_plan_destroy(p3);
}

Test(prop_determinism, spec_mode)
{
    const uint64_t base = test_seed(81000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rc.cfg.norm = (rl_norm)(s % 3);
        run(&rc, "spec");
        rcase_free(&rc);
    }
}

Test(prop_determinism, darknet_mode)
{
    const uint64_t base = test_seed(82000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rcase_darknet(&rc, (int)(s % 2), (int)(s / 2 % 2), RL_NORM_SUM, (int)(s / 4 % 2));
        run(&rc, "darknet");
        rcase_free(&rc);
    }
}
