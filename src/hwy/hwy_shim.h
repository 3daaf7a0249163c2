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

/* The target Highway's dynamic dispatch (HWY_DYNAMIC_DISPATCH) picks on
 * this CPU, for diagnostics. */
RL_HIDDEN const char *rl_hwy_dispatch_target(void);

#ifdef __cplusplus
}
#endif

#endif
