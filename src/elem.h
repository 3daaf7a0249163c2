/* Element types of the tensors: sizes, exact widening of bfloat16 and
 * binary16 to float, and round-to-nearest-even narrowing from float and from
 * double.  Scalar, portable C on bit patterns: no _Float16, no FPU mode
 * (nearbyint is used only on values whose rounding is to an integer in the
 * default mode, which the library never changes).  The SIMD families widen
 * and narrow in registers; these are their scalar reference and the code the
 * driver uses for the few per-object entries. */
#ifndef RL_ELEM_H
#define RL_ELEM_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "regionloss.h"

static inline int64_t rl_elem_size(int type) { return type == RL_DTYPE_F32 ? 4 : 2; }

/* Address of element `off` of a tensor of `type`. */
static inline const void *rl_elem_at(const void *base, int64_t off, int type)
{
    return (const char *)base + off * rl_elem_size(type);
}
static inline void *rl_elem_at_mut(void *base, int64_t off, int type)
{
    return (char *)base + off * rl_elem_size(type);
}

static inline float rl_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t rl_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float rl_bf16_to_f32(uint16_t h) { return rl_bits_f32((uint32_t)h << 16); }

/* binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.  Every value,
 * subnormals included, is a float; NaN keeps its payload. */
static inline float rl_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ffu;
    if (e == 0x1f)
        return rl_bits_f32(sign | 0x7f800000u | (m << 13));
    if (e == 0) { /* zero or subnormal: m * 2^-24, exact in float */
        const float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    return rl_bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

/* float to bfloat16, nearest even: add 0x7fff plus the lowest kept bit, then
 * drop the low half (a carry into the exponent is the correct rounding, up to
 * infinity); a NaN stays a NaN (quiet bit set: a payload only in the dropped
 * half would otherwise turn it into infinity). */
static inline uint16_t rl_f32_to_bf16(float f)
{
    const uint32_t u = rl_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* |v| (finite, not NaN) rounded once, to nearest even, into a binary format
 * of `mant` mantissa bits, exponent bias `bias` and largest exponent `emax`;
 * returns the magnitude's bits.  v = M 2^(E - mant) with M an integer of
 * mant + 1 bits is exact in double for both half formats. */
static inline uint32_t rl_round_magnitude(double a, int mant, int bias, int emax)
{
    const int emin = 1 - bias;
    if (a == 0)
        return 0;
    int e;
    (void)frexp(a, &e);
    e -= 1; /* a in [2^e, 2^(e+1)) */
    if (e < emin)
        e = emin; /* subnormal: the scale of the smallest exponent */
    double M = nearbyint(ldexp(a, mant - e)); /* ties to even */
    if (M >= ldexp(1.0, mant + 1)) {         /* rounded up to the next binade */
        M = ldexp(M, -1);
        e++;
    }
    if (e > emax)
        return (uint32_t)(2 * bias + 1) << mant; /* infinity */
    const uint32_t mi = (uint32_t)M;
    if (mi < (1u << mant)) /* subnormal (or rounded up to the smallest normal) */
        return mi;
    return ((uint32_t)(e + bias) << mant) | (mi - (1u << mant));
}

static inline uint16_t rl_f64_to_f16(double v)
{
    if (isnan(v))
        return 0x7e00u;
    const uint16_t sign = signbit(v) ? 0x8000u : 0;
    if (isinf(v))
        return sign | 0x7c00u;
    return sign | (uint16_t)rl_round_magnitude(fabs(v), 10, 15, 15);
}

static inline uint16_t rl_f64_to_bf16(double v)
{
    if (isnan(v))
        return 0x7fc0u;
    const uint16_t sign = signbit(v) ? 0x8000u : 0;
    if (isinf(v))
        return sign | 0x7f80u;
    return sign | (uint16_t)rl_round_magnitude(fabs(v), 7, 127, 127);
}

/* float to binary16, nearest even (through double: exact, one rounding). */
static inline uint16_t rl_f32_to_f16(float f)
{
    const uint32_t u = rl_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep the top payload bits, quiet */
        return (uint16_t)(((u >> 16) & 0x8000u) | 0x7e00u | ((u >> 13) & 0x3ffu));
    return rl_f64_to_f16((double)f);
}

/* Element `off` of a tensor of `type`, as a float (exact). */
static inline float rl_load(const void *base, int64_t off, int type)
{
    if (type == RL_DTYPE_F32)
        return ((const float *)base)[off];
    const uint16_t h = ((const uint16_t *)base)[off];
    return type == RL_DTYPE_BF16 ? rl_bf16_to_f32(h) : rl_f16_to_f32(h);
}

/* Stores v into element `off`, rounded once to the type (nearest even). */
static inline void rl_store_f64(void *base, int64_t off, int type, double v)
{
    if (type == RL_DTYPE_F32)
        ((float *)base)[off] = (float)v;
    else
        ((uint16_t *)base)[off] = type == RL_DTYPE_BF16 ? rl_f64_to_bf16(v) : rl_f64_to_f16(v);
}

static inline void rl_store_f32(void *base, int64_t off, int type, float v)
{
    if (type == RL_DTYPE_F32)
        ((float *)base)[off] = v;
    else
        ((uint16_t *)base)[off] = type == RL_DTYPE_BF16 ? rl_f32_to_bf16(v) : rl_f32_to_f16(v);
}

#endif
