/* Finite differences in the darknet mode (docs/darknet.md, issue 5):
 * warm-up on and off, rescore on and off, softmax and logistic classes,
 * sums and per-image division, both layouts.  See fd_common.h for the step
 * and the bound. */
#include "fd_common.h"

#define CASES 16

static void run(int warmup, int rescore, int logistic, rl_norm norm)
{
    const uint64_t base = test_seed(20000 + 1000 * (uint64_t)(warmup + 2 * rescore +
                                                              4 * logistic + 8 * norm));
    fd_stats st = {0};
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rcase_darknet(&rc, rescore, logistic, norm, warmup);
        char what[96];
        snprintf(what, sizeof what, "darknet warmup %d rescore %d logistic %d norm %d", warmup,
                 rescore, logistic, (int)norm);
        fd_check_case(&rc, what, &st);
        rcase_free(&rc);
    }
    cr_assert_gt(st.read_entries, 300);
    cr_log_info("warmup %d rescore %d logistic %d norm %d: %lld entries (%lld read), worst "
                "error/bound %.3g",
                warmup, rescore, logistic, (int)norm, (long long)st.entries,
                (long long)st.read_entries, st.worst_ratio);
}

Test(finite_diff_darknet, defaults_warmup) { run(1, 1, 0, RL_NORM_SUM); }
Test(finite_diff_darknet, defaults_no_warmup) { run(0, 1, 0, RL_NORM_SUM); }
Test(finite_diff_darknet, no_rescore_warmup) { run(1, 0, 0, RL_NORM_SUM); }
Test(finite_diff_darknet, no_rescore_no_warmup) { run(0, 0, 0, RL_NORM_SUM); }
Test(finite_diff_darknet, logistic_warmup) { run(1, 1, 1, RL_NORM_SUM); }
Test(finite_diff_darknet, logistic_no_warmup_no_rescore) { run(0, 0, 1, RL_NORM_SUM); }
Test(finite_diff_darknet, images_warmup) { run(1, 1, 0, RL_NORM_IMAGES); }
Test(finite_diff_darknet, images_logistic_no_warmup) { run(0, 1, 1, RL_NORM_IMAGES); }
