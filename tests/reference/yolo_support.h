/* Helpers of the [yolo] reference suites: plans pinned to the reference
 * variant, the anchor match of docs/loss.md written again (not the
 * library's rl_yolo_best_anchor / rl_yolo_match, nor the reference's), and a
 * seeded generator of small random multi-head batches whose predictions
 * are multiples of 2^-12 (so that t +- 2^-10 and t +- 2^-11 are exact in
 * float, as fd_common.h needs).  Header-only: each suite includes it once. */
#ifndef RL_TEST_YOLO_SUPPORT_H
#define RL_TEST_YOLO_SUPPORT_H

#include "support.h"

#include <stdio.h>
#include <stdlib.h>

#include "scalar/yolo_reference.h"

/* ---- plans ------------------------------------------------------------ */

/* A [yolo] plan on the reference variant; the test fails if creation fails. */
static inline rl_yolo_plan *yolo_ref_plan(const rl_yolo_config *cfg)
{
    rl_yolo_config c = *cfg;
    c.variant = "reference";
    rl_yolo_plan *plan = NULL;
    rl_status st = rl_yolo_plan_create(&c, &plan);
    cr_assert(st == RL_OK, "rl_yolo_plan_create: %s: %s", rl_status_name(st), rl_last_error());
    cr_assert_str_eq(rl_yolo_plan_variant(plan), "reference");
    return plan;
}

/* docs/loss.md's offsets for a head (H, W, B) of the config. */
static inline int64_t yolo_offset(const rl_yolo_config *cfg, int32_t h, int64_t n, int64_t i,
                                  int64_t j, int64_t b, int64_t k)
{
    const rl_yolo_head *hd = &cfg->heads[h];
    return spec_offset(cfg->layout, hd->H, hd->W, hd->B, cfg->C, n, i, j, b, k);
}

static inline size_t yolo_count(const rl_yolo_config *cfg, int32_t h, int32_t n_images)
{
    const rl_yolo_head *hd = &cfg->heads[h];
    return (size_t)n_images * hd->H * hd->W * hd->B * (5 + cfg->C);
}

/* docs/loss.md's "Positives" written again: the best anchor of the whole
 * list (pixels), ties to the smaller index; whether it is in head h's mask,
 * and the slot. */
static inline int yolo_spec_slot(const rl_yolo_config *cfg, int32_t h, const rl_box *t,
                                 int32_t *i, int32_t *j, int32_t *b)
{
    const double tw = (double)t->w * cfg->net_w, th = (double)t->h * cfg->net_h;
    int32_t best_a = 0;
    double best = -1.0;
    for (int32_t a = 0; a < cfg->n_anchors; a++) {
        const double aw = cfg->anchors[2 * a], ah = cfg->anchors[2 * a + 1];
        const double inter = fmin(tw, aw) * fmin(th, ah);
        const double iou = inter / (tw * th + aw * ah - inter);
        if (iou > best) {
            best = iou;
            best_a = a;
        }
    }
    const rl_yolo_head *hd = &cfg->heads[h];
    for (int32_t k = 0; k < hd->B; k++)
        if (hd->mask[k] == best_a) {
            const int32_t fj = (int32_t)floor((double)t->cx * hd->W);
            const int32_t fi = (int32_t)floor((double)t->cy * hd->H);
            *j = fj < hd->W - 1 ? fj : hd->W - 1;
            *i = fi < hd->H - 1 ? fi : hd->H - 1;
            *b = k;
            return 1;
        }
    return 0;
}

/* rl_yolo_reference_compute; the test fails unless RL_OK. */
static inline void yolo_ref_run(const rl_yolo_plan *plan, int32_t n_images,
                                const float *const *preds, const float *const *frozen,
                                const rl_box *truths, const int64_t *off,
                                const rl_counts *global_counts, rl_result *total,
                                rl_result *per_head, const rl_yolo_ref_out *out)
{
    rl_status st = rl_yolo_reference_compute(plan, n_images, preds, frozen, truths, off,
                                             global_counts, NULL, total, per_head, out);
    cr_assert(st == RL_OK, "rl_yolo_reference_compute: %s: %s", rl_status_name(st),
              rl_last_error());
}

/* ---- random small multi-head cases -------------------------------------- */

#define YC_MAX_HEADS 3
#define YC_MAX_B 3
#define YC_MAX_ANCHORS (YC_MAX_HEADS * YC_MAX_B + 2)
#define YC_MAX_N 3
#define YC_MAX_TRUTHS_PER_IMAGE 5

typedef struct ycase {
    uint64_t seed;
    rl_yolo_config cfg;
    rl_yolo_head heads[YC_MAX_HEADS];
    int32_t masks[YC_MAX_HEADS][YC_MAX_B];
    float anchors[2 * YC_MAX_ANCHORS];
    int32_t N;
    rl_box truths[YC_MAX_N * YC_MAX_TRUTHS_PER_IMAGE];
    int64_t off[YC_MAX_N + 1];
    size_t count[YC_MAX_HEADS];
    float *pred[YC_MAX_HEADS];
} ycase;

static inline float yc_grid_clamped(double v, double lim)
{
    v = v > lim ? lim : v < -lim ? -lim : v;
    return (float)(round(v * 4096.0) / 4096.0); /* a multiple of 2^-12 */
}

/* Slot (n, i, j, b) of head h gets a box near truth t: centre and size
 * within a few percent, on the 2^-12 grid. */
static inline void ycase_plant(ycase *yc, rng *r, int32_t h, int64_t n, int32_t i, int32_t j,
                               int32_t b, const rl_box *t)
{
    const rl_yolo_config *cfg = &yc->cfg;
    const rl_yolo_head *hd = &cfg->heads[h];
    const double sx = (double)t->cx * hd->W - j + 0.02 * (double)rng_int(r, -3, 3);
    const double sy = (double)t->cy * hd->H - i + 0.02 * (double)rng_int(r, -3, 3);
    const double cx = fmin(fmax(sx, 0.05), 0.95), cy = fmin(fmax(sy, 0.05), 0.95);
    const int32_t a = hd->mask[b];
    float *p = yc->pred[h];
    p[yolo_offset(cfg, h, n, i, j, b, 0)] = yc_grid_clamped(log(cx / (1 - cx)), 3.0);
    p[yolo_offset(cfg, h, n, i, j, b, 1)] = yc_grid_clamped(log(cy / (1 - cy)), 3.0);
    p[yolo_offset(cfg, h, n, i, j, b, 2)] = yc_grid_clamped(
        log((double)t->w * cfg->net_w / cfg->anchors[2 * a]) + 0.03 * (double)rng_int(r, -2, 2),
        3.0);
    p[yolo_offset(cfg, h, n, i, j, b, 3)] = yc_grid_clamped(
        log((double)t->h * cfg->net_h / cfg->anchors[2 * a + 1]) +
            0.03 * (double)rng_int(r, -2, 2),
        3.0);
}

/* A random case: 1 to 3 heads of 1..4 x 1..4 cells and 1..3 anchors each,
 * their masks a shuffled partition of an anchor list in pixels (with up to
 * two anchors no head holds), net 96..160 pixels, C 1..4, N 1..3 images of
 * 0..4 truths (centres sometimes on a cell border, 0 or 1; sometimes the
 * same box as the previous truth with another class: a multi-label slot),
 * predictions multiples of 2^-12 (box and class logits in [-2, 2], tw/th in
 * [-1, 1]), and for about half the truths a slot of a random head planted
 * near the truth's box (high IoUs: ignored slots and truth_thresh
 * positives).  ignore_thresh 0.3, 0.5 or 0.7; truth_thresh 1, 0.5 or 0.6. */
static inline void ycase_random(ycase *yc, uint64_t seed, rl_layout layout, rl_norm norm)
{
    memset(yc, 0, sizeof *yc);
    yc->seed = seed;
    rng r = {seed};
    rl_yolo_config *cfg = &yc->cfg;
    rl_yolo_config_init(cfg);
    cfg->layout = layout;
    cfg->norm = norm;
    cfg->n_heads = (int32_t)rng_int(&r, 1, YC_MAX_HEADS);
    int32_t total_b = 0;
    for (int32_t h = 0; h < cfg->n_heads; h++) {
        yc->heads[h].H = (int32_t)rng_int(&r, 1, 4);
        yc->heads[h].W = (int32_t)rng_int(&r, 1, 4);
        yc->heads[h].B = (int32_t)rng_int(&r, 1, YC_MAX_B);
        total_b += yc->heads[h].B;
    }
    cfg->n_anchors = total_b + (int32_t)rng_int(&r, 0, 2);
    cfg->net_w = (int32_t)rng_int(&r, 96, 160);
    cfg->net_h = (int32_t)rng_int(&r, 96, 160);
    for (int32_t a = 0; a < 2 * cfg->n_anchors; a++)
        yc->anchors[a] = (float)rng_int(&r, 6, 140);
    cfg->anchors = yc->anchors;
    int32_t perm[YC_MAX_ANCHORS];
    for (int32_t a = 0; a < cfg->n_anchors; a++)
        perm[a] = a;
    for (int32_t a = cfg->n_anchors - 1; a > 0; a--) {
        const int32_t o = (int32_t)rng_int(&r, 0, a), tmp = perm[a];
        perm[a] = perm[o];
        perm[o] = tmp;
    }
    for (int32_t h = 0, at = 0; h < cfg->n_heads; h++) {
        for (int32_t b = 0; b < yc->heads[h].B; b++)
            yc->masks[h][b] = perm[at++];
        yc->heads[h].mask = yc->masks[h];
    }
    cfg->heads = yc->heads;
    cfg->C = (int32_t)rng_int(&r, 1, 4);
    static const double ignores[3] = {0.3, 0.5, 0.7}, truths_t[3] = {1.0, 0.5, 0.6};
    cfg->ignore_thresh = ignores[rng_int(&r, 0, 2)];
    cfg->truth_thresh = truths_t[rng_int(&r, 0, 2)];

    yc->N = (int32_t)rng_int(&r, 1, YC_MAX_N);
    int64_t k = 0;
    for (int32_t n = 0; n < yc->N; n++) {
        const int64_t m = rng_int(&r, 0, YC_MAX_TRUTHS_PER_IMAGE - 1);
        for (int64_t t = 0; t < m; t++, k++) {
            rl_box *bx = &yc->truths[k];
            if (t > 0 && rng_int(&r, 0, 3) == 0) {
                *bx = yc->truths[k - 1]; /* the same slot: a multi-label target */
                bx->cls = (int32_t)rng_int(&r, 0, cfg->C - 1);
                continue;
            }
            const int32_t cells = yc->heads[rng_int(&r, 0, cfg->n_heads - 1)].W;
            bx->cx = rng_int(&r, 0, 3) == 0 ? (float)((double)rng_int(&r, 0, cells) / cells)
                                            : rng_grid(&r, 0.0, 1.0, 8);
            bx->cy = rng_int(&r, 0, 3) == 0 ? (float)rng_int(&r, 0, 1) : rng_grid(&r, 0.0, 1.0, 8);
            bx->w = rng_grid(&r, 1.0 / 64, 1.0, 8);
            bx->h = rng_grid(&r, 1.0 / 64, 1.0, 8);
            bx->cls = (int32_t)rng_int(&r, 0, cfg->C - 1);
        }
        yc->off[n + 1] = k;
    }
    for (int32_t h = 0; h < cfg->n_heads; h++) {
        yc->count[h] = yolo_count(cfg, h, yc->N);
        yc->pred[h] = malloc(yc->count[h] * sizeof(float));
        cr_assert(yc->pred[h]);
        for (size_t x = 0; x < yc->count[h]; x++) {
            const int64_t kk = cfg->layout == RL_LAYOUT_NHWC
                                   ? (int64_t)(x % (size_t)(5 + cfg->C))
                                   : (int64_t)(x / (size_t)(yc->heads[h].H * yc->heads[h].W) %
                                               (size_t)(5 + cfg->C));
            yc->pred[h][x] = kk == 2 || kk == 3 ? rng_grid(&r, -1.0, 1.0, 12)
                                                : rng_grid(&r, -2.0, 2.0, 12);
        }
    }
    for (int32_t n = 0; n < yc->N; n++)
        for (int64_t t = yc->off[n]; t < yc->off[n + 1]; t++) {
            if (rng_int(&r, 0, 1))
                continue;
            const int32_t h = (int32_t)rng_int(&r, 0, cfg->n_heads - 1);
            const rl_yolo_head *hd = &yc->heads[h];
            const int32_t fj = (int32_t)floor((double)yc->truths[t].cx * hd->W);
            const int32_t fi = (int32_t)floor((double)yc->truths[t].cy * hd->H);
            ycase_plant(yc, &r, h, n, fi < hd->H - 1 ? fi : hd->H - 1,
                        fj < hd->W - 1 ? fj : hd->W - 1, (int32_t)rng_int(&r, 0, hd->B - 1),
                        &yc->truths[t]);
        }
}

static inline void ycase_free(ycase *yc)
{
    for (int32_t h = 0; h < YC_MAX_HEADS; h++) {
        free(yc->pred[h]);
        yc->pred[h] = NULL;
    }
}

/* The public API accepts the case (the reference's preconditions hold). */
static inline void ycase_accepted(const rl_yolo_plan *plan, const ycase *yc, rl_result *total)
{
    const void *preds[YC_MAX_HEADS];
    for (int32_t h = 0; h < yc->cfg.n_heads; h++)
        preds[h] = yc->pred[h];
    rl_yolo_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.n_images = yc->N;
    batch.preds = preds;
    batch.truths = yc->off[yc->N] > 0 ? yc->truths : NULL;
    batch.truth_offsets = yc->off;
    rl_status st = rl_yolo_compute(plan, &batch, total, NULL, NULL);
    cr_assert(st == RL_OK, "seed %llu: rl_yolo_compute: %s: %s", (unsigned long long)yc->seed,
              rl_status_name(st), rl_last_error());
}

#endif
