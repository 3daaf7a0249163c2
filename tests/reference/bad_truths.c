/* Invalid truths and offsets (issue 2 point 4, docs/loss.md, "The tensor"):
 * class outside [0, C), centre outside [0, 1], w or h outside (0, 1], a
 * non-finite field; offsets not starting at 0 or decreasing.  The message
 * names the truth by its index within its image. */
#include "bad_common.h"

#include <math.h>

/* Global index 4 is truth 3 of image 1 in the base batch; 0 is truth 0 of
 * image 0. */
#define T31 4

static void with_truth(rl_box t, int64_t index, rl_status want, const char *const *frags)
{
    base_case bc;
    base_init(&bc, RL_LAYOUT_NHWC);
    rl_plan *plan = ref_plan(&bc.cfg);
    bc.truths[index] = t;
    if (want == RL_OK)
        expect_accepted(plan, &bc.batch);
    else
        expect_batch_rejected(plan, &bc.batch, want, frags);
    rl_plan_destroy(plan);
}

static rl_box base_truth(void) { return (rl_box){0.4f, 0.6f, 0.5f, 0.5f, 0}; }

/* The example the issue gives, word for word. */
Test(bad_truths, issue_example_message)
{
    rl_box t = base_truth();
    t.w = 0.0f;
    with_truth(t, T31, RL_ERR_BAD_TRUTH, FRAGS("truth 3 of image 1: w = 0 is not in (0, 1]"));
    base_case bc;
    base_init(&bc, RL_LAYOUT_NCHW);
    rl_plan *plan = ref_plan(&bc.cfg);
    bc.truths[T31] = t;
    rl_result r;
    cr_assert_eq(rl_compute(plan, &bc.batch, &r, NULL), RL_ERR_BAD_TRUTH);
    cr_assert_str_eq(rl_last_error(), "truth 3 of image 1: w = 0 is not in (0, 1]");
    rl_plan_destroy(plan);
}

Test(bad_truths, class_outside_range)
{
    const int32_t bad[4] = {-1, BASE_C, BASE_C + 1, INT32_MIN};
    for (int v = 0; v < 4; v++) {
        rl_box t = base_truth();
        t.cls = bad[v];
        char frag[64];
        snprintf(frag, sizeof frag, "truth 3 of image 1: class %d", (int)bad[v]);
        with_truth(t, T31, RL_ERR_BAD_TRUTH, FRAGS(frag, "[0, 3)"));
        with_truth(t, 0, RL_ERR_BAD_TRUTH, FRAGS("truth 0 of image 0: class"));
    }
    for (int32_t c = 0; c < BASE_C; c++) {
        rl_box t = base_truth();
        t.cls = c;
        with_truth(t, T31, RL_OK, NULL);
    }
}

Test(bad_truths, centre_outside_unit_interval)
{
    const float bad[4] = {-0.25f, 1.25f, -1e-30f, 7.0f};
    const char *const shown[4] = {"-0.25", "1.25", "-1e-30", "7"};
    for (int v = 0; v < 4; v++)
        for (int f = 0; f < 2; f++) {
            rl_box t = base_truth();
            *(f ? &t.cy : &t.cx) = bad[v];
            char frag[64];
            snprintf(frag, sizeof frag, "truth 3 of image 1: %s = %s", f ? "cy" : "cx", shown[v]);
            with_truth(t, T31, RL_ERR_BAD_TRUTH, FRAGS(frag, "[0, 1]"));
        }
    /* just outside 1: the status is what matters here (see the report on
     * the %g formatting of such values) */
    rl_box t = base_truth();
    t.cx = nextafterf(1.0f, 2.0f);
    with_truth(t, T31, RL_ERR_BAD_TRUTH, FRAGS("truth 3 of image 1: cx = "));
    /* the closed ends are valid */
    const float good[2] = {0.0f, 1.0f};
    for (int v = 0; v < 2; v++)
        for (int f = 0; f < 2; f++) {
            rl_box g = base_truth();
            *(f ? &g.cy : &g.cx) = good[v];
            with_truth(g, T31, RL_OK, NULL);
        }
}

Test(bad_truths, size_outside_half_open_interval)
{
    const float bad[5] = {0.0f, -0.0f, -0.5f, 1.5f, 1e30f};
    const char *const shown[5] = {"0", "-0", "-0.5", "1.5", "1e+30"};
    for (int v = 0; v < 5; v++)
        for (int f = 0; f < 2; f++) {
            rl_box t = base_truth();
            *(f ? &t.h : &t.w) = bad[v];
            char frag[64];
            snprintf(frag, sizeof frag, "truth 3 of image 1: %s = %s", f ? "h" : "w", shown[v]);
            with_truth(t, T31, RL_ERR_BAD_TRUTH, FRAGS(frag, "(0, 1]"));
        }
    for (int f = 0; f < 2; f++) {
        rl_box g = base_truth();
        *(f ? &g.h : &g.w) = 1.0f;
        with_truth(g, T31, RL_OK, NULL);
        *(f ? &g.h : &g.w) = 1e-30f;
        with_truth(g, T31, RL_OK, NULL);
    }
}

Test(bad_truths, field_not_finite)
{
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    static const char *const names[4] = {"cx", "cy", "w", "h"};
    for (int v = 0; v < 3; v++)
        for (int f = 0; f < 4; f++) {
            rl_box t = base_truth();
            float *field[4] = {&t.cx, &t.cy, &t.w, &t.h};
            *field[f] = bad[v];
            char frag[64];
            snprintf(frag, sizeof frag, "truth 3 of image 1: %s = ", names[f]);
            with_truth(t, T31, RL_ERR_BAD_TRUTH, FRAGS(frag, "not finite"));
        }
}

static void with_offsets(const int64_t off[BASE_N + 1], const char *const *frags)
{
    base_case bc;
    base_init(&bc, RL_LAYOUT_NCHW);
    rl_plan *plan = ref_plan(&bc.cfg);
    bc.batch.truth_offsets = off;
    expect_batch_rejected(plan, &bc.batch, RL_ERR_BAD_OFFSETS, frags);
    rl_plan_destroy(plan);
}

Test(bad_truths, offsets_not_starting_at_zero)
{
    const int64_t a[3] = {1, 2, 5}, b[3] = {-1, 1, 5};
    with_offsets(a, FRAGS("truth_offsets[0] = 1"));
    with_offsets(b, FRAGS("truth_offsets[0] = -1"));
}

Test(bad_truths, offsets_decreasing)
{
    const int64_t a[3] = {0, 3, 2}, b[3] = {0, -1, 5};
    with_offsets(a, FRAGS("truth_offsets[2] = 2", "truth_offsets[1] = 3"));
    with_offsets(b, FRAGS("truth_offsets[1] = -1", "truth_offsets[0] = 0"));
    /* equal neighbours are an image without truths: fine */
    base_case bc;
    base_init(&bc, RL_LAYOUT_NCHW);
    rl_plan *plan = ref_plan(&bc.cfg);
    const int64_t ok[3] = {0, 0, 5};
    bc.batch.truth_offsets = ok;
    expect_accepted(plan, &bc.batch);
    rl_plan_destroy(plan);
}

/* Batch fields outside the issue's list but checked the same way. */
Test(bad_truths, other_batch_fields)
{
    base_case bc;
    base_init(&bc, RL_LAYOUT_NCHW);
    rl_plan *plan = ref_plan(&bc.cfg);
    const rl_counts wrong = {2, 3, 4, 2}; /* n_conf != n_obj + n_noobj */
    bc.batch.global_counts = &wrong;
    expect_batch_rejected(plan, &bc.batch, RL_ERR_BAD_ARGUMENT, FRAGS("global_counts"));
    rl_plan_destroy(plan);

    rl_config cfg;
    rl_config_init_darknet(&cfg);
    cfg.H = BASE_H, cfg.W = BASE_W, cfg.B = BASE_B, cfg.C = BASE_C, cfg.anchors = bc.anchors;
    cfg.variant = "reference";
    plan = ref_plan(&cfg);
    base_init(&bc, RL_LAYOUT_NCHW);
    bc.batch.seen = -1;
    expect_batch_rejected(plan, &bc.batch, RL_ERR_BAD_ARGUMENT, FRAGS("seen = -1"));
    rl_plan_destroy(plan);
}

/* A value just outside a closed end must not be printed as the end itself
 * ("cx = 1 is not in [0, 1]" would read as a contradiction). */
Test(bad_truths, value_just_outside_is_printed_distinctly)
{
    rl_box t = base_truth();
    t.cx = nextafterf(1.0f, 2.0f);
    with_truth(t, T31, RL_ERR_BAD_TRUTH, FRAGS("cx = 1.0000001 "));
    t = base_truth();
    t.w = nextafterf(1.0f, 2.0f);
    with_truth(t, T31, RL_ERR_BAD_TRUTH, FRAGS("w = 1.0000001 "));
}
