/* Darknet's [yolo] layer (YOLOv3), term by term, derived by hand.
 *
 * What darknet's [yolo] layer writes, in words (docs/loss.md's "The loss" in
 * the form darknet computes it; every lambda 1, nothing divided):
 *   Its deltas sit on the layer's output after the logistic was applied to
 *   x, y, objectness and the class scores (w, h stay raw), and its backward
 *   adds them to the raw outputs' gradient with no activation factor, so a
 *   delta is minus the library's gradient with respect to the raw logit.
 *   - Every slot first gets objectness delta -c^ (pushed to 0); that delta
 *     is dropped again when the slot's box has IoU > ignore_thresh with any
 *     truth of its image (the truth need not belong to this head).  With
 *     truth_thresh < 1 a slot whose best IoU exceeds it is made a positive
 *     of that best truth right there (objectness, classes, box as below).
 *   - Then each truth in order: the anchor of the WHOLE list whose shape
 *     fits it best; if this layer holds that anchor, the slot of the
 *     truth's cell gets box deltas scale * (target - output) with scale =
 *     2 - w*h, targets X = cx*W - j, Y = cy*H - i (against s(tx), s(ty)),
 *     log(w*net_w/aw), log(h*net_h/ah) (against raw tw, th); objectness
 *     1 - c^; classes [c == cls] - p_c, except that when the slot's class
 *     deltas are already set only the new class gets 1 - p_cls (several
 *     truths on a slot: the union of their classes, the box of the last).
 *   - The training line averages over those matched truths (replaced ones
 *     included): IoU of the slot's box with the truth, recall at .5 / .75,
 *     c^ and p_cls at the slot; "No Obj" is the mean c^ over every slot.
 *   - cost = sum of the squared deltas of the layer.
 * So with BCE(y, s(t)) = softplus(t) - y t the library's loss parts are
 *   box      (2 - w h) [BCE(X, s(tx)) + BCE(Y, s(ty)) + (tw - TW)^2/2 + (th - TH)^2/2]
 *   obj      softplus(-tc)      noobj  softplus(tc)
 *   classes  sum_c BCE(y_c, s(t_c))
 * and their gradients are minus darknet's deltas above.
 *
 * Every case was also run through pjreddie/darknet's own
 * forward_yolo_layer (outside this repository): its l.delta, cost and
 * training line equal the numbers below to the last bit with darknet's code
 * compiled in double, and to float rounding (~4e-8) in darknet's float
 * build, except where the class-0 quirk is said to differ.
 *
 * Checked on every variant of rl_variant_list(): the reference to 1e-12
 * (its double gradient, slot decisions and best IoUs through the internal
 * API as well), float variants within tests/common/tolerance.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_support.h"
#include "internal.h"
#include "scalar/yolo_reference.h"
#include "tolerance.h"

/* ---- the network --------------------------------------------------------
 * net 64 x 64 pixels, C = 2 classes, anchors in pixels
 *   a0 = 8 x 8, a1 = 16 x 32, a2 = 48 x 48, a3 = 64 x 8.
 * Head 0: 1 x 1 grid, mask {2}: one slot S0 per image.
 * Head 1: 2 x 2 grid, mask {0, 1}: eight slots per image.
 * a3 is in no head (as yolov3-tiny.cfg leaves anchor 0 out).
 * Decoding: x^ = (j + s(tx))/W, y^ = (i + s(ty))/H, w^ = e^tw aw/64,
 * h^ = e^th ah/64; at logits 0 a head-1 slot is its cell's centre with the
 * anchor's size (b = 0: 1/8 x 1/8, b = 1: 1/4 x 1/2).
 *
 * Truths (image units), with their shape IoUs against a0..a3:
 *   image 0  T1 (.5, .5, .375, .375) class 0, 24 x 24 px: 1/9, 6/11, 1/4, 3/14
 *                -> a1, head 1, cell j = floor(.5*2) = 1, i = 1: R1 = (i 1, j 1, b 1)
 *            T2 (.625, .6875, .25, .5) class 1, 16 x 32 px: a1 exactly (IoU 1)
 *                -> head 1, j = floor(1.25) = 1, i = floor(1.375) = 1: R1 again
 *   image 1  T3 (.5, .5, .75, .75) class 1, 48 x 48 px: a2 exactly -> head 0, S0
 *            T4 (.25, .1, 1, .125) class 0, 64 x 8 px: a3 exactly -> no head
 *   (T3 vs a0, a1, a3: 1/36, 2/9, 3/19; T4 vs a0, a1, a2: 1/8, 1/7, 3/19.)
 *
 * Raw outputs: 0 everywhere except
 *   image 0, S0: tx 1/16, ty -1/16, tw th -5/8, tc -1, classes (-1/2, 1/4)
 *   image 1, S0: tx 1, ty -1, tw 1/4, th -1/2, tc 1/2, classes (1, 1/2)
 *   image 0, R1: tx 0, ty 0, tw 1/2, th -1/4, tc 1/2, classes (1/2, -1)
 *
 * Head 0, image 1: S0 is responsible for T3 (a truth of this head).
 *   k3 = 2 - 9/16 = 23/16; X = Y = .5 - 0, TW = log(48/48) = 0, TH = 0.
 *   box  k3 [BCE(1/2, s(1)) + BCE(1/2, s(-1)) + (1/4)^2/2 + (1/2)^2/2]
 *   grad tx k3 (s(1) - 1/2), ty k3 (s(-1) - 1/2), tw k3/4, th -k3/2,
 *        tc s(1/2) - 1, classes y = (0, 1): (s(1), s(1/2) - 1)
 *   obj softplus(-1/2), classes softplus(1) + softplus(-1/2).
 *   Its box: centre (s(1), s(-1)), w3 = 3/4 e^(1/4), h3 = 3/4 e^(-1/2);
 *   against T3 = [1/8, 7/8]^2 its left edge s(1) - w3/2 ~ .250 and bottom
 *   edge ~ .042, right edge ~ 1.21, top ~ .496, so
 *     ox = 7/8 - s(1) + w3/2,  oy = s(-1) + h3/2 - 1/8,
 *     IoU3 = ox oy / (w3 h3 + 9/16 - ox oy) ~ .3023  (recall no).
 *   (T4 is ~.12 with it: best IoU IoU3.)
 * Head 0, image 0: no truth of image 0 is head 0's, but S0's box (centre
 *   (s(1/16), s(-1/16)), side w0 = 3/4 e^(-5/8) ~ .4015) nearly covers T1
 *   (head 1's truth, [5/16, 11/16]^2): in x S0 spans ~[.3149, .7164], an
 *   overlap of 11/16 - (s(1/16) - w0/2); in y ~[.2836, .6851], an overlap of
 *   s(-1/16) + w0/2 - 5/16, the same number o = 11/16 - s(1/16) + w0/2
 *   since s(-1/16) = 1 - s(1/16), so
 *     IoU_S0 = o^2 / (w0^2 + 9/64 - o^2) ~ .8520 > .7: S0 is IGNORED
 *   (no term at all; its c^ = s(-1) still counts in No Obj).
 * Head 0 line: count 1, Avg IOU IoU3, recall 0, Obj s(1/2), Class s(1/2),
 *   No Obj (s(-1) + s(1/2))/2 over its 2 slots.
 *
 * Head 1, image 0: R1 gets T1 then T2 (two truths on one slot): box target
 *   T2, classes {0, 1}.  k2 = 2 - 1/8 = 15/8; X = 1.25 - 1 = 1/4,
 *   Y = 1.375 - 1 = 3/8, TW = log(16/16) = 0, TH = log(32/32) = 0.
 *   box  k2 [BCE(1/4, 1/2) + BCE(3/8, 1/2) + (1/2)^2/2 + (1/4)^2/2]
 *        = k2 (2 ln 2 + 5/32)
 *   grad tx 15/32, ty 15/64, tw 15/16, th -15/32, tc s(1/2) - 1,
 *        classes y = (1, 1): (s(1/2) - 1, s(-1) - 1)
 *   obj softplus(-1/2), classes softplus(-1/2) + softplus(1).
 *   (Darknet: T1 writes (1 - p0, -p1), then T2 finds class 0's delta set
 *   and writes only 1 - p1.)
 *   R1's box: centre (3/4, 3/4), wr = e^(1/2)/4 ~ .412, hr = e^(-1/4)/2 ~ .389:
 *   T1 [5/16, 11/16]^2: overlaps wr/2 - 1/16 and hr/2 - 1/16,
 *     IoU1 = i1 / (wr hr + 9/64 - i1) ~ .0673
 *   T2 [1/2, 3/4] x [7/16, 15/16]: overlaps wr/2 and 3/16 + hr/2,
 *     IoU2 = i2 / (wr hr + 1/8 - i2) ~ .3810; both below .5.
 * Every other head-1 slot (7 in image 0, 8 in image 1) is a negative at
 *   tc = 0: noobj ln 2 each, grad 1/2.  Their best IoUs are small: a b = 0
 *   box has area 1/64, at most 1/8 of any truth's; a b = 1 box (1/4 x 1/2)
 *   meets T1 or T2 by at most 1/16 x 3/16 in image 0 (IoU <= .05), and T3
 *   (IoU 3/19 ~ .16 at most) or T4 (1/4 x 1/8 of overlap: 1/7) in image 1.
 * Head 1 line: count 2 (T1 and T2), Avg IOU (IoU1 + IoU2)/2, recall 0,
 *   Obj s(1/2), Class (s(1/2) + s(-1))/2, No Obj (15/2 + s(1/2))/16.
 * The library's own diagnostics (over positive slots, the box target's
 * class): head 0 IoU3, s(1/2), s(1/2); head 1 IoU2, s(1/2), s(-1), noobj
 * mean 1/2.  n_truths 4 for each head and the total (T4 included).
 * cost = the squared norm of each head's gradient above. */

#define C_ 2
#define NI 2 /* images */
static const float anchors[8] = {8, 8, 16, 32, 48, 48, 64, 8};
static const int32_t mask0[1] = {2}, mask1[2] = {0, 1};
static const rl_yolo_head heads[2] = {{1, 1, 1, mask0}, {2, 2, 2, mask1}};
static const rl_box truths[4] = {{0.5f, 0.5f, 0.375f, 0.375f, 0},
                                 {0.625f, 0.6875f, 0.25f, 0.5f, 1},
                                 {0.5f, 0.5f, 0.75f, 0.75f, 1},
                                 {0.25f, 0.1f, 1.0f, 0.125f, 0}};
static const int64_t offsets[NI + 1] = {0, 2, 4};

#define K_ (5 + C_)
#define HEAD0_N (NI * 1 * 1 * 1 * K_)
#define HEAD1_N (NI * 2 * 2 * 2 * K_)
#define MAX_N HEAD1_N
#define MAX_SLOTS (NI * 8)

/* NCHW of head h: ((n*B + b)*(5+C) + k)*H*W + i*W + j */
static int yoff(int h, int n, int i, int j, int b, int k)
{
    const rl_yolo_head *hd = &heads[h];
    return ((n * hd->B + b) * K_ + k) * hd->H * hd->W + i * hd->W + j;
}

/* slot number of the reference's per-slot outputs: ((n*H + i)*W + j)*B + b */
static int yslot(int h, int n, int i, int j, int b)
{
    const rl_yolo_head *hd = &heads[h];
    return ((n * hd->H + i) * hd->W + j) * hd->B + b;
}

static int head_count(int h) { return h ? HEAD1_N : HEAD0_N; }
static int head_slots(int h) { return NI * heads[h].H * heads[h].W * heads[h].B; }

static double sp(double x) { return log1p(exp(x)); } /* softplus, moderate x */
/* BCE(y, s(t)) = y softplus(-t) + (1 - y) softplus(t) (= softplus(t) - y t) */
static double bce(double y, double t) { return y * sp(-t) + (1 - y) * sp(t); }

typedef struct scenario {
    double truth_thresh;
    int quirk;      /* R1's class-0 logit 20 instead of 1/2 */
    rl_norm norm;
} scenario;

static void logits(const scenario *sc, float *p0, float *p1)
{
    memset(p0, 0, HEAD0_N * sizeof *p0);
    memset(p1, 0, HEAD1_N * sizeof *p1);
    const float s0a[K_] = {0.0625f, -0.0625f, -0.625f, -0.625f, -1.0f, -0.5f, 0.25f};
    const float s0b[K_] = {1.0f, -1.0f, 0.25f, -0.5f, 0.5f, 1.0f, 0.5f};
    const float r1[K_] = {0.0f, 0.0f, 0.5f, -0.25f, 0.5f, sc->quirk ? 20.0f : 0.5f, -1.0f};
    for (int k = 0; k < K_; k++) {
        p0[yoff(0, 0, 0, 0, 0, k)] = s0a[k];
        p0[yoff(0, 1, 0, 0, 0, k)] = s0b[k];
        p1[yoff(1, 0, 1, 1, 1, k)] = r1[k];
    }
}

/* What the derivation predicts for one head (norm sum; divided later). */
typedef struct yh_expect {
    double coord, cls, obj, noobj;
    int64_t n_obj, n_noobj, n_recall50, n_recall75;
    double sum_iou, sum_obj, sum_noobj, sum_cls;
    rl_darknet_stats dn;
    double anyobj_sum; /* sum of c^ over every slot (No Obj's numerator) */
    double grad[MAX_N];
    int8_t kind[MAX_SLOTS];  /* RL_SLOT_* */
    double best[MAX_SLOTS];  /* best IoU where derived, else NAN */
} yh_expect;

static const double LN2 = 0.69314718055994530942;

static void derive(const scenario *sc, yh_expect e[2])
{
    memset(e, 0, 2 * sizeof *e);
    for (int h = 0; h < 2; h++)
        for (int q = 0; q < MAX_SLOTS; q++)
            e[h].best[q] = NAN;

    /* ---- head 0 ---- */
    yh_expect *a = &e[0];
    const double k3 = 23.0 / 16, w3 = 0.75 * exp(0.25), h3 = 0.75 * exp(-0.5);
    const double ox = 7.0 / 8 - dn_sig(1) + w3 / 2, oy = dn_sig(-1) + h3 / 2 - 1.0 / 8;
    const double iou3 = ox * oy / (w3 * h3 + 9.0 / 16 - ox * oy);
    a->coord = k3 * (bce(0.5, 1) + bce(0.5, -1) + 0.25 * 0.25 / 2 + 0.5 * 0.5 / 2);
    a->obj = sp(-0.5);
    a->cls = bce(0, 1) + bce(1, 0.5);
    double *g = a->grad;
    g[yoff(0, 1, 0, 0, 0, 0)] = k3 * (dn_sig(1) - 0.5);
    g[yoff(0, 1, 0, 0, 0, 1)] = k3 * (dn_sig(-1) - 0.5);
    g[yoff(0, 1, 0, 0, 0, 2)] = k3 / 4;
    g[yoff(0, 1, 0, 0, 0, 3)] = -k3 / 2;
    g[yoff(0, 1, 0, 0, 0, 4)] = dn_sig(0.5) - 1;
    g[yoff(0, 1, 0, 0, 0, 5)] = dn_sig(1);
    g[yoff(0, 1, 0, 0, 0, 6)] = dn_sig(0.5) - 1;
    a->n_obj = 1;
    a->sum_iou = iou3;
    a->sum_obj = dn_sig(0.5);
    a->sum_cls = dn_sig(0.5);
    a->kind[yslot(0, 1, 0, 0, 0)] = RL_SLOT_OBJ;
    a->best[yslot(0, 1, 0, 0, 0)] = iou3;

    const double w0 = 0.75 * exp(-0.625), o = 11.0 / 16 - dn_sig(0.0625) + w0 / 2;
    const double iou_s0 = o * o / (w0 * w0 + 9.0 / 64 - o * o);
    a->best[yslot(0, 0, 0, 0, 0)] = iou_s0;
    if (iou_s0 > sc->truth_thresh) {
        /* truth_thresh: S0 is a positive of its best truth T1 (class 0):
         * k1 = 2 - 9/64 = 119/64, X = Y = 1/2, TW = TH = log(24/48) = -ln 2 */
        const double k1 = 119.0 / 64, dw = -0.625 + LN2;
        a->coord += k1 * (bce(0.5, 0.0625) + bce(0.5, -0.0625) + dw * dw);
        a->obj += sp(1);
        a->cls += bce(1, -0.5) + bce(0, 0.25);
        g[yoff(0, 0, 0, 0, 0, 0)] = k1 * (dn_sig(0.0625) - 0.5);
        g[yoff(0, 0, 0, 0, 0, 1)] = k1 * (dn_sig(-0.0625) - 0.5);
        g[yoff(0, 0, 0, 0, 0, 2)] = k1 * dw;
        g[yoff(0, 0, 0, 0, 0, 3)] = k1 * dw;
        g[yoff(0, 0, 0, 0, 0, 4)] = dn_sig(-1) - 1;
        g[yoff(0, 0, 0, 0, 0, 5)] = dn_sig(-0.5) - 1;
        g[yoff(0, 0, 0, 0, 0, 6)] = dn_sig(0.25);
        a->n_obj += 1;
        a->sum_iou += iou_s0;
        a->n_recall50 += 1; /* ~.852 > .75 > .5 */
        a->n_recall75 += 1;
        a->sum_obj += dn_sig(-1);
        a->sum_cls += dn_sig(-0.5);
        a->kind[yslot(0, 0, 0, 0, 0)] = RL_SLOT_OBJ;
    } else {
        a->kind[yslot(0, 0, 0, 0, 0)] = RL_SLOT_IGNORED;
    }
    /* darknet's line: only T3 is matched to head 0 */
    a->dn.count = 1;
    a->dn.avg_iou = iou3;
    a->dn.avg_obj = dn_sig(0.5);
    a->dn.avg_cls = dn_sig(0.5);
    a->anyobj_sum = dn_sig(-1) + dn_sig(0.5);
    a->dn.avg_anyobj = a->anyobj_sum / 2;

    /* ---- head 1 ---- */
    yh_expect *r = &e[1];
    const double k2 = 15.0 / 8, p0 = sc->quirk ? dn_sig(20) : dn_sig(0.5);
    const double t0 = sc->quirk ? 20.0 : 0.5;
    r->coord = k2 * (bce(0.25, 0) + bce(0.375, 0) + 0.5 * 0.5 / 2 + 0.25 * 0.25 / 2);
    r->obj = sp(-0.5);
    r->cls = bce(1, t0) + bce(1, -1);
    g = r->grad;
    g[yoff(1, 0, 1, 1, 1, 0)] = 15.0 / 32;
    g[yoff(1, 0, 1, 1, 1, 1)] = 15.0 / 64;
    g[yoff(1, 0, 1, 1, 1, 2)] = 15.0 / 16;
    g[yoff(1, 0, 1, 1, 1, 3)] = -15.0 / 32;
    g[yoff(1, 0, 1, 1, 1, 4)] = dn_sig(0.5) - 1;
    g[yoff(1, 0, 1, 1, 1, 5)] = -dn_sig(-t0); /* p0 - 1, without cancellation */
    g[yoff(1, 0, 1, 1, 1, 6)] = dn_sig(-1) - 1;
    for (int n = 0; n < NI; n++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                for (int b = 0; b < 2; b++) {
                    if (n == 0 && i == 1 && j == 1 && b == 1)
                        continue;
                    g[yoff(1, n, i, j, b, 4)] = 0.5;
                    r->kind[yslot(1, n, i, j, b)] = RL_SLOT_NOOBJ;
                }
    r->kind[yslot(1, 0, 1, 1, 1)] = RL_SLOT_OBJ;
    const double wr = exp(0.5) / 4, hr = 0.5 * exp(-0.25);
    const double i1 = (wr / 2 - 1.0 / 16) * (hr / 2 - 1.0 / 16);
    const double iou1 = i1 / (wr * hr + 9.0 / 64 - i1);
    const double i2 = (wr / 2) * (3.0 / 16 + hr / 2);
    const double iou2 = i2 / (wr * hr + 1.0 / 8 - i2);
    r->best[yslot(1, 0, 1, 1, 1)] = iou2;
    r->noobj = 15 * LN2;
    r->n_obj = 1;
    r->n_noobj = 15;
    r->sum_iou = iou2;
    r->sum_obj = dn_sig(0.5);
    r->sum_noobj = 7.5;
    r->sum_cls = dn_sig(-1); /* T2's class 1 */
    r->dn.count = 2;
    r->dn.avg_iou = (iou1 + iou2) / 2;
    r->dn.avg_obj = dn_sig(0.5);
    r->dn.avg_cls = (p0 + dn_sig(-1)) / 2;
    r->anyobj_sum = 7.5 + dn_sig(0.5);
    r->dn.avg_anyobj = r->anyobj_sum / 16;

    for (int h = 0; h < 2; h++) {
        double c = 0;
        for (int x = 0; x < head_count(h); x++)
            c += e[h].grad[x] * e[h].grad[x];
        e[h].dn.cost = c; /* darknet's cost: the squared deltas, never divided */
    }
}

/* ---- checks --------------------------------------------------------------
 * The reference: |got - want| <= 1e-12 |want| + 1e-15 S (double rounding of
 * O(S) quantities); its float gradient within one float rounding.  Float
 * variants: tolerance.h, |got - want| <= REL |want| + ABS S + FLOOR. */
typedef struct named {
    const char *name;
    double got, want, scale;
} named;

static int ok_value(int is_ref, double got, double want, double scale)
{
    if (isnan(got))
        return 0;
    if (is_ref)
        return fabs(got - want) <= DN_REF_REL * fabs(want) + 1e-15 * scale;
    return fabs(got - want) <= RL_TOL_REL * fabs(want) + RL_TOL_ABS * scale + RL_TOL_FLOOR;
}

/* The expected rl_result of a set of heads (one head, or the total). */
typedef struct yh_result {
    double coord, cls, obj, noobj;
    int64_t n_obj, n_noobj, n_recall50, n_recall75;
    double sum_iou, sum_obj, sum_noobj, sum_cls, abs_grad;
    rl_darknet_stats dn;
} yh_result;

static yh_result combine(const yh_expect *e, const int *hs, int nh, double div)
{
    yh_result t;
    memset(&t, 0, sizeof t);
    double iou = 0, obj = 0, cls = 0, rec = 0, rec75 = 0, any = 0, slots = 0;
    for (int q = 0; q < nh; q++) {
        const yh_expect *x = &e[hs[q]];
        t.coord += x->coord / div;
        t.cls += x->cls / div;
        t.obj += x->obj / div;
        t.noobj += x->noobj / div;
        t.n_obj += x->n_obj;
        t.n_noobj += x->n_noobj;
        t.n_recall50 += x->n_recall50;
        t.n_recall75 += x->n_recall75;
        t.sum_iou += x->sum_iou;
        t.sum_obj += x->sum_obj;
        t.sum_noobj += x->sum_noobj;
        t.sum_cls += x->sum_cls;
        for (int k = 0; k < head_count(hs[q]); k++)
            t.abs_grad += 2 * fabs(x->grad[k]);
        t.dn.count += x->dn.count;
        t.dn.cost += x->dn.cost;
        iou += x->dn.count * x->dn.avg_iou;
        obj += x->dn.count * x->dn.avg_obj;
        cls += x->dn.count * x->dn.avg_cls;
        rec += x->dn.count * x->dn.recall;
        rec75 += x->dn.count * x->dn.recall75;
        any += x->anyobj_sum;
        slots += head_slots(hs[q]);
    }
    if (t.dn.count) {
        t.dn.avg_iou = iou / t.dn.count;
        t.dn.avg_obj = obj / t.dn.count;
        t.dn.avg_cls = cls / t.dn.count;
        t.dn.recall = rec / t.dn.count;
        t.dn.recall75 = rec75 / t.dn.count;
    }
    t.dn.avg_anyobj = any / slots;
    return t;
}

static void check_result(const rl_result *r, const yh_result *w, int is_ref, double div,
                         const char *what, const char *variant, const char *part)
{
    cr_expect_eq(r->n_obj, w->n_obj, "%s: %s: %s: n_obj %lld, derived %lld", what, variant, part,
                 (long long)r->n_obj, (long long)w->n_obj);
    cr_expect_eq(r->n_noobj, w->n_noobj, "%s: %s: %s: n_noobj %lld, derived %lld", what, variant,
                 part, (long long)r->n_noobj, (long long)w->n_noobj);
    cr_expect_eq(r->n_conf, w->n_obj + w->n_noobj, "%s: %s: %s: n_conf", what, variant, part);
    cr_expect_eq(r->n_truths, 4, "%s: %s: %s: n_truths %lld (T4 too)", what, variant, part,
                 (long long)r->n_truths);
    cr_expect_eq(r->n_recall50, w->n_recall50, "%s: %s: %s: n_recall50", what, variant, part);
    cr_expect_eq(r->n_recall75, w->n_recall75, "%s: %s: %s: n_recall75", what, variant, part);
    cr_expect_eq(r->darknet.count, w->dn.count, "%s: %s: %s: darknet.count %lld, derived %lld",
                 what, variant, part, (long long)r->darknet.count, (long long)w->dn.count);
    cr_expect(r->variant && strcmp(r->variant, variant) == 0, "%s: %s: %s: result variant %s",
              what, variant, part, r->variant ? r->variant : "(null)");
    const double no = (double)w->n_obj, nn = (double)w->n_noobj;
    const double loss = w->coord + w->cls + w->obj + w->noobj;
    const named v[] = {
        {"coord", r->coord, w->coord, 2 * no / div},
        {"cls", r->cls, w->cls, C_ * no / div},
        {"obj", r->obj, w->obj, no / div},
        {"noobj", r->noobj, w->noobj, nn / div},
        {"warmup", r->warmup, 0, 0},
        {"loss", r->loss, loss, ((2 + C_ + 1) * no + nn) / div},
        {"sum_iou", r->sum_iou, w->sum_iou, no},
        {"sum_obj", r->sum_obj, w->sum_obj, no},
        {"sum_noobj", r->sum_noobj, w->sum_noobj, nn},
        {"sum_cls", r->sum_cls, w->sum_cls, no},
        {"avg_iou", r->avg_iou, no ? w->sum_iou / no : 0, 1},
        {"avg_obj", r->avg_obj, no ? w->sum_obj / no : 0, 1},
        {"avg_cls", r->avg_cls, no ? w->sum_cls / no : 0, 1},
        {"avg_noobj", r->avg_noobj, nn ? w->sum_noobj / nn : 0, 1},
        {"recall50", r->recall50, no ? w->n_recall50 / no : 0, 0},
        {"recall75", r->recall75, no ? w->n_recall75 / no : 0, 0},
        {"darknet.avg_iou", r->darknet.avg_iou, w->dn.avg_iou, 1},
        {"darknet.recall", r->darknet.recall, w->dn.recall, 0},
        {"darknet.recall75", r->darknet.recall75, w->dn.recall75, 0},
        {"darknet.avg_obj", r->darknet.avg_obj, w->dn.avg_obj, 1},
        {"darknet.avg_cls", r->darknet.avg_cls, w->dn.avg_cls, 1},
        {"darknet.avg_anyobj", r->darknet.avg_anyobj, w->dn.avg_anyobj, 1},
        /* sum of squares: each entry's error times 2|g| */
        {"darknet.cost", r->darknet.cost, w->dn.cost, w->abs_grad},
    };
    for (size_t q = 0; q < sizeof v / sizeof v[0]; q++)
        cr_expect(ok_value(is_ref, v[q].got, v[q].want, v[q].scale),
                  "%s: %s: %s: %s = %.17g, derived %.17g (diff %.3g)", what, variant, part,
                  v[q].name, v[q].got, v[q].want, v[q].got - v[q].want);
}

/* The weight in front of an entry's term: the box scale reaches 2. */
static double entry_weight(int k, double div) { return (k < 4 ? 2.0 : 1.0) / div; }

static void check_grad(int h, const float *grad, const double *want, int is_ref, double div,
                       const char *what, const char *variant)
{
    int bad = 0;
    for (int x = 0; x < head_count(h) && bad < 10; x++) {
        const int k = x / (heads[h].H * heads[h].W) % K_;
        const double w = want[x] / div;
        int ok;
        if (w == 0)
            ok = grad[x] == 0.0f && !signbit(grad[x]);
        else if (is_ref) /* the double gradient rounded once to float */
            ok = fabs(grad[x] - w) <= 0x1p-23 * fabs(w);
        else
            ok = ok_value(0, grad[x], w, entry_weight(k, div));
        if (!ok) {
            cr_expect_fail("%s: %s: head %d gradient entry %d (channel %d) = %.9g, derived %.17g",
                           what, variant, h, x, k, (double)grad[x], w);
            bad++;
        }
    }
}

/* The reference through the internal API: its double gradient, each slot's
 * decision and the best IoUs derived above. */
static void check_reference_internals(const rl_yolo_config *cfg, const int *hs, int nh,
                                      const float *const *preds, const yh_expect *e, double div,
                                      const char *what)
{
    rl_yolo_config c = *cfg;
    c.variant = "reference";
    rl_yolo_plan *plan = NULL;
    cr_assert(rl_yolo_plan_create(&c, &plan) == RL_OK, "%s", rl_last_error());
    rl_yolo_ref_out out;
    memset(&out, 0, sizeof out);
    double grad[2][MAX_N];
    int8_t kind[2][MAX_SLOTS];
    double best[2][MAX_SLOTS];
    for (int q = 0; q < nh; q++) {
        out.head[q].grad = grad[q];
        out.head[q].slot_kind = kind[q];
        out.head[q].best_iou = best[q];
    }
    rl_result tot, per[2];
    rl_status st = rl_yolo_reference_compute(plan, NI, preds, NULL, truths, offsets, NULL, NULL,
                                             &tot, per, &out);
    cr_assert(st == RL_OK, "%s: rl_yolo_reference_compute: %s", what, rl_last_error());
    for (int q = 0; q < nh; q++) {
        const int h = hs[q];
        for (int x = 0; x < head_count(h); x++) {
            const double w = e[h].grad[x] / div;
            const int ok = w == 0 ? grad[q][x] == 0
                                  : fabs(grad[q][x] - w) <= DN_REF_REL * fabs(w) + 1e-15 / div;
            cr_expect(ok, "%s: reference head %d double gradient entry %d = %.17g, derived %.17g",
                      what, h, x, grad[q][x], w);
        }
        for (int s = 0; s < head_slots(h); s++) {
            cr_expect_eq(kind[q][s], e[h].kind[s], "%s: head %d slot %d: kind %d, derived %d",
                         what, h, s, kind[q][s], e[h].kind[s]);
            if (!isnan(e[h].best[s]))
                cr_expect(fabs(best[q][s] - e[h].best[s]) <= 1e-12 * e[h].best[s],
                          "%s: head %d slot %d: best IoU %.17g, derived %.17g", what, h, s,
                          best[q][s], e[h].best[s]);
        }
    }
    rl_yolo_plan_destroy(plan);
}

/* Runs the heads hs (all of them in one plan, or one head: darknet's way,
 * that layer's mask with the whole anchor list) on every variant. */
static void check_heads(const scenario *sc, const int *hs, int nh, const char *what)
{
    yh_expect e[2];
    derive(sc, e);
    float p0[HEAD0_N], p1[HEAD1_N];
    logits(sc, p0, p1);
    const float *all[2] = {p0, p1};
    rl_yolo_head hd[2];
    const void *preds[2];
    const float *fpreds[2];
    for (int q = 0; q < nh; q++) {
        hd[q] = heads[hs[q]];
        preds[q] = fpreds[q] = all[hs[q]];
    }
    rl_yolo_config cfg;
    rl_yolo_config_init(&cfg);
    cfg.n_heads = nh;
    cfg.heads = hd;
    cfg.C = C_;
    cfg.n_anchors = 4;
    cfg.anchors = anchors;
    cfg.net_w = cfg.net_h = 64;
    cfg.norm = sc->norm;
    cfg.ignore_thresh = 0.7;
    cfg.truth_thresh = sc->truth_thresh;
    const double div = sc->norm == RL_NORM_IMAGES ? NI : 1.0;
    const yh_result tot = combine(e, hs, nh, div);

    rl_yolo_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.n_images = NI;
    batch.preds = preds;
    batch.truths = truths;
    batch.truth_offsets = offsets;

    int saw_reference = 0;
    for (const char *const *v = rl_variant_list(); *v; v++) {
        const int is_ref = strcmp(*v, "reference") == 0;
        saw_reference |= is_ref;
        cfg.variant = *v;
        rl_yolo_plan *plan = NULL;
        rl_status st = rl_yolo_plan_create(&cfg, &plan);
        cr_assert(st == RL_OK, "%s: %s: rl_yolo_plan_create: %s: %s", what, *v,
                  rl_status_name(st), rl_last_error());
        cr_assert(strcmp(rl_yolo_plan_variant(plan), *v) == 0);
        float g[2][MAX_N];
        void *grads[2] = {g[0], g[1]};
        for (int q = 0; q < nh; q++)
            for (int x = 0; x < MAX_N; x++)
                g[q][x] = NAN; /* overwrite mode writes every entry */
        rl_result total, per[2];
        st = rl_yolo_compute(plan, &batch, &total, per, grads);
        cr_assert(st == RL_OK, "%s: %s: rl_yolo_compute: %s: %s", what, *v, rl_status_name(st),
                  rl_last_error());
        for (int q = 0; q < nh; q++) {
            char part[16];
            snprintf(part, sizeof part, "head %d", hs[q]);
            const yh_result one = combine(e, &hs[q], 1, div);
            check_result(&per[q], &one, is_ref, div, what, *v, part);
            check_grad(hs[q], g[q], e[hs[q]].grad, is_ref, div, what, *v);
        }
        check_result(&total, &tot, is_ref, div, what, *v, "total");
        rl_yolo_plan_destroy(plan);
    }
    cr_assert(saw_reference, "rl_variant_list() lacks the reference");
    check_reference_internals(&cfg, hs, nh, fpreds, e, div, what);
}

static const int both[2] = {0, 1}, only0[1] = {0}, only1[1] = {1};

/* The derivation above, both heads in one plan, darknet's sums. */
Test(yolo_hand_terms, two_heads_one_plan)
{
    const scenario sc = {1.0, 0, RL_NORM_SUM};
    check_heads(&sc, both, 2, "two heads, norm sum");
}

/* Darknet's way: one plan per [yolo] layer, its mask and the whole anchor
 * list.  T1 and T2 still ignore head 0's S0 in image 0, and T3 still
 * counts for nothing in head 1; each head's result is the same. */
Test(yolo_hand_terms, one_plan_per_head)
{
    const scenario sc = {1.0, 0, RL_NORM_SUM};
    check_heads(&sc, only0, 1, "head 0 alone, norm sum");
    check_heads(&sc, only1, 1, "head 1 alone, norm sum");
}

/* Per-image division (norm images, N = 2): every loss part and gradient
 * entry halves; the counts, the diagnostics, darknet's line and its cost
 * do not change (cost is the squared norm of the undivided delta). */
Test(yolo_hand_terms, per_image_division)
{
    const scenario sc = {1.0, 0, RL_NORM_IMAGES};
    check_heads(&sc, both, 2, "two heads, norm images");
}

/* truth_thresh = .8: image 0's S0 (best IoU IoU_S0 ~ .852 > .8, with T1)
 * becomes a positive of T1, in head 0, which T1's anchor is not in.
 *   k1 = 2 - (3/8)^2 = 119/64; X = Y = 1/2 (W = H = 1), TW = TH =
 *   log(24/48) = -ln 2, so d tw = d th = k1 (ln 2 - 5/8);
 *   box  k1 [BCE(1/2, s(1/16)) + BCE(1/2, s(-1/16)) + (ln 2 - 5/8)^2]
 *   grad tx k1 (s(1/16) - 1/2), ty k1 (s(-1/16) - 1/2), tc s(-1) - 1,
 *        classes y = (1, 0): (s(-1/2) - 1, s(1/4))
 *   obj softplus(1), classes softplus(1/2) + softplus(1/4).
 * Head 0 now has two positives: IoU (IoU3 + IoU_S0)/2, recall50 and
 * recall75 1 of 2, Obj (s(1/2) + s(-1))/2, Class (s(1/2) + s(-1/2))/2.
 * Darknet's line is unchanged (it counts only matched truths); its cost
 * gains the squares of the new entries.  Head 1 is unchanged (no slot of
 * it reaches .8). */
Test(yolo_hand_terms, truth_thresh_positive)
{
    const scenario sc = {0.8, 0, RL_NORM_SUM};
    check_heads(&sc, both, 2, "two heads, truth_thresh .8");
    check_heads(&sc, only0, 1, "head 0 alone, truth_thresh .8");
}

/* Darknet's class-0 quirk, not taken over (docs/loss.md).  R1's class-0 logit
 * is 20: in float, darknet's s(20) is exactly 1.0f, so T1's class-0 delta
 * 1 - p0 is 0; when T2 comes, darknet's "are the class deltas already
 * set?" test reads that zero, takes the slot for fresh and writes a one-hot
 * class-1 target: class 0's delta becomes 0 - 1 = -1 and darknet's cost
 * grows by exactly 1 (darknet's float build prints 6.80027533 for head 1
 * here; its double build keeps the union, 5.80027462).  The library keeps
 * the union {0, 1}: d c0 = s(20) - 1 = -s(-20) ~ -2.1e-9, classes
 * softplus(-20) + softplus(1), and darknet.cost is the squared norm of that
 * gradient; everything else is as above (darknet's Class average takes p0
 * either way). */
Test(yolo_hand_terms, class0_saturated_keeps_union)
{
    const scenario sc = {1.0, 1, RL_NORM_SUM};
    check_heads(&sc, both, 2, "two heads, R1 class-0 logit 20");
}
