/* src/elem.h, the scalar definition of the half types every kernel family
 * matches: widening checked on every bit pattern against the formats'
 * definitions, narrowing from double against the definition of rounding to
 * nearest even (no neighbour is nearer; a tie goes to the even mantissa),
 * and the float narrowings against the double ones. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "elem.h"

/* The value of a binary16 pattern from its definition. */
static double f16_value(uint16_t h)
{
    const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexp(m, -24);
    else
        v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static double bf16_value(uint16_t h)
{
    const int s = h >> 15, e = (h >> 7) & 255, m = h & 127;
    double v;
    if (e == 255)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexp(m, -133);
    else
        v = ldexp(128 + m, e - 134);
    return s ? -v : v;
}

Test(elem, widening_every_pattern)
{
    for (uint32_t h = 0; h < 65536; h++) {
        const double a = f16_value((uint16_t)h), b = bf16_value((uint16_t)h);
        const float fa = rl_f16_to_f32((uint16_t)h), fb = rl_bf16_to_f32((uint16_t)h);
        if (isnan(a))
            cr_assert(isnan(fa), "f16 %04x: NaN widened to %.9g", h, (double)fa);
        else
            cr_assert(fa == a && !signbit(fa) == !signbit(a), "f16 %04x: %.9g, want %.17g", h,
                      (double)fa, a);
        if (isnan(b))
            cr_assert(isnan(fb), "bf16 %04x: NaN widened to %.9g", h, (double)fb);
        else
            cr_assert(fb == b && !signbit(fb) == !signbit(b), "bf16 %04x: %.9g, want %.17g", h,
                      (double)fb, b);
    }
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t next64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Checks h = round(d) for a finite d: no representable neighbour is nearer
 * and a tie has an even mantissa; overflow gives infinity exactly when d
 * is at least the largest finite value plus half a unit. */
static void check_rounding(int type, double d, uint16_t h)
{
    double (*val)(uint16_t) = type == RL_DTYPE_BF16 ? bf16_value : f16_value;
    const uint16_t maxf = type == RL_DTYPE_BF16 ? 0x7f7f : 0x7bff;
    const double top = val(maxf), unit = top - val(maxf - 1);
    const double v = val(h);
    cr_assert(!isnan(v), "%s(%.17g) = %04x is NaN", type == RL_DTYPE_BF16 ? "bf16" : "f16", d, h);
    cr_assert(!signbit(v) == !signbit(d), "sign of %.17g lost (%04x)", d, h);
    if (fabs(d) >= top + unit / 2) {
        cr_assert(isinf(v), "%.17g must overflow, got %04x", d, h);
        return;
    }
    cr_assert(!isinf(v), "%.17g overflowed to %04x", d, h);
    const uint16_t mag = h & 0x7fff;
    const double err = fabs(d - v);
    const double up = fabs(val((uint16_t)(mag + 1)));
    cr_assert(mag == maxf || err <= fabs(fabs(d) - up), "%.17g: %04x is farther than the next", d, h);
    if (mag > 0) {
        const double down = val((uint16_t)(mag - 1));
        cr_assert(err <= fabs(fabs(d) - down), "%.17g: %04x is farther than the previous", d, h);
        if (err == fabs(fabs(d) - down) && err > 0)
            cr_assert((mag & 1) == 0, "%.17g: tie rounded to odd %04x", d, h);
    }
    if (mag != maxf && err > 0 && err == fabs(fabs(d) - up))
        cr_assert((mag & 1) == 0, "%.17g: tie rounded to odd %04x", d, h);
}

Test(elem, narrowing_from_double)
{
    for (int type = RL_DTYPE_BF16; type <= RL_DTYPE_F16; type++) {
        const int emin = type == RL_DTYPE_BF16 ? -140 : -30, emax = type == RL_DTYPE_BF16 ? 130 : 18;
        for (int k = 0; k < 400000; k++) {
            const uint64_t u = next64();
            /* a random magnitude across the range, or an exact midpoint or
             * neighbour of one (the ties) */
            double d = ldexp(1.0 + (double)(u >> 12) * 0x1p-52, emin + (int)(u % (uint64_t)(emax - emin)));
            if (k % 4 == 1) {
                const uint16_t h = (uint16_t)(u >> 40) & 0x7fff;
                const double a = type == RL_DTYPE_BF16 ? bf16_value(h) : f16_value(h);
                const double b = type == RL_DTYPE_BF16 ? bf16_value(h + 1) : f16_value(h + 1);
                if (isnan(a) || isnan(b) || isinf(a) || isinf(b))
                    continue;
                d = a + (b - a) / 2; /* exact in double */
                if (k % 8 == 5)
                    d = nextafter(d, (u & 1) ? 0.0 : INFINITY);
            }
            if (u & (1ull << 11))
                d = -d;
            const uint16_t h = type == RL_DTYPE_BF16 ? rl_f64_to_bf16(d) : rl_f64_to_f16(d);
            check_rounding(type, d, h);
        }
        const uint16_t h0 = type == RL_DTYPE_BF16 ? rl_f64_to_bf16(-0.0) : rl_f64_to_f16(-0.0);
        cr_assert_eq(h0, 0x8000, "-0 keeps its sign");
        const uint16_t hn = type == RL_DTYPE_BF16 ? rl_f64_to_bf16(NAN) : rl_f64_to_f16(NAN);
        cr_assert(isnan(type == RL_DTYPE_BF16 ? bf16_value(hn) : f16_value(hn)), "NaN stays NaN");
    }
}

/* The float narrowings (what the kernels store) against the double ones on
 * floats: every exponent, random mantissas, the halfway patterns, and every
 * NaN class (a payload only in the low half must not become infinity). */
Test(elem, narrowing_from_float)
{
    for (int k = 0; k < 3000000; k++) {
        uint32_t u = (uint32_t)next64();
        if (k % 3 == 1) /* halfway patterns and their neighbours for bf16 */
            u = (u & 0xffff0000u) | 0x8000u | (uint32_t)((k / 3) % 3 == 0 ? 0 : (k & 1) ? 1 : 0x7fff);
        const float f = rl_bits_f32(u);
        const uint16_t b = rl_f32_to_bf16(f), h = rl_f32_to_f16(f);
        if (isnan(f)) {
            cr_assert(isnan(bf16_value(b)), "float %08x: bf16 %04x is not NaN", u, b);
            cr_assert(isnan(f16_value(h)), "float %08x: f16 %04x is not NaN", u, h);
            continue;
        }
        cr_assert_eq(b, rl_f64_to_bf16((double)f), "float %08x: bf16 %04x", u, b);
        cr_assert_eq(h, rl_f64_to_f16((double)f), "float %08x: f16 %04x", u, h);
    }
    /* every 13th float pattern (13 is odd: every low-bit residue, ties
     * included, comes round), for the bit-level binary16 rounding */
    for (uint64_t u = 0; u < (1ull << 32); u += 13) {
        const float f = rl_bits_f32((uint32_t)u);
        if (isnan(f))
            continue;
        const uint16_t h = rl_f32_to_f16(f);
        if (h != rl_f64_to_f16((double)f))
            cr_assert_fail("float %08x: f16 %04x, double route %04x", (unsigned)u, h,
                           rl_f64_to_f16((double)f));
    }
    const uint32_t nans[] = {0x7f800001u, 0xff800001u, 0x7f80ffffu, 0x7fc00000u, 0x7fffffffu};
    for (size_t q = 0; q < sizeof nans / sizeof nans[0]; q++) {
        cr_assert(isnan(bf16_value(rl_f32_to_bf16(rl_bits_f32(nans[q])))), "%08x", nans[q]);
        cr_assert(isnan(f16_value(rl_f32_to_f16(rl_bits_f32(nans[q])))), "%08x", nans[q]);
    }
}

/* Non-finite half inputs: bfloat16 NaNs whose payload sits only in the low
 * bits, infinities, binary16 NaNs; in a box entry and in a class logit of the
 * responsible slot.  Every variant refuses them, names the entry and its
 * bits, and writes nothing. */
Test(elem, half_nonfinite_rejected)
{
    static const float anchors[2] = {1.0f, 1.0f};
    const struct {
        int type;
        uint16_t bits;
    } bad[] = {{RL_DTYPE_BF16, 0x7f81}, {RL_DTYPE_BF16, 0xff80}, {RL_DTYPE_BF16, 0xffc0},
               {RL_DTYPE_F16, 0x7c01}, {RL_DTYPE_F16, 0xfc00}, {RL_DTYPE_F16, 0x7e00}};
    const rl_box truth = {0.3f, 0.3f, 0.4f, 0.4f, 1};
    const int64_t offsets[2] = {0, 1};
    for (size_t q = 0; q < sizeof bad / sizeof bad[0]; q++)
        for (int where = 0; where < 2; where++)
            for (const char *const *v = rl_variant_list(); *v; v++) {
                rl_config cfg;
                rl_config_init(&cfg);
                cfg.H = cfg.W = 3;
                cfg.B = 1;
                cfg.C = 3;
                cfg.anchors = anchors;
                cfg.variant = *v;
                cfg.pred_dtype = cfg.grad_dtype = (int16_t)bad[q].type;
                rl_plan *plan;
                cr_assert_eq(rl_plan_create(&cfg, &plan), RL_OK, "%s", rl_last_error());
                uint16_t pred[72], grad[72];
                for (int e = 0; e < 72; e++) {
                    pred[e] = bad[q].type == RL_DTYPE_BF16 ? 0x3e80 : 0x3400; /* 0.25 */
                    grad[e] = 0x5a5a;
                }
                /* NCHW, 9 cells: entry 2 (tw) of cell 4, or class 1 of the
                 * responsible cell (0.3 * 3 -> cell (0, 0)) */
                const int at = where == 0 ? 2 * 9 + 4 : (5 + 1) * 9 + 0;
                pred[at] = bad[q].bits;
                rl_batch b;
                memset(&b, 0, sizeof b);
                b.n_images = 1;
                b.pred = pred;
                b.truths = &truth;
                b.truth_offsets = offsets;
                rl_result res;
                const rl_status st = rl_compute(plan, &b, &res, grad);
                cr_assert_eq(st, RL_ERR_NONFINITE_PRED, "variant %s, bits %04x: %s", *v,
                             bad[q].bits, rl_status_name(st));
                char want[16];
                snprintf(want, sizeof want, "0x%04x", bad[q].bits);
                cr_assert(strstr(rl_last_error(), want) != NULL, "variant %s: message \"%s\"", *v,
                          rl_last_error());
                for (int e = 0; e < 72; e++)
                    cr_assert_eq(grad[e], 0x5a5a, "variant %s wrote gradient entry %d", *v, e);
                rl_plan_destroy(plan);
            }
}
