/* Which slot a truth is assigned to (docs/loss.md, "Responsible slots"): a
 * later truth on
 * the same slot replaces the earlier one, and shape-IoU ties between
 * anchors go to the smaller index. */
#include "support.h"

/* Two truths on one slot.  H = 1, W = 2, B = 1 anchor (1, 1), C = 2.
 *   truth A (0.25, 0.5, 0.5, 1, cls 0): X = 0.5, Y = 0.5, Wg = 1, Hg = 1
 *   truth B (0.125, 0.25, 0.25, 0.5, cls 1): X = 0.25, Y = 0.25, Wg = Hg = 0.5
 * Both fall in cell (0, 0), anchor 0.  All logits 0: slot (0, 0) decodes to
 * [0, 1]^2 = truth A exactly; slot (0, 1) to [1, 2] x [0, 1], which only
 * touches A along an edge and misses B: IoU 0, noobj.
 * N_obj = 1 (one slot, two truths), N_noobj = 1, N_conf = 2; c^ = 1/2.
 *
 * Order (A, B): B wins.  IoU([0,1]^2, [0,0.5]^2) = (1/4)/(1 + 1/4 - 1/4) = 1/4.
 *   coord = 2 (0.25 - 0.5)^2 + 2 (0.5 - 1)^2 = 5/8
 *   cls = -log 1/2 = log 2;  obj = 5/2 (1/4 - 1/2)^2 = 5/32;  noobj = 1/2 * 1/4 = 1/8
 *   d tx = d ty = 2 (0.5 - 0.25)/4 = 1/8;  d tw = d th = 2 (1 - 0.5) * 1 = 1
 *   d tc = 5/2 * 2 (1/2 - 1/4)/4 = 5/16;  d class = (1/2, 1/2 - 1) = (1/2, -1/2)
 *   noobj d tc = 1/2 * 2 (1/2)(1/4) = 1/8
 * Order (B, A): A wins.  IoU = 1.
 *   coord = 0;  cls = log 2;  obj = 5/2 (1 - 1/2)^2 = 5/8;  noobj = 1/8
 *   d tx = d ty = d tw = d th = 0;  d tc = 5/2 * 2 (1/2 - 1)/4 = -5/8
 *   d class = (1/2 - 1, 1/2) = (-1/2, 1/2);  noobj d tc = 1/8
 * In both orders n_truths = 2 but only one obj slot, so the diagnostics
 * average over one slot: avg_iou is the winner's IoU. */
typedef struct expect2 {
    double coord, cls, obj, noobj, iou;
    double g[7]; /* responsible slot (0, 0) */
} expect2;

static void check_two_truths(const rl_box *truths, const expect2 *e, rl_layout layout)
{
    static const float anchors[2] = {1.0f, 1.0f};
    rl_config cfg;
    config_spec(&cfg, 1, 2, 1, 2, anchors, layout);
    rl_plan *plan = ref_plan(&cfg);
    float pred[14] = {0}, grad[14];
    const int64_t off[2] = {0, 2};
    rl_batch batch = {.n_images = 1, .pred = pred, .truths = truths, .truth_offsets = off};
    rl_result r;
    compute_ok(plan, &batch, &r, grad);
    cr_assert_eq(r.n_truths, 2);
    cr_assert_eq(r.n_obj, 1);
    cr_assert_eq(r.n_noobj, 1);
    cr_assert_eq(r.n_conf, 2);
    assert_close(r.coord, e->coord, DOUBLE_REL, 0, "coord");
    assert_close(r.cls, e->cls, DOUBLE_REL, 0, "cls");
    assert_close(r.obj, e->obj, DOUBLE_REL, 0, "obj");
    assert_close(r.noobj, e->noobj, DOUBLE_REL, 0, "noobj");
    assert_close(r.avg_iou, e->iou, DOUBLE_REL, 0, "avg_iou");
    for (int k = 0; k < 7; k++) {
        assert_close(grad[cfg_offset(&cfg, 0, 0, 0, 0, k)], e->g[k], FLOAT_REL, 0,
                     "slot (0,0) k=%d", k);
        assert_close(grad[cfg_offset(&cfg, 0, 0, 1, 0, k)], k == 4 ? 1.0 / 8 : 0.0, FLOAT_REL,
                     0, "slot (0,1) k=%d", k);
    }
    rl_plan_destroy(plan);
}

static const rl_box truth_a = {0.25f, 0.5f, 0.5f, 1.0f, 0};
static const rl_box truth_b = {0.125f, 0.25f, 0.25f, 0.5f, 1};

Test(hand_assignment, later_truth_replaces_earlier_b_wins)
{
    const rl_box t[2] = {truth_a, truth_b};
    const expect2 e = {.coord = 5.0 / 8, .cls = log(2.0), .obj = 5.0 / 32, .noobj = 1.0 / 8,
                       .iou = 0.25, .g = {1.0 / 8, 1.0 / 8, 1, 1, 5.0 / 16, 0.5, -0.5}};
    check_two_truths(t, &e, RL_LAYOUT_NCHW);
    check_two_truths(t, &e, RL_LAYOUT_NHWC);
}

Test(hand_assignment, later_truth_replaces_earlier_a_wins)
{
    const rl_box t[2] = {truth_b, truth_a};
    const expect2 e = {.coord = 0, .cls = log(2.0), .obj = 5.0 / 8, .noobj = 1.0 / 8,
                       .iou = 1.0, .g = {0, 0, 0, 0, -5.0 / 8, -0.5, 0.5}};
    check_two_truths(t, &e, RL_LAYOUT_NCHW);
    check_two_truths(t, &e, RL_LAYOUT_NHWC);
}

/* Anchor ties.  H = W = 1, C = 1, truth (0.5, 0.5, 1, 1, 0): Wg = Hg = 1.
 * anchors (2, 1) and (1, 2): shape IoU with each = 1/(1 + 2 - 1) = 1/2, a tie:
 * b = 0 is responsible.  Logits 0 except tc = log 3 (c = 3/4) on b = 0.
 *   b = 0 decodes to (0.5, 0.5, 2, 1): IoU with the truth 1/2 (exact).
 *   b = 1 decodes to (0.5, 0.5, 1, 2): best IoU 1/2 < 0.6: noobj, c = 1/2.
 * N_obj = 1, N_noobj = 1, N_conf = 2.
 *   coord = (1 - 2)^2 = 1;  cls = 0 (one class);  obj = 5/2 (1/2 - 3/4)^2 = 5/32
 *   noobj = 1/2 (1/2)^2 = 1/8
 *   b = 0: d tw = 2 (2 - 1) 2 = 4;  d tc = 5/2 * 2 (3/4 - 1/2)(3/16) = 15/64;
 *          d tx = d ty = d th = d class = 0
 *   b = 1: d tc = 1/2 * 2 (1/2)(1/4) = 1/8;  nothing else.
 * Had b = 1 won, its d th would be 4 and b = 0 would carry only a noobj term. */
static void check_tie(const float anchors[4], rl_layout layout)
{
    rl_config cfg;
    config_spec(&cfg, 1, 1, 2, 1, anchors, layout);
    rl_plan *plan = ref_plan(&cfg);
    float pred[12] = {0}, grad[12];
    const float tc0 = (float)log(3.0);
    pred[cfg_offset(&cfg, 0, 0, 0, 0, 4)] = tc0;
    const rl_box t = {0.5f, 0.5f, 1.0f, 1.0f, 0};
    const int64_t off[2] = {0, 1};
    rl_batch batch = {.n_images = 1, .pred = pred, .truths = &t, .truth_offsets = off};
    rl_result r;
    compute_ok(plan, &batch, &r, grad);
    const double c = sig(tc0);
    cr_assert_eq(r.n_obj, 1);
    cr_assert_eq(r.n_noobj, 1);
    assert_close(r.coord, 1.0, DOUBLE_REL, 0, "coord");
    cr_assert_eq(r.cls, 0.0);
    assert_close(r.obj, 2.5 * (0.5 - c) * (0.5 - c), DOUBLE_REL, 0, "obj");
    assert_close(r.noobj, 0.125, DOUBLE_REL, 0, "noobj");
    assert_close(r.avg_iou, 0.5, DOUBLE_REL, 0, "avg_iou");
    const double g0[6] = {0, 0, 4, 0, 2.5 * 2 * (c - 0.5) * c * (1 - c), 0};
    const double g1[6] = {0, 0, 0, 0, 0.125, 0};
    for (int k = 0; k < 6; k++) {
        assert_close(grad[cfg_offset(&cfg, 0, 0, 0, 0, k)], g0[k], FLOAT_REL, 0, "b=0 k=%d", k);
        assert_close(grad[cfg_offset(&cfg, 0, 0, 0, 1, k)], g1[k], FLOAT_REL, 0, "b=1 k=%d", k);
    }
    assert_close(g0[4], 15.0 / 64, 1e-6, 0, "15/64");
    rl_plan_destroy(plan);
}

Test(hand_assignment, anchor_tie_goes_to_smaller_index)
{
    static const float mirrored[4] = {2.0f, 1.0f, 1.0f, 2.0f};
    check_tie(mirrored, RL_LAYOUT_NCHW);
    check_tie(mirrored, RL_LAYOUT_NHWC);
}

/* Identical anchors (2, 1) twice: the same tie, the same numbers as above
 * for b = 0; b = 1 decodes to (0.5, 0.5, 2, 1) too, IoU 1/2: noobj. */
Test(hand_assignment, identical_anchors_go_to_index_zero)
{
    static const float same[4] = {2.0f, 1.0f, 2.0f, 1.0f};
    rl_config cfg;
    config_spec(&cfg, 1, 1, 2, 1, same, RL_LAYOUT_NCHW);
    rl_plan *plan = ref_plan(&cfg);
    float pred[12] = {0}, grad[12];
    const rl_box t = {0.5f, 0.5f, 1.0f, 1.0f, 0};
    const int64_t off[2] = {0, 1};
    rl_batch batch = {.n_images = 1, .pred = pred, .truths = &t, .truth_offsets = off};
    rl_result r;
    compute_ok(plan, &batch, &r, grad);
    /* b = 0: d tw = 2 (2 - 1) 2 = 4; b = 1 (noobj, c = 1/2): d tw = 0, d tc = 1/8 */
    assert_close(grad[cfg_offset(&cfg, 0, 0, 0, 0, 2)], 4.0, FLOAT_REL, 0, "b=0 tw");
    cr_assert_eq(grad[cfg_offset(&cfg, 0, 0, 0, 1, 2)], 0.0f);
    assert_close(grad[cfg_offset(&cfg, 0, 0, 0, 1, 4)], 0.125, FLOAT_REL, 0, "b=1 tc");
    rl_plan_destroy(plan);
}

/* Control: when b = 1 is strictly better it is chosen.  Anchors (2, 1) and
 * (1, 1): shape IoU 1/2 and 1.  b = 1 decodes to the truth itself: coord 0,
 * IoU 1; b = 0 decodes to (0.5, 0.5, 2, 1), IoU 1/2 < 0.6: noobj.
 *   obj = 5/2 (1 - 1/2)^2 = 5/8;  noobj = 1/2 * 1/4 = 1/8;  coord = 0
 *   b = 1: d tc = 5/2 * 2 (1/2 - 1)/4 = -5/8;  b = 0: d tc = 1/8. */
Test(hand_assignment, strictly_better_anchor_wins)
{
    static const float anchors[4] = {2.0f, 1.0f, 1.0f, 1.0f};
    rl_config cfg;
    config_spec(&cfg, 1, 1, 2, 1, anchors, RL_LAYOUT_NHWC);
    rl_plan *plan = ref_plan(&cfg);
    float pred[12] = {0}, grad[12];
    const rl_box t = {0.5f, 0.5f, 1.0f, 1.0f, 0};
    const int64_t off[2] = {0, 1};
    rl_batch batch = {.n_images = 1, .pred = pred, .truths = &t, .truth_offsets = off};
    rl_result r;
    compute_ok(plan, &batch, &r, grad);
    cr_assert_eq(r.coord, 0.0);
    assert_close(r.obj, 5.0 / 8, DOUBLE_REL, 0, "obj");
    assert_close(r.noobj, 1.0 / 8, DOUBLE_REL, 0, "noobj");
    for (int k = 0; k < 6; k++) {
        assert_close(grad[cfg_offset(&cfg, 0, 0, 0, 1, k)], k == 4 ? -5.0 / 8 : 0.0, FLOAT_REL,
                     0, "b=1 k=%d", k);
        assert_close(grad[cfg_offset(&cfg, 0, 0, 0, 0, k)], k == 4 ? 1.0 / 8 : 0.0, FLOAT_REL,
                     0, "b=0 k=%d", k);
    }
    rl_plan_destroy(plan);
}
