/* Non-finite predictions (issue 2 point 4, docs/loss.md): every slot's
 * box and objectness entries are read (every slot is decoded for its best
 * IoU), so a NaN or infinity in any of them is rejected; class logits are
 * read only at responsible slots, so there it is rejected and anywhere else
 * it is accepted and changes nothing.  The message names the image, cell,
 * anchor, entry and the offset in the caller's layout (checked against
 * docs/loss.md's formula, written out in support.h). */
#include "bad_common.h"

#include <math.h>

static const char *const entry_names[5] = {"tx", "ty", "tw", "th", "tc"};
static const float bad_values[3] = {NAN, INFINITY, -INFINITY};

static void expect_pred_rejected(const rl_plan *plan, base_case *bc, int32_t n, int32_t i,
                                 int32_t j, int32_t b, int32_t k)
{
    const int64_t x = cfg_offset(&bc->cfg, n, i, j, b, k);
    char where[96], entry[48], off[48];
    snprintf(where, sizeof where, "image %d, cell (i=%d, j=%d), anchor %d", n, i, j, b);
    if (k < 5)
        snprintf(entry, sizeof entry, "entry %d (%s", k, entry_names[k]);
    else
        snprintf(entry, sizeof entry, "entry %d (class %d logit", k, k - 5);
    snprintf(off, sizeof off, "offset %lld)", (long long)x);
    for (int v = 0; v < 3; v++) {
        bc->pred[x] = bad_values[v];
        expect_batch_rejected(plan, &bc->batch, RL_ERR_NONFINITE_PRED,
                              FRAGS(where, entry, off, "not finite"));
        bc->pred[x] = 0.0f;
    }
}

static void box_and_objectness(rl_layout layout)
{
    base_case bc;
    base_init(&bc, layout);
    rl_plan *plan = ref_plan(&bc.cfg);
    expect_accepted(plan, &bc.batch);
    for (int32_t n = 0; n < BASE_N; n++)
        for (int32_t i = 0; i < BASE_H; i++)
            for (int32_t j = 0; j < BASE_W; j++)
                for (int32_t b = 0; b < BASE_B; b++)
                    for (int32_t k = 0; k < 5; k++)
                        expect_pred_rejected(plan, &bc, n, i, j, b, k);
    rl_plan_destroy(plan);
}

Test(bad_pred, box_and_objectness_of_every_slot_nchw) { box_and_objectness(RL_LAYOUT_NCHW); }
Test(bad_pred, box_and_objectness_of_every_slot_nhwc) { box_and_objectness(RL_LAYOUT_NHWC); }

/* Per slot (n, i, j, b): is it responsible for some truth of its image? */
static void responsible_map(const base_case *bc, int resp[BASE_N][BASE_H][BASE_W][BASE_B])
{
    memset(resp, 0, sizeof(int) * BASE_N * BASE_H * BASE_W * BASE_B);
    for (int32_t n = 0; n < BASE_N; n++)
        for (int64_t t = bc->off[n]; t < bc->off[n + 1]; t++) {
            int32_t i, j, b;
            spec_responsible(&bc->cfg, &bc->truths[t], &i, &j, &b);
            resp[n][i][j][b] = 1;
        }
}

static void class_logits(rl_layout layout)
{
    base_case bc;
    base_init(&bc, layout);
    rl_plan *plan = ref_plan(&bc.cfg);
    int resp[BASE_N][BASE_H][BASE_W][BASE_B];
    responsible_map(&bc, resp);
    rl_result clean;
    float clean_grad[BASE_COUNT], grad[BASE_COUNT];
    compute_ok(plan, &bc.batch, &clean, clean_grad);
    int64_t rejected = 0, accepted = 0;
    for (int32_t n = 0; n < BASE_N; n++)
        for (int32_t i = 0; i < BASE_H; i++)
            for (int32_t j = 0; j < BASE_W; j++)
                for (int32_t b = 0; b < BASE_B; b++)
                    for (int32_t k = 5; k < 5 + BASE_C; k++) {
                        if (resp[n][i][j][b]) {
                            expect_pred_rejected(plan, &bc, n, i, j, b, k);
                            rejected++;
                            continue;
                        }
                        /* not read by the loss: accepted, same numbers */
                        const int64_t x = cfg_offset(&bc.cfg, n, i, j, b, k);
                        for (int v = 0; v < 3; v++) {
                            bc.pred[x] = bad_values[v];
                            rl_result r;
                            compute_ok(plan, &bc.batch, &r, grad);
                            assert_results_identical(&r, &clean, "non-finite unread logit");
                            cr_assert(memcmp(grad, clean_grad, sizeof grad) == 0);
                            rl_counts c;
                            cr_assert_eq(rl_count(plan, &bc.batch, &c), RL_OK);
                            accepted++;
                        }
                        bc.pred[x] = 0.0f;
                    }
    /* the base batch has responsible and free slots in both images */
    cr_assert_gt(rejected, 0);
    cr_assert_gt(accepted, 0);
    rl_plan_destroy(plan);
}

Test(bad_pred, class_logits_nchw) { class_logits(RL_LAYOUT_NCHW); }
Test(bad_pred, class_logits_nhwc) { class_logits(RL_LAYOUT_NHWC); }

/* The premise of class_logits: spec_responsible agrees with the slots the
 * reference marks obj. */
Test(bad_pred, responsible_slots_agree_with_the_reference)
{
    base_case bc;
    base_init(&bc, RL_LAYOUT_NCHW);
    rl_plan *plan = ref_plan(&bc.cfg);
    int resp[BASE_N][BASE_H][BASE_W][BASE_B];
    responsible_map(&bc, resp);
    ref_bufs rb;
    ref_bufs_alloc(&rb, plan, BASE_N);
    rl_result r;
    ref_run(plan, &bc.batch, NULL, &r, &rb);
    for (int32_t n = 0; n < BASE_N; n++)
        for (int32_t i = 0; i < BASE_H; i++)
            for (int32_t j = 0; j < BASE_W; j++)
                for (int32_t b = 0; b < BASE_B; b++)
                    cr_assert_eq(rb.out.slot_kind[((n * BASE_H + i) * BASE_W + j) * BASE_B + b] ==
                                     RL_SLOT_OBJ,
                                 resp[n][i][j][b]);
    ref_bufs_free(&rb);
    rl_plan_destroy(plan);
}
