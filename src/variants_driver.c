/* The variants built on the optimised driver: one kernel table each. */
#include "cpu.h"
#include "driver.h"
#include "variants.h"
#if defined(RL_HAVE_HWY)
#include "hwy/hwy_shim.h"
#endif

static rl_status driver_compute(const rl_plan *plan, const rl_batch *batch, rl_result *res,
                                void *grad)
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

/* The AVX2 kernels built again with AVX512_BF16 (bfloat16 narrowing by
 * vcvtneps2bf16); everything else is the avx2 variant's code. */
#if defined(RL_HAVE_AVX2_BF16)
static int have_avx2_bf16(void)
{
    const unsigned need = RL_CPU_AVX2 | RL_CPU_AVX512BF16;
    return (rl_cpu_flags() & need) == need;
}
const rl_variant_desc rl_variant_avx2_bf16 = {"avx2-bf16", have_avx2_bf16, driver_compute,
                                              driver_count, rl_driver_workspace,
                                              rl_kernels_init_avx2_bf16};
#else
static int never_bf16(void) { return 0; }
const rl_variant_desc rl_variant_avx2_bf16 = {"avx2-bf16", never_bf16, driver_compute,
                                              driver_count, rl_driver_workspace,
                                              rl_kernels_init_generic};
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

/* neon built for FEAT_BF16: bfloat16 narrowing by BFCVTN. */
#if defined(RL_HAVE_NEON_BF16)
static int have_neon_bf16(void)
{
    const unsigned want = RL_CPU_NEON | RL_CPU_NEON_BF16;
    return (rl_cpu_flags() & want) == want;
}
const rl_variant_desc rl_variant_neon_bf16 = {"neon-bf16",      have_neon_bf16,
                                              driver_compute,   driver_count,
                                              rl_driver_workspace, rl_kernels_init_neon_bf16};
#else
static int never_neon_bf16(void) { return 0; }
const rl_variant_desc rl_variant_neon_bf16 = {"neon-bf16",      never_neon_bf16,
                                              driver_compute,   driver_count,
                                              rl_driver_workspace, rl_kernels_init_generic};
#endif

/* The Highway family (src/hwy): one variant per Highway target, named
 * "hwy:" + Highway's target name.  Each forces its own target's table, not
 * Highway's dynamic choice, so every compiled-in target can be tested on a
 * CPU that runs it.  Without Highway in the build they are never available. */
#if defined(RL_HAVE_HWY)
#define RL_HWY_AVAILABLE(NAME) rl_hwy_target_supported(rl_hwy_target_find(NAME))
#define RL_HWY_INIT(NAME, k)                                                               \
    do {                                                                                \
        if (rl_hwy_target_kernels(rl_hwy_target_find(NAME), k) != 0)                    \
            rl_kernels_init_generic(k); /* unreachable: plans check available() */      \
    } while (0)
#else
#define RL_HWY_AVAILABLE(NAME) 0
#define RL_HWY_INIT(NAME, k) rl_kernels_init_generic(k)
#endif

#define RL_HWY_VARIANT(ID, NAME)                                                           \
    static int hwy_available_##ID(void) { return RL_HWY_AVAILABLE(NAME); }                 \
    static void hwy_init_##ID(rl_kernels *k) { RL_HWY_INIT(NAME, k); }                     \
    const rl_variant_desc rl_variant_hwy_##ID = {"hwy:" NAME,       hwy_available_##ID, \
                                                 driver_compute,    driver_count,       \
                                                 rl_driver_workspace, hwy_init_##ID};

RL_HWY_VARIANT(avx3, "AVX3")
RL_HWY_VARIANT(avx2, "AVX2")
RL_HWY_VARIANT(sse4, "SSE4")
RL_HWY_VARIANT(sve2_128, "SVE2_128")
RL_HWY_VARIANT(sve_256, "SVE_256")
RL_HWY_VARIANT(sve2, "SVE2")
RL_HWY_VARIANT(sve, "SVE")
RL_HWY_VARIANT(neon, "NEON")
RL_HWY_VARIANT(emu128, "EMU128")
RL_HWY_VARIANT(scalar, "SCALAR")
