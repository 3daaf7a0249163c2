/* Every available variant against the [yolo] reference on seeded random
 * networks (tests/common/yolo_randcase.c).  The seed is printed and taken
 * back, as in test_differential.c:
 *   REGIONLOSS_SEED=S  REGIONLOSS_CASE=I  REGIONLOSS_CASES=N
 *   REGIONLOSS_CHECK_VARIANT=V */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "yolo_diffcheck.h"
#include "yolo_randcase.h"

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

Test(yolo_differential, random_networks, .timeout = 1800)
{
    const uint64_t seed = env_u64("REGIONLOSS_SEED", 20261207);
    const uint64_t cases = env_u64("REGIONLOSS_CASES", 1500);
    const char *only_case = getenv("REGIONLOSS_CASE");
    const char *only_variant = getenv("REGIONLOSS_CHECK_VARIANT");
    if (only_variant && *only_variant)
        rl_yolo_diffcheck_only(only_variant);
    uint64_t first = 0, last = cases;
    if (only_case && *only_case) {
        first = strtoull(only_case, NULL, 0);
        last = first + 1;
    }
    printf("yolo-differential: seed %llu, cases %llu..%llu, variants:",
           (unsigned long long)seed, (unsigned long long)first, (unsigned long long)last - 1);
    for (const char *const *v = rl_variant_list(); *v; v++)
        printf(" %s", *v);
    printf("\n");
    int failures = 0, checked = 0;
    for (uint64_t i = first; i < last && failures < 5; i++) {
        rl_yolo_case c;
        rl_yolo_case_make(&c, seed, i);
        char what[700];
        snprintf(what, sizeof what, "seed %llu case %llu (%s)", (unsigned long long)seed,
                 (unsigned long long)i, c.desc);
        rl_diffcheck_report rep;
        if (rl_yolo_diffcheck(&c.cfg, &c.batch, what, stdout, &rep) != 0) {
            printf("  rerun: REGIONLOSS_SEED=%llu REGIONLOSS_CASE=%llu meson test "
                   "yolo-differential\n",
                   (unsigned long long)seed, (unsigned long long)i);
            failures++;
        }
        checked += rep.variants_checked;
        rl_yolo_case_free(&c);
    }
    fflush(stdout);
    cr_assert_eq(failures, 0, "%d case(s) disagreed with the reference (details above)",
                 failures);
    cr_assert_gt(checked, 0, "no variant other than the reference was compared");
}
