/* The variants built on the optimised driver: one kernel table each. */
#include "cpu.h"
#include "driver.h"
#include "variants.h"

static rl_status driver_compute(const rl_plan *plan, const rl_batch *batch, rl_result *res,
                                float *grad)
{
    return rl_driver_run(plan, &plan->kernels, batch, res, NULL, grad, NULL);
}

static rl_status driver_count(const rl_plan *plan, const rl_batch *batch, rl_counts *out)
{
    return rl_driver_run(plan, &plan->kernels, batch, NULL, out, NULL, NULL);
}

static int always(void) { return 1; }

const rl_variant_desc rl_variant_generic = {"generic", always, driver_compute, driver_count,
                                            rl_driver_workspace, rl_kernels_init_generic};

#if defined(RL_HAVE_AVX2)
static int have_avx2(void) { return (rl_cpu_flags() & RL_CPU_AVX2) != 0; }
const rl_variant_desc rl_variant_avx2 = {"avx2", have_avx2, driver_compute, driver_count,
                                         rl_driver_workspace, rl_kernels_init_avx2};
#else
static int never(void) { return 0; }
const rl_variant_desc rl_variant_avx2 = {"avx2", never, driver_compute, driver_count,
                                         rl_driver_workspace, rl_kernels_init_generic};
#endif

#if defined(RL_HAVE_NEON)
static int have_neon(void) { return (rl_cpu_flags() & RL_CPU_NEON) != 0; }
const rl_variant_desc rl_variant_neon = {"neon", have_neon, driver_compute, driver_count,
                                         rl_driver_workspace, rl_kernels_init_neon};
#else
static int never_neon(void) { return 0; }
const rl_variant_desc rl_variant_neon = {"neon", never_neon, driver_compute, driver_count,
                                         rl_driver_workspace, rl_kernels_init_generic};
#endif
