/* Half-precision elements in NEON registers: 4 bfloat16 or binary16 lanes
 * widened exactly to float and float narrowed back, rounding to nearest
 * even, bit for bit as src/elem.h's scalar rl_f32_to_bf16 / rl_f32_to_f16
 * (tests/differential/test_narrow_neon.c checks it).
 *
 * binary16 uses the AArch64 baseline FCVTL / FCVTN (vcvt_f32_f16,
 * vcvt_f16_f32): they round as FPCR says, nearest even by default, and the
 * library never changes FPCR; a NaN keeps the top of its payload, quieted,
 * as rl_f32_to_f16.  bfloat16 is the top half of a float: widening is a
 * shift; narrowing is done by hand with elem.h's rule, or with BFCVTN when
 * the unit is built for FEAT_BF16 (__ARM_FEATURE_BF16_VECTOR_ARITHMETIC),
 * whose rounding (FPCR's, nearest even) and NaN (quieted, top payload bits
 * kept) are the same. */
#ifndef RL_ELEM_NEON_H
#define RL_ELEM_NEON_H

#include <arm_neon.h>
#include <stdint.h>

#define RL_NEON_INLINE static inline __attribute__((always_inline))

RL_NEON_INLINE float32x4_t rl_neon_widen_bf16(uint16x4_t h)
{
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

RL_NEON_INLINE float32x4_t rl_neon_widen_f16(uint16x4_t h)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(h));
}

/* The portable bfloat16 narrowing: u + 0x7fff + (bit 16 of u), top half;
 * a NaN's top half with the quiet bit (0x0040 of the result) set. */
RL_NEON_INLINE uint16x4_t rl_neon_narrow_bf16_rne(float32x4_t v)
{
    const uint32x4_t u = vreinterpretq_u32_f32(v);
    const uint32x4_t is_nan =
        vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffffu)), vdupq_n_u32(0x7f800000u));
    const uint32x4_t lsb = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
    const uint32x4_t rounded = vaddq_u32(u, vaddq_u32(lsb, vdupq_n_u32(0x7fffu)));
    const uint32x4_t quiet = vorrq_u32(u, vdupq_n_u32(0x00400000u));
    return vshrn_n_u32(vbslq_u32(is_nan, quiet, rounded), 16);
}

#if defined(__ARM_FEATURE_BF16_VECTOR_ARITHMETIC)
/* BFCVTN: one instruction, same results. */
RL_NEON_INLINE uint16x4_t rl_neon_narrow_bf16_bfcvt(float32x4_t v)
{
    return vreinterpret_u16_bf16(vcvt_bf16_f32(v));
}
#define rl_neon_narrow_bf16 rl_neon_narrow_bf16_bfcvt
#else
#define rl_neon_narrow_bf16 rl_neon_narrow_bf16_rne
#endif

RL_NEON_INLINE uint16x4_t rl_neon_narrow_f16(float32x4_t v)
{
    return vreinterpret_u16_f16(vcvt_f16_f32(v));
}

#endif
