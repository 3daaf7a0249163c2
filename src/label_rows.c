/* Flat label rows (image, class, cx, cy, w, h: the CLI's label format and
 * what ultralytics-style loaders give) to rl_box truths ordered by image and
 * per-image offsets: what a binding would otherwise do in many passes. */
#include <math.h>

#include "internal.h"

/* v is an integer in [lo, hi): the range test first, so the cast is defined
 * (NaN fails every comparison). */
static int is_int_in(float v, double lo, double hi)
{
    return (double)v >= lo && (double)v < hi && v == (float)(int64_t)v;
}

rl_status rl_truths_from_rows(const float *rows, int64_t n_rows, int32_t n_images,
                              rl_box *out_truths, int64_t *out_offsets)
{
    rl_clear_error();
    if ((!rows && n_rows > 0) || (!out_truths && n_rows > 0) || !out_offsets)
        return rl_fail(RL_ERR_NULL_POINTER, "%s is NULL",
                       !out_offsets ? "out_offsets" : !rows ? "rows" : "out_truths");
    if (n_rows < 0 || n_images <= 0)
        return rl_fail(RL_ERR_BAD_SIZE, "n_rows = %lld, n_images = %d: n_rows >= 0 and "
                       "n_images > 0 expected", (long long)n_rows, (int)n_images);
    /* Check everything first: on failure nothing is written. */
    for (int64_t r = 0; r < n_rows; r++) {
        const float *f = rows + r * 6;
        if (!is_int_in(f[0], 0.0, (double)n_images))
            return rl_fail(RL_ERR_BAD_TRUTH,
                           "row %lld: image index %g is not an integer in [0, %d)",
                           (long long)r, (double)f[0], (int)n_images);
        if (!is_int_in(f[1], -2147483648.0, 2147483648.0))
            return rl_fail(RL_ERR_BAD_TRUTH, "row %lld: class %g is not an integer (int32)",
                           (long long)r, (double)f[1]);
    }
    /* A stable counting sort by image: counts, their prefix sums as each
     * image's cursor, then the cursors (each now its image's end) shifted. */
    for (int32_t k = 0; k <= n_images; k++)
        out_offsets[k] = 0;
    for (int64_t r = 0; r < n_rows; r++)
        out_offsets[(int32_t)rows[r * 6] + 1]++;
    for (int32_t k = 0; k < n_images; k++)
        out_offsets[k + 1] += out_offsets[k];
    for (int64_t r = 0; r < n_rows; r++) {
        const float *f = rows + r * 6;
        rl_box *b = out_truths + out_offsets[(int32_t)f[0]]++;
        b->cx = f[2];
        b->cy = f[3];
        b->w = f[4];
        b->h = f[5];
        b->cls = (int32_t)f[1];
    }
    for (int32_t k = n_images; k > 0; k--)
        out_offsets[k] = out_offsets[k - 1];
    out_offsets[0] = 0;
    return RL_OK;
}
