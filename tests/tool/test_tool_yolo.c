/* --layer yolo: a network of [yolo] heads from the command line.  The tool's
 * numbers are the API's (rl_yolo_compute), bit for bit, for the total and
 * every head, in JSON and in one gradient file per head; the text output
 * names every head; golden records a network's call and check holds it
 * within the tolerance, across variants, and fails on a perturbed head.
 * The golden gate is recorded with the reference and holds for every
 * variant within check's default tolerance. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "npy.h"
#include "support.h"

typedef struct net_files {
    char *dir, *labels, *pred[YN_HEADS], *grad[YN_HEADS];
} net_files;

static net_files net_setup(rl_layout layout, rl_dtype dtype)
{
    net_files f;
    f.dir = scratch_dir();
    yn_write_preds(f.dir, layout, dtype, f.pred);
    f.labels = yn_write_labels(f.dir);
    yn_head_paths(f.dir, "grad%d.npy", f.grad);
    return f;
}

static void net_teardown(net_files *f)
{
    yn_free_paths(f->pred);
    yn_free_paths(f->grad);
    free(f->labels);
    scratch_remove(f->dir);
}

/* argv: cmd, --layer yolo, the inputs of heads ids[0 .. n), extra. */
static int net_argv(const net_files *f, const char *cmd, int n, const int *ids,
                    const char *const *extra, const char **argv)
{
    int a = 0;
    argv[a++] = cmd;
    argv[a++] = "--layer";
    argv[a++] = "yolo";
    for (int h = 0; h < n; h++) {
        argv[a++] = "--pred";
        argv[a++] = f->pred[ids[h]];
        argv[a++] = "--mask";
        argv[a++] = yn_mask_text[ids[h]];
    }
    argv[a++] = "--labels";
    argv[a++] = f->labels;
    argv[a++] = "--anchors";
    argv[a++] = yn_anchor_text;
    argv[a++] = "--net-size";
    argv[a++] = yn_net_text;
    for (int k = 0; extra && extra[k]; k++)
        argv[a++] = extra[k];
    argv[a] = NULL;
    return a;
}

static const int all_heads[YN_HEADS] = {0, 1, 2};

static run_result net_run(const net_files *f, const char *cmd, const char *const *extra)
{
    const char *argv[96];
    net_argv(f, cmd, YN_HEADS, all_heads, extra, argv);
    return run_tool(f->dir, argv);
}

/* ---- the tool against the API ---- */

/* The keys of one result, mapped to rl_result by hand (not through the
 * tool's own table, which is under test); prefix "" or "heads.h.". */
static size_t head_fields(const rl_result *r, const char *prefix, expect_field *f)
{
    const struct {
        const char *key;
        double value;
    } m[] = {
        {"loss", r->loss},
        {"coord", r->coord},
        {"class", r->cls},
        {"obj", r->obj},
        {"noobj", r->noobj},
        {"n_obj", (double)r->n_obj},
        {"n_noobj", (double)r->n_noobj},
        {"n_conf", (double)r->n_conf},
        {"avg_iou", r->avg_iou},
        {"recall50", r->recall50},
        {"recall75", r->recall75},
        {"avg_obj", r->avg_obj},
        {"avg_noobj", r->avg_noobj},
        {"avg_cls", r->avg_cls},
        {"darknet.avg_iou", r->darknet.avg_iou},
        {"darknet.recall", r->darknet.recall},
        {"darknet.recall75", r->darknet.recall75},
        {"darknet.avg_cls", r->darknet.avg_cls},
        {"darknet.avg_obj", r->darknet.avg_obj},
        {"darknet.avg_anyobj", r->darknet.avg_anyobj},
        {"darknet.count", (double)r->darknet.count},
        {"darknet.cost", r->darknet.cost},
    };
    size_t n = sizeof m / sizeof m[0];
    for (size_t k = 0; k < n; k++) {
        snprintf(f[k].key, sizeof f[k].key, "%s%s", prefix, m[k].key);
        f[k].value = m[k].value;
    }
    return n;
}

/* The tool's JSON is the API's total and heads, every field bit for bit,
 * and nothing else. */
static void assert_json_is(const char *text, const rl_result *total, const rl_result *heads,
                           int n_heads)
{
    expect_field f[(1 + YN_HEADS) * 32];
    size_t n = head_fields(total, "", f);
    for (int h = 0; h < n_heads; h++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "heads.%d.", h);
        n += head_fields(&heads[h], prefix, f + n);
    }
    assert_json_fields(text, f, n, total->variant);
    /* Every head has positives and the parts do not vanish, or equality
     * would prove little. */
    for (int h = 0; h < n_heads; h++)
        cr_assert(heads[h].n_obj > 0 && heads[h].coord > 0 && heads[h].cls > 0 &&
                      heads[h].obj > 0 && heads[h].n_noobj > 0,
                  "head %d has no positives or no negatives", h);
}

/* Head h's gradient file: the right descr and shape, and the API's
 * entries bit for bit (count elements of grad_dtype). */
static void assert_grad_file_is(const char *path, int h, rl_layout layout, rl_dtype grad_dtype,
                                const void *api)
{
    npy_array a;
    char *bytes = read_npy(path, NULL, &a);
    cr_assert_eq(a.dtype, grad_dtype == RL_DTYPE_F16 ? NPY_F16 : NPY_F32, "%s: dtype", path);
    assert_pred_shape(&a, path, layout, YN_N, yn_grid_h[h], yn_grid_w[h], YN_B, YN_K);
    const size_t count = yn_count(h);
    cr_assert_eq(a.count, count);
    const size_t item = grad_dtype == RL_DTYPE_F16 ? 2 : 4;
    cr_expect(memcmp(a.data, api, count * item) == 0, "%s: the gradient differs from the API's",
              path);
    size_t nonzero = 0;
    for (size_t k = 0; k < count; k++) {
        uint32_t v = 0;
        memcpy(&v, (const uint8_t *)api + k * item, item);
        nonzero += v != 0;
    }
    cr_assert(nonzero > count / (YN_K * 2), "%s: the gradient is mostly zero", path);
    free(bytes);
}

/* `loss --json` with a gradient per head against the API with cfg. */
static void check_network(rl_yolo_config cfg, rl_dtype dtype, const char *const *extra)
{
    net_files f = net_setup(cfg.layout, dtype);
    const char *more[40] = {"--json"};
    int m = 1;
    for (int h = 0; h < YN_HEADS; h++) {
        more[m++] = "--grad-out";
        more[m++] = f.grad[h];
    }
    for (int k = 0; extra[k]; k++)
        more[m++] = extra[k];
    more[m] = NULL;
    run_result r = net_run(&f, "loss", more);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect_str_empty(r.err);
    void *grads[YN_HEADS];
    for (int h = 0; h < YN_HEADS; h++)
        grads[h] = malloc(yn_count(h) * sizeof(float));
    rl_result total, heads[YN_HEADS];
    yn_api(cfg, dtype, &total, heads, grads);
    assert_json_is(r.out, &total, heads, YN_HEADS);
    const rl_dtype gt = cfg.grad_dtype == (int16_t)dtype ? dtype : RL_DTYPE_F32;
    for (int h = 0; h < YN_HEADS; h++) {
        assert_grad_file_is(f.grad[h], h, cfg.layout, gt, grads[h]);
        free(grads[h]);
    }
    run_free(&r);
    net_teardown(&f);
}

Test(tool_yolo, three_heads_every_variant)
{
    for (const char *const *v = rl_variant_list(); *v; v++) {
        rl_yolo_config cfg;
        rl_yolo_config_init(&cfg);
        cfg.variant = *v;
        const char *extra[] = {"--variant", *v, NULL};
        check_network(cfg, RL_DTYPE_F32, extra);
    }
}

Test(tool_yolo, options_nhwc)
{
    rl_yolo_config cfg;
    rl_yolo_config_init(&cfg);
    cfg.variant = "generic";
    cfg.layout = RL_LAYOUT_NHWC;
    cfg.lambda_coord = 2.5;
    cfg.lambda_class = 0.75;
    cfg.lambda_obj = 3;
    cfg.lambda_noobj = 0.5;
    cfg.ignore_thresh = 0.5;
    cfg.truth_thresh = 0.6;
    cfg.norm = RL_NORM_SUM;
    cfg.threads = 2;
    const char *extra[] = {"--variant", "generic", "--layout", "nhwc", "--lambda-coord", "2.5",
                           "--lambda-class=0.75", "--lambda-obj", "3", "--lambda-noobj", "0.5",
                           "--ignore-thresh", "0.5", "--truth-thresh", "0.6", "--norm", "sum",
                           "--threads", "2", "--classes", "4", NULL};
    check_network(cfg, RL_DTYPE_F32, extra);
}

Test(tool_yolo, float16_heads)
{
    for (int grad_f32 = 0; grad_f32 < 2; grad_f32++) {
        rl_yolo_config cfg;
        rl_yolo_config_init(&cfg);
        cfg.variant = "generic";
        cfg.grad_dtype = (int16_t)(grad_f32 ? RL_DTYPE_F32 : RL_DTYPE_F16);
        const char *extra[] = {"--variant", "generic", "--dtype", "f16",
                               grad_f32 ? "--grad-dtype" : NULL, "f32", NULL};
        check_network(cfg, RL_DTYPE_F16, extra);
    }
}

/* --box-loss: each kind is the API's box_loss, bit for bit (a tool that
 * dropped the option would give mse's numbers, which differ from every
 * other kind's; the last loop holds that). */
Test(tool_yolo, box_losses)
{
    static const struct {
        const char *name;
        rl_box_loss value;
    } kinds[] = {{"mse", RL_BOX_MSE},
                 {"iou", RL_BOX_IOU},
                 {"giou", RL_BOX_GIOU},
                 {"diou", RL_BOX_DIOU},
                 {"ciou", RL_BOX_CIOU}};
    enum { N_KINDS = sizeof kinds / sizeof kinds[0] };
    double coord[N_KINDS];
    for (int k = 0; k < N_KINDS; k++) {
        rl_yolo_config cfg;
        rl_yolo_config_init(&cfg);
        cfg.variant = k % 2 ? "reference" : "generic";
        cfg.layout = k % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW;
        cfg.box_loss = kinds[k].value;
        cfg.lambda_coord = 1.5;
        const char *extra[] = {"--variant", cfg.variant, "--layout", k % 2 ? "nhwc" : "nchw",
                               "--box-loss", kinds[k].name, "--lambda-coord", "1.5", NULL};
        check_network(cfg, RL_DTYPE_F32, extra);
        rl_result total, heads[YN_HEADS];
        cfg.variant = "generic";
        cfg.layout = RL_LAYOUT_NCHW;
        yn_api(cfg, RL_DTYPE_F32, &total, heads, NULL);
        coord[k] = total.coord;
    }
    for (int k = 0; k < N_KINDS; k++)
        for (int e = 0; e < k; e++)
            cr_assert_neq(coord[k], coord[e], "--box-loss %s and %s: the same box part %.17g",
                          kinds[k].name, kinds[e].name, coord[k]);
}

/* Flavour alexeyab with every one of its options on the command line:
 * yolov7.cfg's set, then yolov4.cfg's with the rest changed from their
 * defaults (the JSON and every gradient file equal the API's). */
Test(tool_yolo, alexeyab_options)
{
    rl_yolo_config cfg;
    rl_yolo_config_init(&cfg);
    cfg.flavour = RL_YOLO_FLAVOUR_ALEXEYAB;
    cfg.iou_loss = RL_BOX_CIOU;
    cfg.iou_normalizer = 0.05;
    cfg.cls_normalizer = 0.5;
    cfg.scale_x_y = 2.0;
    cfg.iou_thresh = 0.2;
    cfg.max_delta = 2;
    cfg.new_coords = 1;
    cfg.objectness_smooth = 1;
    const char *v7[] = {"--flavour", "alexeyab", "--iou-loss", "ciou", "--iou-normalizer",
                        "0.05", "--cls-normalizer", "0.5", "--scale-x-y", "2.0", "--iou-thresh",
                        "0.2", "--max-delta", "2", "--new-coords", "1", "--objectness-smooth",
                        "1", NULL};
    check_network(cfg, RL_DTYPE_F32, v7);

    rl_yolo_config_init(&cfg);
    cfg.flavour = RL_YOLO_FLAVOUR_ALEXEYAB;
    cfg.norm = RL_NORM_SUM;
    cfg.iou_loss = RL_BOX_GIOU;
    cfg.iou_thresh_kind = RL_BOX_DIOU;
    cfg.iou_normalizer = 0.07;
    cfg.obj_normalizer = 1.5;
    cfg.scale_x_y = 1.05;
    cfg.iou_thresh = 0.213;
    cfg.label_smooth_eps = 0.1;
    cfg.max_delta = 5;
    cfg.focal_loss = 1;
    cfg.max_boxes = 2;
    cfg.show_details = 0;
    const int32_t counts[YN_C] = {10, 0, 35, 7};
    cfg.counters_per_class = counts;
    const char *v4[] = {"--flavour", "alexeyab", "--norm", "sum", "--iou-loss", "giou",
                        "--iou-thresh-kind", "diou", "--iou-normalizer", "0.07",
                        "--obj-normalizer", "1.5", "--scale-x-y", "1.05", "--iou-thresh",
                        "0.213", "--label-smooth-eps", "0.1", "--max-delta", "5",
                        "--focal-loss", "1", "--max-boxes", "2", "--show-details", "0",
                        "--counters-per-class", "10,0,35,7", NULL};
    check_network(cfg, RL_DTYPE_F32, v4);

    /* every variant computes the flavour, named on the command line too */
    for (const char *const *v = rl_variant_list(); *v; v++) {
        const char *named[sizeof v4 / sizeof v4[0] + 2];
        size_t k = 0;
        for (; v4[k]; k++)
            named[k] = v4[k];
        named[k++] = "--variant";
        named[k++] = *v;
        named[k] = NULL;
        cfg.variant = *v;
        check_network(cfg, RL_DTYPE_F32, named);
    }
}

/* Darknet calls its [yolo] layers one by one: one head, the whole anchor
 * list.  Truths whose best anchor is another head's have no positive here. */
Test(tool_yolo, one_head_command)
{
    net_files f = net_setup(RL_LAYOUT_NCHW, RL_DTYPE_F32);
    const int ids[1] = {1};
    const char *more[] = {"--json", "--variant", "generic", "--grad-out", f.grad[1], NULL};
    const char *argv[64];
    net_argv(&f, "loss", 1, ids, more, argv);
    run_result r = run_tool(f.dir, argv);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    rl_yolo_config cfg;
    rl_yolo_config_init(&cfg);
    cfg.variant = "generic";
    float *grad = malloc(yn_count(1) * sizeof *grad);
    void *grads[1] = {grad};
    rl_result total, head;
    yn_api_heads(cfg, RL_DTYPE_F32, 1, ids, &total, &head, grads);
    assert_json_is(r.out, &total, &head, 1);
    /* The head's two truths share one slot: one positive, two matched. */
    cr_expect_eq(head.n_obj, 1);
    cr_expect_eq(head.darknet.count, 2);
    cr_expect_eq(total.loss, head.loss);
    assert_grad_file_is(f.grad[1], 1, RL_LAYOUT_NCHW, RL_DTYPE_F32, grad);
    cr_expect(!file_exists(f.grad[0]) && !file_exists(f.grad[2]));
    run_free(&r);

    /* The text form: the total, then the one head. */
    const char *text[] = {"--variant", "generic", NULL};
    net_argv(&f, "loss", 1, ids, text, argv);
    r = run_tool(f.dir, argv);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "network    1 head, 3 images, 4 classes, 6 truths"), "%s", r.out);
    cr_expect(strstr(r.out, "yolo1.npy: 4x6 grid, mask 3,4,5"), "%s", r.out);
    cr_expect(!strstr(r.out, "head 1 "), "%s", r.out);
    free(grad);
    run_free(&r);
    net_teardown(&f);
}

static int count_occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

Test(tool_yolo, three_head_command_text)
{
    net_files f = net_setup(RL_LAYOUT_NCHW, RL_DTYPE_F32);
    const char *extra[] = {"--variant", "generic", NULL};
    run_result r = net_run(&f, "loss", extra);
    cr_assert_eq(r.status, 0, "exit %d, stderr: %s", r.status, r.err);
    cr_expect(strstr(r.out, "variant    generic\nnetwork    3 heads, 3 images, 4 classes, "
                            "6 truths\nloss "),
              "%s", r.out);
    const char *heads[] = {"head 0     ", "head 1     ", "head 2     "};
    const char *shapes[] = {"yolo0.npy: 2x3 grid, mask 6,7,8", "yolo1.npy: 4x6 grid, mask 3,4,5",
                            "yolo2.npy: 8x12 grid, mask 0,1,2"};
    for (int h = 0; h < YN_HEADS; h++) {
        cr_expect(strstr(r.out, heads[h]), "%s missing:\n%s", heads[h], r.out);
        cr_expect(strstr(r.out, shapes[h]), "%s missing:\n%s", shapes[h], r.out);
    }
    /* The total and every head: the parts, darknet's line and its cost. */
    const char *each[] = {"loss  ", "  coord ", "  class ", "  obj ", "  noobj ", "slots ",
                          "darknet    Avg IOU: ", ".5R: ", ".75R: ", "count: ", "cost "};
    for (size_t k = 0; k < sizeof each / sizeof each[0]; k++)
        cr_expect_eq(count_occurrences(r.out, each[k]), 1 + YN_HEADS, "'%s':\n%s", each[k],
                     r.out);
    cr_expect(!strstr(r.out, "warmup"), "%s", r.out);
    run_free(&r);
    net_teardown(&f);
}

/* ---- golden and check ---- */

typedef struct golden_files {
    net_files f;
    char *golden, *gg[YN_HEADS];
} golden_files;

static golden_files golden_setup(void)
{
    golden_files g;
    g.f = net_setup(RL_LAYOUT_NCHW, RL_DTYPE_F32);
    g.golden = path_in(g.f.dir, "G.json");
    yn_head_paths(g.f.dir, "GG%d.npy", g.gg);
    return g;
}

static void golden_teardown(golden_files *g)
{
    free(g->golden);
    yn_free_paths(g->gg);
    net_teardown(&g->f);
}

static void make_golden(const golden_files *g, const char *variant)
{
    const char *extra[] = {"--out", g->golden, "--grad-out", g->gg[0], "--grad-out", g->gg[1],
                           "--grad-out", g->gg[2], "--variant", variant, NULL};
    run_result r = net_run(&g->f, "golden", extra);
    cr_assert_eq(r.status, 0, "golden: exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, "3 heads; variant"), "%s", r.out);
    run_free(&r);
}

static run_result check(const golden_files *g, const char *const *more)
{
    const char *extra[24] = {"--golden", g->golden, "--grad-golden", g->gg[0], "--grad-golden",
                             g->gg[1], "--grad-golden", g->gg[2]};
    int n = 8;
    for (int k = 0; more[k]; k++)
        extra[n++] = more[k];
    extra[n] = NULL;
    return net_run(&g->f, "check", extra);
}

/* Gradient entries of the network: N*B*(5+C)*(6 + 24 + 96). */
#define YN_GRAD_ENTRIES "10206"

Test(tool_yolo, golden_is_the_json_output_and_check_passes)
{
    golden_files g = golden_setup();
    make_golden(&g, "generic");
    const char *json[] = {"--json", "--variant", "generic", NULL};
    run_result r = net_run(&g.f, "loss", json);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *text = read_all(g.golden, NULL);
    cr_expect_str_eq(text, r.out);
    free(text);
    run_free(&r);

    const char *exact[] = {"--variant", "generic", "--rtol", "0", "--atol", "0", NULL};
    r = check(&g, exact);
    cr_expect_eq(r.status, 0, "exit %d\n%s%s", r.status, r.out, r.err);
    cr_expect(strstr(r.out, "check passed"), "%s", r.out);
    cr_expect(strstr(r.out, "result fields: 0 of 88 differ"), "%s", r.out);
    cr_expect(strstr(r.out, "gradient entries: 0 of " YN_GRAD_ENTRIES " differ"), "%s", r.out);
    run_free(&r);
    /* The thread count changes nothing. */
    const char *threads[] = {"--variant", "generic", "--threads", "2", "--rtol", "0", "--atol",
                             "0", NULL};
    r = check(&g, threads);
    cr_expect_eq(r.status, 0, "exit %d\n%s%s", r.status, r.out, r.err);
    run_free(&r);
    golden_teardown(&g);
}

/* The gate's purpose: a golden recorded with the reference holds for every
 * variant within the default tolerance, and the reference's for itself
 * exactly. */
Test(tool_yolo, check_passes_across_variants)
{
    golden_files g = golden_setup();
    make_golden(&g, "reference");
    const char *exact[] = {"--variant", "reference", "--rtol", "0", "--atol", "0", NULL};
    run_result r = check(&g, exact);
    cr_expect_eq(r.status, 0, "reference: exit %d\n%s%s", r.status, r.out, r.err);
    run_free(&r);
    for (const char *const *v = rl_variant_list(); *v; v++) {
        const char *extra[] = {"--variant", *v, NULL};
        r = check(&g, extra);
        cr_expect_eq(r.status, 0, "variant %s: exit %d\n%s%s", *v, r.status, r.out, r.err);
        run_free(&r);
    }
    golden_teardown(&g);
}

/* Replaces the number after the occurrence-th "key": (0: the total's, 1:
 * head 0's, ...). */
static double set_golden_value(const golden_files *g, const char *key, int occurrence,
                               double factor)
{
    double value = json_number(g->golden, key, occurrence) * factor;
    set_json_number(g->golden, key, occurrence, value);
    return value;
}

Test(tool_yolo, check_fails_on_a_perturbed_head)
{
    golden_files g = golden_setup();
    make_golden(&g, "generic");
    const char *none[] = {"--variant", "generic", NULL};
    double v = set_golden_value(&g, "coord", 2, 1 + 1e-3); /* head 1's */
    run_result r = check(&g, none);
    cr_expect_eq(r.status, 1, "exit %d\n%s%s", r.status, r.out, r.err);
    char expected[64];
    snprintf(expected, sizeof expected, "%.17g", v);
    cr_expect(strstr(r.out, "check FAILED"), "%s", r.out);
    cr_expect(strstr(r.out, "1 of 88 differ"), "%s", r.out);
    cr_expect(strstr(r.out, "heads.1.coord"), "%s", r.out);
    cr_expect(strstr(r.out, expected), "expected value %s not reported:\n%s", expected, r.out);
    run_free(&r);
    set_golden_value(&g, "coord", 2, 1 / (1 + 1e-3));

    /* One gradient entry of head 2: th of image 1, anchor 2 (channel
     * 2*9 + 3 = 21), cell (5, 7) of the 8x12 grid. */
    const size_t n = 1, c = 21, i = 5, j = 7;
    const size_t k = ((n * 27 + c) * 8 + i) * 12 + j;
    add_to_f32_entry(g.gg[2], k, 0.25f);
    r = check(&g, none);
    cr_expect_eq(r.status, 1, "exit %d\n%s%s", r.status, r.out, r.err);
    char index[64];
    snprintf(index, sizeof index, "%zu [%zu, %zu, %zu, %zu]", k, n, c, i, j);
    cr_expect(strstr(r.out, "0 of 88 differ"), "%s", r.out);
    cr_expect(strstr(r.out, "1 of " YN_GRAD_ENTRIES " differ"), "%s", r.out);
    cr_expect(strstr(r.out, "heads.2.grad"), "%s", r.out);
    cr_expect(strstr(r.out, index), "index '%s' not reported:\n%s", index, r.out);
    run_free(&r);
    golden_teardown(&g);
}

/* A golden of three heads does not pass for two, nor for the region loss's
 * JSON, nor with the heads' gradient files swapped. */
Test(tool_yolo, check_fails_when_the_heads_differ)
{
    golden_files g = golden_setup();
    make_golden(&g, "generic");
    const int two[2] = {0, 1};
    const char *more[] = {"--golden", g.golden, "--variant", "generic", NULL};
    const char *argv[64];
    net_argv(&g.f, "check", 2, two, more, argv);
    run_result r = run_tool(g.f.dir, argv);
    cr_expect_eq(r.status, 1, "%s%s", r.out, r.err);
    cr_expect(strstr(r.out, "heads.2.loss"), "%s", r.out);
    run_free(&r);

    const char *swapped[] = {"--golden", g.golden, "--grad-golden", g.gg[0], "--grad-golden",
                             g.gg[2], "--grad-golden", g.gg[1], "--variant", "generic", NULL};
    r = net_run(&g.f, "check", swapped);
    cr_expect_eq(r.status, 1, "%s%s", r.out, r.err);
    cr_expect(strstr(r.out, "heads.1.grad") && strstr(r.out, "shape differs"), "%s", r.out);
    run_free(&r);
    golden_teardown(&g);
}

/* golden writes the JSON and every head's gradient, or nothing. */
Test(tool_yolo, golden_writes_every_file_or_none)
{
    golden_files g = golden_setup();
    const int before = dir_entries(g.f.dir);
    char *nowhere = path_in(g.f.dir, "missing/GG2.npy");
    const char *extra[] = {"--out", g.golden, "--grad-out", g.gg[0], "--grad-out", g.gg[1],
                           "--grad-out", nowhere, "--variant", "generic", NULL};
    run_result r = net_run(&g.f, "golden", extra);
    cr_expect_eq(r.status, 2, "%s", r.err);
    cr_expect(strstr(r.err, "missing/GG2.npy: "), "%s", r.err);
    cr_expect(!file_exists(g.golden) && !file_exists(g.gg[0]) && !file_exists(g.gg[1]));
    cr_expect_eq(dir_entries(g.f.dir), before);
    run_free(&r);

    /* The last rename fails (its target is a directory) after the JSON and
     * two gradients were renamed: they are taken back. */
    char *sub = path_in(g.f.dir, "GG_dir");
    cr_assert_eq(mkdir(sub, 0755), 0);
    const char *extra2[] = {"--out", g.golden, "--grad-out", g.gg[0], "--grad-out", g.gg[1],
                            "--grad-out", sub, "--variant", "generic", NULL};
    r = net_run(&g.f, "golden", extra2);
    cr_expect_eq(r.status, 2, "%s", r.err);
    cr_expect(!file_exists(g.golden) && !file_exists(g.gg[0]) && !file_exists(g.gg[1]),
              "a file of the set was left behind");
    cr_expect_eq(dir_entries(g.f.dir), before + 1);
    cr_expect_eq(dir_entries(sub), 0);
    run_free(&r);

    /* loss with --grad-out: the same for the gradients. */
    const char *extra3[] = {"--grad-out", g.gg[0], "--grad-out", g.gg[1], "--grad-out", sub,
                            "--variant", "generic", NULL};
    r = net_run(&g.f, "loss", extra3);
    cr_expect_eq(r.status, 2, "%s", r.err);
    cr_expect_str_empty(r.out);
    cr_expect(!file_exists(g.gg[0]) && !file_exists(g.gg[1]));
    cr_expect_eq(dir_entries(g.f.dir), before + 1);
    run_free(&r);
    free(sub);
    free(nowhere);
    golden_teardown(&g);
}
