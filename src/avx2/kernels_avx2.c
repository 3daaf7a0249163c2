/* AVX2 + FMA + F16C kernels; they mirror src/generic/kernels_generic.c lane
 * by lane (mask_generic, stream_generic, grad_generic, softmax_generic).
 * Only this unit is built with -mavx2 -mfma -mf16c: the dispatcher (cpu.c)
 * runs on any x86-64 and enters here only after CPUID and XGETBV said the
 * CPU and the OS support it.
 *
 * Tensors of bfloat16 and binary16 are widened to float in registers (exact)
 * and the gradient narrowed in registers, to nearest even with a NaN staying
 * a NaN, bit for bit as src/elem.h's rl_f32_to_bf16 and rl_f32_to_f16
 * (tests/differential/test_narrow_avx2.c checks every float).  The kernel
 * bodies are always-inline functions of constant element types; each kernel
 * switches once per call on (t_type, g_type), and the float instantiation is
 * the float code of before. */
#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "kernels_avx2.c must be compiled with -mavx2 -mfma -mf16c"
#endif

/* Built a second time with RL_AVX2_BF16 (src/avx2/meson.build) for CPUs with
 * AVX512_BF16: the same kernels, narrowing to bfloat16 with vcvtneps2bf16;
 * the variant "avx2-bf16", its names suffixed _avx2_bf16. */
#if defined(RL_AVX2_BF16)
#if !defined(__AVX512BF16__) || !defined(__AVX512VL__)
#error "kernels_avx2.c with RL_AVX2_BF16 must be compiled with -mavx512bf16 -mavx512vl"
#endif
#define RL_AVX2_NAME(f) f##_avx2_bf16
#else
#define RL_AVX2_NAME(f) f##_avx2
#endif

#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <string.h>

#include "../elem.h"
#include "../kernels.h"
#include "hooks_avx2.h"

#define INL static inline __attribute__((always_inline))

#define exp8 Sleef_expf8_u10avx2
#define log1p8 Sleef_log1pf8_u10avx2

static const int32_t tail_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* Lanes [0, n) set, n in [0, 8]. */
static inline __m256i lanes(int n) { return _mm256_loadu_si256((const __m256i *)(tail_table + 8 - n)); }

/* Eight entries of one channel starting at cell q (stride in floats); lanes
 * outside `m` read as 0. */
/* Lanes l in `m` of p[l * stride], the others `fill`.  The gather takes
 * int32 indices: once 7 * stride no longer fits (NHWC with B (5 + C) past
 * 3e8 floats, NCHW class logits with H W past it), a wrapped index would
 * read far outside the tensor, so those strides go lane by lane. */
static inline __m256 gather8(const float *p, int64_t stride, __m256i m, __m256 fill)
{
    if (stride <= INT32_MAX / 7) {
        const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                               _mm256_set1_epi32((int32_t)stride));
        return _mm256_mask_i32gather_ps(fill, p, idx, _mm256_castsi256_ps(m), 4);
    }
    float tmp[8];
    int32_t mm[8];
    _mm256_storeu_ps(tmp, fill);
    _mm256_storeu_si256((__m256i *)mm, m);
    for (int l = 0; l < 8; l++)
        if (mm[l])
            tmp[l] = p[l * stride];
    return _mm256_loadu_ps(tmp);
}

static inline __m256 load8(const float *p, int64_t stride, __m256i m, int full)
{
    if (stride == 1)
        return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
    return gather8(p, stride, m, _mm256_setzero_ps());
}

static inline void store8(float *p, int64_t stride, __m256 v, __m256i m, int full)
{
    if (stride == 1) {
        if (full)
            _mm256_storeu_ps(p, v);
        else
            _mm256_maskstore_ps(p, m, v);
        return;
    }
    float tmp[8];
    int32_t mm[8];
    _mm256_storeu_ps(tmp, v);
    _mm256_storeu_si256((__m256i *)mm, m);
    for (int l = 0; l < 8; l++)
        if (mm[l])
            p[l * stride] = tmp[l];
}

/* ---- bfloat16 and binary16 entries ------------------------------------- */

/* 16-bit lane k alone set, k in [0, 7]. */
static const int16_t pick16_table[15] = {0, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0, 0};
INL __m128i pick16(int k) { return _mm_loadu_si128((const __m128i *)(pick16_table + 7 - k)); }

/* Eight 16-bit entries widened to float, exactly. */
INL __m256 widen8(__m128i h, int type)
{
    if (type == RL_DTYPE_BF16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

/* Eight floats rounded to nearest even into 16-bit entries of `type`, a NaN
 * staying a NaN: rl_f32_to_bf16 and rl_f32_to_f16 lane by lane. */
INL __m128i narrow8(__m256 v, int type)
{
    if (type == RL_DTYPE_F16) /* F16C: NaN quieted, top payload bits kept */
        return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256i u = _mm256_castps_si256(v);
#if defined(RL_AVX2_BF16)
    {
        /* vcvtneps2bf16 rounds to nearest even and quiets a NaN keeping its
         * top bits, as rl_f32_to_bf16, but flushes a float subnormal to
         * zero (whatever MXCSR says): a vector holding one takes the
         * rounding by hand below. */
        const __m256i a = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
        const __m256i sub = _mm256_and_si256(_mm256_cmpgt_epi32(a, _mm256_setzero_si256()),
                                             _mm256_cmpgt_epi32(_mm256_set1_epi32(0x00800000), a));
        if (__builtin_expect(_mm256_testz_si256(sub, sub), 1))
            return (__m128i)_mm256_cvtneps_pbh(v);
    }
#endif
    const __m256i hi = _mm256_srli_epi32(u, 16);
    const __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
    /* NaN: |u| > 0x7f800000 as signed integers (|u| < 2^31) */
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                           _mm256_set1_epi32(0x7f800000));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x0040)), nan);
    /* every lane is below 2^16: the unsigned saturating pack keeps it; the
     * 128-bit pack of the two halves keeps the lanes in order */
    return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

/* p[0 .. n) (n in [0, 8]) of 16-bit entries, zeros above: reads nothing
 * past p[n - 1]. */
INL __m128i load16_prefix(const uint16_t *p, int n)
{
    const __m128i m = _mm_loadu_si128((const __m128i *)(tail_table + 8 - (n >> 1)));
    __m128i v = _mm_maskload_epi32((const int *)p, m);
    if (n & 1)
        v = _mm_blendv_epi8(v, _mm_set1_epi16((short)p[n - 1]), pick16(n - 1));
    return v;
}

/* Stores lanes [0, n) of v at p[0 .. n), nothing else. */
INL void store16_prefix(uint16_t *p, __m128i v, int n)
{
    if (n == 8) {
        _mm_storeu_si128((__m128i *)p, v);
        return;
    }
    _mm_maskstore_epi32((int *)p, _mm_loadu_si128((const __m128i *)(tail_table + 8 - (n >> 1))),
                        v);
    if (n & 1) {
        uint16_t tmp[8];
        _mm_storeu_si128((__m128i *)tmp, v);
        p[n - 1] = tmp[n - 1];
    }
}

/* Lanes l in `m` of the 16-bit entries p[l * stride] (the others 0), in the
 * low half of 32-bit lanes when `hi` is 0, in the high half (the low half
 * then undefined) when `hi` is 1.  The gather reads 32 bits per lane: from
 * p + l*stride (the entry and the one after it) when hi is 0, from
 * p + l*stride - 1 (the entry before it and the entry) when hi is 1.  The
 * callers choose so that both entries lie in the tensor: the entry after
 * channel 0 of a slot is its channel 1, the entry before channel k >= 1 is
 * its channel k - 1, so no read leaves the tensor, whose ends may be the
 * ends of a mapping.  Past int32 indices, lane by lane (see gather8). */
INL __m256i gather16(const uint16_t *p, int64_t stride, __m256i m, int hi)
{
    if (stride <= INT32_MAX / 7) {
        const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                               _mm256_set1_epi32((int32_t)stride));
        return _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int *)(p - hi), idx, m,
                                           2);
    }
    uint32_t tmp[8];
    int32_t mm[8];
    _mm256_storeu_si256((__m256i *)mm, m);
    for (int l = 0; l < 8; l++)
        tmp[l] = mm[l] ? (uint32_t)p[l * stride] << (16 * hi) : 0;
    return _mm256_loadu_si256((const __m256i *)tmp);
}

/* Eight entries of type `type` at p (element pointer), stride in elements:
 * lanes in `m`, zero elsewhere; `n` is the number of valid lanes, m a
 * subset of them ([0, n) when `full`, which means n == 8 and m all set).
 * `ch0` says p is some slot's channel 0 (gather16's choice).  For float it
 * is load8; a contiguous 16-bit load reads the n valid lanes whatever m
 * (they are the run's entries), so lanes outside m may hold values. */
INL __m256 loadT(const void *p, int64_t stride, __m256i m, int n, int full, int ch0, int type)
{
    if (type == RL_DTYPE_F32)
        return load8((const float *)p, stride, m, full);
    const uint16_t *h = (const uint16_t *)p;
    if (stride == 1)
        return widen8(full ? _mm_loadu_si128((const __m128i *)h) : load16_prefix(h, n), type);
    const __m256i g = gather16(h, stride, m, !ch0);
    if (type == RL_DTYPE_BF16)
        return _mm256_castsi256_ps(ch0 ? _mm256_slli_epi32(g, 16)
                                       : _mm256_and_si256(g, _mm256_set1_epi32((int)0xffff0000u)));
    const __m256i w = ch0 ? _mm256_and_si256(g, _mm256_set1_epi32(0xffff)) : _mm256_srli_epi32(g, 16);
    return _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
}

/* Stores the lanes in `m` of v at p[l * stride] as entries of `type`,
 * rounded to nearest even, and touches no other entry.  n, full: as in
 * loadT. */
INL void storeT(void *p, int64_t stride, __m256 v, __m256i m, int n, int full, int type)
{
    if (type == RL_DTYPE_F32) {
        store8((float *)p, stride, v, m, full);
        return;
    }
    uint16_t *h = (uint16_t *)p;
    const __m128i nv = narrow8(v, type);
    const unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(m));
    if (stride == 1 && (full || bits == (1u << n) - 1)) {
        store16_prefix(h, nv, full ? 8 : n);
        return;
    }
    if (stride == 1 && n == 8) {
        /* Eight entries of the run, some of them not to change (accumulate
         * at cells that are not noobj): those are written back with the
         * bits they hold, one 16-byte store instead of one per entry.  The
         * run is one image's and one task's, so nothing else writes them. */
        const __m128i keep = _mm_packs_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
        const __m128i old = _mm_loadu_si128((const __m128i *)h);
        _mm_storeu_si128((__m128i *)h, _mm_blendv_epi8(old, nv, keep));
        return;
    }
    uint16_t tmp[8];
    _mm_storeu_si128((__m128i *)tmp, nv);
    for (unsigned b = bits; b; b &= b - 1) {
        const int l = __builtin_ctz(b);
        h[l * stride] = tmp[l];
    }
}


/* s(z) and s(z)s(-z) from one exp of -|z|: no overflow, no cancellation.
 * *em, when given, receives that exp, e^-|z|. */
static inline __m256 sigmoid8e(__m256 z, __m256 *slope, __m256 *em)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 absz = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), absz));
    const __m256 sp = _mm256_div_ps(one, _mm256_add_ps(one, e)); /* s(|z|) */
    const __m256 sn = _mm256_mul_ps(e, sp);                       /* s(-|z|) */
    if (slope)
        *slope = _mm256_mul_ps(sp, sn);
    if (em)
        *em = e;
    return _mm256_blendv_ps(sp, sn, _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ));
}

static inline __m256 sigmoid8(__m256 z, __m256 *slope) { return sigmoid8e(z, slope, NULL); }

/* softplus(z) = -log(1 - s(z)) = max(z, 0) + log1p(e^-|z|), e = e^-|z| as
 * sigmoid8e gave it: a sum of two non-negative terms, so no cancellation;
 * e in [0, 1], so no overflow; for z very negative it is log1p(e) ~ e. */
static inline __m256 softplus8(__m256 z, __m256 e)
{
    return _mm256_add_ps(_mm256_max_ps(z, _mm256_setzero_ps()), log1p8(e));
}

static inline __m256d add_ps_to_pd(__m256d acc, __m256 v)
{
    acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

static inline double hsum_pd(__m256d v)
{
    __m128d lo = _mm256_castpd256_pd128(v), hi = _mm256_extractf128_pd(v, 1);
    lo = _mm_add_pd(lo, hi);
    return _mm_cvtsd_f64(_mm_add_sd(lo, _mm_unpackhi_pd(lo, lo)));
}

static inline float hmin8(__m256 v)
{
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_min_ss(m, _mm_shuffle_ps(m, m, 1)));
}

static inline float hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}

/* All-ones lanes where v is NaN or infinite (exponent bits all set). */
static inline __m256i nonfinite8(__m256 v)
{
    const __m256i expmask = _mm256_set1_epi32(0x7f800000);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(v), expmask), expmask);
}

/* The per-vector parts the mask and stream kernels share: c^ = s(tc) added
 * to c_all and the noobj gradient's factor stored for the grad kernel
 * (c^ * c^(1 - c^), or c^ with `bce`), e^-|tc| left in *e for the BCE
 * term; the noobj sums, with `bce` softplus(tc) too; darknet's warm-up term
 * (tw^2, th^2 in double: a float square overflows past 1.8e19). */
static inline __m256 objectness8(__m256 tc, __m256 vmask, float *cslope, __m256i valid, int full,
                                 int bce, __m256 *e, __m256d *acc_c_all)
{
    __m256 slope;
    const __m256 c = sigmoid8e(tc, &slope, e);
    *acc_c_all = add_ps_to_pd(*acc_c_all, _mm256_and_ps(c, vmask));
    if (cslope)
        store8(cslope, 1, bce ? c : _mm256_mul_ps(c, slope), valid, full);
    return c;
}

static inline void add_noobj8(__m256 c, __m256 tc, __m256 e, __m256 noobj, int bce,
                              __m256d *acc_c, __m256d *acc_c2, __m256d *acc_bce)
{
    const __m256 cn = _mm256_and_ps(c, noobj);
    *acc_c = add_ps_to_pd(*acc_c, cn);
    *acc_c2 = add_ps_to_pd(*acc_c2, _mm256_mul_ps(cn, cn));
    if (bce && !_mm256_testz_ps(noobj, noobj))
        *acc_bce = add_ps_to_pd(*acc_bce, _mm256_and_ps(softplus8(tc, e), noobj));
}

static inline __m256d add_warm8(__m256d acc, __m256 sx, __m256 sy, __m256 tw, __m256 th,
                                __m256 live)
{
    const __m256 half = _mm256_set1_ps(0.5f);
    const __m256 dx = _mm256_sub_ps(sx, half), dy = _mm256_sub_ps(sy, half);
    const __m256 w = _mm256_and_ps(_mm256_fmadd_ps(dy, dy, _mm256_mul_ps(dx, dx)), live);
    acc = add_ps_to_pd(acc, w);
    const __m256 twl = _mm256_and_ps(tw, live), thl = _mm256_and_ps(th, live);
    const __m256d w0 = _mm256_cvtps_pd(_mm256_castps256_ps128(twl));
    const __m256d w1 = _mm256_cvtps_pd(_mm256_extractf128_ps(twl, 1));
    const __m256d h0 = _mm256_cvtps_pd(_mm256_castps256_ps128(thl));
    const __m256d h1 = _mm256_cvtps_pd(_mm256_extractf128_ps(thl, 1));
    acc = _mm256_fmadd_pd(w0, w0, acc);
    acc = _mm256_fmadd_pd(w1, w1, acc);
    acc = _mm256_fmadd_pd(h0, h0, acc);
    return _mm256_fmadd_pd(h1, h1, acc);
}

/* Channel k of the run's eight cells from t (their channel 0). */
INL __m256 load_ch(const void *t, int k, int64_t cs, int64_t ss, __m256i m, int n, int full,
                   int type)
{
    return loadT(rl_elem_at(t, k * cs, type), ss, m, n, full, k == 0, type);
}

static inline __m256i kinds8(const uint8_t *k, int n)
{
    uint64_t bytes = 0;
    memcpy(&bytes, k, (size_t)n);
    return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)bytes));
}

INL void mask_body(const rl_mask_args *a, rl_mask_sums *s, const int tt)
{
    const rl_run *r = &a->run;
    const int64_t cs = r->ch_stride, ss = r->slot_stride;
    const rl_truth_soa *T = a->truths;
    const __m256 zero = _mm256_setzero_ps(), half = _mm256_set1_ps(0.5f);
    const __m256 aw = _mm256_set1_ps(r->aw), ah = _mm256_set1_ps(r->ah);
    const __m256 thresh = _mm256_set1_ps(a->thresh), inf = _mm256_set1_ps(INFINITY);
    const __m256 dw = _mm256_set1_ps(a->doubt_w), dh = _mm256_set1_ps(a->doubt_h);
    const __m256 dc = _mm256_set1_ps(a->doubt_c);
    __m256d acc_c_all = _mm256_setzero_pd(), acc_c = _mm256_setzero_pd();
    __m256d acc_c2 = _mm256_setzero_pd(), acc_warm = _mm256_setzero_pd();
    __m256d acc_bce = _mm256_setzero_pd();
    __m256i bad = _mm256_setzero_si256();
    int64_t n_noobj = 0;
    /* cell coordinates of the 8 lanes, advanced by 8 cells per step */
    __m256i jv = _mm256_add_epi32(_mm256_set1_epi32(r->q0 % r->W),
                                  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256i iv = _mm256_set1_epi32(r->q0 / r->W);
    const __m256i Wv = _mm256_set1_epi32(r->W), W1 = _mm256_set1_epi32(r->W - 1);
    for (;;) { /* bring the first lanes into [0, W) */
        const __m256i over = _mm256_cmpgt_epi32(jv, W1);
        if (_mm256_testz_si256(over, over))
            break;
        jv = _mm256_sub_epi32(jv, _mm256_and_si256(over, Wv));
        iv = _mm256_sub_epi32(iv, over);
    }

    for (int32_t q = 0; q < r->count; q += 8) {
        const int n = r->count - q < 8 ? r->count - q : 8, full = n == 8;
        const __m256i valid = lanes(n);
        const void *t = rl_elem_at(r->t, q * ss, tt);
        const __m256 tx = load_ch(t, 0, cs, ss, valid, n, full, tt);
        const __m256 ty = load_ch(t, 1, cs, ss, valid, n, full, tt);
        const __m256 tw = load_ch(t, 2, cs, ss, valid, n, full, tt);
        const __m256 th = load_ch(t, 3, cs, ss, valid, n, full, tt);
        const __m256 tc = load_ch(t, 4, cs, ss, valid, n, full, tt);
        bad = _mm256_or_si256(bad, _mm256_or_si256(nonfinite8(tx), nonfinite8(ty)));
        bad = _mm256_or_si256(bad, _mm256_or_si256(nonfinite8(tw), nonfinite8(th)));
        bad = _mm256_or_si256(bad, nonfinite8(tc));

        const __m256 vmask = _mm256_castsi256_ps(valid);
        __m256 e;
        const __m256 c = objectness8(tc, vmask, a->cslope ? a->cslope + q : NULL, valid, full,
                                     a->bce, &e, &acc_c_all);

        const __m256i kd = kinds8(a->kind + q, n);
        const __m256 is_obj = _mm256_castsi256_ps(_mm256_cmpeq_epi32(kd, _mm256_set1_epi32(RL_KIND_OBJ)));
        const __m256 live = _mm256_andnot_ps(is_obj, vmask); /* cells this kernel decides */

        const __m256 sx = sigmoid8(tx, NULL), sy = sigmoid8(ty, NULL);
        const __m256 px = _mm256_add_ps(_mm256_cvtepi32_ps(jv), sx);
        const __m256 py = _mm256_add_ps(_mm256_cvtepi32_ps(iv), sy);
        const __m256 pw = _mm256_mul_ps(aw, exp8(tw)), ph = _mm256_mul_ps(ah, exp8(th));
        const __m256 hw = _mm256_mul_ps(half, pw), hh = _mm256_mul_ps(half, ph);
        const __m256 x0 = _mm256_sub_ps(px, hw), x1 = _mm256_add_ps(px, hw);
        const __m256 y0 = _mm256_sub_ps(py, hh), y1 = _mm256_add_ps(py, hh);
        const __m256 ap = _mm256_mul_ps(pw, ph);
        __m256 best = zero;
        /* Only truths that overlap the bounding extent of this vector's live
         * boxes can have a non-zero IoU with any of them; the others are
         * skipped eight at a time, which is exact (their IoU is 0). */
        __m256 ext[4];
        const int any_live = !_mm256_testz_ps(live, live);
        if (any_live) {
            ext[0] = _mm256_set1_ps(hmin8(_mm256_blendv_ps(inf, x0, live)));
            ext[1] = _mm256_set1_ps(hmax8(_mm256_blendv_ps(_mm256_sub_ps(zero, inf), x1, live)));
            ext[2] = _mm256_set1_ps(hmin8(_mm256_blendv_ps(inf, y0, live)));
            ext[3] = _mm256_set1_ps(hmax8(_mm256_blendv_ps(_mm256_sub_ps(zero, inf), y1, live)));
        }
        for (int32_t k0 = 0; any_live && k0 < T->n; k0 += 8) {
            const __m256i tm = lanes(T->n - k0 < 8 ? T->n - k0 : 8);
            /* NaN-safe: a comparison with NaN keeps the truth (no skip) */
            __m256 skip = _mm256_cmp_ps(_mm256_maskload_ps(T->x1 + k0, tm), ext[0], _CMP_LE_OQ);
            skip = _mm256_or_ps(skip, _mm256_cmp_ps(_mm256_maskload_ps(T->x0 + k0, tm), ext[1],
                                                    _CMP_GE_OQ));
            skip = _mm256_or_ps(skip, _mm256_cmp_ps(_mm256_maskload_ps(T->y1 + k0, tm), ext[2],
                                                    _CMP_LE_OQ));
            skip = _mm256_or_ps(skip, _mm256_cmp_ps(_mm256_maskload_ps(T->y0 + k0, tm), ext[3],
                                                    _CMP_GE_OQ));
            unsigned hits = (unsigned)_mm256_movemask_ps(
                _mm256_andnot_ps(skip, _mm256_castsi256_ps(tm)));
            while (hits) {
                const int32_t k = k0 + __builtin_ctz(hits);
                hits &= hits - 1;
                const __m256 ox = _mm256_sub_ps(_mm256_min_ps(x1, _mm256_broadcast_ss(&T->x1[k])),
                                                _mm256_max_ps(x0, _mm256_broadcast_ss(&T->x0[k])));
                const __m256 oy = _mm256_sub_ps(_mm256_min_ps(y1, _mm256_broadcast_ss(&T->y1[k])),
                                                _mm256_max_ps(y0, _mm256_broadcast_ss(&T->y0[k])));
                const __m256 inter = _mm256_mul_ps(_mm256_max_ps(ox, zero), _mm256_max_ps(oy, zero));
                const __m256 u = _mm256_sub_ps(_mm256_add_ps(ap, _mm256_broadcast_ss(&T->area[k])), inter);
                const __m256 iou = _mm256_and_ps(_mm256_div_ps(inter, u),
                                                 _mm256_cmp_ps(u, zero, _CMP_GT_OQ));
                best = _mm256_max_ps(best, iou);
            }
        }
        /* a box of zero, infinite or undefined area has IoU 0 */
        const __m256 area_ok = _mm256_and_ps(_mm256_cmp_ps(ap, zero, _CMP_GT_OQ),
                                             _mm256_cmp_ps(ap, inf, _CMP_LT_OQ));
        best = _mm256_and_ps(best, area_ok);
        const __m256 below = a->noobj_inclusive ? _mm256_cmp_ps(best, thresh, _CMP_LE_OQ)
                                                : _mm256_cmp_ps(best, thresh, _CMP_LT_OQ);
        __m256 noobj = _mm256_and_ps(below, live);
        /* boxes float cannot size to tolerance: decided in double */
        const __m256 bmin = _mm256_set1_ps(RL_BOX_MIN), bmax = _mm256_set1_ps(RL_BOX_MAX);
        const __m256 sane = _mm256_and_ps(
            _mm256_and_ps(_mm256_cmp_ps(pw, bmin, _CMP_GE_OQ), _mm256_cmp_ps(pw, bmax, _CMP_LE_OQ)),
            _mm256_and_ps(_mm256_cmp_ps(ph, bmin, _CMP_GE_OQ), _mm256_cmp_ps(ph, bmax, _CMP_LE_OQ)));
        /* and those whose float best IoU is too near thresh to decide it */
        const __m256 margin = _mm256_add_ps(
            _mm256_div_ps(_mm256_fmadd_ps(dw, ph, _mm256_mul_ps(dh, pw)), ap), dc);
        const __m256 dist = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(best, thresh));
        const __m256 doubt = _mm256_and_ps(_mm256_cmp_ps(dist, margin, _CMP_LE_OQ), live);
        const int extreme = _mm256_movemask_ps(_mm256_or_ps(_mm256_andnot_ps(sane, live), doubt));
        if (extreme) {
            float vb[8], vn[8], vx[8], vy[8], vw[8], vh[8];
            int32_t vi[8], vj[8];
            _mm256_storeu_ps(vb, best);
            _mm256_storeu_ps(vn, noobj);
            _mm256_storeu_ps(vx, tx);
            _mm256_storeu_ps(vy, ty);
            _mm256_storeu_ps(vw, tw);
            _mm256_storeu_ps(vh, th);
            _mm256_storeu_si256((__m256i *)vi, iv);
            _mm256_storeu_si256((__m256i *)vj, jv);
            for (int l = 0; l < 8; l++) {
                if (!((extreme >> l) & 1))
                    continue;
                const double bd = rl_best_iou_exact(vx[l], vy[l], vw[l], vh[l], vi[l], vj[l],
                                                    r->aw_d, r->ah_d, T);
                const int no = a->noobj_inclusive ? bd <= a->thresh_d : bd < a->thresh_d;
                const uint32_t bits = no ? ~0u : 0u;
                memcpy(&vn[l], &bits, 4);
                vb[l] = (float)bd;
            }
            best = _mm256_loadu_ps(vb);
            noobj = _mm256_loadu_ps(vn);
        }

        const int nm = _mm256_movemask_ps(noobj);
        {   /* live cells become NOOBJ or IGNORED, the others keep their byte */
            const __m256i dec = _mm256_and_si256(_mm256_castps_si256(noobj),
                                                 _mm256_set1_epi32(RL_KIND_NOOBJ));
            const __m256i k32 = _mm256_blendv_epi8(kd, dec, _mm256_castps_si256(live));
            const __m128i k16 = _mm_packus_epi32(_mm256_castsi256_si128(k32),
                                                 _mm256_extracti128_si256(k32, 1));
            const uint64_t bytes = (uint64_t)_mm_cvtsi128_si64(_mm_packus_epi16(k16, k16));
            memcpy(a->kind + q, &bytes, (size_t)n);
        }
        if (a->best) {
            float tmp[8];
            _mm256_storeu_ps(tmp, _mm256_blendv_ps(best, _mm256_set1_ps(-1.0f), is_obj));
            memcpy(a->best + q, tmp, (size_t)n * sizeof(float));
        }
        n_noobj += __builtin_popcount((unsigned)nm);
        add_noobj8(c, tc, e, noobj, a->bce, &acc_c, &acc_c2, &acc_bce);
        if (a->warmup)
            acc_warm = add_warm8(acc_warm, sx, sy, tw, th, live);

        jv = _mm256_add_epi32(jv, _mm256_set1_epi32(8));
        for (;;) {
            const __m256i over = _mm256_cmpgt_epi32(jv, W1);
            if (_mm256_testz_si256(over, over))
                break;
            jv = _mm256_sub_epi32(jv, _mm256_and_si256(over, Wv));
            iv = _mm256_sub_epi32(iv, over);
        }
    }
    s->n_noobj += n_noobj;
    s->c_all += hsum_pd(acc_c_all);
    s->c_noobj += hsum_pd(acc_c);
    s->c2_noobj += hsum_pd(acc_c2);
    s->warm += hsum_pd(acc_warm);
    if (a->bce)
        s->bce_noobj += hsum_pd(acc_bce);
    if (!_mm256_testz_si256(bad, bad))
        s->nonfinite = 1;
}

INL void stream_body(const rl_stream_args *a, rl_mask_sums *s, const int tt)
{
    const rl_run *r = &a->run;
    const int64_t cs = r->ch_stride, ss = r->slot_stride;
    __m256d acc_c_all = _mm256_setzero_pd(), acc_c = _mm256_setzero_pd();
    __m256d acc_c2 = _mm256_setzero_pd(), acc_warm = _mm256_setzero_pd();
    __m256d acc_bce = _mm256_setzero_pd();
    __m256i bad = _mm256_setzero_si256();
    int64_t n_noobj = 0;
    for (int32_t q = 0; q < r->count; q += 8) {
        const int n = r->count - q < 8 ? r->count - q : 8, full = n == 8;
        const __m256i valid = lanes(n);
        const void *t = rl_elem_at(r->t, q * ss, tt);
        const __m256 tc = load_ch(t, 4, cs, ss, valid, n, full, tt);
        __m256 box[4];
        for (int k = 0; k < 4; k++) {
            box[k] = load_ch(t, k, cs, ss, valid, n, full, tt);
            bad = _mm256_or_si256(bad, nonfinite8(box[k]));
        }
        bad = _mm256_or_si256(bad, nonfinite8(tc));

        const __m256 vmask = _mm256_castsi256_ps(valid);
        __m256 e;
        const __m256 c = objectness8(tc, vmask, a->cslope ? a->cslope + q : NULL, valid, full,
                                     a->bce, &e, &acc_c_all);
        const __m256i kd = kinds8(a->kind + q, n);
        const __m256 noobj = _mm256_and_ps(
            vmask, _mm256_castsi256_ps(_mm256_cmpeq_epi32(kd, _mm256_set1_epi32(RL_KIND_NOOBJ))));
        n_noobj += __builtin_popcount((unsigned)_mm256_movemask_ps(noobj));
        add_noobj8(c, tc, e, noobj, a->bce, &acc_c, &acc_c2, &acc_bce);
        if (a->warmup) {
            const __m256 live = _mm256_andnot_ps(
                _mm256_castsi256_ps(_mm256_cmpeq_epi32(kd, _mm256_set1_epi32(RL_KIND_OBJ))), vmask);
            acc_warm = add_warm8(acc_warm, sigmoid8(box[0], NULL), sigmoid8(box[1], NULL), box[2],
                                 box[3], live);
        }
    }
    s->n_noobj += n_noobj;
    s->c_all += hsum_pd(acc_c_all);
    s->c_noobj += hsum_pd(acc_c);
    s->c2_noobj += hsum_pd(acc_c2);
    s->warm += hsum_pd(acc_warm);
    if (a->bce)
        s->bce_noobj += hsum_pd(acc_bce);
    if (!_mm256_testz_si256(bad, bad))
        s->nonfinite = 1;
}

INL void grad_body(const rl_grad_args *a, const int tt, const int gt)
{
    const rl_run *r = &a->run;
    const int64_t cs = r->ch_stride, ss = r->slot_stride;
    const __m256 kn = _mm256_set1_ps(a->k_noobj), kw = _mm256_set1_ps(a->k_warm);
    const __m256 half = _mm256_set1_ps(0.5f), zero = _mm256_setzero_ps();
    const int acc = a->accumulate;
    for (int32_t q = 0; q < r->count; q += 8) {
        const int n = r->count - q < 8 ? r->count - q : 8, full = n == 8;
        const __m256i valid = lanes(n);
        const __m256i kd = kinds8(a->kind + q, n);
        const __m256i noobj = _mm256_and_si256(
            valid, _mm256_cmpeq_epi32(kd, _mm256_set1_epi32(RL_KIND_NOOBJ)));
        const __m256i notobj = _mm256_andnot_si256(
            _mm256_cmpeq_epi32(kd, _mm256_set1_epi32(RL_KIND_OBJ)), valid);
        const void *t = rl_elem_at(r->t, q * ss, tt);
        void *g = rl_elem_at_mut(r->grad, q * ss, gt);
        void *const gc = rl_elem_at_mut(g, 4 * cs, gt);
        /* overwrite: every valid lane of channels 0..4 is stored, 0 where
         * the slot has no such term */
        if (!_mm256_testz_si256(noobj, noobj)) {
            __m256 v;
            if (a->cslope) {
                v = _mm256_mul_ps(kn, load8(a->cslope + q, 1, valid, full));
            } else {
                const __m256 tc = load_ch(t, 4, cs, ss, valid, n, full, tt);
                __m256 slope;
                const __m256 c = sigmoid8(tc, &slope);
                v = _mm256_mul_ps(_mm256_mul_ps(kn, c), slope);
            }
            if (acc)
                storeT(gc, ss, _mm256_add_ps(loadT(gc, ss, noobj, n, 0, 0, gt), v), noobj, n, 0, gt);
            else
                storeT(gc, ss, _mm256_and_ps(v, _mm256_castsi256_ps(noobj)), valid, n, full, gt);
        } else if (!acc) {
            storeT(gc, ss, zero, valid, n, full, gt);
        }
        if (a->k_warm != 0.0f && !_mm256_testz_si256(notobj, notobj)) {
            __m256 slx, sly;
            const __m256 sx = sigmoid8(load_ch(t, 0, cs, ss, valid, n, full, tt), &slx);
            const __m256 sy = sigmoid8(load_ch(t, 1, cs, ss, valid, n, full, tt), &sly);
            const __m256 v[4] = {
                _mm256_mul_ps(_mm256_mul_ps(kw, _mm256_sub_ps(sx, half)), slx),
                _mm256_mul_ps(_mm256_mul_ps(kw, _mm256_sub_ps(sy, half)), sly),
                _mm256_mul_ps(kw, load_ch(t, 2, cs, ss, valid, n, full, tt)),
                _mm256_mul_ps(kw, load_ch(t, 3, cs, ss, valid, n, full, tt))};
            for (int k = 0; k < 4; k++) {
                void *gk = rl_elem_at_mut(g, k * cs, gt);
                if (acc)
                    storeT(gk, ss, _mm256_add_ps(loadT(gk, ss, notobj, n, 0, k == 0, gt), v[k]),
                           notobj, n, 0, gt);
                else
                    storeT(gk, ss, _mm256_and_ps(v[k], _mm256_castsi256_ps(notobj)), valid, n,
                           full, gt);
            }
        } else if (!acc) {
            for (int k = 0; k < 4; k++)
                storeT(rl_elem_at_mut(g, k * cs, gt), ss, zero, valid, n, full, gt);
        }
    }
}

/* One instantiation per element type (and gradient type): the switch runs
 * once per call, the loops see constants. */
static void mask_avx2(const rl_mask_args *a, rl_mask_sums *s)
{
    switch (a->run.t_type) {
    case RL_DTYPE_BF16: mask_body(a, s, RL_DTYPE_BF16); break;
    case RL_DTYPE_F16: mask_body(a, s, RL_DTYPE_F16); break;
    default: mask_body(a, s, RL_DTYPE_F32); break;
    }
}

static void stream_avx2(const rl_stream_args *a, rl_mask_sums *s)
{
    switch (a->run.t_type) {
    case RL_DTYPE_BF16: stream_body(a, s, RL_DTYPE_BF16); break;
    case RL_DTYPE_F16: stream_body(a, s, RL_DTYPE_F16); break;
    default: stream_body(a, s, RL_DTYPE_F32); break;
    }
}

/* The gradient is float or the predictions' type (kernels.h). */
static void grad_avx2(const rl_grad_args *a)
{
    const int tt = a->run.t_type, gt = a->run.g_type;
    if (tt == RL_DTYPE_BF16 && gt == RL_DTYPE_BF16)
        grad_body(a, RL_DTYPE_BF16, RL_DTYPE_BF16);
    else if (tt == RL_DTYPE_BF16)
        grad_body(a, RL_DTYPE_BF16, RL_DTYPE_F32);
    else if (tt == RL_DTYPE_F16 && gt == RL_DTYPE_F16)
        grad_body(a, RL_DTYPE_F16, RL_DTYPE_F16);
    else if (tt == RL_DTYPE_F16)
        grad_body(a, RL_DTYPE_F16, RL_DTYPE_F32);
    else
        grad_body(a, RL_DTYPE_F32, RL_DTYPE_F32);
}

static inline __m256 load_logits(const float *x, int64_t stride, int32_t c, int n, __m256 fill)
{
    const __m256i m = lanes(n);
    if (stride == 1)
        return n == 8 ? _mm256_loadu_ps(x + c)
                      : _mm256_blendv_ps(fill, _mm256_maskload_ps(x + c, m), _mm256_castsi256_ps(m));
    return gather8(x + (int64_t)c * stride, stride, m, fill);
}

/* Up to this many classes the logits are gathered once into a contiguous
 * stack buffer, which then holds their exponentials: one strided read of the
 * logits instead of three (in NCHW a slot's logits are H*W floats apart, each
 * on its own cache line).  Beyond it they are read and exponentiated again. */
#define SOFTMAX_LOCAL 2048

static void softmax_avx2(const float *x, int64_t stride, int32_t C, int32_t cls, double k,
                         float *grad, int accumulate, rl_softmax_out *out)
{
    float buf[SOFTMAX_LOCAL + 8] __attribute__((aligned(32)));
    const int local = C <= SOFTMAX_LOCAL;
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 mv = ninf;
    for (int32_t c = 0; c < C; c += 8) {
        const __m256 v = load_logits(x, stride, c, C - c < 8 ? C - c : 8, ninf);
        if (local)
            _mm256_store_ps(buf + c, v);
        mv = _mm256_max_ps(mv, v);
    }
    const float m = hmax8(mv);
    const __m256 mb = _mm256_set1_ps(m);
    __m256d acc = _mm256_setzero_pd();
    for (int32_t c = 0; c < C; c += 8) {
        const __m256 v = local ? _mm256_load_ps(buf + c)
                               : load_logits(x, stride, c, C - c < 8 ? C - c : 8, ninf);
        const __m256 e = exp8(_mm256_sub_ps(v, mb)); /* the tail's exp(-inf) is 0 */
        if (local)
            _mm256_store_ps(buf + c, e);
        acc = add_ps_to_pd(acc, e);
    }
    const double sum = hsum_pd(acc), log_sum = log(sum);
    out->neg_log_p = ((double)m - (double)x[(int64_t)cls * stride]) + log_sum;
    out->max = m;
    out->log_sum = log_sum;
    out->p_cls = exp(-out->neg_log_p);

    const __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    const __m256 kf = _mm256_set1_ps((float)k);
    __m256d p2 = _mm256_setzero_pd();
    for (int32_t c = 0; c < C; c += 8) {
        const int n = C - c < 8 ? C - c : 8;
        const __m256 e = local ? _mm256_load_ps(buf + c)
                               : exp8(_mm256_sub_ps(load_logits(x, stride, c, n, ninf), mb));
        const __m256 p = _mm256_mul_ps(e, inv);
        p2 = add_ps_to_pd(p2, _mm256_mul_ps(p, p));
        if (!grad)
            continue;
        /* k (p - [c == cls]) */
        const __m256i ci = _mm256_add_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256 is_cls = _mm256_castsi256_ps(_mm256_cmpeq_epi32(ci, _mm256_set1_epi32(cls)));
        __m256 v = _mm256_mul_ps(kf, _mm256_sub_ps(p, _mm256_and_ps(is_cls, _mm256_set1_ps(1.0f))));
        const __m256i m8 = lanes(n);
        float *g = grad + (int64_t)c * stride;
        if (accumulate)
            v = _mm256_add_ps(load8(g, stride, m8, n == 8), v);
        store8(g, stride, v, m8, n == 8);
    }
    out->sum_p2 = hsum_pd(p2);
}

/* The test hooks (hooks_avx2.h).  Strided loads take channel 1's gather
 * (the 32 bits ending at the entry), which reads one entry before in[0]:
 * callers of the strided path give a pointer one entry into their buffer. */
INL void narrow_hook(const float *in, void *out, int64_t n, int64_t stride, const int type)
{
    for (int64_t i = 0; i < n; i += 8) {
        const int k = n - i < 8 ? (int)(n - i) : 8;
        const __m256i valid = lanes(k);
        storeT(rl_elem_at_mut(out, i * stride, type), stride, load8(in + i, 1, valid, k == 8), valid, k,
               k == 8, type);
    }
}

INL void widen_hook(const void *in, float *out, int64_t n, int64_t stride, const int type)
{
    for (int64_t i = 0; i < n; i += 8) {
        const int k = n - i < 8 ? (int)(n - i) : 8;
        const __m256i valid = lanes(k);
        store8(out + i, 1, loadT(rl_elem_at(in, i * stride, type), stride, valid, k, k == 8, 0, type),
               valid, k == 8);
    }
}

void RL_AVX2_NAME(rl_narrow)(const float *in, void *out, int64_t n, int64_t stride, int type)
{
    if (type == RL_DTYPE_BF16)
        narrow_hook(in, out, n, stride, RL_DTYPE_BF16);
    else
        narrow_hook(in, out, n, stride, RL_DTYPE_F16);
}

void RL_AVX2_NAME(rl_widen)(const void *in, float *out, int64_t n, int64_t stride, int type)
{
    if (type == RL_DTYPE_BF16)
        widen_hook(in, out, n, stride, RL_DTYPE_BF16);
    else
        widen_hook(in, out, n, stride, RL_DTYPE_F16);
}

void RL_AVX2_NAME(rl_kernels_init)(rl_kernels *k)
{
    k->lanes = 8;
    k->mask = mask_avx2;
    k->stream = stream_avx2;
    k->grad = grad_avx2;
    k->softmax = softmax_avx2;
}
