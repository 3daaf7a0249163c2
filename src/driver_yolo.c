/* What the [yolo] head adds to the optimised driver (driver.c runs the
 * phases both losses share: assignment, the mask/stream kernels, the
 * gradient kernel, the reductions).  Here:
 *   - the network's heads in one call: the truths matched to their anchor
 *     once, phase 1 of every (head, image) on the pool, then phase 2;
 *   - truth_thresh, whose positives depend on the predictions;
 *   - the per-object terms: BCE on x, y and the classes (independent
 *     logistics, multi-label), squared error on w, h in log space, BCE
 *     objectness, in double (there are few objects);
 *   - darknet's statistics of forward_yolo_layer.
 * The mask and stream kernels decode each head's slots in grid cells with
 * the head's anchors converted to cells: IoU does not change when each
 * axis is scaled, so the decisions are those of docs/loss.md's image units. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "box_xiou.h"
#include "driver_call.h"
#include "elem.h"
#include "pool.h"

size_t rl_yolo_ws_extra(const rl_params *p, int64_t N, int64_t nt)
{
    size_t b = align_up((size_t)nt * sizeof(int32_t)) + align_up((size_t)(N * p->C));
    if (p->ab) /* its own truth_thresh */
        return b + rl_yolo_ab_ws_extra(p, N, nt);
    if (p->truth_thresh < 1.0)
        b += 2 * align_up((size_t)(N * p->HW * p->B) * sizeof(int32_t));
    return b;
}

void rl_yolo_ws_carve(const rl_params *p, int64_t N, int64_t nt, uintptr_t *a, workspace *w)
{
    w->tkidx = (int32_t *)*a;
    *a += align_up((size_t)nt * sizeof(int32_t));
    w->ylabel = (uint8_t *)*a;
    *a += align_up((size_t)(N * p->C));
    if (p->ab)
        rl_yolo_ab_ws_carve(p, N, nt, a, w);
    else if (p->truth_thresh < 1.0) {
        const size_t slots = (size_t)(N * p->HW * p->B) * sizeof(int32_t);
        w->tt_kidx = (int32_t *)*a;
        *a += align_up(slots);
        w->tt_truth = (int32_t *)*a;
        *a += align_up(slots);
    }
}

static double pred_at(const call *c, int64_t idx)
{
    return rl_load(c->batch->pred, idx, c->p->pred_type);
}

/* log(1 + e^z) = -log(1 - s(z)) = -log s(-z), without overflow or cancellation. */
static double softplus(double z) { return fmax(z, 0.0) + log1p(exp(-fabs(z))); }

/* Slot (n, i, j, b)'s decoded box in image units, and its IoU with a
 * truth, in double exactly as docs/loss.md writes them and in the
 * reference's order of operations: the decisions that the driver takes in
 * double (truth_thresh) and the positives' IoU diagnostics are then the
 * reference's, where the kernels' grid-cell IoU could round differently
 * (two equal boxes 1e-12 wide give 0.9998 in cells, 1 + 1e-4 here).  IoU
 * is at most 1: a rounding past it is 1. */
typedef struct img_box {
    double x, y, w, h;
} img_box;

static img_box decode_img(const call *c, int64_t n, int32_t i, int32_t j, int32_t b)
{
    const rl_params *p = c->p;
    const int64_t i0 = rl_index(p, n, i, j, b, 0), cs = p->layout == RL_LAYOUT_NCHW ? p->HW : 1;
    const double aw = p->yolo_anchors[2 * p->mask[b]], ah = p->yolo_anchors[2 * p->mask[b] + 1];
    img_box d;
    d.x = (j + rl_call_sigmoid(pred_at(c, i0))) / p->W;
    d.y = (i + rl_call_sigmoid(pred_at(c, i0 + cs))) / p->H;
    d.w = exp(pred_at(c, i0 + 2 * cs)) * aw / p->net_w;
    d.h = exp(pred_at(c, i0 + 3 * cs)) * ah / p->net_h;
    return d;
}

static double iou_img(img_box d, const rl_box *t)
{
    const double ap = d.w * d.h, w = t->w, h = t->h, at = w * h;
    if (!(ap > 0) || isinf(ap) || !(at > 0) || isinf(at))
        return 0.0;
    const double ox = fmin(d.x + d.w / 2, t->cx + w / 2) - fmax(d.x - d.w / 2, t->cx - w / 2);
    const double oy = fmin(d.y + d.h / 2, t->cy + h / 2) - fmax(d.y - d.h / 2, t->cy - h / 2);
    const double inter = fmax(0.0, ox) * fmax(0.0, oy);
    const double u = ap + at - inter;
    return u > 0 ? fmin(inter / u, 1.0) : 0.0;
}

/* The best IoU of the slot's box with the image's truths and the first
 * truth reaching it (-1 when none does). */
static double best_truth(const call *c, int64_t n, int32_t i, int32_t j, int32_t b,
                         int32_t *which)
{
    const int64_t lo = c->batch->truth_offsets[n], hi = c->batch->truth_offsets[n + 1];
    const img_box d = decode_img(c, n, i, j, b);
    double best = 0.0;
    *which = -1;
    for (int64_t t = lo; t < hi; t++) {
        const double iou = iou_img(d, &c->batch->truths[t]);
        if (iou > best) {
            best = iou;
            *which = (int32_t)(t - lo);
        }
    }
    return best;
}

void rl_yolo_truth_thresh(const call *c, int64_t n, const rl_truth_soa *T)
{
    (void)T;
    const rl_params *p = c->p;
    const int64_t lo = c->batch->truth_offsets[n];
    uint8_t *kind = c->w.kind + n * c->slots;
    image_sums *s = &c->w.sums[n];
    int32_t *tk = c->w.tt_kidx + n * c->slots, *tt = c->w.tt_truth + n * c->slots;
    const int64_t cs = p->layout == RL_LAYOUT_NCHW ? p->HW : 1;
    /* a matched slot's own best truth joins its classes */
    obj_entry *en = c->w.entries + lo;
    for (int64_t q = 0; q < c->w.n_entries[n]; q++) {
        int32_t which;
        const double best = best_truth(c, n, en[q].i, en[q].j, en[q].b, &which);
        en[q].tt_truth = best > p->truth_thresh ? which : -1;
    }
    /* The kernels decided by min(ignore_thresh, truth_thresh): every slot
     * above it is still undecided, and few are. */
    int64_t m = 0;
    uint32_t bad = 0;
    for (int64_t kidx = 0; kidx < c->slots; kidx++) {
        if (kind[kidx] != RL_KIND_IGNORED)
            continue;
        const int32_t b = (int32_t)(kidx / p->HW), q = (int32_t)(kidx % p->HW);
        const int32_t i = q / p->W, j = q % p->W;
        int32_t which;
        const double best = best_truth(c, n, i, j, b, &which);
        if (best > p->truth_thresh) {
            kind[kidx] = RL_KIND_OBJ;
            tk[m] = (int32_t)kidx;
            tt[m] = which;
            m++;
            bad |= rl_call_check_logits(c->batch->pred, rl_index(p, n, i, j, b, 5), cs, p->C,
                                        p->pred_type, NULL);
        } else if (best <= p->thresh) {
            /* a negative, added up as the kernels do */
            const float tc = rl_load(c->batch->pred, rl_index(p, n, i, j, b, 4), p->pred_type);
            const float cc = 1.0f / (1.0f + expf(-tc));
            kind[kidx] = RL_KIND_NOOBJ;
            s->m.n_noobj++;
            s->m.c_noobj += cc;
            s->m.c2_noobj += (double)cc * cc;
            s->m.bce_noobj += softplus(tc);
        }
    }
    s->n_tt = m;
    s->nonfinite_class |= bad != 0;
}

/* The terms of one positive slot (n, i, j, b): box target t, class targets
 * y (C bytes), logits from `copy` when phase 1 copied them. */
static void positive(call *c, int64_t n, int32_t i, int32_t j, int32_t b, const rl_box *t,
                     const uint8_t *y, const float *copy, image_sums *s)
{
    const rl_params *p = c->p;
    const int accumulate = p->grad_mode == RL_GRAD_ACCUMULATE;
    const int64_t i0 = rl_index(p, n, i, j, b, 0), cs = p->layout == RL_LAYOUT_NCHW ? p->HW : 1;
    const double tx = pred_at(c, i0), ty = pred_at(c, i0 + cs), tw = pred_at(c, i0 + 2 * cs),
                 th = pred_at(c, i0 + 3 * cs), tc = pred_at(c, i0 + 4 * cs);
    const double sx = rl_call_sigmoid(tx), sy = rl_call_sigmoid(ty), cc = rl_call_sigmoid(tc);
    const double X = (double)t->cx * p->W - j, Y = (double)t->cy * p->H - i;
    const double TW = log((double)t->w * p->net_w / p->yolo_anchors[2 * p->mask[b]]);
    const double TH = log((double)t->h * p->net_h / p->yolo_anchors[2 * p->mask[b] + 1]);
    const double k = 2.0 - (double)t->w * (double)t->h;
    /* the box term's slope w.r.t. tx..th, before lambda_coord / D */
    double bs[4];
    if (p->box_loss == RL_BOX_MSE) {
        s->coord += k * (X * softplus(-tx) + (1 - X) * softplus(tx) + Y * softplus(-ty) +
                         (1 - Y) * softplus(ty) + 0.5 * (TW - tw) * (TW - tw) +
                         0.5 * (TH - th) * (TH - th));
        bs[0] = k * (sx - X);
        bs[1] = k * (sy - Y);
        bs[2] = k * (tw - TW);
        bs[3] = k * (th - TH);
    } else {
        const rl_xiou_box xb =
            rl_xiou_decode(tx, ty, tw, th, i, j, p->W, p->H, p->yolo_anchors[2 * p->mask[b]],
                           p->yolo_anchors[2 * p->mask[b] + 1], p->net_w, p->net_h);
        s->coord += k * rl_xiou_term(p->box_loss, &xb, t, bs);
        for (int e = 0; e < 4; e++)
            bs[e] *= k;
    }
    s->obj += softplus(-tc);
    /* darknet's delta with every lambda, D = 1: squared into its cost */
    const double d[5] = {p->lambda_coord * bs[0], p->lambda_coord * bs[1],
                         p->lambda_coord * bs[2], p->lambda_coord * bs[3],
                         p->lambda_obj * (cc - 1)};
    const double g[5] = {rl_call_mul0(c->gkc, bs[0]), rl_call_mul0(c->gkc, bs[1]),
                         rl_call_mul0(c->gkc, bs[2]), rl_call_mul0(c->gkc, bs[3]),
                         rl_call_mul0(c->gko, cc - 1)};
    for (int e = 0; e < 5; e++) {
        s->cost_obj += d[e] * d[e];
        if (c->grad)
            rl_call_put(c->grad, p->grad_type, i0 + e * cs, g[e], accumulate);
    }
    const int64_t l0 = i0 + 5 * cs;
    double cls = 0.0;
    for (int32_t q = 0; q < p->C; q++) {
        const double z = copy ? copy[q] : pred_at(c, l0 + q * cs);
        const double sz = rl_call_sigmoid(z), yq = y[q];
        cls += yq ? softplus(-z) : softplus(z);
        const double dq = p->lambda_class * (sz - yq);
        s->cost_obj += dq * dq;
        if (c->grad)
            rl_call_put(c->grad, p->grad_type, l0 + q * cs, rl_call_mul0(c->gkp, sz - yq),
                        accumulate);
    }
    s->cls += cls;
    const double iou = iou_img(decode_img(c, n, i, j, b), t);
    s->sum_iou += iou;
    s->n_r50 += iou > 0.5;
    s->n_r75 += iou > 0.75;
    s->sum_obj += cc;
    s->sum_cls += rl_call_sigmoid(copy ? copy[t->cls] : pred_at(c, l0 + t->cls * cs));
}

void rl_yolo_objects(call *c, int64_t n)
{
    const rl_params *p = c->p;
    const int64_t lo = c->batch->truth_offsets[n], hi = c->batch->truth_offsets[n + 1];
    const rl_box *truths = c->batch->truths;
    image_sums *s = &c->w.sums[n];
    uint8_t *y = c->w.ylabel + n * p->C;
    const obj_entry *en = c->w.entries + lo;
    /* the slots of matched truths: the last truth's box, every truth's class */
    for (int64_t q = 0; q < c->w.n_entries[n]; q++) {
        const obj_entry *e = &en[q];
        memset(y, 0, (size_t)p->C);
        for (int64_t t = lo; t < hi; t++)
            if (c->w.tkidx[t] == e->kidx)
                y[truths[t].cls] = 1;
        if (e->tt_truth >= 0)
            y[truths[lo + e->tt_truth].cls] = 1;
        positive(c, n, e->i, e->j, e->b, &truths[lo + e->truth], y,
                 c->w.logits ? c->w.logits + (lo + q) * p->C : NULL, s);
    }
    /* the positives of truth_thresh alone */
    for (int64_t m = 0; m < s->n_tt; m++) {
        const int32_t kidx = c->w.tt_kidx[n * c->slots + m];
        const rl_box *t = &truths[lo + c->w.tt_truth[n * c->slots + m]];
        const int32_t b = (int32_t)(kidx / p->HW), q = (int32_t)(kidx % p->HW);
        memset(y, 0, (size_t)p->C);
        y[t->cls] = 1;
        positive(c, n, q / p->W, q % p->W, b, t, y, NULL, s);
    }
    /* darknet's line: every truth matched to this head, at its slot */
    const int64_t cs = p->layout == RL_LAYOUT_NCHW ? p->HW : 1;
    for (int64_t t = lo; t < hi; t++) {
        const int32_t kidx = c->w.tkidx[t];
        if (kidx < 0)
            continue;
        const int32_t b = (int32_t)(kidx / p->HW), q = (int32_t)(kidx % p->HW);
        const int32_t i = q / p->W, j = q % p->W;
        const int64_t i0 = rl_index(p, n, i, j, b, 0);
        const double iou = iou_img(decode_img(c, n, i, j, b), &truths[t]);
        s->dn_count++;
        s->dn_iou += iou;
        s->dn_r50 += iou > 0.5;
        s->dn_r75 += iou > 0.75;
        s->dn_obj += rl_call_sigmoid(pred_at(c, i0 + 4 * cs));
        s->dn_cls += rl_call_sigmoid(pred_at(c, i0 + (5 + truths[t].cls) * cs));
    }
}

void rl_yolo_reduce(const call *c, const rl_counts *own, rl_result *r)
{
    const rl_params *p = c->p;
    const int64_t N = c->batch->n_images;
    double coord = 0, cls = 0, obj = 0, noobj = 0, c2 = 0, c_all = 0, cost = 0;
    double dn_iou = 0, dn_obj = 0, dn_cls = 0;
    int64_t dn_r50 = 0, dn_r75 = 0, dn_count = 0;
    memset(r, 0, sizeof *r);
    for (int64_t n = 0; n < N; n++) { /* fixed order: image by image */
        const image_sums *s = &c->w.sums[n];
        coord += s->coord;
        cls += s->cls;
        obj += s->obj;
        noobj += s->m.bce_noobj;
        c2 += s->m.c2_noobj;
        c_all += s->m.c_all;
        cost += s->cost_obj;
        r->sum_iou += s->sum_iou;
        r->sum_obj += s->sum_obj;
        r->sum_cls += s->sum_cls;
        r->sum_noobj += s->m.c_noobj;
        r->n_recall50 += s->n_r50;
        r->n_recall75 += s->n_r75;
        dn_iou += s->dn_iou;
        dn_obj += s->dn_obj;
        dn_cls += s->dn_cls;
        dn_r50 += s->dn_r50;
        dn_r75 += s->dn_r75;
        dn_count += s->dn_count;
    }
    r->n_obj = own->n_obj;
    r->n_noobj = own->n_noobj;
    r->n_conf = own->n_conf;
    r->n_truths = c->batch->truth_offsets[N];
    r->coord = rl_call_mul0(c->kc, coord);
    r->cls = rl_call_mul0(c->kp, cls);
    r->obj = rl_call_mul0(c->ko, obj);
    r->noobj = rl_call_mul0(c->kn, noobj);
    r->loss = r->coord + r->cls + r->obj + r->noobj;
    r->darknet.count = dn_count;
    if (dn_count > 0) {
        r->darknet.avg_iou = dn_iou / (double)dn_count;
        r->darknet.recall = (double)dn_r50 / (double)dn_count;
        r->darknet.recall75 = (double)dn_r75 / (double)dn_count;
        r->darknet.avg_obj = dn_obj / (double)dn_count;
        r->darknet.avg_cls = dn_cls / (double)dn_count;
    }
    r->darknet.avg_anyobj = c_all / (double)(N * c->slots);
    r->darknet.cost = cost + rl_call_mul0(p->lambda_noobj * p->lambda_noobj, c2);
    rl_finish_diagnostics(r);
}

/* The whole call's result from its heads' (docs/api.md). */
static void yolo_total(const rl_result *heads, int32_t H, const int64_t *slots, rl_result *tot)
{
    memset(tot, 0, sizeof *tot);
    double dn_iou = 0, dn_obj = 0, dn_cls = 0, dn_r50 = 0, dn_r75 = 0, any = 0;
    int64_t all_slots = 0;
    for (int32_t h = 0; h < H; h++) {
        const rl_result *r = &heads[h];
        tot->coord += r->coord;
        tot->cls += r->cls;
        tot->obj += r->obj;
        tot->noobj += r->noobj;
        tot->loss += r->loss;
        tot->n_obj += r->n_obj;
        tot->n_noobj += r->n_noobj;
        tot->n_conf += r->n_conf;
        tot->sum_iou += r->sum_iou;
        tot->sum_obj += r->sum_obj;
        tot->sum_noobj += r->sum_noobj;
        tot->sum_cls += r->sum_cls;
        tot->n_recall50 += r->n_recall50;
        tot->n_recall75 += r->n_recall75;
        const double k = (double)r->darknet.count;
        dn_iou += k * r->darknet.avg_iou;
        dn_obj += k * r->darknet.avg_obj;
        dn_cls += k * r->darknet.avg_cls;
        dn_r50 += k * r->darknet.recall;
        dn_r75 += k * r->darknet.recall75;
        tot->darknet.count += r->darknet.count;
        tot->darknet.cost += r->darknet.cost;
        any += r->darknet.avg_anyobj * (double)slots[h];
        all_slots += slots[h];
    }
    tot->n_truths = heads[0].n_truths;
    const double k = (double)tot->darknet.count;
    if (k > 0) {
        tot->darknet.avg_iou = dn_iou / k;
        tot->darknet.avg_obj = dn_obj / k;
        tot->darknet.avg_cls = dn_cls / k;
        tot->darknet.recall = dn_r50 / k;
        tot->darknet.recall75 = dn_r75 / k;
    }
    tot->darknet.avg_anyobj = any / (double)all_slots;
    rl_finish_diagnostics(tot);
}

/* The (head, image) tasks of a call, the heads with the most slots first:
 * the pool hands tasks out in order, and a large head's image last in the
 * queue would run alone at the end.  Every task writes only its own image's
 * sums, so the order changes no result. */
typedef struct heads_run {
    call *calls;
    int64_t N;
    int32_t order[RL_YOLO_MAX_HEADS];
} heads_run;

static void phase1_task(void *arg, int64_t t)
{
    const heads_run *hr = arg;
    rl_call_phase1(&hr->calls[hr->order[t / hr->N]], t % hr->N);
}

static void phase2_task(void *arg, int64_t t)
{
    const heads_run *hr = arg;
    rl_call_phase2(&hr->calls[hr->order[t / hr->N]], t % hr->N);
}

size_t rl_yolo_driver_workspace(const rl_yolo_plan *plan, int64_t n_images, int64_t n_truths)
{
    size_t b = align_up((size_t)n_truths * sizeof(int32_t));
    for (int32_t h = 0; h < plan->n_heads; h++)
        b += rl_call_ws_bytes(&plan->heads[h].p, n_images, n_truths);
    return b + ALIGN;
}

/* The message of a non-finite entry, with its head.  The validator checks
 * what every call reads; a truth_thresh positive's class logits only this
 * call knows. */
static rl_status name_nonfinite(const rl_yolo_plan *plan, const rl_yolo_batch *batch,
                                const call *calls)
{
    rl_status st = rl_yolo_validate_preds(plan, batch);
    if (st != RL_OK)
        return st;
    for (int32_t h = 0; h < plan->n_heads; h++) {
        const call *c = &calls[h];
        const rl_params *p = c->p;
        if (!c->w.tt_kidx)
            continue;
        for (int64_t n = 0; n < batch->n_images; n++)
            for (int64_t m = 0; m < c->w.sums[n].n_tt; m++) {
                const int32_t kidx = c->w.tt_kidx[n * c->slots + m];
                const int32_t b = (int32_t)(kidx / p->HW), q = (int32_t)(kidx % p->HW);
                st = rl_validate_class_logits(p, batch->preds[h], n, q / p->W, q % p->W, b);
                if (st != RL_OK) {
                    if (plan->n_heads == 1)
                        return st;
                    char inner[400];
                    memcpy(inner, rl_last_error(), sizeof inner - 1);
                    inner[sizeof inner - 1] = 0;
                    return rl_fail(st, "head %d: %s", (int)h, inner);
                }
            }
    }
    return rl_fail(RL_ERR_NONFINITE_PRED, "a prediction is not finite");
}

rl_status rl_yolo_driver_run(const rl_yolo_plan *plan, const rl_yolo_batch *batch,
                             rl_result *total, rl_result *per_head, void *const *grads,
                             const rl_driver_probe *probes)
{
    const int32_t H = plan->n_heads;
    const int64_t N = batch->n_images, nt = batch->truth_offsets[N];
    const size_t need = rl_yolo_driver_workspace(plan, N, nt);
    void *mem = batch->workspace, *owned = NULL;
    if (!mem) {
        owned = mem = malloc(need);
        if (!mem)
            return rl_fail(RL_ERR_NO_MEMORY, "workspace: out of memory for %zu bytes", need);
    }
    uintptr_t a = ((uintptr_t)mem + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    /* every truth's anchor, once for every head */
    int32_t *best_anchor = (int32_t *)a;
    a += align_up((size_t)nt * sizeof(int32_t));
    for (int64_t t = 0; t < nt; t++)
        best_anchor[t] = rl_yolo_best_anchor(&plan->heads[0].p, &batch->truths[t]);

    rl_batch hb[RL_YOLO_MAX_HEADS];
    call calls[RL_YOLO_MAX_HEADS];
    int64_t n_obj[RL_YOLO_MAX_HEADS], slots[RL_YOLO_MAX_HEADS];
    for (int32_t h = 0; h < H; h++) {
        hb[h] = rl_yolo_head_batch(batch, h);
        const rl_plan *hp = &plan->heads[h];
        rl_call_init(&calls[h], hp, &hp->kernels, &hb[h], grads ? grads[h] : NULL, 0, (void *)a,
                     best_anchor, probes ? &probes[h] : NULL);
        a += rl_call_ws_bytes(&hp->p, N, nt);
        n_obj[h] = rl_call_assign(&calls[h]);
        slots[h] = N * calls[h].slots;
    }
    heads_run hr = {calls, N, {0}};
    for (int32_t h = 0; h < H; h++) { /* insertion sort by slots, largest first */
        int32_t k = h;
        for (; k > 0 && slots[hr.order[k - 1]] < slots[h]; k--)
            hr.order[k] = hr.order[k - 1];
        hr.order[k] = h;
    }
    rl_pool_run(plan->pool, H * N, phase1_task, &hr);

    rl_counts own[RL_YOLO_MAX_HEADS];
    int nonfinite = 0;
    for (int32_t h = 0; h < H; h++)
        nonfinite |= rl_call_counts(&calls[h], n_obj[h], &own[h]);
    if (nonfinite) {
        rl_status st = name_nonfinite(plan, batch, calls);
        free(owned);
        return st;
    }
    /* one divisor for every head: 1, or the images of the (whole) batch */
    rl_counts norm = {0, 0, 0, batch->global_counts ? batch->global_counts->n_images : N};
    for (int32_t h = 0; h < H; h++)
        rl_call_set_weights(&calls[h], &norm);
    rl_pool_run(plan->pool, H * N, phase2_task, &hr);

    for (int32_t h = 0; h < H; h++) {
        if (plan->heads[h].p.ab)
            rl_yolo_ab_reduce(&calls[h], &per_head[h]);
        else
            rl_yolo_reduce(&calls[h], &own[h], &per_head[h]);
    }
    yolo_total(per_head, H, slots, total);
    free(owned);
    return RL_OK;
}
