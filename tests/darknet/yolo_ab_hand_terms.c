/* AlexeyAB's [yolo] layer (flavour alexeyab), derived by hand, option by
 * option (docs/darknet.md, "AlexeyAB's [yolo] layer", whose paragraphs are
 * quoted).  Each case writes out darknet's l.delta and *l.cost for one
 * image; minus the library's gradient must be that delta (float rounding of
 * the returned gradient) and darknet.cost that cost (1e-12), on the
 * reference; on every other variant of the machine within docs/numerics.md's
 * bound.
 *
 * The network of every case: net 64 x 64 pixels, C = 2, one head on a 2 x 2
 * grid with both anchors of the list, a0 = 16 x 16 and a1 = 32 x 32 pixels
 * (mask {0, 1}), so 8 slots (i, j, b).  Raw outputs are 0 except where a
 * case says.  At raw 0 and new_coords 0 a slot's activated outputs are
 * s(0) = 1/2: its box is centred in its cell with its anchor's size (b 0:
 * 1/4 x 1/4, b 1: 1/2 x 1/2 of the image), objectness and classes 1/2.
 * "R" is slot (i 0, j 0) of the case's anchor.  A slot centred in another
 * cell than a truth's (0.25, 0.25) does not overlap it (a box of the cell
 * (0, 1) spans x >= 0.5 at b 0 and b 1 alike, the truths x <= 0.4375).
 *
 * The truths, centred at (0.25, 0.25) in the cell (0, 0):
 *   T16 16 x 16 px (w = h = 1/4): shape IoU 1 with a0, 1/4 with a1 -> b 0
 *   T24 24 x 24 px (w = h = 3/8): 4/9 with a0, 9/16 with a1        -> b 1
 *   T20 20 x 20 px (w = h = 5/16): 16/25 with a0, 25/64 with a1    -> b 0
 * MSE scale s = 2 - w h: 31/16 (T16), 119/64 (T24), 487/256 (T20). */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "regionloss.h"
#include "tolerance.h"

#define C_ 2
#define K_ (5 + C_)
#define N_ENTRIES (2 * K_ * 4)

static const float anchors[4] = {16, 16, 32, 32};
static const int32_t mask[2] = {0, 1};

static double sg(double z) { return 1.0 / (1.0 + exp(-z)); }

/* NCHW entry k of slot (i, j, b): ((b*K + k)*H + i)*W + j */
static int at(int i, int j, int b, int k) { return (b * K_ + k) * 4 + i * 2 + j; }

static const rl_box T16 = {0.25f, 0.25f, 0.25f, 0.25f, 0};
static const rl_box T24 = {0.25f, 0.25f, 0.375f, 0.375f, 1};
static const rl_box T20 = {0.25f, 0.25f, 0.3125f, 0.3125f, 0};

static void config(rl_yolo_config *c, rl_yolo_head *hd)
{
    rl_yolo_config_init(c);
    hd->H = hd->W = 2;
    hd->B = 2;
    hd->mask = mask;
    c->n_heads = 1;
    c->heads = hd;
    c->C = C_;
    c->n_anchors = 2;
    c->anchors = anchors;
    c->net_w = c->net_h = 64;
    c->norm = RL_NORM_SUM;
    c->flavour = RL_YOLO_FLAVOUR_ALEXEYAB;
}

/* Every slot's objectness delta when nothing but pass 1's "-o" happens. */
static void negatives(double *d, double o, double obj_normalizer)
{
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            for (int b = 0; b < 2; b++)
                d[at(i, j, b, 4)] = obj_normalizer * (0 - o);
}

static double sumsq(const double *d, int box)
{
    double s = 0;
    for (int x = 0; x < N_ENTRIES; x++)
        if (box || (x / 4) % K_ >= 4)
            s += d[x] * d[x];
    return s;
}

/* The class output every positive of a case has for its truth's class
 * (darknet's avg_cls averages it): s(0) unless a case says otherwise. */
static double class_output = 0.5;

/* Runs the case on one variant and checks the delta and the cost: the
 * reference to the float rounding of its gradient (and 1e-12 for the cost),
 * the kernel variants within docs/numerics.md's bound (their negatives are
 * float). */
static void check_variant(const char *what, const rl_yolo_config *c0, const char *variant,
                          const float *pred, const rl_box *truths, int n_truths,
                          const double *delta, double cost, int64_t count)
{
    rl_yolo_config cc = *c0;
    cc.variant = variant;
    const rl_yolo_config *c = &cc;
    const int ref = strcmp(variant, "reference") == 0;
    const double rel = ref ? 1.2e-7 : RL_TOL_REL, abs_g = ref ? 0.0 : RL_TOL_ABS;
    const double rel_c = ref ? 1e-12 : RL_TOL_REL, abs_c = ref ? 0.0 : RL_TOL_ABS * N_ENTRIES;
    rl_yolo_plan *plan = NULL;
    cr_assert_eq(rl_yolo_plan_create(c, &plan), RL_OK, "%s: plan: %s", what, rl_last_error());
    cr_expect_str_eq(rl_yolo_plan_variant(plan), variant, "%s: variant", what);
    const void *preds[1] = {pred};
    float g[N_ENTRIES];
    void *grads[1] = {g};
    const int64_t off[2] = {0, n_truths};
    rl_yolo_batch b;
    memset(&b, 0, sizeof b);
    b.n_images = 1;
    b.preds = preds;
    b.truths = truths;
    b.truth_offsets = off;
    rl_result r;
    cr_assert_eq(rl_yolo_compute(plan, &b, &r, NULL, grads), RL_OK, "%s: %s: %s", what, variant,
                 rl_last_error());
    for (int x = 0; x < N_ENTRIES; x++) {
        const double got = -(double)g[x];
        cr_expect(fabs(got - delta[x]) <= rel * fabs(delta[x]) + abs_g + 1e-30,
                  "%s: %s: entry %d (slot i %d j %d b %d, k %d): -grad %.9g, darknet's delta "
                  "%.9g",
                  what, variant, x, (x % 4) / 2, x % 2, x / (4 * K_), (x / 4) % K_, got,
                  delta[x]);
    }
    cr_expect(fabs(r.darknet.cost - cost) <= rel_c * fabs(cost) + abs_c,
              "%s: %s: cost %.17g, darknet %.17g", what, variant, r.darknet.cost, cost);
    cr_expect(fabs(r.loss - cost) <= rel_c * fabs(cost) + abs_c,
              "%s: %s: loss %.17g (norm sum: the cost)", what, variant, r.loss);
    /* the parts: squared deltas of the boxes, the classes, the objectness */
    double box2 = 0, cls2 = 0, obj2 = 0;
    for (int x = 0; x < N_ENTRIES; x++) {
        const int k = (x / 4) % K_;
        double *part = k < 4 ? &box2 : k > 4 ? &cls2 : &obj2;
        *part += delta[x] * delta[x];
    }
    cr_expect(fabs(r.coord - box2) <= rel_c * box2 + abs_c + 1e-300 &&
                  fabs(r.cls - cls2) <= rel_c * cls2 + abs_c &&
                  fabs(r.obj + r.noobj - obj2) <= rel_c * obj2 + abs_c,
              "%s: %s: parts coord %.17g cls %.17g obj+noobj %.17g, want %.17g %.17g %.17g",
              what, variant, r.coord, r.cls, r.obj + r.noobj, box2, cls2, obj2);
    cr_expect_eq(r.darknet.count, count, "%s: %s: count %lld, darknet %lld", what, variant,
                 (long long)r.darknet.count, (long long)count);
    if (count > 0)
        cr_expect(fabs(r.darknet.avg_cls - class_output) <= 1e-15,
                  "%s: %s: darknet avg_cls %.17g, want %.17g", what, variant, r.darknet.avg_cls,
                  class_output);
    /* darknet's avg_anyobj: the mean objectness output over the 8 slots */
    double any = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            for (int q = 0; q < 2; q++) {
                const double t = pred[at(i, j, q, 4)];
                any += c->new_coords ? t : sg(t);
            }
    /* the kernel variants add the negatives' float outputs */
    cr_expect(fabs(r.darknet.avg_anyobj - any / 8) <= (ref ? 1e-15 : RL_TOL_REL * any / 8),
              "%s: %s: avg_anyobj %.17g, want %.17g", what, variant, r.darknet.avg_anyobj, any / 8);
    rl_yolo_plan_destroy(plan);
}

/* Every variant of this machine. */
static void check(const char *what, const rl_yolo_config *c, const float *pred,
                  const rl_box *truths, int n_truths, const double *delta, double cost,
                  int64_t count)
{
    int n = 0;
    for (const char *const *v = rl_variant_list(); *v; v++, n++)
        check_variant(what, c, *v, pred, truths, n_truths, delta, cost, count);
    cr_assert_gt(n, 1, "a variant besides the reference");
}

/* Defaults (iou_loss mse, iou_normalizer 0.75): T16 at R = (0, 0, b 0),
 * whose raw tx = 1, tw = 1/2.  Pass 1: every slot -1/2 (no slot reaches
 * ignore_thresh 0.7: R's box, centre (s(1)/2, 1/4), size e^(1/2)/4 ~ .412 x
 * 1/4, has IoU ~ .48 with T16; (0, 0, b 1), 1/2 x 1/2 around T16, 1/4).
 * Pass 2 at R, k = 0.75:
 *   x  31/16 (1/2 - s(1)) 3/4      (X = 0.25*2 - 0 = 1/2)
 *   y  0                           (Y - s(0) = 0)
 *   w  31/16 (0 - 1/2) 3/4         (TW = log(16/16) = 0)
 *   h  0
 *   objectness 1 - 1/2, classes (1 - 1/2, 0 - 1/2).
 * cost: their squares and seven negatives' 1/4. */
Test(yolo_ab_hand_terms, defaults_mse_scaled_by_iou_normalizer)
{
    rl_yolo_config c;
    rl_yolo_head hd;
    config(&c, &hd);
    float p[N_ENTRIES] = {0};
    p[at(0, 0, 0, 0)] = 1.0f;
    p[at(0, 0, 0, 2)] = 0.5f;
    double d[N_ENTRIES] = {0};
    negatives(d, 0.5, 1.0);
    const double s = 31.0 / 16;
    d[at(0, 0, 0, 0)] = s * (0.5 - sg(1)) * 0.75;
    d[at(0, 0, 0, 2)] = s * (0 - 0.5) * 0.75;
    d[at(0, 0, 0, 4)] = 0.5;
    d[at(0, 0, 0, 5)] = 0.5;
    d[at(0, 0, 0, 6)] = -0.5;
    check("defaults", &c, p, &T16, 1, d, sumsq(d, 1), 1);

    /* max = 1: a second truth elsewhere (cell (1, 1)) is never read */
    c.max_boxes = 1;
    const rl_box two[2] = {T16, {0.75f, 0.75f, 0.25f, 0.25f, 1}};
    check("max 1, second truth unread", &c, p, two, 2, d, sumsq(d, 1), 1);

    /* T16 with class 0, then with class 1: the box deltas add up and, with
     * iou_thresh 1, are not averaged; the second rewrites class 1 alone */
    c.max_boxes = 200;
    const rl_box both[2] = {T16, {0.25f, 0.25f, 0.25f, 0.25f, 1}};
    double d2[N_ENTRIES];
    memcpy(d2, d, sizeof d);
    d2[at(0, 0, 0, 0)] *= 2;
    d2[at(0, 0, 0, 2)] *= 2;
    d2[at(0, 0, 0, 6)] = 0.5;
    check("two classes on R, no averaging", &c, p, both, 2, d2, sumsq(d2, 1), 2);

    /* darknet's list ends at a truth whose x is 0: what follows is unread */
    c.max_boxes = 200;
    const rl_box ended[3] = {T16, {0.0f, 0.5f, 0.25f, 0.25f, 1},
                             {0.75f, 0.75f, 0.25f, 0.25f, 1}};
    check("a truth at x = 0 ends the list", &c, p, ended, 3, d, sumsq(d, 1), 1);
}

/* The 0.25 class rule ("Pass 1"): R = (0, 0, b 0) and (0, 0, b 1) both
 * predict T16 exactly (raw 0 at b 0; tw = th = -ln 2 at b 1, 32/2 = 16 px),
 * IoU 1 > 0.7.  With every class logit -3 (s(-3) ~ .047 <= .25) no truth
 * counts for the ignore test: (0, 0, b 1) keeps -1/2.  R is T16's positive
 * anyway: box 0 (exact), objectness 1/2, classes (1 - s(-3), -s(-3)).
 * With class 1 of (0, 0, b 1) at 0 (1/2 > .25) that slot is ignored: 0,
 * and its class delta stays 0 (pass 1 writes no class delta). */
Test(yolo_ab_hand_terms, ignore_needs_a_class_above_quarter)
{
    rl_yolo_config c;
    rl_yolo_head hd;
    config(&c, &hd);
    float p[N_ENTRIES] = {0};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            for (int b = 0; b < 2; b++)
                p[at(i, j, b, 5)] = p[at(i, j, b, 6)] = -3.0f;
    p[at(0, 0, 1, 2)] = p[at(0, 0, 1, 3)] = (float)-log(2.0);
    class_output = sg(-3);
    double d[N_ENTRIES] = {0};
    negatives(d, 0.5, 1.0);
    d[at(0, 0, 0, 4)] = 0.5;
    d[at(0, 0, 0, 5)] = 1 - sg(-3);
    d[at(0, 0, 0, 6)] = -sg(-3);
    check("classes below .25", &c, p, &T16, 1, d, sumsq(d, 1), 1);

    /* truth_thresh 0.9 ("Pass 1"): both slots that predict T16 (IoU ~1, the
     * class rule plays no part here) are its positives already in pass 1:
     * (0, 0, b 1) gets objectness 1/2, classes (1 - s(-3), -s(-3)) and the
     * box toward T16 with anchor a1: 31/16 (ln(16/32) - tw) 3/4 on w and h,
     * tw the float -ln 2 (x, y: 0).  R is unchanged (its pass-1 class
     * deltas are rewritten alike by pass 2, its box deltas are 0).  Darknet's
     * count and avg_cls take pass 2's positive alone. */
    c.truth_thresh = 0.9;
    double dt[N_ENTRIES];
    memcpy(dt, d, sizeof d);
    const double tw = p[at(0, 0, 1, 2)];
    dt[at(0, 0, 1, 2)] = dt[at(0, 0, 1, 3)] = 31.0 / 16 * (log(0.5) - tw) * 0.75;
    dt[at(0, 0, 1, 4)] = 0.5;
    dt[at(0, 0, 1, 5)] = 1 - sg(-3);
    dt[at(0, 0, 1, 6)] = -sg(-3);
    check("truth_thresh .9", &c, p, &T16, 1, dt, sumsq(dt, 1), 1);
    c.truth_thresh = 1.0;

    p[at(0, 0, 1, 6)] = 0.0f;
    d[at(0, 0, 1, 4)] = 0.0;
    check("a class above .25", &c, p, &T16, 1, d, sumsq(d, 1), 1);

    /* objectness_smooth: the ignored slot gets max(-1/2, IoU - 1/2) with
     * its IoU ~1 (its side is e^tw/2, tw the float -ln 2); R, whose classes
     * stay below .25, keeps pass 1's -1/2 (pass 2 writes only over a 0) */
    c.objectness_smooth = 1;
    const double side = exp((double)p[at(0, 0, 1, 2)]) / 2, m = fmin(side, 0.25);
    const double iou = m * m / (side * side + 0.0625 - m * m);
    d[at(0, 0, 1, 4)] = iou - 0.5;
    d[at(0, 0, 0, 4)] = -0.5;
    check("objectness_smooth at an ignored slot", &c, p, &T16, 1, d, sumsq(d, 1), 1);
}

/* iou_thresh 0.3 (kind iou), two truths on the same slots, the averaging.
 * T24 (class 1): best b 1, and a0's shape IoU 4/9 > .3 makes b 0 a
 * positive too.  T20 (class 0): best b 0, and a1's 25/64 > .3 makes b 1
 * one.  Raw 0 at both: x, y deltas 0 (X = Y = 1/2).  Box deltas add:
 *   b 1: w = h = 3/4 [119/64 ln(24/32) + 487/256 ln(20/32)]
 *   b 0: w = h = 3/4 [119/64 ln(24/16) + 487/256 ln(20/16)]
 * Classes: T24 writes (-1/2, 1/2), then T20 finds class 0's delta set and
 * rewrites it alone: 1 - 1/2; objectness 1/2.  Two class deltas > 0, so
 * the averaging halves the four box deltas of both slots.  count 4. */
Test(yolo_ab_hand_terms, iou_thresh_positives_and_averaging)
{
    rl_yolo_config c;
    rl_yolo_head hd;
    config(&c, &hd);
    c.iou_thresh = 0.3;
    float p[N_ENTRIES] = {0};
    double d[N_ENTRIES] = {0};
    negatives(d, 0.5, 1.0);
    const double s24 = 119.0 / 64, s20 = 487.0 / 256;
    const double w1 = 0.75 * (s24 * log(24.0 / 32) + s20 * log(20.0 / 32)) / 2;
    const double w0 = 0.75 * (s24 * log(24.0 / 16) + s20 * log(20.0 / 16)) / 2;
    for (int b = 0; b < 2; b++) {
        d[at(0, 0, b, 2)] = d[at(0, 0, b, 3)] = b ? w1 : w0;
        d[at(0, 0, b, 4)] = 0.5;
        d[at(0, 0, b, 5)] = d[at(0, 0, b, 6)] = 0.5;
    }
    const rl_box two[2] = {T24, T20};
    check("iou_thresh .3", &c, p, two, 2, d, sumsq(d, 1), 4);

    /* T20 first, then T24: T24 finds class 1's delta set and rewrites it
     * alone; the same numbers */
    const rl_box swapped[2] = {T20, T24};
    check("iou_thresh .3, T20 first", &c, p, swapped, 2, d, sumsq(d, 1), 4);

    /* T24 alone: its two slots have one class delta > 0 each (1/2; the
     * other is -1/2), so the averaging divides by 1 */
    d[at(0, 0, 1, 2)] = d[at(0, 0, 1, 3)] = 0.75 * s24 * log(24.0 / 32);
    d[at(0, 0, 0, 2)] = d[at(0, 0, 0, 3)] = 0.75 * s24 * log(24.0 / 16);
    for (int b = 0; b < 2; b++)
        d[at(0, 0, b, 5)] = -0.5;
    check("iou_thresh .3, T24 alone", &c, p, &T24, 1, d, sumsq(d, 1), 2);

    /* iou_thresh 1 (the default): each truth at its best anchor only, no
     * averaging: b 1 gets T24 alone, b 0 T20 alone, one class each */
    c.iou_thresh = 1.0;
    negatives(d, 0.5, 1.0);
    d[at(0, 0, 1, 2)] = d[at(0, 0, 1, 3)] = 0.75 * s24 * log(24.0 / 32);
    d[at(0, 0, 0, 2)] = d[at(0, 0, 0, 3)] = 0.75 * s20 * log(20.0 / 16);
    for (int b = 0; b < 2; b++) {
        d[at(0, 0, b, 4)] = 0.5;
        d[at(0, 0, b, 5)] = b ? -0.5 : 0.5;
        d[at(0, 0, b, 6)] = b ? 0.5 : -0.5;
    }
    check("iou_thresh 1", &c, p, two, 2, d, sumsq(d, 1), 2);
}

/* iou_loss iou ("Box delta", the IoU kinds), iou_normalizer 1/2,
 * obj_normalizer 2.  T24 at b 1, whose raw tw = th = -ln 2 gives a 1/4 x
 * 1/4 box centred on T24's 3/8 x 3/8: inside it, so I = X (its area), U =
 * T24's area A = 9/64, and darknet's edge derivatives are -w/A, w/A (top,
 * bottom), -h/A, h/A (left, right): dx = dy = 0, dw = 2h/A, dh = 2w/A (not
 * halved), times e^tw = 1/2 and k = 1/2: dw = dh = (2 (1/4) / (9/64))
 * (1/2)(1/2) = 8/9.  Objectness 2 (1 - 1/2) = 1, negatives 2 (0 - 1/2).
 * Cost (show_details 1): iou_normalizer (1 - IoU)/count with IoU =
 * (1/16)/(9/64) = 4/9, plus obj_normalizer times the squares of every
 * delta but the boxes: 1/2 (5/9) + 2 (1 + 1/4 + 1/4 + 7). */
/* iou_thresh is exceeded, not reached: T16's shape IoU with a1 is exactly
 * 1/4, so iou_thresh = 1/4 adds no positive (darknet.count 1, as with
 * iou_thresh 1) and iou_thresh just below it adds a1's (count 2), on every
 * variant. */
Test(yolo_ab_hand_terms, iou_thresh_is_exceeded_not_reached)
{
    rl_yolo_config c;
    rl_yolo_head hd;
    config(&c, &hd);
    const float p[N_ENTRIES] = {0};
    const void *preds[1] = {p};
    const int64_t off[2] = {0, 1};
    rl_yolo_batch b;
    memset(&b, 0, sizeof b);
    b.n_images = 1;
    b.preds = preds;
    b.truths = &T16;
    b.truth_offsets = off;
    const double th[2] = {0.25, 0.25 - 0x1p-40};
    for (const char *const *v = rl_variant_list(); *v; v++)
        for (int k = 0; k < 2; k++) {
            c.variant = *v;
            c.iou_thresh = th[k];
            rl_yolo_plan *plan = NULL;
            cr_assert_eq(rl_yolo_plan_create(&c, &plan), RL_OK, "%s", rl_last_error());
            rl_result r;
            cr_assert_eq(rl_yolo_compute(plan, &b, &r, NULL, NULL), RL_OK, "%s", rl_last_error());
            cr_expect_eq(r.darknet.count, 1 + k, "%s: iou_thresh %.17g: count %lld", *v, th[k],
                         (long long)r.darknet.count);
            cr_expect_eq(r.n_obj, 1 + k, "%s: iou_thresh %.17g: positive slots %lld", *v, th[k],
                         (long long)r.n_obj);
            rl_yolo_plan_destroy(plan);
        }
}

Test(yolo_ab_hand_terms, iou_kind_delta_and_cost)
{
    rl_yolo_config c;
    rl_yolo_head hd;
    config(&c, &hd);
    c.iou_loss = RL_BOX_IOU;
    c.iou_normalizer = 0.5;
    c.obj_normalizer = 2.0;
    float p[N_ENTRIES] = {0};
    p[at(0, 0, 1, 2)] = p[at(0, 0, 1, 3)] = (float)-log(2.0);
    /* e^tw of the float -ln 2 (1/2 to 3e-8): the box is e/2 wide, the
     * derivative 2 (e/2) / A times e and k, the IoU (e/2)^2 / A */
    const double e = exp((double)p[at(0, 0, 1, 2)]), A = 9.0 / 64;
    double d[N_ENTRIES] = {0};
    negatives(d, 0.5, 2.0);
    d[at(0, 0, 1, 2)] = d[at(0, 0, 1, 3)] = 2 * (e / 2) / A * e * 0.5; /* 8/9 at e = 1/2 */
    d[at(0, 0, 1, 4)] = 1.0;
    d[at(0, 0, 1, 5)] = -0.5;
    d[at(0, 0, 1, 6)] = 0.5;
    const double iou = (e / 2) * (e / 2) / A;
    check("iou kind", &c, p, &T24, 1, d, 0.5 * (1 - iou) + 2 * sumsq(d, 0), 1);

    /* show_details 0: the plain sum of squares */
    c.show_details = 0;
    check("iou kind, show_details 0", &c, p, &T24, 1, d, sumsq(d, 1), 1);

    /* max_delta 0.5 clips the IoU-kind box deltas */
    c.max_delta = 0.5;
    d[at(0, 0, 1, 2)] = d[at(0, 0, 1, 3)] = 0.5; /* 8/9 clipped */
    check("iou kind, max_delta .5", &c, p, &T24, 1, d, sumsq(d, 1), 1);
}

/* iou_loss giou on boxes that overlap without nesting, iou_normalizer
 * 1/2.  T16 at R = (0, 0, b 0) with raw tx = 1: R's box is T16 moved right
 * to x = p = s(1)/2 (1/4 x 1/4, the same rows [1/8, 3/8]).  So the overlap
 * is 1/2 - p wide, I = (1/2 - p)/4, U = 1/8 - I, and the enclosing box is p
 * wide, C = p/4; GIoU = I/U - (C - U)/C.  Darknet's edge derivatives
 * (dx_box_iou; the top and bottom edges coincide, so their "inside" tests
 * are false): IoU part left -1/(4U), right -I/(4U^2), top I/(4U^2), bottom
 * -I/(4U^2); GIoU part right (C - U)/(4C^2), top -1/(4C), bottom 1/(4C).
 * Then dx = l + r, dy = t + b = 0, dw = r - l, dh = b - t, times k = 1/2
 * (and e^tw = 1).  Cost: 1/2 (1 - GIoU) / 1 + (1/4 + 1/2 + 7/4). */
Test(yolo_ab_hand_terms, giou_without_nesting)
{
    rl_yolo_config c;
    rl_yolo_head hd;
    config(&c, &hd);
    c.iou_loss = RL_BOX_GIOU;
    c.iou_normalizer = 0.5;
    float p[N_ENTRIES] = {0};
    p[at(0, 0, 0, 0)] = 1.0f;
    const double x = sg(1) / 2, I = (0.5 - x) / 4, U = 0.125 - I, C = x / 4;
    const double giou = I / U - (C - U) / C;
    const double l = -0.25 / U, r = -0.25 * I / (U * U) + 0.25 * (C - U) / (C * C);
    const double t = 0.25 * I / (U * U) - 0.25 / C, b = -0.25 * I / (U * U) + 0.25 / C;
    double d[N_ENTRIES] = {0};
    negatives(d, 0.5, 1.0);
    d[at(0, 0, 0, 0)] = 0.5 * (l + r);
    d[at(0, 0, 0, 1)] = 0.5 * (t + b); /* 0 */
    d[at(0, 0, 0, 2)] = 0.5 * (r - l);
    d[at(0, 0, 0, 3)] = 0.5 * (b - t);
    d[at(0, 0, 0, 4)] = 0.5;
    d[at(0, 0, 0, 5)] = 0.5;
    d[at(0, 0, 0, 6)] = -0.5;
    check("giou", &c, p, &T16, 1, d, 0.5 * (1 - giou) + sumsq(d, 0), 1);

    /* iou_loss iou: the cost takes 1 - IoU; the deltas lose the GIoU part */
    c.iou_loss = RL_BOX_IOU;
    d[at(0, 0, 0, 0)] = 0.5 * (l - 0.25 * I / (U * U));
    d[at(0, 0, 0, 2)] = 0.5 * (-0.25 * I / (U * U) - l);
    d[at(0, 0, 0, 3)] = 0.5 * (-0.5 * I / (U * U));
    check("iou, same boxes", &c, p, &T16, 1, d, 0.5 * (1 - I / U) + sumsq(d, 0), 1);
}

/* iou_loss diou and ciou, iou_normalizer 1/2.  T16 at R with raw tx = 1,
 * tw = 1/2: R's box is p = s(1)/2 wide w = e^(1/2)/4 ~ .412 (centre x p,
 * rows [1/8, 3/8] as T16's), reaching past T16's right edge and starting
 * inside it: overlap Iw = 3/8 - (p - w/2), I = Iw/4, U = w/4 + 1/16 - I.
 * IoU part of darknet's edge derivatives: left -1/(4U), right -I/(4U^2),
 * top w I/U^2, bottom -w I/U^2.  DIoU part (enclosing box Cw = p + w/2 -
 * 1/8 wide, 1/4 high, C = Cw^2 + 1/16, S = (p - 1/4)^2; only its right edge
 * is the prediction's): x (2 (1/4 - p) C - 2 Cw S)/C^2, w Cw S/C^2.
 * CIoU adds alpha v's slopes, v = 4/pi^2 (atan 1 - atan(4w))^2, alpha =
 * v/(1 - IoU + v + 1e-6): w alpha 8/pi^2 (atan 1 - atan 4w)/4, h alpha
 * (-8/pi^2)(atan 1 - atan 4w) w.  dx = l + r + x-part, dy = t + b = 0,
 * dw = (r - l + w-part) e^(1/2), dh = b - t (+ CIoU's h), all times 1/2.
 * Cost: 1/2 (1 - IoU) (both kinds report 1 - IoU) + the rest's squares. */
Test(yolo_ab_hand_terms, diou_and_ciou)
{
    rl_yolo_config c;
    rl_yolo_head hd;
    config(&c, &hd);
    c.iou_normalizer = 0.5;
    float p[N_ENTRIES] = {0};
    p[at(0, 0, 0, 0)] = 1.0f;
    p[at(0, 0, 0, 2)] = 0.5f;
    const double x = sg(1) / 2, w = exp(0.5) / 4, Iw = 0.375 - (x - w / 2);
    const double I = Iw / 4, U = w / 4 + 0.0625 - I;
    const double l = -0.25 / U, r = -0.25 * I / (U * U), t = w * I / (U * U), b = -w * I / (U * U);
    const double Cw = x + w / 2 - 0.125, C = Cw * Cw + 0.0625, S = (x - 0.25) * (x - 0.25);
    const double cx = (2 * (0.25 - x) * C - 2 * Cw * S) / (C * C), cw = Cw * S / (C * C);
    const double da = atan(1.0) - atan(4 * w), v = 4 / (M_PI * M_PI) * da * da;
    const double alpha = v / (1 - I / U + v + 0.000001);
    const double aw = alpha * (8 / (M_PI * M_PI) * da * 0.25);
    const double ah = alpha * (-8 / (M_PI * M_PI) * da * w);
    for (int kind = 0; kind < 2; kind++) {
        c.iou_loss = kind ? RL_BOX_CIOU : RL_BOX_DIOU;
        double d[N_ENTRIES] = {0};
        negatives(d, 0.5, 1.0);
        d[at(0, 0, 0, 0)] = 0.5 * (l + r + cx);
        d[at(0, 0, 0, 1)] = 0.5 * (t + b);
        d[at(0, 0, 0, 2)] = 0.5 * (r - l + cw + (kind ? aw : 0)) * exp(0.5);
        d[at(0, 0, 0, 3)] = 0.5 * (b - t + (kind ? ah : 0));
        d[at(0, 0, 0, 4)] = 0.5;
        d[at(0, 0, 0, 5)] = 0.5;
        d[at(0, 0, 0, 6)] = -0.5;
        check(kind ? "ciou" : "diou", &c, p, &T16, 1, d, 0.5 * (1 - I / U) + sumsq(d, 0), 1);
    }
}

/* iou_thresh_kind: a 24 x 12 px truth (w 3/8, h 3/16, class 0) fits a0
 * best (shape IoU 192/352); a1's is 288/1024 = 0.28125.  With iou_thresh
 * 0.28, kind iou makes a1's slot a positive too; kind ciou subtracts
 * alpha v, v = 4/pi^2 (atan 2 - atan 1)^2, alpha = v / (1 - IoU + v +
 * 1e-6), which takes it below 0.28 (~0.2789); kind diou is the IoU here
 * (centred shapes).  Raw 0 at both slots, MSE with s = 2 - 9/128:
 *   b 0: w s ln(24/16) 3/4, h s ln(12/16) 3/4;  b 1: w s ln(24/32) 3/4,
 *   h s ln(12/32) 3/4; objectness 1/2, classes (1/2, -1/2) each. */
Test(yolo_ab_hand_terms, iou_thresh_kind_ciou)
{
    const rl_box T = {0.25f, 0.25f, 0.375f, 0.1875f, 0};
    const double iou1 = 288.0 / 1024, dv = atan(2.0) - atan(1.0);
    const double v = 4 / (M_PI * M_PI) * dv * dv, alpha = v / (1 - iou1 + v + 0.000001);
    cr_assert(iou1 > 0.28 && iou1 - alpha * v < 0.28, "the case's premise: %.9g, %.9g", iou1,
              iou1 - alpha * v);
    rl_yolo_config c;
    rl_yolo_head hd;
    config(&c, &hd);
    c.iou_thresh = 0.28;
    float p[N_ENTRIES] = {0};
    const double s = 2 - 9.0 / 128;
    double d[N_ENTRIES] = {0};
    negatives(d, 0.5, 1.0);
    d[at(0, 0, 0, 2)] = s * log(24.0 / 16) * 0.75;
    d[at(0, 0, 0, 3)] = s * log(12.0 / 16) * 0.75;
    d[at(0, 0, 0, 4)] = 0.5;
    d[at(0, 0, 0, 5)] = 0.5;
    d[at(0, 0, 0, 6)] = -0.5;
    const int32_t kinds[2] = {RL_BOX_CIOU, RL_BOX_DIOU};
    double d1[N_ENTRIES];
    memcpy(d1, d, sizeof d);
    d1[at(0, 0, 1, 2)] = s * log(24.0 / 32) * 0.75;
    d1[at(0, 0, 1, 3)] = s * log(12.0 / 32) * 0.75;
    d1[at(0, 0, 1, 4)] = 0.5;
    d1[at(0, 0, 1, 5)] = 0.5;
    d1[at(0, 0, 1, 6)] = -0.5;
    c.iou_thresh_kind = kinds[0];
    check("iou_thresh_kind ciou: one positive", &c, p, &T, 1, d, sumsq(d, 1), 1);
    c.iou_thresh_kind = kinds[1];
    check("iou_thresh_kind diou: two", &c, p, &T, 1, d1, sumsq(d1, 1), 2);
    c.iou_thresh_kind = RL_BOX_IOU;
    check("iou_thresh_kind iou: two", &c, p, &T, 1, d1, sumsq(d1, 1), 2);
}

/* new_coords 1, scale_x_y 2, objectness_smooth 1: raw values are the
 * outputs (no logistic), x and y then 2 v - 1/2.  R = (0, 0, b 0) for T16
 * has x = 0.4 (-> 0.3), y = 0.25 (-> 0), w = 0.3, h = 0.5, objectness 0.3;
 * every other raw value is 0, so no class exceeds .25 and nothing is
 * ignored.  MSE with new_coords: TW = TH = sqrt(16 / (4*16)) = 1/2:
 *   x 31/16 (1/2 - 0.3) 3/4, y 31/16 (1/2 - 0) 3/4,
 *   w 31/16 (1/2 - 0.3) 3/4, h 0.
 * Objectness: pass 1 wrote -0.3 at R; with objectness_smooth pass 2 writes
 * 1 - 0.3 only over a 0, so R keeps -0.3.  The other slots: 0 - 0.
 * Classes at R: (1 - 0, 0 - 0). */
Test(yolo_ab_hand_terms, new_coords_scale_x_y_objectness_smooth)
{
    rl_yolo_config c;
    rl_yolo_head hd;
    config(&c, &hd);
    c.new_coords = 1;
    c.scale_x_y = 2.0;
    c.objectness_smooth = 1;
    float p[N_ENTRIES] = {0};
    p[at(0, 0, 0, 0)] = 0.4f;
    p[at(0, 0, 0, 1)] = 0.25f;
    p[at(0, 0, 0, 2)] = 0.3f;
    p[at(0, 0, 0, 3)] = 0.5f;
    p[at(0, 0, 0, 4)] = 0.3f;
    double d[N_ENTRIES] = {0};
    const double s = 31.0 / 16;
    d[at(0, 0, 0, 0)] = s * (0.5 - (2 * (double)0.4f - 0.5)) * 0.75;
    d[at(0, 0, 0, 1)] = s * (0.5 - 0.0) * 0.75;
    d[at(0, 0, 0, 2)] = s * (0.5 - (double)0.3f) * 0.75;
    d[at(0, 0, 0, 4)] = -(double)0.3f;
    d[at(0, 0, 0, 5)] = 1.0;
    class_output = 0.0; /* raw 0, read as it is */
    check("new_coords, scale_x_y 2, objectness_smooth", &c, p, &T16, 1, d, sumsq(d, 1), 1);
}

/* counters_per_class {10, 40}: multipliers 40/10 = 4 and 1, capped by
 * max_delta 3 at 3; cls_normalizer 1/2.  T16 (class 0) at R (raw tx = 1):
 *   box k = 0.75 * 3 (MSE: no clipping): x 31/16 (1/2 - s(1)) 9/4
 *   objectness 3 (1 - 1/2), classes ((1 - 1/2) 3 (1/2), -1/2). */
Test(yolo_ab_hand_terms, counters_per_class)
{
    rl_yolo_config c;
    rl_yolo_head hd;
    config(&c, &hd);
    const int32_t counts[2] = {10, 40};
    c.counters_per_class = counts;
    c.max_delta = 3.0;
    c.cls_normalizer = 0.5;
    float p[N_ENTRIES] = {0};
    p[at(0, 0, 0, 0)] = 1.0f;
    double d[N_ENTRIES] = {0};
    negatives(d, 0.5, 1.0);
    d[at(0, 0, 0, 0)] = 31.0 / 16 * (0.5 - sg(1)) * 2.25;
    d[at(0, 0, 0, 4)] = 1.5;
    d[at(0, 0, 0, 5)] = 0.75;
    d[at(0, 0, 0, 6)] = -0.5;
    check("counters_per_class", &c, p, &T16, 1, d, sumsq(d, 1), 1);

    /* T16 twice: the box deltas add up; the second finds class 0's delta
     * set and rewrites it as (1 - 1/2) 3, without cls_normalizer */
    const rl_box twice[2] = {T16, T16};
    d[at(0, 0, 0, 0)] *= 2;
    d[at(0, 0, 0, 5)] = 1.5;
    check("counters_per_class, T16 twice", &c, p, twice, 2, d, sumsq(d, 1), 2);

    /* the multipliers those counts give, as darknet's layer holds them */
    const float mult[2] = {3.0f, 1.0f};
    c.counters_per_class = NULL;
    c.classes_multipliers = mult;
    check("classes_multipliers, T16 twice", &c, p, twice, 2, d, sumsq(d, 1), 2);
}

/* focal_loss: at R (all raw 0, T16 exact) p = 1/2,
 * g = -(1 - p)(2 p ln p + p - 1) = (ln 2 + 1/2)/2, and each class delta is
 * ([n = c] - 1/2) g / 2; label_smooth_eps does not act there.  Then
 * without focal_loss, label_smooth_eps 0.2: targets 0.9 and 0.1. */
Test(yolo_ab_hand_terms, focal_loss_and_label_smoothing)
{
    rl_yolo_config c;
    rl_yolo_head hd;
    config(&c, &hd);
    c.focal_loss = 1;
    c.label_smooth_eps = 0.2;
    float p[N_ENTRIES] = {0};
    double d[N_ENTRIES] = {0};
    negatives(d, 0.5, 1.0);
    /* R predicts T16 exactly (IoU 1 > .7, classes 1/2 > .25): ignored in
     * pass 1, then T16's positive */
    const double g = (log(2.0) + 0.5) / 2;
    d[at(0, 0, 0, 4)] = 0.5;
    d[at(0, 0, 0, 5)] = 0.5 * g / 2;
    d[at(0, 0, 0, 6)] = -0.5 * g / 2;
    check("focal_loss", &c, p, &T16, 1, d, sumsq(d, 1), 1);

    c.focal_loss = 0;
    d[at(0, 0, 0, 5)] = 0.9 - 0.5;
    d[at(0, 0, 0, 6)] = 0.1 - 0.5;
    check("label_smooth_eps .2", &c, p, &T16, 1, d, sumsq(d, 1), 1);
}

/* Options of flavour alexeyab are refused with flavour pjreddie, and bad
 * values are refused with a message naming them; no plan is made. */
Test(yolo_ab_hand_terms, bad_options)
{
    rl_yolo_config c;
    rl_yolo_head hd;
    rl_yolo_plan *plan = NULL; /* must stay NULL: nothing is written on failure */
    rl_yolo_plan *const sentinel = NULL;

    config(&c, &hd);
    c.flavour = RL_YOLO_FLAVOUR_PJREDDIE;
    c.iou_normalizer = 1.0;
    cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_ARGUMENT);
    cr_expect(strstr(rl_last_error(), "iou_normalizer") != NULL, "%s", rl_last_error());
    cr_expect_eq(plan, sentinel);

    config(&c, &hd);
    c.flavour = 7;
    cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_ENUM);
    cr_expect(strstr(rl_last_error(), "flavour = 7") != NULL, "%s", rl_last_error());

    config(&c, &hd);
    c.iou_loss = 5;
    cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_ENUM);
    cr_expect(strstr(rl_last_error(), "iou_loss = 5") != NULL, "%s", rl_last_error());

    config(&c, &hd);
    c.iou_thresh_kind = RL_BOX_MSE;
    cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_ENUM);
    cr_expect(strstr(rl_last_error(), "iou_thresh_kind = 0") != NULL, "%s", rl_last_error());

    config(&c, &hd);
    c.lambda_obj = 5.0;
    cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_LAMBDA);
    cr_expect(strstr(rl_last_error(), "lambda_obj") != NULL, "%s", rl_last_error());

    config(&c, &hd);
    c.box_loss = RL_BOX_GIOU;
    cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_ARGUMENT);
    cr_expect(strstr(rl_last_error(), "box_loss") != NULL, "%s", rl_last_error());

    config(&c, &hd);
    c.scale_x_y = NAN;
    cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_ARGUMENT);
    cr_expect(strstr(rl_last_error(), "scale_x_y") != NULL, "%s", rl_last_error());

    config(&c, &hd);
    c.iou_thresh = 1.5;
    cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_ARGUMENT);
    cr_expect(strstr(rl_last_error(), "iou_thresh = 1.5") != NULL, "%s", rl_last_error());

    config(&c, &hd);
    c.objectness_smooth = 2;
    cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_ARGUMENT);
    cr_expect(strstr(rl_last_error(), "objectness_smooth = 2") != NULL, "%s", rl_last_error());

    config(&c, &hd);
    c.max_boxes = 0;
    cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_SIZE);

    config(&c, &hd);
    const int32_t neg[2] = {3, -1};
    c.counters_per_class = neg;
    cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_ARGUMENT);
    cr_expect(strstr(rl_last_error(), "counters_per_class[1] = -1") != NULL, "%s",
              rl_last_error());

    const float bad_mult[3][2] = {{1.0f, 0.0f}, {NAN, 1.0f}, {1.0f, INFINITY}};
    const char *const bad_at[3] = {"classes_multipliers[1] = 0", "classes_multipliers[0] = nan",
                                   "classes_multipliers[1] = inf"};
    for (int k = 0; k < 3; k++) {
        config(&c, &hd);
        c.classes_multipliers = bad_mult[k];
        cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_ARGUMENT);
        cr_expect(strstr(rl_last_error(), bad_at[k]) != NULL, "%s", rl_last_error());
    }
    config(&c, &hd);
    const int32_t counts[2] = {1, 2};
    const float mult[2] = {2.0f, 1.0f};
    c.counters_per_class = counts;
    c.classes_multipliers = mult;
    cr_expect_eq(rl_yolo_plan_create(&c, &plan), RL_ERR_BAD_ARGUMENT);
    cr_expect(strstr(rl_last_error(), "both set") != NULL, "%s", rl_last_error());
    rl_yolo_config pj;
    rl_yolo_config_init(&pj);
    pj.n_heads = c.n_heads;
    pj.heads = c.heads;
    pj.C = c.C;
    pj.n_anchors = c.n_anchors;
    pj.anchors = c.anchors;
    pj.net_w = c.net_w;
    pj.net_h = c.net_h;
    pj.classes_multipliers = mult;
    cr_expect_eq(rl_yolo_plan_create(&pj, &plan), RL_ERR_BAD_ARGUMENT);
    cr_expect(strstr(rl_last_error(), "classes_multipliers is an option of flavour alexeyab") !=
                  NULL,
              "%s", rl_last_error());

    cr_expect_eq(plan, sentinel, "no plan is written on failure");
}

/* A NaN or infinite box or objectness entry of any slot, responsible or
 * not, with the box decoded as the kernels do (scale_x_y 1) and otherwise
 * (scale_x_y 1.05, new_coords): RL_ERR_NONFINITE_PRED on every variant,
 * the gradient untouched. */
Test(yolo_ab_hand_terms, nonfinite_box_entries)
{
    static const double sxy[3] = {1.0, 1.05, 2.0};
    static const float bad[2] = {NAN, INFINITY};
    for (int d = 0; d < 3; d++)
        for (int slot = 0; slot < 8; slot++)
            for (int k = 0; k < 5; k++) {
                rl_yolo_config c;
                rl_yolo_head hd;
                config(&c, &hd);
                c.scale_x_y = sxy[d];
                c.new_coords = d == 2;
                float p[N_ENTRIES] = {0};
                const int i = slot / 4, j = (slot / 2) % 2, b = slot % 2;
                p[at(i, j, b, k)] = bad[(slot + k) % 2];
                for (const char *const *v = rl_variant_list(); *v; v++) {
                    c.variant = *v;
                    rl_yolo_plan *plan;
                    cr_assert_eq(rl_yolo_plan_create(&c, &plan), RL_OK, "%s", rl_last_error());
                    const void *preds[1] = {p};
                    float g[N_ENTRIES];
                    for (int x = 0; x < N_ENTRIES; x++)
                        g[x] = 1234.5f;
                    void *grads[1] = {g};
                    const int64_t off[2] = {0, 1};
                    rl_yolo_batch bt;
                    memset(&bt, 0, sizeof bt);
                    bt.n_images = 1;
                    bt.preds = preds;
                    bt.truths = &T16;
                    bt.truth_offsets = off;
                    rl_result r;
                    cr_expect_eq(rl_yolo_compute(plan, &bt, &r, NULL, grads),
                                 RL_ERR_NONFINITE_PRED,
                                 "scale_x_y %g, slot (%d, %d, %d), entry %d = %g, on %s: %s",
                                 sxy[d], i, j, b, k, (double)p[at(i, j, b, k)], *v,
                                 rl_last_error());
                    for (int x = 0; x < N_ENTRIES; x++)
                        cr_expect(g[x] == 1234.5f, "scale_x_y %g, slot %d entry %d, on %s: "
                                  "gradient entry %d written", sxy[d], slot, k, *v, x);
                    rl_yolo_plan_destroy(plan);
                }
            }
}
