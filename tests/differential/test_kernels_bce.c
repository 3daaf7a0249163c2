/* The kernel table's BCE objectness flag (src/kernels.h, `bce` of
 * rl_mask_args and rl_stream_args), kernel by kernel, on every variant this
 * build and CPU run: the mask and stream kernels of each plan's table
 * (rl_plan_create with config.variant set to each name of rl_variant_list()),
 * against a computation in double.
 *
 * What a kernel must do with bce = 1 (kernels_generic.c states it lane by
 * lane): cslope[q] holds c^ = s(tc) instead of c^ * s(tc) s(-tc), and every
 * slot counted as noobj adds softplus(tc) = -log(1 - s(tc)) to bce_noobj.
 * Nothing else may change.  Two parts:
 *
 *   1. lanes: one slot's values alone, for tc swept over every finite float
 *      class that matters (a dense grid over [-110, 110], powers of 2^(1/8)
 *      from the smallest subnormal to FLT_MAX, both signs, the edges of
 *      exp's range, random bit patterns) in float, and over EVERY finite
 *      bfloat16 and binary16 value.  The slot sits at each lane position in
 *      turn of a run whose other cells are responsible and have tc = -200
 *      (s and softplus are exactly 0 there), so c_all is that slot's float
 *      c^ and bce_noobj its float softplus, widened exactly.  Checked:
 *        softplus within SP_ULPS float ulps of the exact value, finite;
 *        c^ within C_EPS * 2^-23 * s(tc) of the exact s(tc) (C_EPS ulps
 *        of float measured relative to the value), and cslope[q] == c^
 *        bit for bit (the c^ the sums use).
 *   2. runs: seeded random runs as the driver makes them (NCHW and NHWC
 *      strides, float / bfloat16 / binary16 entries, whole planes and row
 *      spans starting anywhere, counts that are no multiple of any lane
 *      width, tc from tiny to +-80 and past exp's range, truths, threshs,
 *      darknet's inclusive test, warm-up, cslope and best on or off).  Each
 *      run goes through the mask kernel and through the stream kernel, with
 *      bce = 0 and with bce = 1.  Checked:
 *        - bce = 1 changes nothing else: kinds, best, n_noobj, c_noobj,
 *          c2_noobj, c_all, warm and nonfinite equal those of bce = 0 bit
 *          for bit; with bce = 0 bce_noobj is not touched;
 *        - bce_noobj against the double sum of softplus(tc) over the slots
 *          the kernel marked noobj (stream: the kinds given), within
 *            SP_ULPS * sum_q ulp(softplus(tc_q)) + (2 n + 128) 2^-53 sum,
 *          ulp(x) being the spacing of floats at x (2^-149 below FLT_MIN);
 *        - cslope[q] within C_EPS * 2^-23 * s(tc_q) of s(tc_q), nothing
 *          past the run written;
 *        - the stream kernel given the mask kernel's kinds adds the same
 *          noobj sums, bce_noobj included, bit for bit (one shared helper
 *          per family: the same lanes in the same order).
 *
 * The bound.  Each kernel forms the float softplus as
 * max(tc, 0) + log1p(e), e = exp(-|tc|) the exp its sigmoid already took.
 * exp is within 1 ulp (SLEEF's u10, Highway's Exp, glibc), log1p within 1
 * (SLEEF u10, glibc) or 2 (Highway's Log1p) ulps.  For tc <= 0 the result
 * is log1p(e), whose condition number in e is e / ((1 + e) log1p(e)) <= 1,
 * so exp's relative error passes through at most unchanged: at most 2 ulps
 * of the result (a relative 2^-23 is up to 2 ulps where the result sits low
 * in its binade), plus log1p's own 1 or 2.  For tc > 0 the two terms are
 * non-negative and the log1p term is at most the sum, so its error in
 * units of the sum's ulp is no larger, plus 1/2 ulp for the addition.
 * Worst case 4.5 ulps (Highway); SP_ULPS = 5.  Since ulp(x) <= 2^-23 x for
 * a normal float, the sum's bound is a relative one of 5 * 2^-23 = 6.0e-7
 * (plus 5 * 2^-149 per subnormal term, where float has no relative
 * precision left: tc below about -87.3), and the double accumulation's
 * (2 n + 128) 2^-53, far below it.  Measured maxima are printed per variant.
 *
 * Measured over every float with |tc| in [2^-20, 110] and every 64th one
 * below (the kernels' formulas replayed on x86-64 with the same SLEEF,
 * Highway and libm calls): softplus at most 1.50 ulps off with SLEEF's AVX2
 * functions, 2.80 with Highway's (with and without FMA), 1.54 with glibc's
 * (generic).  This test's full sweep finds the same maxima on aarch64 as
 * on x86-64: 1.50 for neon and avx2, 2.51 for every Highway target.
 *
 * c^: each SIMD family computes s(|z|) = 1 / (1 + e), s(-|z|) = e s(|z|)
 * from the same exp, generic 1 / (1 + expf(-z)).  For tc < 0 that carries
 * exp's error (up to 2^-23 relative), the sum's, the division's and the
 * product's roundings.  The same exhaustive replay measured at most
 * 1.69 * 2^-23 * s(tc) (SLEEF and Highway alike, near tc = -7.57; glibc
 * 1.24).  Counted in floats that can be 3 from the rounded value: near
 * tc = -1.1 s(tc) sits just below 1/4, where 2^-23 relative is two float
 * spacings.  So the bound is relative, C_EPS = 2 ulps of float scaled to
 * the value, not a count of floats.  One
 * more exception: generic's 1 / (1 + expf(-z)) is 0 once expf(-z)
 * overflows (tc < -88.72), where s(tc) < 2^-128 is subnormal; so a c^
 * whose exact value is below FLT_MIN may be off by up to FLT_MIN (its
 * effect on the gradient k_noobj * c^ is below k_noobj * FLT_MIN).
 *
 *   test_kernels_bce [SEED]      or REGIONLOSS_SEED=S: the runs' stream
 *   REGIONLOSS_CASE=I            run only random run I (and no lane sweep)
 *   REGIONLOSS_CASES=N           random runs per variant (default 1500)
 *   REGIONLOSS_CHECK_VARIANT=V   only variant V (a comma-separated list)
 *   REGIONLOSS_LANE_STEP=K       check every K-th swept value (default 1:
 *                                all; qemu runs use 6 or 12)
 * The seed is printed with each failure's rerun line. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elem.h"
#include "internal.h"
#include "kernels.h"
#include "regionloss.h"

#define SP_ULPS 5.0
#define C_EPS 2.0
#define PAD_TC (-200.0f) /* s and softplus are exactly 0 there, in float */
#define SENTINEL (-7.0f)

/* ---- random numbers: one stream per (seed, run), the same for every variant */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unif(uint64_t *r) { return (double)(splitmix(r) >> 11) / 9007199254740992.0; }
static int pick(uint64_t *r, int n) { return (int)(unif(r) * n) % n; }
static double range(uint64_t *r, double lo, double hi) { return lo + (hi - lo) * unif(r); }

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* ---- exact values and float ulps */

static double softplus_d(double x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }

static double sigmoid_d(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    const double e = exp(x);
    return e / (1.0 + e);
}

/* The spacing of floats at |x| (x a double): 2^-149 below FLT_MIN. */
static double ulpf(double x)
{
    x = fabs(x);
    if (x < 0x1p-126)
        return 0x1p-149;
    int e;
    frexp(x, &e); /* x in [2^(e-1), 2^e) */
    return ldexp(1.0, e - 24);
}

/* |got - want| in float ulps of want; NaN and infinities count as huge. */
static double ulps(double got, double want)
{
    const double d = fabs(got - want) / ulpf(want);
    return d == d && d <= 1e30 ? d : 1e30;
}

/* |c - want| in units of 2^-23 want: float's ulps relative to the value. */
static double eps_err(float c, double want)
{
    const double r = fabs((double)c - want) / (0x1p-23 * want);
    return r == r && r <= 1e30 ? r : 1e30;
}

/* c^ within C_EPS * 2^-23 of s(tc) relatively; an exact value below
 * FLT_MIN within FLT_MIN (see above). */
static int c_ok(float c, double want)
{
    if (want < 0x1p-126)
        return fabs((double)c - want) <= 0x1p-126;
    return eps_err(c, want) <= C_EPS;
}

static int same_d(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }
static int same_f(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* v rounded to `type` at element off of t; returns what a load gives back. */
static float put(void *t, int64_t off, int type, float v)
{
    rl_store_f32(t, off, type, v);
    return rl_load(t, off, type);
}

static const char *type_name(int type)
{
    return type == RL_DTYPE_BF16 ? "bf16" : type == RL_DTYPE_F16 ? "f16" : "f32";
}

/* ---- the variants */

typedef struct variant {
    const char *name;
    rl_plan *plan;
    const rl_kernels *k;
    double sp_ulps, c_eps, sum_ratio, sum_rel; /* worst cases seen, for the report */
    long lanes, runs;
    int failures;
} variant;

static int wanted(const char *name)
{
    const char *only = getenv("REGIONLOSS_CHECK_VARIANT");
    if (!only || !*only)
        return 1;
    const size_t n = strlen(name);
    for (const char *p = only; *p;) {
        const char *end = strchr(p, ',');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static void fail(variant *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(variant *v, const char *fmt, ...)
{
    if (v->failures++ >= 20)
        return;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL %s: ", v->name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* ---- part 1: one slot at a time */

enum { SWEEP_CELLS = 70 }; /* past the widest vector, 64 lanes (SVE at 2048 bits) */

/* One tensor per element type: channel k of cell q at k * SWEEP_CELLS + q,
 * every tc PAD_TC but the one under test, which is put back afterwards. */
static float lane_f[5 * SWEEP_CELLS];
static uint16_t lane_bf16[5 * SWEEP_CELLS], lane_f16[5 * SWEEP_CELLS];
static uint8_t lane_kind[SWEEP_CELLS];
static float lane_cslope[SWEEP_CELLS + 1];

static void *lane_tensor(int type)
{
    return type == RL_DTYPE_F32 ? (void *)lane_f
           : type == RL_DTYPE_BF16 ? (void *)lane_bf16 : (void *)lane_f16;
}

static void lane_init(void)
{
    static const int types[3] = {RL_DTYPE_F32, RL_DTYPE_BF16, RL_DTYPE_F16};
    for (int k = 0; k < 3; k++) {
        void *t = lane_tensor(types[k]);
        for (int q = 0; q < SWEEP_CELLS; q++) {
            put(t, q, types[k], 0.25f);
            put(t, SWEEP_CELLS + q, types[k], -0.5f);
            put(t, 2 * SWEEP_CELLS + q, types[k], 0.0f);
            put(t, 3 * SWEEP_CELLS + q, types[k], 0.0f);
            put(t, 4 * SWEEP_CELLS + q, types[k], PAD_TC);
        }
    }
    memset(lane_kind, RL_KIND_OBJ, sizeof lane_kind);
}

/* A run of `count` cells whose cell p has tc and the others PAD_TC and are
 * responsible.  mask: the mask kernel decides p (no truths: noobj), else
 * the stream kernel is told it is noobj. */
static void lane_check(variant *v, int type, float tc_in, int count, int p, int mask)
{
    void *t = lane_tensor(type);
    const float tc = put(t, 4 * SWEEP_CELLS + p, type, tc_in);
    lane_kind[p] = mask ? RL_KIND_IGNORED : RL_KIND_NOOBJ;
    for (int q = 0; q <= count; q++)
        lane_cslope[q] = SENTINEL;
    const rl_run r = {t,     NULL, type, RL_DTYPE_F32, 1, SWEEP_CELLS, count, 9, 0, 1.0f, 1.0f,
                      1.0, 1.0};
    rl_mask_sums s;
    memset(&s, 0, sizeof s);
    if (mask) {
        const rl_truth_soa T = {NULL, NULL, NULL, NULL, NULL, 0, NULL, 8, 9};
        rl_mask_args a = {r, &T, lane_kind, 0.5f, 0.5, 0, 0, NULL, lane_cslope, 0, 0, 0, 1};
        rl_mask_doubt(&a, 8, 9);
        v->k->mask(&a, &s);
    } else {
        const rl_stream_args a = {r, lane_kind, 0, lane_cslope, 1};
        v->k->stream(&a, &s);
    }
    const int kind_p = lane_kind[p];
    put(t, 4 * SWEEP_CELLS + p, type, PAD_TC);
    lane_kind[p] = RL_KIND_OBJ;
    for (int q = 0; q < count; q++)
        if (q != p && lane_kind[q] != RL_KIND_OBJ)
            fail(v, "cell %d of %d: a responsible cell's kind changed", q, count);
    v->lanes++;
    const char *how = mask ? "mask" : "stream";
    if (s.n_noobj != 1 || kind_p != RL_KIND_NOOBJ) {
        fail(v, "%s, cell %d of %d, tc %a (%s): n_noobj %lld, kind %d", how, p, count,
             (double)tc, type_name(type), (long long)s.n_noobj, kind_p);
        return;
    }
    const double sp = softplus_d(tc), c = sigmoid_d(tc);
    const double e_sp = ulps(s.bce_noobj, sp);
    if (e_sp > v->sp_ulps)
        v->sp_ulps = e_sp;
    if (!(e_sp <= SP_ULPS) || (double)(float)s.bce_noobj != s.bce_noobj)
        fail(v, "%s, cell %d of %d, tc %a = %.9g (%s): softplus %a, exact %a (%.2f ulps)", how,
             p, count, (double)tc, (double)tc, type_name(type), s.bce_noobj, sp, e_sp);
    /* the other cells add exact zeros: c_all and c_noobj are the cell's c^ */
    const float cf = (float)s.c_all;
    if ((double)cf != s.c_all || !same_f(lane_cslope[p], cf) || !same_d(s.c_noobj, s.c_all))
        fail(v, "%s, cell %d of %d, tc %a (%s): cslope %a, c_all %a, c_noobj %a differ", how, p,
             count, (double)tc, type_name(type), (double)lane_cslope[p], s.c_all, s.c_noobj);
    if (c >= 0x1p-126 && eps_err(cf, c) > v->c_eps)
        v->c_eps = eps_err(cf, c);
    if (!c_ok(cf, c))
        fail(v, "%s, cell %d of %d, tc %a = %.9g (%s): c^ %a, exact %a (%.2f * 2^-23 off)",
             how, p, count, (double)tc, (double)tc, type_name(type), (double)cf, c,
             eps_err(cf, c));
    for (int q = 0; q <= count; q++) {
        const float want = q == count ? SENTINEL : 0.0f;
        if (q != p && !same_f(lane_cslope[q], want))
            fail(v, "%s, cell %d of %d (%s): cslope[%d] = %a, not %a", how, p, count,
                 type_name(type), q, (double)lane_cslope[q], (double)want);
    }
}

typedef struct sweeper {
    variant *v;
    uint64_t step, seen, k;
} sweeper;

/* Every step-th value offered is checked, at the next (run length, position)
 * of the cycle through every position of every length up to SWEEP_CELLS,
 * on the mask and the stream kernel in turn (which one takes the odd
 * lengths swaps from one cycle of lengths to the next). */
static void offer(sweeper *w, float tc, int type)
{
    if (w->seen++ % w->step)
        return;
    const int count = 1 + (int)(w->k % SWEEP_CELLS);
    const int p = (int)((w->k / SWEEP_CELLS) % (uint64_t)count);
    lane_check(w->v, type, tc, count, p, (int)((w->k / SWEEP_CELLS + w->k) & 1));
    w->k++;
}

static void sweep(variant *v, uint64_t seed, uint64_t step)
{
    sweeper w = {v, step ? step : 1, 0, 0};
    lane_init();
    /* a dense grid over [-110, 110]: +-80, exp's overflow near 88.72 and its
     * underflow to subnormals and to 0 near -87.34 and -103.97 */
    for (int i = 0; i <= 22000; i++)
        offer(&w, (float)(-110.0 + i * 0.01), RL_DTYPE_F32);
    /* powers of 2^(1/8), smallest subnormal to FLT_MAX, both signs */
    for (int i = -149 * 8; i < 128 * 8; i++) {
        const double m = ldexp(pow(2.0, (i & 7) / 8.0), i >> 3);
        if (m >= 0x1p-149 && m <= FLT_MAX) {
            offer(&w, (float)m, RL_DTYPE_F32);
            offer(&w, (float)-m, RL_DTYPE_F32);
        }
    }
    static const float special[] = {0.0f,     -0.0f,     FLT_MIN,  -FLT_MIN, 0x1p-149f,
                                    -0x1p-149f, FLT_MAX, -FLT_MAX, 80.0f,    -80.0f,
                                    87.33f,   -87.33f,   88.72f,   -88.72f,  88.73f,
                                    -88.73f,  89.0f,     -89.0f,   103.97f,  -103.97f,
                                    104.0f,   -104.0f,   16.63f,   -16.63f,  1e-30f,
                                    -1e-30f,  0x1p-24f,  -0x1p-24f, 0.6931472f, -0.6931472f};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        for (int rep = 0; rep < (int)w.step; rep++) /* never skipped */
            offer(&w, special[i], RL_DTYPE_F32);
    /* random finite bit patterns */
    uint64_t r = seed ^ 0x243f6a8885a308d3ull;
    for (int i = 0; i < 40000; i++) {
        float f;
        do
            f = rl_bits_f32((uint32_t)splitmix(&r));
        while (!isfinite(f));
        offer(&w, f, RL_DTYPE_F32);
    }
    /* every finite bfloat16 and binary16 value */
    for (uint32_t b = 0; b < 0x10000u; b++) {
        if ((b & 0x7f80u) != 0x7f80u)
            offer(&w, rl_bf16_to_f32((uint16_t)b), RL_DTYPE_BF16);
        if ((b & 0x7c00u) != 0x7c00u)
            offer(&w, rl_f16_to_f32((uint16_t)b), RL_DTYPE_F16);
    }
}

/* ---- part 2: random runs */

enum { MAXT = 6 };

typedef struct scene {
    int H, W, B, K, type, nchw, q0, count, inclusive, warmup, use_cslope, use_best;
    int64_t ss, cs, elems, first; /* strides, tensor elements, the run's cell 0 */
    void *t;
    float *tc; /* the run's tc as the kernels read them */
    uint8_t *kind_in;
    rl_box truths[MAXT];
    float edges[5 * MAXT];
    int nt;
    float thresh;
    double aw_d, ah_d;
    char desc[160];
} scene;

/* A finite tc over the scales that matter, as stored in `type`. */
static float draw_tc(uint64_t *r)
{
    const double sign = pick(r, 2) ? 1.0 : -1.0;
    switch (pick(r, 10)) {
    case 0: case 1: case 2: case 3: return (float)range(r, -8, 8);
    case 4: return (float)(sign * (pick(r, 2) ? 80.0 : range(r, 79, 81)));
    case 5: return (float)(sign * pow(10.0, range(r, -30, 2)));
    case 6: return (float)(sign * range(r, 85, 110));
    case 7: return (float)(sign * pow(10.0, range(r, -45, -20))); /* subnormal floats too */
    case 8: return (float)(sign * pow(10.0, range(r, 2, 38.5)));
    default: return pick(r, 2) ? 0.0f : -0.0f;
    }
}

/* Stores v at element off as `type`; a value the type cannot hold (past
 * binary16's or bfloat16's largest) is replaced by a finite one. */
static float put_finite(void *t, int64_t off, int type, float v)
{
    const float w = put(t, off, type, v);
    return isfinite(w) ? w : put(t, off, type, copysignf(60000.0f, v));
}

static void scene_make(scene *sc, uint64_t seed, uint64_t index)
{
    uint64_t r = seed * 0x9e3779b97f4a7c15ull + index;
    splitmix(&r);
    memset(sc, 0, sizeof *sc);
    const int big = pick(&r, 6) == 0;
    sc->H = big ? 13 + pick(&r, 28) : 1 + pick(&r, 13);
    sc->W = big ? 13 + pick(&r, 28) : 1 + pick(&r, 13);
    sc->B = 1 + pick(&r, 3);
    sc->K = 5 + pick(&r, 4);
    sc->type = (int[]){RL_DTYPE_F32, RL_DTYPE_BF16, RL_DTYPE_F16}[pick(&r, 3)];
    sc->nchw = pick(&r, 2);
    const int HW = sc->H * sc->W, b = pick(&r, sc->B);
    switch (pick(&r, 3)) {
    case 0: /* the whole plane (the dense path) */
        sc->q0 = 0;
        sc->count = HW;
        break;
    case 1: /* a span of one row (the sparse path) */
    {
        const int i = pick(&r, sc->H), j0 = pick(&r, sc->W);
        sc->q0 = i * sc->W + j0;
        sc->count = 1 + pick(&r, sc->W - j0);
        break;
    }
    default: /* whole rows (the sparse path's stream) */
    {
        const int r0 = pick(&r, sc->H), r1 = r0 + pick(&r, sc->H - r0);
        sc->q0 = r0 * sc->W;
        sc->count = (r1 - r0 + 1) * sc->W;
        break;
    }
    }
    sc->ss = sc->nchw ? 1 : (int64_t)sc->B * sc->K;
    sc->cs = sc->nchw ? HW : 1;
    sc->elems = (int64_t)sc->B * sc->K * HW;
    sc->first = (sc->nchw ? (int64_t)b * sc->K * HW : (int64_t)b * sc->K) + sc->q0 * sc->ss;
    sc->t = malloc((size_t)(sc->elems * rl_elem_size(sc->type)));
    sc->tc = malloc((size_t)sc->count * sizeof(float));
    sc->kind_in = malloc((size_t)sc->count);
    for (int64_t e = 0; e < sc->elems; e++) /* other anchors' and the class entries */
        put(sc->t, e, sc->type, (float)range(&r, -3, 3));
    for (int q = 0; q < sc->count; q++) {
        const int64_t o = sc->first + q * sc->ss;
        put(sc->t, o, sc->type, (float)range(&r, -5, 5));
        put(sc->t, o + sc->cs, sc->type, (float)range(&r, -5, 5));
        /* now and then a box float cannot size (decided in double) */
        const double wide = pick(&r, 20) == 0 ? 40 : 2;
        put(sc->t, o + 2 * sc->cs, sc->type, (float)range(&r, -wide, wide));
        put(sc->t, o + 3 * sc->cs, sc->type, (float)range(&r, -wide, wide));
        sc->tc[q] = put_finite(sc->t, o + 4 * sc->cs, sc->type, draw_tc(&r));
        const int k = pick(&r, 100);
        sc->kind_in[q] = k < 12 ? RL_KIND_OBJ : k < 72 ? RL_KIND_NOOBJ : RL_KIND_IGNORED;
    }
    sc->nt = pick(&r, MAXT + 1);
    for (int k = 0; k < sc->nt; k++) {
        rl_box *t = &sc->truths[k];
        t->cx = (float)unif(&r);
        t->cy = (float)unif(&r);
        t->w = (float)range(&r, 0.02, 0.9);
        t->h = (float)range(&r, 0.02, 0.9);
        t->cls = 0;
        const double X = (double)t->cx * sc->W, Y = (double)t->cy * sc->H;
        const double Wg = (double)t->w * sc->W, Hg = (double)t->h * sc->H;
        sc->edges[k] = (float)(X - Wg / 2);
        sc->edges[sc->nt + k] = (float)(X + Wg / 2);
        sc->edges[2 * sc->nt + k] = (float)(Y - Hg / 2);
        sc->edges[3 * sc->nt + k] = (float)(Y + Hg / 2);
        sc->edges[4 * sc->nt + k] = (float)(Wg * Hg);
    }
    static const float threshs[] = {0.0f, 0.3f, 0.5f, 0.6f, 0.7f, 1.0f};
    sc->thresh = threshs[pick(&r, 6)];
    sc->inclusive = pick(&r, 2);
    sc->warmup = pick(&r, 2);
    sc->use_cslope = pick(&r, 4) != 0;
    sc->use_best = pick(&r, 2);
    /* a [yolo] head's anchor in grid cells is a double */
    sc->aw_d = range(&r, 0.1, 8);
    sc->ah_d = range(&r, 0.1, 8);
    snprintf(sc->desc, sizeof sc->desc,
             "%dx%d B%d K%d %s %s, cells %d..%d, %d truths, thresh %g%s%s%s%s", sc->H, sc->W,
             sc->B, sc->K, sc->nchw ? "NCHW" : "NHWC", type_name(sc->type), sc->q0,
             sc->q0 + sc->count - 1, sc->nt, (double)sc->thresh, sc->inclusive ? " (<=)" : "",
             sc->warmup ? ", warm-up" : "", sc->use_cslope ? ", cslope" : "",
             sc->use_best ? ", best" : "");
}

static void scene_free(scene *sc)
{
    free(sc->t);
    free(sc->tc);
    free(sc->kind_in);
}

static rl_run scene_run(const scene *sc)
{
    const rl_run r = {rl_elem_at(sc->t, sc->first, sc->type),
                      NULL,
                      sc->type,
                      RL_DTYPE_F32,
                      sc->ss,
                      sc->cs,
                      sc->count,
                      sc->W,
                      sc->q0,
                      (float)sc->aw_d,
                      (float)sc->ah_d,
                      sc->aw_d,
                      sc->ah_d};
    return r;
}

/* What one kernel call leaves. */
typedef struct outcome {
    rl_mask_sums s;
    uint8_t *kind;
    float *cslope; /* count + 1: the last one a sentinel */
    float *best;
} outcome;

static void outcome_init(outcome *o, const scene *sc, const uint8_t *kind, double bce_start)
{
    memset(&o->s, 0, sizeof o->s);
    o->s.bce_noobj = bce_start;
    memcpy(o->kind, kind, (size_t)sc->count);
    for (int q = 0; q <= sc->count; q++)
        o->cslope[q] = o->best[q] = SENTINEL;
}

static void run_mask(const variant *v, const scene *sc, outcome *o, int bce)
{
    const rl_truth_soa T = {sc->edges,          sc->edges + sc->nt,     sc->edges + 2 * sc->nt,
                            sc->edges + 3 * sc->nt, sc->edges + 4 * sc->nt, sc->nt,
                            sc->nt ? sc->truths : NULL, sc->H,          sc->W};
    rl_mask_args a = {scene_run(sc),
                      &T,
                      o->kind,
                      sc->thresh,
                      sc->thresh,
                      sc->inclusive,
                      sc->warmup,
                      sc->use_best ? o->best : NULL,
                      sc->use_cslope ? o->cslope : NULL,
                      0.0f,
                      0.0f,
                      0.0f,
                      bce};
    rl_mask_doubt(&a, sc->H, sc->W);
    v->k->mask(&a, &o->s);
}

static void run_stream(const variant *v, const scene *sc, outcome *o, int bce)
{
    const rl_stream_args a = {scene_run(sc), o->kind, sc->warmup,
                              sc->use_cslope ? o->cslope : NULL, bce};
    v->k->stream(&a, &o->s);
}

#define BCE_UNTOUCHED 0.75 /* bce_noobj before a bce = 0 call, which must keep it */

/* o1 (bce = 1) against o0 (bce = 0) and against double. */
static int compare(variant *v, const scene *sc, const char *how, const outcome *o0,
                   const outcome *o1, const char *what)
{
    const int before = v->failures;
    const rl_mask_sums *a = &o0->s, *b = &o1->s;
    if (memcmp(o0->kind, o1->kind, (size_t)sc->count) != 0)
        fail(v, "%s %s: kinds differ with bce", what, how);
    if (sc->use_best && memcmp(o0->best, o1->best, (size_t)(sc->count + 1) * sizeof(float)))
        fail(v, "%s %s: best IoUs differ with bce", what, how);
    if (a->n_noobj != b->n_noobj || !same_d(a->c_noobj, b->c_noobj) ||
        !same_d(a->c2_noobj, b->c2_noobj) || !same_d(a->c_all, b->c_all) ||
        !same_d(a->warm, b->warm) || a->nonfinite != b->nonfinite)
        fail(v,
             "%s %s: sums differ with bce: n_noobj %lld / %lld, c_noobj %a / %a, c2_noobj "
             "%a / %a, c_all %a / %a, warm %a / %a, nonfinite %d / %d",
             what, how, (long long)a->n_noobj, (long long)b->n_noobj, a->c_noobj, b->c_noobj,
             a->c2_noobj, b->c2_noobj, a->c_all, b->c_all, a->warm, b->warm, a->nonfinite,
             b->nonfinite);
    if (b->nonfinite)
        fail(v, "%s %s: finite entries reported non-finite", what, how);
    if (!same_d(a->bce_noobj, BCE_UNTOUCHED))
        fail(v, "%s %s: bce = 0 changed bce_noobj to %a", what, how, a->bce_noobj);

    double exact = 0, tol = 0;
    int64_t n = 0;
    for (int q = 0; q < sc->count; q++) {
        if (o1->kind[q] != RL_KIND_NOOBJ)
            continue;
        const double sp = softplus_d(sc->tc[q]);
        exact += sp;
        tol += SP_ULPS * ulpf(sp);
        n++;
    }
    if (n != b->n_noobj)
        fail(v, "%s %s: n_noobj %lld, %lld cells marked noobj", what, how, (long long)b->n_noobj,
             (long long)n);
    tol += (2.0 * (double)n + 128.0) * 0x1p-53 * exact;
    const double err = fabs(b->bce_noobj - exact);
    if (!(err <= tol))
        fail(v, "%s %s: bce_noobj %.17g, exact %.17g, error %.3g > bound %.3g", what, how,
             b->bce_noobj, exact, err, tol);
    else if (tol > 0 && err / tol > v->sum_ratio)
        v->sum_ratio = err / tol;
    if (exact > 0x1p-100 && err / exact > v->sum_rel)
        v->sum_rel = err / exact;

    if (sc->use_cslope) {
        for (int q = 0; q < sc->count; q++) {
            const double c = sigmoid_d(sc->tc[q]);
            if (!c_ok(o1->cslope[q], c)) {
                fail(v, "%s %s: cslope[%d] %a, s(%a) = %a (%.2f * 2^-23 off)", what, how, q,
                     (double)o1->cslope[q], (double)sc->tc[q], c, eps_err(o1->cslope[q], c));
                break;
            }
        }
        if (!same_f(o0->cslope[sc->count], SENTINEL) || !same_f(o1->cslope[sc->count], SENTINEL))
            fail(v, "%s %s: cslope written past the run", what, how);
    } else if (!same_f(o1->cslope[0], SENTINEL)) {
        fail(v, "%s %s: cslope written though NULL", what, how);
    }
    return v->failures != before;
}

static int check_run(variant *v, const scene *sc, outcome o[4], uint64_t seed, uint64_t index)
{
    char what[300];
    snprintf(what, sizeof what, "seed %llu run %llu (%s)", (unsigned long long)seed,
             (unsigned long long)index, sc->desc);
    int bad = 0;
    /* the mask kernel decides the cells, with and without bce */
    outcome_init(&o[0], sc, sc->kind_in, BCE_UNTOUCHED);
    run_mask(v, sc, &o[0], 0);
    outcome_init(&o[1], sc, sc->kind_in, 0.0);
    run_mask(v, sc, &o[1], 1);
    bad |= compare(v, sc, "mask", &o[0], &o[1], what);
    /* the stream kernel on the mask's decisions adds what the mask added */
    outcome_init(&o[2], sc, o[1].kind, 0.0);
    run_stream(v, sc, &o[2], 1);
    const rl_mask_sums *m = &o[1].s, *s = &o[2].s;
    if (m->n_noobj != s->n_noobj || !same_d(m->c_noobj, s->c_noobj) ||
        !same_d(m->c2_noobj, s->c2_noobj) || !same_d(m->c_all, s->c_all) ||
        !same_d(m->warm, s->warm) || !same_d(m->bce_noobj, s->bce_noobj) ||
        (sc->use_cslope &&
         memcmp(o[1].cslope, o[2].cslope, (size_t)(sc->count + 1) * sizeof(float)))) {
        fail(v, "%s: the stream kernel on the mask's kinds adds other sums: bce_noobj %a / %a",
             what, m->bce_noobj, s->bce_noobj);
        bad = 1;
    }
    /* the stream kernel on kinds given, with and without bce */
    outcome_init(&o[2], sc, sc->kind_in, BCE_UNTOUCHED);
    run_stream(v, sc, &o[2], 0);
    outcome_init(&o[3], sc, sc->kind_in, 0.0);
    run_stream(v, sc, &o[3], 1);
    bad |= compare(v, sc, "stream", &o[2], &o[3], what);
    if (bad)
        printf("  rerun: REGIONLOSS_SEED=%llu REGIONLOSS_CASE=%llu REGIONLOSS_CHECK_VARIANT=%s "
               "test_kernels_bce\n",
               (unsigned long long)seed, (unsigned long long)index, v->name);
    v->runs++;
    return bad;
}

int main(int argc, char **argv)
{
    const uint64_t seed =
        argc > 1 ? strtoull(argv[1], NULL, 0) : env_u64("REGIONLOSS_SEED", 20261207);
    const uint64_t runs = env_u64("REGIONLOSS_CASES", 1500);
    const uint64_t step = env_u64("REGIONLOSS_LANE_STEP", 1);
    const char *only_case = getenv("REGIONLOSS_CASE");
    uint64_t first = 0, last = runs;
    if (only_case && *only_case) {
        first = strtoull(only_case, NULL, 0);
        last = first + 1;
    }
    printf("kernels-bce: seed %llu, runs %llu..%llu, lane sweep %s, softplus within %g ulps, "
           "c^ within %g eps\n",
           (unsigned long long)seed, (unsigned long long)first, (unsigned long long)last - 1,
           only_case && *only_case ? "skipped" : "on", SP_ULPS, C_EPS);

    variant vs[32];
    int nv = 0;
    for (const char *const *name = rl_variant_list(); *name && nv < 32; name++) {
        if (!wanted(*name))
            continue;
        rl_config cfg;
        rl_config_init(&cfg);
        static const float anchors[2] = {1.0f, 1.0f};
        cfg.H = cfg.W = 4;
        cfg.B = 1;
        cfg.C = 2;
        cfg.anchors = anchors;
        cfg.variant = *name;
        rl_plan *plan = NULL;
        if (rl_plan_create(&cfg, &plan) != RL_OK) {
            printf("FAIL: no plan for variant %s: %s\n", *name, rl_last_error());
            return 1;
        }
        if (!plan->kernels.mask || !plan->kernels.stream) { /* the reference: no kernels */
            rl_plan_destroy(plan);
            continue;
        }
        memset(&vs[nv], 0, sizeof vs[nv]);
        vs[nv].name = *name;
        vs[nv].plan = plan;
        vs[nv].k = &plan->kernels;
        nv++;
    }
    printf("variants:");
    for (int i = 0; i < nv; i++)
        printf(" %s (%d lanes)", vs[i].name, vs[i].k->lanes);
    printf("\n");

    int failed_runs = 0;
    for (int i = 0; i < nv; i++) {
        variant *v = &vs[i];
        if (!(only_case && *only_case))
            sweep(v, seed, step);
        const int lane_failures = v->failures;
        for (uint64_t idx = first; idx < last && v->failures < 20; idx++) {
            scene sc;
            scene_make(&sc, seed, idx);
            outcome o[4];
            uint8_t *kinds = malloc(4 * (size_t)sc.count);
            float *floats = malloc(8 * (size_t)(sc.count + 1) * sizeof(float));
            for (int k = 0; k < 4; k++) {
                o[k].kind = kinds + k * (size_t)sc.count;
                o[k].cslope = floats + 2 * k * (size_t)(sc.count + 1);
                o[k].best = o[k].cslope + sc.count + 1;
            }
            failed_runs += check_run(v, &sc, o, seed, idx);
            free(kinds);
            free(floats);
            scene_free(&sc);
        }
        printf("%-12s %7ld lanes: softplus max %.2f ulps, c^ max %.2f eps%s; %5ld runs: "
               "bce_noobj max error %.3f of the bound (relative %.2e)%s\n",
               v->name, v->lanes, v->sp_ulps, v->c_eps, lane_failures ? " FAILED" : "",
               v->runs, v->sum_ratio, v->sum_rel,
               v->failures > lane_failures ? " FAILED" : "");
        rl_plan_destroy(v->plan);
    }
    int failures = 0;
    for (int i = 0; i < nv; i++)
        failures += vs[i].failures != 0;
    if (failed_runs)
        printf("%d random run(s) failed (rerun lines above)\n", failed_runs);
    printf("%d passed, %d failed\n", nv - failures, failures);
    if (nv == 0)
        printf("FAIL: no variant with kernels to check\n");
    return failures != 0 || nv == 0;
}
