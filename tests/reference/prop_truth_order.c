/* Truths that share no slot can be given in any order (docs/loss.md's
 * region loss): the assignment maps each to its own slot, best IoU is a
 * maximum (exact in any order), and every sum runs over slots, not truths.
 * So in spec mode the whole result and the gradient must be bit for bit the same.
 * Darknet's training-line statistics average over truths in input order,
 * so those few are compared to rounding; everything else bit for bit. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>

#define CASES 60

/* Drop every truth whose slot an earlier truth of its image already holds. */
static void make_slots_distinct(rcase *rc)
{
    rl_box kept[RC_MAX_N * RC_MAX_TRUTHS_PER_IMAGE];
    int64_t off[RC_MAX_N + 1] = {0}, k = 0;
    for (int32_t n = 0; n < rc->N; n++) {
        const int64_t first = k;
        for (int64_t t = rc->off[n]; t < rc->off[n + 1]; t++) {
            int32_t i, j, b, used = 0;
            spec_responsible(&rc->cfg, &rc->truths[t], &i, &j, &b);
            for (int64_t u = first; u < k; u++) {
                int32_t i2, j2, b2;
                spec_responsible(&rc->cfg, &kept[u], &i2, &j2, &b2);
                used |= i == i2 && j == j2 && b == b2;
            }
            if (!used)
                kept[k++] = rc->truths[t];
        }
        off[n + 1] = k;
    }
    memcpy(rc->truths, kept, (size_t)k * sizeof *kept);
    memcpy(rc->off, off, sizeof off);
}

static void permute(rcase *rc, rng *r, int reverse)
{
    for (int32_t n = 0; n < rc->N; n++) {
        rl_box *t = rc->truths + rc->off[n];
        const int64_t m = rc->off[n + 1] - rc->off[n];
        for (int64_t a = m - 1; a > 0; a--) {
            const int64_t z = reverse ? m - 1 - a : rng_int(r, 0, a);
            if (reverse && z >= a)
                break;
            const rl_box tmp = t[a];
            t[a] = t[z];
            t[z] = tmp;
        }
    }
}

static void run(rcase *rc, int darknet)
{
    make_slots_distinct(rc);
    rl_plan *plan = ref_plan(&rc->cfg);
    float *g0 = malloc(rc->count * sizeof *g0), *g1 = malloc(rc->count * sizeof *g1);
    rl_batch batch = rcase_batch(rc);
    rl_result r0, r1;
    compute_ok(plan, &batch, &r0, g0);
    rng r = {rc->seed ^ 0x5eed};
    char label[96];
    for (int round = 0; round < 3; round++) {
        permute(rc, &r, round == 0);
        batch = rcase_batch(rc);
        compute_ok(plan, &batch, &r1, g1);
        snprintf(label, sizeof label, "seed %llu round %d", (unsigned long long)rc->seed, round);
        if (darknet) {
            /* sums over truths in input order: equal to rounding */
            assert_close(r1.darknet.avg_iou, r0.darknet.avg_iou, DOUBLE_REL, 1e-300, "%s", label);
            assert_close(r1.darknet.recall, r0.darknet.recall, DOUBLE_REL, 1e-300, "%s", label);
            assert_close(r1.darknet.recall75, r0.darknet.recall75, DOUBLE_REL, 1e-300, "%s", label);
            assert_close(r1.darknet.avg_cls, r0.darknet.avg_cls, DOUBLE_REL, 1e-300, "%s", label);
            assert_close(r1.darknet.avg_obj, r0.darknet.avg_obj, DOUBLE_REL, 1e-300, "%s", label);
            r1.darknet.avg_iou = r0.darknet.avg_iou;
            r1.darknet.recall = r0.darknet.recall;
            r1.darknet.recall75 = r0.darknet.recall75;
            r1.darknet.avg_cls = r0.darknet.avg_cls;
            r1.darknet.avg_obj = r0.darknet.avg_obj;
        }
        assert_results_identical(&r0, &r1, label);
        cr_assert(memcmp(g0, g1, rc->count * sizeof *g0) == 0, "%s: gradient differs", label);
    }
    free(g0);
    free(g1);
    rl_plan_destroy(plan);
}

Test(prop_truth_order, spec_mode)
{
    const uint64_t base = test_seed(61000);
    int64_t multi = 0;
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rc.cfg.norm = (rl_norm)(s % 3);
        run(&rc, 0);
        for (int32_t n = 0; n < rc.N; n++)
            multi += rc.off[n + 1] - rc.off[n] >= 2;
        rcase_free(&rc);
    }
    cr_assert_gt(multi, 20, "too few images with two or more truths to reorder");
}

Test(prop_truth_order, darknet_mode)
{
    const uint64_t base = test_seed(62000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rcase_darknet(&rc, (int)(s % 2), (int)(s / 2 % 2), RL_NORM_SUM, (int)(s / 4 % 2));
        run(&rc, 1);
        rcase_free(&rc);
    }
}
