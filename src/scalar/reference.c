/* The reference: docs/loss.md's region loss in double precision, one slot
 * at a time.  Built with -ffp-contract=off so that its rounding does not
 * depend on the compiler's choice to fuse multiply-adds.  Names in quotes in
 * comments are docs/loss.md's paragraphs; "issue 5" is the darknet mode's
 * definition (docs/darknet.md). */
#include "reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

/* s'(z) = s(z)(1 - s(z)) written as s(z)s(-z): the same number, without the
 * cancellation of 1 - s(z) when s(z) is close to 1. */
static double sigmoid_slope(double z) { return sigmoid(z) * sigmoid(-z); }

typedef struct box {
    double x, y, w, h;
} box;

/* "Decoding, in grid cells": IoU of centre/size boxes; a box whose area is
 * zero, infinite or undefined has IoU 0 with everything. */
static double box_iou(box a, box b)
{
    double area_a = a.w * a.h, area_b = b.w * b.h;
    if (!(area_a > 0.0) || isinf(area_a) || !(area_b > 0.0) || isinf(area_b))
        return 0.0;
    double ox = fmin(a.x + a.w / 2, b.x + b.w / 2) - fmax(a.x - a.w / 2, b.x - b.w / 2);
    double oy = fmin(a.y + a.h / 2, b.y + b.h / 2) - fmax(a.y - a.h / 2, b.y - b.h / 2);
    double inter = fmax(0.0, ox) * fmax(0.0, oy);
    double uni = area_a + area_b - inter;
    if (!(uni > 0.0))
        return 0.0;
    return inter / uni;
}

/* "Responsible slots": both boxes centred at the origin. */
static double shape_iou(double w1, double h1, double w2, double h2)
{
    box a = {0, 0, w1, h1}, b = {0, 0, w2, h2};
    return box_iou(a, b);
}

typedef struct truth_g {
    box g;       /* X, Y, Wg, Hg in grid units */
    double w, h; /* normalised size (darknet's coordinate scale) */
    int32_t cls;
    int32_t i, j, b; /* the responsible slot */
} truth_g;

static truth_g truth_in_grid(const rl_params *p, const rl_box *t)
{
    truth_g r;
    r.g.x = (double)t->cx * p->W;
    r.g.y = (double)t->cy * p->H;
    r.g.w = (double)t->w * p->W;
    r.g.h = (double)t->h * p->H;
    r.w = t->w;
    r.h = t->h;
    r.cls = t->cls;
    double fj = floor(r.g.x), fi = floor(r.g.y);
    r.j = fj > p->W - 1 ? p->W - 1 : (int32_t)fj;
    r.i = fi > p->H - 1 ? p->H - 1 : (int32_t)fi;
    double best = -1.0;
    r.b = 0;
    for (int32_t b = 0; b < p->B; b++) {
        double iou = shape_iou(r.g.w, r.g.h, p->anchors[2 * b], p->anchors[2 * b + 1]);
        if (iou > best) { /* strict: ties go to the smaller b */
            best = iou;
            r.b = b;
        }
    }
    return r;
}

/* "Decoding, in grid cells": the box of slot (n, i, j, b). */
static box decode(const rl_params *p, const float *pred, int64_t n, int32_t i, int32_t j,
                  int32_t b)
{
    box d;
    d.x = j + sigmoid(pred[rl_index(p, n, i, j, b, 0)]);
    d.y = i + sigmoid(pred[rl_index(p, n, i, j, b, 1)]);
    d.w = p->anchors[2 * b] * exp((double)pred[rl_index(p, n, i, j, b, 2)]);
    d.h = p->anchors[2 * b + 1] * exp((double)pred[rl_index(p, n, i, j, b, 3)]);
    return d;
}

typedef struct image_plan {
    int64_t *owner;     /* per slot of this image: index of the truth it holds, or -1 */
    double *best;       /* per slot: best IoU */
    int8_t *kind;       /* per slot */
    truth_g *truths;    /* this image's truths, in grid units */
} image_plan;

static int64_t slot_of(const rl_params *p, int32_t i, int32_t j, int32_t b)
{
    return ((int64_t)i * p->W + j) * p->B + b;
}

/* "Responsible slots" and "Background slots" (and issue 5 point 4 in
 * darknet mode) for image n. */
static void plan_image(const rl_params *p, const rl_batch *batch, const float *frozen,
                       const int8_t *forced, int64_t n, image_plan *ip, rl_counts *counts)
{
    const int64_t lo = batch->truth_offsets[n], hi = batch->truth_offsets[n + 1];
    const int64_t slots = p->HW * p->B;
    for (int64_t s = 0; s < slots; s++)
        ip->owner[s] = -1;
    for (int64_t t = lo; t < hi; t++) {
        ip->truths[t - lo] = truth_in_grid(p, &batch->truths[t]);
        const truth_g *g = &ip->truths[t - lo];
        ip->owner[slot_of(p, g->i, g->j, g->b)] = t - lo; /* a later truth replaces */
    }
    for (int32_t i = 0; i < p->H; i++)
        for (int32_t j = 0; j < p->W; j++)
            for (int32_t b = 0; b < p->B; b++) {
                int64_t s = slot_of(p, i, j, b);
                box d = decode(p, frozen, n, i, j, b);
                double best = 0.0;
                for (int64_t t = 0; t < hi - lo; t++) {
                    double iou = box_iou(d, ip->truths[t].g);
                    if (iou > best)
                        best = iou;
                }
                ip->best[s] = best;
                int noobj = p->mode == RL_MODE_SPEC ? best < p->thresh : best <= p->thresh;
                if (forced && forced[n * slots + s] >= 0)
                    noobj = forced[n * slots + s] == RL_SLOT_NOOBJ;
                if (p->classfix == -1) /* AlexeyAB: target best IoU, nothing ignored */
                    noobj = 1;
                if (ip->owner[s] >= 0) {
                    ip->kind[s] = RL_SLOT_OBJ;
                    counts->n_obj++;
                } else if (noobj) {
                    ip->kind[s] = RL_SLOT_NOOBJ;
                    counts->n_noobj++;
                } else {
                    ip->kind[s] = RL_SLOT_IGNORED;
                }
            }
}

typedef struct scratch {
    image_plan *images;
    int64_t *owner;
    double *best;
    int8_t *kind;
    truth_g *truths;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->images);
    free(s->owner);
    free(s->best);
    free(s->kind);
    free(s->truths);
}

/* Every image's assignment and masks, kept for the loss pass. */
static rl_status plan_batch(const rl_params *p, const rl_batch *batch, const float *frozen,
                            const int8_t *forced, scratch *s, rl_counts *counts)
{
    const int64_t N = batch->n_images, slots = p->HW * p->B;
    const int64_t nt = batch->truth_offsets[N];
    memset(s, 0, sizeof *s);
    memset(counts, 0, sizeof *counts);
    s->images = calloc((size_t)N, sizeof *s->images);
    s->owner = malloc((size_t)(N * slots) * sizeof *s->owner);
    s->best = malloc((size_t)(N * slots) * sizeof *s->best);
    s->kind = malloc((size_t)(N * slots) * sizeof *s->kind);
    s->truths = malloc((size_t)(nt > 0 ? nt : 1) * sizeof *s->truths);
    if (!s->images || !s->owner || !s->best || !s->kind || !s->truths) {
        scratch_free(s);
        return rl_fail(RL_ERR_NO_MEMORY, "reference: out of memory for %lld slots",
                       (long long)(N * slots));
    }
    counts->n_images = N;
    for (int64_t n = 0; n < N; n++) {
        image_plan *ip = &s->images[n];
        ip->owner = s->owner + n * slots;
        ip->best = s->best + n * slots;
        ip->kind = s->kind + n * slots;
        ip->truths = s->truths + batch->truth_offsets[n];
        plan_image(p, batch, frozen, forced, n, ip, counts);
    }
    counts->n_conf = counts->n_obj + counts->n_noobj;
    return RL_OK;
}

rl_status rl_reference_count(const rl_params *p, const rl_batch *in, rl_counts *counts)
{
    rl_batch kept; /* AlexeyAB's flavour skips truths of a class >= C */
    void *owned;
    rl_status st = rl_flavour_batch(p, in, &kept, &owned);
    scratch s;
    if (st == RL_OK)
        st = plan_batch(p, &kept, kept.pred, NULL, &s, counts);
    if (st == RL_OK)
        scratch_free(&s);
    free(owned);
    return st;
}

/* "Spec mode" ("a term whose divisor is 0 is 0") and issue 5 point 7. */
static double weight(double lambda, double divisor)
{
    return divisor > 0 ? lambda / divisor : 0.0;
}

/* A weight of 0 removes its term exactly.  For finite logits w^ = aw e^tw
 * can overflow (its square for tw > ~355, w^ itself for tw > ~710), and
 * 0 * inf is NaN where the term is 0 ("What every call keeps": finite inputs
 * never give NaN).  A positive weight keeps the overflow: inf is the rounded
 * value. */
static double weighted(double k, double v) { return k == 0.0 ? 0.0 : k * v; }

typedef struct grad_sink {
    const rl_params *p;
    const rl_ref_out *out;
} grad_sink;

static void put(const grad_sink *g, int64_t idx, double v)
{
    if (g->out && g->out->grad)
        g->out->grad[idx] = v;
    if (g->out && g->out->touched)
        g->out->touched[idx] = 1;
}

/* Softmax over the C class logits of a slot as log p^[c] = (t_c - m) -
 * log(sum), with m the largest logit.  Kept as two numbers: folding them into
 * one log-sum-exp m + log(sum) loses log(sum) entirely once |m| exceeds
 * about 2^53 * log(sum), and every probability then comes out as 1. */
typedef struct class_lse {
    double m, log_sum;
} class_lse_t;

static class_lse_t class_lse(const rl_params *p, const float *pred, int64_t n, int32_t i,
                             int32_t j, int32_t b)
{
    double m = -INFINITY;
    for (int32_t c = 0; c < p->C; c++)
        m = fmax(m, pred[rl_index(p, n, i, j, b, 5 + c)]);
    double sum = 0.0;
    for (int32_t c = 0; c < p->C; c++)
        sum += exp(pred[rl_index(p, n, i, j, b, 5 + c)] - m);
    return (class_lse_t){m, log(sum)};
}

static double log_prob(class_lse_t l, double t) { return (t - l.m) - l.log_sum; }

/* The class term of a responsible slot: returns the loss before its weight
 * and writes weight * gradient; *p_true gets the probability of cls. */
static double class_term(const rl_params *p, const float *pred, const grad_sink *g, int64_t n,
                         int32_t i, int32_t j, int32_t b, int32_t cls, double k,
                         double *p_true)
{
    if (p->mode == RL_MODE_DARKNET && p->logistic_classes) {
        /* issue 5 point 5: 1/2 sum_c (s(t_c) - [c == cls])^2 */
        double loss = 0.0;
        for (int32_t c = 0; c < p->C; c++) {
            int64_t idx = rl_index(p, n, i, j, b, 5 + c);
            double s = sigmoid(pred[idx]), y = c == cls ? 1.0 : 0.0;
            loss += 0.5 * (s - y) * (s - y);
            /* class_update (the darknet adapter): darknet's update, without s' */
            put(g, idx, p->class_update ? k * (s - y) : k * (s - y) * sigmoid_slope(pred[idx]));
            if (c == cls)
                *p_true = s;
        }
        return loss;
    }
    const class_lse_t lse = class_lse(p, pred, n, i, j, b);
    for (int32_t c = 0; c < p->C; c++) {
        int64_t idx = rl_index(p, n, i, j, b, 5 + c);
        double pc = exp(log_prob(lse, pred[idx])), y = c == cls ? 1.0 : 0.0;
        put(g, idx, k * (pc - y));
    }
    const double lp = log_prob(lse, pred[rl_index(p, n, i, j, b, 5 + cls)]);
    *p_true = exp(lp);
    return -lp; /* -log p^[cls] */
}

/* AlexeyAB's class term of a slot ("AlexeyAB's [region] flavour" in
 * docs/darknet.md): softmax cross-entropy, or with focal_loss alpha (1 -
 * p)^2 (-log p) whose gradient is darknet's delta exactly, or with
 * softmax=0 (logistic_classes) squared error on the raw logits, which that
 * layer leaves unactivated.  k weights the gradient, kc (unnormalised)
 * darknet's delta in the cost.  Returns the loss before k. */
#define AB_FOCAL_ALPHA 0.5
static double ab_class_term(const rl_params *p, const float *pred, const grad_sink *g, int64_t n,
                            int32_t i, int32_t j, int32_t b, int32_t cls, double k, double kc,
                            double *p_true, double *cost)
{
    if (p->logistic_classes) {
        double loss = 0.0;
        for (int32_t c = 0; c < p->C; c++) {
            int64_t idx = rl_index(p, n, i, j, b, 5 + c);
            double t = pred[idx], y = c == cls ? 1.0 : 0.0;
            loss += 0.5 * (t - y) * (t - y);
            put(g, idx, weighted(k, t - y));
            *cost += (kc * (y - t)) * (kc * (y - t));
            if (c == cls)
                *p_true = t;
        }
        return loss;
    }
    const class_lse_t lse = class_lse(p, pred, n, i, j, b);
    const double lp = log_prob(lse, pred[rl_index(p, n, i, j, b, 5 + cls)]);
    const double pt = exp(lp);
    /* focal: the factor alpha g(pt) of darknet's delta, g = -(1 - pt)(2 pt
     * log pt + pt - 1); pt log pt from the finite log, so 0 when pt underflows */
    const double f = p->focal_loss ? AB_FOCAL_ALPHA * -(1 - pt) * (2 * pt * lp + pt - 1) : 1.0;
    for (int32_t c = 0; c < p->C; c++) {
        int64_t idx = rl_index(p, n, i, j, b, 5 + c);
        double pc = exp(log_prob(lse, pred[idx])), y = c == cls ? 1.0 : 0.0;
        put(g, idx, weighted(k, f * (pc - y)));
        *cost += (kc * f * (y - pc)) * (kc * f * (y - pc));
    }
    *p_true = pt;
    return p->focal_loss ? AB_FOCAL_ALPHA * (1 - pt) * (1 - pt) * -lp : -lp;
}

/* The truth of image n whose IoU with slot (i, j, b)'s box is the best,
 * the first of equal ones (darknet's strict > from 0; 0 when none overlaps). */
static int64_t best_truth(const rl_params *p, const rl_batch *batch, const float *frozen,
                          const image_plan *ip, int64_t n, int32_t i, int32_t j, int32_t b)
{
    const box d = decode(p, frozen, n, i, j, b);
    const int64_t nt = batch->truth_offsets[n + 1] - batch->truth_offsets[n];
    double best = 0.0;
    int64_t which = 0;
    for (int64_t t = 0; t < nt; t++) {
        const double iou = box_iou(d, ip->truths[t].g);
        if (iou > best) {
            best = iou;
            which = t;
        }
    }
    return which;
}

/* Sums of one batch before weighting, one per loss part. */
typedef struct part_sums {
    double coord, cls, obj, noobj, warmup;
    int64_t class_slots; /* AlexeyAB's classfix class terms at slots past thresh */
} part_sums;

static void spec_slot(const rl_params *p, const rl_batch *batch, const float *frozen,
                      const grad_sink *g,
                      const image_plan *ip, int64_t n, int32_t i, int32_t j, int32_t b,
                      const double k[4], part_sums *ps, rl_result *r)
{
    const float *pred = batch->pred;
    const int64_t s = slot_of(p, i, j, b);
    const double tc = pred[rl_index(p, n, i, j, b, 4)];
    const double c = sigmoid(tc);
    if (ip->kind[s] == RL_SLOT_NOOBJ) {
        ps->noobj += c * c;
        put(g, rl_index(p, n, i, j, b, 4), k[3] * 2 * c * sigmoid_slope(tc));
        r->sum_noobj += c;
        return;
    }
    if (ip->kind[s] != RL_SLOT_OBJ)
        return;
    const truth_g *t = &ip->truths[ip->owner[s]];
    const box d = decode(p, pred, n, i, j, b);
    const double tx = pred[rl_index(p, n, i, j, b, 0)], ty = pred[rl_index(p, n, i, j, b, 1)];
    ps->coord += (t->g.x - d.x) * (t->g.x - d.x) + (t->g.y - d.y) * (t->g.y - d.y) +
                 (t->g.w - d.w) * (t->g.w - d.w) + (t->g.h - d.h) * (t->g.h - d.h);
    put(g, rl_index(p, n, i, j, b, 0), k[0] * 2 * (d.x - t->g.x) * sigmoid_slope(tx));
    put(g, rl_index(p, n, i, j, b, 1), k[0] * 2 * (d.y - t->g.y) * sigmoid_slope(ty));
    put(g, rl_index(p, n, i, j, b, 2), k[0] == 0.0 ? 0.0 : k[0] * 2 * (d.w - t->g.w) * d.w);
    put(g, rl_index(p, n, i, j, b, 3), k[0] == 0.0 ? 0.0 : k[0] * 2 * (d.h - t->g.h) * d.h);

    /* A constant target: no gradient flows through it ("Spec mode"). */
    const double iou = box_iou(decode(p, frozen, n, i, j, b), t->g);
    if (g->out && g->out->obj_iou)
        g->out->obj_iou[n * p->HW * p->B + s] = iou;
    ps->obj += (iou - c) * (iou - c);
    put(g, rl_index(p, n, i, j, b, 4), k[2] * 2 * (c - iou) * sigmoid_slope(tc));

    double p_true = 0.0;
    ps->cls += class_term(p, pred, g, n, i, j, b, t->cls, k[1], &p_true);

    r->sum_iou += iou;
    r->n_recall50 += iou > 0.5;
    r->n_recall75 += iou > 0.75;
    r->sum_obj += c;
    r->sum_cls += p_true;
}

/* Issue 5: darknet's region layer, every slot of image n.  k = {coord,
 * class, object, noobject, warm-up} scales after the optional division. */
static void darknet_slot(const rl_params *p, const rl_batch *batch, const float *frozen,
                         const grad_sink *g,
                         const image_plan *ip, int64_t n, int32_t i, int32_t j, int32_t b,
                         const double k[5], int warmup, part_sums *ps, rl_result *r)
{
    const float *pred = batch->pred;
    const int64_t s = slot_of(p, i, j, b);
    const double tx = pred[rl_index(p, n, i, j, b, 0)], ty = pred[rl_index(p, n, i, j, b, 1)];
    const double tw = pred[rl_index(p, n, i, j, b, 2)], th = pred[rl_index(p, n, i, j, b, 3)];
    const double tc = pred[rl_index(p, n, i, j, b, 4)];
    const double sx = sigmoid(tx), sy = sigmoid(ty), c = sigmoid(tc);
    double *cost = &r->darknet.cost;
    const double unscaled_k_w = p->warmup_scale, unscaled_noobj = p->lambda_noobj;
    r->darknet.avg_anyobj += c; /* averaged at the end */

    /* AlexeyAB's deltas carry s' on x, y and objectness, and its cost is
     * their squares: these factors are 1 in pjreddie's flavour */
    const int ab = p->flavour == RL_FLAVOUR_ALEXEYAB;
    const double fx = ab ? sigmoid_slope(tx) : 1.0, fy = ab ? sigmoid_slope(ty) : 1.0;
    const double fc = ab ? sigmoid_slope(tc) : 1.0;

    if (ip->kind[s] != RL_SLOT_OBJ) {
        if (ip->kind[s] == RL_SLOT_NOOBJ) {
            /* classfix -1: the target is the slot's best IoU (a constant) */
            const double z = p->classfix == -1 ? ip->best[s] : 0.0;
            ps->noobj += 0.5 * (c - z) * (c - z);
            put(g, rl_index(p, n, i, j, b, 4), k[3] * (c - z) * sigmoid_slope(tc));
            *cost += (unscaled_noobj * (z - c) * fc) * (unscaled_noobj * (z - c) * fc);
            r->sum_noobj += c;
        } else if (p->classfix > 0) {
            /* AlexeyAB's classfix 1, 2: a slot past thresh learns the class of
             * its best truth (first of equal IoUs), weighted by c^ (held
             * constant) for 2 */
            const int64_t bt = best_truth(p, batch, frozen, ip, n, i, j, b);
            const double wc = p->classfix == 2 ? c : 1.0;
            double p_true = 0.0;
            ps->cls += wc * ab_class_term(p, pred, g, n, i, j, b, ip->truths[bt].cls,
                                          k[1] * wc, p->lambda_class * wc, &p_true, cost);
            r->darknet.avg_cls += p_true; /* darknet's Class averages these too */
            ps->class_slots++;
        }
        if (warmup) {
            /* targets: s(tx) = s(ty) = 0.5 (cell centre), tw = th = 0 (the prior) */
            ps->warmup += 0.5 * ((sx - 0.5) * (sx - 0.5) + (sy - 0.5) * (sy - 0.5) +
                                 tw * tw + th * th);
            put(g, rl_index(p, n, i, j, b, 0), k[4] * (sx - 0.5) * sigmoid_slope(tx));
            put(g, rl_index(p, n, i, j, b, 1), k[4] * (sy - 0.5) * sigmoid_slope(ty));
            put(g, rl_index(p, n, i, j, b, 2), k[4] * tw);
            put(g, rl_index(p, n, i, j, b, 3), k[4] * th);
            *cost += unscaled_k_w * unscaled_k_w *
                     ((0.5 - sx) * (0.5 - sx) * fx * fx + (0.5 - sy) * (0.5 - sy) * fy * fy +
                      tw * tw + th * th);
        }
        return;
    }

    const truth_g *t = &ip->truths[ip->owner[s]];
    /* times coord_scale, folded into k[0]; AlexeyAB has coord_scale alone */
    const double sc = ab ? 1.0 : 2.0 - t->w * t->h;
    const double gx = t->g.x - j, gy = t->g.y - i;
    const double gw = log(t->g.w / p->anchors[2 * b]), gh = log(t->g.h / p->anchors[2 * b + 1]);
    ps->coord += sc * 0.5 *
                 ((sx - gx) * (sx - gx) + (sy - gy) * (sy - gy) + (tw - gw) * (tw - gw) +
                  (th - gh) * (th - gh));
    put(g, rl_index(p, n, i, j, b, 0), k[0] * sc * (sx - gx) * sigmoid_slope(tx));
    put(g, rl_index(p, n, i, j, b, 1), k[0] * sc * (sy - gy) * sigmoid_slope(ty));
    put(g, rl_index(p, n, i, j, b, 2), k[0] * sc * (tw - gw));
    put(g, rl_index(p, n, i, j, b, 3), k[0] * sc * (th - gh));
    const double dsc = p->lambda_coord * sc;
    *cost += dsc * dsc * ((gx - sx) * (gx - sx) * fx * fx + (gy - sy) * (gy - sy) * fy * fy +
                          (gw - tw) * (gw - tw) + (gh - th) * (gh - th));

    const double iou = box_iou(decode(p, frozen, n, i, j, b), t->g); /* constant */
    if (g->out && g->out->obj_iou)
        g->out->obj_iou[n * p->HW * p->B + s] = iou;
    const double target = p->rescore ? iou : 1.0;
    ps->obj += 0.5 * (c - target) * (c - target);
    put(g, rl_index(p, n, i, j, b, 4), k[2] * (c - target) * sigmoid_slope(tc));
    *cost += (p->lambda_obj * (target - c) * fc) * (p->lambda_obj * (target - c) * fc);

    double p_true = 0.0;
    if (ab) {
        ps->cls += ab_class_term(p, pred, g, n, i, j, b, t->cls, k[1], p->lambda_class, &p_true,
                                 cost);
        if (p->classfix > 0 && ip->best[s] > p->thresh) {
            /* darknet's Class counts classfix's term at this slot too, though
             * the truth's class term then overwrites its deltas */
            const int64_t bt = best_truth(p, batch, frozen, ip, n, i, j, b);
            const double tb = pred[rl_index(p, n, i, j, b, 5 + ip->truths[bt].cls)];
            r->darknet.avg_cls += p->logistic_classes
                                      ? tb
                                      : exp(log_prob(class_lse(p, pred, n, i, j, b), tb));
            ps->class_slots++;
        }
        r->sum_iou += iou;
        r->n_recall50 += iou > 0.5;
        r->n_recall75 += iou > 0.75;
        r->sum_obj += c;
        r->sum_cls += p_true;
        return;
    }
    ps->cls += class_term(p, pred, g, n, i, j, b, t->cls, k[1], &p_true);
    /* darknet's class deltas: class_scale * ([c == cls] - o_c) */
    const class_lse_t lse = p->logistic_classes ? (class_lse_t){0.0, 0.0}
                                                : class_lse(p, pred, n, i, j, b);
    for (int32_t cc = 0; cc < p->C; cc++) {
        double t_c = pred[rl_index(p, n, i, j, b, 5 + cc)];
        double o = p->logistic_classes ? sigmoid(t_c) : exp(log_prob(lse, t_c));
        double dlt = p->lambda_class * ((cc == t->cls ? 1.0 : 0.0) - o);
        *cost += dlt * dlt;
    }

    r->sum_iou += iou;
    r->n_recall50 += iou > 0.5;
    r->n_recall75 += iou > 0.75;
    r->sum_obj += c;
    r->sum_cls += p_true;
}

/* Issue 5 point 9: darknet's per-truth statistics; a replaced truth still
 * counts, measured against the prediction of the slot it was assigned. */
static void darknet_truth_stats(const rl_params *p, const rl_batch *batch,
                                const image_plan *ip, int64_t n, int64_t nt, rl_result *r)
{
    const float *pred = batch->pred; /* float: half inputs arrive widened */
    for (int64_t t = 0; t < nt; t++) {
        const truth_g *g = &ip->truths[t];
        box d = decode(p, pred, n, g->i, g->j, g->b);
        double iou = box_iou(d, g->g);
        r->darknet.avg_iou += iou;
        r->darknet.recall += iou > 0.5;
        r->darknet.recall75 += iou > 0.75;
        r->darknet.avg_obj += sigmoid(pred[rl_index(p, n, g->i, g->j, g->b, 4)]);
        double pt;
        int64_t idx = rl_index(p, n, g->i, g->j, g->b, 5 + g->cls);
        if (p->logistic_classes)
            /* AlexeyAB's softmax=0 outputs are the raw logits */
            pt = p->flavour == RL_FLAVOUR_ALEXEYAB ? (double)pred[idx] : sigmoid(pred[idx]);
        else
            pt = exp(log_prob(class_lse(p, pred, n, g->i, g->j, g->b), pred[idx]));
        r->darknet.avg_cls += pt;
        r->darknet.count++;
    }
}

rl_status rl_reference_compute(const rl_params *p, const rl_batch *batch, const float *frozen,
                               rl_result *res, const rl_ref_out *out)
{
    return rl_reference_compute_forced(p, batch, frozen, NULL, res, out);
}

static rl_status compute_forced(const rl_params *p, const rl_batch *batch, const float *frozen,
                                const int8_t *forced, rl_result *res, const rl_ref_out *out);

rl_status rl_reference_compute_forced(const rl_params *p, const rl_batch *in,
                                      const float *frozen, const int8_t *forced,
                                      rl_result *res, const rl_ref_out *out)
{
    rl_batch kept; /* AlexeyAB's flavour skips truths of a class >= C */
    void *owned;
    rl_status st = rl_flavour_batch(p, in, &kept, &owned);
    if (st == RL_OK)
        st = compute_forced(p, &kept, frozen, forced, res, out);
    free(owned);
    return st;
}

static rl_status compute_forced(const rl_params *p, const rl_batch *batch, const float *frozen,
                                const int8_t *forced, rl_result *res, const rl_ref_out *out)
{
    scratch s;
    rl_counts own;
    if (!frozen)
        frozen = batch->pred;
    rl_status st = plan_batch(p, batch, frozen, forced, &s, &own);
    if (st != RL_OK)
        return st;

    const int64_t N = batch->n_images, slots = p->HW * p->B;
    rl_result r;
    memset(&r, 0, sizeof r);
    r.n_obj = own.n_obj;
    r.n_noobj = own.n_noobj;
    r.n_conf = own.n_conf;
    r.n_truths = batch->truth_offsets[N];

    /* Divisors: "Spec mode" (counts), sum mode, or images; sharded callers
     * pass the whole batch's counts. */
    const rl_counts *nc = batch->global_counts ? batch->global_counts : &own;
    double div_obj = 1.0, div_conf = 1.0;
    if (p->norm == RL_NORM_COUNTS) {
        div_obj = (double)nc->n_obj;
        div_conf = (double)nc->n_conf;
    } else if (p->norm == RL_NORM_IMAGES) {
        div_obj = div_conf = (double)nc->n_images;
    }

    if (out && out->grad)
        memset(out->grad, 0, (size_t)(N * p->per_image) * sizeof *out->grad);
    if (out && out->touched)
        memset(out->touched, 0, (size_t)(N * p->per_image));
    if (out && out->obj_iou)
        memset(out->obj_iou, 0, (size_t)(N * slots) * sizeof *out->obj_iou);
    grad_sink g = {p, out};
    part_sums ps = {0, 0, 0, 0, 0, 0};

    if (p->mode == RL_MODE_SPEC) {
        const double k[4] = {weight(p->lambda_coord, div_obj), weight(p->lambda_class, div_obj),
                             weight(p->lambda_obj, div_conf), weight(p->lambda_noobj, div_conf)};
        for (int64_t n = 0; n < N; n++)
            for (int32_t i = 0; i < p->H; i++)
                for (int32_t j = 0; j < p->W; j++)
                    for (int32_t b = 0; b < p->B; b++)
                        spec_slot(p, batch, frozen, &g, &s.images[n], n, i, j, b, k, &ps, &r);
        r.coord = weighted(k[0], ps.coord);
        r.cls = weighted(k[1], ps.cls);
        r.obj = weighted(k[2], ps.obj);
        r.noobj = weighted(k[3], ps.noobj);
    } else {
        /* Darknet sums everything; the optional division is by images. */
        const double k[5] = {weight(p->lambda_coord, div_obj), weight(p->lambda_class, div_obj),
                             weight(p->lambda_obj, div_obj), weight(p->lambda_noobj, div_obj),
                             weight(p->warmup_scale, div_obj)};
        const int warmup = batch->seen < p->warmup_seen;
        for (int64_t n = 0; n < N; n++) {
            for (int32_t i = 0; i < p->H; i++)
                for (int32_t j = 0; j < p->W; j++)
                    for (int32_t b = 0; b < p->B; b++)
                        darknet_slot(p, batch, frozen, &g, &s.images[n], n, i, j, b, k, warmup, &ps, &r);
            darknet_truth_stats(p, batch, &s.images[n],
                                n, batch->truth_offsets[n + 1] - batch->truth_offsets[n], &r);
        }
        r.coord = weighted(k[0], ps.coord);
        r.cls = weighted(k[1], ps.cls);
        r.obj = weighted(k[2], ps.obj);
        r.noobj = weighted(k[3], ps.noobj);
        r.warmup = weighted(k[4], ps.warmup);
        if (r.darknet.count > 0) {
            double cnt = (double)r.darknet.count;
            r.darknet.avg_iou /= cnt;
            r.darknet.recall /= cnt;
            r.darknet.recall75 /= cnt;
            r.darknet.avg_obj /= cnt;
        }
        if (r.darknet.count + ps.class_slots > 0)
            r.darknet.avg_cls /= (double)(r.darknet.count + ps.class_slots);
        r.darknet.avg_anyobj /= (double)(N * slots);
    }
    r.loss = r.coord + r.cls + r.obj + r.noobj + r.warmup;
    rl_finish_diagnostics(&r);

    if (out && out->best_iou)
        memcpy(out->best_iou, s.best, (size_t)(N * slots) * sizeof *s.best);
    if (out && out->slot_kind)
        memcpy(out->slot_kind, s.kind, (size_t)(N * slots));
    scratch_free(&s);
    *res = r;
    return RL_OK;
}
