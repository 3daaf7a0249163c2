/* The call path allocates nothing (issue 7, regionloss.h): with a workspace
 * of rl_workspace_size() bytes, rl_compute (with and without a gradient)
 * and rl_count make no heap allocation, free nothing and start no thread,
 * for every variant except the reference, with 1 thread and with a pooled
 * plan of 2, on the very first call after rl_plan_create as well as later
 * ones.  The reference is the oracle and allocates its double gradient on
 * every call (src/scalar/reference_variant.c); it serves here as the
 * control that the counter sees the library's allocations at all. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc_count.h"
#include "elem.h"
#include "perfcase.h"

typedef struct setup {
    rl_plan *plan;
    rl_batch batch;
    void *ws;
    float *grad;
} setup;

static void prepare(const perf_case *c, const char *variant, int threads, setup *s)
{
    rl_config cfg = c->cfg;
    cfg.variant = variant;
    cfg.threads = threads;
    cr_assert_eq(rl_plan_create(&cfg, &s->plan), RL_OK, "%s: %s: %s", c->desc, variant,
                 rl_last_error());
    s->batch = c->batch;
    size_t need = 0;
    cr_assert_eq(rl_workspace_size(s->plan, c->batch.n_images,
                                   c->batch.truth_offsets[c->batch.n_images], &need),
                 RL_OK);
    s->ws = malloc(need ? need : 1);
    s->batch.workspace = s->ws;
    s->batch.workspace_size = need;
    s->grad = calloc(c->count, sizeof(float));
    cr_assert(s->ws && s->grad);
}

static void release(setup *s)
{
    rl_plan_destroy(s->plan);
    free(s->ws);
    free(s->grad);
}

/* The calls under test, counted; statuses are checked after counting
 * stops (Criterion's own reporting allocates). */
static alloc_counts counted_calls(setup *s, rl_status st[4])
{
    rl_result r;
    rl_counts n;
    alloc_count_start();
    st[0] = rl_compute(s->plan, &s->batch, &r, s->grad); /* the first call of this plan */
    st[1] = rl_compute(s->plan, &s->batch, &r, s->grad);
    st[2] = rl_compute(s->plan, &s->batch, &r, NULL);
    st[3] = rl_count(s->plan, &s->batch, &n);
    return alloc_count_stop();
}

Test(perf_noalloc, counter_is_quiet_when_nothing_runs)
{
    alloc_count_start();
    usleep(20000);
    alloc_counts c = alloc_count_stop();
    cr_assert_eq(c.allocs + c.frees + c.threads, 0,
                 "the test process allocates by itself (%ld allocs, %ld frees): the counts "
                 "below would mean nothing",
                 c.allocs, c.frees);
}

Test(perf_noalloc, counter_sees_the_reference_allocate)
{
    perf_case c;
    perf_case_make(&c, 4242, 0);
    setup s;
    prepare(&c, "reference", 1, &s);
    rl_status st[4];
    alloc_counts n = counted_calls(&s, st);
    for (int k = 0; k < 4; k++)
        cr_assert_eq(st[k], RL_OK, "%s: call %d: %s", c.desc, k, rl_last_error());
    cr_assert_gt(n.allocs, 0, "the reference allocates its double gradient, but the counter "
                              "saw nothing: the interposition does not work");
    release(&s);
    perf_case_free(&c);
}

Test(perf_noalloc, driver_variants_allocate_nothing, .timeout = 300)
{
    int checked = 0;
    for (const char *const *v = rl_variant_list(); *v; v++) {
        if (strcmp(*v, "reference") == 0)
            continue;
        /* Cases 0..7 cover both layouts, both modes and both gradient modes. */
        for (uint64_t i = 0; i < 16; i++)
            for (int threads = 1; threads <= 2; threads++) {
                perf_case c;
                perf_case_make(&c, 4242, i);
                setup s;
                prepare(&c, *v, threads, &s);
                rl_status st[4];
                alloc_counts n = counted_calls(&s, st);
                for (int k = 0; k < 4; k++)
                    cr_assert_eq(st[k], RL_OK, "%s: %s threads %d: call %d: %s", c.desc, *v,
                                 threads, k, rl_last_error());
                cr_expect(n.allocs == 0 && n.frees == 0 && n.threads == 0,
                          "%s: variant %s, threads %d: %ld allocation(s), %ld free(s), %ld "
                          "thread(s) started during rl_compute/rl_count with a workspace",
                          c.desc, *v, threads, n.allocs, n.frees, n.threads);
                checked++;
                release(&s);
                perf_case_free(&c);
            }
    }
    cr_assert_gt(checked, 0, "no variant other than the reference is available");
}

/* The same with bfloat16 and binary16 predictions and gradients (issue 17):
 * the kernels convert in registers and the driver's widened class rows live
 * in the workspace, NHWC included (cases alternate layouts). */
Test(perf_noalloc, half_types_allocate_nothing, .timeout = 300)
{
    int checked = 0;
    for (const char *const *v = rl_variant_list(); *v; v++) {
        if (strcmp(*v, "reference") == 0)
            continue;
        for (uint64_t i = 0; i < 8; i++)
            for (int type = RL_DTYPE_BF16; type <= RL_DTYPE_F16; type++) {
                perf_case c;
                perf_case_make(&c, 4242, i);
                c.cfg.pred_dtype = c.cfg.grad_dtype = (int16_t)type;
                uint16_t *half = malloc(c.count * sizeof *half);
                cr_assert(half);
                for (size_t x = 0; x < c.count; x++)
                    half[x] = type == RL_DTYPE_BF16 ? rl_f32_to_bf16(c.pred[x])
                                                    : rl_f32_to_f16(c.pred[x]);
                setup s;
                prepare(&c, *v, 1, &s);
                s.batch.pred = half;
                rl_status st[4];
                alloc_counts n = counted_calls(&s, st);
                for (int k = 0; k < 4; k++)
                    cr_assert_eq(st[k], RL_OK, "%s %s: %s: call %d: %s", c.desc,
                                 type == RL_DTYPE_BF16 ? "bf16" : "f16", *v, k, rl_last_error());
                cr_expect(n.allocs == 0 && n.frees == 0 && n.threads == 0,
                          "%s %s: variant %s: %ld allocation(s), %ld free(s), %ld thread(s)",
                          c.desc, type == RL_DTYPE_BF16 ? "bf16" : "f16", *v, n.allocs, n.frees,
                          n.threads);
                checked++;
                release(&s);
                free(half);
                perf_case_free(&c);
            }
    }
    cr_assert_gt(checked, 0, "no variant other than the reference is available");
}
