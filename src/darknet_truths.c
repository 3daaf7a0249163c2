/* Darknet's truth buffer (net.truth: boxes_per_image boxes of floats_per_box
 * floats per image, x, y, w, h, class first; an image's list ends at the
 * first box whose x is 0) to rl_box.  AlexeyAB's layers pass over a row of
 * a class they have no output for, each at its own point (rl_dn_rows,
 * internal.h): such a row is neither checked nor kept. */
#include <math.h>

#include "internal.h"

enum { ROW_END, ROW_PASS, ROW_KEEP };

/* What darknet does with row f.  It reads the class as (int)f[4], so a
 * class below 0 is f[4] <= -1. */
static int row_fate(const float *f, rl_dn_rows rows, int32_t n_classes)
{
    if (rows == RL_DN_ROWS_AB_REGION && f[4] >= (float)n_classes)
        return ROW_PASS; /* read before the end test */
    if (f[0] == 0.0f)
        return ROW_END;
    if (rows == RL_DN_ROWS_AB_YOLO && (f[4] >= (float)n_classes || f[4] <= -1.0f))
        return ROW_PASS;
    return ROW_KEEP;
}

rl_status rl_truths_from_darknet_rows(const float *buffer, int32_t n_images,
                                      int32_t boxes_per_image, int32_t floats_per_box,
                                      int32_t n_classes, rl_dn_rows rows, rl_box *out_truths,
                                      int64_t *out_offsets)
{
    if (!buffer || !out_truths || !out_offsets)
        return rl_fail(RL_ERR_NULL_POINTER, "%s is NULL",
                       !buffer ? "buffer" : !out_truths ? "out_truths" : "out_offsets");
    if (n_images <= 0 || boxes_per_image <= 0 || n_classes <= 0)
        return rl_fail(RL_ERR_BAD_SIZE,
                       "n_images = %d, boxes_per_image = %d, n_classes = %d: all must be positive",
                       (int)n_images, (int)boxes_per_image, (int)n_classes);
    if (floats_per_box < 5)
        return rl_fail(RL_ERR_BAD_SIZE, "floats_per_box = %d: a darknet truth has at least 5",
                       (int)floats_per_box);
    /* Check everything first: on failure nothing is written. */
    for (int32_t n = 0; n < n_images; n++)
        for (int32_t t = 0; t < boxes_per_image; t++) {
            const float *f = buffer + ((int64_t)n * boxes_per_image + t) * floats_per_box;
            const int fate = row_fate(f, rows, n_classes);
            if (fate == ROW_END)
                break;
            if (fate == ROW_PASS)
                continue;
            float c = f[4];
            if (!isfinite(c) || c != floorf(c) || c < 0 || c >= (float)n_classes)
                return rl_fail(RL_ERR_BAD_TRUTH,
                               "darknet truth %d of image %d: class %g is not an integer in [0, %d)",
                               (int)t, (int)n, (double)c, (int)n_classes);
        }
    int64_t k = 0;
    out_offsets[0] = 0;
    for (int32_t n = 0; n < n_images; n++) {
        for (int32_t t = 0; t < boxes_per_image; t++) {
            const float *f = buffer + ((int64_t)n * boxes_per_image + t) * floats_per_box;
            const int fate = row_fate(f, rows, n_classes);
            if (fate == ROW_END)
                break;
            if (fate == ROW_PASS)
                continue;
            out_truths[k].cx = f[0];
            out_truths[k].cy = f[1];
            out_truths[k].w = f[2];
            out_truths[k].h = f[3];
            out_truths[k].cls = (int32_t)f[4];
            k++;
        }
        out_offsets[n + 1] = k;
    }
    return RL_OK;
}

rl_status rl_truths_from_darknet(const float *buffer, int32_t n_images, int32_t boxes_per_image,
                                 int32_t n_classes, rl_box *out_truths, int64_t *out_offsets)
{
    rl_clear_error();
    return rl_truths_from_darknet_rows(buffer, n_images, boxes_per_image, 5, n_classes,
                                       RL_DN_ROWS_STRICT,
                                       out_truths, out_offsets);
}
