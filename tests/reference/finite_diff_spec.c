/* Finite differences in the spec mode: random small batches (seeded; the
 * failing seed is printed), both layouts, all three normalisations.  See
 * fd_common.h for the step, the exactness of t +- h and the bound. */
#include "fd_common.h"

#define CASES 40

static void run(rl_layout layout, rl_norm norm, uint64_t salt)
{
    const uint64_t base = test_seed(1000 + salt);
    fd_stats st = {0};
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, layout);
        rc.cfg.norm = norm;
        char what[64];
        snprintf(what, sizeof what, "spec layout %d norm %d", (int)layout, (int)norm);
        fd_check_case(&rc, what, &st);
        rcase_free(&rc);
    }
    cr_assert_gt(st.read_entries, 1000, "too few entries exercised: %lld",
                 (long long)st.read_entries);
    cr_log_info("layout %d norm %d: %lld entries (%lld read by the loss), worst error/bound %.3g",
                (int)layout, (int)norm, (long long)st.entries, (long long)st.read_entries,
                st.worst_ratio);
}

Test(finite_diff_spec, nchw_counts) { run(RL_LAYOUT_NCHW, RL_NORM_COUNTS, 0); }
Test(finite_diff_spec, nhwc_counts) { run(RL_LAYOUT_NHWC, RL_NORM_COUNTS, 100); }
Test(finite_diff_spec, nchw_sum) { run(RL_LAYOUT_NCHW, RL_NORM_SUM, 200); }
Test(finite_diff_spec, nhwc_sum) { run(RL_LAYOUT_NHWC, RL_NORM_SUM, 300); }
Test(finite_diff_spec, nchw_images) { run(RL_LAYOUT_NCHW, RL_NORM_IMAGES, 400); }
Test(finite_diff_spec, nhwc_images) { run(RL_LAYOUT_NHWC, RL_NORM_IMAGES, 500); }

/* Non-default lambdas, so that each weight's place in the gradient is
 * exercised separately (a swapped k_o/k_n would hide behind 5 and 1 only
 * if both parts vanished). */
Test(finite_diff_spec, unequal_lambdas)
{
    const uint64_t base = test_seed(7000);
    fd_stats st = {0};
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rc.cfg.lambda_coord = 0.75;
        rc.cfg.lambda_class = 2.5;
        rc.cfg.lambda_obj = 3.25;
        rc.cfg.lambda_noobj = 0.375;
        fd_check_case(&rc, "spec lambdas", &st);
        rcase_free(&rc);
    }
    cr_log_info("unequal lambdas: worst error/bound %.3g", st.worst_ratio);
}
