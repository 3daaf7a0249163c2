/* AlexeyAB's [region] flavour in the optimised driver (docs/darknet.md,
 * "AlexeyAB's [region] flavour"): what differs from pjreddie's layer, in
 * double, shared by every kernel variant.  The kernels run unchanged: the
 * flavour's gradient of a negative slot is pjreddie's (both carry s'), and
 * classfix -1's target reaches the grad kernel through cslope, the factor it
 * multiplies by.  What the kernels do not compute is done here plainly, slot
 * by slot: the cost over deltas that carry s', classfix's targets and class
 * terms, and the per-object terms without (2 - w*h). */
#include <math.h>

#include "driver_call.h"
#include "elem.h"

#define AB_FOCAL_ALPHA 0.5

static double slope(double z) { return rl_call_sigmoid(z) * rl_call_sigmoid(-z); }

static double at(const call *c, int64_t n, int32_t i, int32_t j, int32_t b, int32_t k)
{
    return rl_load(c->batch->pred, rl_index(c->p, n, i, j, b, k), c->p->pred_type);
}

/* The best IoU of slot (i, j, b)'s box with image n's truths; *which the
 * first truth reaching it (0 when none exceeds 0). */
static double best_truth(const call *c, int64_t n, int32_t i, int32_t j, int32_t b,
                         int64_t *which)
{
    const rl_params *p = c->p;
    const int64_t lo = c->batch->truth_offsets[n], hi = c->batch->truth_offsets[n + 1];
    const double px = j + rl_call_sigmoid(at(c, n, i, j, b, 0));
    const double py = i + rl_call_sigmoid(at(c, n, i, j, b, 1));
    const double pw = p->anchors[2 * b] * exp(at(c, n, i, j, b, 2));
    const double ph = p->anchors[2 * b + 1] * exp(at(c, n, i, j, b, 3));
    double best = 0.0;
    *which = 0;
    for (int64_t t = lo; t < hi; t++) {
        const double v = rl_call_iou(p, px, py, pw, ph, &c->batch->truths[t]);
        if (v > best) {
            best = v;
            *which = t - lo;
        }
    }
    return best;
}

void rl_ab_phase1(call *c, int64_t n)
{
    const rl_params *p = c->p;
    image_sums *s = &c->w.sums[n];
    uint8_t *kind = c->w.kind + n * c->slots;
    float *cslope = c->w.cslope ? c->w.cslope + n * c->slots : NULL;
    const double ln = p->lambda_noobj, lw = p->warmup_scale;
    int64_t nn = 0;
    double cn = 0, c2 = 0, cost = 0;
    for (int32_t b = 0; b < p->B; b++)
        for (int32_t i = 0; i < p->H; i++)
            for (int32_t j = 0; j < p->W; j++) {
                const int64_t q = ((int64_t)b * p->H + i) * p->W + j;
                if (kind[q] == RL_KIND_OBJ)
                    continue;
                const double tc = at(c, n, i, j, b, 4), cc = rl_call_sigmoid(tc);
                const double sl = slope(tc);
                double z = 0.0;
                if (p->classfix == -1) { /* every other slot a negative, target its best IoU */
                    int64_t unused;
                    z = best_truth(c, n, i, j, b, &unused);
                    kind[q] = RL_KIND_NOOBJ;
                    if (cslope)
                        cslope[q] = (float)((cc - z) * sl);
                    nn++;
                    cn += cc;
                    c2 += (cc - z) * (cc - z);
                }
                if (kind[q] == RL_KIND_NOOBJ)
                    cost += (ln * (z - cc) * sl) * (ln * (z - cc) * sl);
                if (c->warmup) {
                    const double tx = at(c, n, i, j, b, 0), ty = at(c, n, i, j, b, 1);
                    const double tw = at(c, n, i, j, b, 2), th = at(c, n, i, j, b, 3);
                    const double dx = (0.5 - rl_call_sigmoid(tx)) * slope(tx);
                    const double dy = (0.5 - rl_call_sigmoid(ty)) * slope(ty);
                    cost += lw * lw * (dx * dx + dy * dy + tw * tw + th * th);
                }
            }
    if (p->classfix == -1) {
        s->m.n_noobj = nn;
        s->m.c_noobj = cn;
        s->m.c2_noobj = c2;
    }
    s->ab_cost = cost;
    if (p->classfix > 0) { /* any slot past thresh may read its class logits */
        const int64_t cs = p->layout == RL_LAYOUT_NCHW ? p->HW : 1;
        uint32_t bad = 0;
        for (int32_t b = 0; b < p->B; b++)
            for (int32_t i = 0; i < p->H; i++)
                for (int32_t j = 0; j < p->W; j++)
                    bad |= rl_call_check_logits(c->batch->pred, rl_index(p, n, i, j, b, 5), cs,
                                                p->C, p->pred_type, NULL);
        s->nonfinite_class |= bad != 0;
    }
}

/* The class term of slot (i, j, b) with target cls (AlexeyAB's
 * delta_region_class): the gradient times gk is stored, the cost gets the
 * squares of darknet's delta times kc; returns the loss before its weight. */
static double ab_class(call *c, int64_t n, int32_t i, int32_t j, int32_t b, int32_t cls,
                       double gk, double kc, double *p_true, double *cost, obj_entry *e)
{
    const rl_params *p = c->p;
    const int acc = p->grad_mode == RL_GRAD_ACCUMULATE;
    if (p->logistic_classes) { /* softmax=0: the raw logits, squared error */
        double loss = 0.0;
        for (int32_t k = 0; k < p->C; k++) {
            const double t = at(c, n, i, j, b, 5 + k), y = k == cls ? 1.0 : 0.0;
            loss += 0.5 * (t - y) * (t - y);
            *cost += (kc * (y - t)) * (kc * (y - t));
            if (c->grad)
                rl_call_put(c->grad, p->grad_type, rl_index(p, n, i, j, b, 5 + k),
                            rl_call_mul0(gk, t - y), acc);
            if (k == cls)
                *p_true = t;
        }
        return loss;
    }
    double m = -INFINITY, sum = 0.0;
    for (int32_t k = 0; k < p->C; k++)
        m = fmax(m, at(c, n, i, j, b, 5 + k));
    for (int32_t k = 0; k < p->C; k++)
        sum += exp(at(c, n, i, j, b, 5 + k) - m);
    const double ls = log(sum);
    const double lp = (at(c, n, i, j, b, 5 + cls) - m) - ls, pt = exp(lp);
    const double f = p->focal_loss ? AB_FOCAL_ALPHA * -(1 - pt) * (2 * pt * lp + pt - 1) : 1.0;
    for (int32_t k = 0; k < p->C; k++) {
        const double pc = exp((at(c, n, i, j, b, 5 + k) - m) - ls), y = k == cls ? 1.0 : 0.0;
        *cost += (kc * f * (y - pc)) * (kc * f * (y - pc));
        if (c->grad)
            rl_call_put(c->grad, p->grad_type, rl_index(p, n, i, j, b, 5 + k),
                        rl_call_mul0(gk, f * (pc - y)), acc);
    }
    if (e) {
        e->max = m;
        e->log_sum = ls;
    }
    *p_true = pt;
    return p->focal_loss ? AB_FOCAL_ALPHA * (1 - pt) * (1 - pt) * -lp : -lp;
}

void rl_ab_objects(call *c, int64_t n)
{
    const rl_params *p = c->p;
    const int acc = p->grad_mode == RL_GRAD_ACCUMULATE;
    const int64_t lo = c->batch->truth_offsets[n], hi = c->batch->truth_offsets[n + 1];
    image_sums *s = &c->w.sums[n];
    const uint8_t *kind = c->w.kind + n * c->slots;
    obj_entry *en = c->w.entries + lo;
    const int64_t cs = p->layout == RL_LAYOUT_NCHW ? p->HW : 1;
    for (int64_t q = 0; q < c->w.n_entries[n]; q++) {
        obj_entry *e = &en[q];
        const rl_box *t = &c->batch->truths[lo + e->truth];
        const int64_t i0 = rl_index(p, n, e->i, e->j, e->b, 0);
        const double tx = at(c, n, e->i, e->j, e->b, 0), ty = at(c, n, e->i, e->j, e->b, 1);
        const double tw = at(c, n, e->i, e->j, e->b, 2), th = at(c, n, e->i, e->j, e->b, 3);
        const double tc = at(c, n, e->i, e->j, e->b, 4);
        const double aw = p->anchors[2 * e->b], ah = p->anchors[2 * e->b + 1];
        const double sx = rl_call_sigmoid(tx), sy = rl_call_sigmoid(ty), cc = rl_call_sigmoid(tc);
        const double X = (double)t->cx * p->W, Y = (double)t->cy * p->H;
        const double Wg = (double)t->w * p->W, Hg = (double)t->h * p->H;
        const double iou = rl_call_iou(p, e->j + sx, e->i + sy, aw * exp(tw), ah * exp(th), t);
        const double gx = X - e->j, gy = Y - e->i, gw = log(Wg / aw), gh = log(Hg / ah);
        const double fx = slope(tx), fy = slope(ty), fc = slope(tc);
        s->coord += 0.5 * ((sx - gx) * (sx - gx) + (sy - gy) * (sy - gy) + (tw - gw) * (tw - gw) +
                           (th - gh) * (th - gh));
        const double target = p->rescore ? iou : 1.0;
        s->obj += 0.5 * (cc - target) * (cc - target);
        const double g[5] = {rl_call_mul0(c->gkc, (sx - gx) * fx),
                             rl_call_mul0(c->gkc, (sy - gy) * fy), rl_call_mul0(c->gkc, tw - gw),
                             rl_call_mul0(c->gkc, th - gh),
                             rl_call_mul0(c->gko, (cc - target) * fc)};
        if (c->grad)
            for (int k = 0; k < 5; k++)
                rl_call_put(c->grad, p->grad_type, i0 + k * cs, g[k], acc);
        const double lc = p->lambda_coord, lo_ = p->lambda_obj;
        const double dx = (gx - sx) * fx, dy = (gy - sy) * fy, dc = (target - cc) * fc;
        s->cost_obj += lc * lc * (dx * dx + dy * dy + (gw - tw) * (gw - tw) + (gh - th) * (gh - th)) +
                       lo_ * lo_ * dc * dc;
        double p_true = 0.0;
        s->cls += ab_class(c, n, e->i, e->j, e->b, t->cls, c->gkp, p->lambda_class, &p_true,
                           &s->cost_obj, e);
        if (p->classfix > 0) { /* darknet's Class counts classfix's term here too,
                                  although the truth's class term overwrites it */
            int64_t bt;
            if (best_truth(c, n, e->i, e->j, e->b, &bt) > p->thresh) {
                const double tb = at(c, n, e->i, e->j, e->b, 5 + c->batch->truths[lo + bt].cls);
                s->dn_cls += p->logistic_classes ? tb : exp((tb - e->max) - e->log_sum);
                s->ab_class_slots++;
            }
        }
        s->sum_iou += iou;
        s->n_r50 += iou > 0.5;
        s->n_r75 += iou > 0.75;
        s->sum_obj += cc;
        s->sum_cls += p_true;
    }

    /* classfix 1, 2: a slot past thresh learns its best truth's class,
     * weighted by c^ (a constant, as in darknet) for 2 */
    if (p->classfix > 0)
        for (int32_t b = 0; b < p->B; b++)
            for (int32_t i = 0; i < p->H; i++)
                for (int32_t j = 0; j < p->W; j++) {
                    if (kind[((int64_t)b * p->H + i) * p->W + j] != RL_KIND_IGNORED)
                        continue;
                    int64_t bt;
                    best_truth(c, n, i, j, b, &bt);
                    const double wc =
                        p->classfix == 2 ? rl_call_sigmoid(at(c, n, i, j, b, 4)) : 1.0;
                    double p_true = 0.0;
                    s->cls += wc * ab_class(c, n, i, j, b, c->batch->truths[lo + bt].cls,
                                            rl_call_mul0(c->gkp, wc), p->lambda_class * wc,
                                            &p_true, &s->ab_cost, NULL);
                    s->dn_cls += p_true; /* darknet's Class averages these too */
                    s->ab_class_slots++;
                }

    /* Darknet's per-truth statistics (as pjreddie's flavour; see driver.c) */
    for (int64_t tt = lo; tt < hi; tt++) {
        const rl_box *t = &c->batch->truths[tt];
        int32_t i = 0, j = 0, b = 0;
        rl_call_assign_one(p, t, &i, &j, &b);
        const double px = j + rl_call_sigmoid(at(c, n, i, j, b, 0));
        const double py = i + rl_call_sigmoid(at(c, n, i, j, b, 1));
        const double iou = rl_call_iou(p, px, py, p->anchors[2 * b] * exp(at(c, n, i, j, b, 2)),
                                 p->anchors[2 * b + 1] * exp(at(c, n, i, j, b, 3)), t);
        s->dn_iou += iou;
        s->dn_r50 += iou > 0.5;
        s->dn_r75 += iou > 0.75;
        s->dn_obj += rl_call_sigmoid(at(c, n, i, j, b, 4));
        const double tcl = at(c, n, i, j, b, 5 + t->cls);
        if (p->logistic_classes) {
            s->dn_cls += tcl;
        } else {
            const int32_t kidx = (b * p->H + i) * p->W + j;
            const obj_entry *slot = NULL;
            for (int64_t q = 0; q < c->w.n_entries[n]; q++)
                if (en[q].kidx == kidx)
                    slot = &en[q];
            s->dn_cls += exp((tcl - slot->max) - slot->log_sum);
        }
    }
}
