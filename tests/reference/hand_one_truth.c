/* One truth, one anchor, chosen logits: every number of the result and
 * every gradient entry worked out by hand from docs/loss.md's region loss.
 *
 * Grid H = W = 2, B = 1 anchor (1, 1), C = 2 classes, default lambdas
 * (coord 1, class 1, obj 5, noobj 1), thresh 0.6, counts normalisation.
 *
 * Truth (cx, cy, w, h, cls) = (0.75, 0.25, 0.5, 0.5, 1): in grid units
 * X = 1.5, Y = 0.5, Wg = Hg = 1; cell j = floor(1.5) = 1, i = floor(0.5) = 0;
 * the only anchor, b = 0.  Responsible slot (i, j) = (0, 1).
 *
 * Logits of the responsible slot:
 *   tx = log 3   s = 3/4   x^ = 1 + 3/4 = 1.75
 *   ty = -log 3  s = 1/4   y^ = 0 + 1/4 = 0.25
 *   tw = log 2             w^ = 1 * 2 = 2
 *   th = 0                 h^ = 1
 *   tc = 0                 c^ = 1/2
 *   classes (0, log 3)     p^ = (1/4, 3/4)
 * Decoded box [0.75, 2.75] x [-0.25, 0.75]; truth [1, 2] x [0, 1]:
 *   inter = (2 - 1) * (0.75 - 0) = 0.75, union = 2*1 + 1*1 - 0.75 = 2.25,
 *   IoU = 1/3.
 * The three other slots keep tx = ty = tw = th = 0: unit boxes centred in
 * their own cells, which only touch the truth's cell along an edge, so
 * their IoU with the truth is 0 < 0.6 and all three are noobj.  Their
 * objectness logits 0, -log 3, log 3 give c^ = 1/2, 1/4, 3/4; their class
 * logits are set to 7 and -5 to show that nothing reads them.
 *
 * Counts: N_obj = 1, N_noobj = 3, N_conf = 4.
 *   coord = 1/1 * ((1.5-1.75)^2 + (0.5-0.25)^2 + (1-2)^2 + (1-1)^2) = 1.125
 *   cls   = 1/1 * -log(3/4)
 *   obj   = 5/4 * (1/3 - 1/2)^2 = 5/144
 *   noobj = 1/4 * (1/4 + 1/16 + 9/16) = 7/32
 * Gradient (k_c = k_p = 1, k_o = 5/4, k_n = 1/4):
 *   d tx = 2 (1.75 - 1.5) * 3/4 * 1/4       =  3/32
 *   d ty = 2 (0.25 - 0.5) * 1/4 * 3/4       = -3/32
 *   d tw = 2 (2 - 1) * 2                    =  4
 *   d th = 2 (1 - 1) * 1                    =  0
 *   d tc = 5/4 * 2 (1/2 - 1/3) * 1/4        =  5/48
 *   d class = (1/4 - 0, 3/4 - 1)            = (1/4, -1/4)
 *   noobj d tc = 1/4 * 2 c^ * c^(1 - c^):  c = 1/2: 1/16;  c = 1/4: 3/128;
 *                                          c = 3/4: 9/128
 *   everything else 0.
 * Diagnostics: avg_iou = 1/3, recall50 = recall75 = 0, avg_obj = 1/2,
 * avg_noobj = (1/2 + 1/4 + 3/4)/3 = 1/2, avg_cls = 3/4.
 *
 * The logits log 3 and log 2 are not exact in float, so the code below
 * evaluates the same formulas on the float values actually passed; the
 * comment's fractions are what those evaluate to up to float rounding
 * (checked loosely at the end as a sanity check on the derivation). */
#include "support.h"

#include <stdlib.h>

#define H 2
#define W 2
#define C 2
#define K (5 + C)

static const float anchors[2] = {1.0f, 1.0f};
static const rl_box truth = {0.75f, 0.25f, 0.5f, 0.5f, 1};
static const int64_t offsets[2] = {0, 1};

static float TX, TY, TW, TC_OTHER[3];
static const float TH = 0.0f, TC = 0.0f, CL0 = 0.0f;
static float CL1;

static void init_logits(void)
{
    TX = (float)log(3.0);
    TY = (float)-log(3.0);
    TW = (float)log(2.0);
    CL1 = (float)log(3.0);
    TC_OTHER[0] = 0.0f;           /* slot (0, 0) */
    TC_OTHER[1] = (float)-log(3.0); /* slot (1, 0) */
    TC_OTHER[2] = (float)log(3.0);  /* slot (1, 1) */
}

/* logical [i][j][b=0][k] */
static void build(float *logical)
{
    memset(logical, 0, H * W * K * sizeof *logical);
    float *r = logical + (0 * W + 1) * K;
    r[0] = TX, r[1] = TY, r[2] = TW, r[3] = TH, r[4] = TC, r[5] = CL0, r[6] = CL1;
    const int others[3][2] = {{0, 0}, {1, 0}, {1, 1}};
    for (int s = 0; s < 3; s++) {
        float *o = logical + (others[s][0] * W + others[s][1]) * K;
        o[4] = TC_OTHER[s];
        o[5] = 7.0f;
        o[6] = -5.0f;
    }
}

typedef struct expected {
    double coord, cls, obj, noobj;
    double grad[H * W * K]; /* logical order */
    double avg_iou, avg_obj, avg_noobj, avg_cls;
} expected;

static void derive(expected *e)
{
    memset(e, 0, sizeof *e);
    const double X = 1.5, Y = 0.5, Wg = 1.0, Hg = 1.0;
    const double sx = sig(TX), sy = sig(TY), c = sig(TC);
    const double x = 1 + sx, y = 0 + sy, w = 1.0 * exp((double)TW), h = 1.0 * exp((double)TH);
    /* IoU of [x-w/2, x+w/2] x [y-h/2, y+h/2] with [1, 2] x [0, 1] */
    const double ox = fmin(x + w / 2, 2.0) - fmax(x - w / 2, 1.0);
    const double oy = fmin(y + h / 2, 1.0) - fmax(y - h / 2, 0.0);
    const double iou = ox * oy / (w * h + Wg * Hg - ox * oy);
    const double lse = log(exp((double)CL0) + exp((double)CL1));
    const double p0 = exp(CL0 - lse), p1 = exp(CL1 - lse);
    const double kc = 1.0 / 1, kp = 1.0 / 1, ko = 5.0 / 4, kn = 1.0 / 4;

    e->coord = kc * ((X - x) * (X - x) + (Y - y) * (Y - y) + (Wg - w) * (Wg - w) +
                     (Hg - h) * (Hg - h));
    e->cls = kp * -log(p1);
    e->obj = ko * (iou - c) * (iou - c);
    double *g = e->grad + (0 * W + 1) * K;
    g[0] = kc * 2 * (x - X) * sx * (1 - sx);
    g[1] = kc * 2 * (y - Y) * sy * (1 - sy);
    g[2] = kc * 2 * (w - Wg) * w;
    g[3] = kc * 2 * (h - Hg) * h;
    g[4] = ko * 2 * (c - iou) * c * (1 - c);
    g[5] = kp * (p0 - 0);
    g[6] = kp * (p1 - 1);

    const int others[3][2] = {{0, 0}, {1, 0}, {1, 1}};
    double sum_c = 0;
    for (int s = 0; s < 3; s++) {
        const double co = sig(TC_OTHER[s]);
        e->noobj += kn * co * co;
        e->grad[(others[s][0] * W + others[s][1]) * K + 4] = kn * 2 * co * co * (1 - co);
        sum_c += co;
    }
    e->avg_iou = iou;
    e->avg_obj = c;
    e->avg_noobj = sum_c / 3;
    e->avg_cls = p1;
}

static void check(rl_layout layout)
{
    init_logits();
    rl_config cfg;
    config_spec(&cfg, H, W, 1, C, anchors, layout);
    rl_plan *plan = ref_plan(&cfg);
    float logical[H * W * K], pred[H * W * K], grad[H * W * K];
    build(logical);
    to_layout(&cfg, 1, logical, layout, pred);
    rl_batch batch = {.n_images = 1, .pred = pred, .truths = &truth, .truth_offsets = offsets};
    rl_result r;
    compute_ok(plan, &batch, &r, grad);

    expected e;
    derive(&e);
    cr_assert_eq(r.n_obj, 1);
    cr_assert_eq(r.n_noobj, 3);
    cr_assert_eq(r.n_conf, 4);
    cr_assert_eq(r.n_truths, 1);
    assert_close(r.coord, e.coord, DOUBLE_REL, 0, "coord");
    assert_close(r.cls, e.cls, DOUBLE_REL, 0, "cls");
    assert_close(r.obj, e.obj, DOUBLE_REL, 0, "obj");
    assert_close(r.noobj, e.noobj, DOUBLE_REL, 0, "noobj");
    cr_assert_eq(r.warmup, 0.0);
    assert_close(r.loss, e.coord + e.cls + e.obj + e.noobj, DOUBLE_REL, 0, "loss");
    assert_close(r.avg_iou, e.avg_iou, DOUBLE_REL, 0, "avg_iou");
    cr_assert_eq(r.recall50, 0.0);
    cr_assert_eq(r.recall75, 0.0);
    cr_assert_eq(r.n_recall50, 0);
    cr_assert_eq(r.n_recall75, 0);
    assert_close(r.avg_obj, e.avg_obj, DOUBLE_REL, 0, "avg_obj");
    assert_close(r.avg_noobj, e.avg_noobj, DOUBLE_REL, 0, "avg_noobj");
    assert_close(r.avg_cls, e.avg_cls, DOUBLE_REL, 0, "avg_cls");
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++)
            for (int k = 0; k < K; k++) {
                const double want = e.grad[(i * W + j) * K + k];
                assert_close(grad[cfg_offset(&cfg, 0, i, j, 0, k)], want, FLOAT_REL, 0,
                             "layout %d grad (i=%d, j=%d, k=%d)", (int)layout, i, j, k);
            }

    /* The derivation's fractions, to float accuracy of the logits. */
    assert_close(e.coord, 1.125, 1e-6, 0, "coord = 9/8");
    assert_close(e.cls, -log(0.75), 1e-6, 0, "cls = -log 3/4");
    assert_close(e.obj, 5.0 / 144, 1e-6, 0, "obj = 5/144");
    assert_close(e.noobj, 7.0 / 32, 1e-6, 0, "noobj = 7/32");
    const double *g = e.grad + (0 * W + 1) * K;
    assert_close(g[0], 3.0 / 32, 1e-6, 0, "dtx");
    assert_close(g[1], -3.0 / 32, 1e-6, 0, "dty");
    assert_close(g[2], 4.0, 1e-6, 0, "dtw");
    assert_close(g[4], 5.0 / 48, 1e-6, 0, "dtc");
    assert_close(g[5], 0.25, 1e-6, 0, "dclass0");
    assert_close(g[6], -0.25, 1e-6, 0, "dclass1");
    assert_close(e.grad[4], 1.0 / 16, 1e-6, 0, "noobj dtc (0,0)");
    assert_close(e.grad[2 * K + 4], 3.0 / 128, 1e-6, 0, "noobj dtc (1,0)");
    assert_close(e.grad[3 * K + 4], 9.0 / 128, 1e-6, 0, "noobj dtc (1,1)");
    assert_close(e.avg_iou, 1.0 / 3, 1e-6, 0, "IoU = 1/3");
    rl_plan_destroy(plan);
}

Test(hand_one_truth, nchw) { check(RL_LAYOUT_NCHW); }
Test(hand_one_truth, nhwc) { check(RL_LAYOUT_NHWC); }

/* The same case through the reference's internals: the slot kinds and the
 * best IoU the derivation claims (1/3 at the responsible slot, 0 elsewhere). */
Test(hand_one_truth, slot_kinds_and_best_iou)
{
    init_logits();
    rl_config cfg;
    config_spec(&cfg, H, W, 1, C, anchors, RL_LAYOUT_NCHW);
    rl_plan *plan = ref_plan(&cfg);
    float logical[H * W * K], pred[H * W * K];
    build(logical);
    to_layout(&cfg, 1, logical, RL_LAYOUT_NCHW, pred);
    rl_batch batch = {.n_images = 1, .pred = pred, .truths = &truth, .truth_offsets = offsets};
    ref_bufs rb;
    ref_bufs_alloc(&rb, plan, 1);
    rl_result r;
    ref_run(plan, &batch, NULL, &r, &rb);
    /* slots are numbered (i*W + j)*B + b */
    cr_assert_eq(rb.out.slot_kind[1], RL_SLOT_OBJ);
    cr_assert_eq(rb.out.slot_kind[0], RL_SLOT_NOOBJ);
    cr_assert_eq(rb.out.slot_kind[2], RL_SLOT_NOOBJ);
    cr_assert_eq(rb.out.slot_kind[3], RL_SLOT_NOOBJ);
    assert_close(rb.out.best_iou[1], 1.0 / 3, 1e-6, 0, "best IoU of the responsible slot");
    cr_assert_eq(rb.out.best_iou[0], 0.0);
    cr_assert_eq(rb.out.best_iou[2], 0.0);
    cr_assert_eq(rb.out.best_iou[3], 0.0);
    ref_bufs_free(&rb);
    rl_plan_destroy(plan);
}
