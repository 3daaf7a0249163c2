/* Test hooks of the AVX2 unit: its element conversions, run through the
 * kernels' own load and store paths (tests/differential/test_narrow_avx2.c
 * checks them against src/elem.h).  Call only when rl_cpu_flags() has
 * RL_CPU_AVX2; the _avx2_bf16 ones (the unit built for AVX512_BF16, when
 * the build has RL_HAVE_AVX2_BF16) only when it also has RL_CPU_AVX512BF16. */
#ifndef RL_HOOKS_AVX2_H
#define RL_HOOKS_AVX2_H

#include <stdint.h>

#include "../kernels.h"

/* out[i * stride] = in[i] rounded to `type` (RL_DTYPE_BF16 or RL_DTYPE_F16)
 * by the gradient store path, for i in [0, n): eight at a time, the last
 * vector partial; stride 1 is the contiguous path. */
RL_HIDDEN void rl_narrow_avx2(const float *in, void *out, int64_t n, int64_t stride, int type);
/* out[i] = in[i * stride] of `type` widened by the load path. */
RL_HIDDEN void rl_widen_avx2(const void *in, float *out, int64_t n, int64_t stride, int type);
RL_HIDDEN void rl_narrow_avx2_bf16(const float *in, void *out, int64_t n, int64_t stride,
                                   int type);
RL_HIDDEN void rl_widen_avx2_bf16(const void *in, float *out, int64_t n, int64_t stride,
                                  int type);

#endif
