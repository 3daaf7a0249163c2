/* Results do not depend on the number of threads (docs/loss.md, "Determinism";
 * issue 7): for T = 2, 3, 4 and 7 every field of rl_result, the counts of
 * rl_count and every byte of the gradient equal those of T = 1, for every
 * available variant, both layouts, both modes, overwrite and accumulate.
 * Each pooled plan is called twice, so a race that changes from run to run
 * has two chances to show.
 *   REGIONLOSS_PERF_CASES=N   number of random batches (default 96)
 *   REGIONLOSS_SEED=S         the stream
 *   REGIONLOSS_CASE=I         only case I */
#include <criterion/criterion.h>
#include <fenv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perfcase.h"

static const int thread_counts[] = {2, 3, 4, 7};

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

typedef struct outcome {
    rl_status st;
    rl_result res;
    rl_counts counts;
    float *grad;
} outcome;

/* Set between plan creation and the calls by the caller-environment test. */
static void (*before_calls)(void);

/* One call of `variant` with `threads`, from the same starting gradient. */
static void run(const perf_case *c, const char *variant, int threads, int workspace,
                const float *start, outcome *o)
{
    rl_config cfg = c->cfg;
    cfg.variant = variant;
    cfg.threads = threads;
    rl_plan *plan = NULL;
    cr_assert_eq(rl_plan_create(&cfg, &plan), RL_OK, "%s: %s threads %d: %s", c->desc, variant,
                 threads, rl_last_error());
    rl_batch b = c->batch;
    void *ws = NULL;
    if (workspace) {
        size_t need = 0;
        cr_assert_eq(rl_workspace_size(plan, b.n_images, b.truth_offsets[b.n_images], &need),
                     RL_OK);
        ws = malloc(need ? need : 1);
        b.workspace = ws;
        b.workspace_size = need;
    }
    memcpy(o->grad, start, c->count * sizeof(float));
    fenv_t saved;
    if (before_calls) {
        fegetenv(&saved);
        before_calls();
    }
    o->st = rl_compute(plan, &b, &o->res, o->grad);
    if (before_calls)
        fesetenv(&saved);
    cr_assert_eq(o->st, RL_OK, "%s: %s threads %d: %s", c->desc, variant, threads,
                 rl_last_error());
    if (before_calls) {
        fegetenv(&saved);
        before_calls();
    }
    const rl_status cst = rl_count(plan, &b, &o->counts);
    if (before_calls)
        fesetenv(&saved);
    cr_assert_eq(cst, RL_OK, "%s: %s threads %d: %s", c->desc, variant, threads,
                 rl_last_error());
    free(ws);
    rl_plan_destroy(plan);
}

static int same_bits(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

/* Every field by name, so that a failure says which one. */
static int compare(const perf_case *c, const char *variant, int threads, const char *how,
                   const outcome *one, const outcome *t)
{
#define FIELD(f)                                                                             \
    if (!same_bits(&one->res.f, &t->res.f, sizeof one->res.f)) {                             \
        printf("%s\n  variant %s, threads %d (%s): rl_result." #f " differs from 1 thread: "   \
               "%a vs %a\n",                                                                 \
               c->desc, variant, threads, how, (double)one->res.f, (double)t->res.f);        \
        return 1;                                                                            \
    }
    FIELD(loss) FIELD(coord) FIELD(cls) FIELD(obj) FIELD(noobj) FIELD(warmup)
    FIELD(n_obj) FIELD(n_noobj) FIELD(n_conf) FIELD(n_truths)
    FIELD(avg_iou) FIELD(recall50) FIELD(recall75) FIELD(avg_obj) FIELD(avg_noobj) FIELD(avg_cls)
    FIELD(sum_iou) FIELD(sum_obj) FIELD(sum_noobj) FIELD(sum_cls)
    FIELD(n_recall50) FIELD(n_recall75)
    FIELD(darknet.avg_iou) FIELD(darknet.recall) FIELD(darknet.recall75) FIELD(darknet.avg_cls)
    FIELD(darknet.avg_obj) FIELD(darknet.avg_anyobj) FIELD(darknet.count) FIELD(darknet.cost)
#undef FIELD
    if (strcmp(one->res.variant, t->res.variant) != 0) {
        printf("%s\n  variant %s, threads %d: result names variant %s, 1 thread %s\n", c->desc,
               variant, threads, t->res.variant, one->res.variant);
        return 1;
    }
    if (!same_bits(&one->counts, &t->counts, sizeof one->counts)) {
        printf("%s\n  variant %s, threads %d (%s): rl_count differs from 1 thread\n", c->desc,
               variant, threads, how);
        return 1;
    }
    for (size_t x = 0; x < c->count; x++)
        if (!same_bits(&one->grad[x], &t->grad[x], sizeof(float))) {
            char where[96];
            perf_where(&c->cfg, x, where, sizeof where);
            printf("%s\n  variant %s, threads %d (%s): gradient entry %zu (%s) is %a, with 1 "
                   "thread %a\n",
                   c->desc, variant, threads, how, x, where, (double)t->grad[x],
                   (double)one->grad[x]);
            return 1;
        }
    return 0;
}

Test(perf, threads_bit_identical, .timeout = 900)
{
    const uint64_t seed = env_u64("REGIONLOSS_SEED", 7007);
    const uint64_t cases = env_u64("REGIONLOSS_PERF_CASES", 96);
    const char *only = getenv("REGIONLOSS_CASE");
    uint64_t first = 0, last = cases;
    if (only && *only) {
        first = strtoull(only, NULL, 0);
        last = first + 1;
    }
    int failures = 0, compared = 0;
    for (uint64_t i = first; i < last && failures < 5; i++) {
        perf_case c;
        perf_case_make(&c, seed, i);
        float *start = malloc(c.count * sizeof(float));
        /* overwrite: garbage that must all be replaced; accumulate: values
         * to add to */
        perf_fill(start, c.count, seed + i);
        outcome one = {.grad = malloc(c.count * sizeof(float))};
        outcome t = {.grad = malloc(c.count * sizeof(float))};
        for (const char *const *v = rl_variant_list(); *v; v++) {
            run(&c, *v, 1, 1, start, &one);
            int bad = 0;
            for (size_t k = 0; k < sizeof thread_counts / sizeof *thread_counts && !bad; k++)
                for (int rep = 0; rep < 2 && !bad; rep++) {
                    run(&c, *v, thread_counts[k], 1, start, &t);
                    bad = compare(&c, *v, thread_counts[k], rep ? "second call" : "first call",
                                  &one, &t);
                    compared++;
                }
            if (!bad) { /* the allocating path splits the work the same way */
                run(&c, *v, 3, 0, start, &t);
                bad = compare(&c, *v, 3, "no workspace", &one, &t);
                compared++;
            }
            if (bad) {
                printf("  rerun: REGIONLOSS_SEED=%llu REGIONLOSS_CASE=%llu meson test perf/threads\n",
                       (unsigned long long)seed, (unsigned long long)i);
                failures++;
            }
        }
        free(start);
        free(one.grad);
        free(t.grad);
        perf_case_free(&c);
    }
    fflush(stdout);
    cr_assert_eq(failures, 0, "%d case(s) depend on the thread count (details above)", failures);
    cr_assert_gt(compared, 0);
}

#if defined(__x86_64__)
#include <xmmintrin.h>

/* Flush-to-zero and denormals-are-zero, as torch.set_flush_denormal(True)
 * sets them in the calling thread. */
static void caller_flushes_denormals(void) { _mm_setcsr(_mm_getcsr() | 0x8040); }
#endif

/* The calling thread's floating-point environment differs from the one the
 * plan's workers were started with (a caller that flushes denormals, after
 * rl_plan_create).  Weights small enough that the gradient is denormal make
 * the difference visible: were workers to keep their own environment, images
 * run by the caller would flush and images run by a worker would not, and
 * the result would depend on the thread count.  The pool runs every task in
 * the caller's environment. */
Test(perf, threads_bit_identical_caller_flushes_denormals)
{
#if defined(__x86_64__)
    int failures = 0;
    for (uint64_t i = 0; i < 8 && failures == 0; i++) {
        perf_case c;
        perf_case_make(&c, 9090, i);
        c.cfg.lambda_coord = c.cfg.lambda_class = c.cfg.lambda_obj = c.cfg.lambda_noobj = 1e-36;
        float *start = calloc(c.count, sizeof(float));
        outcome one = {.grad = malloc(c.count * sizeof(float))};
        outcome t = {.grad = malloc(c.count * sizeof(float))};
        before_calls = caller_flushes_denormals;
        for (const char *const *v = rl_variant_list(); *v && failures == 0; v++) {
            run(&c, *v, 1, 1, start, &one);
            run(&c, *v, 2, 1, start, &t);
            failures += compare(&c, *v, 2, "caller flushes denormals", &one, &t);
        }
        before_calls = NULL;
        free(start);
        free(one.grad);
        free(t.grad);
        perf_case_free(&c);
    }
    fflush(stdout);
    cr_assert_eq(failures, 0, "the result depends on the thread count when the caller's "
                              "floating-point environment is not the workers' (details above)");
#else
    cr_skip_test("x86-64 only (MXCSR)");
#endif
}
