/* Run-time dispatch: auto picks the ISA this CPU has, names can be forced
 * from the config or the environment, and a variant the CPU lacks is an
 * error, not a crash.  The CPU mask (as dav1d's) simulates older CPUs. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "regionloss.h"

static const float anchors[4] = {1.0f, 1.5f, 2.0f, 1.0f};

static rl_status make(const char *variant, rl_plan **plan)
{
    rl_config cfg;
    rl_config_init(&cfg);
    cfg.H = 3;
    cfg.W = 4;
    cfg.B = 2;
    cfg.C = 3;
    cfg.anchors = anchors;
    cfg.variant = variant;
    return rl_plan_create(&cfg, plan);
}

static int listed(const char *name)
{
    for (const char *const *v = rl_variant_list(); *v; v++)
        if (strcmp(*v, name) == 0)
            return 1;
    return 0;
}

static const char *native_best(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    /* a build without the hand-written kernels (-Dsimd=false) has no avx2 */
    const int built = rl_variant_check("avx2") != RL_ERR_UNAVAILABLE_VARIANT ||
                      !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
    return built && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? "avx2"
                                                                                    : "generic";
#elif defined(__aarch64__)
    return "neon";
#else
    return "generic";
#endif
}

Test(dispatch, auto_picks_this_cpus_isa)
{
    unsetenv("REGIONLOSS_VARIANT");
    rl_plan *plan;
    cr_assert_eq(make(NULL, &plan), RL_OK, "%s", rl_last_error());
    const char *want = native_best();
    /* a Highway target may rank above the hand-written kernels by policy */
    const char *got = rl_plan_variant(plan);
    cr_assert(strcmp(got, want) == 0 || strncmp(got, "hwy:", 4) == 0,
              "auto chose %s, expected %s", got, want);
    cr_assert(listed(want));
    cr_assert(listed("generic") && listed("reference"));
    rl_plan_destroy(plan);
}

Test(dispatch, config_and_environment_force_a_variant)
{
    rl_plan *plan;
    setenv("REGIONLOSS_VARIANT", "generic", 1);
    cr_assert_eq(make(NULL, &plan), RL_OK, "%s", rl_last_error());
    cr_assert_str_eq(rl_plan_variant(plan), "generic");
    rl_plan_destroy(plan);
    /* an explicit config name beats the environment */
    cr_assert_eq(make("reference", &plan), RL_OK);
    cr_assert_str_eq(rl_plan_variant(plan), "reference");
    rl_plan_destroy(plan);
    setenv("REGIONLOSS_VARIANT", "no-such", 1);
    cr_assert_eq(make(NULL, &plan), RL_ERR_UNKNOWN_VARIANT);
    cr_assert(strstr(rl_last_error(), "REGIONLOSS_VARIANT") &&
                  strstr(rl_last_error(), "\"no-such\""),
              "message: %s", rl_last_error());
    unsetenv("REGIONLOSS_VARIANT");
}

Test(dispatch, missing_isa_fails_cleanly)
{
    rl_plan *plan = (rl_plan *)0x1;
#if defined(__aarch64__)
    const char *absent = "avx2";
#else
    const char *absent = "neon";
#endif
    cr_assert_eq(make(absent, &plan), RL_ERR_UNAVAILABLE_VARIANT);
    cr_assert_eq(plan, (rl_plan *)0x1, "out_plan written on failure");
    cr_assert(strstr(rl_last_error(), absent), "message: %s", rl_last_error());
    cr_assert_eq(rl_variant_check(absent), RL_ERR_UNAVAILABLE_VARIANT);
    cr_assert(!listed(absent));
}

Test(dispatch, lowered_cpu_mask_falls_back_to_portable_code)
{
    unsetenv("REGIONLOSS_VARIANT");
    rl_cpu_set_mask(0); /* as on a CPU without any SIMD extension we use */
    rl_plan *plan;
    cr_assert_eq(make(NULL, &plan), RL_OK);
    const char *got = rl_plan_variant(plan);
    cr_assert(strcmp(got, "generic") == 0 || strncmp(got, "hwy:", 4) == 0, "auto chose %s", got);
    cr_assert_neq(strcmp(got, "avx2"), 0);
    cr_assert_neq(strcmp(got, "neon"), 0);
    cr_assert_neq(strcmp(got, "neon-bf16"), 0);
    rl_plan_destroy(plan);
    cr_assert_eq(make("avx2", &plan), RL_ERR_UNAVAILABLE_VARIANT);
    cr_assert_eq(make("neon", &plan), RL_ERR_UNAVAILABLE_VARIANT);
    cr_assert_eq(make("neon-bf16", &plan), RL_ERR_UNAVAILABLE_VARIANT);
    rl_cpu_set_mask(~0u);
}

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1ul << 14)
#endif

/* neon-bf16 runs BFCVTN: available only where Linux reports FEAT_BF16, and
 * never auto's choice (it ranks after neon, which every aarch64 has). */
Test(dispatch, neon_bf16_needs_hwcap2_bf16)
{
    unsetenv("REGIONLOSS_VARIANT");
    if (!(getauxval(AT_HWCAP2) & HWCAP2_BF16)) {
        cr_assert_eq(rl_variant_check("neon-bf16"), RL_ERR_UNAVAILABLE_VARIANT);
        cr_assert(!listed("neon-bf16"));
    }
    if (listed("neon-bf16")) {
        int neon_at = -1, bf16_at = -1, k = 0;
        for (const char *const *v = rl_variant_list(); *v; v++, k++) {
            if (strcmp(*v, "neon") == 0)
                neon_at = k;
            if (strcmp(*v, "neon-bf16") == 0)
                bf16_at = k;
        }
        cr_assert(neon_at >= 0 && neon_at < bf16_at, "neon at %d, neon-bf16 at %d", neon_at,
                  bf16_at);
        rl_plan *plan;
        cr_assert_eq(make("neon-bf16", &plan), RL_OK, "%s", rl_last_error());
        cr_assert_str_eq(rl_plan_variant(plan), "neon-bf16");
        rl_plan_destroy(plan);
    }
    rl_plan *plan;
    cr_assert_eq(make(NULL, &plan), RL_OK, "%s", rl_last_error());
    cr_assert_neq(strcmp(rl_plan_variant(plan), "neon-bf16"), 0);
    rl_plan_destroy(plan);
}
#endif
