/* --layer yolo's errors: exit code 2, nothing on stdout, a message that names
 * what is wrong and where (the option and head, or the file and both
 * shapes), and no output file left behind, for loss and golden alike. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support.h"

typedef struct fixture {
    char *dir, *labels, *pred[YN_HEADS], *nhwc[YN_HEADS];
    char *out, *grad[YN_HEADS];
} fixture;

static fixture setup(void)
{
    fixture f;
    f.dir = scratch_dir();
    yn_write_preds(f.dir, RL_LAYOUT_NCHW, RL_DTYPE_F32, f.pred);
    char *sub = path_in(f.dir, "nhwc");
    cr_assert_eq(mkdir(sub, 0755), 0);
    yn_write_preds(sub, RL_LAYOUT_NHWC, RL_DTYPE_F32, f.nhwc);
    free(sub);
    f.labels = yn_write_labels(f.dir);
    f.out = path_in(f.dir, "G.json");
    yn_head_paths(f.dir, "grad%d.npy", f.grad);
    return f;
}

static void teardown(fixture *f)
{
    yn_free_paths(f->pred);
    yn_free_paths(f->nhwc);
    yn_free_paths(f->grad);
    free(f->labels);
    free(f->out);
    scratch_remove(f->dir);
}

/* A float32 .npy of the given shape and values v (count of them). */
static char *write_npy(const fixture *f, const char *name, const char *shape, const void *v,
                       size_t bytes, const char *descr)
{
    char dict[160];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
             shape);
    return write_npy_in(f->dir, name, dict, v, bytes);
}

typedef struct err_case {
    const char *what;
    const char *pred[YN_HEADS + 1]; /* NULL-terminated; "" for none */
    const char *mask[YN_HEADS + 1];
    const char *extra[8];
    const char *want[4];
} err_case;

/* Runs c as loss (with a gradient file per --pred) and as golden (with the
 * JSON too): exit 2, the message, no file written, the directory as it
 * was. */
static void expect_error(const fixture *f, const err_case *c)
{
    const int before = dir_entries(f->dir);
    for (int golden = 0; golden < 2; golden++) {
        const char *argv[64];
        int a = 0, n_pred = 0;
        argv[a++] = golden ? "golden" : "loss";
        argv[a++] = "--layer";
        argv[a++] = "yolo";
        for (int h = 0; c->pred[h]; h++, n_pred++) {
            argv[a++] = "--pred";
            argv[a++] = c->pred[h];
        }
        for (int h = 0; c->mask[h]; h++) {
            argv[a++] = "--mask";
            argv[a++] = c->mask[h];
        }
        argv[a++] = "--labels";
        argv[a++] = f->labels;
        argv[a++] = "--anchors";
        argv[a++] = yn_anchor_text;
        int net = 0;
        for (int k = 0; c->extra[k]; k++)
            net |= strcmp(c->extra[k], "--net-size") == 0;
        if (!net) {
            argv[a++] = "--net-size";
            argv[a++] = yn_net_text;
        }
        for (int k = 0; c->extra[k]; k++)
            argv[a++] = c->extra[k];
        for (int h = 0; h < n_pred && h < YN_HEADS; h++) {
            argv[a++] = "--grad-out";
            argv[a++] = f->grad[h];
        }
        if (golden) {
            argv[a++] = "--out";
            argv[a++] = f->out;
        }
        argv[a] = NULL;
        run_result r = run_tool(f->dir, argv);
        cr_expect_eq(r.status, 2, "%s (%s): exit %d, stderr: %s", c->what, argv[0], r.status,
                     r.err);
        cr_expect_str_empty(r.out, "%s: stdout not empty: %s", c->what, r.out);
        cr_expect(strncmp(r.err, "regionloss: ", 12) == 0, "%s: stderr: %s", c->what, r.err);
        for (int k = 0; k < 4 && c->want[k]; k++)
            cr_expect(strstr(r.err, c->want[k]), "%s (%s): '%s' missing from stderr: %s",
                      c->what, argv[0], c->want[k], r.err);
        cr_expect_eq(dir_entries(f->dir), before, "%s (%s): a file was left behind", c->what,
                     argv[0]);
        for (int h = 0; h < YN_HEADS; h++)
            cr_expect(!file_exists(f->grad[h]), "%s: %s written", c->what, f->grad[h]);
        cr_expect(!file_exists(f->out), "%s: the golden JSON was written", c->what);
        run_free(&r);
    }
}

#define HEADS3(f) {(f).pred[0], (f).pred[1], (f).pred[2], NULL}
#define MASKS3 {"6,7,8", "3,4,5", "0,1,2", NULL}

Test(tool_yolo_errors, masks)
{
    fixture f = setup();
    const err_case cases[] = {
        {"mask index past the anchors", HEADS3(f), {"6,7,8", "3,4,9", "0,1,2", NULL}, {NULL},
         {"--mask 3,4,9 (head 1, the 2nd --mask)", "value 3, 9, is not an index of the 9 "
                                                   "anchors of --anchors (0 to 8)"}},
        {"negative mask index", HEADS3(f), {"-1,7,8", "3,4,5", "0,1,2", NULL}, {NULL},
         {"--mask -1,7,8 (head 0", "-1, is not an index"}},
        {"duplicated mask index", HEADS3(f), {"6,7,8", "3,4,5", "0,2,0", NULL}, {NULL},
         {"--mask 0,2,0 (head 2, the 3rd --mask)", "value 3, 0, repeats value 1"}},
        {"mask not a number", HEADS3(f), {"6,7,8", "3,x,5", "0,1,2", NULL}, {NULL},
         {"--mask 3,x,5 (head 1", "value 2 'x' is not an integer"}},
        {"fewer masks than files", HEADS3(f), {"6,7,8", "3,4,5", NULL}, {NULL},
         {"2 --mask for 3 --pred", "one --mask per head"}},
        {"more masks than files", {f.pred[0], f.pred[1], NULL}, MASKS3, {NULL},
         {"3 --mask for 2 --pred"}},
        {"no mask", HEADS3(f), {NULL}, {NULL}, {"needs --mask"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        expect_error(&f, &cases[c]);
    teardown(&f);
}

Test(tool_yolo_errors, configuration_values)
{
    fixture f = setup();
    const err_case cases[] = {
        {"net size 0", HEADS3(f), MASKS3, {"--net-size", "0"}, {"--net-size: '0'", "width 0"}},
        {"net height negative", HEADS3(f), MASKS3, {"--net-size", "96x-64"},
         {"--net-size: '96x-64'", "height -64 is not a positive"}},
        {"net size not a number", HEADS3(f), MASKS3, {"--net-size", "big"},
         {"--net-size: 'big'", "not an integer"}},
        {"ignore_thresh above 1", HEADS3(f), MASKS3, {"--ignore-thresh", "1.5"},
         {"--ignore-thresh: 1.5 is not in [0, 1]"}},
        {"ignore_thresh below 0", HEADS3(f), MASKS3, {"--ignore-thresh", "-0.01"},
         {"--ignore-thresh: -0.01 is not in [0, 1]"}},
        {"truth_thresh above 1", HEADS3(f), MASKS3, {"--truth-thresh", "1.0001"},
         {"--truth-thresh: 1.0001 is not in [0, 1]"}},
        {"truth_thresh not finite", HEADS3(f), MASKS3, {"--truth-thresh", "nan"},
         {"--truth-thresh: 'nan' is not a finite number"}},
        {"norm batch", HEADS3(f), MASKS3, {"--norm", "batch"}, {"--norm batch", "--norm sum"}},
        {"classes 0", HEADS3(f), MASKS3, {"--classes", "0"}, {"--classes: '0'"}},
        {"region option", HEADS3(f), MASKS3, {"--thresh", "0.5"},
         {"--thresh applies only to --layer region", "--ignore-thresh"}},
        {"darknet option", HEADS3(f), MASKS3, {"--seen", "5"},
         {"--seen applies only to --layer region"}},
        {"mode", HEADS3(f), MASKS3, {"--mode", "darknet"}, {"--mode applies only"}},
        {"unknown variant", HEADS3(f), MASKS3, {"--variant", "no-such-variant"},
         {"RL_ERR_UNKNOWN_VARIANT"}},
        {"unknown box loss", HEADS3(f), MASKS3, {"--box-loss", "eiou"},
         {"--box-loss: 'eiou' is not one of the accepted values (mse, iou, giou, diou, ciou)"}},
        {"box loss by number", HEADS3(f), MASKS3, {"--box-loss", "4"},
         {"--box-loss: '4' is not one of the accepted values (mse, iou, giou, diou, ciou)"}},
        {"box loss in capitals", HEADS3(f), MASKS3, {"--box-loss=CIOU"},
         {"--box-loss: 'CIOU' is not one of the accepted values"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        expect_error(&f, &cases[c]);
    teardown(&f);
}

/* Flavour alexeyab's options: the tool's parsing, the library's checks. */
Test(tool_yolo_errors, alexeyab_options)
{
    fixture f = setup();
    const err_case cases[] = {
        {"unknown flavour", HEADS3(f), MASKS3, {"--flavour", "ultralytics"},
         {"--flavour: 'ultralytics'", "pjreddie, alexeyab"}},
        {"unknown iou loss", HEADS3(f), MASKS3, {"--flavour", "alexeyab", "--iou-loss", "eiou"},
         {"--iou-loss: 'eiou'", "mse, iou, giou, diou, ciou"}},
        {"iou_thresh_kind mse", HEADS3(f), MASKS3,
         {"--flavour", "alexeyab", "--iou-thresh-kind", "mse"}, {"--iou-thresh-kind: 'mse'"}},
        {"flag not 0 or 1", HEADS3(f), MASKS3, {"--flavour", "alexeyab", "--new-coords", "yes"},
         {"--new-coords: 'yes' is not 0 or 1"}},
        {"option of the other flavour", HEADS3(f), MASKS3, {"--iou-normalizer", "1"},
         {"RL_ERR_BAD_ARGUMENT", "iou_normalizer = 1 is an option of flavour alexeyab"}},
        {"lambda with alexeyab", HEADS3(f), MASKS3, {"--flavour", "alexeyab", "--lambda-obj", "5"},
         {"RL_ERR_BAD_LAMBDA", "lambda_obj = 5"}},
        {"iou_thresh above 1", HEADS3(f), MASKS3, {"--flavour", "alexeyab", "--iou-thresh", "2"},
         {"iou_thresh = 2 is not in [0, 1]"}},
        {"counts for too few classes", HEADS3(f), MASKS3,
         {"--flavour", "alexeyab", "--counters-per-class", "1,2,3"},
         {"--counters-per-class: 3 counts for 4 classes"}},
        {"negative count", HEADS3(f), MASKS3,
         {"--flavour", "alexeyab", "--counters-per-class", "1,-2,3,4"},
         {"--counters-per-class: count 1 = -2"}},
        {"max boxes 0", HEADS3(f), MASKS3, {"--flavour", "alexeyab", "--max-boxes", "0"},
         {"--max-boxes: '0'"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        expect_error(&f, &cases[c]);
    teardown(&f);
}

/* The anchor values are the library's to check (as for the region loss). */
Test(tool_yolo_errors, anchor_list_checked_by_the_library)
{
    fixture f = setup();
    const char *argv[] = {"loss", "--layer", "yolo", "--pred", f.pred[0], "--mask", "6,7,8",
                          "--labels", f.labels, "--anchors",
                          "3,4, 4,7, 8,5, 7,14, 14,10, 14,28, 27,21, 36,-46, 86,75",
                          "--net-size", yn_net_text, "--grad-out", f.grad[0], NULL};
    const int before = dir_entries(f.dir);
    run_result r = run_tool(f.dir, argv);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "RL_ERR_BAD_ANCHOR") && strstr(r.err, "anchor 7: h = -46"), "%s",
              r.err);
    cr_expect_eq(dir_entries(f.dir), before);
    run_free(&r);
    teardown(&f);
}

Test(tool_yolo_errors, head_shapes)
{
    fixture f = setup();
    /* head 1 with 2 images instead of 3 */
    const size_t n1 = 2 * 27 * 4 * 6, n2 = 3 * 30 * 8 * 12;
    float *zeros = calloc(n2 * 2, sizeof(float));
    char *two_images = write_npy(&f, "two_images.npy", "(2, 27, 4, 6)", zeros, n1 * 4, "<f4");
    /* head 2 with C = 5 (B*(5+C) = 30) */
    char *five_classes = write_npy(&f, "five_classes.npy", "(3, 30, 8, 12)", zeros, n2 * 4, "<f4");
    /* head 1 in float16 beside float32 heads */
    char *half = write_npy(&f, "half.npy", "(3, 27, 4, 6)", zeros, 3 * 27 * 4 * 6 * 2, "<f2");
    /* head 0 as a region-layer tensor of rank 3 */
    char *rank3 = write_npy(&f, "rank3.npy", "(3, 27, 6)", zeros, 3 * 27 * 6 * 4, "<f4");
    const err_case cases[] = {
        {"N differs", {f.pred[0], two_images, f.pred[2], NULL}, MASKS3, {NULL},
         {"two_images.npy: ", "shape (2, 27, 4, 6) is not (3, 27, 4, 6)", "head 1 needs",
          "yolo0.npy"}},
        {"C differs", {f.pred[0], f.pred[1], five_classes, NULL}, MASKS3, {NULL},
         {"five_classes.npy: ", "shape (3, 30, 8, 12) is not (3, 27, 8, 12)", "head 2 needs",
          "C = 4"}},
        {"--classes differs from head 0", HEADS3(f), MASKS3, {"--classes", "5"},
         {"yolo0.npy: ", "shape (3, 27, 2, 3) is not (3, 30, 2, 3)", "(--classes)"}},
        {"B from the mask differs", HEADS3(f), {"6,7", "3,4,5", "0,1,2", NULL}, {NULL},
         {"yolo0.npy: ", "dimension 1 = 27 is not B*(5+C) with B = 2 (from --mask 6,7 of head 0)",
          "expected (3, 2*(5+C), 2, 3)"}},
        {"B of a later head differs", HEADS3(f), {"6,7,8", "3,4,5", "0,1", NULL}, {NULL},
         {"yolo2.npy: ", "shape (3, 27, 8, 12) is not (3, 18, 8, 12)", "B = 2 (--mask 0,1)"}},
        {"element type differs", {f.pred[0], half, f.pred[2], NULL}, MASKS3, {NULL},
         {"half.npy: ", "float16", "head 0's", "one element type"}},
        {"rank", {rank3, f.pred[1], f.pred[2], NULL}, MASKS3, {NULL},
         {"rank3.npy: ", "rank 3", "[N, B*(5+C), H, W]"}},
        {"nhwc file read as nchw", {f.pred[0], f.nhwc[1], f.pred[2], NULL}, MASKS3, {NULL},
         {"nhwc/yolo1.npy: ", "rank 5"}},
        {"nhwc: B differs", {f.nhwc[0], f.nhwc[1], f.nhwc[2], NULL}, {"6,7,8", "3,4", "0,1,2",
                                                                      NULL},
         {"--layout", "nhwc"},
         {"nhwc/yolo1.npy: ", "shape (3, 4, 6, 3, 9) is not (3, 4, 6, 2, 9)", "head 1 needs"}},
        {"nhwc: C differs", {f.nhwc[0], f.nhwc[1], f.nhwc[2], NULL}, MASKS3,
         {"--layout", "nhwc", "--classes", "3"},
         {"nhwc/yolo0.npy: ", "shape (3, 2, 3, 3, 9) is not (3, 2, 3, 3, 8)"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        expect_error(&f, &cases[c]);
    free(zeros);
    free(two_images);
    free(five_classes);
    free(half);
    free(rank3);
    teardown(&f);
}

/* Errors in what the heads share: the labels (checked against N and C
 * of the network) and a prediction the loss reads that is not finite (the
 * file of that head). */
Test(tool_yolo_errors, labels_and_nonfinite_predictions)
{
    fixture f = setup();
    char *bad_labels = path_in(f.dir, "bad_labels.txt");
    write_text(bad_labels, "0 1 0.4 0.45 0.4 0.7\n3 0 0.5 0.5 0.1 0.1\n");
    char *bad_class = path_in(f.dir, "bad_class.txt");
    write_text(bad_class, "0 4 0.4 0.45 0.4 0.7\n");
    float *pred = malloc(yn_count(2) * sizeof *pred);
    yn_pred(2, RL_LAYOUT_NCHW, pred);
    /* tw of image 1, anchor 1 (channel 9 + 2), cell (3, 4): every slot's
     * box is decoded. */
    pred[((1 * 27 + 11) * 8 + 3) * 12 + 4] = INFINITY;
    char *inf = write_npy(&f, "inf.npy", "(3, 27, 8, 12)", pred, yn_count(2) * 4, "<f4");
    free(pred);
    const err_case cases[] = {
        {"image index past N", HEADS3(f), MASKS3, {NULL},
         {"bad_labels.txt", "line 2", "image_index 3", "[0, 3)"}},
        {"class past C", HEADS3(f), MASKS3, {NULL}, {"line 1", "class 4", "[0, 4)"}},
        {"non-finite prediction of head 2", {f.pred[0], f.pred[1], inf, NULL}, MASKS3,
         {"--variant", "generic"},
         {"inf.npy: ", "RL_ERR_NONFINITE_PRED", "head 2", "image 1"}},
    };
    /* The labels file is the fixture's; swap it for the first two cases. */
    char *saved = f.labels;
    f.labels = bad_labels;
    expect_error(&f, &cases[0]);
    f.labels = bad_class;
    err_case c1 = cases[1];
    c1.want[0] = "bad_class.txt";
    expect_error(&f, &c1);
    f.labels = saved;
    expect_error(&f, &cases[2]);
    free(bad_labels);
    free(bad_class);
    free(inf);
    teardown(&f);
}

/* The per-head options repeat only with --layer yolo, and only as often
 * as there are --pred files. */
Test(tool_yolo_errors, usage)
{
    fixture f = setup();
    const char *P = f.pred[0], *L = f.labels, *A = yn_anchor_text;
    const char *const cases[][24] = {
        {"loss", "--pred", P, "--mask", "6,7,8", "--labels", L, "--anchors", A, "--net-size",
         "96x64", NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--net-size", "96x64", NULL},
        {"loss", "--pred", P, "--pred", P, "--labels", L, "--anchors", A, NULL},
        {"loss", "--layer", "yolo", "--pred", P, "--mask", "6,7,8", "--labels", L, "--anchors", A,
         "--net-size", "96", "--grad-out", "a.npy", "--grad-out", "b.npy", NULL},
        {"check", "--layer", "yolo", "--pred", P, "--mask", "6,7,8", "--labels", L, "--anchors",
         A, "--net-size", "96", "--golden", "G.json", "--grad-golden", "a.npy", "--grad-golden",
         "b.npy", NULL},
        {"loss", "--layer", "yolo", "--pred", P, "--mask", "6,7,8", "--labels", L, "--anchors", A,
         "--net-size", "96", "--net-size", "96", NULL},
        {"loss", "--layer", "yolo", "--pred", P, "--mask", "6,7,8", "--labels", L, "--anchors", A,
         "--net-size", "96", "--layer", "yolo", NULL},
        {"demo", "--layer", "yolo", NULL},
        {"demo", "--mask", "6,7,8", NULL},
        {"loss", "--layer", "yolo", "--pred", P, "--mask", "6,7,8", "--labels", L, "--anchors", A,
         NULL},
        {"loss", "--layer", "yolo3", "--pred", P, "--labels", L, "--anchors", A, NULL},
        {"loss", "--pred", P, "--labels", L, "--anchors", A, "--box-loss", "ciou", NULL},
        {"demo", "--box-loss", "ciou", NULL},
    };
    const char *want[] = {"--mask applies only to --layer yolo",
                          "--net-size applies only to --layer yolo",
                          "option --pred given twice",
                          "2 --grad-out for 1 --pred",
                          "2 --grad-golden for 1 --pred",
                          "option --net-size given twice",
                          "option --layer given twice",
                          "option --layer does not apply to 'demo'",
                          "option --mask does not apply to 'demo'",
                          "'loss' needs --net-size",
                          "--layer: 'yolo3' is not one of the accepted values (region, yolo)",
                          "--box-loss applies only to --layer yolo",
                          "option --box-loss does not apply to 'demo'"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        run_result r = run_tool(f.dir, cases[c]);
        cr_expect_eq(r.status, 2, "usage case %zu: exit %d", c, r.status);
        cr_expect_str_empty(r.out);
        cr_expect(strstr(r.err, want[c]), "usage case %zu: '%s' missing from %s", c, want[c],
                  r.err);
        cr_expect(strstr(r.err, "usage: regionloss"), "usage case %zu", c);
        run_free(&r);
    }
    /* Seventeen heads: more than a network has. */
    const char *argv[80] = {"loss", "--layer", "yolo"};
    int a = 3;
    for (int h = 0; h < 17; h++) {
        argv[a++] = "--pred";
        argv[a++] = P;
    }
    argv[a] = NULL;
    run_result r = run_tool(f.dir, argv);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "option --pred given more than 16 times"), "%s", r.err);
    run_free(&r);
    teardown(&f);
}
