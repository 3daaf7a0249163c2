/* The reference of flavour alexeyab of the [yolo] head: what AlexeyAB's
 * forward_yolo_layer writes into l.delta and *l.cost, in the order it does
 * it, in double precision (docs/darknet.md, "AlexeyAB's [yolo] layer", whose
 * paragraph names are quoted here).  Kept apart from yolo_reference.c so
 * that the definition of docs/loss.md stays readable: this flavour is
 * darknet's procedure, not a loss with a gradient, and is written as one.
 *
 * Per head and image: "Pass 1, every slot", then "Pass 2, every truth in
 * order", then the iou_thresh averaging, into a delta array in darknet's
 * sign (target minus output); the gradient is minus that delta.  Slots are
 * (i row, j column, b anchor of the head) as everywhere in the library;
 * darknet's own loops name the column i and the row j. */
#include "yolo_reference_ab.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

typedef struct abox {
    double x, y, w, h;
} abox;

/* darknet's box_intersection: 0 once either overlap is negative */
static double inter(abox a, abox b)
{
    const double ow = fmin(a.x + a.w / 2, b.x + b.w / 2) - fmax(a.x - a.w / 2, b.x - b.w / 2);
    const double oh = fmin(a.y + a.h / 2, b.y + b.h / 2) - fmax(a.y - a.h / 2, b.y - b.h / 2);
    if (ow < 0 || oh < 0)
        return 0.0;
    return ow * oh;
}

static double uni(abox a, abox b) { return a.w * a.h + b.w * b.h - inter(a, b); }

/* "Decoded box": darknet's box_iou, 0 when the intersection or the union is
 * 0; and 0 where darknet's would be NaN ("NaN and infinity": a box whose
 * size overflowed), so that finite inputs never give NaN. */
static double iou_ab(abox a, abox b)
{
    const double I = inter(a, b), U = uni(a, b);
    if (I == 0.0 || U == 0.0)
        return 0.0;
    const double v = I / U;
    return isnan(v) ? 0.0 : v;
}

/* The smallest box holding both: width and height. */
static void enclosing(abox a, abox b, double *w, double *h)
{
    *w = fmax(a.x + a.w / 2, b.x + b.w / 2) - fmin(a.x - a.w / 2, b.x - b.w / 2);
    *h = fmax(a.y + a.h / 2, b.y + b.h / 2) - fmin(a.y - a.h / 2, b.y - b.h / 2);
}

static double giou_ab(abox a, abox b)
{
    double w, h;
    enclosing(a, b, &w, &h);
    const double c = w * h, iou = iou_ab(a, b);
    if (c == 0.0)
        return iou;
    const double v = iou - (c - uni(a, b)) / c;
    return isnan(v) ? iou : v; /* an overflowed box: as darknet's c == 0 case */
}

/* box_iou_kind of an anchor's shape and a truth's, both centred at the
 * origin (the only use: iou_thresh's extra anchors).  The centres' distance
 * is 0, so darknet's DIoU is the IoU there (its term is (0/c)^0.6) and its
 * CIoU keeps only the aspect term; GIoU's enclosing box is the larger of
 * each side. */
static double shape_iou_kind(abox an, abox tr, int32_t kind)
{
    const double iou = iou_ab(an, tr);
    if (kind == RL_BOX_GIOU)
        return giou_ab(an, tr);
    if (kind != RL_BOX_CIOU)
        return iou;
    const double dv = atan(tr.w / tr.h) - atan(an.w / an.h);
    const double v = 4 / (M_PI * M_PI) * dv * dv;
    const double alpha = v / (1 - iou + v + 0.000001);
    return iou - alpha * v;
}

/* "Box delta", the IoU kinds: darknet's derivative of IoU (and of the
 * kind's extra term) with respect to the decoded box, d[0..3] = x, y, w, h
 * (dx_box_iou). */
static void dx_iou(abox p, abox t, int32_t kind, double d[4])
{
    const double pt = fmin(p.y - p.h / 2, p.y + p.h / 2), pb = fmax(p.y - p.h / 2, p.y + p.h / 2);
    const double pl = fmin(p.x - p.w / 2, p.x + p.w / 2), pr = fmax(p.x - p.w / 2, p.x + p.w / 2);
    const double tt = t.y - t.h / 2, tb = t.y + t.h / 2, tl = t.x - t.w / 2, tr = t.x + t.w / 2;
    const double X = (pb - pt) * (pr - pl), Xt = (tb - tt) * (tr - tl);
    const double Ih = fmin(pb, tb) - fmax(pt, tt), Iw = fmin(pr, tr) - fmax(pl, tl);
    const double I = Iw * Ih, U = X + Xt - I;
    const double S = (p.x - t.x) * (p.x - t.x) + (p.y - t.y) * (p.y - t.y);
    const double gCw = fmax(pr, tr) - fmin(pl, tl), gCh = fmax(pb, tb) - fmin(pt, tt);
    const double gC = gCw * gCh;

    /* edges t, b, l, r */
    const double dX[4] = {-(pr - pl), pr - pl, -(pb - pt), pb - pt};
    const double dI[4] = {pt > tt ? -Iw : 0, pb < tb ? Iw : 0, pl > tl ? -Ih : 0,
                          pr < tr ? Ih : 0};
    const double dC[4] = {pt < tt ? -gCw : 0, pb > tb ? gCw : 0, pl < tl ? -gCh : 0,
                          pr > tr ? gCh : 0};
    double dU[4], e[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4; k++) {
        dU[k] = dX[k] - dI[k];
        if (U > 0)
            e[k] = (U * dI[k] - I * dU[k]) / (U * U);
    }
    /* the corner swap: both edges at one value (a size below the centre's rounding) */
    if (!(p.y - p.h / 2 < p.y + p.h / 2))
        e[0] = e[1];
    if (!(p.x - p.w / 2 < p.x + p.w / 2))
        e[2] = e[3];
    if (kind == RL_BOX_GIOU) {
        if (gC > 0)
            for (int k = 0; k < 4; k++)
                e[k] += (gC * dU[k] - U * dC[k]) / (gC * gC);
        if (Iw <= 0 || Ih <= 0)
            for (int k = 0; k < 4; k++)
                e[k] = (gC * dU[k] - U * dC[k]) / (gC * gC);
    }
    double ex = e[2] + e[3], ey = e[0] + e[1], ew = e[3] - e[2], eh = e[1] - e[0];

    if (kind == RL_BOX_DIOU || kind == RL_BOX_CIOU) {
        const double Cw = gCw, Ch = gCh, C = Cw * Cw + Ch * Ch;
        /* derivatives of the enclosing box's width and height */
        const double cl = pl < tl, cr = pr > tr, ct = pt < tt, cb = pb > tb;
        const double dCw_dx = cr - cl, dCw_dw = 0.5 * cr + 0.5 * cl;
        const double dCh_dy = cb - ct, dCh_dh = 0.5 * cb + 0.5 * ct;
        double aw = 0.0, ah = 0.0;
        if (kind == RL_BOX_CIOU) {
            const double da = atan(t.w / t.h) - atan(p.w / p.h);
            const double v = 4 / (M_PI * M_PI) * da * da;
            const double alpha = v / (1 - I / U + v + 0.000001);
            aw = alpha * (8 / (M_PI * M_PI) * da * p.h);
            ah = alpha * (-8 / (M_PI * M_PI) * da * p.w);
        }
        const double cx = (2 * (t.x - p.x) * C - (2 * Cw * dCw_dx) * S) / (C * C);
        const double cy = (2 * (t.y - p.y) * C - (2 * Ch * dCh_dy) * S) / (C * C);
        const double cw = (2 * Cw * dCw_dw) * S / (C * C) + aw;
        const double ch = (2 * Ch * dCh_dh) * S / (C * C) + ah;
        if (C > 0) {
            ex += cx;
            ey += cy;
            ew += cw;
            eh += ch;
        }
        if (Iw <= 0 || Ih <= 0) {
            ex = cx;
            ey = cy;
            ew = cw;
            eh = ch;
        }
    }
    d[0] = ex;
    d[1] = ey;
    d[2] = ew;
    d[3] = eh;
}

/* One head's pass over the batch. */
typedef struct ab_head {
    const rl_params *p;
    const rl_yolo_ab *ab;
    const float *pred;
    double *delta;   /* per entry, darknet's sign */
    uint8_t *touched;
    int8_t *kind;    /* per slot */
    double *best;    /* per slot: best IoU with the image's truths */
    int64_t *last;   /* per slot: the last truth that made it a positive, or -1 */
    /* darknet's sums of the layer */
    double tot_iou, tot_iou_loss, tot_giou_loss, recall, recall75, avg_obj, avg_cat, anyobj;
    int64_t count, class_count;
} ab_head;

/* "Activated outputs": entry k of slot (n, i, j, b) as darknet's l.output */
static double out(const ab_head *s, int64_t n, int32_t i, int32_t j, int32_t b, int32_t k)
{
    const double t = s->pred[rl_index(s->p, n, i, j, b, k)];
    if (k == 2 || k == 3)
        return t;
    const double a = s->ab->new_coords ? t : sigmoid(t);
    if (k >= 2)
        return a;
    return a * s->ab->scale_x_y - 0.5 * (s->ab->scale_x_y - 1);
}

/* "Decoded box" of slot (n, i, j, b) with anchor a of the whole list */
static abox decode(const ab_head *s, int64_t n, int32_t i, int32_t j, int32_t b, int32_t a)
{
    const rl_params *p = s->p;
    const double aw = p->yolo_anchors[2 * a], ah = p->yolo_anchors[2 * a + 1];
    const double tw = out(s, n, i, j, b, 2), th = out(s, n, i, j, b, 3);
    abox d;
    d.x = (j + out(s, n, i, j, b, 0)) / p->W;
    d.y = (i + out(s, n, i, j, b, 1)) / p->H;
    if (s->ab->new_coords) {
        d.w = tw * tw * 4 * aw / p->net_w;
        d.h = th * th * 4 * ah / p->net_h;
    } else {
        d.w = exp(tw) * aw / p->net_w;
        d.h = exp(th) * ah / p->net_h;
    }
    return d;
}

static abox truth_of(const rl_box *t) { return (abox){t->cx, t->cy, t->w, t->h}; }

static void add(ab_head *s, int64_t idx, double v)
{
    s->delta[idx] += v;
    s->touched[idx] = 1;
}

static void set(ab_head *s, int64_t idx, double v)
{
    s->delta[idx] = v;
    s->touched[idx] = 1;
}

/* "Box delta" of truth t at slot (n, i, j, b) with anchor a; returns its
 * IoU and GIoU with the decoded box (before the w = 0 repair). */
static void box_delta(ab_head *s, const rl_box *t, int64_t n, int32_t i, int32_t j, int32_t b,
                      int32_t a, double k, double *iou, double *giou)
{
    const rl_params *p = s->p;
    const rl_yolo_ab *ab = s->ab;
    abox pr = decode(s, n, i, j, b, a);
    const abox tr = truth_of(t);
    *iou = iou_ab(pr, tr);
    *giou = giou_ab(pr, tr);
    if (pr.w == 0)
        pr.w = 1.0;
    if (pr.h == 0)
        pr.h = 1.0;
    const double aw = p->yolo_anchors[2 * a], ah = p->yolo_anchors[2 * a + 1];
    const double tw = out(s, n, i, j, b, 2), th = out(s, n, i, j, b, 3);
    if (ab->iou_loss == RL_BOX_MSE) {
        const double scale = 2 - (double)t->w * t->h;
        const double X = (double)t->cx * p->W - j, Y = (double)t->cy * p->H - i;
        double TW = log((double)t->w * p->net_w / aw), TH = log((double)t->h * p->net_h / ah);
        if (ab->new_coords) {
            TW = sqrt((double)t->w * p->net_w / (4 * aw));
            TH = sqrt((double)t->h * p->net_h / (4 * ah));
        }
        add(s, rl_index(p, n, i, j, b, 0), scale * (X - out(s, n, i, j, b, 0)) * k);
        add(s, rl_index(p, n, i, j, b, 1), scale * (Y - out(s, n, i, j, b, 1)) * k);
        add(s, rl_index(p, n, i, j, b, 2), scale * (TW - tw) * k);
        add(s, rl_index(p, n, i, j, b, 3), scale * (TH - th) * k);
        return;
    }
    double d[4];
    dx_iou(pr, tr, ab->iou_loss, d);
    if (!ab->new_coords) {
        d[2] *= exp(tw);
        d[3] *= exp(th);
    }
    for (int e = 0; e < 4; e++) {
        d[e] *= k;
        if (!isfinite(d[e])) /* fix_nan_inf */
            d[e] = 0.0;
        if (ab->max_delta != FLT_MAX)
            d[e] = fmax(-ab->max_delta, fmin(ab->max_delta, d[e]));
        add(s, rl_index(p, n, i, j, b, e), d[e]);
    }
}

static double class_mult(const rl_yolo_ab *ab, int32_t c)
{
    return ab->class_mult ? (double)ab->class_mult[c] : 1.0;
}

static double smoothed(const rl_yolo_ab *ab, double y)
{
    return ab->label_smooth_eps != 0.0 ? y * (1 - ab->label_smooth_eps) + 0.5 * ab->label_smooth_eps
                                       : y;
}

/* "Class deltas" of class c at slot (n, i, j, b); avg_cat: whether to count
 * the class output into darknet's avg_cat. */
static void class_delta(ab_head *s, int64_t n, int32_t i, int32_t j, int32_t b, int32_t c,
                        int avg_cat)
{
    const rl_params *p = s->p;
    const rl_yolo_ab *ab = s->ab;
    const int64_t ic = rl_index(p, n, i, j, b, 5 + c);
    const double oc = out(s, n, i, j, b, 5 + c);
    if (avg_cat)
        s->avg_cat += oc;
    if (s->delta[ic] != 0.0) { /* a second truth of class c on this slot */
        const double r = smoothed(ab, 1.0) - oc;
        if (isfinite(r))
            set(s, ic, r);
        if (ab->class_mult)
            set(s, ic, s->delta[ic] * class_mult(ab, c));
        return;
    }
    if (ab->focal_loss) {
        const double pt = oc + 0.000000000000001;
        double g = -(1 - pt) * (2 * pt * log(pt) + pt - 1);
        if (isnan(g)) /* an output <= 0 (new_coords): darknet's NaN, here no update */
            g = 0.0;
        for (int32_t m = 0; m < p->C; m++)
            set(s, rl_index(p, n, i, j, b, 5 + m),
                ((m == c ? 1.0 : 0.0) - out(s, n, i, j, b, 5 + m)) * (0.5 * g));
        return;
    }
    for (int32_t m = 0; m < p->C; m++) {
        const int64_t im = rl_index(p, n, i, j, b, 5 + m);
        const double r = smoothed(ab, m == c ? 1.0 : 0.0) - out(s, n, i, j, b, 5 + m);
        if (isfinite(r))
            set(s, im, r);
        if (ab->class_mult && m == c)
            set(s, im, s->delta[im] * (class_mult(ab, c) * ab->cls_normalizer));
    }
}

static int64_t slot_of(const rl_params *p, int64_t n, int32_t i, int32_t j, int32_t b)
{
    return n * p->HW * p->B + ((int64_t)i * p->W + j) * p->B + b;
}

/* The truths darknet sees in image n: at most max_boxes, up to the first
 * whose x is 0 ("max and the truth list"). */
static int64_t seen_truths(const rl_yolo_ab *ab, const rl_box *truths, int64_t lo, int64_t hi)
{
    int64_t t = lo;
    while (t < hi && t - lo < ab->max_boxes && truths[t].cx != 0.0f)
        t++;
    return t;
}

/* "Pass 1, every slot" */
static void pass1_slot(ab_head *s, const rl_box *truths, int64_t lo, int64_t hi, int64_t n,
                       int32_t i, int32_t j, int32_t b)
{
    const rl_params *p = s->p;
    const rl_yolo_ab *ab = s->ab;
    const int64_t slot = slot_of(p, n, i, j, b);
    const abox pr = decode(s, n, i, j, b, p->mask[b]);
    int match = 0; /* any class output above 0.25 (compare_yolo_class) */
    for (int32_t c = 0; c < p->C && hi > lo; c++)
        if (out(s, n, i, j, b, 5 + c) > 0.25)
            match = 1;
    double best_match = 0.0, best = 0.0;
    int64_t best_t = lo;
    for (int64_t t = lo; t < hi; t++) {
        const double iou = iou_ab(pr, truth_of(&truths[t]));
        if (iou > best_match && match)
            best_match = iou;
        if (iou > best) {
            best = iou;
            best_t = t;
        }
    }
    s->best[slot] = best;
    const double oc = out(s, n, i, j, b, 4);
    s->anyobj += oc;
    const int64_t io = rl_index(p, n, i, j, b, 4);
    set(s, io, ab->obj_normalizer * (0 - oc));
    s->kind[slot] = RL_SLOT_NOOBJ;
    if (best_match > p->thresh) {
        s->kind[slot] = RL_SLOT_IGNORED;
        if (ab->objectness_smooth) {
            const double d = ab->obj_normalizer * (best_match - oc);
            if (d > s->delta[io])
                set(s, io, d);
        } else {
            set(s, io, 0.0);
        }
    }
    /* truth_thresh = 1 means never, as in the pjreddie flavour: an IoU
     * rounded above 1 does not count */
    if (fmin(best, 1.0) > p->truth_thresh && hi > lo) {
        const rl_box *t = &truths[best_t];
        const double mult = best * best;
        s->kind[slot] = RL_SLOT_OBJ;
        s->last[slot] = best_t;
        set(s, io, ab->obj_normalizer * ((ab->objectness_smooth ? mult : 1.0) - oc));
        class_delta(s, n, i, j, b, t->cls, 0);
        const double cm = class_mult(ab, t->cls);
        if (ab->objectness_smooth)
            set(s, rl_index(p, n, i, j, b, 5 + t->cls),
                cm * (mult - out(s, n, i, j, b, 5 + t->cls)));
        double iou, giou;
        box_delta(s, t, n, i, j, b, p->mask[b], ab->iou_normalizer * cm, &iou, &giou);
    }
}

/* One positive of pass 2 (its best anchor, or an iou_thresh one): anchor a
 * of the list, b of the head. */
static void positive(ab_head *s, const rl_box *t, int64_t ti, int64_t n, int32_t i, int32_t j,
                     int32_t b, int32_t a)
{
    const rl_params *p = s->p;
    const rl_yolo_ab *ab = s->ab;
    const double cm = class_mult(ab, t->cls);
    double iou, giou;
    box_delta(s, t, n, i, j, b, a, ab->iou_normalizer * cm, &iou, &giou);
    s->tot_iou += iou;
    s->tot_iou_loss += 1 - iou;
    s->tot_giou_loss += 1 - giou;
    const int64_t io = rl_index(p, n, i, j, b, 4);
    const double oc = out(s, n, i, j, b, 4);
    s->avg_obj += oc;
    if (!ab->objectness_smooth || s->delta[io] == 0.0)
        set(s, io, cm * ab->obj_normalizer * (1 - oc));
    class_delta(s, n, i, j, b, t->cls, 1);
    s->count++;
    s->class_count++;
    s->recall += iou > .5;
    s->recall75 += iou > .75;
    const int64_t slot = slot_of(p, n, i, j, b);
    s->kind[slot] = RL_SLOT_OBJ;
    s->last[slot] = ti;
}

/* The head's index of anchor a of the list, or -1 */
static int32_t mask_index(const rl_params *p, int32_t a)
{
    for (int32_t b = 0; b < p->B; b++)
        if (p->mask[b] == a)
            return b;
    return -1;
}

/* "Pass 2, every truth in order", and the iou_thresh averaging */
static void pass2_image(ab_head *s, const rl_box *truths, int64_t lo, int64_t hi, int64_t n)
{
    const rl_params *p = s->p;
    const rl_yolo_ab *ab = s->ab;
    for (int64_t ti = lo; ti < hi; ti++) {
        const rl_box *t = &truths[ti];
        /* darknet's cell: the float product, truncated; kept on the grid */
        int32_t j = (int32_t)(t->cx * (float)p->W), i = (int32_t)(t->cy * (float)p->H);
        if (j > p->W - 1)
            j = p->W - 1;
        if (i > p->H - 1)
            i = p->H - 1;
        const abox shape = {0, 0, t->w, t->h};
        double best = 0.0;
        int32_t best_a = 0;
        for (int32_t a = 0; a < p->n_anchors; a++) {
            const abox an = {0, 0, (double)p->yolo_anchors[2 * a] / p->net_w,
                             (double)p->yolo_anchors[2 * a + 1] / p->net_h};
            const double iou = iou_ab(an, shape);
            if (iou > best) {
                best = iou;
                best_a = a;
            }
        }
        const int32_t b = mask_index(p, best_a);
        if (b >= 0)
            positive(s, t, ti, n, i, j, b, best_a);
        if (!(ab->iou_thresh < 1.0))
            continue;
        for (int32_t a = 0; a < p->n_anchors; a++) {
            const int32_t bb = mask_index(p, a);
            if (bb < 0 || a == best_a)
                continue;
            const abox an = {0, 0, (double)p->yolo_anchors[2 * a] / p->net_w,
                             (double)p->yolo_anchors[2 * a + 1] / p->net_h};
            if (shape_iou_kind(an, shape, ab->iou_thresh_kind) > ab->iou_thresh)
                positive(s, t, ti, n, i, j, bb, a);
        }
    }
    if (!(ab->iou_thresh < 1.0))
        return;
    for (int32_t i = 0; i < p->H; i++)
        for (int32_t j = 0; j < p->W; j++)
            for (int32_t b = 0; b < p->B; b++) {
                if (s->delta[rl_index(p, n, i, j, b, 4)] == 0.0)
                    continue;
                int32_t k = 0;
                for (int32_t c = 0; c < p->C; c++)
                    k += s->delta[rl_index(p, n, i, j, b, 5 + c)] > 0;
                if (k > 0)
                    for (int e = 0; e < 4; e++)
                        s->delta[rl_index(p, n, i, j, b, e)] /= k;
            }
}

/* "The result" of one head from its deltas and darknet's sums. */
static void head_result(const ab_head *s, int32_t n_images, int64_t n_truths, double D,
                        rl_result *r)
{
    const rl_params *p = s->p;
    const rl_yolo_ab *ab = s->ab;
    memset(r, 0, sizeof *r);
    r->n_truths = n_truths;
    double box2 = 0.0, cls2 = 0.0, obj2 = 0.0, noobj2 = 0.0;
    for (int64_t n = 0; n < n_images; n++)
        for (int32_t i = 0; i < p->H; i++)
            for (int32_t j = 0; j < p->W; j++)
                for (int32_t b = 0; b < p->B; b++) {
                    const int64_t slot = slot_of(p, n, i, j, b);
                    for (int32_t k = 0; k < p->K; k++) {
                        const double d = s->delta[rl_index(p, n, i, j, b, k)];
                        if (k < 4)
                            box2 += d * d;
                        else if (k > 4)
                            cls2 += d * d;
                        else if (s->kind[slot] == RL_SLOT_OBJ)
                            obj2 += d * d;
                        else
                            noobj2 += d * d;
                    }
                    const double oc = out(s, n, i, j, b, 4);
                    if (s->kind[slot] == RL_SLOT_NOOBJ) {
                        r->n_noobj++;
                        r->sum_noobj += oc;
                    } else if (s->kind[slot] == RL_SLOT_OBJ) {
                        r->n_obj++;
                        r->sum_obj += oc;
                    }
                }
    double cost = box2 + cls2 + obj2 + noobj2;
    if (ab->show_details && ab->iou_loss != RL_BOX_MSE) {
        const double cnt = s->count > 0 ? (double)s->count : 1.0;
        const double L = ab->iou_loss == RL_BOX_GIOU ? s->tot_giou_loss : s->tot_iou_loss;
        cost = ab->iou_normalizer * (L / cnt) + ab->obj_normalizer * (cls2 + obj2 + noobj2);
    }
    r->coord = box2 / D;
    r->cls = cls2 / D;
    r->obj = obj2 / D;
    r->noobj = noobj2 / D;
    r->loss = cost / D;
    r->n_conf = r->n_obj + r->n_noobj;
    r->darknet.cost = cost;
    r->darknet.count = s->count;
    if (s->count > 0) {
        const double c = (double)s->count;
        r->darknet.avg_iou = s->tot_iou / c;
        r->darknet.recall = s->recall / c;
        r->darknet.recall75 = s->recall75 / c;
        r->darknet.avg_obj = s->avg_obj / c;
        r->darknet.avg_cls = s->avg_cat / (double)s->class_count;
    }
    r->darknet.avg_anyobj = s->anyobj / (double)(n_images * p->HW * p->B);
}

/* Diagnostics of the positive slots: each measured against the last truth
 * that made it one, as the pjreddie flavour measures its box target. */
static void positive_diagnostics(const ab_head *s, const rl_box *truths, int32_t n_images,
                                 rl_result *r, double *obj_iou)
{
    const rl_params *p = s->p;
    for (int64_t n = 0; n < n_images; n++)
        for (int32_t i = 0; i < p->H; i++)
            for (int32_t j = 0; j < p->W; j++)
                for (int32_t b = 0; b < p->B; b++) {
                    const int64_t slot = slot_of(p, n, i, j, b);
                    if (s->kind[slot] != RL_SLOT_OBJ)
                        continue;
                    const rl_box *t = &truths[s->last[slot]];
                    const double iou = iou_ab(decode(s, n, i, j, b, p->mask[b]), truth_of(t));
                    if (obj_iou)
                        obj_iou[slot] = iou;
                    r->sum_iou += iou;
                    r->n_recall50 += iou > 0.5;
                    r->n_recall75 += iou > 0.75;
                    r->sum_cls += out(s, n, i, j, b, 5 + t->cls);
                }
    rl_finish_diagnostics(r);
}

static rl_status run_head(const rl_yolo_plan *plan, int32_t h, int32_t n_images,
                          const float *pred, const rl_box *truths, const int64_t *offsets,
                          double D, const rl_ref_out *o, rl_result *r, double *anyobj)
{
    ab_head s;
    memset(&s, 0, sizeof s);
    s.p = &plan->heads[h].p;
    s.ab = s.p->ab;
    s.pred = pred;
    const int64_t count = (int64_t)n_images * s.p->per_image;
    const int64_t slots = (int64_t)n_images * s.p->HW * s.p->B;
    s.delta = calloc((size_t)count, sizeof *s.delta);
    s.touched = calloc((size_t)count, 1);
    s.kind = malloc((size_t)slots);
    s.best = malloc((size_t)slots * sizeof *s.best);
    s.last = malloc((size_t)slots * sizeof *s.last);
    rl_status st = RL_OK;
    if (!s.delta || !s.touched || !s.kind || !s.best || !s.last)
        st = rl_fail(RL_ERR_NO_MEMORY, "yolo reference (alexeyab): out of memory for head %d",
                     (int)h);
    if (st == RL_OK) {
        for (int64_t x = 0; x < slots; x++)
            s.last[x] = -1;
        for (int64_t n = 0; n < n_images; n++) {
            const int64_t lo = offsets[n], hi = seen_truths(s.ab, truths, lo, offsets[n + 1]);
            for (int32_t i = 0; i < s.p->H; i++)
                for (int32_t j = 0; j < s.p->W; j++)
                    for (int32_t b = 0; b < s.p->B; b++)
                        pass1_slot(&s, truths, lo, hi, n, i, j, b);
            pass2_image(&s, truths, lo, hi, n);
        }
        head_result(&s, n_images, offsets[n_images], D, r);
        positive_diagnostics(&s, truths, n_images, r, o ? o->obj_iou : NULL);
        *anyobj = s.anyobj;
        if (o && o->grad)
            for (int64_t x = 0; x < count; x++)
                o->grad[x] = s.delta[x] == 0.0 ? 0.0 : -s.delta[x] / D;
        if (o && o->touched)
            memcpy(o->touched, s.touched, (size_t)count);
        if (o && o->best_iou)
            memcpy(o->best_iou, s.best, (size_t)slots * sizeof *s.best);
        if (o && o->slot_kind)
            memcpy(o->slot_kind, s.kind, (size_t)slots);
    }
    free(s.delta);
    free(s.touched);
    free(s.kind);
    free(s.best);
    free(s.last);
    return st;
}

rl_status rl_yolo_reference_ab_compute(const rl_yolo_plan *plan, int32_t n_images,
                                       const float *const *preds, const rl_box *truths,
                                       const int64_t *offsets, const rl_counts *global_counts,
                                       rl_result *total, rl_result *per_head,
                                       const rl_yolo_ref_out *out)
{
    const int32_t H = plan->n_heads;
    const double D = rl_yolo_reference_divisor(plan, n_images, global_counts);
    rl_result heads[RL_YOLO_MAX_HEADS];
    double anyobj[RL_YOLO_MAX_HEADS];
    int64_t head_slots[RL_YOLO_MAX_HEADS];
    for (int32_t h = 0; h < H; h++) {
        rl_status st = run_head(plan, h, n_images, preds[h], truths, offsets, D,
                                out ? &out->head[h] : NULL, &heads[h], &anyobj[h]);
        if (st != RL_OK)
            return st;
        head_slots[h] = (int64_t)n_images * plan->heads[h].p.HW * plan->heads[h].p.B;
    }
    rl_yolo_reference_total(heads, anyobj, head_slots, H, offsets[n_images], total);
    if (per_head)
        memcpy(per_head, heads, (size_t)H * sizeof *heads);
    return RL_OK;
}
