/* Portable float kernels: the driver's baseline on any CPU, and the
 * readable statement of what each SIMD kernel computes lane by lane.
 * Tensors of any element type are read through rl_load (exact widening)
 * and written through rl_store_f32 (one rounding to nearest even). */
#include <math.h>
#include <string.h>

#include "../elem.h"
#include "../kernels.h"
#include "regionloss.h"

static float sigf(float z) { return 1.0f / (1.0f + expf(-z)); }

static int finite_bits(float v)
{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x7f800000u) != 0x7f800000u;
}

/* Best IoU of the decoded box [x0, x1] x [y0, y1] (area `ap`) with the
 * image's truths; a box of zero, infinite or undefined area has IoU 0. */
static float best_iou(float x0, float x1, float y0, float y1, float ap, const rl_truth_soa *T)
{
    if (!(ap > 0.0f) || isinf(ap))
        return 0.0f;
    float best = 0.0f;
    for (int32_t t = 0; t < T->n; t++) {
        float ox = fminf(x1, T->x1[t]) - fmaxf(x0, T->x0[t]);
        float oy = fminf(y1, T->y1[t]) - fmaxf(y0, T->y0[t]);
        float inter = fmaxf(ox, 0.0f) * fmaxf(oy, 0.0f);
        float u = ap + T->area[t] - inter;
        float iou = u > 0.0f ? inter / u : 0.0f;
        best = iou > best ? iou : best;
    }
    return best;
}

double rl_best_iou_exact(float tx, float ty, float tw, float th, int32_t i, int32_t j, double aw,
                         double ah, const rl_truth_soa *T)
{
    const double px = j + 1.0 / (1.0 + exp(-(double)tx)), py = i + 1.0 / (1.0 + exp(-(double)ty));
    const double pw = aw * exp((double)tw), ph = ah * exp((double)th);
    const double ap = pw * ph;
    if (!(ap > 0.0) || isinf(ap))
        return 0.0;
    double best = 0.0;
    for (int32_t t = 0; t < T->n; t++) {
        const rl_box *b = &T->boxes[t];
        const double X = (double)b->cx * T->W, Y = (double)b->cy * T->H;
        const double Wg = (double)b->w * T->W, Hg = (double)b->h * T->H;
        const double at = Wg * Hg;
        if (!(at > 0.0) || isinf(at))
            continue;
        const double ox = fmin(px + pw / 2, X + Wg / 2) - fmax(px - pw / 2, X - Wg / 2);
        const double oy = fmin(py + ph / 2, Y + Hg / 2) - fmax(py - ph / 2, Y - Hg / 2);
        const double inter = fmax(0.0, ox) * fmax(0.0, oy);
        const double u = ap + at - inter;
        const double iou = u > 0.0 ? inter / u : 0.0;
        if (iou > best)
            best = iou;
    }
    return best;
}

/* The per-slot parts the mask and stream kernels share. */
static int finite5(float tx, float ty, float tw, float th, float tc)
{
    return finite_bits(tx) && finite_bits(ty) && finite_bits(tw) && finite_bits(th) &&
           finite_bits(tc);
}

/* c^ = s(tc), added to c_all; the noobj gradient's factor stored for the
 * grad kernel: c^ * c^(1 - c^) for the squared error, c^ for BCE. */
static float objectness(float tc, float *cslope, int bce, rl_mask_sums *s)
{
    const float c = sigf(tc);
    s->c_all += c;
    if (cslope)
        *cslope = bce ? c : c * (c * sigf(-tc));
    return c;
}

/* -log(1 - s(tc)) = log(1 + e^tc), without overflow or cancellation. */
static float softplusf(float tc) { return fmaxf(tc, 0.0f) + log1pf(expf(-fabsf(tc))); }

static void add_noobj(rl_mask_sums *s, float c, float tc, int bce)
{
    s->n_noobj++;
    s->c_noobj += c;
    s->c2_noobj += (double)c * c;
    if (bce)
        s->bce_noobj += softplusf(tc);
}

/* darknet's warm-up term; tw^2 in double: a float square overflows past 1.8e19 */
static double warm_term(float sx, float sy, float tw, float th)
{
    return (double)((sx - 0.5f) * (sx - 0.5f) + (sy - 0.5f) * (sy - 0.5f)) + (double)tw * tw +
           (double)th * th;
}

static void mask_generic(const rl_mask_args *a, rl_mask_sums *s)
{
    const rl_run *r = &a->run;
    const int64_t cs = r->ch_stride;
    const int tt = r->t_type;
    for (int32_t q = 0; q < r->count; q++) {
        const int64_t o = q * r->slot_stride;
        const int32_t i = (r->q0 + q) / r->W, j = (r->q0 + q) % r->W;
        const float tx = rl_load(r->t, o, tt), ty = rl_load(r->t, o + cs, tt);
        const float tw = rl_load(r->t, o + 2 * cs, tt), th = rl_load(r->t, o + 3 * cs, tt);
        const float tc = rl_load(r->t, o + 4 * cs, tt);
        if (!finite5(tx, ty, tw, th, tc)) {
            s->nonfinite = 1;
            continue;
        }
        const float c = objectness(tc, a->cslope ? &a->cslope[q] : NULL, a->bce, s);
        if (a->kind[q] == RL_KIND_OBJ) {
            if (a->best)
                a->best[q] = -1.0f;
            continue;
        }
        const float sx = sigf(tx), sy = sigf(ty);
        const float px = (float)j + sx, py = (float)i + sy;
        const float pw = r->aw * expf(tw), ph = r->ah * expf(th);
        int noobj = 0, exact = 1;
        float best = 0.0f;
        if (pw >= RL_BOX_MIN && pw <= RL_BOX_MAX && ph >= RL_BOX_MIN && ph <= RL_BOX_MAX) {
            best = best_iou(px - 0.5f * pw, px + 0.5f * pw, py - 0.5f * ph, py + 0.5f * ph,
                            pw * ph, a->truths);
            noobj = a->noobj_inclusive ? best <= a->thresh : best < a->thresh;
            const float margin = (a->doubt_w * ph + a->doubt_h * pw) / (pw * ph) + a->doubt_c;
            exact = fabsf(best - a->thresh) <= margin;
        }
        if (exact) {
            const double bd = rl_best_iou_exact(tx, ty, tw, th, i, j, r->aw_d, r->ah_d, a->truths);
            noobj = a->noobj_inclusive ? bd <= a->thresh_d : bd < a->thresh_d;
            best = (float)bd;
        }
        if (a->best)
            a->best[q] = best;
        a->kind[q] = noobj ? RL_KIND_NOOBJ : RL_KIND_IGNORED;
        if (noobj)
            add_noobj(s, c, tc, a->bce);
        if (a->warmup)
            s->warm += warm_term(sx, sy, tw, th);
    }
}

/* Gradient entry `off`: v stored, or added to what is there (in float,
 * then one rounding to the element type). */
static void store(void *g, int64_t off, int type, float v, int accumulate)
{
    rl_store_f32(g, off, type, accumulate ? rl_load(g, off, type) + v : v);
}

static void stream_generic(const rl_stream_args *a, rl_mask_sums *s)
{
    const rl_run *r = &a->run;
    const int64_t cs = r->ch_stride;
    const int tt = r->t_type;
    for (int32_t q = 0; q < r->count; q++) {
        const int64_t o = q * r->slot_stride;
        const float tx = rl_load(r->t, o, tt), ty = rl_load(r->t, o + cs, tt);
        const float tw = rl_load(r->t, o + 2 * cs, tt), th = rl_load(r->t, o + 3 * cs, tt);
        const float tc = rl_load(r->t, o + 4 * cs, tt);
        if (!finite5(tx, ty, tw, th, tc)) {
            s->nonfinite = 1;
            continue;
        }
        const float c = objectness(tc, a->cslope ? &a->cslope[q] : NULL, a->bce, s);
        if (a->kind[q] == RL_KIND_OBJ)
            continue;
        if (a->kind[q] == RL_KIND_NOOBJ)
            add_noobj(s, c, tc, a->bce);
        if (a->warmup)
            s->warm += warm_term(sigf(tx), sigf(ty), tw, th);
    }
}

static void grad_generic(const rl_grad_args *a)
{
    const rl_run *r = &a->run;
    const int64_t cs = r->ch_stride;
    const int acc = a->accumulate, tt = r->t_type, gt = r->g_type;
    for (int32_t q = 0; q < r->count; q++) {
        const int64_t o = q * r->slot_stride;
        if (a->kind[q] == RL_KIND_OBJ) {
            if (!acc) /* the driver writes the terms */
                for (int k = 0; k < 5; k++)
                    rl_store_f32(r->grad, o + k * cs, gt, 0.0f);
            continue;
        }
        if (a->kind[q] == RL_KIND_NOOBJ) {
            const float tc = rl_load(r->t, o + 4 * cs, tt);
            const float c = sigf(tc);
            store(r->grad, o + 4 * cs, gt,
                  a->k_noobj * (a->cslope ? a->cslope[q] : c * (c * sigf(-tc))), acc);
        } else if (!acc) {
            rl_store_f32(r->grad, o + 4 * cs, gt, 0.0f);
        }
        if (a->k_warm != 0.0f) {
            const float tx = rl_load(r->t, o, tt), ty = rl_load(r->t, o + cs, tt);
            const float sx = sigf(tx), sy = sigf(ty);
            store(r->grad, o, gt, a->k_warm * (sx - 0.5f) * (sx * sigf(-tx)), acc);
            store(r->grad, o + cs, gt, a->k_warm * (sy - 0.5f) * (sy * sigf(-ty)), acc);
            store(r->grad, o + 2 * cs, gt, a->k_warm * rl_load(r->t, o + 2 * cs, tt), acc);
            store(r->grad, o + 3 * cs, gt, a->k_warm * rl_load(r->t, o + 3 * cs, tt), acc);
        } else if (!acc) {
            for (int k = 0; k < 4; k++)
                rl_store_f32(r->grad, o + k * cs, gt, 0.0f);
        }
    }
}

static void softmax_generic(const float *x, int64_t stride, int32_t C, int32_t cls, double k,
                            float *grad, int accumulate, rl_softmax_out *out)
{
    float m = x[0];
    for (int32_t c = 1; c < C; c++)
        m = fmaxf(m, x[c * stride]);
    double sum = 0.0;
    for (int32_t c = 0; c < C; c++)
        sum += expf(x[c * stride] - m);
    const double log_sum = log(sum);
    /* (m - t_cls) + log(sum), in double: no cancellation when the true class
     * dominates, no overflow when the logits are far apart, and log(sum) is
     * never absorbed into a huge m. */
    out->neg_log_p = ((double)m - (double)x[cls * stride]) + log_sum;
    out->max = m;
    out->log_sum = log_sum;
    const float inv = (float)(1.0 / sum);
    double p2 = 0.0;
    for (int32_t c = 0; c < C; c++) {
        const float pc = expf(x[c * stride] - m) * inv;
        p2 += (double)pc * pc;
        if (grad)
            store(grad, c * stride, RL_DTYPE_F32, (float)(k * (pc - (c == cls ? 1.0f : 0.0f))),
                  accumulate);
    }
    out->p_cls = exp(-out->neg_log_p);
    out->sum_p2 = p2;
}

void rl_kernels_init_generic(rl_kernels *k)
{
    k->lanes = 1;
    k->mask = mask_generic;
    k->stream = stream_generic;
    k->grad = grad_generic;
    k->softmax = softmax_generic;
}
