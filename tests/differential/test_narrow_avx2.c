/* The AVX2 unit's bfloat16 and binary16 conversions against src/elem.h, the
 * scalar definition (issue 17: round to nearest even, a NaN stays a NaN),
 * through the kernels' own store and load paths (src/avx2/hooks_avx2.h):
 *   - bfloat16 narrowing: every one of the 2^32 float patterns, compared
 *     with rl_f32_to_bf16;
 *   - binary16 narrowing: every NaN pattern compared with rl_f32_to_f16;
 *     every other pattern (zeros, subnormals, normals, infinities, both
 *     signs) by steps: rl_f32_to_f16 goes through double and is too slow for
 *     2^32 calls, but rounding is monotone, so along the magnitudes
 *     0 .. 0x7f800000 of each sign the kernel's result must rise by exactly
 *     one code at a time, and the reference must agree on both sides of each
 *     rise and at both ends: then, the reference being monotone, the two
 *     agree on every pattern in between.  Every 61st pattern, the ties and
 *     their neighbours are also compared directly.
 *   - the strided (NHWC) and partial-vector store paths on a sample, with a
 *     canary after the last entry;
 *   - widening of all 65536 patterns of each type, contiguous and strided;
 *   - a stride past int32 gather indices (NHWC with B (5 + C) > 3e8),
 *     which loads and stores lane by lane: 5 GB of address space reserved,
 *     a few pages touched.
 * The same for the unit built for AVX512_BF16 (variant avx2-bf16), which
 * narrows to bfloat16 with vcvtneps2bf16.  Each is skipped on a CPU without
 * its variant. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "avx2/hooks_avx2.h"
#include "cpu.h"
#include "elem.h"

#define CHUNK 65536

typedef void (*narrow_fn)(const float *in, void *out, int64_t n, int64_t stride, int type);
typedef void (*widen_fn)(const void *in, float *out, int64_t n, int64_t stride, int type);

static void need(unsigned flags)
{
    if ((rl_cpu_flags() & flags) != flags)
        cr_skip_test("this CPU lacks the variant's extensions");
}

static float in[CHUNK];
static uint16_t out[3 * CHUNK + 16];

static void bf16_every_float(narrow_fn narrow)
{
    long bad = 0;
    for (uint32_t hi = 0; hi < 65536; hi++) {
        for (uint32_t lo = 0; lo < CHUNK; lo++)
            in[lo] = rl_bits_f32(hi << 16 | lo);
        narrow(in, out, CHUNK, 1, RL_DTYPE_BF16);
        for (uint32_t lo = 0; lo < CHUNK; lo++) {
            const uint16_t want = rl_f32_to_bf16(in[lo]);
            if (out[lo] != want && bad++ < 5)
                cr_log_error("bf16(%08x) = %04x, want %04x", hi << 16 | lo, out[lo], want);
        }
    }
    cr_assert_eq(bad, 0, "%ld float patterns narrowed wrongly to bfloat16", bad);
}

static void f16_every_nan(narrow_fn narrow)
{
    long bad = 0;
    for (uint32_t sign = 0; sign < 2; sign++)
        for (uint32_t m0 = 1; m0 < (1u << 23); m0 += CHUNK - 1) {
            int n = 0;
            for (uint32_t m = m0; m < (1u << 23) && n < CHUNK - 1; m++)
                in[n++] = rl_bits_f32(sign << 31 | 0x7f800000u | m);
            narrow(in, out, n, 1, RL_DTYPE_F16);
            for (int k = 0; k < n; k++) {
                const uint16_t want = rl_f32_to_f16(in[k]);
                if (out[k] != want && bad++ < 5)
                    cr_log_error("f16(%08x) = %04x, want %04x", rl_f32_bits(in[k]), out[k], want);
            }
        }
    cr_assert_eq(bad, 0, "%ld NaN patterns narrowed wrongly to binary16", bad);
}

static void f16_every_other_float(narrow_fn narrow)
{
    long bad = 0, rises = 0;
    for (uint32_t sign = 0; sign < 2; sign++) {
        const uint32_t s = sign << 31, last = 0x7f800000u; /* infinity */
        uint16_t cur = rl_f32_to_f16(rl_bits_f32(s));
        for (uint32_t base = 0; base <= last; base += CHUNK) {
            const uint32_t n = last - base + 1 < CHUNK ? last - base + 1 : CHUNK;
            for (uint32_t k = 0; k < n; k++)
                in[k] = rl_bits_f32(s | (base + k));
            narrow(in, out, n, 1, RL_DTYPE_F16);
            for (uint32_t k = 0; k < n; k++) {
                const uint32_t u = base + k;
                if (u % 61 == 0 && out[k] != rl_f32_to_f16(in[k]) && bad++ < 5)
                    cr_log_error("f16(%08x) = %04x, want %04x", s | u, out[k],
                                 rl_f32_to_f16(in[k]));
                if (out[k] == cur)
                    continue;
                rises++;
                const uint16_t before = rl_f32_to_f16(rl_bits_f32(s | (u - 1)));
                const uint16_t after = rl_f32_to_f16(in[k]);
                if ((out[k] != (uint16_t)(cur + 1) || before != cur || after != out[k]) &&
                    bad++ < 5)
                    cr_log_error("f16 rises from %04x to %04x at %08x; reference %04x there, "
                                 "%04x just before",
                                 cur, out[k], s | u, after, before);
                cur = out[k];
            }
        }
        if (cur != rl_f32_to_f16(rl_bits_f32(s | last)) && bad++ < 5)
            cr_log_error("f16 of infinity (sign %u): %04x", sign, cur);
        /* the ties of binary16 and their neighbours, directly */
        int n = 0;
        for (uint32_t h = 0; h < 0x7c00u; h++) {
            const float mid = (rl_f16_to_f32((uint16_t)h) + rl_f16_to_f32((uint16_t)(h + 1))) / 2;
            const uint32_t mu = rl_f32_bits(mid); /* exact: 12 significant bits */
            for (int d = -1; d <= 1; d++)
                in[n++] = rl_bits_f32(s | (uint32_t)(mu + d));
            if (n > CHUNK - 3 || h == 0x7bffu) {
                narrow(in, out, n, 1, RL_DTYPE_F16);
                for (int k = 0; k < n; k++)
                    if (out[k] != rl_f32_to_f16(in[k]) && bad++ < 5)
                        cr_log_error("f16(%08x) = %04x, want %04x", rl_f32_bits(in[k]), out[k],
                                     rl_f32_to_f16(in[k]));
                n = 0;
            }
        }
    }
    cr_assert_eq(bad, 0, "%ld float patterns narrowed wrongly to binary16", bad);
    /* binary16 has 0x7c00 codes from +0 to +inf: as many rises per sign */
    cr_assert_eq(rises, 2 * 0x7c00, "%ld rises", rises);
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t next32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Random patterns, biased to the interesting ones: ties, subnormals,
 * overflow, NaN. */
static float draw(void)
{
    uint32_t u = next32();
    switch (next32() % 6) {
    case 0: u = (u & 0xffff0000u) | 0x8000u; break;              /* bf16 tie */
    case 1: u = (u & 0xffffe000u) | 0x1000u; break;              /* f16 tie (normal range) */
    case 2: u &= 0x807fffffu; break;                             /* float subnormal */
    case 3: u = (u & 0x80000000u) | (0x477fe000u + (u & 0x3fffu)); break; /* f16 overflow edge */
    case 4: u |= 0x7f800000u; break;                             /* NaN or infinity */
    default: break;
    }
    return rl_bits_f32(u);
}

static void strided_and_partial_stores(narrow_fn narrow)
{
    long bad = 0;
    for (int type = RL_DTYPE_BF16; type <= RL_DTYPE_F16; type++)
        for (int rep = 0; rep < 64; rep++) {
            /* lengths with every tail, strides 1 (contiguous) and 3 (lane by lane) */
            const int64_t n = rep < 32 ? rep % 16 : CHUNK - rep % 8;
            const int64_t stride = (rep / 16) % 2 ? 3 : 1;
            for (int64_t k = 0; k < n; k++)
                in[k] = draw();
            memset(out, 0xa5, sizeof out);
            narrow(in, out, n, stride, type);
            for (int64_t k = 0; k < n * stride + 16 && k < 3 * CHUNK + 16; k++) {
                const int entry = k % stride == 0 && k / stride < n;
                const uint16_t want = !entry                   ? 0xa5a5u
                                      : type == RL_DTYPE_BF16 ? rl_f32_to_bf16(in[k / stride])
                                                               : rl_f32_to_f16(in[k / stride]);
                if (out[k] != want && bad++ < 5)
                    cr_log_error("type %d, n %lld, stride %lld: out[%lld] = %04x, want %04x", type,
                                 (long long)n, (long long)stride, (long long)k, out[k], want);
            }
        }
    cr_assert_eq(bad, 0, "%ld entries stored wrongly", bad);
}

static int same_float(float a, float b)
{
    const uint32_t x = rl_f32_bits(a), y = rl_f32_bits(b);
    if (isnan(a) && isnan(b)) /* F16C quiets a signalling NaN: payloads compare quieted */
        return (x | 0x00400000u) == (y | 0x00400000u);
    return x == y;
}

static void widening_every_pattern(widen_fn widen)
{
    static uint16_t h[3 * CHUNK + 8];
    static float w[CHUNK];
    long bad = 0;
    for (int type = RL_DTYPE_BF16; type <= RL_DTYPE_F16; type++)
        for (int64_t stride = 1; stride <= 3; stride += 2) {
            /* one entry before the first: the strided load reads it (hooks_avx2.h) */
            for (uint32_t p = 0; p < CHUNK; p++)
                h[1 + p * stride] = (uint16_t)p;
            for (int64_t n0 = 0; n0 < CHUNK; n0 += 4093) { /* calls of odd lengths */
                const int64_t n = n0 + 4093 < CHUNK ? 4093 : CHUNK - n0;
                widen(h + 1 + n0 * stride, w + n0, n, stride, type);
            }
            for (uint32_t p = 0; p < CHUNK; p++) {
                const float want = type == RL_DTYPE_BF16 ? rl_bf16_to_f32((uint16_t)p)
                                                         : rl_f16_to_f32((uint16_t)p);
                if (!same_float(w[p], want) && bad++ < 5)
                    cr_log_error("type %d stride %lld: %04x widened to %08x, want %08x", type,
                                 (long long)stride, p, rl_f32_bits(w[p]), rl_f32_bits(want));
            }
        }
    cr_assert_eq(bad, 0, "%ld patterns widened wrongly", bad);
}

static void stride_past_int32(narrow_fn narrow, widen_fn widen)
{
    const int64_t stride = INT32_MAX / 7 + 11; /* lane 7 past INT32_MAX entries */
    const size_t bytes = (size_t)(8 * stride + 2) * sizeof(uint16_t);
    void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED)
        cr_skip_test("cannot reserve %zu bytes of address space", bytes);
    uint16_t *h = (uint16_t *)map + 1; /* the strided load reads h[-1] */
    long bad = 0;
    for (int type = RL_DTYPE_BF16; type <= RL_DTYPE_F16; type++)
        for (int n = 1; n <= 8; n++) {
            float v[8], w[8];
            for (int l = 0; l < 8; l++) {
                v[l] = draw();
                h[l * stride] = 0x5a5a; /* canary where n <= l */
            }
            narrow(v, h, n, stride, type);
            for (int l = 0; l < 8; l++) {
                const uint16_t want = l >= n                    ? 0x5a5au
                                      : type == RL_DTYPE_BF16 ? rl_f32_to_bf16(v[l])
                                                               : rl_f32_to_f16(v[l]);
                if (h[l * stride] != want && bad++ < 5)
                    cr_log_error("type %d, n %d: entry %d stored %04x, want %04x", type, n, l,
                                 h[l * stride], want);
            }
            widen(h, w, n, stride, type);
            for (int l = 0; l < n; l++) {
                const float want = type == RL_DTYPE_BF16 ? rl_bf16_to_f32(h[l * stride])
                                                         : rl_f16_to_f32(h[l * stride]);
                if (!same_float(w[l], want) && bad++ < 5)
                    cr_log_error("type %d, n %d: entry %d widened to %08x, want %08x", type, n,
                                 l, rl_f32_bits(w[l]), rl_f32_bits(want));
            }
        }
    munmap(map, bytes);
    cr_assert_eq(bad, 0, "%ld entries wrong past int32 strides", bad);
}

/* One suite per unit: the avx2 variant, and the avx2-bf16 one when built. */
#define UNIT_TESTS(SUITE, FLAGS, NARROW, WIDEN)                                                   \
    Test(SUITE, bf16_every_float, .timeout = 600) { need(FLAGS); bf16_every_float(NARROW); }     \
    Test(SUITE, f16_every_nan) { need(FLAGS); f16_every_nan(NARROW); }                           \
    Test(SUITE, f16_every_other_float, .timeout = 600)                                           \
    {                                                                                             \
        need(FLAGS);                                                                              \
        f16_every_other_float(NARROW);                                                            \
    }                                                                                             \
    Test(SUITE, strided_and_partial_stores) { need(FLAGS); strided_and_partial_stores(NARROW); } \
    Test(SUITE, widening_every_pattern) { need(FLAGS); widening_every_pattern(WIDEN); }       \
    Test(SUITE, stride_past_int32) { need(FLAGS); stride_past_int32(NARROW, WIDEN); }

UNIT_TESTS(narrow_avx2, RL_CPU_AVX2, rl_narrow_avx2, rl_widen_avx2)
#if defined(RL_TEST_AVX2_BF16)
UNIT_TESTS(narrow_avx2_bf16, RL_CPU_AVX2 | RL_CPU_AVX512BF16, rl_narrow_avx2_bf16,
           rl_widen_avx2_bf16)
#endif
