/* rl_truths_from_rows (issue 15): flat label rows image, class, cx, cy, w, h
 * in any image order to rl_box truths ordered by image, an image's rows in
 * their given order, and offsets; a row whose image or class is not an
 * integer in range is rejected and nothing is written. */
#include "support.h"

#include <math.h>
#include <stdio.h>

#define IMAGES 4
#define ROWS 6

/* images 2, 0, 2, 3, 0, 2; image 1 has none */
static const float GOOD[ROWS][6] = {
    {2, 5, 0.1f, 0.2f, 0.3f, 0.4f}, {0, 1, 0.5f, 0.5f, 0.5f, 0.5f},
    {2, 0, 0.9f, 0.8f, 0.7f, 0.6f}, {3, 7, 0.25f, 0.75f, 1.0f, 0.125f},
    {0, 19, 0.3f, 0.3f, 0.2f, 0.1f}, {2, 3, 0.6f, 0.4f, 0.05f, 0.95f},
};

Test(rows_truths, ordered_by_image_stable)
{
    rl_box out[ROWS + 2];
    int64_t off[IMAGES + 1];
    fill_guard(out, sizeof out, 0xEE);
    cr_assert_eq(rl_truths_from_rows(&GOOD[0][0], ROWS, IMAGES, out, off), RL_OK, "%s",
                 rl_last_error());
    const int64_t want_off[IMAGES + 1] = {0, 2, 2, 5, 6};
    for (int k = 0; k <= IMAGES; k++)
        cr_assert_eq(off[k], want_off[k], "offset %d", k);
    const int src[ROWS] = {1, 4, 0, 2, 5, 3};
    for (int t = 0; t < ROWS; t++) {
        const float *f = GOOD[src[t]];
        cr_assert(out[t].cx == f[2] && out[t].cy == f[3] && out[t].w == f[4] &&
                      out[t].h == f[5] && out[t].cls == (int32_t)f[1],
                  "box %d", t);
    }
    cr_assert(is_guard(out + ROWS, 2 * sizeof *out, 0xEE), "wrote past the boxes");
}

Test(rows_truths, no_rows)
{
    int64_t off[IMAGES + 1];
    fill_guard(off, sizeof off, 0xEE);
    cr_assert_eq(rl_truths_from_rows(NULL, 0, IMAGES, NULL, off), RL_OK, "%s", rl_last_error());
    for (int k = 0; k <= IMAGES; k++)
        cr_assert_eq(off[k], 0);
}

static void expect_rejected(int row, int col, float v, const char *frag)
{
    float rows[ROWS][6];
    memcpy(rows, GOOD, sizeof rows);
    rows[row][col] = v;
    rl_box out[ROWS];
    int64_t off[IMAGES + 1];
    fill_guard(out, sizeof out, 0xEE);
    fill_guard(off, sizeof off, 0xEE);
    cr_assert_eq(rl_truths_from_rows(&rows[0][0], ROWS, IMAGES, out, off), RL_ERR_BAD_TRUTH,
                 "row %d col %d = %g accepted", row, col, (double)v);
    cr_assert(strstr(rl_last_error(), frag), "message '%s' lacks '%s'", rl_last_error(), frag);
    cr_assert(is_guard(out, sizeof out, 0xEE) && is_guard(off, sizeof off, 0xEE),
              "wrote on a rejected input");
}

Test(rows_truths, bad_rows_write_nothing)
{
    expect_rejected(3, 0, 4.0f, "row 3: image index 4 is not an integer in [0, 4)");
    expect_rejected(0, 0, -1.0f, "row 0: image index -1");
    expect_rejected(5, 0, 1.5f, "row 5: image index 1.5");
    expect_rejected(2, 0, NAN, "row 2: image index nan");
    expect_rejected(2, 0, INFINITY, "row 2: image index inf");
    expect_rejected(1, 1, 0.5f, "row 1: class 0.5 is not an integer (int32)");
    expect_rejected(4, 1, 2147483648.0f, "row 4: class 2.14748e+09");
    expect_rejected(4, 1, -NAN, "row 4: class");
}

Test(rows_truths, class_range_is_int32)
{
    float rows[1][6] = {{0, -2147483648.0f, 0.5f, 0.5f, 0.5f, 0.5f}};
    rl_box out[1];
    int64_t off[2];
    cr_assert_eq(rl_truths_from_rows(&rows[0][0], 1, 1, out, off), RL_OK, "%s", rl_last_error());
    cr_assert_eq(out[0].cls, INT32_MIN);  /* in int32; [0, C) is rl_compute's check */
}

Test(rows_truths, bad_arguments)
{
    rl_box out[ROWS];
    int64_t off[IMAGES + 1];
    cr_assert_eq(rl_truths_from_rows(NULL, ROWS, IMAGES, out, off), RL_ERR_NULL_POINTER);
    cr_assert_eq(rl_truths_from_rows(&GOOD[0][0], ROWS, IMAGES, NULL, off),
                 RL_ERR_NULL_POINTER);
    cr_assert_eq(rl_truths_from_rows(&GOOD[0][0], ROWS, IMAGES, out, NULL),
                 RL_ERR_NULL_POINTER);
    cr_assert_eq(rl_truths_from_rows(&GOOD[0][0], -1, IMAGES, out, off), RL_ERR_BAD_SIZE);
    cr_assert_eq(rl_truths_from_rows(&GOOD[0][0], ROWS, 0, out, off), RL_ERR_BAD_SIZE);
}
