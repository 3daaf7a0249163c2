/* Bad files, library errors and bad usage: exit code 2, nothing on stdout,
 * and a message that names the file and the field or line (or, for a
 * library error, the status). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

typedef struct run_case {
    const char *const *argv;
    const char *want[4]; /* substrings of stderr */
} run_case;

static void expect_error(const char *dir, const char *const *argv, const char *const *want,
                         const char *what)
{
    run_result r = run_tool(dir, argv);
    cr_expect_eq(r.status, 2, "%s: exit %d, stderr: %s", what, r.status, r.err);
    cr_expect_str_empty(r.out, "%s: stdout not empty: %s", what, r.out);
    cr_expect(strncmp(r.err, "regionloss: ", 12) == 0, "%s: stderr: %s", what, r.err);
    for (int k = 0; k < 4 && want[k]; k++)
        cr_expect(strstr(r.err, want[k]), "%s: '%s' missing from stderr: %s", what, want[k],
                  r.err);
    run_free(&r);
}

/* ---- malformed .npy files ---- */

#define NCHW_DICT(descr, fortran, shape) \
    "{'descr': '" descr "', 'fortran_order': " fortran ", 'shape': " shape ", }"

typedef struct npy_case {
    const char *name;
    const char *dict;  /* NULL: raw bytes below */
    const char *raw;
    size_t raw_len;
    int version;
    long data_delta;   /* bytes added to (or cut from) the data */
    int nhwc;
    const char *want[3];
} npy_case;

static const npy_case npy_cases[] = {
    {"empty file", NULL, "", 0, 0, 0, 0, {"magic", NULL}},
    {"wrong magic", NULL, "NOTNUMPY\x01\x00", 10, 0, 0, 0, {"magic", NULL}},
    {"unknown version", NULL, "\x93NUMPY\x09\x00\x10\x00", 10, 0, 0, 0, {"version", "9.0", NULL}},
    {"cut in header length", NULL, "\x93NUMPY\x01\x00\x10", 9, 0, 0, 0, {"header length", NULL}},
    {"header length past the end", NULL, "\x93NUMPY\x01\x00\x00\x10{}", 12, 0, 0, 0,
     {"header length", "4096", NULL}},
    {"dict without comma", "{'descr': '<f4' 'fortran_order': False, 'shape': (3, 16, 4, 5), }",
     NULL, 0, 1, 0, 0, {"header", "'descr'", NULL}},
    {"dict missing shape", "{'descr': '<f4', 'fortran_order': False, }", NULL, 0, 1, 0, 0,
     {"header", "'shape' is missing", NULL}},
    {"dict unknown key", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 16, 4, 5), "
                         "'extra': 1, }",
     NULL, 0, 1, 0, 0, {"header", "'extra'", NULL}},
    {"int32 dtype", NCHW_DICT("<i4", "False", "(3, 16, 4, 5)"), NULL, 0, 1, 0, 0,
     {"dtype '<i4'", NULL}},
    {"big-endian", NCHW_DICT(">f4", "False", "(3, 16, 4, 5)"), NULL, 0, 1, 0, 0,
     {"dtype '>f4'", "big-endian", NULL}},
    {"big-endian float16", NCHW_DICT(">f2", "False", "(3, 16, 4, 5)"), NULL, 0, 1,
     -(long)TB_COUNT * 2, 0, {"dtype '>f2'", "big-endian", NULL}},
    {"int16 dtype", NCHW_DICT("<i2", "False", "(3, 16, 4, 5)"), NULL, 0, 1, -(long)TB_COUNT * 2,
     0, {"dtype '<i2'", "'<f2' or '<u2'", NULL}},
    {"float16 data cut short", NCHW_DICT("<f2", "False", "(3, 16, 4, 5)"), NULL, 0, 1,
     -(long)TB_COUNT * 2 - 2, 0, {"data", "float16", "truncated"}},
    {"fortran order", NCHW_DICT("<f4", "True", "(3, 16, 4, 5)"), NULL, 0, 1, 0, 0,
     {"fortran_order", NULL}},
    {"rank 3", NCHW_DICT("<f4", "False", "(3, 16, 20)"), NULL, 0, 1, 0, 0,
     {"rank 3", "[N, B*(5+C), H, W]", NULL}},
    {"channels not a multiple of B", NCHW_DICT("<f4", "False", "(3, 15, 4, 5)"), NULL, 0, 1,
     -60 * 4, 0, {"dimension 1 = 15", "B = 2", NULL}},
    {"no class channel", NCHW_DICT("<f4", "False", "(3, 10, 4, 5)"), NULL, 0, 1, -360 * 4, 0,
     {"dimension 1 = 10", "C >= 1", NULL}},
    {"zero images", NCHW_DICT("<f4", "False", "(0, 16, 4, 5)"), NULL, 0, 1, -(long)TB_COUNT * 4,
     0, {"dimension 0 (N) = 0", NULL}},
    {"nhwc wrong B", NCHW_DICT("<f4", "False", "(3, 4, 5, 1, 16)"), NULL, 0, 1, 0, 1,
     {"dimension 3 = 1", "B = 2", NULL}},
    {"nhwc no class", NCHW_DICT("<f4", "False", "(3, 4, 5, 2, 5)"), NULL, 0, 1, -360 * 4, 1,
     {"dimension 4 = 5", NULL}},
    {"nhwc given nchw shape", NCHW_DICT("<f4", "False", "(3, 16, 4, 5)"), NULL, 0, 1, 0, 1,
     {"rank 4", "layout nhwc", NULL}},
    {"data cut short", NCHW_DICT("<f4", "False", "(3, 16, 4, 5)"), NULL, 0, 1, -4, 0,
     {"data", "truncated", NULL}},
    {"float64 data cut short", NCHW_DICT("<f8", "False", "(3, 16, 4, 5)"), NULL, 0, 1,
     (long)TB_COUNT * 4 - 1, 0, {"data", "truncated", NULL}},
    {"data too long", NCHW_DICT("<f4", "False", "(3, 16, 4, 5)"), NULL, 0, 1, 8, 0,
     {"data", "8 bytes follow", NULL}},
    {"shape overflows", NCHW_DICT("<f4", "False", "(4294967296, 4294967296, 4294967296, 4)"),
     NULL, 0, 2, 0, 0, {"overflows", NULL}},
    {"shape not a tuple", NCHW_DICT("<f4", "False", "(3)"), NULL, 0, 3, 0, 0,
     {"not a tuple", NULL}},
};

Test(tool_errors, malformed_npy)
{
    char *dir = scratch_dir();
    char *labels = tb_write_labels(dir);
    char *bad = path_in(dir, "bad.npy");
    /* Room for the float64 case, which needs twice the float32 bytes. */
    static float data[2 * TB_COUNT];
    for (size_t c = 0; c < sizeof npy_cases / sizeof npy_cases[0]; c++) {
        const npy_case *k = &npy_cases[c];
        if (k->dict) {
            size_t data_len = (size_t)((long)sizeof(float) * (long)TB_COUNT + k->data_delta);
            size_t len;
            uint8_t *bytes = npy_bytes(k->dict, k->version, data, data_len, &len);
            write_bytes(bad, bytes, len);
            free(bytes);
        } else {
            write_bytes(bad, k->raw, k->raw_len);
        }
        const char *argv[] = {"loss", "--pred", bad, "--labels", labels, "--anchors",
                              tb_anchor_text, "--layout", k->nhwc ? "nhwc" : "nchw", NULL};
        const char *want[4] = {"bad.npy: ", k->want[0], k->want[1], k->want[2]};
        expect_error(dir, argv, want, k->name);
    }
    free(bad);
    free(labels);
    scratch_remove(dir);
}

/* ---- element types (issue 17) ---- */

/* Each case fails before anything is computed or written: the gradient file
 * named by --grad-out does not appear and the directory holds what it held. */
Test(tool_errors, element_type_mismatches_name_the_file_and_write_nothing)
{
    char *dir = scratch_dir();
    char *labels = tb_write_labels(dir);
    char *f32 = tb_write_pred(dir, RL_LAYOUT_NCHW, 0);
    char *f16 = tb_write_pred_typed(dir, RL_LAYOUT_NCHW, RL_DTYPE_F16, RL_DTYPE_F32);
    char *bf16 = tb_write_pred_typed(dir, RL_LAYOUT_NCHW, RL_DTYPE_BF16, RL_DTYPE_F32);
    char *grad = path_in(dir, "grad.npy");
    const struct {
        const char *pred;
        const char *extra[4];
        const char *want[4]; /* NULL-terminated */
    } cases[] = {
        {bf16, {NULL}, {"pred_bf16.npy: ", "'<u2'", "--dtype bf16"}},
        {bf16, {"--dtype", "f16"}, {"pred_bf16.npy: ", "'<u2'", "'<f2'"}},
        {bf16, {"--dtype", "f32"}, {"pred_bf16.npy: ", "--dtype bf16", NULL}},
        {f16, {"--dtype", "bf16"}, {"pred_f16.npy: ", "'<f2' (float16)", "--dtype bf16"}},
        {f16, {"--dtype", "f32"}, {"pred_f16.npy: ", "'<f2'", "--dtype f32"}},
        {f32, {"--dtype", "f16"}, {"pred.npy: ", "'<f4' (float32)", "--dtype f16"}},
        {f32, {"--dtype", "bf16"}, {"pred.npy: ", "'<f4'", "'<u2' bfloat16"}},
        {f16, {"--grad-dtype", "bf16"}, {"pred_f16.npy: ", "--grad-dtype bf16", "f16"}},
        {f32, {"--grad-dtype", "f16"}, {"pred.npy: ", "--grad-dtype f16", "f32"}},
        {bf16, {"--dtype", "bf16", "--grad-dtype", "f16"}, {"--grad-dtype f16", "usage", NULL}},
    };
    const int before = dir_entries(dir);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *argv[16] = {"loss", "--pred", cases[c].pred, "--labels", labels, "--anchors",
                                tb_anchor_text, "--grad-out", grad};
        int n = 9;
        for (int k = 0; k < 4 && cases[c].extra[k]; k++)
            argv[n++] = cases[c].extra[k];
        argv[n] = NULL;
        char what[64];
        snprintf(what, sizeof what, "element type case %zu", c);
        expect_error(dir, argv, cases[c].want, what);
        cr_expect(!file_exists(grad), "%s: the gradient file was written", what);
        cr_expect_eq(dir_entries(dir), before, "%s: a file was left behind", what);
    }
    free(grad);
    free(f32);
    free(f16);
    free(bf16);
    free(labels);
    scratch_remove(dir);
}

/* Non-finite half values (binary16 inf and NaN, bfloat16 inf and a NaN whose
 * payload lies only in the low bits) are refused by the library as for
 * float32: the status, the image, the file, and no gradient file. */
Test(tool_errors, nonfinite_half_predictions)
{
    char *dir = scratch_dir();
    char *labels = tb_write_labels(dir);
    char *grad = path_in(dir, "grad.npy");
    const struct {
        rl_dtype type;
        uint16_t bits;
    } cases[] = {
        {RL_DTYPE_F16, 0x7c00}, {RL_DTYPE_F16, 0xfe01},
        {RL_DTYPE_BF16, 0xff80}, {RL_DTYPE_BF16, 0x7f81},
    };
    static uint16_t pred[TB_COUNT];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tb_pred_half(RL_LAYOUT_NCHW, cases[c].type, pred);
        pred[((1 * TB_B + 1) * TB_K + 2) * TB_H * TB_W + 2 * TB_W + 3] = cases[c].bits;
        size_t len;
        uint8_t *bytes = npy_bytes(cases[c].type == RL_DTYPE_F16
                                       ? NCHW_DICT("<f2", "False", "(3, 16, 4, 5)")
                                       : NCHW_DICT("<u2", "False", "(3, 16, 4, 5)"),
                                   1, pred, sizeof pred, &len);
        char *path = path_in(dir, "bad_half.npy");
        write_bytes(path, bytes, len);
        free(bytes);
        const char *argv[] = {"loss", "--pred", path, "--labels", labels, "--anchors",
                              tb_anchor_text, "--grad-out", grad, "--dtype",
                              cases[c].type == RL_DTYPE_F16 ? "f16" : "bf16", "--variant",
                              "reference", NULL};
        const char *want[] = {"bad_half.npy", "RL_ERR_NONFINITE_PRED", "image 1", NULL};
        char what[64];
        snprintf(what, sizeof what, "non-finite half 0x%04x", cases[c].bits);
        expect_error(dir, argv, want, what);
        cr_expect(!file_exists(grad), "%s: the gradient file was written", what);
        free(path);
    }
    free(grad);
    free(labels);
    scratch_remove(dir);
}

/* ---- label lines ---- */

typedef struct label_case {
    const char *text;
    const char *want[3];
} label_case;

static const label_case label_cases[] = {
    {"0 1 0.3 0.4 0.2\n", {"line 1", "5 fields", NULL}},
    {"# comment\n0 x 0.3 0.4 0.2 0.3\n", {"line 2", "class 'x'", NULL}},
    {"0 1.5 0.3 0.4 0.2 0.3\n", {"line 1", "class '1.5'", NULL}},
    {"0 1 0.3 abc 0.2 0.3\n", {"line 1", "cy 'abc'", NULL}},
    {"0 1 0.3 0.4 0 0.3\n", {"line 1", "w = 0 ", "(0, 1]"}},
    {"0 1 0.3 1.5 0.2 0.3\n", {"line 1", "cy = 1.5", "[0, 1]"}},
    {"0 1 nan 0.4 0.2 0.3\n", {"line 1", "cx = nan", "not finite"}},
    {"0 1 0.3 0.4 0.2 0.3 7\n", {"line 1", "more than 6 fields", NULL}},
    {"0 1 0.3 0.4 0.2 0.3\n\n3 1 0.3 0.4 0.2 0.3\n", {"line 3", "image_index 3", "[0, 3)"}},
    {"-1 1 0.3 0.4 0.2 0.3\n", {"line 1", "image_index -1", NULL}},
    {"0 1 0.3 0.4 0.2 0.3\r\n1 3 0.3 0.4 0.2 0.3\r\n", {"line 2", "class 3", "[0, 3)"}},
    {"0 -1 0.3 0.4 0.2 0.3", {"line 1", "class -1", NULL}},
};

Test(tool_errors, bad_label_lines)
{
    char *dir = scratch_dir();
    char *pred = tb_write_pred(dir, RL_LAYOUT_NCHW, 0);
    char *labels = path_in(dir, "bad.txt");
    for (size_t c = 0; c < sizeof label_cases / sizeof label_cases[0]; c++) {
        write_text(labels, label_cases[c].text);
        const char *argv[] = {"loss", "--pred", pred, "--labels", labels, "--anchors",
                              tb_anchor_text, NULL};
        const char *want[4] = {"bad.txt: ", label_cases[c].want[0], label_cases[c].want[1],
                               label_cases[c].want[2]};
        expect_error(dir, argv, want, label_cases[c].text);
    }
    free(pred);
    free(labels);
    scratch_remove(dir);
}

Test(tool_errors, missing_files)
{
    char *dir = scratch_dir();
    char *pred = tb_write_pred(dir, RL_LAYOUT_NCHW, 0);
    char *labels = tb_write_labels(dir);
    char *nothing = path_in(dir, "nothing.txt");
    const char *argv1[] = {"loss", "--pred", pred, "--labels", nothing, "--anchors",
                           tb_anchor_text, NULL};
    const char *want1[] = {"nothing.txt: cannot open", NULL};
    expect_error(dir, argv1, want1, "missing labels");
    const char *argv2[] = {"loss", "--pred", nothing, "--labels", labels, "--anchors",
                           tb_anchor_text, NULL};
    expect_error(dir, argv2, want1, "missing predictions");
    free(pred);
    free(labels);
    free(nothing);
    scratch_remove(dir);
}

/* ---- errors the library reports ---- */

Test(tool_errors, nonfinite_prediction_names_status_and_file)
{
    char *dir = scratch_dir();
    char *labels = tb_write_labels(dir);
    static float pred[TB_COUNT];
    tb_pred(RL_LAYOUT_NCHW, pred);
    /* tw of image 1, anchor 1, cell (2, 3): every slot's box is decoded. */
    pred[((1 * TB_B + 1) * TB_K + 2) * TB_H * TB_W + 2 * TB_W + 3] = NAN;
    size_t len;
    uint8_t *bytes = npy_bytes(NCHW_DICT("<f4", "False", "(3, 16, 4, 5)"), 1, pred, sizeof pred,
                               &len);
    char *path = path_in(dir, "nan.npy");
    write_bytes(path, bytes, len);
    free(bytes);
    const char *argv[] = {"loss", "--pred", path, "--labels", labels, "--anchors",
                          tb_anchor_text, NULL};
    const char *want[] = {"nan.npy", "RL_ERR_NONFINITE_PRED", "image 1", NULL};
    expect_error(dir, argv, want, "NaN prediction");
    free(path);
    free(labels);
    scratch_remove(dir);
}

Test(tool_errors, configuration_rejected_by_the_library)
{
    char *dir = scratch_dir();
    char *pred = tb_write_pred(dir, RL_LAYOUT_NCHW, 0);
    char *labels = tb_write_labels(dir);
    const char *base[] = {"loss", "--pred", pred, "--labels", labels};
    const struct {
        const char *extra[6];
        const char *want;
    } cases[] = {
        {{"--anchors", "1.0,-1.5,2.5,2.0"}, "RL_ERR_BAD_ANCHOR"},
        {{"--anchors", tb_anchor_text, "--variant", "no-such-variant"}, "RL_ERR_UNKNOWN_VARIANT"},
        {{"--anchors", tb_anchor_text, "--thresh", "2"}, "RL_ERR_BAD_THRESH"},
        {{"--anchors", tb_anchor_text, "--lambda-obj", "-1"}, "RL_ERR_BAD_LAMBDA"},
        {{"--anchors", tb_anchor_text, "--mode", "darknet", "--seen", "5"}, NULL},
        {{"--anchors", tb_anchor_text, "--mode", "darknet", "--seen", "-5"},
         "RL_ERR_BAD_ARGUMENT"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *argv[16];
        int n = 0;
        for (int k = 0; k < 5; k++)
            argv[n++] = base[k];
        for (int k = 0; k < 6 && cases[c].extra[k]; k++)
            argv[n++] = cases[c].extra[k];
        if (!cases[c].want) {
            /* Darknet mode with count normalisation is not a darknet thing. */
            argv[n++] = "--norm";
            argv[n++] = "batch";
        }
        argv[n] = NULL;
        const char *want[] = {cases[c].want ? cases[c].want : "RL_ERR_BAD_ENUM", NULL};
        expect_error(dir, argv, want, want[0]);
    }
    free(pred);
    free(labels);
    scratch_remove(dir);
}

Test(tool_errors, bad_anchor_text)
{
    char *dir = scratch_dir();
    char *pred = tb_write_pred(dir, RL_LAYOUT_NCHW, 0);
    char *labels = tb_write_labels(dir);
    const char *argv1[] = {"loss", "--pred", pred, "--labels", labels, "--anchors",
                           "1.0,1.5,2.5", NULL};
    const char *want1[] = {"--anchors", "3 values", "pairs", NULL};
    expect_error(dir, argv1, want1, "odd anchor count");
    const char *argv2[] = {"loss", "--pred", pred, "--labels", labels, "--anchors",
                           "1.0,abc,2.5,2.0", NULL};
    const char *want2[] = {"--anchors", "value 2 'abc'", NULL};
    expect_error(dir, argv2, want2, "anchor not a number");
    free(pred);
    free(labels);
    scratch_remove(dir);
}

/* ---- usage ---- */

Test(tool_errors, bad_usage_prints_usage)
{
    char *dir = scratch_dir();
    const char *P = "p.npy", *L = "l.txt", *A = "1,1";
    const char *const cases[][18] = {
        {NULL},
        {"frobnicate", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--frob", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--thresh", NULL},
        {"loss", "--labels", L, "--anchors", A, NULL},
        {"loss", "--pred", P, "--labels", L, NULL},
        {"golden", "--pred", P, "--labels", L, "--anchors", A, NULL},
        {"check", "--pred", P, "--labels", L, "--anchors", A, NULL},
        {"golden", "--pred", P, "--labels", L, "--anchors", A, "--out", "g", "--json", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--seen", "5", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--no-rescore", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--mode", "darknet", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--mode", "yolo", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--layout", "chw", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--norm", "mean", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--thresh", "abc", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--threads", "0", NULL},
        {"loss", "--pred", P, "--pred", P, "--labels", L, "--anchors", A, NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--json=1", NULL},
        {"loss", "stray", NULL},
        {"demo", "--pred", P, NULL},
        {"variants", "--json", NULL},
        {"check", "--pred", P, "--labels", L, "--anchors", A, "--golden", "g", "--rtol", "-1",
         NULL},
        {"--version", "extra", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--dtype", "f64", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--grad-dtype", "half", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--dtype", "f16", "--grad-dtype",
         "bf16", NULL},
        {"demo", "--dtype", "f16", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--flavour", "alexeyab", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--mode", "darknet", "--seen", "1",
         "--flavour", "ab", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--mode", "darknet", "--seen", "1",
         "--classfix", "1", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--mode", "darknet", "--seen", "1",
         "--focal-loss", "1", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--mode", "darknet", "--seen", "1",
         "--flavour", "alexeyab", "--classfix", "3", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--mode", "darknet", "--seen", "1",
         "--flavour", "alexeyab", "--logistic-classes", "--focal-loss", "1", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--mode", "darknet", "--seen", "1",
         "--flavour", "alexeyab", "--focal-loss", "yes", NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char what[64];
        snprintf(what, sizeof what, "usage case %zu (%s %s)", c, cases[c][0] ? cases[c][0] : "",
                 cases[c][0] && cases[c][1] ? cases[c][1] : "");
        const char *want[] = {"usage: regionloss", NULL};
        expect_error(dir, cases[c], want, what);
    }
    scratch_remove(dir);
}

Test(tool_errors, malformed_golden_files)
{
    char *dir = scratch_dir();
    char *pred = tb_write_pred(dir, RL_LAYOUT_NCHW, 0);
    char *labels = tb_write_labels(dir);
    char *golden = path_in(dir, "G.json");
    char *grad = path_in(dir, "GG.npy");
    write_text(golden, "{\n  \"loss\": 1.5,\n  \"coord\": [1]\n}\n");
    const char *argv[] = {"check", "--pred", pred, "--labels", labels, "--anchors",
                          tb_anchor_text, "--golden", golden, NULL};
    const char *want[] = {"G.json: line 3", NULL};
    expect_error(dir, argv, want, "golden with an array");

    write_text(golden, "{\"loss\": 1.5}");
    write_bytes(grad, "\x93NUMPY\x01\x00", 8);
    const char *argv2[] = {"check", "--pred", pred, "--labels", labels, "--anchors",
                           tb_anchor_text, "--golden", golden, "--grad-golden", grad, NULL};
    const char *want2[] = {"GG.npy: header length", NULL};
    expect_error(dir, argv2, want2, "truncated gradient golden");

    /* '<u2' holds bfloat16 bits only for a run with --dtype bf16. */
    static uint16_t bits[TB_COUNT];
    size_t len;
    uint8_t *bytes = npy_bytes(NCHW_DICT("<u2", "False", "(3, 16, 4, 5)"), 1, bits, sizeof bits,
                               &len);
    write_bytes(grad, bytes, len);
    free(bytes);
    const char *want3[] = {"GG.npy: ", "'<u2'", "--dtype bf16", NULL};
    expect_error(dir, argv2, want3, "bfloat16 gradient golden without --dtype bf16");
    free(golden);
    free(grad);
    free(pred);
    free(labels);
    scratch_remove(dir);
}
