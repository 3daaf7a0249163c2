/* --darknet-cfg FILE --section N: the tool set up from a darknet cfg gives,
 * byte for byte, the output and the gradient files of the explicit options
 * the section stands for ([yolo] heads of the small network of support.h,
 * and a [region] layer over the small batch), in pjreddie's flavour and in
 * AlexeyAB's (every option of it, and --flavour beside the cfg); a bad cfg,
 * a cfg whose options are also given, or heads that cannot share one plan,
 * fail with their message and write nothing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* The small [yolo] network of support.h as darknet's cfg says it: every
 * option of a YOLOv3 [yolo] section, thresholds low enough that both change
 * the result (yolo_compare checks that they do),
 * and the other layers between the heads (layer indices 1, 4 and 6). */
static const char *const yolo_cfg =
    "[net]\n"
    "# the input: width and height unequal\n"
    "width=96\n"
    "height=64\n"
    "channels=3\n"
    "\n"
    "[convolutional]\n"
    "filters=27\n"
    "\n"
    "[yolo]\n"
    "mask = 6,7,8\n"
    "anchors = 3,4, 4,7, 8,5, 7,14, 14,10, 14,28, 27,21, 36,46, 86,75\n"
    "classes=4\n"
    "num=9\n"
    "jitter=.3\n"
    "ignore_thresh = .15\n"
    "truth_thresh = .3\n"
    "random=1\n"
    "\n"
    "[route]\n"
    "layers = -2\n"
    "\n"
    "[convolutional]\n"
    "filters=27\n"
    "\n"
    "[yolo]\n"
    "mask = 3,4,5\n"
    "anchors = 3,4, 4,7, 8,5, 7,14, 14,10, 14,28, 27,21, 36,46, 86,75\n"
    "classes=4\n"
    "num=9\n"
    "jitter=.3\n"
    "ignore_thresh = .15\n"
    "truth_thresh = .3\n"
    "random=1\n"
    "\n"
    "[convolutional]\n"
    "filters=27\n"
    "\n"
    "[yolo]\n"
    "mask = 0,1,2\n"
    "anchors = 3,4, 4,7, 8,5, 7,14, 14,10, 14,28, 27,21, 36,46, 86,75\n"
    "classes=4\n"
    "num=9\n"
    "jitter=.3\n"
    "ignore_thresh = .15\n"
    "truth_thresh = .3\n"
    "random=1\n";

static const char *const yolo_sections[YN_HEADS] = {"1", "4", "6"};

/* The small region batch of support.h: softmax=0 and rescore=0, so that
 * both flags the section stands for are exercised. */
static const char *const region_cfg = "[net]\n"
                                      "width=160\n"
                                      "height=128\n"
                                      "[convolutional]\n"
                                      "filters=16\n"
                                      "[region]\n"
                                      "anchors = 1.0,1.5, 2.5,2.0\n"
                                      "bias_match=1\n"
                                      "classes=3\n"
                                      "coords=4\n"
                                      "num=2\n"
                                      "softmax=0\n"
                                      "jitter=.2\n"
                                      "rescore=0\n"
                                      "object_scale=4\n"
                                      "noobject_scale=0.75\n"
                                      "class_scale=1.25\n"
                                      "coord_scale=2\n"
                                      "absolute=1\n"
                                      "thresh = .45\n"
                                      "random=1\n";

typedef struct files {
    char *dir, *labels, *pred[YN_HEADS], *grad[YN_HEADS], *cfg, *region_pred;
} files;

static files setup(void)
{
    files f;
    f.dir = scratch_dir();
    yn_write_preds(f.dir, RL_LAYOUT_NCHW, RL_DTYPE_F32, f.pred);
    f.labels = yn_write_labels(f.dir);
    yn_head_paths(f.dir, "grad%d.npy", f.grad);
    f.cfg = path_in(f.dir, "net.cfg");
    f.region_pred = NULL;
    return f;
}

static void teardown(files *f)
{
    yn_free_paths(f->pred);
    yn_free_paths(f->grad);
    free(f->labels);
    free(f->cfg);
    free(f->region_pred);
    scratch_remove(f->dir);
}

/* Runs argv and returns stdout, asserting success; grad files are read
 * into grads[h] (NULL: none). */
static char *run_ok(const files *f, const char *const *argv, int n_grads, char **grads,
                    size_t *lens)
{
    run_result r = run_tool(f->dir, argv);
    cr_assert_eq(r.status, 0, "exit %d, stderr:\n%s", r.status, r.err);
    for (int h = 0; h < n_grads; h++) {
        grads[h] = read_all(f->grad[h], &lens[h]);
        cr_assert_not_null(grads[h], "%s not written", f->grad[h]);
        remove(f->grad[h]);
    }
    char *out = strdup(r.out);
    run_free(&r);
    return out;
}

static void assert_same(const char *what, const char *a, size_t la, const char *b, size_t lb)
{
    cr_assert(la == lb && memcmp(a, b, la) == 0, "%s differs between the cfg and the options",
              what);
}

static void yolo_compare(const char *cmd, int json)
{
    files f = setup();
    write_text(f.cfg, yolo_cfg);
    const char *argv[64];
    int a = 0;
    argv[a++] = cmd;
    argv[a++] = "--darknet-cfg";
    argv[a++] = f.cfg;
    for (int h = 0; h < YN_HEADS; h++) {
        argv[a++] = "--section";
        argv[a++] = yolo_sections[h];
        argv[a++] = "--pred";
        argv[a++] = f.pred[h];
        argv[a++] = "--grad-out";
        argv[a++] = f.grad[h];
    }
    argv[a++] = "--labels";
    argv[a++] = f.labels;
    argv[a++] = "--norm";
    argv[a++] = "sum";
    if (json)
        argv[a++] = "--json";
    argv[a] = NULL;
    char *g1[YN_HEADS], *g2[YN_HEADS];
    size_t l1[YN_HEADS], l2[YN_HEADS];
    char *out1 = run_ok(&f, argv, YN_HEADS, g1, l1);

    a = 0;
    argv[a++] = cmd;
    argv[a++] = "--layer";
    argv[a++] = "yolo";
    for (int h = 0; h < YN_HEADS; h++) {
        argv[a++] = "--pred";
        argv[a++] = f.pred[h];
        argv[a++] = "--mask";
        argv[a++] = yn_mask_text[h];
        argv[a++] = "--grad-out";
        argv[a++] = f.grad[h];
    }
    const char *const rest[] = {"--labels",        f.labels, "--anchors",      yn_anchor_text,
                                "--net-size",      yn_net_text, "--classes",   "4",
                                "--ignore-thresh", ".15",    "--truth-thresh", ".3",
                                "--norm",          "sum"};
    const int a_thresh = a + 9; /* the value of --ignore-thresh; +2: --truth-thresh's */
    for (size_t k = 0; k < sizeof rest / sizeof rest[0]; k++)
        argv[a++] = rest[k];
    if (json)
        argv[a++] = "--json";
    argv[a] = NULL;
    char *out2 = run_ok(&f, argv, YN_HEADS, g2, l2);
    assert_same("stdout", out1, strlen(out1), out2, strlen(out2));
    cr_assert(strstr(out1, "loss"), "no result printed:\n%s", out1);
    /* each threshold of the cfg changes the result, so the equality above
     * says that the cfg's value reached the library */
    for (int k = 0; k < 2; k++) {
        const char *saved = argv[a_thresh + 2 * k];
        argv[a_thresh + 2 * k] = k ? "1" : ".7";
        char *g3[YN_HEADS];
        size_t l3[YN_HEADS];
        char *out3 = run_ok(&f, argv, YN_HEADS, g3, l3);
        cr_assert(strcmp(out1, out3) != 0, "%s %s gives the same result as the cfg's",
                  argv[a_thresh + 2 * k - 1], argv[a_thresh + 2 * k]);
        argv[a_thresh + 2 * k] = saved;
        free(out3);
        for (int h = 0; h < YN_HEADS; h++)
            free(g3[h]);
    }
    for (int h = 0; h < YN_HEADS; h++) {
        assert_same("a gradient file", g1[h], l1[h], g2[h], l2[h]);
        free(g1[h]);
        free(g2[h]);
    }
    free(out1);
    free(out2);
    teardown(&f);
}

Test(dncfg, yolo_json_same_as_options) { yolo_compare("loss", 1); }

Test(dncfg, yolo_text_same_as_options) { yolo_compare("loss", 0); }

Test(dncfg, yolo_heads_in_any_order)
{
    /* one head, the middle one: its section alone */
    files f = setup();
    write_text(f.cfg, yolo_cfg);
    const char *argv[] = {"loss",     "--darknet-cfg", f.cfg,    "--section", "4",
                          "--pred",   f.pred[1],       "--labels", f.labels, "--json",
                          NULL};
    char *out1 = run_ok(&f, argv, 0, NULL, NULL);
    const char *argv2[] = {"loss",      "--layer",     "yolo",   "--pred",   f.pred[1],
                           "--mask",    "3,4,5",       "--anchors", yn_anchor_text,
                           "--net-size", "96x64",      "--classes", "4",
                           "--ignore-thresh", ".15",   "--truth-thresh", ".3",
                           "--labels",  f.labels,      "--json",  NULL};
    char *out2 = run_ok(&f, argv2, 0, NULL, NULL);
    assert_same("stdout", out1, strlen(out1), out2, strlen(out2));
    free(out1);
    free(out2);
    teardown(&f);
}

Test(dncfg, region_same_as_options)
{
    files f = setup();
    write_text(f.cfg, region_cfg);
    f.region_pred = tb_write_pred(f.dir, RL_LAYOUT_NCHW, 0);
    char *labels = tb_write_labels(f.dir);
    const char *argv[] = {"loss",     "--darknet-cfg", f.cfg,  "--section", "1",
                          "--pred",   f.region_pred,   "--labels", labels,  "--seen",
                          "200",      "--grad-out",    f.grad[0], "--json", NULL};
    char *g1, *g2;
    size_t l1, l2;
    char *out1 = run_ok(&f, argv, 1, &g1, &l1);
    const char *argv2[] = {"loss",        "--mode",     "darknet",   "--pred",
                           f.region_pred, "--labels",   labels,      "--anchors",
                           tb_anchor_text, "--seen",    "200",       "--lambda-coord",
                           "2",           "--lambda-class", "1.25",  "--lambda-obj",
                           "4",           "--lambda-noobj", "0.75",  "--thresh",
                           ".45",         "--no-rescore", "--logistic-classes",
                           "--grad-out",  f.grad[0],    "--json",    NULL};
    char *out2 = run_ok(&f, argv2, 1, &g2, &l2);
    assert_same("stdout", out1, strlen(out1), out2, strlen(out2));
    assert_same("the gradient file", g1, l1, g2, l2);
    /* and the cfg's options matter: the default options give another loss */
    const char *argv3[] = {"loss",   "--mode",  "darknet",      "--pred", f.region_pred,
                           "--labels", labels,  "--anchors",    tb_anchor_text,
                           "--seen", "200",     "--json",       NULL};
    char *out3 = run_ok(&f, argv3, 0, NULL, NULL);
    cr_assert(strcmp(out1, out3) != 0, "the cfg's scales made no difference");
    free(out1);
    free(out2);
    free(out3);
    free(g1);
    free(g2);
    free(labels);
    teardown(&f);
}

/* ---- AlexeyAB's flavour ---- */

/* yolo_cfg with `extra` added to each [yolo] section (after its random=1). */
static char *with_lines(const char *cfg, const char *extra)
{
    size_t n = strlen(cfg) + 1;
    for (const char *p = cfg; (p = strstr(p, "random=1\n")); p++)
        n += strlen(extra);
    char *s = malloc(n), *out = s;
    const char *from = cfg, *at;
    while ((at = strstr(from, "random=1\n"))) {
        at += strlen("random=1\n");
        memcpy(out, from, (size_t)(at - from));
        out += at - from;
        strcpy(out, extra);
        out += strlen(extra);
        from = at;
    }
    strcpy(out, from);
    return s;
}

/* Every AlexeyAB [yolo] option the tool has, with numbers of our own, shared
 * by the three heads (one plan); focal_loss and new_coords are left to
 * darknet's defaults. */
static const char *const ab_lines = "scale_x_y = 1.1\n"
                                    "iou_loss=ciou\n"
                                    "iou_thresh_kind=giou\n"
                                    "iou_thresh=0.45\n"
                                    "iou_normalizer=0.2\n"
                                    "cls_normalizer=0.6\n"
                                    "obj_normalizer=0.8\n"
                                    "label_smooth_eps=0.05\n"
                                    "max_delta=4\n"
                                    "objectness_smooth=1\n"
                                    "max=2\n"
                                    "show_details=0\n"
                                    "counters_per_class=3, 10, 0, 7\n"
                                    "nms_kind=diounms\n"
                                    "beta_nms=0.6\n";

/* The options ab_lines stands for, and for each another value that must
 * change the result (so that the equality says the cfg's value arrived). */
static const char *const ab_options[][3] = {
    {"--scale-x-y", "1.1", "1.3"},          {"--iou-loss", "ciou", "giou"},
    {"--iou-thresh-kind", "giou", "iou"},   {"--iou-thresh", "0.45", "0.3"},
    {"--iou-normalizer", "0.2", "0.5"},     {"--cls-normalizer", "0.6", "1"},
    {"--obj-normalizer", "0.8", "1"},       {"--label-smooth-eps", "0.05", "0"},
    {"--max-delta", "4", "0.01"},           {"--objectness-smooth", "1", "0"},
    {"--max-boxes", "2", "200"},            {"--show-details", "0", "1"},
    {"--counters-per-class", "3,10,0,7", "1,1,1,1"}, {"--focal-loss", "0", "1"},
    {"--new-coords", "0", "1"}};
#define N_AB_OPTIONS (sizeof ab_options / sizeof ab_options[0])

/* argv of the three heads with a cfg or with the explicit options
 * (`changed`: the index of the AlexeyAB option to give its other value, or
 * -1), --norm sum and --json. */
static void ab_argv(const files *f, int cfg, int changed, const char **argv)
{
    int a = 0;
    argv[a++] = "loss";
    if (cfg) {
        argv[a++] = "--darknet-cfg";
        argv[a++] = f->cfg;
    } else {
        const char *const opts[] = {"--layer",   "yolo",      "--anchors",       yn_anchor_text,
                                    "--net-size", yn_net_text, "--classes",      "4",
                                    "--ignore-thresh", ".15", "--truth-thresh", ".3",
                                    "--flavour", "alexeyab"};
        for (size_t k = 0; k < sizeof opts / sizeof *opts; k++)
            argv[a++] = opts[k];
        for (size_t k = 0; k < N_AB_OPTIONS; k++) {
            argv[a++] = ab_options[k][0];
            argv[a++] = ab_options[k][(int)k == changed ? 2 : 1];
        }
    }
    for (int h = 0; h < YN_HEADS; h++) {
        if (cfg) {
            argv[a++] = "--section";
            argv[a++] = yolo_sections[h];
        } else {
            argv[a++] = "--mask";
            argv[a++] = yn_mask_text[h];
        }
        argv[a++] = "--pred";
        argv[a++] = f->pred[h];
        argv[a++] = "--grad-out";
        argv[a++] = f->grad[h];
    }
    argv[a++] = "--labels";
    argv[a++] = f->labels;
    argv[a++] = "--norm";
    argv[a++] = "sum";
    argv[a++] = "--json";
    argv[a] = NULL;
}

Test(dncfg, yolo_alexeyab_same_as_options)
{
    files f = setup();
    char *text = with_lines(yolo_cfg, ab_lines);
    write_text(f.cfg, text);
    free(text);
    const char *argv[96];
    char *g1[YN_HEADS], *g2[YN_HEADS];
    size_t l1[YN_HEADS], l2[YN_HEADS];
    ab_argv(&f, 1, -1, argv);
    char *out1 = run_ok(&f, argv, YN_HEADS, g1, l1);
    ab_argv(&f, 0, -1, argv);
    char *out2 = run_ok(&f, argv, YN_HEADS, g2, l2);
    assert_same("stdout", out1, strlen(out1), out2, strlen(out2));
    for (int h = 0; h < YN_HEADS; h++) {
        assert_same("a gradient file", g1[h], l1[h], g2[h], l2[h]);
        free(g1[h]);
        free(g2[h]);
    }
    for (size_t k = 0; k < N_AB_OPTIONS; k++) {
        ab_argv(&f, 0, (int)k, argv);
        char *g3[YN_HEADS];
        size_t l3[YN_HEADS];
        char *out3 = run_ok(&f, argv, YN_HEADS, g3, l3);
        for (int h = 0; h < YN_HEADS; h++)
            free(g3[h]);
        cr_assert(strcmp(out1, out3) != 0, "%s %s gives the cfg's result", ab_options[k][0],
                  ab_options[k][2]);
        free(out3);
    }
    free(out1);
    free(out2);
    teardown(&f);
}

Test(dncfg, yolo_flavour_chosen)
{
    /* a plain YOLOv3 cfg read as AlexeyAB's: its defaults, as the explicit
     * --flavour alexeyab gives them, and not pjreddie's result */
    files f = setup();
    write_text(f.cfg, yolo_cfg);
    const char *argv[] = {"loss",    "--darknet-cfg", f.cfg,       "--flavour", "alexeyab",
                          "--section", "4",           "--pred",    f.pred[1],   "--labels",
                          f.labels,  "--norm",        "sum",       "--json",    NULL};
    char *out1 = run_ok(&f, argv, 0, NULL, NULL);
    const char *argv2[] = {"loss",      "--layer",     "yolo",      "--pred",   f.pred[1],
                           "--mask",    "3,4,5",       "--anchors", yn_anchor_text,
                           "--net-size", "96x64",      "--classes", "4",
                           "--ignore-thresh", ".15",   "--truth-thresh", ".3",
                           "--flavour", "alexeyab",    "--labels",  f.labels,  "--norm",
                           "sum",       "--json",      NULL};
    char *out2 = run_ok(&f, argv2, 0, NULL, NULL);
    assert_same("stdout", out1, strlen(out1), out2, strlen(out2));
    argv[4] = "pjreddie";
    char *out3 = run_ok(&f, argv, 0, NULL, NULL);
    cr_assert(strcmp(out1, out3) != 0, "the flavour made no difference");
    const char *argv4[] = {"loss",    "--darknet-cfg", f.cfg,    "--section", "4",
                           "--pred",  f.pred[1],       "--labels", f.labels, "--norm",
                           "sum",     "--json",        NULL};
    char *out4 = run_ok(&f, argv4, 0, NULL, NULL);
    assert_same("stdout (no AlexeyAB option: pjreddie's)", out3, strlen(out3), out4,
                strlen(out4));
    free(out1);
    free(out2);
    free(out3);
    free(out4);
    teardown(&f);
}

Test(dncfg, region_alexeyab_same_as_options)
{
    files f = setup();
    char *t = malloc(strlen(region_cfg) + 64);
    strcpy(t, region_cfg);
    memcpy(strstr(t, "softmax=0"), "softmax=1", 9);
    strcat(t, "classfix=1\nfocal_loss=1\n");
    write_text(f.cfg, t);
    free(t);
    f.region_pred = tb_write_pred(f.dir, RL_LAYOUT_NCHW, 0);
    char *labels = tb_write_labels(f.dir);
    const char *argv[] = {"loss",     "--darknet-cfg", f.cfg,  "--section", "1",
                          "--pred",   f.region_pred,   "--labels", labels,  "--seen",
                          "200",      "--grad-out",    f.grad[0], "--json", NULL};
    char *g1, *g2;
    size_t l1, l2;
    char *out1 = run_ok(&f, argv, 1, &g1, &l1);
    const char *argv2[] = {"loss",        "--mode",     "darknet",   "--pred",
                           f.region_pred, "--labels",   labels,      "--anchors",
                           tb_anchor_text, "--seen",    "200",       "--lambda-coord",
                           "2",           "--lambda-class", "1.25",  "--lambda-obj",
                           "4",           "--lambda-noobj", "0.75",  "--thresh",
                           ".45",         "--no-rescore", "--flavour", "alexeyab",
                           "--classfix",  "1",          "--focal-loss", "1",
                           "--grad-out",  f.grad[0],    "--json",    NULL};
    char *out2 = run_ok(&f, argv2, 1, &g2, &l2);
    assert_same("stdout", out1, strlen(out1), out2, strlen(out2));
    assert_same("the gradient file", g1, l1, g2, l2);
    /* classfix and the focal loss each reach the library */
    for (int k = 0; k < 2; k++) {
        const char *saved = argv2[25 + 2 * k];
        argv2[25 + 2 * k] = "0";
        char *g3;
        size_t l3;
        char *out3 = run_ok(&f, argv2, 1, &g3, &l3);
        cr_assert(strcmp(out1, out3) != 0, "%s 0 gives the cfg's result", argv2[24 + 2 * k]);
        argv2[25 + 2 * k] = saved;
        free(out3);
        free(g3);
    }
    free(out1);
    free(out2);
    free(g1);
    free(g2);
    free(labels);
    teardown(&f);
}

/* ---- errors: the message, exit 2, and no output file ---- */

static void fails(const files *f, const char *const *argv, const char *want)
{
    const int before = dir_entries(f->dir);
    run_result r = run_tool(f->dir, argv);
    cr_assert_eq(r.status, 2, "exit %d, stderr:\n%s", r.status, r.err);
    cr_assert(strstr(r.err, want), "stderr lacks '%s':\n%s", want, r.err);
    cr_assert_eq(r.out[0], '\0', "stdout not empty:\n%s", r.out);
    run_free(&r);
    /* run_tool's own stdout/stderr files are all that may appear */
    cr_assert_leq(dir_entries(f->dir), before + 2, "an output file was written");
    for (int h = 0; h < YN_HEADS; h++)
        cr_assert(!file_exists(f->grad[h]), "%s was written", f->grad[h]);
}

static void bad_cfg(const char *text, const char *section, const char *want)
{
    files f = setup();
    write_text(f.cfg, text);
    char *golden = path_in(f.dir, "golden.json");
    const char *argv[] = {"golden", "--darknet-cfg", f.cfg,    "--section", section,
                          "--pred", f.pred[0],       "--labels", f.labels,  "--out",
                          golden,   "--grad-out",    f.grad[0], NULL};
    fails(&f, argv, want);
    cr_assert(!file_exists(golden), "the golden file was written");
    free(golden);
    teardown(&f);
}

/* yolo_cfg with one line replaced */
static char *edited(const char *from, const char *to)
{
    const char *at = strstr(yolo_cfg, from);
    cr_assert_not_null(at);
    size_t n = strlen(yolo_cfg) - strlen(from) + strlen(to) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%.*s%s%s", (int)(at - yolo_cfg), yolo_cfg, to, at + strlen(from));
    return s;
}

Test(dncfg_errors, cfg_contents)
{
    char *t = edited("mask = 6,7,8", "mask = 6,7,9");
    bad_cfg(t, "1", "net.cfg: line 11: mask = 6,7,9: 9 is not an anchor index: num = 9, so 0 "
                    "to 8");
    free(t);
    t = edited("ignore_thresh = .15\ntruth_thresh = .3\nrandom=1\n\n[route]",
               "ignore_thresh = .15\ntruth_thresh = .3\nscale_x_y = 0\n\n[route]");
    bad_cfg(t, "1", "net.cfg: line 18: scale_x_y = 0: not in (0, 1e+06]");
    free(t);
    t = edited("ignore_thresh = .15\ntruth_thresh = .3\nrandom=1\n\n[route]",
               "ignore_thresh = .15\ntruth_thresh = .3\niou_loss = CIoU\n\n[route]");
    bad_cfg(t, "1", "net.cfg: line 18: iou_loss = CIoU: not mse, iou, giou, diou or ciou");
    free(t);
    t = edited("ignore_thresh = .15\ntruth_thresh = .3\nrandom=1\n\n[route]",
               "ignore_thresh = .15\ntruth_thresh = .3\ncounters_per_class=1,2\n\n[route]");
    bad_cfg(t, "1", "net.cfg: line 18: counters_per_class = 1,2: 2 counts; classes = 4");
    free(t);
    t = edited("classes=4\nnum=9\njitter=.3\nignore_thresh = .15\ntruth_thresh = .3\nrandom=1\n"
               "\n[route]",
               "classes=4\nnum=9\njitter=.3\nignore_thresh = .15\ntruth_thresh = .3\nrandom=1\n"
               "anchor=3\n\n[route]");
    bad_cfg(t, "1", "line 19: anchor = 3: not an option of [yolo] that this library knows");
    free(t);
    t = edited("anchors = 3,4, 4,7,", "anchors = 3,4,");
    bad_cfg(t, "1", "line 12: anchors = 3,4, 8,5,");
    free(t);
    bad_cfg(yolo_cfg, "2", "net.cfg: line 20: section 2 is a [route] layer, not a [yolo] or "
                           "[region] one; the loss layers of this cfg: 1 [yolo], 4 [yolo], "
                           "6 [yolo]");
    bad_cfg(yolo_cfg, "7", "section 7: the cfg has 7 layers (0 to 6)");
    bad_cfg(yolo_cfg, "x", "--section x: not a layer index");
    bad_cfg(yolo_cfg, "-1", "--section -1: not a layer index");
    t = edited("[yolo]\nmask = 6,7,8", "[Gaussian_yolo]\nmask = 6,7,8");
    bad_cfg(t, "1", "line 10: section 1 is a [Gaussian_yolo] layer");
    free(t);
}

Test(dncfg_errors, missing_cfg_file)
{
    files f = setup();
    const char *argv[] = {"loss",   "--darknet-cfg", f.cfg,      "--section", "1", "--pred",
                          f.pred[0], "--labels",     f.labels,   "--grad-out", f.grad[0],
                          NULL};
    fails(&f, argv, "net.cfg");
    teardown(&f);
}

Test(dncfg_errors, options_given_twice)
{
    files f = setup();
    write_text(f.cfg, yolo_cfg);
    const char *given[][2] = {{"--anchors", "1,2"},   {"--mask", "0"},
                              {"--net-size", "96"},   {"--classes", "4"},
                              {"--ignore-thresh", ".5"}, {"--truth-thresh", "1"},
                              {"--layer", "yolo"}};
    for (size_t k = 0; k < sizeof given / sizeof given[0]; k++) {
        const char *argv[] = {"loss",     "--darknet-cfg", f.cfg,       "--section", "1",
                              "--pred",   f.pred[0],       "--labels",  f.labels,
                              given[k][0], given[k][1],    "--grad-out", f.grad[0], NULL};
        char want[128];
        snprintf(want, sizeof want, "%s: the", given[k][0]);
        fails(&f, argv, want);
    }
    write_text(f.cfg, region_cfg);
    const char *region_given[] = {"--mode darknet", "--thresh .5", "--lambda-obj 5",
                                  "--no-rescore", "--logistic-classes", "--anchors 1,1"};
    for (size_t k = 0; k < sizeof region_given / sizeof region_given[0]; k++) {
        char opt[64];
        snprintf(opt, sizeof opt, "%s", region_given[k]);
        char *value = strchr(opt, ' ');
        if (value)
            *value++ = '\0';
        const char *argv[] = {"loss",   "--darknet-cfg", f.cfg,    "--section", "1",
                              "--pred", f.pred[0],       "--labels", f.labels,  "--seen",
                              "1",      opt,             value,    NULL};
        char want[128];
        snprintf(want, sizeof want, "%s: the [region] section of --darknet-cfg sets it", opt);
        fails(&f, argv, want);
    }
    teardown(&f);
}

Test(dncfg_errors, sections_and_files)
{
    files f = setup();
    write_text(f.cfg, yolo_cfg);
    const char *no_section[] = {"loss",   "--darknet-cfg", f.cfg,    "--pred",
                                f.pred[0], "--labels",     f.labels, NULL};
    fails(&f, no_section, "--darknet-cfg needs --section N");
    const char *no_cfg[] = {"loss",   "--section", "1",      "--pred",   f.pred[0], "--labels",
                            f.labels, "--anchors", "1,2",    NULL};
    fails(&f, no_cfg, "--section applies only with --darknet-cfg");
    const char *two_for_one[] = {"loss",   "--darknet-cfg", f.cfg,    "--section", "1",
                                 "--section", "4",          "--pred", f.pred[0],   "--labels",
                                 f.labels, NULL};
    fails(&f, two_for_one, "2 --section for 1 --pred: one [yolo] section per head");
    const char *twice[] = {"loss",   "--darknet-cfg", f.cfg,     "--section", "1",
                           "--pred", f.pred[0],       "--section", "1",       "--pred",
                           f.pred[0], "--labels",     f.labels,  NULL};
    fails(&f, twice, "--section 1 given twice");
    /* head 0's file with section 4's mask is fine by shape (3 anchors, C = 4);
     * a [yolo] section whose classes differ from the file's is not */
    char *t = edited("classes=4\nnum=9\njitter=.3\nignore_thresh = .15\ntruth_thresh = .3\n"
                     "random=1\n\n[route]",
                     "classes=5\nnum=9\njitter=.3\nignore_thresh = .15\ntruth_thresh = .3\n"
                     "random=1\n\n[route]");
    write_text(f.cfg, t);
    free(t);
    const char *classes[] = {"loss",   "--darknet-cfg", f.cfg,    "--section",  "1",
                             "--pred", f.pred[0],       "--labels", f.labels, "--grad-out",
                             f.grad[0], NULL};
    fails(&f, classes, "(--classes)");
    /* heads of one call share the thresholds */
    t = edited("[yolo]\nmask = 3,4,5\nanchors = 3,4, 4,7, 8,5, 7,14, 14,10, 14,28, 27,21, "
               "36,46, 86,75\nclasses=4\nnum=9\njitter=.3\nignore_thresh = .15",
               "[yolo]\nmask = 3,4,5\nanchors = 3,4, 4,7, 8,5, 7,14, 14,10, 14,28, 27,21, "
               "36,46, 86,75\nclasses=4\nnum=9\njitter=.3\nignore_thresh = .6");
    write_text(f.cfg, t);
    free(t);
    const char *mixed[] = {"loss",    "--darknet-cfg", f.cfg,    "--section", "1", "--pred",
                           f.pred[0], "--section",     "4",      "--pred",    f.pred[1],
                           "--labels", f.labels,       "--grad-out", f.grad[0], "--grad-out",
                           f.grad[1], NULL};
    fails(&f, mixed, "section 4 has ignore_thresh = 0.6, section 1 (the first --section) "
                     "0.15: the heads of one call share it");
    teardown(&f);
}

/* The heads of one call are one plan: a cfg whose [yolo] sections differ in
 * an AlexeyAB option (yolov4.cfg's scale_x_y by layer), or in the flavour
 * they read as, is refused with the option named. */
Test(dncfg_errors, heads_of_one_plan)
{
    files f = setup();
    char *t = with_lines(yolo_cfg, "scale_x_y = 1.1\n");
    memcpy(strstr(t, "scale_x_y = 1.1"), "scale_x_y = 1.2", 15);
    write_text(f.cfg, t);
    free(t);
    const char *argv[] = {"loss",    "--darknet-cfg", f.cfg,    "--section", "1", "--pred",
                          f.pred[0], "--section",     "4",      "--pred",    f.pred[1],
                          "--labels", f.labels,       "--grad-out", f.grad[0], "--grad-out",
                          f.grad[1], NULL};
    fails(&f, argv, "net.cfg: section 4 has scale_x_y = 1.1, section 1 (the first --section) "
                    "1.2: the heads of one call share it; compute them in separate calls, one "
                    "plan per layer");
    /* one section per call is fine */
    const char *one[] = {"loss",   "--darknet-cfg", f.cfg,    "--section", "4",
                         "--pred", f.pred[1],       "--labels", f.labels, NULL};
    run_result r = run_tool(f.dir, one);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    t = with_lines(yolo_cfg, "counters_per_class=1,2,3,4\n");
    memcpy(strstr(t, "counters_per_class=1,2,3,4"), "counters_per_class=1,2,3,5", 26);
    write_text(f.cfg, t);
    free(t);
    fails(&f, argv, "section 4 has counters_per_class = a list, section 1 (the first "
                    "--section) another list");
    /* only the first head has an AlexeyAB option: two flavours */
    t = edited("truth_thresh = .3\nrandom=1\n\n[route]",
               "truth_thresh = .3\nrandom=1\nnms_kind=greedynms\n\n[route]");
    write_text(f.cfg, t);
    free(t);
    fails(&f, argv, "section 4 has flavour = pjreddie, section 1 (the first --section) "
                    "alexeyab: the heads of one call share it (a section with an AlexeyAB "
                    "option is AlexeyAB's; --flavour reads every section as one flavour)");
    /* which --flavour alexeyab settles */
    const char *chosen[] = {"loss",   "--darknet-cfg", f.cfg,    "--flavour", "alexeyab",
                            "--section", "1",          "--pred", f.pred[0],   "--section",
                            "4",      "--pred",        f.pred[1], "--labels", f.labels, NULL};
    r = run_tool(f.dir, chosen);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    teardown(&f);
}

Test(dncfg_errors, flavour_choice)
{
    files f = setup();
    char *t = with_lines(yolo_cfg, "iou_normalizer=0.5\nnms_kind=greedynms\n");
    write_text(f.cfg, t);
    free(t);
    const char *argv[] = {"loss",   "--darknet-cfg", f.cfg,    "--flavour", "pjreddie",
                          "--section", "1",          "--pred", f.pred[0],   "--labels",
                          f.labels, "--grad-out",    f.grad[0], NULL};
    fails(&f, argv, "net.cfg: line 19: iou_normalizer = 0.5: an option of AlexeyAB's [yolo] "
                    "layer, and the section is read as pjreddie's (flavour pjreddie was asked "
                    "for)");
    argv[4] = "AlexeyAB";
    fails(&f, argv, "--flavour: 'AlexeyAB' is not one of the accepted values (pjreddie, "
                    "alexeyab)");
    /* with AlexeyAB's flavour the cfg sets every option of it */
    const char *given[][2] = {{"--iou-loss", "giou"},      {"--iou-thresh-kind", "diou"},
                              {"--iou-normalizer", "1"},   {"--cls-normalizer", "1"},
                              {"--obj-normalizer", "1"},   {"--scale-x-y", "1"},
                              {"--iou-thresh", "1"},       {"--label-smooth-eps", "0"},
                              {"--max-delta", "1"},        {"--focal-loss", "0"},
                              {"--new-coords", "0"},       {"--objectness-smooth", "0"},
                              {"--show-details", "1"},     {"--max-boxes", "9"},
                              {"--counters-per-class", "1,1,1,1"}};
    for (size_t k = 0; k < sizeof given / sizeof given[0]; k++) {
        const char *argv2[] = {"loss",    "--darknet-cfg", f.cfg,       "--section", "1",
                               "--pred",  f.pred[0],       "--labels",  f.labels,
                               given[k][0], given[k][1],   "--grad-out", f.grad[0], NULL};
        char want[128];
        snprintf(want, sizeof want, "%s: the [yolo] section of --darknet-cfg sets it",
                 given[k][0]);
        fails(&f, argv2, want);
    }
    char *region = malloc(strlen(region_cfg) + 32);
    strcpy(region, region_cfg);
    strcat(region, "classfix=-1\n");
    write_text(f.cfg, region);
    free(region);
    const char *region_given[][2] = {{"--classfix", "0"}, {"--focal-loss", "0"}};
    for (size_t k = 0; k < 2; k++) {
        const char *argv3[] = {"loss",   "--darknet-cfg", f.cfg,    "--section", "1",
                               "--pred", f.pred[0],       "--labels", f.labels,  "--seen",
                               "1",      region_given[k][0], region_given[k][1], NULL};
        char want[128];
        snprintf(want, sizeof want, "%s: the [region] section of --darknet-cfg sets it",
                 region_given[k][0]);
        fails(&f, argv3, want);
    }
    teardown(&f);
}

Test(dncfg_errors, region_classes_against_file)
{
    files f = setup();
    char *t = malloc(strlen(region_cfg) + 1);
    strcpy(t, region_cfg);
    memcpy(strstr(t, "classes=3"), "classes=4", 9);
    write_text(f.cfg, t);
    free(t);
    f.region_pred = tb_write_pred(f.dir, RL_LAYOUT_NCHW, 0);
    char *labels = tb_write_labels(f.dir);
    const char *argv[] = {"loss",   "--darknet-cfg", f.cfg,     "--section", "1",
                          "--pred", f.region_pred,   "--labels", labels,     "--seen",
                          "1",      "--grad-out",    f.grad[0], NULL};
    fails(&f, argv, "pred.npy: 3 classes (B*(5+C) channels with B = 2 anchors), the [region] "
                    "section of --darknet-cfg has classes=4");
    const char *no_seen[] = {"loss",   "--darknet-cfg", f.cfg,    "--section", "1", "--pred",
                             f.region_pred, "--labels", labels,   NULL};
    fails(&f, no_seen, "a [region] section of --darknet-cfg (darknet mode) needs --seen S");
    free(labels);
    teardown(&f);
}
