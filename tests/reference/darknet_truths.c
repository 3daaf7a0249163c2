/* rl_truths_from_darknet (issue 5 point 10): darknet's truth buffer of
 * boxes_per_image x {x, y, w, h, class} per image, each image's list ending
 * at the first box with x == 0; a class that is not an integer in [0, C) is
 * rejected and nothing is written. */
#include "support.h"

#include <math.h>
#include <stdio.h>

#define IMAGES 3
#define PER 4

/* image 0: two boxes, then the terminator, then a box that must be ignored
 *          (even its invalid class);
 * image 1: empty (terminator first);
 * image 2: full, no terminator. */
static void build(float buf[IMAGES * PER * 5])
{
    const float rows[IMAGES * PER][5] = {
        {0.5f, 0.25f, 0.125f, 0.75f, 2}, {0.75f, 0.5f, 1.0f, 0.5f, 0},
        {0.0f, 0.3f, 0.3f, 0.3f, 1},     {0.2f, 0.2f, 0.2f, 0.2f, 99},
        {0.0f, 0.0f, 0.0f, 0.0f, 0},     {0.1f, 0.1f, 0.1f, 0.1f, 1},
        {0.0f, 0.0f, 0.0f, 0.0f, 0},     {0.0f, 0.0f, 0.0f, 0.0f, 0},
        {0.1f, 0.2f, 0.3f, 0.4f, 0},     {0.5f, 0.6f, 0.7f, 0.8f, 1},
        {0.9f, 1.0f, 0.5f, 0.5f, 2},     {1.0f, 0.0f, 0.25f, 1.0f, 1},
    };
    memcpy(buf, rows, sizeof rows);
}

Test(darknet_truths, lists_end_at_x_zero)
{
    float buf[IMAGES * PER * 5];
    build(buf);
    rl_box out[IMAGES * PER];
    int64_t off[IMAGES + 1];
    fill_guard(out, sizeof out, 0xEE);
    cr_assert_eq(rl_truths_from_darknet(buf, IMAGES, PER, 3, out, off), RL_OK, "%s",
                 rl_last_error());
    cr_assert_eq(off[0], 0);
    cr_assert_eq(off[1], 2);
    cr_assert_eq(off[2], 2);
    cr_assert_eq(off[3], 6);
    const int src[6] = {0, 1, 8, 9, 10, 11};
    for (int t = 0; t < 6; t++) {
        const float *f = buf + src[t] * 5;
        cr_assert(out[t].cx == f[0] && out[t].cy == f[1] && out[t].w == f[2] &&
                      out[t].h == f[3] && out[t].cls == (int32_t)f[4],
                  "box %d", t);
    }
    cr_assert(is_guard(out + 6, sizeof out - 6 * sizeof *out, 0xEE),
              "wrote past the boxes it found");
}

static void expect_rejected(const float *buf, const char *frag)
{
    rl_box out[IMAGES * PER];
    int64_t off[IMAGES + 1];
    fill_guard(out, sizeof out, 0xEE);
    fill_guard(off, sizeof off, 0xEE);
    cr_assert_eq(rl_truths_from_darknet(buf, IMAGES, PER, 3, out, off), RL_ERR_BAD_TRUTH);
    cr_assert(strstr(rl_last_error(), frag), "message \"%s\" lacks \"%s\"", rl_last_error(),
              frag);
    cr_assert(is_guard(out, sizeof out, 0xEE), "boxes written on failure");
    cr_assert(is_guard(off, sizeof off, 0xEE), "offsets written on failure");
}

/* A bad class in the last image: everything before it would have been
 * converted already by a one-pass implementation. */
Test(darknet_truths, bad_class_rejected_nothing_written)
{
    const float bad[6] = {3.0f, -1.0f, 1.5f, NAN, INFINITY, 1e9f};
    for (int v = 0; v < 6; v++) {
        float buf[IMAGES * PER * 5];
        build(buf);
        buf[(2 * PER + 1) * 5 + 4] = bad[v];
        expect_rejected(buf, "truth 1 of image 2: class");
    }
}

Test(darknet_truths, null_and_sizes)
{
    float buf[IMAGES * PER * 5];
    build(buf);
    rl_box out[IMAGES * PER];
    int64_t off[IMAGES + 1];
    cr_assert_eq(rl_truths_from_darknet(NULL, IMAGES, PER, 3, out, off), RL_ERR_NULL_POINTER);
    cr_assert(strstr(rl_last_error(), "buffer"));
    cr_assert_eq(rl_truths_from_darknet(buf, IMAGES, PER, 3, NULL, off), RL_ERR_NULL_POINTER);
    cr_assert(strstr(rl_last_error(), "out_truths"));
    cr_assert_eq(rl_truths_from_darknet(buf, IMAGES, PER, 3, out, NULL), RL_ERR_NULL_POINTER);
    cr_assert(strstr(rl_last_error(), "out_offsets"));
    cr_assert_eq(rl_truths_from_darknet(buf, 0, PER, 3, out, off), RL_ERR_BAD_SIZE);
    cr_assert_eq(rl_truths_from_darknet(buf, IMAGES, 0, 3, out, off), RL_ERR_BAD_SIZE);
    cr_assert_eq(rl_truths_from_darknet(buf, IMAGES, PER, 0, out, off), RL_ERR_BAD_SIZE);
    cr_assert(strstr(rl_last_error(), "n_classes = 0"));
}

/* The converted truths feed rl_compute directly. */
Test(darknet_truths, output_is_a_valid_batch)
{
    float buf[IMAGES * PER * 5];
    build(buf);
    rl_box out[IMAGES * PER];
    int64_t off[IMAGES + 1];
    cr_assert_eq(rl_truths_from_darknet(buf, IMAGES, PER, 3, out, off), RL_OK);
    static const float anchors[2] = {1.0f, 1.0f};
    rl_config cfg;
    config_spec(&cfg, 2, 2, 1, 3, anchors, RL_LAYOUT_NCHW);
    rl_plan *plan = ref_plan(&cfg);
    float pred[IMAGES * 2 * 2 * 8] = {0};
    rl_batch batch = {.n_images = IMAGES, .pred = pred, .truths = out, .truth_offsets = off};
    rl_result r;
    compute_ok(plan, &batch, &r, NULL);
    cr_assert_eq(r.n_truths, 6);
    rl_plan_destroy(plan);
}
