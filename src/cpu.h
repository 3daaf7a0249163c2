/* What the CPU can run, asked once.  Tests lower the mask to force the
 * portable paths, as dav1d's checkasm does. */
#ifndef RL_CPU_H
#define RL_CPU_H

#include "internal.h"

enum {
    RL_CPU_AVX2 = 1u << 0, /* AVX2 + FMA + F16C + OS-saved YMM state */
    RL_CPU_NEON = 1u << 1, /* AArch64 Advanced SIMD (baseline there) */
    RL_CPU_AVX512BF16 = 1u << 2, /* with RL_CPU_AVX2: AVX512_BF16 + AVX512VL + OS-saved ZMM state */
    RL_CPU_NEON_BF16 = 1u << 3, /* AArch64 FEAT_BF16 (Linux: HWCAP2_BF16) */
};

/* Detected flags ANDed with the mask. */
RL_HIDDEN unsigned rl_cpu_flags(void);
RL_HIDDEN void rl_cpu_set_mask(unsigned mask);

#endif
