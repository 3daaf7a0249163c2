/* Required pointers that are NULL (issue 2 point 4, RL_ERR_NULL_POINTER). */
#include "bad_common.h"

static rl_plan *base_plan(base_case *bc)
{
    base_init(bc, RL_LAYOUT_NCHW);
    rl_plan *plan = ref_plan(&bc->cfg);
    expect_accepted(plan, &bc->batch);
    return plan;
}

Test(bad_null, plan)
{
    base_case bc;
    base_init(&bc, RL_LAYOUT_NCHW);
    expect_batch_rejected(NULL, &bc.batch, RL_ERR_NULL_POINTER, FRAGS("plan is NULL"));
}

Test(bad_null, batch)
{
    base_case bc;
    rl_plan *plan = base_plan(&bc);
    expect_batch_rejected(plan, NULL, RL_ERR_NULL_POINTER, FRAGS("batch is NULL"));
    rl_plan_destroy(plan);
}

Test(bad_null, result)
{
    base_case bc;
    rl_plan *plan = base_plan(&bc);
    expect_compute_rejects(plan, &bc.batch, 0, RL_ERR_NULL_POINTER, FRAGS("result is NULL"));
    rl_counts *none = NULL;
    cr_assert_eq(rl_count(plan, &bc.batch, none), RL_ERR_NULL_POINTER);
    expect_message(FRAGS("out is NULL"), "rl_count");
    rl_plan_destroy(plan);
}

Test(bad_null, pred)
{
    base_case bc;
    rl_plan *plan = base_plan(&bc);
    bc.batch.pred = NULL;
    expect_batch_rejected(plan, &bc.batch, RL_ERR_NULL_POINTER, FRAGS("pred is NULL"));
    rl_plan_destroy(plan);
}

Test(bad_null, truth_offsets)
{
    base_case bc;
    rl_plan *plan = base_plan(&bc);
    bc.batch.truth_offsets = NULL;
    expect_batch_rejected(plan, &bc.batch, RL_ERR_NULL_POINTER, FRAGS("truth_offsets is NULL"));
    rl_plan_destroy(plan);
}

/* truths may be NULL only when the offsets say there are none. */
Test(bad_null, truths_with_truths_present)
{
    base_case bc;
    rl_plan *plan = base_plan(&bc);
    bc.batch.truths = NULL;
    expect_batch_rejected(plan, &bc.batch, RL_ERR_NULL_POINTER,
                          FRAGS("truths is NULL", "5"));
    const int64_t none[BASE_N + 1] = {0, 0, 0};
    bc.batch.truth_offsets = none;
    expect_accepted(plan, &bc.batch);
    rl_plan_destroy(plan);
}

Test(bad_null, config)
{
    expect_plan_rejects(NULL, RL_ERR_NULL_POINTER, FRAGS("config is NULL"));
}

Test(bad_null, anchors)
{
    base_case bc;
    base_init(&bc, RL_LAYOUT_NCHW);
    bc.cfg.anchors = NULL;
    expect_plan_rejects(&bc.cfg, RL_ERR_NULL_POINTER, FRAGS("anchors is NULL"));
}

Test(bad_null, out_plan)
{
    base_case bc;
    base_init(&bc, RL_LAYOUT_NCHW);
    cr_assert_eq(rl_plan_create(&bc.cfg, NULL), RL_ERR_NULL_POINTER);
    expect_message(FRAGS("out_plan is NULL"), "rl_plan_create");
}

/* The other entry points that take pointers. */
Test(bad_null, tensor_and_workspace_size)
{
    base_case bc;
    rl_plan *plan = base_plan(&bc);
    size_t n = 12345;
    cr_assert_eq(rl_plan_tensor_size(NULL, 1, &n), RL_ERR_NULL_POINTER);
    expect_message(FRAGS("plan is NULL"), "rl_plan_tensor_size");
    cr_assert_eq(rl_plan_tensor_size(plan, 1, NULL), RL_ERR_NULL_POINTER);
    expect_message(FRAGS("out_count is NULL"), "rl_plan_tensor_size");
    cr_assert_eq(rl_workspace_size(NULL, 1, 0, &n), RL_ERR_NULL_POINTER);
    cr_assert_eq(rl_workspace_size(plan, 1, 0, NULL), RL_ERR_NULL_POINTER);
    expect_message(FRAGS("out_bytes is NULL"), "rl_workspace_size");
    cr_assert_eq(n, 12345);
    rl_plan_destroy(plan);
}
