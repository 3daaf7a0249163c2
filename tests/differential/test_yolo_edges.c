/* [yolo] cases random networks almost never make, through the yolo oracle
 * (every variant against the reference, both mask paths):
 *   - an IoU that rounds above 1 (two equal boxes 1e-12 of the image wide):
 *     the reference clamps it to 1, so at ignore_thresh 1 the slot is a
 *     negative and the diagnostics' IoU is 1, on every variant;
 *   - ignore_thresh 1 and 0 with truth_thresh 1, and truth_thresh 0 (every
 *     slot that overlaps a truth is a positive);
 *   - truths at cx = 1 and cy = 1, on the last cell. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "yolo_diffcheck.h"

static void check(const rl_yolo_config *cfg, const rl_yolo_batch *b, const char *what)
{
    rl_diffcheck_report rep;
    const int bad = rl_yolo_diffcheck(cfg, b, what, stdout, &rep);
    fflush(stdout);
    cr_assert_eq(bad, 0, "%s: %d of %d variants disagree (details above)", what, rep.mismatches,
                 rep.variants_checked);
    cr_assert_gt(rep.variants_checked, 0);
}

Test(yolo_edges, iou_rounded_above_one)
{
    /* docs: tests/reference/yolo_finite_inputs.c derives why this box pair
     * gives inter / union = 1.00012 in double */
    const int32_t M = (1 << 23) + 1792;
    const float w = ldexpf((float)M, -63), aw = w * 128;
    const float anchors[4] = {aw, aw, aw, aw};
    const int32_t mask[2] = {0, 1};
    const rl_yolo_head head = {3, 3, 2, mask};
    float pred[9 * 2 * 6];
    memset(pred, 0, sizeof pred);
    const rl_box truth = {0.5f, 0.5f, w, w, 0};
    const int64_t off[2] = {0, 1};
    const void *preds[1] = {pred};
    const rl_yolo_batch b = {1, preds, &truth, off, NULL, NULL, 0};
    const double ignores[3] = {1.0, 0.7, 0.0};
    for (int k = 0; k < 3; k++) {
        rl_yolo_config cfg;
        rl_yolo_config_init(&cfg);
        cfg.n_heads = 1;
        cfg.heads = &head;
        cfg.C = 1;
        cfg.n_anchors = 2;
        cfg.anchors = anchors;
        cfg.net_w = cfg.net_h = 128;
        cfg.ignore_thresh = ignores[k];
        char what[64];
        snprintf(what, sizeof what, "IoU above 1, ignore_thresh %g", ignores[k]);
        check(&cfg, &b, what);
    }
}

Test(yolo_edges, thresholds_at_their_ends_and_truths_on_the_last_cell)
{
    static const float anchors[12] = {10, 13, 33, 23, 62, 45, 116, 90, 156, 198, 373, 326};
    static const int32_t m0[3] = {3, 4, 5}, m1[3] = {0, 1, 2};
    const rl_yolo_head heads[2] = {{4, 4, 3, m0}, {8, 8, 3, m1}};
    enum { C = 3, N = 2 };
    static float p0[N * 4 * 4 * 3 * (5 + C)], p1[N * 8 * 8 * 3 * (5 + C)];
    uint32_t s = 12345;
    for (size_t x = 0; x < sizeof p0 / sizeof p0[0]; x++)
        p0[x] = ((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f * 4 - 2;
    for (size_t x = 0; x < sizeof p1 / sizeof p1[0]; x++)
        p1[x] = ((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f * 4 - 2;
    const rl_box truths[5] = {{1.0f, 1.0f, 0.3f, 0.4f, 0},  {1.0f, 0.25f, 0.05f, 0.1f, 1},
                              {0.5f, 1.0f, 0.9f, 0.8f, 2},  {0.125f, 0.375f, 0.25f, 0.25f, 1},
                              {0.125f, 0.375f, 0.25f, 0.25f, 2}};
    const int64_t off[N + 1] = {0, 3, 5};
    const void *preds[2] = {p0, p1};
    const rl_yolo_batch b = {N, preds, truths, off, NULL, NULL, 0};
    const double pairs[5][2] = {{1, 1}, {0, 1}, {0.7, 0}, {0.5, 0.5}, {1, 0.3}};
    for (int k = 0; k < 5; k++)
        for (int layout = 0; layout < 2; layout++) {
            rl_yolo_config cfg;
            rl_yolo_config_init(&cfg);
            cfg.n_heads = 2;
            cfg.heads = heads;
            cfg.C = C;
            cfg.n_anchors = 6;
            cfg.anchors = anchors;
            cfg.net_w = cfg.net_h = 256;
            cfg.layout = layout ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW;
            cfg.ignore_thresh = pairs[k][0];
            cfg.truth_thresh = pairs[k][1];
            char what[96];
            snprintf(what, sizeof what, "ignore_thresh %g truth_thresh %g %s", pairs[k][0],
                     pairs[k][1], layout ? "nhwc" : "nchw");
            check(&cfg, &b, what);
        }
}
