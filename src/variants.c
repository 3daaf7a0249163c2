/* The table of variants and the choice of one for a plan. */
#include <pthread.h>
#include <string.h>

#include "variants.h"

/* The Highway variants (variants_driver.c); docs/hwy.md gives the policy
 * that orders them among the hand-written ones. */
extern const rl_variant_desc rl_variant_hwy_avx3, rl_variant_hwy_avx2, rl_variant_hwy_sse4,
    rl_variant_hwy_sve2_128, rl_variant_hwy_sve_256, rl_variant_hwy_sve2, rl_variant_hwy_sve,
    rl_variant_hwy_neon, rl_variant_hwy_emu128, rl_variant_hwy_scalar;

/* Best first: "auto" takes the first one available.  The reference is last:
 * it is the oracle, chosen only when asked for.  The order is the dispatch
 * policy of docs/hwy.md: a Highway target goes ahead of the hand-written or
 * portable code for the same CPU only where there is none (SVE, in
 * Highway's own order) or where it measured faster by more than 5% in every
 * workload and run (AVX3 over avx2, SCALAR over generic; EMU128, which
 * clang builds instead of SCALAR, measured slower than clang's generic).
 * The -bf16 builds of the hand-written kernels differ only in narrowing
 * bfloat16 with one instruction; avx2-bf16 measured no faster and
 * neon-bf16 is not measured (no aarch64 hardware), so each ranks after its
 * family and runs only when named. */
const rl_variant_desc *const rl_all_variants[] = {
    &rl_variant_hwy_sve2_128,
    &rl_variant_hwy_sve_256,
    &rl_variant_hwy_sve2,
    &rl_variant_hwy_sve,
    &rl_variant_hwy_avx3,
    &rl_variant_avx2,
    &rl_variant_avx2_bf16,
    &rl_variant_neon,
    &rl_variant_neon_bf16,
    &rl_variant_hwy_avx2,
    &rl_variant_hwy_sse4,
    &rl_variant_hwy_neon,
    &rl_variant_hwy_scalar,
    &rl_variant_generic,
    &rl_variant_hwy_emu128,
    &rl_variant_reference,
    NULL,
};

const rl_variant_desc *rl_find_variant(const char *name)
{
    for (int v = 0; rl_all_variants[v]; v++)
        if (strcmp(rl_all_variants[v]->name, name) == 0)
            return rl_all_variants[v];
    return NULL;
}

const rl_variant_desc *rl_auto_variant(void)
{
    for (int v = 0; rl_all_variants[v]; v++)
        if (rl_all_variants[v]->available())
            return rl_all_variants[v];
    return &rl_variant_reference;
}

/* room for every variant and the NULL */
static const char *variant_names[sizeof rl_all_variants / sizeof rl_all_variants[0]];
static pthread_once_t variant_names_once = PTHREAD_ONCE_INIT;

static void fill_variant_names(void)
{
    int k = 0;
    for (int v = 0; rl_all_variants[v]; v++)
        if (rl_all_variants[v]->available())
            variant_names[k++] = rl_all_variants[v]->name;
    variant_names[k] = NULL;
}

const char *const *rl_variant_list(void)
{
    pthread_once(&variant_names_once, fill_variant_names);
    return variant_names;
}

rl_status rl_variant_check(const char *name)
{
    if (!name)
        return rl_fail(RL_ERR_NULL_POINTER, "variant name is NULL");
    const rl_variant_desc *v = rl_find_variant(name);
    if (!v) {
        char known[256] = "";
        for (int k = 0; rl_all_variants[k]; k++) {
            if (k)
                strncat(known, ", ", sizeof known - strlen(known) - 1);
            strncat(known, rl_all_variants[k]->name, sizeof known - strlen(known) - 1);
        }
        return rl_fail(RL_ERR_UNKNOWN_VARIANT, "variant \"%s\" does not exist (known: %s)",
                       name, known);
    }
    if (!v->available())
        return rl_fail(RL_ERR_UNAVAILABLE_VARIANT,
                       "variant \"%s\" is not available on this CPU or in this build", name);
    return RL_OK;
}
