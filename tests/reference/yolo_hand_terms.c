/* The [yolo] reference on small cases worked out by hand from docs/loss.md
 * ("The [yolo] head") and docs/api.md's result fields, through the public API
 * (variant "reference") and, for the double gradient and the slot kinds,
 * through rl_yolo_reference_compute.
 *
 * BCE(y, s(z)) is written here the plain way, -(y log s + (1-y) log(1-s)),
 * on the float logits actually passed (log 3 is not a float): the derived
 * values are then compared at DOUBLE_REL with the reference's doubles and at
 * FLOAT_REL with the float gradient, and the fractions of the comments are
 * checked loosely (1e-6) as a check on the derivation itself. */
#include "yolo_support.h"

static double bce(double y, double z)
{
    const double s = sig(z);
    return -(y * log(s) + (1 - y) * log(1 - s));
}

static void set_box(const rl_yolo_config *cfg, float *pred, int32_t h, int64_t n, int32_t i,
                    int32_t j, int32_t b, float tx, float ty, float tw, float th, float tc)
{
    const float v[5] = {tx, ty, tw, th, tc};
    for (int k = 0; k < 5; k++)
        pred[yolo_offset(cfg, h, n, i, j, b, k)] = v[k];
}

static void set_classes(const rl_yolo_config *cfg, float *pred, int32_t h, int64_t n, int32_t i,
                        int32_t j, int32_t b, const float *logits)
{
    for (int32_t c = 0; c < cfg->C; c++)
        pred[yolo_offset(cfg, h, n, i, j, b, 5 + c)] = logits[c];
}

/* rl_yolo_compute; the test fails unless RL_OK. */
static void api_ok(const rl_yolo_plan *plan, int32_t N, float *const *preds, const rl_box *truths,
                   const int64_t *off, const rl_counts *gc, rl_result *total, rl_result *heads,
                   float *const *grads)
{
    const void *p[RL_YOLO_MAX_HEADS];
    void *g[RL_YOLO_MAX_HEADS];
    for (int32_t h = 0; h < plan->n_heads; h++) {
        p[h] = preds[h];
        g[h] = grads ? grads[h] : NULL;
    }
    rl_yolo_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.n_images = N;
    batch.preds = p;
    batch.truths = truths;
    batch.truth_offsets = off;
    batch.global_counts = gc;
    rl_status st = rl_yolo_compute(plan, &batch, total, heads, grads ? g : NULL);
    cr_assert(st == RL_OK, "rl_yolo_compute: %s: %s", rl_status_name(st), rl_last_error());
    cr_assert_str_eq(total->variant, "reference");
    cr_assert_str_empty(rl_last_error());
}

/* ---- one truth, one head --------------------------------------------------
 *
 * Head 2 x 2 cells, B = 1 (mask {0}), anchor list {(100, 100)} pixels, net
 * 200 x 200, C = 2, ignore_thresh 0.7, truth_thresh 1, norm images, N = 1.
 * Truth (cx, cy, w, h, cls) = (0.75, 0.25, 0.5, 0.5, 1): 100 x 100 pixels,
 * the only anchor; cell j = floor(1.5) = 1, i = floor(0.5) = 0: slot
 * (0, 1, 0).  Targets: X = 1.5 - 1 = 1/2, Y = 0.5 - 0 = 1/2,
 * TW = log(0.5*200/100) = 0, TH = 0, k = 2 - 0.5*0.5 = 7/4.
 *
 * Its logits: tx = log 3 (s = 3/4), ty = -log 3 (s = 1/4), tw = log 2,
 * th = 0, tc = 0 (c^ = 1/2), classes (0, log 3): p^ = (1/2, 3/4).
 *   BCE(1/2, 3/4) = BCE(1/2, 1/4) = -1/2 log(3/16) = 1/2 log(16/3)
 *   coord = 7/4 * (log(16/3) + (log 2)^2 / 2)
 *   obj   = BCE(1, 1/2) = log 2
 *   cls   = BCE(0, 1/2) + BCE(1, 3/4) = log 2 + log 4/3 = log 8/3
 * Decoded: x^ = (1 + 3/4)/2 = 7/8, y^ = (0 + 1/4)/2 = 1/8, w^ = 2*100/200 = 1,
 * h^ = 1/2: [3/8, 11/8] x [-1/8, 3/8] against the truth [1/2, 1] x [0, 1/2]:
 * inter = 1/2 * 3/8 = 3/16, union = 1/2 + 1/4 - 3/16 = 9/16, IoU = 1/3.
 * The other three slots: t = 0 in the box entries, i.e. exactly their own
 * cell ([j/2, (j+1)/2] x [i/2, (i+1)/2], w^ = 100/200), which meets the
 * truth's cell along an edge or a corner only: IoU 0 <= 0.7, negatives.
 * Their tc = 0, -log 3, log 3 (c^ = 1/2, 1/4, 3/4), class logits 7, -5
 * (nothing reads them):
 *   noobj = log 2 + log 4/3 + log 4 = log 32/3
 * Gradient (D = 1, lambdas 1):
 *   tx: 7/4 (3/4 - 1/2) = 7/16   ty: -7/16   tw: 7/4 log 2   th: 0
 *   tc: 1/2 - 1 = -1/2           classes: (1/2 - 0, 3/4 - 1) = (1/2, -1/4)
 *   negatives' tc: 1/2, 1/4, 3/4; every other entry 0.
 * Counts 1, 3, 4, n_truths 1.  Diagnostics: avg_iou 1/3, recalls 0,
 * avg_obj 1/2, avg_cls p^[1] = 3/4, avg_noobj (1/2 + 1/4 + 3/4)/3 = 1/2.
 * Darknet's line: count 1, avg_iou 1/3, recall 0, avg_obj 1/2, avg_cls 3/4,
 * avg_anyobj (1/2 + 1/2 + 1/4 + 3/4)/4 = 1/2, cost = the squares above:
 *   2 (7/16)^2 + (7/4 log 2)^2 + 1/4 + 1/4 + 1/16 + 1/4 + 1/16 + 9/16
 *   = 233/128 + 49/16 (log 2)^2.
 * With lambdas (l_coord, l_class, l_obj, l_noobj) and D images, each part
 * and each entry is multiplied by its l/D; the cost by l^2 (it takes D = 1). */

#define OT_K 7

static void one_truth(rl_layout layout, const double lam[4], int64_t global_images)
{
    const float anchors[2] = {100, 100};
    const int32_t mask[1] = {0};
    rl_yolo_head head = {2, 2, 1, mask};
    rl_yolo_config cfg;
    rl_yolo_config_init(&cfg);
    cfg.n_heads = 1;
    cfg.heads = &head;
    cfg.C = 2;
    cfg.n_anchors = 1;
    cfg.anchors = anchors;
    cfg.net_w = cfg.net_h = 200;
    cfg.layout = layout;
    cfg.lambda_coord = lam[0];
    cfg.lambda_class = lam[1];
    cfg.lambda_obj = lam[2];
    cfg.lambda_noobj = lam[3];
    rl_yolo_plan *plan = yolo_ref_plan(&cfg);

    const float L3 = (float)log(3.0), L2 = (float)log(2.0);
    const float TC_OTHER[3] = {0.0f, -L3, L3};
    const int others[3][2] = {{0, 0}, {1, 0}, {1, 1}};
    float pred[4 * OT_K] = {0}, grad[4 * OT_K];
    set_box(&cfg, pred, 0, 0, 0, 1, 0, L3, -L3, L2, 0.0f, 0.0f);
    set_classes(&cfg, pred, 0, 0, 0, 1, 0, (const float[]){0.0f, L3});
    for (int s = 0; s < 3; s++) {
        set_box(&cfg, pred, 0, 0, others[s][0], others[s][1], 0, 0, 0, 0, 0, TC_OTHER[s]);
        set_classes(&cfg, pred, 0, 0, others[s][0], others[s][1], 0, (const float[]){7, -5});
    }
    const rl_box truth = {0.75f, 0.25f, 0.5f, 0.5f, 1};
    const int64_t off[2] = {0, 1};
    rl_counts gc = {0, 0, 0, global_images};
    const rl_counts *g = global_images ? &gc : NULL;
    const double D = global_images ? (double)global_images : 1.0;

    rl_result r, rh;
    float *preds[1] = {pred}, *grads[1] = {grad};
    api_ok(plan, 1, preds, &truth, off, g, &r, &rh, grads);

    /* The derivation, on the float logits. */
    const double k = 1.75, sx = sig(L3), sy = sig(-L3);
    const double e_coord =
        lam[0] / D * k * (bce(0.5, L3) + bce(0.5, -L3) + (double)L2 * (double)L2 / 2);
    const double e_obj = lam[2] / D * bce(1, 0);
    const double e_cls = lam[1] / D * (bce(0, 0) + bce(1, L3));
    /* the decoded box against the truth [1/2, 1] x [0, 1/2] */
    const double bx = (1 + sx) / 2, by = (0 + sy) / 2, bw = exp((double)L2) * 100 / 200, bh = 0.5;
    const double ox = fmin(bx + bw / 2, 1.0) - fmax(bx - bw / 2, 0.5);
    const double oy = fmin(by + bh / 2, 0.5) - fmax(by - bh / 2, 0.0);
    const double iou = ox * oy / (bw * bh + 0.25 - ox * oy);
    double e_noobj = 0, sum_noobj = 0;
    for (int s = 0; s < 3; s++) {
        e_noobj += lam[3] / D * bce(0, TC_OTHER[s]);
        sum_noobj += sig(TC_OTHER[s]);
    }
    double eg[4 * OT_K] = {0};
    eg[yolo_offset(&cfg, 0, 0, 0, 1, 0, 0)] = lam[0] / D * k * (sx - 0.5);
    eg[yolo_offset(&cfg, 0, 0, 0, 1, 0, 1)] = lam[0] / D * k * (sy - 0.5);
    eg[yolo_offset(&cfg, 0, 0, 0, 1, 0, 2)] = lam[0] / D * k * (L2 - 0.0);
    eg[yolo_offset(&cfg, 0, 0, 0, 1, 0, 4)] = lam[2] / D * (0.5 - 1);
    eg[yolo_offset(&cfg, 0, 0, 0, 1, 0, 5)] = lam[1] / D * (0.5 - 0);
    eg[yolo_offset(&cfg, 0, 0, 0, 1, 0, 6)] = lam[1] / D * (sig(L3) - 1);
    for (int s = 0; s < 3; s++)
        eg[yolo_offset(&cfg, 0, 0, others[s][0], others[s][1], 0, 4)] =
            lam[3] / D * sig(TC_OTHER[s]);
    double e_cost = 0; /* each entry is lambda/D times its factor: the cost takes D = 1 */
    for (int x = 0; x < 4 * OT_K; x++)
        e_cost += (eg[x] * D) * (eg[x] * D);

    const rl_result *rs[2] = {&r, &rh};
    for (int v = 0; v < 2; v++) {
        const rl_result *q = rs[v];
        const char *what = v ? "head 0" : "total";
        cr_assert_eq(q->n_obj, 1, "%s", what);
        cr_assert_eq(q->n_noobj, 3, "%s", what);
        cr_assert_eq(q->n_conf, 4, "%s", what);
        cr_assert_eq(q->n_truths, 1, "%s", what);
        assert_close(q->coord, e_coord, DOUBLE_REL, 0, "%s coord", what);
        assert_close(q->cls, e_cls, DOUBLE_REL, 0, "%s cls", what);
        assert_close(q->obj, e_obj, DOUBLE_REL, 0, "%s obj", what);
        assert_close(q->noobj, e_noobj, DOUBLE_REL, 0, "%s noobj", what);
        cr_assert_eq(q->warmup, 0.0);
        assert_close(q->loss, e_coord + e_cls + e_obj + e_noobj, DOUBLE_REL, 0, "%s loss", what);
        assert_close(q->avg_iou, iou, DOUBLE_REL, 0, "%s avg_iou", what);
        assert_close(q->sum_iou, iou, DOUBLE_REL, 0, "%s sum_iou", what);
        cr_assert(q->recall50 == 0 && q->recall75 == 0 && q->n_recall50 == 0 &&
                  q->n_recall75 == 0);
        cr_assert_eq(q->avg_obj, 0.5);
        assert_close(q->avg_cls, sig(L3), DOUBLE_REL, 0, "%s avg_cls", what);
        assert_close(q->avg_noobj, sum_noobj / 3, DOUBLE_REL, 0, "%s avg_noobj", what);
        cr_assert_eq(q->darknet.count, 1, "%s", what);
        assert_close(q->darknet.avg_iou, iou, DOUBLE_REL, 0, "%s darknet.avg_iou", what);
        cr_assert(q->darknet.recall == 0 && q->darknet.recall75 == 0);
        cr_assert_eq(q->darknet.avg_obj, 0.5);
        assert_close(q->darknet.avg_cls, sig(L3), DOUBLE_REL, 0, "%s darknet.avg_cls", what);
        assert_close(q->darknet.avg_anyobj, (0.5 + sum_noobj) / 4, DOUBLE_REL, 0,
                     "%s darknet.avg_anyobj", what);
        assert_close(q->darknet.cost, e_cost, DOUBLE_REL, 0, "%s darknet.cost", what);
    }
    for (int x = 0; x < 4 * OT_K; x++)
        assert_close(grad[x], eg[x], FLOAT_REL, 0, "layout %d float grad[%d]", (int)layout, x);

    /* The doubles, and which entries have a term (th of the positive: a
     * term whose value is 0). */
    double dgrad[4 * OT_K];
    uint8_t touched[4 * OT_K];
    int8_t kind[4];
    double best[4];
    rl_yolo_ref_out out;
    memset(&out, 0, sizeof out);
    out.head[0] = (rl_ref_out){dgrad, touched, best, kind, NULL};
    rl_result rd;
    yolo_ref_run(plan, 1, (const float *const *)preds, NULL, &truth, off, g, &rd, NULL, &out);
    for (int x = 0; x < 4 * OT_K; x++)
        assert_close(dgrad[x], eg[x], DOUBLE_REL, 0, "layout %d double grad[%d]", (int)layout,
                     x);
    for (int32_t i = 0; i < 2; i++)
        for (int32_t j = 0; j < 2; j++)
            for (int k2 = 0; k2 < OT_K; k2++) {
                const int want = (i == 0 && j == 1) || k2 == 4;
                cr_assert_eq(touched[yolo_offset(&cfg, 0, 0, i, j, 0, k2)], want,
                             "touched (i=%d, j=%d, k=%d)", i, j, k2);
            }
    /* slots (i*W + j)*B + b */
    cr_assert(kind[1] == RL_SLOT_OBJ && kind[0] == RL_SLOT_NOOBJ && kind[2] == RL_SLOT_NOOBJ &&
              kind[3] == RL_SLOT_NOOBJ);
    assert_close(best[1], iou, DOUBLE_REL, 0, "best IoU of the positive");
    cr_assert(best[0] == 0 && best[2] == 0 && best[3] == 0, "edge-touching boxes: IoU 0");

    if (lam[0] == 1 && lam[1] == 1 && lam[2] == 1 && lam[3] == 1 && D == 1) {
        assert_close(e_coord, 1.75 * (log(16.0 / 3) + log(2.0) * log(2.0) / 2), 1e-6, 0, "coord");
        assert_close(e_obj, log(2.0), 1e-6, 0, "obj = log 2");
        assert_close(e_cls, log(8.0 / 3), 1e-6, 0, "cls = log 8/3");
        assert_close(e_noobj, log(32.0 / 3), 1e-6, 0, "noobj = log 32/3");
        assert_close(eg[yolo_offset(&cfg, 0, 0, 0, 1, 0, 0)], 7.0 / 16, 1e-6, 0, "dtx");
        assert_close(eg[yolo_offset(&cfg, 0, 0, 0, 1, 0, 1)], -7.0 / 16, 1e-6, 0, "dty");
        assert_close(eg[yolo_offset(&cfg, 0, 0, 0, 1, 0, 2)], 1.75 * log(2.0), 1e-6, 0, "dtw");
        assert_close(eg[yolo_offset(&cfg, 0, 0, 0, 1, 0, 4)], -0.5, 1e-6, 0, "dtc");
        assert_close(eg[yolo_offset(&cfg, 0, 0, 0, 1, 0, 6)], -0.25, 1e-6, 0, "dclass1");
        assert_close(e_cost, 233.0 / 128 + 49.0 / 16 * log(2.0) * log(2.0), 1e-6, 0, "cost");
        assert_close(sum_noobj / 3, 0.5, 1e-6, 0, "avg_noobj = 1/2");
        assert_close(iou, 1.0 / 3, 1e-6, 0, "IoU = 1/3");
    }
    rl_yolo_plan_destroy(plan);
}

static const double LAMBDAS_1[4] = {1, 1, 1, 1};
static const double LAMBDAS_2[4] = {2, 3, 5, 7};

Test(yolo_hand_terms, one_truth_nchw) { one_truth(RL_LAYOUT_NCHW, LAMBDAS_1, 0); }
Test(yolo_hand_terms, one_truth_nhwc) { one_truth(RL_LAYOUT_NHWC, LAMBDAS_1, 0); }
/* lambdas (2, 3, 5, 7) and D = global_counts->n_images = 4 */
Test(yolo_hand_terms, one_truth_lambdas_global_images) { one_truth(RL_LAYOUT_NCHW, LAMBDAS_2, 4); }
Test(yolo_hand_terms, one_truth_lambdas_nhwc) { one_truth(RL_LAYOUT_NHWC, LAMBDAS_2, 0); }

/* ---- a truth whose best anchor is another head's ------------------------
 *
 * Anchors (pixels, net 160 x 160): a0 = (20, 20), a1 = (144, 144),
 * a2 = (30, 30).  Head 0: 1 x 1 cell, B = 2, mask {0, 2}; head 1: 2 x 2
 * cells, B = 1, mask {1}.  C = 2.  Truth (0.5, 0.5, 0.9, 0.9, class 0):
 * 144 x 144 pixels, shape IoU 1 with a1: head 1's, at its cell
 * (floor(1.0), floor(1.0)) = (1, 1); head 0 has no positive for it.
 * Head 0, anchor b = 0 (20 px): tx = ty = 0 (centre 1/2), tw = th = log 6.4,
 * w^ = 6.4 * 20/160 = 0.8: a 0.8 square inside the truth's 0.9 one, IoU
 * 0.64/0.81 = 0.79 > ignore_thresh 0.7: ignored, although head 0 holds no
 * positive of that truth.  Anchor b = 1 (30 px), t = 0: a 0.1875 square in
 * the middle, IoU 0.1875^2/0.81 = 0.043: a negative, tc = 0:
 * noobj = log 2.  Head 0's class logits are NaN: no positive, nothing
 * reads them, the batch is accepted.  Without the truth the ignored slot
 * is a negative too (best 0). */
static void cross_setup(rl_yolo_config *cfg, rl_yolo_head *heads, float *anchors,
                        int32_t *mask0, int32_t *mask1)
{
    const float a[6] = {20, 20, 144, 144, 30, 30};
    memcpy(anchors, a, sizeof a);
    mask0[0] = 0, mask0[1] = 2, mask1[0] = 1;
    heads[0] = (rl_yolo_head){1, 1, 2, mask0};
    heads[1] = (rl_yolo_head){2, 2, 1, mask1};
    rl_yolo_config_init(cfg);
    cfg->n_heads = 2;
    cfg->heads = heads;
    cfg->C = 2;
    cfg->n_anchors = 3;
    cfg->anchors = anchors;
    cfg->net_w = cfg->net_h = 160;
    cfg->grad_mode = RL_GRAD_ACCUMULATE; /* an untouched entry keeps its value */
}

Test(yolo_hand_terms, truth_of_another_head_lifts_slots_out_of_the_negatives)
{
    rl_yolo_config cfg;
    rl_yolo_head heads[2];
    float anchors[6];
    int32_t mask0[2], mask1[1];
    cross_setup(&cfg, heads, anchors, mask0, mask1);
    rl_yolo_plan *plan = yolo_ref_plan(&cfg);
    float p0[1 * 1 * 2 * 7], p1[2 * 2 * 1 * 7] = {0};
    const float L64 = (float)log(6.4);
    set_box(&cfg, p0, 0, 0, 0, 0, 0, 0, 0, L64, L64, 5.0f);
    set_box(&cfg, p0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0.0f);
    for (int32_t b = 0; b < 2; b++)
        set_classes(&cfg, p0, 0, 0, 0, 0, b, (const float[]){NAN, NAN});
    /* head 1's positive: no entry at its target (tw = th = 0 would be) */
    set_box(&cfg, p1, 1, 0, 1, 1, 0, 0.5f, -0.5f, 0.3f, -0.2f, 1.0f);
    set_classes(&cfg, p1, 1, 0, 1, 1, 0, (const float[]){0.25f, 0.75f});
    const rl_box truth = {0.5f, 0.5f, 0.9f, 0.9f, 0};
    const int64_t off1[2] = {0, 1}, off0[2] = {0, 0};
    float g0[14], g1[28];
    float *preds[2] = {p0, p1}, *grads[2] = {g0, g1};

    for (int with_truth = 1; with_truth >= 0; with_truth--) {
        for (int x = 0; x < 14; x++)
            g0[x] = 1000.0f;
        for (int x = 0; x < 28; x++)
            g1[x] = 1000.0f;
        rl_result tot, rh[2];
        api_ok(plan, 1, preds, with_truth ? &truth : NULL, with_truth ? off1 : off0, NULL, &tot,
               rh, grads);
        /* head 0: no positive; b = 0 ignored with the truth, negative without */
        cr_assert_eq(rh[0].n_obj, 0);
        cr_assert_eq(rh[0].n_noobj, with_truth ? 1 : 2, "head 0 negatives: %lld",
                     (long long)rh[0].n_noobj);
        cr_assert_eq(rh[0].darknet.count, 0);
        cr_assert(rh[0].darknet.avg_iou == 0 && rh[0].darknet.avg_cls == 0 &&
                  rh[0].darknet.avg_obj == 0 && rh[0].darknet.recall == 0);
        assert_close(rh[0].darknet.avg_anyobj, (sig(5.0) + 0.5) / 2, DOUBLE_REL, 0, "anyobj");
        const double e_noobj = log(2.0) + (with_truth ? 0.0 : bce(0, 5.0));
        assert_close(rh[0].noobj, e_noobj, DOUBLE_REL, 0, "head 0 noobj");
        cr_assert(rh[0].coord == 0 && rh[0].cls == 0 && rh[0].obj == 0);
        assert_close(rh[0].loss, e_noobj, DOUBLE_REL, 0, "head 0 loss");
        for (int32_t b = 0; b < 2; b++)
            for (int k = 0; k < 7; k++) {
                const float got = g0[yolo_offset(&cfg, 0, 0, 0, 0, b, k)];
                const int has_term = k == 4 && (b == 1 || !with_truth);
                if (!has_term)
                    cr_assert_eq(got, 1000.0f, "head 0 b %d entry %d touched", b, k);
                else
                    assert_close(got, 1000.0 + (b == 1 ? 0.5 : sig(5.0)), FLOAT_REL, 0,
                                 "head 0 b %d tc", b);
            }
        /* head 1: the positive of the truth at (1, 1), three negatives
         * (0.9 squares at the cell centres: IoU 0.4225/1.1975 = 0.35) */
        cr_assert_eq(rh[1].n_obj, with_truth ? 1 : 0);
        cr_assert_eq(rh[1].n_noobj, with_truth ? 3 : 4);
        cr_assert_eq(rh[1].darknet.count, with_truth ? 1 : 0);
        for (int k = 0; k < 7; k++)
            if (with_truth)
                cr_assert_neq(g1[yolo_offset(&cfg, 1, 0, 1, 1, 0, k)], 1000.0f,
                              "head 1's positive: entry %d has a term", k);
        /* the total sums the heads; darknet's count is head 1's */
        cr_assert_eq(tot.n_obj, rh[0].n_obj + rh[1].n_obj);
        cr_assert_eq(tot.n_noobj, rh[0].n_noobj + rh[1].n_noobj);
        cr_assert_eq(tot.n_truths, with_truth);
        cr_assert_eq(rh[0].n_truths, with_truth, "every head counts the batch's truths");
        cr_assert_eq(tot.darknet.count, with_truth);
        cr_assert_eq(tot.loss, rh[0].loss + rh[1].loss);
        cr_assert_eq(tot.darknet.cost, rh[0].darknet.cost + rh[1].darknet.cost);
        cr_assert_eq(tot.darknet.avg_iou, with_truth ? rh[1].darknet.avg_iou : 0.0);
        assert_close(tot.darknet.avg_anyobj,
                     (rh[0].darknet.avg_anyobj * 2 + rh[1].darknet.avg_anyobj * 4) / 6,
                     DOUBLE_REL, 0, "anyobj over the 6 slots of both heads");
    }
    /* the slot kinds, from the reference's outputs */
    int8_t kind0[2];
    double best0[2];
    rl_yolo_ref_out out;
    memset(&out, 0, sizeof out);
    out.head[0].slot_kind = kind0;
    out.head[0].best_iou = best0;
    rl_result r;
    yolo_ref_run(plan, 1, (const float *const *)preds, NULL, &truth, off1, NULL, &r, NULL, &out);
    cr_assert_eq(kind0[0], RL_SLOT_IGNORED);
    cr_assert_eq(kind0[1], RL_SLOT_NOOBJ);
    assert_close(best0[0], 0.64 / 0.81, 1e-6, 0, "IoU of the 0.8 square in the 0.9 one");
    assert_close(best0[1], 0.1875 * 0.1875 / 0.81, 1e-6, 0, "IoU of the 0.1875 square");
    rl_yolo_plan_destroy(plan);
}

/* ---- several truths on one slot ---------------------------------------------
 *
 * One head 2 x 2, B = 1 (mask {0}), anchors {(100, 100)}, net 200, C = 4.
 * Three 0.5 x 0.5 truths (100 x 100 pixels: anchor 0), all in cell (0, 1):
 *   T0 (0.6, 0.2) class 0,  T1 (0.7, 0.3) class 2,  T2 (0.9, 0.1) class 2.
 * The slot is one positive: box target the last (T2: X = 0.9*2 - 1 = 0.8,
 * Y = 0.1*2 = 0.2, TW = TH = 0, k = 7/4), class targets the union
 * {0, 2}: y = (1, 0, 1, 0).  Logits: tx = 1, ty = -1, tw = 0.5, th = -0.25,
 * tc = 0.75, classes (0.5, -1, 1.5, 2).  sum_cls is p^ of T2's class 2;
 * darknet's line counts all three truths (the replaced ones included), each
 * with its own class and IoU at that slot.  Input order decides the box
 * target: with T2 first the last is T1 (X = 0.4, Y = 0.6). */
static void multilabel(int last_is_t2)
{
    const float anchors[2] = {100, 100};
    const int32_t mask[1] = {0};
    rl_yolo_head head = {2, 2, 1, mask};
    rl_yolo_config cfg;
    rl_yolo_config_init(&cfg);
    cfg.n_heads = 1;
    cfg.heads = &head;
    cfg.C = 4;
    cfg.n_anchors = 1;
    cfg.anchors = anchors;
    cfg.net_w = cfg.net_h = 200;
    rl_yolo_plan *plan = yolo_ref_plan(&cfg);
    const rl_box t0 = {0.6f, 0.2f, 0.5f, 0.5f, 0}, t1 = {0.7f, 0.3f, 0.5f, 0.5f, 2},
                 t2 = {0.9f, 0.1f, 0.5f, 0.5f, 2};
    /* input order T0, T1, T2, or T2, T0, T1 */
    const rl_box in[3] = {last_is_t2 ? t0 : t2, last_is_t2 ? t1 : t0, last_is_t2 ? t2 : t1};
    const rl_box *target = &in[2];
    const int64_t off[2] = {0, 3};
    float pred[4 * 9] = {0}, grad[4 * 9];
    const float logits[4] = {0.5f, -1.0f, 1.5f, 2.0f};
    set_box(&cfg, pred, 0, 0, 0, 1, 0, 1.0f, -1.0f, 0.5f, -0.25f, 0.75f);
    set_classes(&cfg, pred, 0, 0, 0, 1, 0, logits);
    float *preds[1] = {pred}, *grads[1] = {grad};
    rl_result r, rh;
    api_ok(plan, 1, preds, in, off, NULL, &r, &rh, grads);

    const double X = (double)target->cx * 2 - 1, Y = (double)target->cy * 2 - 0, k = 1.75;
    const double y[4] = {1, 0, 1, 0};
    cr_assert_eq(r.n_obj, 1);
    cr_assert_eq(r.n_truths, 3);
    const double e_coord = k * (bce(X, 1.0) + bce(Y, -1.0) + 0.5 * 0.5 / 2 + 0.25 * 0.25 / 2);
    assert_close(r.coord, e_coord, DOUBLE_REL, 0, "coord of the last truth's box");
    double e_cls = 0;
    for (int c = 0; c < 4; c++)
        e_cls += bce(y[c], logits[c]);
    assert_close(r.cls, e_cls, DOUBLE_REL, 0, "cls of the union");
    assert_close(grad[yolo_offset(&cfg, 0, 0, 0, 1, 0, 0)], k * (sig(1.0) - X), FLOAT_REL, 0,
                 "dtx");
    assert_close(grad[yolo_offset(&cfg, 0, 0, 0, 1, 0, 1)], k * (sig(-1.0) - Y), FLOAT_REL, 0,
                 "dty");
    assert_close(grad[yolo_offset(&cfg, 0, 0, 0, 1, 0, 2)], k * 0.5, FLOAT_REL, 0, "dtw");
    assert_close(grad[yolo_offset(&cfg, 0, 0, 0, 1, 0, 3)], k * -0.25, FLOAT_REL, 0, "dth");
    for (int c = 0; c < 4; c++)
        assert_close(grad[yolo_offset(&cfg, 0, 0, 0, 1, 0, 5 + c)], sig(logits[c]) - y[c],
                     FLOAT_REL, 0, "class %d", c);
    assert_close(r.sum_cls, sig(1.5), DOUBLE_REL, 0, "sum_cls: p^ of the box target's class 2");

    /* darknet: all three truths at that slot; decoded box: x^ = (1 +
     * s(1))/2, y^ = s(-1)/2, w^ = e^0.5/2, h^ = e^-0.25/2 */
    const double bx = (1 + sig(1.0)) / 2, by = sig(-1.0) / 2, bw = exp(0.5) / 2,
                 bh = exp(-0.25) / 2;
    double iou_sum = 0, cls_sum = 0;
    for (int t = 0; t < 3; t++) {
        const double ox = fmin(bx + bw / 2, in[t].cx + 0.25) - fmax(bx - bw / 2, in[t].cx - 0.25);
        const double oy = fmin(by + bh / 2, in[t].cy + 0.25) - fmax(by - bh / 2, in[t].cy - 0.25);
        const double inter = fmax(ox, 0) * fmax(oy, 0);
        iou_sum += inter / (bw * bh + 0.25 - inter);
        cls_sum += sig(logits[in[t].cls]);
    }
    cr_assert_eq(r.darknet.count, 3);
    assert_close(r.darknet.avg_iou, iou_sum / 3, DOUBLE_REL, 0, "darknet.avg_iou");
    assert_close(r.darknet.avg_cls, cls_sum / 3, DOUBLE_REL, 0, "darknet.avg_cls");
    assert_close(r.darknet.avg_obj, sig(0.75), DOUBLE_REL, 0, "darknet.avg_obj");
    rl_yolo_plan_destroy(plan);
}

Test(yolo_hand_terms, multilabel_union_box_of_the_last) { multilabel(1); }
Test(yolo_hand_terms, multilabel_input_order_decides_the_box) { multilabel(0); }

/* ---- truth_thresh ----------------------------------------------------------
 *
 * One head 2 x 2, B = 2 (mask {0, 1}); anchors a0 = (100, 100),
 * a1 = (40, 160) pixels; net 200; C = 2; truth_thresh 0.5, ignore 0.7.
 * Image 0: one truth T = (0.75, 0.25, 0.5, 0.5, class 1), 100 x 100 px:
 * anchor 0, slot (0, 1, 0).  Slot (0, 1, 1) (anchor a1) has tx = log 3,
 * ty = 0, tw = log 2, th = log(100/160): x^ = (1 + 3/4)/2 = 7/8,
 * y^ = 1/4, w^ = 2*40/200 = 0.4, h^ = 0.625*160/200 = 1/2: the box
 * [0.675, 1.075] x [0, 1/2] against T's [1/2, 1] x [0, 1/2]: inter =
 * 0.325 * 1/2, union = 0.2 + 0.25 - 0.1625, IoU = 0.1625/0.2875 = 0.565 >
 * 0.5: T's positive by truth_thresh, T its box target at its own slot:
 * X = 1.5 - 1 = 1/2, Y = 1/2, TW = log(0.5*200/40) = log 2.5,
 * TH = log(100/160), k = 7/4; class target T's (0, 1):
 *   dtx = 7/4 (3/4 - 1/2) = 7/16, dty = 0, dtw = 7/4 log(2/2.5), dth ~ 0.
 * With truth_thresh 1 the same slot is a negative (0.565 <= 0.7).
 * T's own slot has tx = -1, ty = 1, tw = th = 1/4 (IoU 0.455 with T, no
 * truth_thresh class), every other slot t = 0: boxes at the cell centres,
 * 0.5 x 0.5 (a0) or 0.2 x 0.8 (a1), whose IoUs with T are 0 or 0.079. */
static void tt_config(rl_yolo_config *cfg, rl_yolo_head *head, float *anchors, int32_t *mask)
{
    const float a[4] = {100, 100, 40, 160};
    memcpy(anchors, a, sizeof a);
    mask[0] = 0, mask[1] = 1;
    *head = (rl_yolo_head){2, 2, 2, mask};
    rl_yolo_config_init(cfg);
    cfg->n_heads = 1;
    cfg->heads = head;
    cfg->C = 2;
    cfg->n_anchors = 2;
    cfg->anchors = anchors;
    cfg->net_w = cfg->net_h = 200;
    cfg->truth_thresh = 0.5;
    cfg->ignore_thresh = 0.7;
}

Test(yolo_hand_terms, truth_thresh_positive_of_the_best_truth)
{
    rl_yolo_config cfg;
    rl_yolo_head head;
    float anchors[4];
    int32_t mask[2];
    tt_config(&cfg, &head, anchors, mask);
    const rl_box T = {0.75f, 0.25f, 0.5f, 0.5f, 1};
    const int64_t off[2] = {0, 1};
    float pred[4 * 2 * 7] = {0}, grad[4 * 2 * 7];
    const float L3 = (float)log(3.0), L2 = (float)log(2.0), LH = (float)log(100.0 / 160);
    /* slot (0, 1, 0), T's matched slot: its box away from the other one */
    set_box(&cfg, pred, 0, 0, 0, 1, 0, -1.0f, 1.0f, 0.25f, 0.25f, 1.0f);
    set_box(&cfg, pred, 0, 0, 0, 1, 1, L3, 0.0f, L2, LH, -0.5f);
    set_classes(&cfg, pred, 0, 0, 0, 1, 1, (const float[]){0.25f, -0.75f});
    float *preds[1] = {pred}, *grads[1] = {grad};
    for (int tt1 = 0; tt1 < 2; tt1++) {
        cfg.truth_thresh = tt1 ? 1.0 : 0.5;
        rl_yolo_plan *plan = yolo_ref_plan(&cfg);
        rl_result r, rh;
        api_ok(plan, 1, preds, &T, off, NULL, &r, &rh, grads);
        int8_t kind[8];
        double best[8];
        rl_yolo_ref_out out;
        memset(&out, 0, sizeof out);
        out.head[0].slot_kind = kind;
        out.head[0].best_iou = best;
        rl_result rr;
        yolo_ref_run(plan, 1, (const float *const *)preds, NULL, &T, off, NULL, &rr, NULL, &out);
        /* slot (i*W + j)*B + b: (0, 1, 1) is 3 */
        assert_close(best[3], 0.1625 / 0.2875, 1e-6, 0, "IoU of slot (0, 1, 1) with T");
        cr_assert_eq(kind[2], RL_SLOT_OBJ, "T's own slot");
        cr_assert_eq(r.darknet.count, 1, "darknet's line counts the matched truths only");
        if (tt1) {
            cr_assert_eq(kind[3], RL_SLOT_NOOBJ, "truth_thresh 1: 0.565 <= 0.7, a negative");
            cr_assert_eq(r.n_obj, 1);
            assert_close(grad[yolo_offset(&cfg, 0, 0, 0, 1, 1, 4)], sig(-0.5), FLOAT_REL, 0,
                         "negative's tc");
            cr_assert_eq(grad[yolo_offset(&cfg, 0, 0, 0, 1, 1, 0)], 0.0f);
            rl_yolo_plan_destroy(plan);
            continue;
        }
        cr_assert_eq(kind[3], RL_SLOT_OBJ, "truth_thresh 0.5: a positive of T");
        cr_assert_eq(r.n_obj, 2);
        const double k = 1.75, X = 0.5, Y = 0.5, TW = log(0.5 * 200 / 40.0),
                     TH = log(0.5 * 200 / 160.0);
        double g[7];
        for (int e = 0; e < 7; e++)
            g[e] = grad[yolo_offset(&cfg, 0, 0, 0, 1, 1, e)];
        assert_close(g[0], k * (sig(L3) - X), FLOAT_REL, 0, "dtx: 7/4 (3/4 - 1/2)");
        assert_close(g[1], k * (0.5 - Y), FLOAT_REL, 1e-30, "dty: 0");
        assert_close(g[2], k * (L2 - TW), FLOAT_REL, 0, "dtw: 7/4 log(2/2.5)");
        assert_close(g[3], k * ((double)LH - TH), 1e-6, 1e-7, "dth: ~0");
        assert_close(g[4], sig(-0.5) - 1, FLOAT_REL, 0, "dtc: c^ - 1");
        assert_close(g[5], sig(0.25) - 0, FLOAT_REL, 0, "class 0: not T's");
        assert_close(g[6], sig(-0.75) - 1, FLOAT_REL, 0, "class 1: T's");
        assert_close(g[0], 7.0 / 16, 1e-6, 0, "dtx = 7/16");
        assert_close(g[2], 1.75 * log(0.8), 1e-6, 0, "dtw = 7/4 log 0.8");
        /* the part of the truth_thresh positive in coord: */
        const rl_result *q = &r;
        const double tx0 = -1, ty0 = 1, X0 = 0.5, Y0 = 0.5;
        const double e_coord = k * (bce(X0, tx0) + bce(Y0, ty0) + 0.25 * 0.25) +
                               k * (bce(X, L3) + bce(Y, 0) + (TW - L2) * (TW - L2) / 2 +
                                    (TH - LH) * (TH - LH) / 2);
        assert_close(q->coord, e_coord, DOUBLE_REL, 0, "coord of both positives");
        rl_yolo_plan_destroy(plan);
    }
}

/* Image of its own: T_a = (0.75, 0.25, 0.5, 0.5, class 1) (anchor a0,
 * slot (0, 1, 0)) and T_c = (0.75, 0.25, 0.2, 0.8, class 0) (40 x 160 px:
 * anchor a1, slot (0, 1, 1)).  Slot (0, 1, 0)'s box imitates T_c: t = 0 in
 * x, y (centre (0.75, 0.25)), tw = log 0.4, th = log 1.6: 0.2 x 0.8, IoU
 * with T_c ~1 > 0.5, with T_a 0.1/0.31.  Its best truth is T_c: by
 * truth_thresh the slot is T_c's positive first, then T_a's by the anchor
 * match; it keeps T_a's box target (X = 1/2, TW = 0) and the classes of both:
 * y = (1, 1).  With truth_thresh 1, y = (0, 1). */
Test(yolo_hand_terms, truth_thresh_adds_a_class_to_a_matched_slot)
{
    rl_yolo_config cfg;
    rl_yolo_head head;
    float anchors[4];
    int32_t mask[2];
    tt_config(&cfg, &head, anchors, mask);
    const rl_box truths[2] = {{0.75f, 0.25f, 0.5f, 0.5f, 1}, {0.75f, 0.25f, 0.2f, 0.8f, 0}};
    const int64_t off[2] = {0, 2};
    float pred[4 * 2 * 7] = {0}, grad[4 * 2 * 7];
    const float L04 = (float)log(0.4), L16 = (float)log(1.6);
    set_box(&cfg, pred, 0, 0, 0, 1, 0, 0.0f, 0.0f, L04, L16, 0.5f);
    set_classes(&cfg, pred, 0, 0, 0, 1, 0, (const float[]){-0.5f, 1.25f});
    float *preds[1] = {pred}, *grads[1] = {grad};
    for (int tt1 = 0; tt1 < 2; tt1++) {
        cfg.truth_thresh = tt1 ? 1.0 : 0.5;
        rl_yolo_plan *plan = yolo_ref_plan(&cfg);
        rl_result r, rh;
        api_ok(plan, 1, preds, truths, off, NULL, &r, &rh, grads);
        const double k = 1.75;
        assert_close(grad[yolo_offset(&cfg, 0, 0, 0, 1, 0, 0)], k * (0.5 - 0.5), 0, 1e-30,
                     "dtx: T_a's X = 1/2, s(0) = 1/2");
        assert_close(grad[yolo_offset(&cfg, 0, 0, 0, 1, 0, 2)], k * ((double)L04 - 0.0),
                     FLOAT_REL, 0, "dtw: T_a's TW = 0 (not T_c's)");
        assert_close(grad[yolo_offset(&cfg, 0, 0, 0, 1, 0, 3)], k * ((double)L16 - 0.0),
                     FLOAT_REL, 0, "dth: T_a's TH = 0");
        assert_close(grad[yolo_offset(&cfg, 0, 0, 0, 1, 0, 5)], sig(-0.5) - (tt1 ? 0 : 1),
                     FLOAT_REL, 0, "class 0 (T_c's) a target only by truth_thresh");
        assert_close(grad[yolo_offset(&cfg, 0, 0, 0, 1, 0, 6)], sig(1.25) - 1, FLOAT_REL, 0,
                     "class 1 (T_a's)");
        /* the positives: T_a's slot (box target T_a, class 1) and T_c's
         * matched slot (0, 1, 1), t = 0: s(0) of class 0 */
        cr_assert_eq(r.n_obj, 2);
        assert_close(r.sum_cls, sig(1.25) + 0.5, DOUBLE_REL, 0, "sum_cls: the box targets' classes");
        rl_yolo_plan_destroy(plan);
    }
}

/* ---- forced decisions (rl_yolo_reference_compute's `forced`) ----------------
 *
 * The cross-head case: head 0's slot b = 0 (ignored by its own decision)
 * forced to a negative and b = 1 (a negative) to a positive of the slot's
 * best truth (the only truth), head 1's matched slot forced to a negative
 * (which a matched slot ignores).  Head 0's class logits are NaN: forcing a
 * positive there makes the loss read them, so the reference refuses with
 * RL_ERR_NONFINITE_PRED naming head 0, before writing anything. */
Test(yolo_hand_terms, forced_decisions)
{
    rl_yolo_config cfg;
    rl_yolo_head heads[2];
    float anchors[6];
    int32_t mask0[2], mask1[1];
    cross_setup(&cfg, heads, anchors, mask0, mask1);
    cfg.grad_mode = RL_GRAD_OVERWRITE;
    rl_yolo_plan *plan = yolo_ref_plan(&cfg);
    float p0[14], p1[28] = {0};
    const float L64 = (float)log(6.4);
    set_box(&cfg, p0, 0, 0, 0, 0, 0, 0, 0, L64, L64, 5.0f);
    set_box(&cfg, p0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0.0f);
    for (int32_t b = 0; b < 2; b++)
        set_classes(&cfg, p0, 0, 0, 0, 0, b, (const float[]){NAN, NAN});
    const rl_box truth = {0.5f, 0.5f, 0.9f, 0.9f, 0};
    const int64_t off[2] = {0, 1};
    const float *preds[2] = {p0, p1};
    int8_t f0[2] = {-1, -1}, f1[4] = {-1, -1, -1, -1};
    const int8_t *forced[2] = {f0, f1};
    int8_t k0[2], k1[4];
    double g0[14];
    rl_yolo_ref_out out;
    memset(&out, 0, sizeof out);
    out.head[0].slot_kind = k0;
    out.head[1].slot_kind = k1;
    out.head[0].grad = g0;
    rl_result r, rh[2], r_keep;

    /* all -1: the unforced result, bit for bit */
    yolo_ref_run(plan, 1, preds, NULL, &truth, off, NULL, &r_keep, NULL, NULL);
    cr_assert_eq(rl_yolo_reference_compute(plan, 1, preds, NULL, &truth, off, NULL, forced, &r,
                                           rh, &out),
                 RL_OK);
    assert_results_identical(&r, &r_keep, "all slots kept");

    f0[0] = RL_SLOT_NOOBJ;  /* ignored -> negative */
    f1[3] = RL_SLOT_NOOBJ;  /* head 1's matched slot (1, 1): stays positive */
    cr_assert_eq(rl_yolo_reference_compute(plan, 1, preds, NULL, &truth, off, NULL, forced, &r,
                                           rh, &out),
                 RL_OK);
    cr_assert(k0[0] == RL_SLOT_NOOBJ && k0[1] == RL_SLOT_NOOBJ && k1[3] == RL_SLOT_OBJ);
    cr_assert_eq(rh[0].n_noobj, 2);
    cr_assert_eq(rh[1].n_obj, 1);
    assert_close(rh[0].noobj, log(2.0) + bce(0, 5.0), DOUBLE_REL, 0, "both negatives");

    /* forced positive on NaN class logits: refused, nothing written */
    f0[0] = -1;
    f0[1] = RL_SLOT_OBJ;
    memset(k0, 0x7f, sizeof k0);
    fill_guard(g0, sizeof g0, 0xC3);
    rl_result guard;
    fill_guard(&guard, sizeof guard, 0x5A);
    r = guard;
    rl_status st = rl_yolo_reference_compute(plan, 1, preds, NULL, &truth, off, NULL, forced, &r,
                                             rh, &out);
    cr_assert_eq(st, RL_ERR_NONFINITE_PRED, "%s", rl_status_name(st));
    cr_assert(strstr(rl_last_error(), "head 0: ") && strstr(rl_last_error(), "anchor 1") &&
                  strstr(rl_last_error(), "class 0 logit"),
              "message: %s", rl_last_error());
    cr_assert(is_guard(g0, sizeof g0, 0xC3), "gradient written by a refused call");
    cr_assert(is_guard(&r, sizeof r, 0x5A), "result written by a refused call");
    cr_assert(k0[0] == 0x7f && k0[1] == 0x7f, "slot kinds written by a refused call");

    /* with finite logits: a positive of the truth, box target the truth,
     * at its own cell (0, 0): X = 0.5*1 - 0 = 1/2, TW = log(0.9*160/30) */
    set_classes(&cfg, p0, 0, 0, 0, 0, 1, (const float[]){0.5f, -0.5f});
    cr_assert_eq(rl_yolo_reference_compute(plan, 1, preds, NULL, &truth, off, NULL, forced, &r,
                                           rh, &out),
                 RL_OK, "%s", rl_last_error());
    cr_assert(k0[1] == RL_SLOT_OBJ && k0[0] == RL_SLOT_IGNORED);
    cr_assert_eq(rh[0].n_obj, 1);
    cr_assert_eq(rh[0].darknet.count, 0, "a truth_thresh positive is not in darknet's line");
    const double k = 2.0 - (double)0.9f * 0.9f;
    assert_close(g0[yolo_offset(&cfg, 0, 0, 0, 0, 1, 2)], k * (0 - log(0.9f * 160.0 / 30)),
                 DOUBLE_REL, 0, "dtw of the forced positive");
    assert_close(g0[yolo_offset(&cfg, 0, 0, 0, 0, 1, 5)], sig(0.5) - 1, DOUBLE_REL, 0,
                 "class 0 is the truth's");
    assert_close(g0[yolo_offset(&cfg, 0, 0, 0, 0, 1, 6)], sig(-0.5), DOUBLE_REL, 0, "class 1");

    /* an image without truths: a forced positive has no truth to take,
     * the slot keeps its own decision (a negative) */
    const int64_t off0[2] = {0, 0};
    cr_assert_eq(rl_yolo_reference_compute(plan, 1, preds, NULL, NULL, off0, NULL, forced, &r,
                                           rh, &out),
                 RL_OK);
    cr_assert_eq(k0[1], RL_SLOT_NOOBJ);
    cr_assert_eq(r.n_obj, 0);
    rl_yolo_plan_destroy(plan);
}

/* ---- the strict and non-strict comparisons, on exact IoUs ------------------
 *
 * One head of 1 x 1 cell, B = 2: anchors a0 = (128, 96), a1 = (128, 64)
 * px, net 256, C = 1; truth (0.5, 0.5, 0.5, 0.5): 128 x 128 px, shape IoUs
 * 0.75 and 0.5, best a0.  All logits 0: both boxes are centred on the
 * truth, 0.5 x 0.375 (IoU 0.1875/0.25 = 0.75 exactly) and 0.5 x 0.25 (IoU
 * 0.125/0.25 = 0.5 exactly; every number here is dyadic).
 *   recall: IoU > 0.5, > 0.75, strictly: the matched positive (IoU 0.75)
 *   counts in recall50 only, as in darknet's line;
 *   truth_thresh 0.5: b = 1 (IoU 0.5) is not a positive (best > thresh);
 *   ignore_thresh 0.5: it is a negative (best <= thresh);
 *   truth_thresh 0.25: it is a positive whose IoU 0.5 is not in recall50;
 *   ignore_thresh 0.4999 (truth_thresh 1): it is ignored. */
Test(yolo_hand_terms, exact_iou_on_every_threshold)
{
    const float anchors[4] = {128, 96, 128, 64};
    const int32_t mask[2] = {0, 1};
    rl_yolo_head head = {1, 1, 2, mask};
    rl_yolo_config cfg;
    rl_yolo_config_init(&cfg);
    cfg.n_heads = 1;
    cfg.heads = &head;
    cfg.C = 1;
    cfg.n_anchors = 2;
    cfg.anchors = anchors;
    cfg.net_w = cfg.net_h = 256;
    float pred[2 * 6] = {0};
    float *preds[1] = {pred};
    const rl_box truth = {0.5f, 0.5f, 0.5f, 0.5f, 0};
    const int64_t off[2] = {0, 1};
    const struct {
        double ignore, tt;
        int64_t n_obj, n_noobj, r50, r75;
    } cases[3] = {{0.5, 0.5, 1, 1, 1, 0}, {0.5, 0.25, 2, 0, 1, 0}, {0.4999, 1.0, 1, 0, 1, 0}};
    for (int c = 0; c < 3; c++) {
        cfg.ignore_thresh = cases[c].ignore;
        cfg.truth_thresh = cases[c].tt;
        rl_yolo_plan *plan = yolo_ref_plan(&cfg);
        rl_result r, rh;
        api_ok(plan, 1, preds, &truth, off, NULL, &r, &rh, NULL);
        cr_assert_eq(r.n_obj, cases[c].n_obj, "case %d: n_obj %lld", c, (long long)r.n_obj);
        cr_assert_eq(r.n_noobj, cases[c].n_noobj, "case %d: n_noobj %lld", c,
                     (long long)r.n_noobj);
        cr_assert_eq(r.n_recall50, cases[c].r50, "case %d: n_recall50", c);
        cr_assert_eq(r.n_recall75, cases[c].r75, "case %d: n_recall75", c);
        cr_assert_eq(r.sum_iou, c == 1 ? 1.25 : 0.75, "case %d: sum_iou %.17g", c, r.sum_iou);
        cr_assert_eq(r.darknet.count, 1);
        cr_assert_eq(r.darknet.avg_iou, 0.75);
        cr_assert_eq(r.darknet.recall, 1.0, "darknet: 0.75 > 0.5");
        cr_assert_eq(r.darknet.recall75, 0.0, "darknet: 0.75 is not > 0.75");
        rl_yolo_plan_destroy(plan);
    }
    /* anchor a1 alone: the matched positive has IoU 0.5 exactly, not > 0.5 */
    cfg.anchors = anchors + 2;
    cfg.n_anchors = 1;
    head.B = 1;
    cfg.ignore_thresh = 0.7;
    cfg.truth_thresh = 1.0;
    rl_yolo_plan *plan = yolo_ref_plan(&cfg);
    rl_result r, rh;
    api_ok(plan, 1, preds, &truth, off, NULL, &r, &rh, NULL);
    cr_assert_eq(r.n_obj, 1);
    cr_assert_eq(r.sum_iou, 0.5);
    cr_assert_eq(r.n_recall50, 0, "0.5 is not > 0.5");
    cr_assert_eq(r.darknet.avg_iou, 0.5);
    cr_assert_eq(r.darknet.recall, 0.0, "darknet: 0.5 is not > 0.5");
    rl_yolo_plan_destroy(plan);
}

/* A truth_thresh positive takes the FIRST of equally good truths.  One
 * head 1 x 1, B = 2: a0 = (128, 128), a1 = (128, 96) px, net 256, C = 2,
 * truth_thresh 0.5.  The same box (0.5, 0.5, 0.5, 0.5) twice, classes 0
 * and 1: both match a0 (slot b = 0, classes {0, 1}).  Slot b = 1, logits
 * 0: a 0.5 x 0.375 box on them, IoU 0.75 with each, exactly equal: a
 * positive of the first truth in input order, so its only class target is
 * that truth's. */
Test(yolo_hand_terms, truth_thresh_ties_go_to_the_first_truth)
{
    const float anchors[4] = {128, 128, 128, 96};
    const int32_t mask[2] = {0, 1};
    rl_yolo_head head = {1, 1, 2, mask};
    rl_yolo_config cfg;
    rl_yolo_config_init(&cfg);
    cfg.n_heads = 1;
    cfg.heads = &head;
    cfg.C = 2;
    cfg.n_anchors = 2;
    cfg.anchors = anchors;
    cfg.net_w = cfg.net_h = 256;
    cfg.truth_thresh = 0.5;
    rl_yolo_plan *plan = yolo_ref_plan(&cfg);
    float pred[2 * 7] = {0}, grad[2 * 7];
    float *preds[1] = {pred}, *grads[1] = {grad};
    const int64_t off[2] = {0, 2};
    for (int first = 0; first < 2; first++) {
        const rl_box truths[2] = {{0.5f, 0.5f, 0.5f, 0.5f, first},
                                  {0.5f, 0.5f, 0.5f, 0.5f, 1 - first}};
        rl_result r, rh;
        api_ok(plan, 1, preds, truths, off, NULL, &r, &rh, grads);
        cr_assert_eq(r.n_obj, 2);
        for (int c = 0; c < 2; c++) {
            cr_assert_eq(grad[yolo_offset(&cfg, 0, 0, 0, 0, 0, 5 + c)], -0.5f,
                         "b = 0: both classes (s(0) - 1)");
            cr_assert_eq(grad[yolo_offset(&cfg, 0, 0, 0, 0, 1, 5 + c)], c == first ? -0.5f : 0.5f,
                         "b = 1: only the first truth's class %d (class %d)", first, c);
        }
    }
    rl_yolo_plan_destroy(plan);
}
