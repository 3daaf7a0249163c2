/* Shared by the bad-input suites (issue 2 point 4): a valid base batch, and
 * checks that a rejected call returned the right status, said what and
 * where in rl_last_error(), and wrote nothing: the gradient buffer is
 * pre-filled with a guard byte pattern and compared byte for byte, the
 * result struct likewise, and a plan pointer keeps its sentinel. */
#ifndef RL_TEST_BAD_COMMON_H
#define RL_TEST_BAD_COMMON_H

#include "support.h"

#include <stdio.h>
#include <stdlib.h>

#define GUARD_GRAD 0xC3
#define GUARD_RESULT 0x5A

/* H = 2, W = 3, B = 2, C = 3, two images: image 0 holds one truth, image 1
 * four (so that "truth 3 of image 1" exists).  All predictions 0. */
#define BASE_H 2
#define BASE_W 3
#define BASE_B 2
#define BASE_C 3
#define BASE_N 2
#define BASE_COUNT (BASE_N * BASE_H * BASE_W * BASE_B * (5 + BASE_C))

typedef struct base_case {
    float anchors[2 * BASE_B];
    rl_config cfg;
    rl_box truths[5];
    int64_t off[BASE_N + 1];
    float pred[BASE_COUNT];
    rl_batch batch;
} base_case;

static inline void base_init(base_case *bc, rl_layout layout)
{
    memset(bc, 0, sizeof *bc);
    const float anchors[2 * BASE_B] = {1.0f, 1.5f, 2.5f, 0.75f};
    memcpy(bc->anchors, anchors, sizeof anchors);
    config_spec(&bc->cfg, BASE_H, BASE_W, BASE_B, BASE_C, bc->anchors, layout);
    bc->cfg.variant = "reference";
    const rl_box t[5] = {{0.5f, 0.5f, 0.25f, 0.5f, 0}, {0.1f, 0.2f, 0.3f, 0.4f, 1},
                         {0.9f, 0.8f, 0.7f, 0.6f, 2}, {0.4f, 0.6f, 0.5f, 0.5f, 0},
                         {0.7f, 0.3f, 0.2f, 0.9f, 1}};
    memcpy(bc->truths, t, sizeof t);
    bc->off[0] = 0, bc->off[1] = 1, bc->off[2] = 5;
    bc->batch.n_images = BASE_N;
    bc->batch.pred = bc->pred;
    bc->batch.truths = bc->truths;
    bc->batch.truth_offsets = bc->off;
}

/* The message must contain every fragment (field, place, value). */
static inline void expect_message(const char *const *frags, const char *call)
{
    const char *msg = rl_last_error();
    cr_assert(msg && *msg, "%s: empty message", call);
    for (int f = 0; frags[f]; f++)
        cr_assert(strstr(msg, frags[f]) != NULL, "%s: message \"%s\" lacks \"%s\"", call, msg,
                  frags[f]);
}

#define FRAGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* rl_compute must fail with `want`, write nothing, and say frags. */
static inline void expect_compute_rejects(const rl_plan *plan, const rl_batch *batch,
                                          int with_result, rl_status want,
                                          const char *const *frags)
{
    float *grad = malloc(BASE_COUNT * sizeof *grad + 64);
    fill_guard(grad, BASE_COUNT * sizeof *grad + 64, GUARD_GRAD);
    rl_result res;
    fill_guard(&res, sizeof res, GUARD_RESULT);
    rl_status st = rl_compute(plan, batch, with_result ? &res : NULL, grad);
    cr_assert_eq(st, want, "rl_compute returned %s (%s), expected %s", rl_status_name(st),
                 rl_last_error(), rl_status_name(want));
    expect_message(frags, "rl_compute");
    cr_assert(is_guard(grad, BASE_COUNT * sizeof *grad + 64, GUARD_GRAD),
              "rl_compute wrote into the gradient buffer of a rejected call");
    cr_assert(is_guard(&res, sizeof res, GUARD_RESULT),
              "rl_compute wrote into the result of a rejected call");
    free(grad);
}

/* The same batch through rl_count, which validates the same way. */
static inline void expect_count_rejects(const rl_plan *plan, const rl_batch *batch,
                                        rl_status want, const char *const *frags)
{
    rl_counts c;
    fill_guard(&c, sizeof c, GUARD_RESULT);
    rl_status st = rl_count(plan, batch, &c);
    cr_assert_eq(st, want, "rl_count returned %s (%s), expected %s", rl_status_name(st),
                 rl_last_error(), rl_status_name(want));
    expect_message(frags, "rl_count");
    cr_assert(is_guard(&c, sizeof c, GUARD_RESULT), "rl_count wrote its output");
}

static inline void expect_batch_rejected(const rl_plan *plan, const rl_batch *batch,
                                         rl_status want, const char *const *frags)
{
    expect_compute_rejects(plan, batch, 1, want, frags);
    expect_count_rejects(plan, batch, want, frags);
}

/* rl_plan_create must fail with `want`, leave *out alone, and say frags. */
static inline void expect_plan_rejects(const rl_config *cfg, rl_status want,
                                       const char *const *frags)
{
    rl_plan *const sentinel = (rl_plan *)(uintptr_t)0xDEADBEEF;
    rl_plan *plan = sentinel;
    rl_status st = rl_plan_create(cfg, &plan);
    cr_assert_eq(st, want, "rl_plan_create returned %s (%s), expected %s", rl_status_name(st),
                 rl_last_error(), rl_status_name(want));
    expect_message(frags, "rl_plan_create");
    cr_assert(plan == sentinel, "rl_plan_create wrote *out_plan on failure");
}

/* The base batch is accepted, and a success leaves the message empty. */
static inline void expect_accepted(const rl_plan *plan, const rl_batch *batch)
{
    float grad[BASE_COUNT];
    rl_result r;
    rl_status st = rl_compute(plan, batch, &r, grad);
    cr_assert_eq(st, RL_OK, "%s: %s", rl_status_name(st), rl_last_error());
    cr_assert_str_empty(rl_last_error());
}

#endif
