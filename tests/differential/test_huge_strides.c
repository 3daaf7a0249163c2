/* Strides past what a 32-bit gather index holds.  The AVX2 and Highway
 * kernels gather strided entries with int32 lane offsets l * stride; in NHWC
 * the stride between cells is B (5 + C) floats, which for B = 19 and
 * C = 2^24 (RL_MAX_CLASSES) is 318,767,199, so lane 7 is 2.2e9 floats away:
 * a wrapped index would read 8 GB before the tensor.  This runs every
 * variant on such a tensor, 8 cells of 19 anchors (10 GB of address space,
 * reserved with MAP_NORESERVE: only the pages the loss reads or writes are
 * ever backed, as untouched entries are zero), in accumulate mode (overwrite
 * would write all 10 GB), and compares each on every box and objectness
 * entry and on a sample of class entries with the generic variant, whose
 * kernels index lane by lane in int64.  The reference cannot be the oracle
 * here: it builds a double gradient and a touched map over every entry
 * (22 GB).  Generic and each gathering variant are both within the stated
 * tolerance of the reference (the differential suite), so they are within
 * twice it of each other.  Exit 77 (skipped) when the address space cannot
 * be reserved. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "regionloss.h"
#include "testcfg.h"
#include "tolerance.h"

enum { H = 1, W = 8, B = 19, C = 1 << 24 };
#define K ((int64_t)(5 + C))
#define ENTRIES ((int64_t)H * W * B * K)

static float *reserve(void)
{
    void *p = mmap(NULL, (size_t)ENTRIES * sizeof(float), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void release(float *p) { munmap(p, (size_t)ENTRIES * sizeof(float)); }

static int64_t at(int64_t i, int64_t j, int64_t b, int64_t k) { return ((i * W + j) * B + b) * K + k; }

static uint64_t state = 0x9e3779b97f4a7c15ull;
static float unif(float lo, float hi)
{
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    const double u = (double)((state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
    return (float)(lo + (hi - lo) * u);
}

/* Class entries of the slots whose logits the test sets (and thus of every
 * responsible slot): the first and last 24 and the truths' classes. */
static const int32_t truth_cls[2] = {5, C - 3};
static int has_logits(int64_t j) { return j == 2 || j == 6; }

/* The entries compared: the box and objectness entries, the first and last
 * 24 class entries, and in the cells with logits also every 4099th class
 * and the truths' classes. */
static int64_t next_entry(int64_t j, int64_t k)
{
    if (k < 5 + 23 || k >= K - 24)
        return k + 1;
    if (!has_logits(j))
        return K - 24;
    int64_t next = (k / 4099 + 1) * 4099;
    for (int t = 0; t < 2; t++)
        if (5 + truth_cls[t] > k && 5 + truth_cls[t] < next)
            next = 5 + truth_cls[t];
    return next < K - 24 ? next : K - 24;
}

static int close_enough(double got, double ref, double scale)
{
    return isfinite(got) &&
           fabs(got - ref) <= 2.0 * (RL_TOL_REL * fabs(ref) + RL_TOL_ABS * scale + RL_TOL_FLOOR);
}

static int run(rl_config cfg, const char *variant, const rl_batch *batch, rl_result *res, float *grad)
{
    cfg.variant = variant;
    rl_plan *plan;
    if (rl_plan_create(&cfg, &plan) != RL_OK) {
        printf("%s: plan: %s\n", variant, rl_last_error());
        return -1;
    }
    const rl_status st = rl_compute(plan, batch, res, grad);
    rl_plan_destroy(plan);
    if (st != RL_OK) {
        printf("%s: compute: %s\n", variant, rl_last_error());
        return -1;
    }
    return 0;
}

/* Returns the number of disagreeing values (first few printed). */
static int compare(const char *variant, const char *mode, const rl_result *g, const rl_result *r,
                   const float *gg, const float *rg)
{
    int bad = 0;
    const double k_o = 10.0 / (r->n_conf ? (double)r->n_conf : 1.0);
    const double k_c = 2.0 * W / (r->n_obj ? (double)r->n_obj : 1.0);
    const double k_p = 1.0 / (r->n_obj ? (double)r->n_obj : 1.0);
    const double parts[][3] = {{g->loss, r->loss, 1e3}, {g->coord, r->coord, 1e3},
                               {g->cls, r->cls, 1e3}, {g->obj, r->obj, 1e3},
                               {g->noobj, r->noobj, 1e3}, {g->warmup, r->warmup, 1e3}};
    for (size_t q = 0; q < sizeof parts / sizeof parts[0]; q++)
        if (!close_enough(parts[q][0], parts[q][1], parts[q][2]) && bad++ < 5)
            printf("FAIL %s %s: loss part %zu: %.9g, generic %.9g\n", variant, mode, q,
                   parts[q][0], parts[q][1]);
    if (g->n_obj != r->n_obj || g->n_noobj != r->n_noobj) {
        printf("FAIL %s %s: counts %lld/%lld, generic %lld/%lld\n", variant, mode,
               (long long)g->n_obj, (long long)g->n_noobj, (long long)r->n_obj, (long long)r->n_noobj);
        bad++;
    }
    for (int64_t j = 0; j < W; j++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t k = 0; k < K; k = next_entry(j, k)) {
                const int64_t e = at(0, j, b, k);
                const double scale = k < 4 ? k_c : k == 4 ? k_o : k_p;
                if (!close_enough(gg[e], rg[e], scale) && bad++ < 5)
                    printf("FAIL %s %s: gradient (j=%lld, b=%lld, k=%lld): %.9g, generic %.9g\n",
                           variant, mode, (long long)j, (long long)b, (long long)k, gg[e], rg[e]);
            }
    return bad;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* a crash still shows which variant ran */
    float *pred = reserve();
    float *ref_grad = pred ? reserve() : NULL;
    if (!ref_grad) {
        printf("cannot reserve %lld bytes of address space: skipped\n",
               (long long)(ENTRIES * (int64_t)sizeof(float)));
        return 77;
    }
    for (int64_t j = 0; j < W; j++)
        for (int64_t b = 0; b < B; b++) {
            for (int k = 0; k < 5; k++)
                pred[at(0, j, b, k)] = unif(-2.0f, 2.0f);
            if (has_logits(j)) {
                for (int64_t k = 5; k < K; k += k == 5 + 23 ? K - 5 - 48 : 1)
                    pred[at(0, j, b, k)] = unif(-4.0f, 4.0f);
                pred[at(0, j, b, 5 + truth_cls[0])] = 3.0f;
                pred[at(0, j, b, 5 + truth_cls[1])] = 2.5f;
            }
        }
    float anchors[2 * B];
    for (int b = 0; b < B; b++) {
        anchors[2 * b] = 0.4f + 0.35f * (float)b;
        anchors[2 * b + 1] = 0.3f + 0.5f * (float)((b * 7) % B);
    }
    /* j = 2 and j = 6 (cx * 8), sizes that pick different anchors */
    const rl_box truths[2] = {{0.30f, 0.5f, 0.20f, 0.6f, truth_cls[0]},
                              {0.80f, 0.4f, 0.45f, 0.9f, truth_cls[1]}};
    const int64_t offsets[2] = {0, 2};
    rl_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.n_images = 1;
    batch.pred = pred;
    batch.truths = truths;
    batch.truth_offsets = offsets;
    batch.seen = 100;

    int failures = 0, compared = 0;
    for (int darknet = 0; darknet < 2; darknet++) {
        const char *mode = darknet ? "darknet" : "spec";
        rl_config cfg;
        rl_test_config(&cfg, darknet, H, W, B, C, anchors);
        cfg.layout = RL_LAYOUT_NHWC;
        cfg.grad_mode = RL_GRAD_ACCUMULATE;
        rl_result ref;
        if (run(cfg, "generic", &batch, &ref, ref_grad) != 0)
            return 1;
        if (ref.n_obj != 2) {
            printf("setup: generic has %lld responsible slots, not 2\n", (long long)ref.n_obj);
            return 1;
        }
        for (const char *const *v = rl_variant_list(); *v; v++) {
            if (strcmp(*v, "reference") == 0 || strcmp(*v, "generic") == 0)
                continue;
            float *grad = reserve();
            if (!grad)
                return 77;
            rl_result res;
            const int bad = run(cfg, *v, &batch, &res, grad) != 0
                                ? 1
                                : compare(*v, mode, &res, &ref, grad, ref_grad);
            printf("%-12s %-8s %s\n", *v, mode, bad ? "FAIL" : "ok");
            failures += bad != 0;
            compared++;
            release(grad);
        }
        release(ref_grad);
        ref_grad = reserve();
    }
    printf("huge strides: %d of %d variant runs disagreed\n", failures, compared);
    if (compared == 0) {
        printf("no variant here besides generic and the reference: skipped\n");
        return 77;
    }
    return failures != 0;
}
