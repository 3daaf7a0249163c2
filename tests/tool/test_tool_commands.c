/* demo, variants, --help and --version. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support.h"

static int count_occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

Test(tool_commands, demo_runs_every_variant_on_the_bundled_sample)
{
    char *dir = scratch_dir();
    const char *argv[] = {"demo", NULL};
    run_result r = run_tool(dir, argv);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    /* The region example first, then the [yolo] one. */
    char *yolo = strstr(r.out, "\n[yolo] demo: ");
    cr_assert(yolo, "no [yolo] example:\n%s", r.out);
    *yolo++ = '\0';
    const char *region = r.out;
    /* The bundled batch: 4 images of 13x13 with the 5 yolo-voc anchors. */
    cr_expect(strstr(region, "4 images, 13x13 grid, 5 anchors, 20 classes"), "%s", region);
    int n_variants = 0;
    for (const char *const *v = rl_variant_list(); *v; v++, n_variants++) {
        char head[64];
        snprintf(head, sizeof head, "== %s: ", *v);
        cr_expect(strstr(region, head), "no section for variant %s:\n%s", *v, region);
        cr_expect(strstr(yolo, head), "no [yolo] section for variant %s:\n%s", *v, yolo);
    }
    cr_expect_eq(count_occurrences(region, "ms per call"), n_variants);
    cr_expect_eq(count_occurrences(region, "  coord "), n_variants);
    cr_expect_eq(count_occurrences(region, "  noobj "), n_variants);

    /* The three-head COCO network: every variant prints the total and its
     * three heads, and every one but the reference its distance from it. */
    cr_expect(strstr(yolo, "3 heads (13x13, 26x26, 52x52 at 416x416, masks 6,7,8 / 3,4,5 / "
                           "0,1,2), 2 images, 80 classes, 7 truths"),
              "%s", yolo);
    cr_expect_eq(count_occurrences(yolo, "ms per call with the gradient of every head"),
                 n_variants, "%s", yolo);
    cr_expect_eq(count_occurrences(yolo, "  noobj "), n_variants);
    cr_expect_eq(count_occurrences(yolo, ".5R: "), n_variants);
    cr_expect_eq(count_occurrences(yolo, "head 2     52x52, mask 0,1,2: loss "), n_variants);
    cr_expect_eq(count_occurrences(yolo, "vs reference: |loss - reference| = "), n_variants - 1,
                 "%s", yolo);
    cr_expect(!strstr(yolo, "unavailable"), "%s", yolo);
    run_free(&r);
    scratch_remove(dir);
}

Test(tool_commands, demo_data_option_and_darknet_mode)
{
    char *dir = scratch_dir();
    char *pred = tb_write_pred(dir, RL_LAYOUT_NCHW, 0);
    char *labels = tb_write_labels(dir);
    char *anchors = path_in(dir, "anchors.txt");
    write_text(anchors, "# test anchors\n1.0,1.5,\n2.5,2.0\n");
    const char *argv[] = {"demo", "--data", dir, "--mode", "darknet", "--seen", "3", NULL};
    run_result r = run_tool(dir, argv);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_expect(strstr(r.out, "3 images, 4x5 grid, 2 anchors, 3 classes, 5 truths; darknet mode"),
              "%s", r.out);
    cr_expect(strstr(r.out, "Avg IOU"), "%s", r.out);
    run_free(&r);

    /* Without the sample the demo says which file is missing. */
    char *empty = path_in(dir, "empty");
    cr_assert_eq(mkdir(empty, 0755), 0);
    const char *argv2[] = {"demo", "--data", empty, NULL};
    r = run_tool(dir, argv2);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "empty/anchors.txt: cannot open"), "%s", r.err);
    run_free(&r);
    free(empty);
    free(pred);
    free(labels);
    free(anchors);
    scratch_remove(dir);
}

Test(tool_commands, variants_lists_the_library_variants)
{
    char *dir = scratch_dir();
    const char *argv[] = {"variants", NULL};
    run_result r = run_tool(dir, argv);
    cr_assert_eq(r.status, 0, "%s", r.err);
    int lines = 0;
    for (const char *const *v = rl_variant_list(); *v; v++, lines++) {
        char line[64];
        snprintf(line, sizeof line, "%s", *v);
        cr_expect(strstr(r.out, line), "variant %s not listed:\n%s", *v, r.out);
    }
    cr_expect_eq(count_occurrences(r.out, "\n"), lines);
    cr_expect_eq(count_occurrences(r.out, "(auto)"), 1, "%s", r.out);
    run_free(&r);
    scratch_remove(dir);
}

Test(tool_commands, help_and_version)
{
    char *dir = scratch_dir();
    const char *help[] = {"--help", NULL};
    run_result r = run_tool(dir, help);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "usage: regionloss loss"));
    cr_expect(strstr(r.out, "--grad-out"));
    run_free(&r);
    const char *sub_help[] = {"check", "--help", NULL};
    r = run_tool(dir, sub_help);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "--rtol"));
    run_free(&r);
    const char *version[] = {"--version", NULL};
    r = run_tool(dir, version);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, RL_VERSION_STRING), "%s", r.out);
    run_free(&r);
    scratch_remove(dir);
}
