/* Images without truths (docs/loss.md, background slots and spec mode):
 * best IoU is 0 for every
 * slot, so with thresh > 0 every slot is noobj and the loss is the noobj
 * part alone; with thresh = 0 nothing is selected (0 < 0 is false) and
 * every term, having divisor 0, is 0. */
#include "support.h"

#define H 2
#define W 3
#define B 2
#define C 3
#define K (5 + C)
#define SLOTS (H * W * B)

static const float anchors[2 * B] = {1.0f, 1.0f, 2.0f, 0.5f};
static const int64_t no_truths[2] = {0, 0};

/* Objectness logits per slot (logical slot order (i*W + j)*B + b); the box
 * and class logits get arbitrary values: with no truth nothing reads them
 * except the decoding for best IoU, which is 0 anyway. */
static void build(float *logical, float *tc)
{
    for (int s = 0; s < SLOTS; s++) {
        tc[s] = (float)(s - 6) / 4.0f; /* -1.5 .. 1.25 */
        for (int k = 0; k < K; k++)
            logical[s * K + k] = k == 4 ? tc[s] : (float)(k + 1) * 0.375f - 1.0f;
    }
}

/* thresh 0.6: N_obj = 0, N_noobj = N_conf = 12, k_n = 1/12.
 *   noobj = 1/12 * sum_s c_s^2, c_s = s(tc_s)
 *   d tc_s = 1/12 * 2 c_s * c_s (1 - c_s); every other entry 0.
 *   coord = cls = obj = 0 (sums over no slot); avg_noobj = mean c_s; the
 *   obj diagnostics are 0 because there is no obj slot. */
static void check(rl_layout layout)
{
    rl_config cfg;
    config_spec(&cfg, H, W, B, C, anchors, layout);
    rl_plan *plan = ref_plan(&cfg);
    float logical[SLOTS * K], pred[SLOTS * K], grad[SLOTS * K], tc[SLOTS];
    build(logical, tc);
    to_layout(&cfg, 1, logical, layout, pred);
    rl_batch batch = {.n_images = 1, .pred = pred, .truths = NULL, .truth_offsets = no_truths};
    rl_result r;
    compute_ok(plan, &batch, &r, grad);

    double noobj = 0, sum_c = 0;
    for (int s = 0; s < SLOTS; s++) {
        const double c = sig(tc[s]);
        noobj += c * c / 12;
        sum_c += c;
    }
    cr_assert_eq(r.n_obj, 0);
    cr_assert_eq(r.n_noobj, 12);
    cr_assert_eq(r.n_conf, 12);
    cr_assert_eq(r.n_truths, 0);
    cr_assert_eq(r.coord, 0.0);
    cr_assert_eq(r.cls, 0.0);
    cr_assert_eq(r.obj, 0.0);
    assert_close(r.noobj, noobj, DOUBLE_REL, 0, "noobj");
    assert_close(r.loss, noobj, DOUBLE_REL, 0, "loss");
    cr_assert_eq(r.avg_iou, 0.0);
    cr_assert_eq(r.avg_obj, 0.0);
    cr_assert_eq(r.avg_cls, 0.0);
    cr_assert_eq(r.recall50, 0.0);
    assert_close(r.avg_noobj, sum_c / 12, DOUBLE_REL, 0, "avg_noobj");
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
            for (int b = 0; b < B; b++)
                for (int k = 0; k < K; k++) {
                    const double c = sig(tc[(i * W + j) * B + b]);
                    const double want = k == 4 ? 2 * c * c * (1 - c) / 12 : 0.0;
                    assert_close(grad[cfg_offset(&cfg, 0, i, j, b, k)], want, FLOAT_REL, 0,
                                 "grad (i=%d, j=%d, b=%d, k=%d)", i, j, b, k);
                }
    rl_plan_destroy(plan);
}

Test(hand_empty_image, all_slots_noobj_nchw) { check(RL_LAYOUT_NCHW); }
Test(hand_empty_image, all_slots_noobj_nhwc) { check(RL_LAYOUT_NHWC); }

/* thresh = 0: no slot qualifies, every divisor is 0, so every part is 0 and
 * the overwritten gradient is +0.0 everywhere (the guard bytes are gone). */
Test(hand_empty_image, thresh_zero_selects_nothing)
{
    rl_config cfg;
    config_spec(&cfg, H, W, B, C, anchors, RL_LAYOUT_NCHW);
    cfg.thresh = 0.0;
    rl_plan *plan = ref_plan(&cfg);
    float logical[SLOTS * K], pred[SLOTS * K], grad[SLOTS * K], tc[SLOTS];
    build(logical, tc);
    to_layout(&cfg, 1, logical, RL_LAYOUT_NCHW, pred);
    fill_guard(grad, sizeof grad, 0xA5);
    rl_batch batch = {.n_images = 1, .pred = pred, .truths = NULL, .truth_offsets = no_truths};
    rl_result r;
    compute_ok(plan, &batch, &r, grad);
    cr_assert_eq(r.n_obj, 0);
    cr_assert_eq(r.n_noobj, 0);
    cr_assert_eq(r.n_conf, 0);
    cr_assert_eq(r.loss, 0.0);
    cr_assert_eq(r.noobj, 0.0);
    cr_assert_eq(r.avg_noobj, 0.0);
    cr_assert(is_guard(grad, sizeof grad, 0x00), "overwrite must write +0.0 everywhere");
    rl_plan_destroy(plan);
}

/* An empty image next to an image with one truth: the divisors are
 * batch-wide.  H = W = B = C = 1, anchor (1, 1).
 *   image 0: no truth, tc = log 3, c = 3/4: noobj.
 *   image 1: truth (0.5, 0.5, 1, 1, 0) = box (0.5, 0.5, 1, 1) in grid units;
 *            zero logits decode to the same box: coord 0, IoU 1; c = 1/2.
 * N_obj = 1, N_noobj = 1, N_conf = 2.
 *   obj = 5/2 (1 - 1/2)^2 = 5/8;  noobj = 1/2 (3/4)^2 = 9/32;  cls = -log 1 = 0
 *   d tc (image 0) = 1/2 * 2 (3/4)(3/4)(1/4) = 9/64
 *   d tc (image 1) = 5/2 * 2 (1/2 - 1)(1/4)  = -5/8
 *   every other entry 0 (coord residuals 0, single class p^ = 1). */
Test(hand_empty_image, next_to_an_image_with_a_truth)
{
    static const float a1[2] = {1.0f, 1.0f};
    rl_config cfg;
    config_spec(&cfg, 1, 1, 1, 1, a1, RL_LAYOUT_NCHW);
    rl_plan *plan = ref_plan(&cfg);
    const float tc0 = (float)log(3.0);
    float pred[12] = {0}, grad[12];
    pred[4] = tc0;
    const rl_box t = {0.5f, 0.5f, 1.0f, 1.0f, 0};
    const int64_t off[3] = {0, 0, 1};
    rl_batch batch = {.n_images = 2, .pred = pred, .truths = &t, .truth_offsets = off};
    rl_result r;
    compute_ok(plan, &batch, &r, grad);
    const double c0 = sig(tc0);
    cr_assert_eq(r.n_obj, 1);
    cr_assert_eq(r.n_noobj, 1);
    cr_assert_eq(r.n_conf, 2);
    cr_assert_eq(r.coord, 0.0);
    cr_assert_eq(r.cls, 0.0);
    assert_close(r.obj, 5.0 / 8, DOUBLE_REL, 0, "obj");
    assert_close(r.noobj, 0.5 * c0 * c0, DOUBLE_REL, 0, "noobj");
    cr_assert_eq(r.avg_iou, 1.0);
    cr_assert_eq(r.recall75, 1.0);
    for (int x = 0; x < 12; x++) {
        double want = x == 4 ? 0.5 * 2 * c0 * c0 * (1 - c0) : x == 6 + 4 ? -5.0 / 8 : 0.0;
        assert_close(grad[x], want, FLOAT_REL, 0, "grad[%d]", x);
    }
    assert_close(0.5 * 2 * c0 * c0 * (1 - c0), 9.0 / 64, 1e-6, 0, "9/64");
    rl_plan_destroy(plan);
}
