/* A slot whose best IoU equals thresh exactly.  docs/loss.md: noobj iff
 * best < thresh, strictly, so it is ignored; darknet (issue 5 point 4): noobj
 * iff best <= thresh, so it is pushed to 0.
 *
 * H = W = 1, C = 1, anchors (1, 1) and (1, 2), truth (0.5, 0.5, 1, 1, 0):
 * Wg = Hg = 1.  Shape IoU 1 with b = 0, 1/2 with b = 1: b = 0 responsible.
 * All logits 0: b = 0 decodes to the truth itself (IoU 1), b = 1 to
 * (0.5, 0.5, 1, 2): inter 1, union 2 + 1 - 1 = 2, best IoU exactly 1/2. */
#include "support.h"

static const float anchors[4] = {1.0f, 1.0f, 1.0f, 2.0f};
static const rl_box truth = {0.5f, 0.5f, 1.0f, 1.0f, 0};
static const int64_t off[2] = {0, 1};

static rl_result run(rl_config *cfg, float grad[12], int64_t seen)
{
    cfg->H = cfg->W = 1;
    cfg->B = 2;
    cfg->C = 1;
    cfg->anchors = anchors;
    rl_plan *plan = ref_plan(cfg);
    float pred[12] = {0};
    rl_batch batch = {.n_images = 1, .pred = pred, .truths = &truth, .truth_offsets = off,
                      .seen = seen};
    rl_result r;
    compute_ok(plan, &batch, &r, grad);

    /* The premise: the reference sees best IoU exactly 1/2 at b = 1. */
    ref_bufs rb;
    ref_bufs_alloc(&rb, plan, 1);
    rl_result r2;
    ref_run(plan, &batch, NULL, &r2, &rb);
    cr_assert_eq(rb.out.best_iou[1], 0.5, "best IoU of b = 1 is %.17g", rb.out.best_iou[1]);
    cr_assert_eq(rb.out.best_iou[0], 1.0);
    cr_assert_eq(rb.out.slot_kind[0], RL_SLOT_OBJ);
    ref_bufs_free(&rb);
    rl_plan_destroy(plan);
    return r;
}

/* thresh = 1/2 = best: not noobj.  N_obj = 1, N_noobj = 0, N_conf = 1.
 *   obj = 5/1 (1 - 1/2)^2 = 5/4;  noobj = 0;  coord = 0;  cls = 0
 *   b = 0: d tc = 5 * 2 (1/2 - 1)(1/4) = -5/4;  b = 1: all 0. */
Test(hand_thresh_equal, spec_equal_is_not_noobj)
{
    rl_config cfg;
    rl_config_init(&cfg);
    cfg.thresh = 0.5;
    float grad[12];
    rl_result r = run(&cfg, grad, 0);
    cr_assert_eq(r.n_obj, 1);
    cr_assert_eq(r.n_noobj, 0);
    cr_assert_eq(r.n_conf, 1);
    assert_close(r.obj, 1.25, DOUBLE_REL, 0, "obj");
    cr_assert_eq(r.noobj, 0.0);
    cr_assert_eq(r.coord, 0.0);
    for (int k = 0; k < 6; k++) {
        cr_assert_eq(grad[k], k == 4 ? -1.25f : 0.0f, "b=0 k=%d: %a", k, grad[k]);
        cr_assert_eq(grad[6 + k], 0.0f, "b=1 k=%d: %a", k, grad[6 + k]);
    }
}

/* thresh one double ulp above 1/2: best < thresh, noobj.  N_conf = 2.
 *   obj = 5/2 (1/2)^2 = 5/8;  noobj = 1/2 (1/2)^2 = 1/8
 *   b = 0: d tc = 5/2 * 2 (-1/2)(1/4) = -5/8;  b = 1: d tc = 1/2 * 2 (1/2)(1/4) = 1/8 */
Test(hand_thresh_equal, spec_just_above_is_noobj)
{
    rl_config cfg;
    rl_config_init(&cfg);
    cfg.thresh = nextafter(0.5, 1.0);
    float grad[12];
    rl_result r = run(&cfg, grad, 0);
    cr_assert_eq(r.n_noobj, 1);
    cr_assert_eq(r.n_conf, 2);
    assert_close(r.obj, 5.0 / 8, DOUBLE_REL, 0, "obj");
    assert_close(r.noobj, 1.0 / 8, DOUBLE_REL, 0, "noobj");
    for (int k = 0; k < 6; k++) {
        cr_assert_eq(grad[k], k == 4 ? -0.625f : 0.0f, "b=0 k=%d: %a", k, grad[k]);
        cr_assert_eq(grad[6 + k], k == 4 ? 0.125f : 0.0f, "b=1 k=%d: %a", k, grad[6 + k]);
    }
}

/* Darknet mode, sums, warm-up off (seen = 12800 is not < 12800), rescore:
 * thresh = 1/2 = best: noobj (best <= thresh).
 *   b = 0: sc = 1 * (2 - 1*1) = 1; targets s(tx) = X - j = 1/2, tw = log(Wg/aw)
 *          = 0: the zero logits hit them, coord = 0.
 *          obj = 5/2 (1/2 - IoU 1)^2 = 5/8;  d tc = 5 (1/2 - 1)(1/4) = -5/8
 *   b = 1: noobj = 1/2 (1/2)^2 = 1/8;  d tc = 1 * (1/2)(1/4) = 1/8 */
Test(hand_thresh_equal, darknet_equal_is_noobj)
{
    rl_config cfg;
    rl_config_init_darknet(&cfg);
    cfg.thresh = 0.5;
    float grad[12];
    rl_result r = run(&cfg, grad, 12800);
    cr_assert_eq(r.n_obj, 1);
    cr_assert_eq(r.n_noobj, 1);
    cr_assert_eq(r.coord, 0.0);
    cr_assert_eq(r.warmup, 0.0);
    assert_close(r.obj, 5.0 / 8, DOUBLE_REL, 0, "obj");
    assert_close(r.noobj, 1.0 / 8, DOUBLE_REL, 0, "noobj");
    for (int k = 0; k < 6; k++) {
        cr_assert_eq(grad[k], k == 4 ? -0.625f : 0.0f, "b=0 k=%d: %a", k, grad[k]);
        cr_assert_eq(grad[6 + k], k == 4 ? 0.125f : 0.0f, "b=1 k=%d: %a", k, grad[6 + k]);
    }
}

/* Darknet, thresh one ulp below 1/2: best > thresh, ignored. */
Test(hand_thresh_equal, darknet_just_below_is_ignored)
{
    rl_config cfg;
    rl_config_init_darknet(&cfg);
    cfg.thresh = nextafter(0.5, 0.0);
    float grad[12];
    rl_result r = run(&cfg, grad, 12800);
    cr_assert_eq(r.n_noobj, 0);
    cr_assert_eq(r.noobj, 0.0);
    for (int k = 0; k < 6; k++)
        cr_assert_eq(grad[6 + k], 0.0f, "b=1 k=%d: %a", k, grad[6 + k]);
}
