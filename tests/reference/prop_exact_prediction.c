/* A prediction that equals its truth has zero coordinate loss.  With all
 * four box logits 0 a slot decodes to (j + 1/2, i + 1/2, aw, ah) (docs/loss.md,
 * "Decoding"); a truth centred in that cell with the anchor's size,
 * cx = (j + 1/2)/W, cy = (i + 1/2)/H, w = aw/W, h = ah/H, is then the same
 * box.  The grid sizes and anchors below make all of these exact in float
 * (powers of two), so the residuals are exactly 0, not merely small:
 * coord = 0, the coordinate gradient is exactly 0, the IoU is exactly 1 and
 * the truth's own anchor is responsible (shape IoU 1).  Darknet's targets
 * (s(tx) = X - j = 1/2, tw = log(Wg/aw) = 0) are hit exactly as well. */
#include "support.h"

#define GH 2
#define GW 4
#define GB 2
#define GC 3
#define GK (5 + GC)
#define GN 2

static const float anchors[2 * GB] = {1.5f, 0.75f, 0.5f, 2.0f};

/* (image, i, j, b) of each truth; distinct slots */
static const int placed[4][4] = {{0, 0, 0, 0}, {0, 1, 3, 1}, {1, 0, 2, 1}, {1, 1, 1, 0}};
static const int64_t offsets[GN + 1] = {0, 2, 4};

static void build(rl_box truths[4], float *logical)
{
    for (int t = 0; t < 4; t++) {
        const int i = placed[t][1], j = placed[t][2], b = placed[t][3];
        truths[t] = (rl_box){(float)((j + 0.5) / GW), (float)((i + 0.5) / GH),
                             anchors[2 * b] / GW, anchors[2 * b + 1] / GH, t % GC};
    }
    /* Everything else arbitrary but on a coarse grid; then zero the box
     * logits of the responsible slots. */
    for (int x = 0; x < GN * GH * GW * GB * GK; x++)
        logical[x] = (float)((x * 37) % 29 - 14) / 8.0f;
    for (int t = 0; t < 4; t++)
        for (int k = 0; k < 4; k++)
            logical[spec_offset(RL_LAYOUT_NHWC, GH, GW, GB, GC, placed[t][0], placed[t][1],
                                placed[t][2], placed[t][3], k)] = 0.0f;
}

static void check(rl_config *cfg)
{
    cfg->H = GH, cfg->W = GW, cfg->B = GB, cfg->C = GC, cfg->anchors = anchors;
    rl_plan *plan = ref_plan(cfg);
    rl_box truths[4];
    enum { COUNT = GN * GH * GW * GB * GK };
    float logical[COUNT], pred[COUNT], grad[COUNT];
    build(truths, logical);
    to_layout(cfg, GN, logical, cfg->layout, pred);
    rl_batch batch = {.n_images = GN, .pred = pred, .truths = truths, .truth_offsets = offsets,
                      .seen = 1 << 20};
    rl_result r;
    compute_ok(plan, &batch, &r, grad);
    cr_assert_eq(r.n_obj, 4);
    cr_assert_eq(r.coord, 0.0, "coord = %.17g", r.coord);
    cr_assert_eq(r.sum_iou, 4.0, "sum of IoUs = %.17g", r.sum_iou);
    cr_assert_eq(r.avg_iou, 1.0);
    cr_assert_eq(r.recall75, 1.0);
    for (int t = 0; t < 4; t++)
        for (int k = 0; k < 4; k++) {
            const float g = grad[cfg_offset(cfg, placed[t][0], placed[t][1], placed[t][2],
                                            placed[t][3], k)];
            cr_assert(g == 0.0f, "truth %d entry %d: %a", t, k, (double)g);
        }
    /* Not vacuous: the objectness of those slots still has a gradient. */
    cr_assert(r.obj > 0.0);
    rl_plan_destroy(plan);
}

Test(prop_exact_prediction, spec_nchw)
{
    rl_config cfg;
    rl_config_init(&cfg);
    check(&cfg);
}

Test(prop_exact_prediction, spec_nhwc_sum)
{
    rl_config cfg;
    rl_config_init(&cfg);
    cfg.layout = RL_LAYOUT_NHWC;
    cfg.norm = RL_NORM_SUM;
    check(&cfg);
}

Test(prop_exact_prediction, darknet)
{
    rl_config cfg;
    rl_config_init_darknet(&cfg);
    check(&cfg);
    cfg.layout = RL_LAYOUT_NHWC;
    cfg.norm = RL_NORM_IMAGES;
    check(&cfg);
}
