/* The tool's numbers are the API's numbers: its JSON, read back, equals the
 * rl_result of the same inputs bit for bit, and its gradient file holds the
 * API's gradient bit for bit, for every variant, both layouts, both modes,
 * float64 input, and float16 and bfloat16 input (the gradient in their
 * type, or float32 with --grad-dtype f32). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "npy.h"
#include "support.h"

/* The keys issue 4 asks for, mapped to rl_result by hand (not through the
 * tool's own table, which is what is under test). */
static size_t expected_fields(const rl_result *r, rl_mode mode, expect_field *f)
{
    size_t n = 0;
    f[n++] = (expect_field){"loss", r->loss};
    f[n++] = (expect_field){"coord", r->coord};
    f[n++] = (expect_field){"class", r->cls};
    f[n++] = (expect_field){"obj", r->obj};
    f[n++] = (expect_field){"noobj", r->noobj};
    f[n++] = (expect_field){"n_obj", (double)r->n_obj};
    f[n++] = (expect_field){"n_noobj", (double)r->n_noobj};
    f[n++] = (expect_field){"n_conf", (double)r->n_conf};
    f[n++] = (expect_field){"avg_iou", r->avg_iou};
    f[n++] = (expect_field){"recall50", r->recall50};
    f[n++] = (expect_field){"recall75", r->recall75};
    f[n++] = (expect_field){"avg_obj", r->avg_obj};
    f[n++] = (expect_field){"avg_noobj", r->avg_noobj};
    f[n++] = (expect_field){"avg_cls", r->avg_cls};
    if (mode == RL_MODE_DARKNET) {
        f[n++] = (expect_field){"warmup", r->warmup};
        f[n++] = (expect_field){"darknet.avg_iou", r->darknet.avg_iou};
        f[n++] = (expect_field){"darknet.recall", r->darknet.recall};
        f[n++] = (expect_field){"darknet.recall75", r->darknet.recall75};
        f[n++] = (expect_field){"darknet.avg_cls", r->darknet.avg_cls};
        f[n++] = (expect_field){"darknet.avg_obj", r->darknet.avg_obj};
        f[n++] = (expect_field){"darknet.avg_anyobj", r->darknet.avg_anyobj};
        f[n++] = (expect_field){"darknet.count", (double)r->darknet.count};
        f[n++] = (expect_field){"darknet.cost", r->darknet.cost};
    }
    return n;
}

static void assert_json_is(const char *text, const rl_result *r, rl_mode mode)
{
    expect_field f[32];
    size_t n = expected_fields(r, mode, f);
    assert_json_fields(text, f, n, r->variant);
    /* The parts do not all vanish, or equality would prove little. */
    cr_assert(r->loss > 0 && r->coord > 0 && r->cls > 0 && r->obj > 0 && r->noobj > 0);
}

static void assert_grad_file_is(const char *path, rl_layout layout, const float *api)
{
    size_t len;
    npy_array a;
    char *bytes = read_npy(path, &len, &a);
    cr_assert(memmem(bytes, len, "'descr': '<f4'", 14) &&
              memmem(bytes, len, "'fortran_order': False", 22));
    cr_assert_eq(a.dtype, NPY_F32);
    assert_pred_shape(&a, path, layout, TB_N, TB_H, TB_W, TB_B, TB_K);
    cr_assert_eq(a.count, TB_COUNT);
    float *got = malloc(TB_COUNT * sizeof *got);
    npy_to_f32(&a, got);
    size_t nonzero = 0;
    for (size_t k = 0; k < TB_COUNT; k++) {
        cr_expect(memcmp(&got[k], &api[k], sizeof(float)) == 0, "entry %zu: file %.9g, API %.9g",
                  k, (double)got[k], (double)api[k]);
        nonzero += api[k] != 0.0f;
    }
    cr_assert(nonzero > TB_N * TB_B * TB_H * TB_W / 2, "the gradient is mostly zero");
    free(got);
    free(bytes);
}

/* Runs `loss` with extra options and checks JSON and gradient against the
 * API run with cfg. */
static void check_loss(const char *const *extra, rl_config cfg, int64_t seen, int float64)
{
    char *dir = scratch_dir();
    char *pred = tb_write_pred(dir, cfg.layout, float64);
    char *labels = tb_write_labels(dir);
    char *grad_path = path_in(dir, "grad.npy");
    const char *argv[48] = {"loss", "--pred", pred, "--labels", labels, "--anchors",
                            tb_anchor_text, "--json", "--grad-out", grad_path};
    int argc = 10;
    for (int k = 0; extra[k]; k++)
        argv[argc++] = extra[k];
    argv[argc] = NULL;
    run_result r = run_tool(dir, argv);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_str_empty(r.err);
    float *grad = malloc(TB_COUNT * sizeof *grad);
    rl_result api = tb_api(cfg, seen, grad);
    assert_json_is(r.out, &api, cfg.mode);
    assert_grad_file_is(grad_path, cfg.layout, grad);
    free(grad);
    run_free(&r);
    free(pred);
    free(labels);
    free(grad_path);
    scratch_remove(dir);
}

Test(tool_results, spec_defaults_every_variant)
{
    for (const char *const *v = rl_variant_list(); *v; v++) {
        rl_config cfg;
        rl_config_init(&cfg);
        cfg.variant = *v;
        const char *extra[] = {"--variant", *v, NULL};
        check_loss(extra, cfg, 0, 0);
    }
}

Test(tool_results, spec_options_nhwc)
{
    for (const char *const *v = rl_variant_list(); *v; v++) {
        rl_config cfg;
        rl_config_init(&cfg);
        cfg.variant = *v;
        cfg.layout = RL_LAYOUT_NHWC;
        cfg.lambda_coord = 2.5;
        cfg.lambda_class = 0.75;
        cfg.lambda_obj = 3;
        cfg.lambda_noobj = 0.5;
        cfg.thresh = 0.3;
        cfg.norm = RL_NORM_SUM;
        cfg.threads = 2;
        const char *extra[] = {"--variant", *v, "--layout", "nhwc", "--lambda-coord", "2.5",
                               "--lambda-class=0.75", "--lambda-obj", "3", "--lambda-noobj",
                               "0.5", "--thresh", "0.3", "--norm", "sum", "--threads", "2",
                               NULL};
        check_loss(extra, cfg, 0, 0);
    }
}

Test(tool_results, spec_norm_images_and_seed_alias)
{
    rl_config cfg;
    rl_config_init(&cfg);
    cfg.norm = RL_NORM_IMAGES;
    cfg.variant = "reference";
    const char *extra[] = {"--mode", "seed", "--norm", "images", "--variant", "reference", NULL};
    check_loss(extra, cfg, 0, 0);
}

Test(tool_results, darknet_defaults_every_variant)
{
    for (const char *const *v = rl_variant_list(); *v; v++) {
        rl_config cfg;
        rl_config_init_darknet(&cfg);
        cfg.variant = *v;
        /* seen below warmup_seen: the warm-up term is on. */
        const char *extra[] = {"--mode", "darknet", "--seen", "64", "--variant", *v, NULL};
        check_loss(extra, cfg, 64, 0);
    }
}

Test(tool_results, darknet_options_nhwc)
{
    rl_config cfg;
    rl_config_init_darknet(&cfg);
    cfg.layout = RL_LAYOUT_NHWC;
    cfg.rescore = 0;
    cfg.logistic_classes = 1;
    cfg.warmup_seen = 100;
    cfg.warmup_scale = 0.02;
    cfg.norm = RL_NORM_IMAGES;
    cfg.lambda_coord = 2;
    cfg.lambda_class = 3;
    cfg.lambda_obj = 4;
    cfg.lambda_noobj = 0.25;
    cfg.thresh = 0.5;
    const char *extra[] = {"--mode", "darknet", "--seen", "99", "--layout", "nhwc",
                           "--no-rescore", "--logistic-classes", "--warmup-seen", "100",
                           "--warmup-scale", "0.02", "--norm", "images", "--lambda-coord", "2",
                           "--lambda-class", "3", "--lambda-obj", "4", "--lambda-noobj", "0.25",
                           "--thresh", "0.5", NULL};
    check_loss(extra, cfg, 99, 0);
}

/* AlexeyAB's [region] flavour and its options, on every variant. */
Test(tool_results, darknet_alexeyab_flavour_every_variant)
{
    for (const char *const *v = rl_variant_list(); *v; v++) {
        rl_config cfg;
        rl_config_init_darknet(&cfg);
        cfg.flavour = RL_FLAVOUR_ALEXEYAB;
        cfg.classfix = 2;
        cfg.focal_loss = 1;
        cfg.thresh = 0.3;
        cfg.variant = *v;
        const char *extra[] = {"--mode", "darknet", "--seen", "64", "--flavour", "alexeyab",
                               "--classfix", "2", "--focal-loss", "1", "--thresh", "0.3",
                               "--variant", *v, NULL};
        check_loss(extra, cfg, 64, 0);
    }
    rl_config cfg;
    rl_config_init_darknet(&cfg);
    cfg.flavour = RL_FLAVOUR_ALEXEYAB;
    cfg.classfix = -1;
    cfg.logistic_classes = 1;
    const char *extra[] = {"--mode", "darknet", "--seen", "20000", "--flavour", "alexeyab",
                           "--classfix", "-1", "--logistic-classes", NULL};
    check_loss(extra, cfg, 20000, 0);
}

Test(tool_results, float64_input_is_rounded_to_float32)
{
    rl_config cfg;
    rl_config_init(&cfg);
    const char *extra[] = {NULL};
    check_loss(extra, cfg, 0, 1);
}

Test(tool_results, human_output_names_every_part)
{
    char *dir = scratch_dir();
    char *pred = tb_write_pred(dir, RL_LAYOUT_NCHW, 0);
    char *labels = tb_write_labels(dir);
    const char *argv[] = {"loss", "--pred", pred, "--labels", labels, "--anchors",
                          tb_anchor_text, "--mode", "darknet", "--seen", "1", NULL};
    run_result r = run_tool(dir, argv);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    const char *parts[] = {"loss", "coord", "class", "obj", "noobj", "warmup", "n_obj",
                           "avg_iou", "Avg IOU", "cost"};
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++)
        cr_expect(strstr(r.out, parts[k]), "'%s' missing from:\n%s", parts[k], r.out);
    run_free(&r);
    free(pred);
    free(labels);
    scratch_remove(dir);
}

/* ---- half-precision predictions (issue 17) ---- */

static const char *dtype_flag(rl_dtype t)
{
    return t == RL_DTYPE_F16 ? "f16" : t == RL_DTYPE_BF16 ? "bf16" : "f32";
}

/* The gradient file holds TB_COUNT elements of grad_dtype, bit for bit the
 * API's, in the right descr and shape. */
static void assert_typed_grad_file_is(const char *path, rl_layout layout, rl_dtype grad_dtype,
                                      const void *api)
{
    size_t len;
    npy_array a;
    char *bytes = read_npy(path, &len, &a);
    const npy_dtype want_type = grad_dtype == RL_DTYPE_F16    ? NPY_F16
                                : grad_dtype == RL_DTYPE_BF16 ? NPY_U16
                                                              : NPY_F32;
    char descr[32];
    snprintf(descr, sizeof descr, "'descr': '%s'", npy_descr(want_type));
    cr_assert(memmem(bytes, len, descr, strlen(descr)), "%s: not %s", path, descr);
    cr_assert_eq(a.dtype, want_type);
    cr_assert_eq(a.ndim, layout == RL_LAYOUT_NCHW ? 4 : 5);
    cr_assert_eq(a.count, TB_COUNT);
    size_t nonzero = 0;
    if (grad_dtype == RL_DTYPE_F32) {
        float *got = malloc(TB_COUNT * sizeof *got);
        npy_to_f32(&a, got);
        cr_expect(memcmp(got, api, TB_COUNT * sizeof *got) == 0, "float32 gradient differs");
        for (size_t k = 0; k < TB_COUNT; k++)
            nonzero += got[k] != 0.0f;
        free(got);
    } else {
        uint16_t *got = malloc(TB_COUNT * sizeof *got);
        npy_to_u16(&a, got);
        const uint16_t *want = api;
        for (size_t k = 0; k < TB_COUNT; k++) {
            cr_expect_eq(got[k], want[k], "entry %zu: file 0x%04x, API 0x%04x", k, got[k],
                         want[k]);
            nonzero += (got[k] & 0x7fffu) != 0;
        }
        free(got);
    }
    cr_assert(nonzero > TB_N * TB_B * TB_H * TB_W / 2, "the gradient is mostly zero");
    free(bytes);
}

/* loss on a half file with the given variant, options and gradient type
 * (RL_DTYPE_F32 for --grad-dtype f32, else the default): JSON and gradient
 * against the API on the same bits. */
static void check_half(rl_dtype dtype, rl_config cfg, int64_t seen, const char *const *extra,
                       int grad_f32)
{
    char *dir = scratch_dir();
    char *pred = tb_write_pred_typed(dir, cfg.layout, dtype, RL_DTYPE_F32);
    char *labels = tb_write_labels(dir);
    char *grad_path = path_in(dir, "grad.npy");
    const char *argv[48] = {"loss", "--pred", pred, "--labels", labels, "--anchors",
                            tb_anchor_text, "--json", "--grad-out", grad_path};
    int argc = 10;
    if (dtype == RL_DTYPE_BF16) { /* required: the file is '<u2' */
        argv[argc++] = "--dtype";
        argv[argc++] = "bf16";
    }
    if (grad_f32) {
        argv[argc++] = "--grad-dtype";
        argv[argc++] = "f32";
    }
    for (int k = 0; extra[k]; k++)
        argv[argc++] = extra[k];
    argv[argc] = NULL;
    run_result r = run_tool(dir, argv);
    cr_assert_eq(r.status, 0, "%s: exit %d, stderr: %s", dtype_flag(dtype), r.status, r.err);
    cr_expect_str_empty(r.err);
    cfg.pred_dtype = (int16_t)dtype;
    cfg.grad_dtype = (int16_t)(grad_f32 ? RL_DTYPE_F32 : dtype);
    void *grad = malloc(TB_COUNT * sizeof(float));
    rl_result api = tb_api_typed(cfg, seen, grad);
    assert_json_is(r.out, &api, cfg.mode);
    assert_typed_grad_file_is(grad_path, cfg.layout, (rl_dtype)cfg.grad_dtype, grad);
    free(grad);
    run_free(&r);
    free(pred);
    free(labels);
    free(grad_path);
    scratch_remove(dir);
}

/* The reference and generic variants are right for every type today; the
 * other families are checked against the API the same way (the tool only
 * passes the bits on, so tool and API agree whatever the variant computes). */
Test(tool_results, half_inputs_spec_both_layouts)
{
    const rl_dtype types[] = {RL_DTYPE_F16, RL_DTYPE_BF16};
    const char *variants[] = {"reference", "generic"};
    for (int t = 0; t < 2; t++)
        for (int v = 0; v < 2; v++)
            for (int layout = 0; layout < 2; layout++) {
                rl_config cfg;
                rl_config_init(&cfg);
                cfg.variant = variants[v];
                cfg.layout = layout ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW;
                const char *extra[] = {"--variant", variants[v], "--layout",
                                       layout ? "nhwc" : "nchw", NULL};
                check_half(types[t], cfg, 0, extra, 0);
            }
}

Test(tool_results, half_inputs_darknet_and_float32_gradient)
{
    const rl_dtype types[] = {RL_DTYPE_F16, RL_DTYPE_BF16};
    for (int t = 0; t < 2; t++)
        for (int grad_f32 = 0; grad_f32 < 2; grad_f32++) {
            rl_config cfg;
            rl_config_init_darknet(&cfg);
            cfg.variant = "reference";
            const char *extra[] = {"--mode", "darknet", "--seen", "64", "--variant",
                                   "reference", NULL};
            check_half(types[t], cfg, 64, extra, grad_f32);
        }
}

/* --dtype f16 on a '<f2' file is the same as no --dtype. */
Test(tool_results, dtype_option_matching_the_file)
{
    rl_config cfg;
    rl_config_init(&cfg);
    cfg.variant = "reference";
    const char *extra[] = {"--dtype", "f16", "--variant", "reference", NULL};
    check_half(RL_DTYPE_F16, cfg, 0, extra, 0);
}

/* The reference widens half inputs exactly and computes in double: on a
 * float32 file of the same (widened) numbers it gives the same loss, bit for
 * bit, and every part and count. */
Test(tool_results, half_loss_is_the_float32_loss_of_the_widened_values)
{
    const rl_dtype types[] = {RL_DTYPE_F16, RL_DTYPE_BF16};
    for (int t = 0; t < 2; t++) {
        char *dir = scratch_dir();
        char *half = tb_write_pred_typed(dir, RL_LAYOUT_NCHW, types[t], RL_DTYPE_F32);
        char *wide = tb_write_pred_typed(dir, RL_LAYOUT_NCHW, RL_DTYPE_F32, types[t]);
        char *labels = tb_write_labels(dir);
        const char *argv_h[] = {"loss", "--pred", half, "--labels", labels, "--anchors",
                                tb_anchor_text, "--json", "--variant", "reference",
                                "--dtype", dtype_flag(types[t]), NULL};
        const char *argv_w[] = {"loss", "--pred", wide, "--labels", labels, "--anchors",
                                tb_anchor_text, "--json", "--variant", "reference", NULL};
        run_result rh = run_tool(dir, argv_h), rw = run_tool(dir, argv_w);
        cr_assert_eq(rh.status, 0, "%s", rh.err);
        cr_assert_eq(rw.status, 0, "%s", rw.err);
        cr_expect_str_eq(rh.out, rw.out, "%s: the JSON differs", dtype_flag(types[t]));
        run_free(&rh);
        run_free(&rw);
        free(half);
        free(wide);
        free(labels);
        scratch_remove(dir);
    }
}
