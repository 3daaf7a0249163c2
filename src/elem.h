/* Element types of the tensors: sizes, exact widening of bfloat16 and
 * binary16 to float, and round-to-nearest-even narrowing from float and from
 * double.  Scalar, portable C on bit patterns: no _Float16, and no FPU mode
 * but the default nearest-even one, which the library never changes (the
 * binary16 subnormals of rl_f32_to_f16 lean on it).  The SIMD families widen
 * and narrow in registers; these are their scalar reference and the code the
 * driver uses for the few per-object entries. */
#ifndef RL_ELEM_H
#define RL_ELEM_H

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

/* A finite double rounded once, to nearest even, into a binary format of
 * `mant` mantissa bits and smallest normal exponent `emin` (bias 1 - emin),
 * on its bits alone: the kept bits are the significand shifted right, and
 * the dropped ones decide (more than half: up; exactly half: to even).  A
 * carry out of the mantissa moves to the next exponent, and out of the
 * largest one to infinity, which is the correct rounding both times. */
static inline uint16_t rl_f64_round(double v, int mant, int emin)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    const uint16_t sign = (uint16_t)((u >> 48) & 0x8000u);
    const int bias = 1 - emin, emax = bias;
    const uint16_t inf = (uint16_t)((2 * bias + 1) << mant);
    const int ex = (int)((u >> 52) & 0x7ff);
    const uint64_t frac = u & ((1ull << 52) - 1);
    if (ex == 0x7ff) /* NaN (quiet, top payload bits kept) or infinity */
        return frac ? (uint16_t)(sign | inf | (1u << (mant - 1)) | (uint16_t)(frac >> (52 - mant)))
                    : (uint16_t)(sign | inf);
    if (ex == 0) /* zero or a double subnormal: far below any half subnormal */
        return sign;
    const int e = ex - 1023;
    if (e > emax)
        return (uint16_t)(sign | inf);
    const uint64_t sig = frac | (1ull << 52);
    int shift = 52 - mant;
    uint32_t base = 0; /* the exponent field, for a normal result */
    if (e < emin)
        shift += emin - e; /* subnormal: units of 2^(emin - mant) */
    else
        base = (uint32_t)(e + bias) << mant;
    if (shift > 63)
        return sign;
    const uint64_t kept = sig >> shift, rest = sig & ((1ull << shift) - 1);
    const uint64_t half = 1ull << (shift - 1);
    /* normal: the implicit bit is in `base`, drop it from the kept bits */
    uint32_t r = base + (uint32_t)(e < emin ? kept : kept - (1ull << mant));
    if (rest > half || (rest == half && (r & 1u)))
        r++;
    return (uint16_t)(sign | r);
}

static inline uint16_t rl_f64_to_f16(double v) { return rl_f64_round(v, 10, -14); }
static inline uint16_t rl_f64_to_bf16(double v) { return rl_f64_round(v, 7, -126); }

/* float to binary16, nearest even, on the bits (the driver narrows every
 * class gradient of a responsible slot with it).  Normal results: rebias the
 * exponent and round the 13 dropped bits as rl_f32_to_bf16 does its 16.
 * Subnormal results (|f| < 2^-14): adding 1/2, whose unit in the last place
 * is 2^-24, makes the FPU round |f| to a multiple of binary16's smallest
 * subnormal in the default nearest-even mode; the sum's low bits are the
 * result (1024 being the smallest normal, which is correct). */
static inline uint16_t rl_f32_to_f16(float f)
{
    const uint32_t u = rl_f32_bits(f), a = u & 0x7fffffffu;
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    if (a > 0x7f800000u) /* NaN: keep the top payload bits, quiet */
        return (uint16_t)(sign | 0x7e00u | ((u >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) /* 65520 and beyond (infinity too) round to infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (a >= 0x38800000u) { /* 2^-14: normal */
        const uint32_t r = a - 0x38000000u; /* exponent bias 127 -> 15 */
        return (uint16_t)(sign | ((r + 0x0fffu + ((r >> 13) & 1u)) >> 13));
    }
    return (uint16_t)(sign | (rl_f32_bits(rl_bits_f32(a) + 0.5f) - 0x3f000000u));
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
