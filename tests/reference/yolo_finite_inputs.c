/* Finite inputs never give NaN (docs/loss.md), for the [yolo]
 * reference: logits at float's extremes in positive, negative and ignored
 * slots, with zero and non-zero lambdas, both norms; and the IoU rules of
 * docs/loss.md's decoding at the extremes: a decoded box whose area is infinite
 * (exp(tw) overflows), zero (exp(tw) underflows) or undefined (inf * 0)
 * has IoU 0 with every truth, even one it is centred on, so it cannot lift a
 * slot out of the negatives nor make a truth_thresh positive. */
#include "yolo_support.h"

/* One head, 3 x 3 cells, B = 2 (anchors (40, 40) and (80, 120) px, net
 * 240), C = 3.  Truth (0.5, 0.5, 0.5, 0.5, class 1): 120 x 120 px, best
 * anchor 1 (80 x 120): slot (1, 1, 1). */
typedef struct edge_case {
    float anchors[4];
    int32_t mask[2];
    rl_yolo_head head;
    rl_yolo_config cfg;
    float pred[9 * 2 * 8];
    rl_box truth;
    int64_t off[2];
} edge_case;

static void edge_init(edge_case *e, rl_layout layout, rl_norm norm)
{
    memset(e, 0, sizeof *e);
    const float a[4] = {40, 40, 80, 120};
    memcpy(e->anchors, a, sizeof a);
    e->mask[0] = 0, e->mask[1] = 1;
    e->head = (rl_yolo_head){3, 3, 2, e->mask};
    rl_yolo_config_init(&e->cfg);
    e->cfg.n_heads = 1;
    e->cfg.heads = &e->head;
    e->cfg.C = 3;
    e->cfg.n_anchors = 2;
    e->cfg.anchors = e->anchors;
    e->cfg.net_w = e->cfg.net_h = 240;
    e->cfg.layout = layout;
    e->cfg.norm = norm;
    e->truth = (rl_box){0.5f, 0.5f, 0.5f, 0.5f, 1};
    e->off[0] = 0, e->off[1] = 1;
}

static void set(edge_case *e, int32_t i, int32_t j, int32_t b, int32_t k, float v)
{
    e->pred[yolo_offset(&e->cfg, 0, 0, i, j, b, k)] = v;
}

static void all_finite(const rl_result *r, const double *g, size_t count, const char *what)
{
    const double v[] = {r->loss, r->coord, r->cls, r->obj, r->noobj, r->avg_iou, r->avg_obj,
                        r->avg_noobj, r->avg_cls, r->sum_iou, r->sum_obj, r->sum_noobj,
                        r->sum_cls, r->darknet.avg_iou, r->darknet.avg_obj, r->darknet.avg_cls,
                        r->darknet.avg_anyobj, r->darknet.cost};
    for (size_t x = 0; x < sizeof v / sizeof *v; x++)
        cr_assert(!isnan(v[x]), "%s: result field %zu is NaN", what, x);
    for (size_t x = 0; x < count; x++)
        cr_assert(isfinite(g[x]), "%s: gradient entry %zu is %g", what, x, g[x]);
}

/* Extremes everywhere: the positive (1, 1, 1) with tx = 1e30, ty = -1e30,
 * tw = FLT_MAX, th = -FLT_MAX, tc = -1e30, class logits +-FLT_MAX; other
 * slots with exp(tw) overflowing, underflowing, or both (inf * 0); with
 * every lambda 0 in turn, the others 1e6. */
static void extremes(rl_layout layout, rl_norm norm)
{
    edge_case e;
    edge_init(&e, layout, norm);
    const float BIG = 3.4028235e38f;
    const float pos[8] = {1e30f, -1e30f, BIG, -BIG, -1e30f, BIG, -BIG, 0.0f};
    for (int k = 0; k < 8; k++)
        set(&e, 1, 1, 1, k, pos[k]);
    const float tws[4][2] = {{1000, 1000}, {-1000, -1000}, {1000, -1000}, {BIG, BIG}};
    for (int s = 0; s < 4; s++) {
        set(&e, s / 3, s % 3, 0, 2, tws[s][0]);
        set(&e, s / 3, s % 3, 0, 3, tws[s][1]);
        set(&e, s / 3, s % 3, 0, 4, s % 2 ? BIG : -BIG);
    }
    for (int zero = -1; zero < 4; zero++) {
        double lam[4] = {1e6, 1e6, 1e6, 1e6};
        if (zero >= 0)
            lam[zero] = 0.0;
        e.cfg.lambda_coord = lam[0], e.cfg.lambda_class = lam[1];
        e.cfg.lambda_obj = lam[2], e.cfg.lambda_noobj = lam[3];
        rl_yolo_plan *plan = yolo_ref_plan(&e.cfg);
        double g[9 * 2 * 8];
        uint8_t touched[9 * 2 * 8];
        rl_yolo_ref_out out;
        memset(&out, 0, sizeof out);
        out.head[0].grad = g;
        out.head[0].touched = touched;
        const float *preds[1] = {e.pred};
        rl_result r, rh;
        yolo_ref_run(plan, 1, preds, NULL, &e.truth, e.off, NULL, &r, &rh, &out);
        char what[64];
        snprintf(what, sizeof what, "layout %d norm %d lambda %d = 0", (int)layout, (int)norm,
                 zero);
        all_finite(&r, g, 9 * 2 * 8, what);
        cr_assert(isfinite(r.loss), "%s: loss %g", what, r.loss);
        if (zero >= 0) {
            const double part[4] = {r.coord, r.cls, r.obj, r.noobj};
            cr_assert_eq(part[zero], 0.0, "%s: a zero lambda's part is 0", what);
        }
        /* the public API accepts the same batch and agrees */
        float fg[9 * 2 * 8];
        void *grads[1] = {fg};
        const void *p[1] = {e.pred};
        rl_yolo_batch batch = {.n_images = 1, .preds = p, .truths = &e.truth,
                               .truth_offsets = e.off};
        rl_result ra;
        cr_assert_eq(rl_yolo_compute(plan, &batch, &ra, NULL, grads), RL_OK, "%s",
                     rl_last_error());
        ra.variant = r.variant;
        assert_results_identical(&ra, &r, what);
        rl_yolo_plan_destroy(plan);
    }
}

Test(yolo_finite_inputs, extremes_nchw_images) { extremes(RL_LAYOUT_NCHW, RL_NORM_IMAGES); }
Test(yolo_finite_inputs, extremes_nhwc_sum) { extremes(RL_LAYOUT_NHWC, RL_NORM_SUM); }

/* A box centred on the truth whose area is infinite, zero or undefined:
 * IoU 0, so with ignore_thresh 0 it is still a negative, and with
 * truth_thresh 0 not a positive (best = 0 is not > 0).  The same slot with
 * a sane size over the truth (tw, th putting it at 0.5 x 0.5) has IoU ~1:
 * ignored, or a truth_thresh positive. */
Test(yolo_finite_inputs, degenerate_boxes_have_iou_zero)
{
    const float sizes[4][2] = {{1000, 1000}, {-1000, -1000}, {1000, -1000}, {-1000, 1000}};
    for (int tt = 0; tt < 2; tt++)
        for (int s = 0; s <= 4; s++) {
            edge_case e;
            edge_init(&e, RL_LAYOUT_NCHW, RL_NORM_IMAGES);
            e.cfg.ignore_thresh = 0.0;
            e.cfg.truth_thresh = tt ? 0.0 : 1.0;
            /* slot (1, 1, 0): anchor 0 (40 px); centre (0.5, 0.5) with tx = ty = 0 */
            const float tw = s < 4 ? sizes[s][0] : (float)log(120.0 / 40);
            const float th = s < 4 ? sizes[s][1] : (float)log(120.0 / 40);
            set(&e, 1, 1, 0, 2, tw);
            set(&e, 1, 1, 0, 3, th);
            rl_yolo_plan *plan = yolo_ref_plan(&e.cfg);
            int8_t kind[18];
            double best[18];
            rl_yolo_ref_out out;
            memset(&out, 0, sizeof out);
            out.head[0].slot_kind = kind;
            out.head[0].best_iou = best;
            const float *preds[1] = {e.pred};
            rl_result r;
            yolo_ref_run(plan, 1, preds, NULL, &e.truth, e.off, NULL, &r, NULL, &out);
            const int slot = (1 * 3 + 1) * 2 + 0;
            if (s < 4) {
                cr_assert_eq(best[slot], 0.0, "size %d: IoU %g", s, best[slot]);
                cr_assert_eq(kind[slot], RL_SLOT_NOOBJ, "size %d truth_thresh %d", s, tt);
            } else {
                assert_close(best[slot], 1.0, 1e-6, 0, "the sane box lies on the truth");
                cr_assert_eq(kind[slot], tt ? RL_SLOT_OBJ : RL_SLOT_IGNORED);
            }
            rl_yolo_plan_destroy(plan);
        }
}

/* An IoU that rounds above 1.  Truth (0.5, 0.5, w, w) with w = M 2^-63,
 * M = 2^23 + 1792, a float; two equal anchors (w*128, w*128) px, net 128,
 * one head 3 x 3 with mask {0, 1}.  Slot (1, 1, 1) with t = 0 decodes to
 * exactly the truth's box ((1 + 1/2)/3 = 1/2, size w), but 1/2 + w/2 rounds
 * up and 1/2 - w/2 down (M mod 2048 = 1792, M mod 1024 = 768), so the
 * overlap comes out larger than w and inter / union = 1.00012.  IoU is at
 * most 1: the reference clamps, so best = 1 exactly, truth_thresh = 1
 * still means "never" (the slot is ignored at ignore_thresh 0.7, not a
 * positive) and ignore_thresh = 1 "every slot that is not a positive" (the
 * slot is a negative).  (Slot (1, 1, 0) is the truth's: equal anchors tie,
 * the smaller index wins.) */
Test(yolo_finite_inputs, iou_rounded_above_one_is_one)
{
    const int32_t M = (1 << 23) + 1792;
    const float w = ldexpf((float)M, -63), aw = w * 128;
    cr_assert_eq((double)w, ldexp(M, -63));
    cr_assert_eq((double)aw, ldexp(M, -56));
    /* the rounding this test is about, in double as the reference computes */
    const double hi = 0.5 + (double)w / 2, lo = 0.5 - (double)w / 2;
    cr_assert_gt(hi - lo, (double)w, "1/2 +- w/2 must round outwards");
    const float anchors[4] = {aw, aw, aw, aw};
    const int32_t mask[2] = {0, 1};
    rl_yolo_head head = {3, 3, 2, mask};
    rl_yolo_config cfg;
    rl_yolo_config_init(&cfg);
    cfg.n_heads = 1;
    cfg.heads = &head;
    cfg.C = 1;
    cfg.n_anchors = 2;
    cfg.anchors = anchors;
    cfg.net_w = cfg.net_h = 128;
    float pred[9 * 2 * 6] = {0};
    const rl_box truth = {0.5f, 0.5f, w, w, 0};
    const int64_t off[2] = {0, 1};
    const float *preds[1] = {pred};
    for (int ig1 = 0; ig1 < 2; ig1++) {
        cfg.ignore_thresh = ig1 ? 1.0 : 0.7;
        rl_yolo_plan *plan = yolo_ref_plan(&cfg);
        int8_t kind[18];
        double best[18];
        rl_yolo_ref_out out;
        memset(&out, 0, sizeof out);
        out.head[0].slot_kind = kind;
        out.head[0].best_iou = best;
        rl_result r;
        yolo_ref_run(plan, 1, preds, NULL, &truth, off, NULL, &r, NULL, &out);
        const int s93 = (1 * 3 + 1) * 2 + 0, s = s93 + 1;
        cr_assert_eq(best[s], 1.0, "best IoU %.17g", best[s]);
        cr_assert_eq(kind[s93], RL_SLOT_OBJ);
        cr_assert_eq(kind[s], ig1 ? RL_SLOT_NOOBJ : RL_SLOT_IGNORED,
                     "ignore_thresh %g: slot kind %d", cfg.ignore_thresh, kind[s]);
        cr_assert_eq(r.n_obj, 1, "truth_thresh 1 makes no positive");
        cr_assert_eq(r.sum_iou, 1.0, "the diagnostic IoU is clamped too");
        rl_yolo_plan_destroy(plan);
    }
}
