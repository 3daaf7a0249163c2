/* AArch64 NEON kernels; they mirror src/generic/kernels_generic.c lane by
 * lane (mask_generic, stream_generic, grad_generic, softmax_generic) with 4
 * float lanes.
 * Advanced SIMD is part of the AArch64 baseline, so no run-time check is
 * needed beyond the architecture.
 *
 * Tensors of float, bfloat16 or binary16 (kernels.h): the mask, stream and
 * grad kernels are written once as always-inline bodies taking the element
 * types as constants, and each entry point switches on (t_type, g_type) once
 * per call into a copy specialised for them.  Half lanes are widened to
 * float in registers as they are loaded and narrowed (nearest even, a NaN
 * staying a NaN) as they are stored: elem_neon.h.  Everything between is
 * the float code, so float tensors run exactly the float kernels.
 *
 * Built a second time for FEAT_BF16 (-march=armv8.2-a+bf16, RL_NEON_BF16):
 * the "neon-bf16" variant, whose one difference is bfloat16 narrowing by
 * BFCVTN (one instruction) instead of elem.h's rule in five. */
#if !defined(__aarch64__)
#error "kernels_neon.c is for AArch64"
#endif

#include <arm_neon.h>
#include <math.h>
#include <sleef.h>
#include <string.h>

#include "../kernels.h"
#include "elem_neon.h"
#include "regionloss.h"

#if defined(RL_NEON_BF16)
#if !defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC)
#error "RL_NEON_BF16 needs a -march with +bf16"
#endif
#define RL_NEON_INIT rl_kernels_init_neon_bf16
#else
#define RL_NEON_INIT rl_kernels_init_neon
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define F32 RL_DTYPE_F32
#define BF16 RL_DTYPE_BF16
#define F16 RL_DTYPE_F16

#define exp4 Sleef_expf4_u10advsimd
#define log1p4 Sleef_log1pf4_u10advsimd

static const uint32_t tail_table[8] = {~0u, ~0u, ~0u, ~0u, 0, 0, 0, 0};

/* Lanes [0, n) set, n in [0, 4]. */
static inline uint32x4_t lanes(int n) { return vld1q_u32(tail_table + 4 - n); }

static inline float32x4_t load4(const float *p, int64_t stride, int n)
{
    if (stride == 1 && n == 4)
        return vld1q_f32(p);
    float tmp[4] = {0, 0, 0, 0};
    for (int l = 0; l < n; l++)
        tmp[l] = p[l * stride];
    return vld1q_f32(tmp);
}

static inline void store4(float *p, int64_t stride, float32x4_t v, uint32x4_t m, int n)
{
    if (stride == 1 && n == 4 && vminvq_u32(m) == ~0u) {
        vst1q_f32(p, v);
        return;
    }
    float tmp[4];
    uint32_t mm[4];
    vst1q_f32(tmp, v);
    vst1q_u32(mm, m);
    for (int l = 0; l < n; l++)
        if (mm[l])
            p[l * stride] = tmp[l];
}

/* Lanes [0, n) of a tensor of `type`: element off + l*stride, widened to
 * float; lanes past n are 0 and nothing past them is read. */
ALWAYS_INLINE float32x4_t load_t(const void *base, int64_t off, int64_t stride, int n,
                                 const int type)
{
    if (type == F32)
        return load4((const float *)base + off, stride, n);
    const uint16_t *p = (const uint16_t *)base + off;
    uint16x4_t h;
    if (stride == 1 && n == 4) {
        h = vld1_u16(p);
    } else {
        uint16_t tmp[4] = {0, 0, 0, 0};
        for (int l = 0; l < n; l++)
            tmp[l] = p[l * stride];
        h = vld1_u16(tmp);
    }
    return type == BF16 ? rl_neon_widen_bf16(h) : rl_neon_widen_f16(h);
}

/* Stores the lanes of v set in m among [0, n) at element off + l*stride of
 * a tensor of `type`, each rounded once to the type. */
ALWAYS_INLINE void store_t(void *base, int64_t off, int64_t stride, float32x4_t v, uint32x4_t m,
                           int n, const int type)
{
    if (type == F32) {
        store4((float *)base + off, stride, v, m, n);
        return;
    }
    const uint16x4_t h = type == BF16 ? rl_neon_narrow_bf16(v) : rl_neon_narrow_f16(v);
    uint16_t *p = (uint16_t *)base + off;
    if (stride == 1 && n == 4) {
        if (vminvq_u32(m) == ~0u) {
            vst1_u16(p, h);
        } else {
            /* Four entries of the run, some not to change (accumulate at
             * cells that are not noobj): written back with the bits they
             * hold, one store instead of one per entry.  The run is one
             * image's and one task's, so nothing else writes them. */
            vst1_u16(p, vbsl_u16(vmovn_u32(m), h, vld1_u16(p)));
        }
        return;
    }
    uint16_t tmp[4];
    uint32_t mm[4];
    vst1_u16(tmp, h);
    vst1q_u32(mm, m);
    for (int l = 0; l < n; l++)
        if (mm[l])
            p[l * stride] = tmp[l];
}

/* s(z) and s(z)s(-z) from one exp of -|z|: no overflow, no cancellation.
 * *em, when given, receives that exp, e^-|z|. */
static inline float32x4_t sigmoid4e(float32x4_t z, float32x4_t *slope, float32x4_t *em)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    const float32x4_t e = exp4(vnegq_f32(vabsq_f32(z)));
    const float32x4_t sp = vdivq_f32(one, vaddq_f32(one, e)); /* s(|z|) */
    const float32x4_t sn = vmulq_f32(e, sp);                  /* s(-|z|) */
    if (slope)
        *slope = vmulq_f32(sp, sn);
    if (em)
        *em = e;
    return vbslq_f32(vcltq_f32(z, vdupq_n_f32(0.0f)), sn, sp);
}

static inline float32x4_t sigmoid4(float32x4_t z, float32x4_t *slope)
{
    return sigmoid4e(z, slope, NULL);
}

/* softplus(z) = -log(1 - s(z)) = max(z, 0) + log1p(e^-|z|), e = e^-|z| as
 * sigmoid4e gave it: a sum of two non-negative terms, so no cancellation;
 * e in [0, 1], so no overflow; for z very negative it is log1p(e) ~ e. */
static inline float32x4_t softplus4(float32x4_t z, float32x4_t e)
{
    return vaddq_f32(vmaxq_f32(z, vdupq_n_f32(0.0f)), log1p4(e));
}

static inline float64x2_t add_ps_to_pd(float64x2_t acc, float32x4_t v)
{
    acc = vaddq_f64(acc, vcvt_f64_f32(vget_low_f32(v)));
    return vaddq_f64(acc, vcvt_high_f64_f32(v));
}

static inline uint32x4_t kinds4(const uint8_t *k, int n)
{
    uint32_t v[4] = {0, 0, 0, 0};
    for (int l = 0; l < n; l++)
        v[l] = k[l];
    return vld1q_u32(v);
}

static inline float32x4_t and_f32(float32x4_t v, uint32x4_t m)
{
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), m));
}

/* The per-vector parts the mask and stream kernels share.  The five box
 * channels' non-finite lanes: an exponent of all ones (NaN or infinity). */
static inline uint32x4_t nonfinite5(const float32x4_t ch[5])
{
    const uint32x4_t expmask = vdupq_n_u32(0x7f800000u);
    uint32x4_t bad = vdupq_n_u32(0);
    for (int k = 0; k < 5; k++)
        bad = vorrq_u32(bad, vceqq_u32(vandq_u32(vreinterpretq_u32_f32(ch[k]), expmask), expmask));
    return bad;
}

/* c^ = s(tc) added to c_all, and the noobj gradient's factor stored for the
 * grad kernel: c^ * c^(1 - c^), or c^ with `bce`; e^-|tc| left in *e for
 * the BCE term. */
static inline float32x4_t objectness4(float32x4_t tc, uint32x4_t valid, int n, float *cslope,
                                      int bce, float32x4_t *e, float64x2_t *acc_c_all)
{
    float32x4_t slope;
    const float32x4_t c = sigmoid4e(tc, &slope, e);
    *acc_c_all = add_ps_to_pd(*acc_c_all, and_f32(c, valid));
    if (cslope)
        store4(cslope, 1, bce ? c : vmulq_f32(c, slope), valid, n);
    return c;
}

/* The noobj sums; with `bce`, softplus(tc) too. */
static inline void add_noobj4(float32x4_t c, float32x4_t tc, float32x4_t e, uint32x4_t noobj,
                              int bce, float64x2_t *acc_c, float64x2_t *acc_c2,
                              float64x2_t *acc_bce)
{
    const float32x4_t cn = and_f32(c, noobj);
    *acc_c = add_ps_to_pd(*acc_c, cn);
    *acc_c2 = add_ps_to_pd(*acc_c2, vmulq_f32(cn, cn));
    if (bce && vmaxvq_u32(noobj))
        *acc_bce = add_ps_to_pd(*acc_bce, and_f32(softplus4(tc, e), noobj));
}

/* darknet's warm-up term; tw^2, th^2 in double: a float square overflows
 * past 1.8e19 */
static inline float64x2_t add_warm4(float64x2_t acc, float32x4_t sx, float32x4_t sy,
                                    float32x4_t tw, float32x4_t th, uint32x4_t live)
{
    const float32x4_t half = vdupq_n_f32(0.5f);
    const float32x4_t dx = vsubq_f32(sx, half), dy = vsubq_f32(sy, half);
    acc = add_ps_to_pd(acc, and_f32(vfmaq_f32(vmulq_f32(dx, dx), dy, dy), live));
    const float32x4_t twl = and_f32(tw, live), thl = and_f32(th, live);
    const float64x2_t w0 = vcvt_f64_f32(vget_low_f32(twl)), w1 = vcvt_high_f64_f32(twl);
    const float64x2_t h0 = vcvt_f64_f32(vget_low_f32(thl)), h1 = vcvt_high_f64_f32(thl);
    acc = vfmaq_f64(acc, w0, w0);
    acc = vfmaq_f64(acc, w1, w1);
    acc = vfmaq_f64(acc, h0, h0);
    return vfmaq_f64(acc, h1, h1);
}

ALWAYS_INLINE void mask_body(const rl_mask_args *a, rl_mask_sums *s, const int tt)
{
    const rl_run *r = &a->run;
    const int64_t cs = r->ch_stride, ss = r->slot_stride;
    const rl_truth_soa *T = a->truths;
    const float32x4_t zero = vdupq_n_f32(0.0f), half = vdupq_n_f32(0.5f);
    const float32x4_t aw = vdupq_n_f32(r->aw), ah = vdupq_n_f32(r->ah);
    const float32x4_t thresh = vdupq_n_f32(a->thresh), inf = vdupq_n_f32(INFINITY);
    const float32x4_t dw = vdupq_n_f32(a->doubt_w), dh = vdupq_n_f32(a->doubt_h);
    const float32x4_t dc = vdupq_n_f32(a->doubt_c);
    float64x2_t acc_c_all = vdupq_n_f64(0), acc_c = vdupq_n_f64(0);
    float64x2_t acc_c2 = vdupq_n_f64(0), acc_warm = vdupq_n_f64(0);
    float64x2_t acc_bce = vdupq_n_f64(0);
    uint32x4_t bad = vdupq_n_u32(0);
    int64_t n_noobj = 0;
    /* cell coordinates of the 4 lanes, advanced by 4 cells per step */
    static const int32_t iota[4] = {0, 1, 2, 3};
    int32x4_t jv = vaddq_s32(vld1q_s32(iota), vdupq_n_s32(r->q0 % r->W));
    int32x4_t iv = vdupq_n_s32(r->q0 / r->W);
    const int32x4_t Wv = vdupq_n_s32(r->W);
    for (;;) {
        const uint32x4_t over = vcgeq_s32(jv, Wv);
        if (vmaxvq_u32(over) == 0)
            break;
        jv = vsubq_s32(jv, vandq_s32(vreinterpretq_s32_u32(over), Wv));
        iv = vsubq_s32(iv, vreinterpretq_s32_u32(over));
    }

    for (int32_t q = 0; q < r->count; q += 4) {
        const int n = r->count - q < 4 ? r->count - q : 4;
        const uint32x4_t valid = lanes(n);
        const void *t = r->t;
        const int64_t o = q * ss;
        const float32x4_t tx = load_t(t, o, ss, n, tt), ty = load_t(t, o + cs, ss, n, tt);
        const float32x4_t tw = load_t(t, o + 2 * cs, ss, n, tt);
        const float32x4_t th = load_t(t, o + 3 * cs, ss, n, tt);
        const float32x4_t tc = load_t(t, o + 4 * cs, ss, n, tt);
        const float32x4_t ch[5] = {tx, ty, tw, th, tc};
        bad = vorrq_u32(bad, nonfinite5(ch));

        float32x4_t e;
        const float32x4_t c = objectness4(tc, valid, n, a->cslope ? a->cslope + q : NULL, a->bce,
                                          &e, &acc_c_all);

        const uint32x4_t is_obj = vceqq_u32(kinds4(a->kind + q, n), vdupq_n_u32(RL_KIND_OBJ));
        const uint32x4_t live = vbicq_u32(valid, is_obj);

        const float32x4_t sx = sigmoid4(tx, NULL), sy = sigmoid4(ty, NULL);
        const float32x4_t px = vaddq_f32(vcvtq_f32_s32(jv), sx);
        const float32x4_t py = vaddq_f32(vcvtq_f32_s32(iv), sy);
        const float32x4_t pw = vmulq_f32(aw, exp4(tw)), ph = vmulq_f32(ah, exp4(th));
        const float32x4_t hw = vmulq_f32(half, pw), hh = vmulq_f32(half, ph);
        const float32x4_t x0 = vsubq_f32(px, hw), x1 = vaddq_f32(px, hw);
        const float32x4_t y0 = vsubq_f32(py, hh), y1 = vaddq_f32(py, hh);
        const float32x4_t ap = vmulq_f32(pw, ph);
        float32x4_t best = zero;
        for (int32_t k = 0; k < T->n; k++) {
            const float32x4_t ox = vsubq_f32(vminq_f32(x1, vdupq_n_f32(T->x1[k])),
                                             vmaxq_f32(x0, vdupq_n_f32(T->x0[k])));
            const float32x4_t oy = vsubq_f32(vminq_f32(y1, vdupq_n_f32(T->y1[k])),
                                             vmaxq_f32(y0, vdupq_n_f32(T->y0[k])));
            const float32x4_t inter = vmulq_f32(vmaxq_f32(ox, zero), vmaxq_f32(oy, zero));
            const float32x4_t u = vsubq_f32(vaddq_f32(ap, vdupq_n_f32(T->area[k])), inter);
            const float32x4_t iou = and_f32(vdivq_f32(inter, u), vcgtq_f32(u, zero));
            best = vmaxq_f32(best, iou);
        }
        /* a box of zero, infinite or undefined area has IoU 0 */
        best = and_f32(best, vandq_u32(vcgtq_f32(ap, zero), vcltq_f32(ap, inf)));
        const uint32x4_t below = a->noobj_inclusive ? vcleq_f32(best, thresh)
                                                    : vcltq_f32(best, thresh);
        uint32x4_t noobj = vandq_u32(below, live);
        /* boxes float cannot size to tolerance: decided in double */
        const float32x4_t bmin = vdupq_n_f32(RL_BOX_MIN), bmax = vdupq_n_f32(RL_BOX_MAX);
        const uint32x4_t sane = vandq_u32(vandq_u32(vcgeq_f32(pw, bmin), vcleq_f32(pw, bmax)),
                                          vandq_u32(vcgeq_f32(ph, bmin), vcleq_f32(ph, bmax)));
        /* and those whose float best IoU is too near thresh to decide it */
        const float32x4_t margin =
            vaddq_f32(vdivq_f32(vfmaq_f32(vmulq_f32(dh, pw), dw, ph), ap), dc);
        const uint32x4_t doubt = vandq_u32(vcleq_f32(vabdq_f32(best, thresh), margin), live);
        const uint32x4_t extreme = vorrq_u32(vbicq_u32(live, sane), doubt);
        if (vmaxvq_u32(extreme)) {
            float vb[4], vx[4], vy[4], vw[4], vh[4];
            uint32_t vn[4], ve[4];
            int32_t vi[4], vj[4];
            vst1q_f32(vb, best);
            vst1q_u32(vn, noobj);
            vst1q_u32(ve, extreme);
            vst1q_f32(vx, tx);
            vst1q_f32(vy, ty);
            vst1q_f32(vw, tw);
            vst1q_f32(vh, th);
            vst1q_s32(vi, iv);
            vst1q_s32(vj, jv);
            for (int l = 0; l < 4; l++) {
                if (!ve[l])
                    continue;
                const double bd = rl_best_iou_exact(vx[l], vy[l], vw[l], vh[l], vi[l], vj[l],
                                                    r->aw_d, r->ah_d, T);
                vn[l] = (a->noobj_inclusive ? bd <= a->thresh_d : bd < a->thresh_d) ? ~0u : 0u;
                vb[l] = (float)bd;
            }
            best = vld1q_f32(vb);
            noobj = vld1q_u32(vn);
        }

        uint32_t nm[4], lm[4];
        vst1q_u32(nm, noobj);
        vst1q_u32(lm, live);
        for (int l = 0; l < n; l++)
            if (lm[l]) {
                a->kind[q + l] = nm[l] ? RL_KIND_NOOBJ : RL_KIND_IGNORED;
                n_noobj += nm[l] != 0;
            }
        if (a->best) {
            float tmp[4];
            vst1q_f32(tmp, vbslq_f32(is_obj, vdupq_n_f32(-1.0f), best));
            memcpy(a->best + q, tmp, (size_t)n * sizeof(float));
        }
        add_noobj4(c, tc, e, noobj, a->bce, &acc_c, &acc_c2, &acc_bce);
        if (a->warmup)
            acc_warm = add_warm4(acc_warm, sx, sy, tw, th, live);

        jv = vaddq_s32(jv, vdupq_n_s32(4));
        for (;;) {
            const uint32x4_t over = vcgeq_s32(jv, Wv);
            if (vmaxvq_u32(over) == 0)
                break;
            jv = vsubq_s32(jv, vandq_s32(vreinterpretq_s32_u32(over), Wv));
            iv = vsubq_s32(iv, vreinterpretq_s32_u32(over));
        }
    }
    s->n_noobj += n_noobj;
    s->c_all += vaddvq_f64(acc_c_all);
    s->c_noobj += vaddvq_f64(acc_c);
    s->c2_noobj += vaddvq_f64(acc_c2);
    s->warm += vaddvq_f64(acc_warm);
    if (a->bce)
        s->bce_noobj += vaddvq_f64(acc_bce);
    if (vmaxvq_u32(bad) != 0)
        s->nonfinite = 1;
}

ALWAYS_INLINE void stream_body(const rl_stream_args *a, rl_mask_sums *s, const int tt)
{
    const rl_run *r = &a->run;
    const int64_t cs = r->ch_stride, ss = r->slot_stride;
    float64x2_t acc_c_all = vdupq_n_f64(0), acc_c = vdupq_n_f64(0);
    float64x2_t acc_c2 = vdupq_n_f64(0), acc_warm = vdupq_n_f64(0);
    float64x2_t acc_bce = vdupq_n_f64(0);
    uint32x4_t bad = vdupq_n_u32(0);
    int64_t n_noobj = 0;
    for (int32_t q = 0; q < r->count; q += 4) {
        const int n = r->count - q < 4 ? r->count - q : 4;
        const uint32x4_t valid = lanes(n);
        const void *t = r->t;
        const int64_t o = q * ss;
        const float32x4_t tx = load_t(t, o, ss, n, tt), ty = load_t(t, o + cs, ss, n, tt);
        const float32x4_t tw = load_t(t, o + 2 * cs, ss, n, tt);
        const float32x4_t th = load_t(t, o + 3 * cs, ss, n, tt);
        const float32x4_t tc = load_t(t, o + 4 * cs, ss, n, tt);
        const float32x4_t ch[5] = {tx, ty, tw, th, tc};
        bad = vorrq_u32(bad, nonfinite5(ch));
        float32x4_t e;
        const float32x4_t c = objectness4(tc, valid, n, a->cslope ? a->cslope + q : NULL, a->bce,
                                          &e, &acc_c_all);
        const uint32x4_t kd = kinds4(a->kind + q, n);
        const uint32x4_t noobj = vandq_u32(valid, vceqq_u32(kd, vdupq_n_u32(RL_KIND_NOOBJ)));
        n_noobj += (int64_t)vaddvq_u32(vshrq_n_u32(noobj, 31));
        add_noobj4(c, tc, e, noobj, a->bce, &acc_c, &acc_c2, &acc_bce);
        if (a->warmup) {
            const uint32x4_t live = vbicq_u32(valid, vceqq_u32(kd, vdupq_n_u32(RL_KIND_OBJ)));
            acc_warm = add_warm4(acc_warm, sigmoid4(tx, NULL), sigmoid4(ty, NULL), tw, th, live);
        }
    }
    s->n_noobj += n_noobj;
    s->c_all += vaddvq_f64(acc_c_all);
    s->c_noobj += vaddvq_f64(acc_c);
    s->c2_noobj += vaddvq_f64(acc_c2);
    s->warm += vaddvq_f64(acc_warm);
    if (a->bce)
        s->bce_noobj += vaddvq_f64(acc_bce);
    if (vmaxvq_u32(bad) != 0)
        s->nonfinite = 1;
}

ALWAYS_INLINE void grad_body(const rl_grad_args *a, const int tt, const int gt)
{
    const rl_run *r = &a->run;
    const int64_t cs = r->ch_stride, ss = r->slot_stride;
    const float32x4_t kn = vdupq_n_f32(a->k_noobj), kw = vdupq_n_f32(a->k_warm);
    const float32x4_t half = vdupq_n_f32(0.5f), zero = vdupq_n_f32(0.0f);
    const int acc = a->accumulate;
    for (int32_t q = 0; q < r->count; q += 4) {
        const int n = r->count - q < 4 ? r->count - q : 4;
        const uint32x4_t valid = lanes(n);
        const uint32x4_t kd = kinds4(a->kind + q, n);
        const uint32x4_t noobj = vandq_u32(valid, vceqq_u32(kd, vdupq_n_u32(RL_KIND_NOOBJ)));
        const uint32x4_t notobj = vbicq_u32(valid, vceqq_u32(kd, vdupq_n_u32(RL_KIND_OBJ)));
        const void *t = r->t;
        void *g = r->grad;
        const int64_t o = q * ss;
        /* overwrite: every valid lane of channels 0..4 is stored, 0 where
         * the slot has no such term */
        if (vmaxvq_u32(noobj)) {
            float32x4_t v;
            if (a->cslope) {
                v = vmulq_f32(kn, load4(a->cslope + q, 1, n));
            } else {
                float32x4_t slope;
                const float32x4_t c = sigmoid4(load_t(t, o + 4 * cs, ss, n, tt), &slope);
                v = vmulq_f32(vmulq_f32(kn, c), slope);
            }
            const int64_t oc = o + 4 * cs;
            if (acc)
                store_t(g, oc, ss, vaddq_f32(load_t(g, oc, ss, n, gt), v), noobj, n, gt);
            else
                store_t(g, oc, ss, and_f32(v, noobj), valid, n, gt);
        } else if (!acc) {
            store_t(g, o + 4 * cs, ss, zero, valid, n, gt);
        }
        if (a->k_warm != 0.0f && vmaxvq_u32(notobj)) {
            float32x4_t slx, sly;
            const float32x4_t sx = sigmoid4(load_t(t, o, ss, n, tt), &slx);
            const float32x4_t sy = sigmoid4(load_t(t, o + cs, ss, n, tt), &sly);
            const float32x4_t v[4] = {vmulq_f32(vmulq_f32(kw, vsubq_f32(sx, half)), slx),
                                      vmulq_f32(vmulq_f32(kw, vsubq_f32(sy, half)), sly),
                                      vmulq_f32(kw, load_t(t, o + 2 * cs, ss, n, tt)),
                                      vmulq_f32(kw, load_t(t, o + 3 * cs, ss, n, tt))};
            for (int k = 0; k < 4; k++) {
                const int64_t ok = o + k * cs;
                if (acc)
                    store_t(g, ok, ss, vaddq_f32(load_t(g, ok, ss, n, gt), v[k]), notobj, n, gt);
                else
                    store_t(g, ok, ss, and_f32(v[k], notobj), valid, n, gt);
            }
        } else if (!acc) {
            for (int k = 0; k < 4; k++)
                store_t(g, o + k * cs, ss, zero, valid, n, gt);
        }
    }
}

/* The entry points: one specialised copy per element type (pair). */
static void mask_f32(const rl_mask_args *a, rl_mask_sums *s) { mask_body(a, s, F32); }
static void mask_bf16(const rl_mask_args *a, rl_mask_sums *s) { mask_body(a, s, BF16); }
static void mask_f16(const rl_mask_args *a, rl_mask_sums *s) { mask_body(a, s, F16); }

static void mask_neon(const rl_mask_args *a, rl_mask_sums *s)
{
    switch (a->run.t_type) {
    case BF16:
        mask_bf16(a, s);
        break;
    case F16:
        mask_f16(a, s);
        break;
    default:
        mask_f32(a, s);
    }
}

static void stream_f32(const rl_stream_args *a, rl_mask_sums *s) { stream_body(a, s, F32); }
static void stream_bf16(const rl_stream_args *a, rl_mask_sums *s) { stream_body(a, s, BF16); }
static void stream_f16(const rl_stream_args *a, rl_mask_sums *s) { stream_body(a, s, F16); }

static void stream_neon(const rl_stream_args *a, rl_mask_sums *s)
{
    switch (a->run.t_type) {
    case BF16:
        stream_bf16(a, s);
        break;
    case F16:
        stream_f16(a, s);
        break;
    default:
        stream_f32(a, s);
    }
}

static void grad_f32(const rl_grad_args *a) { grad_body(a, F32, F32); }
static void grad_bf16(const rl_grad_args *a) { grad_body(a, BF16, BF16); }
static void grad_bf16_f32(const rl_grad_args *a) { grad_body(a, BF16, F32); }
static void grad_f16(const rl_grad_args *a) { grad_body(a, F16, F16); }
static void grad_f16_f32(const rl_grad_args *a) { grad_body(a, F16, F32); }

/* The gradient is float or of the predictions' type (kernels.h). */
static void grad_neon(const rl_grad_args *a)
{
    const int tt = a->run.t_type, gt = a->run.g_type;
    if (tt == BF16)
        (gt == BF16 ? grad_bf16 : grad_bf16_f32)(a);
    else if (tt == F16)
        (gt == F16 ? grad_f16 : grad_f16_f32)(a);
    else
        grad_f32(a);
}

static inline float32x4_t load_logits(const float *x, int64_t stride, int32_t c, int n,
                                      float fill)
{
    if (stride == 1 && n == 4)
        return vld1q_f32(x + c);
    float tmp[4] = {fill, fill, fill, fill};
    for (int l = 0; l < n; l++)
        tmp[l] = x[(int64_t)(c + l) * stride];
    return vld1q_f32(tmp);
}

static void softmax_neon(const float *x, int64_t stride, int32_t C, int32_t cls, double k,
                         float *grad, int accumulate, rl_softmax_out *out)
{
    float32x4_t mv = vdupq_n_f32(-INFINITY);
    for (int32_t c = 0; c < C; c += 4)
        mv = vmaxq_f32(mv, load_logits(x, stride, c, C - c < 4 ? C - c : 4, -INFINITY));
    const float m = vmaxvq_f32(mv);
    const float32x4_t mb = vdupq_n_f32(m);

    float64x2_t acc = vdupq_n_f64(0);
    for (int32_t c = 0; c < C; c += 4) {
        const int n = C - c < 4 ? C - c : 4;
        acc = add_ps_to_pd(acc, exp4(vsubq_f32(load_logits(x, stride, c, n, -INFINITY), mb)));
    }
    const double sum = vaddvq_f64(acc), log_sum = log(sum);
    out->neg_log_p = ((double)m - (double)x[(int64_t)cls * stride]) + log_sum;
    out->max = m;
    out->log_sum = log_sum;
    out->p_cls = exp(-out->neg_log_p);

    const float32x4_t inv = vdupq_n_f32((float)(1.0 / sum)), kf = vdupq_n_f32((float)k);
    float64x2_t p2 = vdupq_n_f64(0);
    static const int32_t iota[4] = {0, 1, 2, 3};
    for (int32_t c = 0; c < C; c += 4) {
        const int n = C - c < 4 ? C - c : 4;
        const float32x4_t p =
            vmulq_f32(exp4(vsubq_f32(load_logits(x, stride, c, n, -INFINITY), mb)), inv);
        p2 = add_ps_to_pd(p2, vmulq_f32(p, p));
        if (!grad)
            continue;
        const uint32x4_t is_cls = vceqq_s32(vaddq_s32(vdupq_n_s32(c), vld1q_s32(iota)),
                                            vdupq_n_s32(cls));
        const float32x4_t d = vsubq_f32(p, and_f32(vdupq_n_f32(1.0f), is_cls));
        float32x4_t v = vmulq_f32(kf, d);
        float *g = grad + (int64_t)c * stride;
        if (accumulate)
            v = vaddq_f32(load4(g, stride, n), v);
        store4(g, stride, v, lanes(n), n);
    }
    out->sum_p2 = vaddvq_f64(p2);
}

void RL_NEON_INIT(rl_kernels *k)
{
    k->lanes = 4;
    k->mask = mask_neon;
    k->stream = stream_neon;
    k->grad = grad_neon;
    k->softmax = softmax_neon;
}
