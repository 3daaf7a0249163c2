/* The NEON family's half-precision conversions (src/neon/elem_neon.h)
 * against src/elem.h's scalar definition, bit for bit: narrowing of float
 * patterns chosen where rounding is decided (every half value, the midpoints
 * between neighbours, the patterns next to them, across subnormals, the
 * overflow to infinity and every NaN class) and of random patterns; widening
 * of every 16-bit pattern.  Four different values per vector, so a lane mixed
 * up with another shows.
 *
 * Built a second time for FEAT_BF16 (RL_TEST_BFCVT) to check the BFCVTN
 * narrowing of the neon-bf16 variant the same way; that build's tests skip
 * on a CPU without BF16. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "elem.h"
#include "neon/elem_neon.h"

#if defined(RL_TEST_BFCVT)
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1ul << 14)
#endif
#define SUITE narrow_neon_bfcvt
#define NARROW_BF16 rl_neon_narrow_bf16_bfcvt
static void setup(void)
{
    if (!(getauxval(AT_HWCAP2) & HWCAP2_BF16))
        cr_skip_test("this CPU has no FEAT_BF16 (HWCAP2_BF16)");
}
#else
#define SUITE narrow_neon
#define NARROW_BF16 rl_neon_narrow_bf16_rne
static void setup(void) {}
#endif

/* A buffer of float patterns, checked 4 at a time. */
typedef struct patterns {
    uint32_t *u;
    size_t n, cap;
} patterns;

static void push(patterns *p, uint32_t u)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 1 << 16;
        p->u = realloc(p->u, p->cap * sizeof *p->u);
        cr_assert_not_null(p->u);
    }
    p->u[p->n++] = u;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t next32(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) >> 16);
}

static void push_random(patterns *p, size_t count)
{
    for (size_t k = 0; k < count; k++)
        push(p, (next32() << 16) ^ next32());
}

/* Narrows every pattern with the vector code and with the scalar one. */
static size_t check_narrow(const patterns *p, int type)
{
    size_t n = p->n & ~(size_t)3;
    for (size_t k = 0; k < n; k += 4) {
        const float32x4_t v = vreinterpretq_f32_u32(vld1q_u32(p->u + k));
        uint16_t got[4];
        vst1_u16(got, type == RL_DTYPE_BF16 ? NARROW_BF16(v) : rl_neon_narrow_f16(v));
        for (int l = 0; l < 4; l++) {
            const float f = rl_bits_f32(p->u[k + l]);
            const uint16_t want = type == RL_DTYPE_BF16 ? rl_f32_to_bf16(f) : rl_f32_to_f16(f);
            cr_assert_eq(got[l], want, "%s of float %08x (%.9g), lane %d: %04x, scalar %04x",
                         type == RL_DTYPE_BF16 ? "bf16" : "f16", p->u[k + l], (double)f, l,
                         got[l], want);
        }
    }
    return n;
}

/* Both signs of u, and the patterns next to it. */
static void push_around(patterns *p, uint32_t u)
{
    for (int d = -1; d <= 1; d++)
        for (uint32_t s = 0; s <= 1; s++)
            push(p, (uint32_t)(u + (uint32_t)d) ^ (s << 31));
}

Test(SUITE, bf16_every_value_and_midpoint, .init = setup)
{
    patterns p = {0};
    /* h's value, the midpoint to h + 1 (a tie), the patterns next to both,
     * and a low half of all ones, for every positive upper half: the ties to
     * even at every exponent, the subnormals, the carry into infinity
     * (0x7f7f8000 and above) and NaN payloads in either half (0x7f800001 is
     * a NaN only by its low half). */
    for (uint32_t h = 0; h < 0x8000; h++) {
        push_around(&p, h << 16);
        push_around(&p, (h << 16) | 0x8000u);
        push_around(&p, (h << 16) | 0xffffu);
    }
    push_random(&p, 1u << 20);
    const size_t n = check_narrow(&p, RL_DTYPE_BF16);
    cr_log_info("bf16: %zu patterns", n);
    free(p.u);
}

Test(SUITE, f16_every_value_and_midpoint, .init = setup)
{
    patterns p = {0};
    /* For every finite positive binary16 h: its value and the midpoint to the
     * next one (exact in float: 12 significant bits), with their neighbours.
     * Below the smallest subnormal, the midpoint 2^-25 and the patterns
     * between; past the largest finite value, 65520 (the tie that overflows),
     * and on to infinity and every NaN class. */
    for (uint32_t h = 0; h < 0x7c00; h++) {
        const float lo = rl_f16_to_f32((uint16_t)h), hi = rl_f16_to_f32((uint16_t)(h + 1));
        push_around(&p, rl_f32_bits(lo));
        push_around(&p, rl_f32_bits(0.5f * lo + 0.5f * hi));
    }
    for (uint32_t e = 0; e < 103; e += 3) /* below 2^-25 down to the float subnormals */
        push_around(&p, (e << 23) | (next32() & 0x7fffffu));
    push_around(&p, 0x33000000u); /* 2^-25: half the smallest subnormal, rounds to 0 */
    push_around(&p, 0x477ff000u); /* 65520 */
    push_around(&p, 0x477fefffu);
    push_around(&p, 0x7f7fffffu); /* the largest float */
    push_around(&p, 0x7f800000u); /* infinity, the smallest NaN */
    push_around(&p, 0x7f801fffu); /* a NaN with its payload below binary16's */
    push_around(&p, 0x7fc00000u);
    push_around(&p, 0x7fffffffu);
    push_random(&p, 1u << 20);
    const size_t n = check_narrow(&p, RL_DTYPE_F16);
    cr_log_info("f16: %zu patterns", n);
    free(p.u);
}

/* Widening is exact and keeps the pattern, but for one documented case:
 * FCVTL quiets a signalling binary16 NaN (0x7c01..0x7dff and negatives),
 * which rl_f16_to_f32 carries over as is; the result is a NaN with the same
 * payload either way, and any arithmetic on it quiets it too. */
Test(SUITE, widening_every_pattern, .init = setup)
{
    for (uint32_t h = 0; h < 65536; h += 4) {
        const uint16_t in[4] = {(uint16_t)h, (uint16_t)(h + 1), (uint16_t)(h + 2),
                                (uint16_t)(h + 3)};
        uint32_t b[4], f[4];
        vst1q_u32(b, vreinterpretq_u32_f32(rl_neon_widen_bf16(vld1_u16(in))));
        vst1q_u32(f, vreinterpretq_u32_f32(rl_neon_widen_f16(vld1_u16(in))));
        for (int l = 0; l < 4; l++) {
            const uint32_t wb = rl_f32_bits(rl_bf16_to_f32(in[l]));
            uint32_t wf = rl_f32_bits(rl_f16_to_f32(in[l]));
            cr_assert_eq(b[l], wb, "bf16 %04x: %08x, scalar %08x", in[l], b[l], wb);
            if ((in[l] & 0x7e00u) == 0x7c00u && (in[l] & 0x3ffu)) /* signalling NaN */
                wf |= 0x00400000u;
            cr_assert_eq(f[l], wf, "f16 %04x: %08x, scalar %08x", in[l], f[l], wf);
        }
    }
}
