/* Deterministic test batches for the sharding test: a non-square grid, truths
 * unevenly spread (images 2, 4, 6, 7 and 8 hold none), two truths on one
 * slot, a truth on the right border, and predictions planted on top of some
 * truths so that a few slots are neither obj nor noobj (N_conf below the slot
 * count).  Values come from a seeded generator, so every rank builds the same
 * batch. */
#include "shard_cases.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N_IMAGES = 9, GRID_H = 5, GRID_W = 7, N_ANCHORS = 3, N_CLASSES = 4 };

/* Truths per image; the partition below puts images 6..8 in the last shard. */
static const int truth_counts[N_IMAGES] = {3, 5, 0, 2, 0, 4, 0, 0, 0};

static const float anchor_table[2 * N_ANCHORS] = {0.8f, 1.2f, 2.0f, 1.5f, 3.5f, 3.0f};

typedef struct rng {
    uint64_t s;
} rng;

/* splitmix64: tiny, and the same sequence on every platform. */
static uint64_t next_u64(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(next_u64(r) >> 11) * 0x1.0p-53);
}

typedef struct case_desc {
    const char *name;
    rl_mode mode;
    rl_norm norm;
    rl_layout layout;
    rl_grad_mode grad_mode;
    int64_t seen;
    int32_t rescore, logistic_classes;
    int no_truths;
    int naive_differs;
} case_desc;

static const case_desc cases[] = {
    {"spec/counts/nchw", RL_MODE_SPEC, RL_NORM_COUNTS, RL_LAYOUT_NCHW, RL_GRAD_OVERWRITE, 0, 1,
     0, 0, 1},
    {"spec/images/nhwc/accumulate", RL_MODE_SPEC, RL_NORM_IMAGES, RL_LAYOUT_NHWC,
     RL_GRAD_ACCUMULATE, 0, 1, 0, 0, 1},
    {"spec/sum/nchw", RL_MODE_SPEC, RL_NORM_SUM, RL_LAYOUT_NCHW, RL_GRAD_OVERWRITE, 0, 1, 0, 0,
     0},
    {"spec/counts/no-truths", RL_MODE_SPEC, RL_NORM_COUNTS, RL_LAYOUT_NCHW, RL_GRAD_OVERWRITE,
     0, 1, 0, 1, 1},
    {"darknet/images/warmup", RL_MODE_DARKNET, RL_NORM_IMAGES, RL_LAYOUT_NCHW,
     RL_GRAD_OVERWRITE, 100, 1, 0, 0, 1},
    {"darknet/images/logistic-norescore", RL_MODE_DARKNET, RL_NORM_IMAGES, RL_LAYOUT_NCHW,
     RL_GRAD_ACCUMULATE, 20000, 0, 1, 0, 1},
    {"darknet/sum/warmup", RL_MODE_DARKNET, RL_NORM_SUM, RL_LAYOUT_NCHW, RL_GRAD_OVERWRITE, 100,
     1, 0, 0, 0},
};

int shard_case_count(void) { return (int)(sizeof cases / sizeof cases[0]); }

static int64_t offset_of(const rl_config *cfg, int64_t n, int64_t i, int64_t j, int64_t b,
                         int64_t k)
{
    const int64_t K = 5 + cfg->C, HW = (int64_t)cfg->H * cfg->W;
    if (cfg->layout == RL_LAYOUT_NCHW)
        return ((n * cfg->B + b) * K + k) * HW + i * cfg->W + j;
    return (((n * cfg->H + i) * cfg->W + j) * cfg->B + b) * K + k;
}

static float logit(double s) { return (float)log(s / (1.0 - s)); }

/* Every anchor of the truth's cell decodes to (nearly) the truth: the
 * responsible one gets a high IoU (recall counts), the others a best IoU
 * above thresh, so they are ignored rather than pushed to 0. */
static void plant_on_truth(shard_case *c, rng *r, int64_t n, const rl_box *t)
{
    const rl_config *cfg = &c->cfg;
    const double X = (double)t->cx * cfg->W, Y = (double)t->cy * cfg->H;
    const int64_t j = X >= cfg->W ? cfg->W - 1 : (int64_t)X;
    const int64_t i = Y >= cfg->H ? cfg->H - 1 : (int64_t)Y;
    double fx = fmin(fmax(X - (double)j, 0.05), 0.95), fy = fmin(fmax(Y - (double)i, 0.05), 0.95);
    for (int64_t b = 0; b < cfg->B; b++) {
        const double aw = cfg->anchors[2 * b], ah = cfg->anchors[2 * b + 1];
        c->pred[offset_of(cfg, n, i, j, b, 0)] = logit(fx);
        c->pred[offset_of(cfg, n, i, j, b, 1)] = logit(fy);
        c->pred[offset_of(cfg, n, i, j, b, 2)] =
            (float)(log((double)t->w * cfg->W / aw) + uniform(r, -0.1, 0.1));
        c->pred[offset_of(cfg, n, i, j, b, 3)] =
            (float)(log((double)t->h * cfg->H / ah) + uniform(r, -0.1, 0.1));
    }
}

static void fill_truths(shard_case *c, rng *r)
{
    int64_t t = 0;
    for (int32_t n = 0; n < c->n_images; n++) {
        c->offsets[n] = t;
        for (int k = 0; k < truth_counts[n]; k++, t++) {
            rl_box *b = &c->truths[t];
            b->cx = (float)uniform(r, 0.0, 1.0);
            b->cy = (float)uniform(r, 0.0, 1.0);
            b->w = (float)uniform(r, 0.05, 0.9);
            b->h = (float)uniform(r, 0.05, 0.9);
            b->cls = (int32_t)(next_u64(r) % (uint64_t)c->cfg.C);
        }
    }
    c->offsets[c->n_images] = t;
    /* A truth on the right border (cell clamped to W-1). */
    c->truths[0].cx = 1.0f;
    /* Image 1: its second truth is its first with another class, so it lands
     * on the same slot and replaces it (n_truths 5, n_obj 4 there). */
    c->truths[4] = c->truths[3];
    c->truths[4].cls = (c->truths[3].cls + 1) % c->cfg.C;
}

int shard_case_build(int k, shard_case *c)
{
    const case_desc *d = &cases[k];
    memset(c, 0, sizeof *c);
    c->name = d->name;
    rl_config *cfg = &c->cfg;
    if (d->mode == RL_MODE_DARKNET)
        rl_config_init_darknet(cfg);
    else
        rl_config_init(cfg);
    memcpy(c->anchors, anchor_table, sizeof anchor_table);
    cfg->H = GRID_H;
    cfg->W = GRID_W;
    cfg->B = N_ANCHORS;
    cfg->C = N_CLASSES;
    cfg->anchors = c->anchors;
    cfg->layout = d->layout;
    cfg->norm = d->norm;
    cfg->grad_mode = d->grad_mode;
    cfg->rescore = d->rescore;
    cfg->logistic_classes = d->logistic_classes;
    c->seen = d->seen;
    c->naive_differs = d->naive_differs;
    c->n_images = N_IMAGES;
    c->per_image = (int64_t)GRID_H * GRID_W * N_ANCHORS * (5 + N_CLASSES);

    int64_t n_truths = 0;
    for (int n = 0; n < N_IMAGES && !d->no_truths; n++)
        n_truths += truth_counts[n];
    c->pred = malloc((size_t)(N_IMAGES * c->per_image) * sizeof *c->pred);
    c->offsets = calloc(N_IMAGES + 1, sizeof *c->offsets);
    c->truths = n_truths ? malloc((size_t)n_truths * sizeof *c->truths) : NULL;
    if (!c->pred || !c->offsets || (n_truths && !c->truths)) {
        shard_case_free(c);
        return -1;
    }

    rng r = {0x5EED0000u + (uint64_t)k};
    for (int32_t n = 0; n < N_IMAGES; n++)
        for (int32_t i = 0; i < GRID_H; i++)
            for (int32_t j = 0; j < GRID_W; j++)
                for (int32_t b = 0; b < N_ANCHORS; b++)
                    for (int32_t e = 0; e < 5 + N_CLASSES; e++) {
                        /* Box logits moderate, objectness and classes wider. */
                        double span = e < 4 ? 1.5 : 4.0;
                        c->pred[offset_of(cfg, n, i, j, b, e)] = (float)uniform(&r, -span, span);
                    }
    if (n_truths) {
        fill_truths(c, &r);
        for (int32_t n = 0; n < N_IMAGES; n++)
            for (int64_t t = c->offsets[n]; t < c->offsets[n + 1]; t++)
                if (t % 2 == 0)
                    plant_on_truth(c, &r, n, &c->truths[t]);
    }
    return 0;
}

void shard_case_free(shard_case *c)
{
    free(c->pred);
    free(c->truths);
    free(c->offsets);
    c->pred = NULL;
    c->truths = NULL;
    c->offsets = NULL;
}

/* ---- the [yolo] heads ---------------------------------------------------- */

enum { YOLO_NET_W = 96, YOLO_NET_H = 64, YOLO_ANCHORS = 6 };
static const float yolo_anchor_px[2 * YOLO_ANCHORS] = {8, 10, 14, 24, 30, 18,
                                                       26, 44, 52, 40, 70, 58};
static const int32_t yolo_masks[YOLO_SHARD_HEADS][2] = {{4, 5}, {2, 3}, {0, 1}};

typedef struct yolo_desc {
    const char *name;
    rl_norm norm;
    rl_layout layout;
    rl_grad_mode grad_mode;
    double ignore_thresh, truth_thresh;
    int no_truths;
    int naive_differs;
} yolo_desc;

static const yolo_desc yolo_cases[] = {
    {"yolo/images/nchw", RL_NORM_IMAGES, RL_LAYOUT_NCHW, RL_GRAD_OVERWRITE, 0.7, 1.0, 0, 1},
    {"yolo/sum/nhwc/accumulate", RL_NORM_SUM, RL_LAYOUT_NHWC, RL_GRAD_ACCUMULATE, 0.7, 1.0, 0,
     0},
    {"yolo/images/truth_thresh", RL_NORM_IMAGES, RL_LAYOUT_NCHW, RL_GRAD_OVERWRITE, 0.5, 0.7, 0,
     1},
    {"yolo/images/no-truths", RL_NORM_IMAGES, RL_LAYOUT_NHWC, RL_GRAD_OVERWRITE, 0.7, 1.0, 1, 1},
};

int yolo_shard_case_count(void) { return (int)(sizeof yolo_cases / sizeof yolo_cases[0]); }

static int64_t yolo_offset(const yolo_shard_case *c, int h, int64_t n, int64_t i, int64_t j,
                           int64_t b, int64_t k)
{
    const int64_t K = 5 + c->cfg.C, H = c->heads[h].H, W = c->heads[h].W, B = c->heads[h].B;
    if (c->cfg.layout == RL_LAYOUT_NCHW)
        return ((n * B + b) * K + k) * H * W + i * W + j;
    return (((n * H + i) * W + j) * B + b) * K + k;
}

/* Every anchor of every head at the truth's cell decodes near the truth:
 * high IoUs for the recall counts, ignored slots, and (with a truth_thresh
 * below 1) positives of truth_thresh. */
static void yolo_plant(yolo_shard_case *c, rng *r, int64_t n, const rl_box *t)
{
    for (int h = 0; h < YOLO_SHARD_HEADS; h++) {
        const int32_t H = c->heads[h].H, W = c->heads[h].W;
        const double X = (double)t->cx * W, Y = (double)t->cy * H;
        const int64_t j = X >= W ? W - 1 : (int64_t)X, i = Y >= H ? H - 1 : (int64_t)Y;
        const double fx = fmin(fmax(X - (double)j, 0.05), 0.95);
        const double fy = fmin(fmax(Y - (double)i, 0.05), 0.95);
        for (int64_t b = 0; b < c->heads[h].B; b++) {
            const int32_t a = c->heads[h].mask[b];
            float *p = c->pred[h];
            p[yolo_offset(c, h, n, i, j, b, 0)] = (float)(logit(fx) + uniform(r, -0.2, 0.2));
            p[yolo_offset(c, h, n, i, j, b, 1)] = (float)(logit(fy) + uniform(r, -0.2, 0.2));
            p[yolo_offset(c, h, n, i, j, b, 2)] =
                (float)(log((double)t->w * YOLO_NET_W / yolo_anchor_px[2 * a]) +
                        uniform(r, -0.1, 0.1));
            p[yolo_offset(c, h, n, i, j, b, 3)] =
                (float)(log((double)t->h * YOLO_NET_H / yolo_anchor_px[2 * a + 1]) +
                        uniform(r, -0.1, 0.1));
        }
    }
}

int yolo_shard_case_build(int k, yolo_shard_case *c)
{
    const yolo_desc *d = &yolo_cases[k];
    memset(c, 0, sizeof *c);
    c->name = d->name;
    c->naive_differs = d->naive_differs;
    c->n_images = N_IMAGES;
    rl_yolo_config *cfg = &c->cfg;
    rl_yolo_config_init(cfg);
    for (int h = 0; h < YOLO_SHARD_HEADS; h++) {
        c->heads[h].H = (YOLO_NET_H / 32) << h;
        c->heads[h].W = (YOLO_NET_W / 32) << h;
        c->heads[h].B = 2;
        c->heads[h].mask = yolo_masks[h];
    }
    cfg->n_heads = YOLO_SHARD_HEADS;
    cfg->heads = c->heads;
    cfg->C = N_CLASSES;
    cfg->n_anchors = YOLO_ANCHORS;
    cfg->anchors = yolo_anchor_px;
    cfg->net_w = YOLO_NET_W;
    cfg->net_h = YOLO_NET_H;
    cfg->layout = d->layout;
    cfg->norm = d->norm;
    cfg->grad_mode = d->grad_mode;
    cfg->ignore_thresh = d->ignore_thresh;
    cfg->truth_thresh = d->truth_thresh;

    int64_t n_truths = 0;
    for (int n = 0; n < N_IMAGES && !d->no_truths; n++)
        n_truths += truth_counts[n];
    int ok = 1;
    for (int h = 0; h < YOLO_SHARD_HEADS; h++) {
        c->per_image[h] = (int64_t)c->heads[h].H * c->heads[h].W * c->heads[h].B * (5 + N_CLASSES);
        c->pred[h] = malloc((size_t)(N_IMAGES * c->per_image[h]) * sizeof(float));
        ok &= c->pred[h] != NULL;
    }
    c->offsets = calloc(N_IMAGES + 1, sizeof *c->offsets);
    c->truths = n_truths ? malloc((size_t)n_truths * sizeof *c->truths) : NULL;
    if (!ok || !c->offsets || (n_truths && !c->truths)) {
        yolo_shard_case_free(c);
        return -1;
    }
    rng r = {0x9010000u + (uint64_t)k};
    for (int h = 0; h < YOLO_SHARD_HEADS; h++)
        for (int64_t x = 0; x < N_IMAGES * c->per_image[h]; x++)
            c->pred[h][x] = (float)uniform(&r, -2.0, 2.0);
    if (n_truths) {
        /* the region cases' truths, drawn the same way (fill_truths reads
         * cfg.C only) */
        shard_case tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.cfg.C = N_CLASSES;
        tmp.n_images = N_IMAGES;
        tmp.truths = c->truths;
        tmp.offsets = c->offsets;
        fill_truths(&tmp, &r);
        for (int32_t n = 0; n < N_IMAGES; n++)
            for (int64_t t = c->offsets[n]; t < c->offsets[n + 1]; t++)
                if (t % 2 == 0)
                    yolo_plant(c, &r, n, &c->truths[t]);
    }
    return 0;
}

void yolo_shard_case_free(yolo_shard_case *c)
{
    for (int h = 0; h < YOLO_SHARD_HEADS; h++) {
        free(c->pred[h]);
        c->pred[h] = NULL;
    }
    free(c->truths);
    free(c->offsets);
    c->truths = NULL;
    c->offsets = NULL;
}

void shard_partition(int32_t n_images, int ranks, int rank, int32_t *lo, int32_t *hi)
{
    /* Boundaries for the 9-image batch: sizes 6+3, 1+5+3, 2+1+3+3.  The last
     * shard (images 6..8) never holds a truth, nor does image 2 alone. */
    static const int32_t cuts[5][5] = {
        {0}, {0, 9}, {0, 6, 9}, {0, 1, 6, 9}, {0, 2, 3, 6, 9}};
    if (n_images == N_IMAGES && ranks >= 1 && ranks <= 4) {
        *lo = cuts[ranks][rank];
        *hi = cuts[ranks][rank + 1];
        return;
    }
    /* Any other shape: as even as possible, the first shards one larger. */
    const int32_t base = n_images / ranks, extra = n_images % ranks;
    *lo = rank * base + (rank < extra ? rank : extra);
    *hi = *lo + base + (rank < extra ? 1 : 0);
}
