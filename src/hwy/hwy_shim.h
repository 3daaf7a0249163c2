/* The C side's whole view of the Highway kernel family (kernels_hwy.cc):
 * target indices, names, CPU support and the kernel table of one target.
 * Only ints, C strings and the C rl_kernels table cross this boundary, so
 * the C code never sees a C++ type and builds without a C++ compiler when
 * Highway is disabled (variants_driver.c then keeps the hwy: variants
 * unavailable). */
#ifndef RL_HWY_SHIM_H
#define RL_HWY_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

#include "../kernels.h"

/* How many Highway targets this build compiled in; indices 0..count-1
 * are ordered best first (Highway's own order). */
RL_HIDDEN int rl_hwy_target_count(void);

/* Highway's name of target `idx` ("AVX2", "SVE_256", ...); NULL when idx is
 * out of range.  The string is static. */
RL_HIDDEN const char *rl_hwy_target_name(int idx);

/* Index of the compiled-in target called `name`, or -1. */
RL_HIDDEN int rl_hwy_target_find(const char *name);

/* Non-zero when this CPU (and OS) can run target `idx`. */
RL_HIDDEN int rl_hwy_target_supported(int idx);

/* Fills *k with target idx's kernels, whatever Highway's dynamic dispatch
 * would choose.  Returns 0, or -1 (k untouched) when idx is out of range or
 * the CPU cannot run it. */
RL_HIDDEN int rl_hwy_target_kernels(int idx, rl_kernels *k);

/* For tests: target idx's own element conversions, the code its kernels
 * run, over n elements.  op 0 narrows n floats (in) to `type`'s bit
 * patterns (out, uint16_t); op 1 widens n bit patterns (in, uint16_t) to
 * floats (out) from 16-bit lanes, op 2 from the low and op 3 from the high
 * half of 32-bit words (the NHWC gathers' path).  type: RL_DTYPE_BF16 or
 * RL_DTYPE_F16.  Returns 0, or -1 when idx is out of range, the CPU cannot
 * run it, or op or type is unknown. */
RL_HIDDEN int rl_hwy_target_convert(int idx, int op, int type, const void *in, void *out,
                                    size_t n);

/* The target Highway's dynamic dispatch (HWY_DYNAMIC_DISPATCH) picks on
 * this CPU, for diagnostics. */
RL_HIDDEN const char *rl_hwy_dispatch_target(void);

#ifdef __cplusplus
}
#endif

#endif
