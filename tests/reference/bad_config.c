/* Invalid configurations and sizes (issue 2 point 4): sizes <= 0 and sizes
 * whose products overflow, anchors not finite or <= 0, lambdas negative or
 * not finite, thresh outside [0, 1] or NaN, unknown enumerations.  Each is
 * rejected by rl_plan_create with its status and a message naming the
 * field, and *out_plan is left alone. */
#include "bad_common.h"

static rl_config base_cfg(base_case *bc)
{
    base_init(bc, RL_LAYOUT_NCHW);
    return bc->cfg;
}

Test(bad_config, sizes_not_positive)
{
    static const char *const names[4] = {"H", "W", "B", "C"};
    static const int32_t values[3] = {0, -1, INT32_MIN};
    for (int f = 0; f < 4; f++)
        for (int v = 0; v < 3; v++) {
            base_case bc;
            rl_config cfg = base_cfg(&bc);
            int32_t *field[4] = {&cfg.H, &cfg.W, &cfg.B, &cfg.C};
            *field[f] = values[v];
            char frag[48];
            snprintf(frag, sizeof frag, "%s = %d", names[f], (int)values[v]);
            expect_plan_rejects(&cfg, RL_ERR_BAD_SIZE, FRAGS("config", frag, "not positive"));
        }
}

Test(bad_config, n_images_not_positive)
{
    base_case bc;
    base_init(&bc, RL_LAYOUT_NCHW);
    rl_plan *plan = ref_plan(&bc.cfg);
    const int32_t values[3] = {0, -1, INT32_MIN};
    for (int v = 0; v < 3; v++) {
        bc.batch.n_images = values[v];
        char frag[48];
        snprintf(frag, sizeof frag, "n_images = %d", (int)values[v]);
        expect_batch_rejected(plan, &bc.batch, RL_ERR_BAD_SIZE, FRAGS(frag));
    }
    size_t n = 7;
    cr_assert_eq(rl_plan_tensor_size(plan, 0, &n), RL_ERR_BAD_SIZE);
    expect_message(FRAGS("n_images = 0"), "rl_plan_tensor_size");
    cr_assert_eq(rl_workspace_size(plan, -2, 0, &n), RL_ERR_BAD_SIZE);
    cr_assert_eq(n, 7);
    /* a truth count whose workspace bytes would wrap size_t */
    cr_assert_eq(rl_workspace_size(plan, 1, INT64_MAX, &n), RL_ERR_BAD_SIZE);
    expect_message(FRAGS("n_truths = 9223372036854775807", "RL_MAX_TRUTHS"), "rl_workspace_size");
    cr_assert_eq(n, 7);
    cr_assert_eq(rl_workspace_size(plan, 1, RL_MAX_TRUTHS, &n), RL_OK);
    rl_plan_destroy(plan);
}

/* H*W*B*(5+C) floats per image: each factor fits in int32, the product
 * does not fit in the address space. */
Test(bad_config, per_image_product_overflows)
{
    static float many[2 * 1024];
    for (int a = 0; a < 2 * 1024; a++)
        many[a] = 1.0f;
    const int32_t shapes[3][4] = {{INT32_MAX, INT32_MAX, 1, 1},
                                  {1 << 20, 1 << 20, 1024, INT32_MAX - 5},
                                  {65536, 65536, 1024, 1 << 20}};
    for (int s = 0; s < 3; s++) {
        rl_config cfg;
        config_spec(&cfg, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], many,
                    RL_LAYOUT_NCHW);
        cfg.variant = "reference";
        expect_plan_rejects(&cfg, RL_ERR_BAD_SIZE, FRAGS("config", "overflow"));
    }
}

/* A large plan is fine (it allocates nothing per tensor), but no batch of
 * INT32_MAX of its images can be addressed.  The call must fail on the
 * sizes before it looks at the (tiny) prediction buffer. */
Test(bad_config, batch_product_overflows)
{
    static float anchors[2 * 16];
    for (int a = 0; a < 2 * 16; a++)
        anchors[a] = 2.0f;
    rl_config cfg;
    config_spec(&cfg, 4096, 4096, 16, 1000, anchors, RL_LAYOUT_NCHW);
    rl_plan *plan = ref_plan(&cfg);
    static const int64_t off[3] = {0, 0, 0};
    float tiny[4] = {0};
    rl_batch batch = {.n_images = INT32_MAX, .pred = tiny, .truth_offsets = off};
    expect_batch_rejected(plan, &batch, RL_ERR_BAD_SIZE, FRAGS("2147483647 images", "overflow"));
    size_t n = 3;
    cr_assert_eq(rl_plan_tensor_size(plan, INT32_MAX, &n), RL_ERR_BAD_SIZE);
    expect_message(FRAGS("overflow"), "rl_plan_tensor_size");
    cr_assert_eq(n, 3);
    rl_plan_destroy(plan);
}

Test(bad_config, anchors_not_finite_or_not_positive)
{
    const float bad[6] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, -1.5f};
    const char *const shown[6] = {"nan", "inf", "-inf", "= 0", "= -0", "-1.5"};
    for (int v = 0; v < 6; v++)
        for (int d = 0; d < 2; d++) {
            base_case bc;
            rl_config cfg = base_cfg(&bc);
            bc.anchors[2 * 1 + d] = bad[v];
            char frag[32];
            snprintf(frag, sizeof frag, "%s = ", d ? "h" : "w");
            expect_plan_rejects(&cfg, RL_ERR_BAD_ANCHOR,
                                FRAGS("anchor 1", frag, shown[v]));
        }
}

Test(bad_config, lambdas_negative_or_not_finite)
{
    static const char *const names[4] = {"lambda_coord", "lambda_class", "lambda_obj",
                                         "lambda_noobj"};
    const double bad[5] = {-1.0, -1e-300, NAN, INFINITY, -INFINITY};
    const char *const shown[5] = {"-1", "-1e-300", "nan", "inf", "-inf"};
    for (int f = 0; f < 4; f++) {
        for (int v = 0; v < 5; v++) {
            base_case bc;
            rl_config cfg = base_cfg(&bc);
            double *field[4] = {&cfg.lambda_coord, &cfg.lambda_class, &cfg.lambda_obj,
                                &cfg.lambda_noobj};
            *field[f] = bad[v];
            char frag[48];
            snprintf(frag, sizeof frag, "%s = %s", names[f], shown[v]);
            expect_plan_rejects(&cfg, RL_ERR_BAD_LAMBDA, FRAGS("config", frag));
        }
        /* 0 is a valid weight */
        base_case bc;
        rl_config cfg = base_cfg(&bc);
        double *field[4] = {&cfg.lambda_coord, &cfg.lambda_class, &cfg.lambda_obj,
                            &cfg.lambda_noobj};
        *field[f] = 0.0;
        rl_plan_destroy(ref_plan(&cfg));
    }
    /* darknet's warm-up scale is a weight too */
    base_case bc;
    rl_config cfg = base_cfg(&bc);
    rl_config_init_darknet(&cfg);
    cfg.H = BASE_H, cfg.W = BASE_W, cfg.B = BASE_B, cfg.C = BASE_C, cfg.anchors = bc.anchors;
    cfg.warmup_scale = -0.01;
    expect_plan_rejects(&cfg, RL_ERR_BAD_LAMBDA, FRAGS("warmup_scale = -0.01"));
}

Test(bad_config, thresh_outside_unit_interval)
{
    const double bad[6] = {-0.1, 1.0000001, 2.0, NAN, INFINITY, -INFINITY};
    const char *const shown[6] = {"-0.1", "1", "2", "nan", "inf", "-inf"};
    for (int v = 0; v < 6; v++) {
        base_case bc;
        rl_config cfg = base_cfg(&bc);
        cfg.thresh = bad[v];
        char frag[48];
        snprintf(frag, sizeof frag, "thresh = %s", shown[v]);
        expect_plan_rejects(&cfg, RL_ERR_BAD_THRESH, FRAGS("config", frag, "[0, 1]"));
    }
    const double good[3] = {0.0, 1.0, -0.0};
    for (int v = 0; v < 3; v++) {
        base_case bc;
        rl_config cfg = base_cfg(&bc);
        cfg.thresh = good[v];
        rl_plan_destroy(ref_plan(&cfg));
    }
}

Test(bad_config, enums_unknown)
{
    const int bad[3] = {-1, 3, 1000};
    for (int v = 0; v < 3; v++) {
        char frag[48];
        base_case bc;
        rl_config cfg = base_cfg(&bc);
        cfg.layout = (rl_layout)(bad[v] == 3 ? 2 : bad[v]);
        snprintf(frag, sizeof frag, "layout = %d", (int)cfg.layout);
        expect_plan_rejects(&cfg, RL_ERR_BAD_ENUM, FRAGS(frag));

        cfg = base_cfg(&bc);
        cfg.mode = (rl_mode)(bad[v] == 3 ? 2 : bad[v]);
        snprintf(frag, sizeof frag, "mode = %d", (int)cfg.mode);
        expect_plan_rejects(&cfg, RL_ERR_BAD_ENUM, FRAGS(frag));

        cfg = base_cfg(&bc);
        cfg.norm = (rl_norm)bad[v];
        snprintf(frag, sizeof frag, "norm = %d", bad[v]);
        expect_plan_rejects(&cfg, RL_ERR_BAD_ENUM, FRAGS(frag));

        cfg = base_cfg(&bc);
        cfg.grad_mode = (rl_grad_mode)(bad[v] == 3 ? 2 : bad[v]);
        snprintf(frag, sizeof frag, "grad_mode = %d", (int)cfg.grad_mode);
        expect_plan_rejects(&cfg, RL_ERR_BAD_ENUM, FRAGS(frag));
    }
    /* darknet mode does not take count normalisation */
    base_case bc;
    rl_config cfg = base_cfg(&bc);
    cfg.mode = RL_MODE_DARKNET;
    cfg.norm = RL_NORM_COUNTS;
    expect_plan_rejects(&cfg, RL_ERR_BAD_ENUM, FRAGS("darknet", "norm"));
}

/* The darknet switches, the thread count and the variant name. */
Test(bad_config, other_fields)
{
    base_case bc;
    rl_config cfg = base_cfg(&bc);
    rl_config_init_darknet(&cfg);
    cfg.H = BASE_H, cfg.W = BASE_W, cfg.B = BASE_B, cfg.C = BASE_C, cfg.anchors = bc.anchors;
    cfg.rescore = 2;
    expect_plan_rejects(&cfg, RL_ERR_BAD_ARGUMENT, FRAGS("rescore = 2"));
    cfg.rescore = 1;
    cfg.logistic_classes = -1;
    expect_plan_rejects(&cfg, RL_ERR_BAD_ARGUMENT, FRAGS("logistic_classes = -1"));

    cfg = base_cfg(&bc);
    cfg.threads = 0;
    expect_plan_rejects(&cfg, RL_ERR_THREADS, FRAGS("threads = 0"));
    cfg.threads = -3;
    expect_plan_rejects(&cfg, RL_ERR_THREADS, FRAGS("threads = -3"));

    cfg = base_cfg(&bc);
    cfg.variant = "no-such-variant";
    expect_plan_rejects(&cfg, RL_ERR_UNKNOWN_VARIANT, FRAGS("variant"));
}

/* The message of an unknown variant names it and where it came from (a
 * regression guard: the inner message was once formatted into the buffer it
 * was read from, garbling it). */
Test(bad_config, unknown_variant_message_names_it)
{
    base_case bc;
    rl_config cfg = base_cfg(&bc);
    cfg.variant = "no-such-variant";
    expect_plan_rejects(&cfg, RL_ERR_UNKNOWN_VARIANT,
                        FRAGS("config: variant", "\"no-such-variant\" does not exist"));
}
