// Measures Highway's contrib Exp (float32), the only vector transcendental
// the Highway kernels use, on every compiled-in target this CPU runs, and
// fails when it exceeds the bound docs/hwy.md states and the tolerance
// (tests/common/tolerance.h, docs/numerics.md) assumes: 1 ulp from the
// correctly rounded result over the arguments with a normal float result.
// Also checks the kernels' clamp: exp of 89 and above is +inf, as expf's.
//
//   exp_ulp [STEP]   tests every STEP-th float (default 97; 1 = exhaustive)
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/exp_ulp.cc"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#ifndef RL_EXP_ULP_STATS
#define RL_EXP_ULP_STATS
struct ExpStats {
    uint64_t tested;
    int64_t max_bits;  // largest distance, in floats, from the correctly rounded result
    double max_ulp;    // largest error in ulps of the exact value
    float worst_x;
    int clamp_ok;      // exp(x >= 89) is +inf and exp(-inf), exp(-1e30) are 0
};

static float BitsToFloat(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static int64_t Ordered(float f)
{
    int32_t i;
    memcpy(&i, &f, 4);
    return i < 0 ? -(int64_t)(i & 0x7fffffff) : (int64_t)i;
}
#endif

HWY_BEFORE_NAMESPACE();
namespace rl_hwy_test {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

static void Check(const float* x, size_t n, ExpStats* s)
{
    const hn::ScalableTag<float> d;
    const size_t N = hn::Lanes(d);
    HWY_ALIGN float in[HWY_MAX_BYTES / sizeof(float) + 1], out[HWY_MAX_BYTES / sizeof(float) + 1];
    for (size_t i = 0; i < n; i += N) {
        const size_t m = n - i < N ? n - i : N;
        for (size_t l = 0; l < N; l++)
            in[l] = x[i + (l < m ? l : 0)];
        hn::Store(hn::Exp(d, hn::Load(d, in)), d, out);
        for (size_t l = 0; l < m; l++) {
            const double exact = exp((double)in[l]);
            const float rounded = (float)exact;
            const int64_t bits = llabs(Ordered(out[l]) - Ordered(rounded));
            int e;
            frexp(exact, &e);
            const double ulp = ldexp(1.0, e - 24);
            const double err = fabs((double)out[l] - exact) / ulp;
            if (bits > s->max_bits)
                s->max_bits = bits;
            if (err > s->max_ulp) {
                s->max_ulp = err;
                s->worst_x = in[l];
            }
            s->tested++;
        }
    }
}

void ExpUlp(uint32_t step, ExpStats* s)
{
    memset(s, 0, sizeof *s);
    // Arguments whose exp is a normal float: [-87.33, 88.72].
    const float lo = -87.33f, hi = 88.72f;
    float batch[4096];
    size_t n = 0;
    uint32_t b;
    memcpy(&b, &hi, 4);
    for (int64_t u = b; u >= 0; u -= step) {  // [0, hi]
        batch[n++] = BitsToFloat((uint32_t)u);
        if (n == 4096) {
            Check(batch, n, s);
            n = 0;
        }
    }
    memcpy(&b, &lo, 4);
    for (int64_t u = 0x80000001u; u <= (int64_t)b; u += step) {  // [lo, -0)
        batch[n++] = BitsToFloat((uint32_t)u);
        if (n == 4096) {
            Check(batch, n, s);
            n = 0;
        }
    }
    Check(batch, n, s);

    // The clamp the kernels apply (Exp is valid up to 104 only).
    const hn::ScalableTag<float> d;
    const float big[] = {88.73f, 89.0f, 100.0f, 1e30f, 3.4e38f};
    s->clamp_ok = 1;
    for (float v : big) {
        const float e = hn::GetLane(hn::Exp(d, hn::Min(hn::Set(d, v), hn::Set(d, 89.0f))));
        if (!(isinf(e) && e > 0))
            s->clamp_ok = 0;
    }
    const float small[] = {-104.5f, -1e30f, -3.4e38f, -INFINITY};
    for (float v : small)
        if (hn::GetLane(hn::Exp(d, hn::Set(d, v))) != 0.0f)
            s->clamp_ok = 0;
}

int64_t ThisTarget() { return HWY_TARGET; }

} // namespace HWY_NAMESPACE
} // namespace rl_hwy_test
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace rl_hwy_test {
HWY_EXPORT(ExpUlp);
HWY_EXPORT(ThisTarget);

static int Run(uint32_t step)
{
    int failures = 0, tested = 0;
    for (int64_t rest = hwy::SupportedTargets() & HWY_TARGETS; rest; rest &= rest - 1) {
        const int64_t bit = rest & -rest;
        // Mask Highway's CPU detection down to this one target, so that
        // HWY_DYNAMIC_DISPATCH runs its copy.
        hwy::SetSupportedTargetsForTest(bit);
        if (HWY_DYNAMIC_DISPATCH(ThisTarget)() != bit) {
            printf("%-8s could not be selected\n", hwy::TargetName(bit));
            failures++;
            continue;
        }
        ExpStats s;
        HWY_DYNAMIC_DISPATCH(ExpUlp)(step, &s);
        const int ok = s.max_bits <= 1 && s.clamp_ok;
        printf("%-8s %llu arguments: max %lld float(s) from the correctly rounded exp, "
               "max error %.3f ulp (at x = %.9g); clamp %s: %s\n",
               hwy::TargetName(bit), (unsigned long long)s.tested, (long long)s.max_bits,
               s.max_ulp, (double)s.worst_x, s.clamp_ok ? "ok" : "WRONG", ok ? "ok" : "FAIL");
        failures += !ok;
        tested++;
    }
    hwy::SetSupportedTargetsForTest(0);
    if (!tested) {
        printf("no Highway target tested\n");
        return 1;
    }
    return failures != 0;
}
} // namespace rl_hwy_test

int main(int argc, char** argv)
{
    const uint32_t step = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 97;
    return rl_hwy_test::Run(step ? step : 1);
}
#endif
