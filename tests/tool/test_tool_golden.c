/* golden and check as a regression gate, and output files that appear whole
 * or not at all. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "npy.h"
#include "support.h"

typedef struct fixture {
    char *dir, *pred, *pred_nhwc, *labels, *golden, *grad;
} fixture;

static fixture setup_files(void)
{
    fixture f;
    f.dir = scratch_dir();
    f.pred = tb_write_pred(f.dir, RL_LAYOUT_NCHW, 0);
    /* tb_write_pred names both layouts pred.npy; keep the nchw one apart. */
    char *sub = path_in(f.dir, "nhwc");
    cr_assert_eq(mkdir(sub, 0755), 0);
    f.pred_nhwc = tb_write_pred(sub, RL_LAYOUT_NHWC, 0);
    free(sub);
    f.labels = tb_write_labels(f.dir);
    f.golden = path_in(f.dir, "G.json");
    f.grad = path_in(f.dir, "GG.npy");
    return f;
}

static void teardown_files(fixture *f)
{
    free(f->pred);
    free(f->pred_nhwc);
    free(f->labels);
    free(f->golden);
    free(f->grad);
    scratch_remove(f->dir);
}

/* argv: command, the inputs, then extra (NULL-terminated). */
static run_result run_with(const fixture *f, const char *cmd, const char *pred,
                           const char *const *extra)
{
    const char *argv[40] = {cmd, "--pred", pred, "--labels", f->labels, "--anchors",
                            tb_anchor_text};
    int n = 7;
    for (int k = 0; extra[k]; k++)
        argv[n++] = extra[k];
    argv[n] = NULL;
    return run_tool(f->dir, argv);
}

static void make_golden(const fixture *f, const char *const *mode_args)
{
    const char *extra[16] = {"--out", f->golden, "--grad-out", f->grad};
    int n = 4;
    for (int k = 0; mode_args[k]; k++)
        extra[n++] = mode_args[k];
    extra[n] = NULL;
    run_result r = run_with(f, "golden", f->pred, extra);
    cr_assert_eq(r.status, 0, "golden: exit %d: %s", r.status, r.err);
    cr_assert(file_exists(f->golden) && file_exists(f->grad));
    run_free(&r);
}

static run_result check(const fixture *f, const char *pred, const char *const *more)
{
    const char *extra[20] = {"--golden", f->golden, "--grad-golden", f->grad};
    int n = 4;
    for (int k = 0; more[k]; k++)
        extra[n++] = more[k];
    extra[n] = NULL;
    return run_with(f, "check", pred, extra);
}

Test(tool_golden, golden_is_the_json_output_and_check_passes)
{
    fixture f = setup_files();
    const char *none[] = {NULL};
    make_golden(&f, none);
    /* The golden file is exactly what `loss --json` prints. */
    const char *json[] = {"--json", NULL};
    run_result r = run_with(&f, "loss", f.pred, json);
    cr_assert_eq(r.status, 0);
    char *text = read_all(f.golden, NULL);
    cr_expect_str_eq(text, r.out);
    free(text);
    run_free(&r);

    const char *exact[] = {"--rtol", "0", "--atol", "0", NULL};
    r = check(&f, f.pred, exact);
    cr_expect_eq(r.status, 0, "exit %d\n%s%s", r.status, r.out, r.err);
    cr_expect(strstr(r.out, "check passed"), "%s", r.out);
    cr_expect(strstr(r.out, "0 of 960 differ"), "%s", r.out);
    run_free(&r);
    teardown_files(&f);
}

/* The gate's purpose: a golden recorded with one variant holds for every
 * variant within the default tolerance, and for the same data in NHWC. */
Test(tool_golden, check_passes_across_variants)
{
    fixture f = setup_files();
    const char *reference[] = {"--variant", "reference", NULL};
    make_golden(&f, reference);
    for (const char *const *v = rl_variant_list(); *v; v++) {
        const char *extra[] = {"--variant", *v, NULL};
        run_result r = check(&f, f.pred, extra);
        cr_expect_eq(r.status, 0, "variant %s: exit %d\n%s%s", *v, r.status, r.out, r.err);
        run_free(&r);
    }
    teardown_files(&f);
}

/* Replaces the number after "key": in the golden file. */
static void set_golden_value(const fixture *f, const char *key, double value)
{
    set_json_number(f->golden, key, 0, value);
}

static double golden_value(const fixture *f, const char *key)
{
    size_t len;
    char *text = read_all(f->golden, &len);
    json_object obj;
    char err[128];
    cr_assert_eq(json_parse(text, len, &obj, err, sizeof err), 0, "%s", err);
    const json_field *g = json_get(&obj, key);
    cr_assert(g && !g->is_string);
    double v = g->number;
    json_free(&obj);
    free(text);
    return v;
}

Test(tool_golden, check_fails_on_a_perturbed_field)
{
    fixture f = setup_files();
    const char *none[] = {NULL};
    make_golden(&f, none);
    double coord = golden_value(&f, "coord");
    cr_assert(coord > 0);

    /* Within the default rtol (1e-5): passes; with no tolerance: fails. */
    set_golden_value(&f, "coord", coord * (1 + 1e-9));
    run_result r = check(&f, f.pred, none);
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    const char *exact[] = {"--rtol", "0", "--atol", "0", NULL};
    r = check(&f, f.pred, exact);
    cr_expect_eq(r.status, 1, "%s%s", r.out, r.err);
    run_free(&r);

    double perturbed = coord * (1 + 1e-3);
    set_golden_value(&f, "coord", perturbed);
    r = check(&f, f.pred, none);
    cr_expect_eq(r.status, 1, "exit %d\n%s%s", r.status, r.out, r.err);
    char expected[64], got[64];
    snprintf(expected, sizeof expected, "%.17g", perturbed);
    snprintf(got, sizeof got, "%.17g", coord);
    cr_expect(strstr(r.out, "check FAILED"), "%s", r.out);
    cr_expect(strstr(r.out, "1 of 14 differ"), "%s", r.out);
    cr_expect(strstr(r.out, "coord"), "%s", r.out);
    cr_expect(strstr(r.out, expected), "expected value %s not reported:\n%s", expected, r.out);
    cr_expect(strstr(r.out, got), "computed value %s not reported:\n%s", got, r.out);
    run_free(&r);
    teardown_files(&f);
}

Test(tool_golden, check_fails_on_a_perturbed_gradient_entry)
{
    fixture f = setup_files();
    const char *none[] = {NULL};
    make_golden(&f, none);
    /* tw of image 1, anchor 1 (channel 8 + 2 = 10), cell (3, 4). */
    const size_t n = 1, c = 10, i = 3, j = 4;
    const size_t k = ((n * 16 + c) * TB_H + i) * TB_W + j;
    add_to_f32_entry(f.grad, k, 0.25f);

    run_result r = check(&f, f.pred, none);
    cr_expect_eq(r.status, 1, "exit %d\n%s%s", r.status, r.out, r.err);
    char index[64];
    snprintf(index, sizeof index, "%zu [%zu, %zu, %zu, %zu]", k, n, c, i, j);
    cr_expect(strstr(r.out, "1 of 960 differ"), "%s", r.out);
    cr_expect(strstr(r.out, "0 of 14 differ"), "%s", r.out);
    cr_expect(strstr(r.out, index), "index '%s' not reported:\n%s", index, r.out);
    run_free(&r);
    teardown_files(&f);
}

Test(tool_golden, check_fails_when_mode_or_shape_differs)
{
    fixture f = setup_files();
    const char *darknet[] = {"--mode", "darknet", "--seen", "10", NULL};
    make_golden(&f, darknet);
    const char *none[] = {NULL};
    run_result r = check(&f, f.pred, none);
    cr_expect_eq(r.status, 1, "%s%s", r.out, r.err);
    cr_expect(strstr(r.out, "warmup") && strstr(r.out, "darknet.cost"), "%s", r.out);
    run_free(&r);

    const char *spec[] = {NULL};
    make_golden(&f, spec);
    const char *nhwc[] = {"--layout", "nhwc", NULL};
    r = check(&f, f.pred_nhwc, nhwc);
    cr_expect_eq(r.status, 1, "%s%s", r.out, r.err);
    cr_expect(strstr(r.out, "shape differs"), "%s", r.out);
    run_free(&r);
    teardown_files(&f);
}

/* ---- outputs appear whole or not at all ---- */

static char *nan_pred(const fixture *f)
{
    static float pred[TB_COUNT];
    tb_pred(RL_LAYOUT_NCHW, pred);
    pred[3] = INFINITY; /* ty of image 0, anchor 0, cell (0, 3) */
    return write_npy_in(f->dir, "inf.npy",
                        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 16, 4, 5), }",
                        pred, sizeof pred);
}

Test(tool_golden, failed_grad_out_leaves_no_file)
{
    fixture f = setup_files();
    char *bad = nan_pred(&f);
    int before = dir_entries(f.dir);

    /* The library rejects the batch: no gradient file. */
    const char *extra[] = {"--grad-out", f.grad, NULL};
    run_result r = run_with(&f, "loss", bad, extra);
    cr_expect_eq(r.status, 2, "%s", r.err);
    cr_expect(strstr(r.err, "RL_ERR_NONFINITE_PRED"), "%s", r.err);
    cr_expect(!file_exists(f.grad));
    cr_expect_eq(dir_entries(f.dir), before);
    run_free(&r);

    /* The directory does not exist. */
    char *nowhere = path_in(f.dir, "missing/grad.npy");
    const char *extra2[] = {"--grad-out", nowhere, NULL};
    r = run_with(&f, "loss", f.pred, extra2);
    cr_expect_eq(r.status, 2, "%s", r.err);
    cr_expect(strstr(r.err, "missing/grad.npy: "), "%s", r.err);
    cr_expect_str_empty(r.out);
    cr_expect_eq(dir_entries(f.dir), before);
    run_free(&r);

    /* The destination is a directory: the rename fails after the data was
     * written, and the temporary file must go too. */
    char *sub = path_in(f.dir, "a_directory");
    cr_assert_eq(mkdir(sub, 0755), 0);
    const char *extra3[] = {"--grad-out", sub, NULL};
    r = run_with(&f, "loss", f.pred, extra3);
    cr_expect_eq(r.status, 2, "%s", r.err);
    cr_expect(strstr(r.err, "a_directory: "), "%s", r.err);
    cr_expect_eq(dir_entries(f.dir), before + 1, "a temporary file was left behind");
    cr_expect_eq(dir_entries(sub), 0);
    run_free(&r);

    /* An existing file survives a failed run untouched. */
    write_text(f.grad, "old contents");
    r = run_with(&f, "loss", bad, extra);
    cr_expect_eq(r.status, 2);
    char *text = read_all(f.grad, NULL);
    cr_expect_str_eq(text, "old contents");
    free(text);
    run_free(&r);

    /* ... and a successful run replaces it whole. */
    r = run_with(&f, "loss", f.pred, extra);
    cr_expect_eq(r.status, 0, "%s", r.err);
    size_t len;
    text = read_all(f.grad, &len);
    npy_array a;
    char err[128];
    cr_expect_eq(npy_parse((const uint8_t *)text, len, &a, err, sizeof err), 0, "%s", err);
    free(text);
    run_free(&r);

    free(sub);
    free(nowhere);
    free(bad);
    teardown_files(&f);
}

Test(tool_golden, golden_writes_both_files_or_neither)
{
    fixture f = setup_files();
    int before = dir_entries(f.dir);
    char *nowhere = path_in(f.dir, "missing/GG.npy");
    const char *extra[] = {"--out", f.golden, "--grad-out", nowhere, NULL};
    run_result r = run_with(&f, "golden", f.pred, extra);
    cr_expect_eq(r.status, 2, "%s", r.err);
    cr_expect(!file_exists(f.golden), "G.json written although GG.npy failed");
    cr_expect_eq(dir_entries(f.dir), before);
    run_free(&r);

    /* The second rename fails (its target is a directory) after the first
     * succeeded: the first file is taken back. */
    char *sub = path_in(f.dir, "GG_dir");
    cr_assert_eq(mkdir(sub, 0755), 0);
    const char *extra2[] = {"--out", f.golden, "--grad-out", sub, NULL};
    r = run_with(&f, "golden", f.pred, extra2);
    cr_expect_eq(r.status, 2, "%s", r.err);
    cr_expect(!file_exists(f.golden), "G.json left although GG.npy failed");
    cr_expect_eq(dir_entries(f.dir), before + 1);
    cr_expect_eq(dir_entries(sub), 0);
    run_free(&r);
    free(sub);
    free(nowhere);
    teardown_files(&f);
}

/* Half-precision predictions (issue 17): golden records the gradient in
 * their type ('<f2', or '<u2' bfloat16 bits), and check reads it back and
 * passes exactly on the same run; a perturbed half entry fails it. */
Test(tool_golden, half_golden_and_check)
{
    const rl_dtype types[] = {RL_DTYPE_F16, RL_DTYPE_BF16};
    for (int t = 0; t < 2; t++) {
        fixture f = setup_files();
        char *pred = tb_write_pred_typed(f.dir, RL_LAYOUT_NCHW, types[t], RL_DTYPE_F32);
        const char *flag = types[t] == RL_DTYPE_F16 ? "f16" : "bf16";
        const char *gen[] = {"--out", f.golden, "--grad-out", f.grad, "--dtype", flag,
                             "--variant", "reference", NULL};
        run_result r = run_with(&f, "golden", pred, gen);
        cr_assert_eq(r.status, 0, "%s golden: %s", flag, r.err);
        run_free(&r);
        size_t len;
        char *bytes = read_all(f.grad, &len);
        cr_assert(bytes);
        cr_expect(memmem(bytes, len, types[t] == RL_DTYPE_F16 ? "'<f2'" : "'<u2'", 5),
                  "%s: gradient golden in the wrong dtype", flag);
        free(bytes);

        const char *exact[] = {"--dtype", flag, "--variant", "reference", "--rtol", "0",
                               "--atol", "0", NULL};
        r = check(&f, pred, exact);
        cr_expect_eq(r.status, 0, "%s: exit %d\n%s%s", flag, r.status, r.out, r.err);
        cr_expect(strstr(r.out, "0 of 960 differ"), "%s", r.out);
        run_free(&r);

        /* One entry moved by one unit in the last place of its type. */
        bytes = read_all(f.grad, &len);
        uint16_t v;
        memcpy(&v, bytes + len - 2 * 7, 2);
        v ^= 1;
        memcpy(bytes + len - 2 * 7, &v, 2);
        write_bytes(f.grad, bytes, len);
        free(bytes);
        r = check(&f, pred, exact);
        cr_expect_eq(r.status, 1, "%s: perturbed entry passed\n%s", flag, r.out);
        cr_expect(strstr(r.out, "1 of 960 differ"), "%s", r.out);
        run_free(&r);
        free(pred);
        teardown_files(&f);
    }
}
