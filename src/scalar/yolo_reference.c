/* The reference of the [yolo] head: docs/loss.md ("The [yolo] head"), and
 * docs/api.md for what each rl_result field holds, written out in double
 * precision, one slot at a time, in the image-normalised units of its
 * "Decoding".  Built with -ffp-contract=off, like reference.c, and sharing
 * no code with the optimised driver: the anchor matching of "Positives" is
 * written again here (not rl_yolo_best_anchor / rl_yolo_match).  Names in
 * quotes in comments are docs/loss.md's paragraphs.
 *
 * Two passes.  The first decides, for every head, image and slot, from the
 * `frozen` predictions: the slot's best IoU, its kind (positive, negative,
 * ignored), its box target and its truth_thresh truth.  Between the passes
 * the class logits of every positive are checked for finiteness (a
 * truth_thresh positive depends on the predictions, so the validator cannot
 * know it); nothing is written before that check.  The second pass computes
 * the loss, its gradient and the statistics from `preds`. */
#include "yolo_reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

/* softplus(z) = log(1 + e^z), without overflow for large z and without
 * losing e^z for very negative z. */
static double softplus(double z) { return fmax(z, 0.0) + log1p(exp(-fabs(z))); }

/* BCE(y, s(z)) = -(y log s(z) + (1-y) log(1 - s(z))) = y softplus(-z) +
 * (1-y) softplus(z), y in [0, 1]: two non-negative terms, so no
 * cancellation, and a weight y or 1-y of 0 removes its term exactly
 * (softplus of a finite z is finite). */
static double bce_logit(double y, double z)
{
    double v = 0.0;
    if (y != 0.0)
        v += y * softplus(-z);
    if (y != 1.0)
        v += (1.0 - y) * softplus(z);
    return v;
}

/* d BCE(y, s(z)) / dz = s(z) - y, written (1-y) s(z) - y s(-z): for a 0/1
 * target it is s(z) or -s(-z) exactly, with no cancellation of 1 - s(z). */
static double bce_slope(double y, double z) { return (1.0 - y) * sigmoid(z) - y * sigmoid(-z); }

/* A weight of 0 removes its term exactly, even where the term overflowed:
 * 0 * inf is NaN, and finite inputs never give NaN (docs/loss.md).  A
 * positive weight keeps the overflow: inf is the rounded value. */
static double weighted(double k, double v) { return k == 0.0 ? 0.0 : k * v; }

/* A centre/size box in image-normalised units. */
typedef struct nbox {
    double x, y, w, h;
} nbox;

/* "Decoding, in grid cells": a box whose area is zero, infinite or undefined
 * has IoU 0 with everything.  Mathematically IoU <= 1; the rounding of the
 * overlap of two nearly equal boxes can give 1 + ulp, which is clamped so that
 * truth_thresh = 1 really means "never" ("truth_thresh") and ignore_thresh = 1
 * "every slot that is not a positive". */
static double box_iou(nbox a, nbox b)
{
    const double area_a = a.w * a.h, area_b = b.w * b.h;
    if (!(area_a > 0.0) || isinf(area_a) || !(area_b > 0.0) || isinf(area_b))
        return 0.0;
    const double ox = fmin(a.x + a.w / 2, b.x + b.w / 2) - fmax(a.x - a.w / 2, b.x - b.w / 2);
    const double oy = fmin(a.y + a.h / 2, b.y + b.h / 2) - fmax(a.y - a.h / 2, b.y - b.h / 2);
    const double inter = fmax(0.0, ox) * fmax(0.0, oy);
    const double uni = area_a + area_b - inter;
    if (!(uni > 0.0))
        return 0.0;
    return fmin(inter / uni, 1.0);
}

static nbox truth_box(const rl_box *t)
{
    return (nbox){t->cx, t->cy, t->w, t->h};
}

/* "Positives": the anchor of the WHOLE list (pixels) whose shape fits the
 * truth (w*net_w, h*net_h) best, both centred at the origin; ties go to the
 * smaller index. */
static int32_t best_anchor(const rl_params *p, const rl_box *t)
{
    const double tw = (double)t->w * p->net_w, th = (double)t->h * p->net_h;
    double best = -1.0;
    int32_t a_best = 0;
    for (int32_t a = 0; a < p->n_anchors; a++) {
        const nbox tb = {0, 0, tw, th};
        const nbox ab = {0, 0, p->yolo_anchors[2 * a], p->yolo_anchors[2 * a + 1]};
        const double iou = box_iou(tb, ab);
        if (iou > best) { /* strict: ties go to the smaller index */
            best = iou;
            a_best = a;
        }
    }
    return a_best;
}

/* "Decoding, in image units": the box of slot (n, i, j, b) of head p. */
static nbox decode(const rl_params *p, const float *pred, int64_t n, int32_t i, int32_t j,
                   int32_t b)
{
    const double aw = p->yolo_anchors[2 * p->mask[b]], ah = p->yolo_anchors[2 * p->mask[b] + 1];
    nbox d;
    d.x = (j + sigmoid(pred[rl_index(p, n, i, j, b, 0)])) / p->W;
    d.y = (i + sigmoid(pred[rl_index(p, n, i, j, b, 1)])) / p->H;
    d.w = exp((double)pred[rl_index(p, n, i, j, b, 2)]) * aw / p->net_w;
    d.h = exp((double)pred[rl_index(p, n, i, j, b, 3)]) * ah / p->net_h;
    return d;
}

/* One head's decisions, made from the frozen predictions.  Slots of the
 * batch are numbered n*HWB + ((i*W + j)*B + b); truths by their index in
 * the batch's truth array. */
typedef struct head_state {
    const rl_params *p;
    const float *pred, *frozen;
    const int8_t *forced;
    int64_t slots;       /* H*W*B: slots of one image */
    int64_t *truth_slot; /* per truth: its matched slot in this head (slot of the batch), or -1 */
    int64_t *owner;      /* per slot: the last matched truth landing on it, or -1 */
    int64_t *tt;         /* per slot: its truth_thresh truth (best > truth_thresh), or -1 */
    double *best;        /* per slot: best IoU with the image's truths */
    int8_t *kind;        /* per slot: RL_SLOT_* */
} head_state;

static void state_free(head_state *s)
{
    free(s->truth_slot);
    free(s->owner);
    free(s->tt);
    free(s->best);
    free(s->kind);
}

static int64_t slot_index(const rl_params *p, int64_t slots, int64_t n, int32_t i, int32_t j,
                          int32_t b)
{
    return n * slots + ((int64_t)i * p->W + j) * p->B + b;
}

/* "Positives", "Negatives" and "truth_thresh" for image n of one head. */
static void assign_image(head_state *s, const rl_box *truths, const int64_t *offsets, int64_t n)
{
    const rl_params *p = s->p;
    const int64_t lo = offsets[n], hi = offsets[n + 1];

    /* "Positives", in input order: a later truth on the same slot replaces the
     * box target (the class union is gathered from truth_slot later). */
    for (int64_t t = lo; t < hi; t++) {
        s->truth_slot[t] = -1;
        const int32_t a = best_anchor(p, &truths[t]);
        for (int32_t b = 0; b < p->B; b++) {
            if (p->mask[b] != a)
                continue;
            const double fj = floor((double)truths[t].cx * p->W);
            const double fi = floor((double)truths[t].cy * p->H);
            const int32_t j = fj > p->W - 1 ? p->W - 1 : (int32_t)fj;
            const int32_t i = fi > p->H - 1 ? p->H - 1 : (int32_t)fi;
            const int64_t slot = slot_index(p, s->slots, n, i, j, b);
            s->truth_slot[t] = slot;
            s->owner[slot] = t;
        }
    }

    /* "Negatives": each slot's best IoU (and its first best truth), then its
     * kind. */
    for (int32_t i = 0; i < p->H; i++)
        for (int32_t j = 0; j < p->W; j++)
            for (int32_t b = 0; b < p->B; b++) {
                const int64_t slot = slot_index(p, s->slots, n, i, j, b);
                const nbox d = decode(p, s->frozen, n, i, j, b);
                double best = 0.0;
                int64_t best_t = lo; /* the first of equal IoUs */
                for (int64_t t = lo; t < hi; t++) {
                    const double iou = box_iou(d, truth_box(&truths[t]));
                    if (iou > best) {
                        best = iou;
                        best_t = t;
                    }
                }
                s->best[slot] = best;
                const int over_truth = best > p->truth_thresh; /* never without truths */
                if (s->owner[slot] >= 0) {
                    /* a matched positive; truth_thresh may add a class
                     * (darknet's two passes) */
                    s->kind[slot] = RL_SLOT_OBJ;
                    s->tt[slot] = over_truth ? best_t : -1;
                    continue;
                }
                const int f = s->forced ? s->forced[slot] : -1;
                if (f == RL_SLOT_OBJ && hi > lo) {
                    s->kind[slot] = RL_SLOT_OBJ;
                    s->tt[slot] = best_t;
                } else if (f == RL_SLOT_NOOBJ || f == RL_SLOT_IGNORED) {
                    s->kind[slot] = (int8_t)f;
                } else if (over_truth) {
                    s->kind[slot] = RL_SLOT_OBJ;
                    s->tt[slot] = best_t;
                } else {
                    s->kind[slot] = best <= p->thresh ? RL_SLOT_NOOBJ : RL_SLOT_IGNORED;
                }
            }
}

static rl_status assign_head(head_state *s, int32_t h, int32_t n_images, const rl_box *truths,
                             const int64_t *offsets)
{
    const int64_t nt = offsets[n_images], total = (int64_t)n_images * s->slots;
    s->truth_slot = malloc((size_t)(nt > 0 ? nt : 1) * sizeof *s->truth_slot);
    s->owner = malloc((size_t)total * sizeof *s->owner);
    s->tt = malloc((size_t)total * sizeof *s->tt);
    s->best = malloc((size_t)total * sizeof *s->best);
    s->kind = malloc((size_t)total * sizeof *s->kind);
    if (!s->truth_slot || !s->owner || !s->tt || !s->best || !s->kind)
        return rl_fail(RL_ERR_NO_MEMORY, "yolo reference: out of memory for head %d (%lld slots)",
                       (int)h, (long long)total);
    for (int64_t x = 0; x < total; x++)
        s->owner[x] = s->tt[x] = -1;
    for (int64_t n = 0; n < n_images; n++)
        assign_image(s, truths, offsets, n);
    return RL_OK;
}

/* The class logits of every positive are finite: those of the matched
 * positives were validated before the call, those of truth_thresh
 * positives can only be checked now.  The message is the validator's, with
 * the head in front when the plan has several (as rl_yolo_validate_preds
 * writes it); the predictions here are float whatever the caller's type. */
static rl_status check_positive_logits(const rl_yolo_plan *plan, const head_state *s, int32_t h,
                                       int32_t n_images)
{
    rl_params pf = *s->p;
    pf.pred_type = RL_DTYPE_F32;
    for (int64_t n = 0; n < n_images; n++)
        for (int32_t i = 0; i < pf.H; i++)
            for (int32_t j = 0; j < pf.W; j++)
                for (int32_t b = 0; b < pf.B; b++) {
                    if (s->kind[slot_index(&pf, s->slots, n, i, j, b)] != RL_SLOT_OBJ)
                        continue;
                    rl_status st = rl_validate_class_logits(&pf, s->pred, n, i, j, b);
                    if (st != RL_OK && plan->n_heads > 1) {
                        char inner[400];
                        snprintf(inner, sizeof inner, "%s", rl_last_error());
                        return rl_fail(st, "head %d: %s", (int)h, inner);
                    }
                    if (st != RL_OK)
                        return st;
                }
    return RL_OK;
}

/* Where the gradient goes (optional outputs of the head). */
typedef struct grad_sink {
    const rl_ref_out *out;
} grad_sink;

static void put(const grad_sink *g, int64_t idx, double v)
{
    if (g->out && g->out->grad)
        g->out->grad[idx] = v;
    if (g->out && g->out->touched)
        g->out->touched[idx] = 1;
}

/* "IoU-family box losses".  A decoded size is clamped to [2^-500, 2^500]
 * (image units) before the XIoU: there every value and numerator of the
 * formulas below stays a finite double, and the clamped size has derivative
 * 0, which is the limit of the exact gradient as exp(tw) leaves that range
 * (only |tw| beyond about 340 gets there).  Inside it, nothing is clamped.
 * A denominator squared (U^2, c^4) may overflow to inf: its quotient is
 * then 0 where the exact one is below 2^-500 after the chain rule. */
#define XIOU_SIZE_MIN 0x1p-500
#define XIOU_SIZE_MAX 0x1p+500

static double clamp_size(double v, double *dv)
{
    if (v < XIOU_SIZE_MIN) {
        *dv = 0.0;
        return XIOU_SIZE_MIN;
    }
    if (v > XIOU_SIZE_MAX) {
        *dv = 0.0;
        return XIOU_SIZE_MAX;
    }
    *dv = 1.0;
    return v;
}

static const double PI = 3.14159265358979323846;

/* CIoU's v: 4/pi^2 (atan(gw/gh) - atan(w/h))^2. */
static double ciou_v(nbox d, nbox g)
{
    const double A = atan(g.w / g.h) - atan(d.w / d.h);
    return 4.0 / (PI * PI) * A * A;
}

/* CIoU's alpha = v / ((1 - IoU) + v), 0 when v = 0. */
static double ciou_alpha(nbox d, nbox g)
{
    const double v = ciou_v(d, g);
    return v == 0.0 ? 0.0 : v / ((1.0 - box_iou(d, g)) + v);
}

/* The weight of d's edge a in min(a, b) (or max(a, -b)): 1 when it is the
 * smaller, 0 when it is not, and 1/2 where the two are equal (a kink of min
 * and max): the mean of the one-sided derivatives, so that a box equal to
 * its truth, the loss's minimum, has gradient 0. */
static double below(double a, double b) { return a < b ? 1.0 : a == b ? 0.5 : 0.0; }

/* 1 - XIoU(d, g) for box loss `kind` and its derivatives dl[0..3] w.r.t.
 * d's x, y, w, h (image units), written term by term from the definitions;
 * for CIoU, `alpha` is the constant that multiplies v. */
static double xiou_loss(int32_t kind, nbox d, nbox g, double alpha, double dl[4])
{
    const double px0 = d.x - d.w / 2, px1 = d.x + d.w / 2, py0 = d.y - d.h / 2, py1 = d.y + d.h / 2;
    const double gx0 = g.x - g.w / 2, gx1 = g.x + g.w / 2, gy0 = g.y - g.h / 2, gy1 = g.y + g.h / 2;

    /* intersection I = iw * ih; d iw / d(x, w), d ih / d(y, h) */
    const double iw = fmin(px1, gx1) - fmax(px0, gx0), ih = fmin(py1, gy1) - fmax(py0, gy0);
    double I = 0.0, dI[4] = {0, 0, 0, 0};
    if (iw > 0.0 && ih > 0.0) {
        const double r1 = below(px1, gx1), r0 = below(gx0, px0), t1 = below(py1, gy1),
                     t0 = below(gy0, py0);
        I = iw * ih;
        dI[0] = ih * (r1 - r0);
        dI[2] = ih * (r1 + r0) / 2;
        dI[1] = iw * (t1 - t0);
        dI[3] = iw * (t1 + t0) / 2;
    }
    /* union U = w h + gw gh - I */
    const double U = d.w * d.h + g.w * g.h - I;
    const double dU[4] = {-dI[0], -dI[1], d.h - dI[2], d.w - dI[3]};
    const double iou = I / U;
    double dIoU[4];
    for (int e = 0; e < 4; e++)
        dIoU[e] = (dI[e] * U - I * dU[e]) / (U * U);

    double loss = 1.0 - iou;
    for (int e = 0; e < 4; e++)
        dl[e] = -dIoU[e];
    if (kind == RL_BOX_IOU)
        return loss;

    /* the smallest enclosing box, ew x eh */
    const double ew = fmax(px1, gx1) - fmin(px0, gx0), eh = fmax(py1, gy1) - fmin(py0, gy0);
    const double s1 = below(gx1, px1), s0 = below(px0, gx0), u1 = below(gy1, py1),
                 u0 = below(py0, gy0);
    const double dew[4] = {s1 - s0, 0.0, (s1 + s0) / 2, 0.0};
    const double deh[4] = {0.0, u1 - u0, 0.0, (u1 + u0) / 2};
    if (kind == RL_BOX_GIOU) {
        /* 1 - GIoU = 1 - IoU + (E - U) / E = 2 - IoU - U / E.  d(U/E) is
         * (dU - (U/E) dE) / E: the plain quotient rule's dU E and U dE reach
         * the cube of the size and overflow both (inf - inf) past 2^341. */
        const double E = ew * eh, ue = U / E;
        loss += 1.0 - ue;
        for (int e = 0; e < 4; e++) {
            const double dE = dew[e] * eh + ew * deh[e];
            dl[e] -= (dU[e] - ue * dE) / E;
        }
        return loss;
    }

    /* DIoU: + rho^2 / c^2 */
    const double rx = d.x - g.x, ry = d.y - g.y;
    const double rho2 = rx * rx + ry * ry, c2 = ew * ew + eh * eh;
    const double drho2[4] = {2 * rx, 2 * ry, 0.0, 0.0};
    loss += rho2 / c2;
    for (int e = 0; e < 4; e++) {
        const double dc2 = 2 * ew * dew[e] + 2 * eh * deh[e];
        dl[e] += (drho2[e] * c2 - rho2 * dc2) / (c2 * c2);
    }
    if (kind == RL_BOX_DIOU)
        return loss;

    /* CIoU: + alpha v, alpha a constant of the gradient */
    const double A = atan(g.w / g.h) - atan(d.w / d.h);
    const double q = d.w * d.w + d.h * d.h;
    loss += alpha * ciou_v(d, g);
    dl[2] += alpha * (-8.0 / (PI * PI) * A * d.h / q);
    dl[3] += alpha * (8.0 / (PI * PI) * A * d.w / q);
    return loss;
}

/* The box of slot (n, i, j, b) as the IoU-family terms see it: decoded,
 * its size clamped; *dw, *dh the clamp's derivatives (1 or 0). */
static nbox xiou_decode(const rl_params *p, const float *pred, int64_t n, int32_t i, int32_t j,
                        int32_t b, double *dw, double *dh)
{
    nbox d = decode(p, pred, n, i, j, b);
    d.w = clamp_size(d.w, dw);
    d.h = clamp_size(d.h, dh);
    return d;
}

/* The IoU-family box term of slot (n, i, j, b) against truth t: 1 - XIoU,
 * and its gradient w.r.t. tx, ty, tw, th through "Decoding, in image
 * units".  CIoU's alpha is a constant of the gradient: it is taken from
 * `frozen` (the predictions themselves, except under finite differences). */
static double xiou_box(const rl_params *p, const float *pred, const float *frozen, int64_t n,
                       int32_t i, int32_t j, int32_t b, const rl_box *t, double slope[4])
{
    const double tx = pred[rl_index(p, n, i, j, b, 0)], ty = pred[rl_index(p, n, i, j, b, 1)];
    double dw, dh;
    const nbox d = xiou_decode(p, pred, n, i, j, b, &dw, &dh);
    double fw, fh, dl[4];
    const double alpha = p->box_loss == RL_BOX_CIOU
                             ? ciou_alpha(xiou_decode(p, frozen, n, i, j, b, &fw, &fh), truth_box(t))
                             : 0.0;
    const double loss = xiou_loss(p->box_loss, d, truth_box(t), alpha, dl);
    /* dx/dtx = s(tx) s(-tx) / W; dw/dtw = w (0 where clamped) */
    slope[0] = dl[0] * sigmoid(tx) * sigmoid(-tx) / p->W;
    slope[1] = dl[1] * sigmoid(ty) * sigmoid(-ty) / p->H;
    slope[2] = dl[2] * d.w * dw;
    slope[3] = dl[3] * d.h * dh;
    return loss;
}

/* Sums of one head before the weights lambda/D. */
typedef struct part_sums {
    double coord, cls, obj, noobj;
    double cost;   /* sum of squared gradient entries with D = 1 */
    double anyobj; /* sum of c^ over every slot */
} part_sums;

/* Whether class c is among the targets of positive slot `slot`: the classes
 * of every matched truth on it and of its truth_thresh truth ("Positives":
 * the union of their classes; "truth_thresh": the union of both). */
static int has_class(const head_state *s, const rl_box *truths, const int64_t *offsets,
                     int64_t n, int64_t slot, int32_t c)
{
    if (s->tt[slot] >= 0 && truths[s->tt[slot]].cls == c)
        return 1;
    for (int64_t t = offsets[n]; t < offsets[n + 1]; t++)
        if (s->truth_slot[t] == slot && truths[t].cls == c)
            return 1;
    return 0;
}

/* "The loss" at one slot.  w = {coord, class, obj, noobj} weights lambda/D;
 * the gradient with D = 1 (lambda times the same factor) goes into the cost. */
static void slot_terms(const head_state *s, const rl_box *truths, const int64_t *offsets,
                       const grad_sink *g, int64_t n, int32_t i, int32_t j, int32_t b,
                       const double w[4], part_sums *ps, rl_result *r)
{
    const rl_params *p = s->p;
    const float *pred = s->pred;
    const int64_t slot = slot_index(p, s->slots, n, i, j, b);
    const double tc = pred[rl_index(p, n, i, j, b, 4)];
    const double c = sigmoid(tc);
    ps->anyobj += c;

    if (s->kind[slot] == RL_SLOT_NOOBJ) {
        /* BCE(0, c^) = softplus(tc); slope s(tc) */
        const double v = sigmoid(tc);
        ps->noobj += softplus(tc);
        put(g, rl_index(p, n, i, j, b, 4), w[3] * v);
        ps->cost += (p->lambda_noobj * v) * (p->lambda_noobj * v);
        r->n_noobj++;
        r->sum_noobj += c;
        return;
    }
    if (s->kind[slot] != RL_SLOT_OBJ)
        return;

    /* The box target: the last matched truth, else the truth_thresh one. */
    const rl_box *t = &truths[s->owner[slot] >= 0 ? s->owner[slot] : s->tt[slot]];
    const double aw = p->yolo_anchors[2 * p->mask[b]], ah = p->yolo_anchors[2 * p->mask[b] + 1];
    const double X = (double)t->cx * p->W - j, Y = (double)t->cy * p->H - i;
    const double TW = log((double)t->w * p->net_w / aw), TH = log((double)t->h * p->net_h / ah);
    const double k = 2.0 - (double)t->w * t->h;
    const double tx = pred[rl_index(p, n, i, j, b, 0)], ty = pred[rl_index(p, n, i, j, b, 1)];
    const double tw = pred[rl_index(p, n, i, j, b, 2)], th = pred[rl_index(p, n, i, j, b, 3)];

    double box_slope[4];
    if (p->box_loss == RL_BOX_MSE) {
        ps->coord += k * (bce_logit(X, tx) + bce_logit(Y, ty) + (TW - tw) * (TW - tw) / 2 +
                          (TH - th) * (TH - th) / 2);
        box_slope[0] = k * bce_slope(X, tx);
        box_slope[1] = k * bce_slope(Y, ty);
        box_slope[2] = k * (tw - TW);
        box_slope[3] = k * (th - TH);
    } else {
        double xs[4];
        ps->coord += k * xiou_box(p, pred, s->frozen, n, i, j, b, t, xs);
        for (int e = 0; e < 4; e++)
            box_slope[e] = k * xs[e];
    }
    for (int e = 0; e < 4; e++) {
        put(g, rl_index(p, n, i, j, b, e), w[0] * box_slope[e]);
        ps->cost += (p->lambda_coord * box_slope[e]) * (p->lambda_coord * box_slope[e]);
    }

    /* BCE(1, c^) = softplus(-tc); slope c^ - 1 = -s(-tc) */
    const double obj_slope = bce_slope(1.0, tc);
    ps->obj += bce_logit(1.0, tc);
    put(g, rl_index(p, n, i, j, b, 4), w[2] * obj_slope);
    ps->cost += (p->lambda_obj * obj_slope) * (p->lambda_obj * obj_slope);

    for (int32_t cc = 0; cc < p->C; cc++) {
        const int64_t idx = rl_index(p, n, i, j, b, 5 + cc);
        const double y = has_class(s, truths, offsets, n, slot, cc) ? 1.0 : 0.0;
        const double slope = bce_slope(y, pred[idx]);
        ps->cls += bce_logit(y, pred[idx]);
        put(g, idx, w[1] * slope);
        ps->cost += (p->lambda_class * slope) * (p->lambda_class * slope);
    }

    /* Diagnostics, from the predictions the loss sees. */
    const double iou = box_iou(decode(p, pred, n, i, j, b), truth_box(t));
    if (g->out && g->out->obj_iou)
        g->out->obj_iou[slot] = iou;
    r->n_obj++;
    r->sum_iou += iou;
    r->n_recall50 += iou > 0.5;
    r->n_recall75 += iou > 0.75;
    r->sum_obj += c;
    r->sum_cls += sigmoid(pred[rl_index(p, n, i, j, b, 5 + t->cls)]);
}

/* Darknet's "Avg IOU" line of one [yolo] layer: over the truths matched to
 * this head ("Positives"), replaced ones included, each measured at its
 * slot. */
static void darknet_stats(const head_state *s, const rl_box *truths, int64_t n_truths,
                          rl_result *r)
{
    const rl_params *p = s->p;
    for (int64_t t = 0; t < n_truths; t++) {
        if (s->truth_slot[t] < 0)
            continue;
        int64_t x = s->truth_slot[t];
        const int32_t b = (int32_t)(x % p->B);
        x /= p->B;
        const int32_t j = (int32_t)(x % p->W);
        x /= p->W;
        const int32_t i = (int32_t)(x % p->H);
        const int64_t n = x / p->H;
        const double iou = box_iou(decode(p, s->pred, n, i, j, b), truth_box(&truths[t]));
        r->darknet.count++;
        r->darknet.avg_iou += iou;
        r->darknet.recall += iou > 0.5;
        r->darknet.recall75 += iou > 0.75;
        r->darknet.avg_obj += sigmoid(s->pred[rl_index(p, n, i, j, b, 4)]);
        r->darknet.avg_cls += sigmoid(s->pred[rl_index(p, n, i, j, b, 5 + truths[t].cls)]);
    }
    if (r->darknet.count > 0) {
        const double cnt = (double)r->darknet.count;
        r->darknet.avg_iou /= cnt;
        r->darknet.recall /= cnt;
        r->darknet.recall75 /= cnt;
        r->darknet.avg_obj /= cnt;
        r->darknet.avg_cls /= cnt;
    }
}

/* Loss, gradient and statistics of one head, from its decisions.  *anyobj
 * gets the head's sum of c^ (the total's avg_anyobj needs the sum). */
static void head_compute(const head_state *s, int32_t n_images, const rl_box *truths,
                         const int64_t *offsets, double D, const rl_ref_out *out, rl_result *res,
                         double *anyobj)
{
    const rl_params *p = s->p;
    const int64_t count = (int64_t)n_images * p->per_image, slots = n_images * s->slots;
    if (out && out->grad)
        memset(out->grad, 0, (size_t)count * sizeof *out->grad);
    if (out && out->touched)
        memset(out->touched, 0, (size_t)count);
    if (out && out->obj_iou)
        memset(out->obj_iou, 0, (size_t)slots * sizeof *out->obj_iou);

    rl_result r;
    memset(&r, 0, sizeof r);
    r.n_truths = offsets[n_images];
    const double w[4] = {p->lambda_coord / D, p->lambda_class / D, p->lambda_obj / D,
                         p->lambda_noobj / D};
    const grad_sink g = {out};
    part_sums ps = {0, 0, 0, 0, 0, 0};
    for (int64_t n = 0; n < n_images; n++)
        for (int32_t i = 0; i < p->H; i++)
            for (int32_t j = 0; j < p->W; j++)
                for (int32_t b = 0; b < p->B; b++)
                    slot_terms(s, truths, offsets, &g, n, i, j, b, w, &ps, &r);
    r.coord = weighted(w[0], ps.coord);
    r.cls = weighted(w[1], ps.cls);
    r.obj = weighted(w[2], ps.obj);
    r.noobj = weighted(w[3], ps.noobj);
    r.warmup = 0.0;
    r.loss = r.coord + r.cls + r.obj + r.noobj;
    r.n_conf = r.n_obj + r.n_noobj;
    rl_finish_diagnostics(&r);

    darknet_stats(s, truths, offsets[n_images], &r);
    r.darknet.avg_anyobj = ps.anyobj / (double)slots;
    r.darknet.cost = ps.cost;
    *anyobj = ps.anyobj;

    if (out && out->best_iou)
        memcpy(out->best_iou, s->best, (size_t)slots * sizeof *s->best);
    if (out && out->slot_kind)
        memcpy(out->slot_kind, s->kind, (size_t)slots);
    *res = r;
}

double rl_yolo_reference_divisor(const rl_yolo_plan *plan, int32_t n_images,
                                 const rl_counts *global_counts)
{
    /* "The loss"'s D: 1 (norm sum) or the images of the whole batch. */
    return plan->heads[0].p.norm == RL_NORM_SUM ? 1.0
           : global_counts                      ? (double)global_counts->n_images
                                                : (double)n_images;
}

/* The call's result: the heads summed in order (docs/api.md, "The [yolo]
 * head", Results). */
void rl_yolo_reference_total(const rl_result *heads, const double *anyobj,
                             const int64_t *head_slots, int32_t n_heads, int64_t n_truths,
                             rl_result *tot)
{
    rl_result t;
    memset(&t, 0, sizeof t);
    double any = 0.0;
    int64_t all_slots = 0;
    for (int32_t h = 0; h < n_heads; h++) {
        const rl_result *r = &heads[h];
        t.coord += r->coord;
        t.cls += r->cls;
        t.obj += r->obj;
        t.noobj += r->noobj;
        t.loss += r->loss;
        t.n_obj += r->n_obj;
        t.n_noobj += r->n_noobj;
        t.n_conf += r->n_conf;
        t.sum_iou += r->sum_iou;
        t.n_recall50 += r->n_recall50;
        t.n_recall75 += r->n_recall75;
        t.sum_obj += r->sum_obj;
        t.sum_noobj += r->sum_noobj;
        t.sum_cls += r->sum_cls;
        const double cnt = (double)r->darknet.count;
        t.darknet.count += r->darknet.count;
        t.darknet.avg_iou += cnt * r->darknet.avg_iou;
        t.darknet.recall += cnt * r->darknet.recall;
        t.darknet.recall75 += cnt * r->darknet.recall75;
        t.darknet.avg_obj += cnt * r->darknet.avg_obj;
        t.darknet.avg_cls += cnt * r->darknet.avg_cls;
        t.darknet.cost += r->darknet.cost;
        any += anyobj[h];
        all_slots += head_slots[h];
    }
    t.n_truths = n_truths;
    t.warmup = 0.0;
    rl_finish_diagnostics(&t);
    if (t.darknet.count > 0) {
        const double cnt = (double)t.darknet.count;
        t.darknet.avg_iou /= cnt;
        t.darknet.recall /= cnt;
        t.darknet.recall75 /= cnt;
        t.darknet.avg_obj /= cnt;
        t.darknet.avg_cls /= cnt;
    }
    t.darknet.avg_anyobj = any / (double)all_slots;
    *tot = t;
}

rl_status rl_yolo_reference_compute(const rl_yolo_plan *plan, int32_t n_images,
                                    const float *const *preds, const float *const *frozen,
                                    const rl_box *truths, const int64_t *offsets,
                                    const rl_counts *global_counts, const int8_t *const *forced,
                                    rl_result *total, rl_result *per_head,
                                    const rl_yolo_ref_out *out)
{
    const int32_t n_heads = plan->n_heads;
    head_state st[RL_YOLO_MAX_HEADS];
    memset(st, 0, sizeof st);
    rl_status status = RL_OK;

    /* Pass 1: every head's decisions, from the frozen predictions. */
    for (int32_t h = 0; h < n_heads && status == RL_OK; h++) {
        head_state *s = &st[h];
        s->p = &plan->heads[h].p;
        s->pred = preds[h];
        s->frozen = frozen && frozen[h] ? frozen[h] : preds[h];
        s->forced = forced ? forced[h] : NULL;
        s->slots = s->p->HW * s->p->B;
        status = assign_head(s, h, n_images, truths, offsets);
    }
    /* Before anything is written: the class logits the loss will read. */
    for (int32_t h = 0; h < n_heads && status == RL_OK; h++)
        status = check_positive_logits(plan, &st[h], h, n_images);

    if (status == RL_OK) {
        const double D = rl_yolo_reference_divisor(plan, n_images, global_counts);
        rl_result heads[RL_YOLO_MAX_HEADS];
        double anyobj[RL_YOLO_MAX_HEADS];
        int64_t head_slots[RL_YOLO_MAX_HEADS];
        for (int32_t h = 0; h < n_heads; h++) {
            head_compute(&st[h], n_images, truths, offsets, D, out ? &out->head[h] : NULL,
                         &heads[h], &anyobj[h]);
            head_slots[h] = (int64_t)n_images * st[h].slots;
        }
        rl_result tot;
        rl_yolo_reference_total(heads, anyobj, head_slots, n_heads, offsets[n_images], &tot);
        if (total)
            *total = tot;
        if (per_head)
            memcpy(per_head, heads, (size_t)n_heads * sizeof *heads);
    }
    for (int32_t h = 0; h < n_heads; h++)
        state_free(&st[h]);
    return status;
}
