/* The [yolo] head keeps the call-path guarantees of regionloss.h, on every
 * driver variant, for random networks of 1 to 3 heads (yolo_randcase.c,
 * every layout, element type and gradient mode):
 *   - results and every head's gradient are bit for bit the same with 1,
 *     2 and 3 threads, and on a repeated call;
 *   - with a workspace of rl_yolo_workspace_size() bytes, rl_yolo_compute
 *     makes no heap allocation, frees nothing and starts no thread, on the
 *     first call after rl_yolo_plan_create as well as later ones.
 * The reference allocates on every call (it is the oracle): the control
 * that the counter sees the library's allocations at all. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RL_YOLO_PERF_THREADS_ONLY
#include "alloc_count.h"
#endif
#include "elem.h"
#include "yolo_randcase.h"

#define CASES 40

typedef struct run {
    rl_yolo_plan *plan;
    rl_yolo_batch batch;
    void *ws;
    void *grads[RL_YOLO_CASE_MAX_HEADS];
    size_t bytes[RL_YOLO_CASE_MAX_HEADS];
    rl_result total, heads[RL_YOLO_CASE_MAX_HEADS];
} run;

static void prepare(const rl_yolo_case *c, const char *variant, int threads, run *r)
{
    rl_yolo_config cfg = c->cfg;
    cfg.variant = variant;
    cfg.threads = threads;
    memset(r, 0, sizeof *r);
    cr_assert_eq(rl_yolo_plan_create(&cfg, &r->plan), RL_OK, "%s: %s: %s", c->desc, variant,
                 rl_last_error());
    r->batch = c->batch;
    size_t need = 0;
    cr_assert_eq(rl_yolo_workspace_size(r->plan, c->batch.n_images,
                                        c->batch.truth_offsets[c->batch.n_images], &need),
                 RL_OK);
    r->ws = malloc(need ? need : 1);
    r->batch.workspace = r->ws;
    r->batch.workspace_size = need;
    for (int32_t h = 0; h < cfg.n_heads; h++) {
        size_t n;
        cr_assert_eq(rl_yolo_tensor_size(r->plan, h, c->batch.n_images, &n), RL_OK);
        r->bytes[h] = n * (size_t)rl_elem_size(cfg.grad_dtype);
        r->grads[h] = calloc(n, (size_t)rl_elem_size(cfg.grad_dtype));
    }
}

static void release(run *r)
{
    rl_yolo_plan_destroy(r->plan);
    free(r->ws);
    for (int h = 0; h < RL_YOLO_CASE_MAX_HEADS; h++)
        free(r->grads[h]);
}

/* The results' numbers, without the variant's name pointer. */
static int same_result(const rl_result *a, const rl_result *b)
{
    rl_result x = *a, y = *b;
    x.variant = y.variant = NULL;
    return memcmp(&x, &y, sizeof x) == 0;
}

Test(yolo_perf, thread_count_changes_no_bit)
{
    int compared = 0;
    for (uint64_t i = 0; i < CASES; i++) {
        rl_yolo_case c;
        rl_yolo_case_make(&c, 77, i);
        for (const char *const *v = rl_variant_list(); *v; v++) {
            if (strcmp(*v, "reference") == 0)
                continue;
            run one;
            prepare(&c, *v, 1, &one);
            cr_assert_eq(rl_yolo_compute(one.plan, &one.batch, &one.total, one.heads, one.grads),
                         RL_OK, "%s: %s", *v, rl_last_error());
            for (int threads = 2; threads <= 3; threads++) {
                run many;
                prepare(&c, *v, threads, &many);
                for (int rep = 0; rep < 2; rep++) {
                    cr_assert_eq(rl_yolo_compute(many.plan, &many.batch, &many.total, many.heads,
                                                 many.grads),
                                 RL_OK, "%s: %s", *v, rl_last_error());
                    cr_assert(same_result(&one.total, &many.total),
                              "case %llu (%s), %s: the total differs with %d threads",
                              (unsigned long long)i, c.desc, *v, threads);
                    for (int32_t h = 0; h < c.cfg.n_heads; h++) {
                        cr_assert(same_result(&one.heads[h], &many.heads[h]),
                                  "case %llu (%s), %s: head %d's result differs with %d threads",
                                  (unsigned long long)i, c.desc, *v, (int)h, threads);
                        if (c.cfg.grad_mode == RL_GRAD_OVERWRITE)
                            cr_assert(memcmp(one.grads[h], many.grads[h], one.bytes[h]) == 0,
                                      "case %llu (%s), %s: head %d's gradient differs with %d "
                                      "threads",
                                      (unsigned long long)i, c.desc, *v, (int)h, threads);
                    }
                }
                release(&many);
            }
            compared++;
            release(&one);
        }
        rl_yolo_case_free(&c);
    }
    cr_assert_gt(compared, 0);
}

#ifndef RL_YOLO_PERF_THREADS_ONLY
Test(yolo_perf, no_allocation_with_a_workspace)
{
    int checked = 0;
    for (uint64_t i = 0; i < CASES / 2; i++) {
        rl_yolo_case c;
        rl_yolo_case_make(&c, 78, i);
        for (const char *const *v = rl_variant_list(); *v; v++) {
            for (int threads = 1; threads <= 2; threads++) {
                run r;
                prepare(&c, *v, threads, &r);
                const int oracle = strcmp(*v, "reference") == 0;
                for (int rep = 0; rep < 2; rep++) {
                    alloc_count_start();
                    const rl_status st =
                        rl_yolo_compute(r.plan, &r.batch, &r.total, r.heads, rep ? NULL : r.grads);
                    const alloc_counts n = alloc_count_stop();
                    cr_assert_eq(st, RL_OK, "%s: %s", *v, rl_last_error());
                    if (oracle) {
                        cr_assert_gt(n.allocs, 0, "the counter saw no allocation of the "
                                                  "reference: it sees nothing");
                        continue;
                    }
                    cr_assert(n.allocs == 0 && n.frees == 0 && n.threads == 0,
                              "case %llu (%s), %s, %d threads, call %d: %ld allocations, %ld "
                              "frees, %ld threads started",
                              (unsigned long long)i, c.desc, *v, threads, rep, n.allocs, n.frees,
                              n.threads);
                }
                if (!oracle)
                    checked++;
                release(&r);
            }
        }
        rl_yolo_case_free(&c);
    }
    cr_assert_gt(checked, 0);
}
#endif
