/* Edges that random cases almost never hit, on every variant (the reference
 * included), each expectation derived by hand from docs/loss.md and
 * docs/api.md.  Found by tools/mutate.py (docs/testing.md): mutants at these
 * edges survived every other suite.
 *
 * Recall thresholds (docs/api.md: recall50 counts IoU > 0.5, recall75
 * IoU > 0.75, strictly; darknet's training line the same per truth).
 * H = W = 1, B = 1, C = 1, truth (0.5, 0.5, 1, 1): X = Y = 1/2, Wg = Hg = 1.
 * All logits 0: the slot decodes to centre (1/2, 1/2), size (aw, ah).
 * With ah = 1 and aw <= 1 the predicted box lies inside the truth:
 * IoU = aw / 1 = aw; with aw = 2 > 1, IoU = 1 / (2 + 1 - 1) = 1/2.  Every
 * number is a short binary fraction, so each IoU is exact:
 *   aw      2     9/16    3/4    7/8
 *   IoU    1/2    9/16    3/4    7/8
 *   >1/2    no    yes     yes    yes
 *   >3/4    no    no      no     yes
 *
 * Anchor ties (docs/loss.md, "Responsible slots": ties go to the smaller b).
 *
 * Zero divisors (docs/loss.md, "Spec mode": "a term whose divisor is 0 is 0").
 * batch.global_counts may say N_obj = 0 (or N_conf = 0, or zero images)
 * while this shard holds objects: the terms divided by it are then 0, with
 * a zero gradient, and the other terms keep their own divisor. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regionloss.h"
#include "testcfg.h"

static rl_plan *plan_for(rl_config *cfg, const char *variant)
{
    cfg->variant = variant;
    rl_plan *plan = NULL;
    cr_assert_eq(rl_plan_create(cfg, &plan), RL_OK, "%s: %s", variant, rl_last_error());
    return plan;
}

static int runnable(const char *v) { return rl_variant_check(v) == RL_OK; }

/* ---- recall at exactly 1/2 and 3/4 ------------------------------------- */

static void recall_case(const char *variant, int darknet, float aw, int r50, int r75,
                        double iou)
{
    const float anchors[2] = {aw, 1.0f};
    const rl_box truth = {0.5f, 0.5f, 1.0f, 1.0f, 0};
    const int64_t off[2] = {0, 1};
    float pred[6] = {0}, grad[6];
    rl_config cfg;
    rl_test_config(&cfg, darknet, 1, 1, 1, 1, anchors);
    rl_plan *plan = plan_for(&cfg, variant);
    rl_batch batch = {.n_images = 1, .pred = pred, .truths = &truth, .truth_offsets = off,
                      .seen = 1 << 20};
    rl_result r;
    cr_assert_eq(rl_compute(plan, &batch, &r, grad), RL_OK, "%s", rl_last_error());
    const char *m = darknet ? "darknet" : "spec";
    cr_assert_eq(r.n_obj, 1, "%s %s aw %g", variant, m, (double)aw);
    cr_assert_eq(r.sum_iou, iou, "%s %s aw %g: IoU %.17g, expected %.17g", variant, m,
                 (double)aw, r.sum_iou, iou);
    cr_assert_eq(r.n_recall50, r50, "%s %s aw %g: IoU %g counted in recall50 = %lld", variant,
                 m, (double)aw, iou, (long long)r.n_recall50);
    cr_assert_eq(r.n_recall75, r75, "%s %s aw %g: IoU %g counted in recall75 = %lld", variant,
                 m, (double)aw, iou, (long long)r.n_recall75);
    cr_assert_eq(r.recall50, (double)r50);
    cr_assert_eq(r.recall75, (double)r75);
    if (darknet) {
        cr_assert_eq(r.darknet.count, 1);
        cr_assert_eq(r.darknet.avg_iou, iou, "%s darknet aw %g: avg_iou %.17g", variant,
                     (double)aw, r.darknet.avg_iou);
        cr_assert_eq(r.darknet.recall, (double)r50, "%s darknet aw %g: recall %g", variant,
                     (double)aw, r.darknet.recall);
        cr_assert_eq(r.darknet.recall75, (double)r75, "%s darknet aw %g: recall75 %g",
                     variant, (double)aw, r.darknet.recall75);
    }
    rl_plan_destroy(plan);
}

Test(edges, recall_is_strict_at_one_half_and_three_quarters)
{
    int ran = 0;
    for (const char *const *v = rl_variant_list(); *v; v++) {
        if (!runnable(*v))
            continue;
        for (int dn = 0; dn < 2; dn++) {
            recall_case(*v, dn, 2.0f, 0, 0, 0.5);
            recall_case(*v, dn, 0.5625f, 1, 0, 0.5625);
            recall_case(*v, dn, 0.75f, 1, 0, 0.75);
            recall_case(*v, dn, 0.875f, 1, 1, 0.875);
        }
        ran++;
    }
    cr_assert_gt(ran, 1, "the reference and at least one other variant");
}

/* ---- an anchor tie goes to the smaller b (docs/loss.md) ---------------- */

/* H = W = 1, B = 2 identical anchors (1, 1), C = 1, truth (0.5, 0.5, 0.5,
 * 0.5): both shape IoUs are 1/4, a tie, so b = 0 is responsible.  tx = 1 at
 * both slots, every other logit 0: the responsible slot's d/dtx is
 * k_c 2 (s(1) - 1/2) s'(1) != 0 (spec; darknet: its own nonzero delta), the
 * other slot's is 0 (not responsible; no warm-up at seen = 2^20). */
static void tie_case(const char *variant, int darknet)
{
    const float anchors[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    const rl_box truth = {0.5f, 0.5f, 0.5f, 0.5f, 0};
    const int64_t off[2] = {0, 1};
    float pred[12] = {0}, grad[12];
    pred[0] = pred[6] = 1.0f; /* NCHW, HW = 1: ((b*6) + k) */
    rl_config cfg;
    rl_test_config(&cfg, darknet, 1, 1, 2, 1, anchors);
    rl_plan *plan = plan_for(&cfg, variant);
    rl_batch batch = {.n_images = 1, .pred = pred, .truths = &truth, .truth_offsets = off,
                      .seen = 1 << 20};
    rl_result r;
    cr_assert_eq(rl_compute(plan, &batch, &r, grad), RL_OK, "%s", rl_last_error());
    cr_assert_eq(r.n_obj, 1);
    cr_assert_neq(grad[0], 0.0f, "%s %s: b = 0 should be responsible", variant,
                  darknet ? "darknet" : "spec");
    cr_assert_eq(grad[6], 0.0f, "%s %s: b = 1 got d/dtx %a", variant,
                 darknet ? "darknet" : "spec", (double)grad[6]);
    rl_plan_destroy(plan);
}

Test(edges, an_anchor_tie_goes_to_the_smaller_index)
{
    int ran = 0;
    for (const char *const *v = rl_variant_list(); *v; v++) {
        if (!runnable(*v))
            continue;
        tie_case(*v, 0);
        tie_case(*v, 1);
        ran++;
    }
    cr_assert_gt(ran, 1);
}

/* ---- zero divisors from global counts ---------------------------------- */

/* H = W = 2, B = 2, C = 3, two images with two truths each; logits on a
 * coarse grid.  own = the batch's own counts; the run with global counts g
 * must give: terms whose divisor is 0 are 0 with zero gradient, the others
 * the own run's sums over g's divisor. */
#define ZH 2
#define ZW 2
#define ZB 2
#define ZC 3
#define ZK (5 + ZC)
#define ZN 2
#define ZCOUNT (ZN * ZH * ZW * ZB * ZK)

static const float z_anchors[2 * ZB] = {1.0f, 1.5f, 2.0f, 0.75f};
static const rl_box z_truths[4] = {{0.3f, 0.2f, 0.4f, 0.5f, 2},
                                   {0.8f, 0.7f, 0.6f, 0.3f, 0},
                                   {0.6f, 0.4f, 0.9f, 0.8f, 1},
                                   {0.1f, 0.9f, 0.2f, 0.3f, 2}};
static const int64_t z_off[ZN + 1] = {0, 2, 4};

static void z_pred(float *pred)
{
    for (int x = 0; x < ZCOUNT; x++)
        pred[x] = (float)((x * 29) % 23 - 11) / 8.0f;
}

/* Which entries are coordinates or class logits (k != 4) in NCHW. */
static int z_channel(int x) { return (x / (ZH * ZW)) % ZK; }

static void zero_divisor_case(const char *variant, int darknet)
{
    float pred[ZCOUNT], g_own[ZCOUNT], g[ZCOUNT];
    z_pred(pred);
    rl_config cfg;
    rl_test_config(&cfg, darknet, ZH, ZW, ZB, ZC, z_anchors);
    cfg.norm = darknet ? RL_NORM_IMAGES : RL_NORM_COUNTS;
    rl_plan *plan = plan_for(&cfg, variant);
    rl_batch batch = {.n_images = ZN, .pred = pred, .truths = z_truths, .truth_offsets = z_off,
                      .seen = 1 << 20};
    rl_result own, r;
    cr_assert_eq(rl_compute(plan, &batch, &own, g_own), RL_OK, "%s", rl_last_error());
    cr_assert_gt(own.n_obj, 0);
    cr_assert_gt(own.coord, 0.0);
    cr_assert_gt(own.cls, 0.0);
    cr_assert_gt(own.n_noobj, 0);

    if (!darknet) {
        /* N_obj = 0 globally, N_conf = 3 * own: coord and class are 0;
         * objectness terms scale by own.n_conf / g.n_conf = 1/3. */
        rl_counts gc = {0, 3 * own.n_conf, 3 * own.n_conf, ZN};
        batch.global_counts = &gc;
        cr_assert_eq(rl_compute(plan, &batch, &r, g), RL_OK, "%s", rl_last_error());
        cr_assert_eq(r.coord, 0.0, "%s: coord %g with N_obj = 0", variant, r.coord);
        cr_assert_eq(r.cls, 0.0, "%s: cls %g with N_obj = 0", variant, r.cls);
        cr_assert_float_eq(r.obj, own.obj / 3, 1e-12 * own.obj, "%s: obj", variant);
        cr_assert_float_eq(r.noobj, own.noobj / 3, 1e-12 * own.noobj, "%s: noobj", variant);
        for (int x = 0; x < ZCOUNT; x++) {
            if (z_channel(x) != 4)
                cr_assert_eq(g[x], 0.0f, "%s: entry %d (channel %d) = %a with N_obj = 0",
                             variant, x, z_channel(x), (double)g[x]);
            else
                cr_assert_float_eq(g[x], g_own[x] / 3, 1e-6f * fabsf(g_own[x]) + 1e-30f,
                                   "%s: objectness entry %d", variant, x);
        }
        /* N_conf = 0 too: everything is 0. */
        rl_counts zero = {0, 0, 0, ZN};
        batch.global_counts = &zero;
        cr_assert_eq(rl_compute(plan, &batch, &r, g), RL_OK, "%s", rl_last_error());
        cr_assert_eq(r.loss, 0.0, "%s: loss %g with N_conf = 0", variant, r.loss);
        cr_assert_eq(r.obj, 0.0);
        cr_assert_eq(r.noobj, 0.0);
        for (int x = 0; x < ZCOUNT; x++)
            cr_assert_eq(g[x], 0.0f, "%s: entry %d = %a with N_conf = 0", variant, x,
                         (double)g[x]);
    } else {
        /* Darknet divided by images: zero images globally, every term 0;
         * darknet's cost is never normalised, so it keeps its value. */
        rl_counts zero = {own.n_obj, own.n_noobj, own.n_conf, 0};
        batch.global_counts = &zero;
        cr_assert_eq(rl_compute(plan, &batch, &r, g), RL_OK, "%s", rl_last_error());
        cr_assert_eq(r.loss, 0.0, "%s: darknet loss %g with 0 images", variant, r.loss);
        cr_assert_eq(r.warmup, 0.0);
        for (int x = 0; x < ZCOUNT; x++)
            cr_assert_eq(g[x], 0.0f, "%s: darknet entry %d = %a with 0 images", variant, x,
                         (double)g[x]);
        cr_assert_float_eq(r.darknet.cost, own.darknet.cost, 1e-12 * own.darknet.cost);
    }
    rl_plan_destroy(plan);
}

Test(edges, a_zero_global_divisor_zeroes_its_terms)
{
    int ran = 0;
    for (const char *const *v = rl_variant_list(); *v; v++) {
        if (!runnable(*v))
            continue;
        zero_divisor_case(*v, 0);
        zero_divisor_case(*v, 1);
        ran++;
    }
    cr_assert_gt(ran, 1);
}
