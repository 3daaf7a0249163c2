/* The Highway kernels' element conversions against src/elem.h, bit for bit,
 * on every compiled-in target this CPU runs (rl_hwy_target_convert runs the
 * code the kernels inline).  Highway 1.0.3's own conversions are not all
 * usable: its bf16 DemoteTo truncates on every target, and its software f16
 * DemoteTo/PromoteTo (SSE4, SCALAR, EMU128) truncate, saturate overflow to
 * finite values and read infinities and NaNs as numbers; kernels_hwy.cc
 * replaces them, and this test holds every target to rl_f32_to_bf16,
 * rl_f32_to_f16, rl_bf16_to_f32 and rl_f16_to_f32.
 *
 *   hwy_elem_bits [STEP]
 *
 * Narrowing: every float whose low 16 bits are one of the bf16 rounding
 * cases (0, 1, 0x7fff, 0x8000, 0x8001, 0xffff, and one pseudo-random value
 * per upper half), under every upper half, so every exponent, sign and NaN
 * payload; for every float exponent that reaches binary16 (2^-26 .. 2^17)
 * and both signs, the tie, tie +- 1, 0 and all-ones dropped bits at every
 * rounding position (binary16 subnormals round at bit 14 .. 23) under
 * random kept bits, plus random mantissas; and every STEP-th float (default
 * 65537; 1 = all 2^32, a few minutes per target natively).  Widening: all
 * 65536 patterns of both types from 16-bit lanes and from either half of a
 * 32-bit word.  Widened NaNs must be NaNs with the same sign and payload;
 * only the quiet bit may differ (F16C and FCVT quiet a signalling NaN,
 * rl_f16_to_f32 keeps it; the kernels only test NaNs for non-finiteness or
 * add to them, which quiets them anyway). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elem.h"
#include "hwy/hwy_shim.h"
#include "regionloss.h"

enum { CHUNK = 1 << 16 };

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static const char *type_name(int type) { return type == RL_DTYPE_BF16 ? "bf16" : "f16"; }

/* The floats of one chunk, with the reference narrowing of both types. */
typedef struct chunk {
    float in[CHUNK];
    uint16_t ref[2][CHUNK], got[CHUNK];
    size_t n;
} chunk;

static int targets[64], n_targets;
static long failures;
static uint64_t narrowed;

static void flush(chunk *c)
{
    for (size_t i = 0; i < c->n; i++) {
        c->ref[0][i] = rl_f32_to_bf16(c->in[i]);
        c->ref[1][i] = rl_f32_to_f16(c->in[i]);
    }
    for (int t = 0; t < n_targets; t++)
        for (int k = 0; k < 2; k++) {
            const int type = k == 0 ? RL_DTYPE_BF16 : RL_DTYPE_F16;
            if (rl_hwy_target_convert(targets[t], 0, type, c->in, c->got, c->n) != 0) {
                printf("FAIL %s: rl_hwy_target_convert refused\n", rl_hwy_target_name(targets[t]));
                failures++;
                continue;
            }
            for (size_t i = 0; i < c->n; i++) {
                if (c->got[i] == c->ref[k][i])
                    continue;
                if (failures++ < 20)
                    printf("FAIL %s narrow to %s: float bits 0x%08x gave 0x%04x, want 0x%04x\n",
                           rl_hwy_target_name(targets[t]), type_name(type), rl_f32_bits(c->in[i]),
                           c->got[i], c->ref[k][i]);
            }
        }
    narrowed += c->n;
    c->n = 0;
}

static void add(chunk *c, uint32_t bits)
{
    c->in[c->n++] = rl_bits_f32(bits);
    if (c->n == CHUNK)
        flush(c);
}

static void check_widen(void)
{
    static uint16_t in[65536];
    static float got[65536];
    for (uint32_t h = 0; h < 65536; h++)
        in[h] = (uint16_t)h;
    for (int t = 0; t < n_targets; t++)
        for (int type = RL_DTYPE_BF16; type <= RL_DTYPE_F16; type++)
            for (int op = 1; op <= 3; op++) {
                if (rl_hwy_target_convert(targets[t], op, type, in, got, 65536) != 0) {
                    printf("FAIL %s: rl_hwy_target_convert refused\n", rl_hwy_target_name(targets[t]));
                    failures++;
                    continue;
                }
                for (uint32_t h = 0; h < 65536; h++) {
                    const float want = type == RL_DTYPE_BF16 ? rl_bf16_to_f32((uint16_t)h)
                                                             : rl_f16_to_f32((uint16_t)h);
                    const uint32_t w = rl_f32_bits(want), g = rl_f32_bits(got[h]);
                    const int nan = (w & 0x7fffffffu) > 0x7f800000u;
                    if (w == g || (nan && (w | 0x00400000u) == (g | 0x00400000u)))
                        continue;
                    if (failures++ < 20)
                        printf("FAIL %s widen %s (%s): 0x%04x gave 0x%08x, want 0x%08x\n",
                               rl_hwy_target_name(targets[t]), type_name(type),
                               op == 1 ? "u16 lanes" : op == 2 ? "low halves" : "high halves", h,
                               g, w);
                }
            }
}

int main(int argc, char **argv)
{
    const uint64_t step = argc > 1 ? strtoull(argv[1], NULL, 10) : 65537;
    if (step == 0) {
        fprintf(stderr, "usage: %s [STEP >= 1]\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < rl_hwy_target_count() && n_targets < 64; i++)
        if (rl_hwy_target_supported(i))
            targets[n_targets++] = i;
    printf("targets:");
    for (int t = 0; t < n_targets; t++)
        printf(" %s", rl_hwy_target_name(targets[t]));
    printf("\n");
    if (n_targets == 0) {
        printf("no Highway target runs here\n");
        return 77; /* skipped */
    }

    check_widen();

    static chunk c;
    /* bf16 rounding cases under every upper half */
    const uint32_t lows[6] = {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu};
    for (uint32_t hi = 0; hi < 65536; hi++) {
        for (int k = 0; k < 6; k++)
            add(&c, hi << 16 | lows[k]);
        add(&c, hi << 16 | (rnd32() & 0xffffu));
    }
    /* binary16's range: every rounding position, ties and their neighbours */
    for (uint32_t e = 127 - 26; e <= 127 + 17; e++)
        for (uint32_t sign = 0; sign < 2; sign++) {
            const uint32_t top = sign << 31 | e << 23;
            for (int k = 0; k < 1024; k++)
                add(&c, top | (rnd32() & 0x7fffffu));
            for (int s = 1; s <= 23; s++) { /* bits [0, s) dropped */
                const uint32_t dropped = (1u << s) - 1, tie = 1u << (s - 1);
                const uint32_t cases[5] = {0, tie - 1, tie, tie + 1, dropped};
                for (int r = 0; r < 32; r++) {
                    const uint32_t kept = rnd32() & 0x7fffffu & ~dropped;
                    for (int k = 0; k < 5; k++)
                        add(&c, top | kept | cases[k]);
                }
            }
        }
    /* a sweep of all bit patterns */
    for (uint64_t b = 0; b < (1ull << 32); b += step)
        add(&c, (uint32_t)b);
    flush(&c);

    printf("%llu floats narrowed to bf16 and f16, 65536 patterns of each widened three ways, "
           "on %d targets: %ld mismatches\n",
           (unsigned long long)narrowed, n_targets, failures);
    return failures != 0;
}
