/* Workloads sized like the YOLOv2 trainings people run (issue 7), with
 * inputs that look like a half-trained detector's: objectness mostly low,
 * box offsets and sizes of moderate magnitude, and about half of the
 * responsible predictions already near their truth, so that the IoUs, the
 * masks and therefore the branches taken are the ones training sees. */
#include "workloads.h"

#include <fnmatch.h>
#include <stdio.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Anchors in grid cells, as the published configs give them. */
static const float voc_anchors[10] = {1.3221f,  1.73145f, 3.19275f, 4.00944f, 5.05587f,
                                      8.09892f, 9.47112f, 4.84053f, 11.2364f, 10.0071f};
static const float coco_anchors[10] = {0.57273f, 0.677385f, 1.87446f, 2.06253f, 3.33843f,
                                       5.47434f, 7.88282f,  3.52778f, 9.77052f, 9.16828f};
/* The nine YOLOv3 pixel anchors over a stride of 8 (a 416 input, 52x52). */
static const float large_anchors[18] = {1.25f,  1.625f, 2.0f,   3.75f,   4.125f,  2.875f,
                                        3.75f,  7.625f, 7.75f,  5.625f,  7.375f,  14.875f,
                                        14.5f,  11.25f, 19.5f,  24.75f,  46.625f, 40.75f};
static const float yolo9000_anchors[6] = {0.77871f, 1.14074f, 3.00525f,
                                          4.31277f, 9.22725f, 9.61974f};
/* YOLOv3 (yolov3.cfg): the nine COCO anchors in pixels, masks 6,7,8 on the
 * stride-32 head, 3,4,5 on stride 16, 0,1,2 on stride 8. */
static const float yolov3_anchors[18] = {10, 13, 16, 30, 33, 23, 30, 61, 62, 45,
                                         59, 119, 116, 90, 156, 198, 373, 326};
static const int32_t yolov3_masks[9] = {6, 7, 8, 3, 4, 5, 0, 1, 2};
static const bench_yolo yolo416 = {416, 3, {13, 26, 52}, 3, yolov3_masks, 9, yolov3_anchors};
static const bench_yolo yolo608 = {608, 3, {19, 38, 76}, 3, yolov3_masks, 9, yolov3_anchors};

const bench_row bench_rows[] = {
    {"voc-2", "VOC 13x13 B5 C20, 2 truths", 64, 13, 13, 5, 20, 2, voc_anchors, 0, 0, NULL},
    {"voc-8", "VOC 13x13 B5 C20, 8 truths", 64, 13, 13, 5, 20, 8, voc_anchors, 0, 0, NULL},
    {"voc-30", "VOC 13x13 B5 C20, 30 truths", 64, 13, 13, 5, 20, 30, voc_anchors, 0, 0, NULL},
    {"coco13-8", "COCO 13x13 B5 C80, 8 truths", 64, 13, 13, 5, 80, 8, coco_anchors, 0, 0, NULL},
    {"coco13-30", "COCO 13x13 B5 C80, 30 truths", 64, 13, 13, 5, 80, 30, coco_anchors, 0, 0, NULL},
    {"coco19-8", "COCO 19x19 B5 C80, 8 truths", 64, 19, 19, 5, 80, 8, coco_anchors, 0, 0, NULL},
    {"coco19-30", "COCO 19x19 B5 C80, 30 truths", 64, 19, 19, 5, 80, 30, coco_anchors, 0, 0, NULL},
    {"large-100", "large 52x52 B9 C80, 100 truths", 16, 52, 52, 9, 80, 100, large_anchors, 0, 0,
     NULL},
    /* thresh 1/2: the dense mask path (the sparse one needs thresh > 1/2) */
    {"voc-8-t0.5", "VOC 13x13 B5 C20, 8 truths, thresh 0.5 (dense masks)", 64, 13, 13, 5, 20, 8,
     voc_anchors, 0.5, 0, NULL},
    {"coco13-8-t0.5", "COCO 13x13 B5 C80, 8 truths, thresh 0.5 (dense masks)", 64, 13, 13, 5, 80,
     8, coco_anchors, 0.5, 0, NULL},
    /* objects per image as the data sets have them: mean 2.4 (VOC), 7.3 (COCO) */
    {"voc-avg", "VOC 13x13 B5 C20, 1 to 30 truths, mean 2.4", 64, 13, 13, 5, 20, 30, voc_anchors,
     0, 2.4, NULL},
    {"coco13-avg", "COCO 13x13 B5 C80, 1 to 30 truths, mean 7.3", 64, 13, 13, 5, 80, 30,
     coco_anchors, 0, 7.3, NULL},
    {"coco19-avg", "COCO 19x19 B5 C80, 1 to 30 truths, mean 7.3", 64, 19, 19, 5, 80, 30,
     coco_anchors, 0, 7.3, NULL},
    {"c9418-8", "many classes 13x13 B3 C9418, 8 truths", 16, 13, 13, 3, 9418, 8,
     yolo9000_anchors, 0, 0, NULL},
    /* issue 22: darknet's [yolo] heads, batch 16, truth sizes like COCO's */
    {"yolo416-8", "YOLOv3 416: 13, 26, 52 B3 C80, 8 truths", 16, 0, 0, 3, 80, 8, NULL, 0, 0,
     &yolo416},
    {"yolo416-60", "YOLOv3 416: 13, 26, 52 B3 C80, 60 truths", 16, 0, 0, 3, 80, 60, NULL, 0, 0,
     &yolo416},
    {"yolo608-8", "YOLOv3 608: 19, 38, 76 B3 C80, 8 truths", 16, 0, 0, 3, 80, 8, NULL, 0, 0,
     &yolo608},
    {"yolo608-60", "YOLOv3 608: 19, 38, 76 B3 C80, 60 truths", 16, 0, 0, 3, 80, 60, NULL, 0, 0,
     &yolo608},
};
const int bench_n_rows = (int)(sizeof bench_rows / sizeof bench_rows[0]);

double bench_row_thresh(const bench_row *row)
{
    return row->thresh > 0 ? row->thresh : row->yolo ? 0.7 : 0.6;
}

void bench_row_config(const bench_row *row, int accumulate, rl_config *cfg)
{
    rl_config_init(cfg);
    cfg->H = row->H;
    cfg->W = row->W;
    cfg->B = row->B;
    cfg->C = row->C;
    cfg->anchors = row->anchors;
    cfg->thresh = bench_row_thresh(row);
    cfg->grad_mode = accumulate ? RL_GRAD_ACCUMULATE : RL_GRAD_OVERWRITE;
}

void bench_yolo_config(const bench_row *row, int accumulate, rl_yolo_config *cfg,
                       rl_yolo_head *heads)
{
    const bench_yolo *y = row->yolo;
    rl_yolo_config_init(cfg);
    for (int32_t h = 0; h < y->n_heads; h++)
        heads[h] = (rl_yolo_head){y->grid[h], y->grid[h], y->B, y->masks + h * y->B};
    cfg->n_heads = y->n_heads;
    cfg->heads = heads;
    cfg->C = row->C;
    cfg->n_anchors = y->n_anchors;
    cfg->anchors = y->anchors;
    cfg->net_w = cfg->net_h = y->net;
    cfg->ignore_thresh = bench_row_thresh(row);
    cfg->grad_mode = accumulate ? RL_GRAD_ACCUMULATE : RL_GRAD_OVERWRITE;
}

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next(rng *r)
{ /* splitmix64: the same stream on every machine */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unif(rng *r) { return (double)(next(r) >> 11) / 9007199254740992.0; }
static float between(rng *r, double lo, double hi) { return (float)(lo + (hi - lo) * unif(r)); }

static uint64_t name_seed(const char *s)
{ /* FNV-1a: each row its own stream, independent of the table's order */
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

float *bench_alloc_floats(size_t count)
{
    const size_t bytes = (count * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* Standard normal (Box-Muller on two uniforms). */
static double normal(rng *r)
{
    const double u = unif(r), v = unif(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

static float logit_of(double p)
{
    p = fmin(fmax(p, 0.02), 0.98);
    return (float)log(p / (1.0 - p));
}

/* A [yolo] row: every head NCHW, one after the other.  Predictions as the
 * region rows' (a half-trained detector: objectness mostly low), class
 * logits mostly negative (independent logistics).  Truths uniform over the
 * image, inside it, with COCO's spread of sizes: sqrt(w h) log-normal around
 * 7.5% of the image (sigma 1.2 in the log), which puts 41% of the boxes
 * under 32x32 pixels of a 640x480 image, 35% between that and 96x96 and
 * 24% above (COCO's small, medium and large: 41%, 34%, 24%); aspect ratio
 * w/h log-normal (sigma 0.6).  For half of the truths every anchor of every
 * head at the truth's cell has nearly learnt the box (so some slots land
 * above ignore_thresh, as in training). */
static int yolo_input_make(const bench_row *row, bench_input *in)
{
    const bench_yolo *y = row->yolo;
    rng r = {name_seed(row->name)};
    const int64_t K = 5 + (int64_t)row->C;
    in->n_heads = y->n_heads;
    in->head_off[0] = 0;
    for (int32_t h = 0; h < y->n_heads; h++)
        in->head_off[h + 1] = in->head_off[h] + (size_t)row->N * (size_t)y->B * (size_t)K *
                                                    (size_t)y->grid[h] * (size_t)y->grid[h];
    in->count = in->head_off[y->n_heads];
    in->offsets = malloc((size_t)(row->N + 1) * sizeof(int64_t));
    in->n_truths = (int64_t)row->N * row->truths;
    in->pred = bench_alloc_floats(in->count);
    in->truths = malloc((size_t)(in->n_truths ? in->n_truths : 1) * sizeof(rl_box));
    if (!in->offsets || !in->pred || !in->truths) {
        bench_input_free(in);
        return -1;
    }
    for (int32_t n = 0; n <= row->N; n++)
        in->offsets[n] = (int64_t)n * row->truths;

    for (int32_t h = 0; h < y->n_heads; h++) {
        const int64_t HW = (int64_t)y->grid[h] * y->grid[h];
        for (int64_t nb = 0; nb < (int64_t)row->N * y->B; nb++) {
            float *plane = in->pred + in->head_off[h] + nb * K * HW;
            for (int64_t q = 0; q < HW; q++) {
                plane[q] = between(&r, -2.0, 2.0);          /* tx */
                plane[HW + q] = between(&r, -2.0, 2.0);     /* ty */
                plane[2 * HW + q] = between(&r, -1.0, 1.0); /* tw */
                plane[3 * HW + q] = between(&r, -1.0, 1.0); /* th */
                plane[4 * HW + q] = between(&r, -7.0, 1.0); /* tc: mostly "no object" */
            }
            for (int64_t x = 5 * HW; x < K * HW; x++)
                plane[x] = between(&r, -6.0, 2.0);
        }
    }

    for (int64_t t = 0; t < in->n_truths; t++) {
        const int64_t n = t / row->truths;
        rl_box *bx = &in->truths[t];
        const double s = fmin(fmax(0.075 * exp(1.2 * normal(&r)), 0.005), 1.0);
        const double a = exp(0.6 * normal(&r));
        bx->w = (float)fmin(fmax(s * sqrt(a), 0.004), 1.0);
        bx->h = (float)fmin(fmax(s / sqrt(a), 0.004), 1.0);
        bx->cx = between(&r, bx->w / 2.0, 1.0 - bx->w / 2.0);
        bx->cy = between(&r, bx->h / 2.0, 1.0 - bx->h / 2.0);
        bx->cls = (int32_t)(next(&r) % (uint64_t)row->C);
        if (unif(&r) >= 0.5)
            continue;
        for (int32_t h = 0; h < y->n_heads; h++) { /* nearly learnt, at every head */
            const int32_t G = y->grid[h];
            const int64_t HW = (int64_t)G * G;
            const double X = (double)bx->cx * G, Y = (double)bx->cy * G;
            const int32_t j = (int32_t)fmin(floor(X), G - 1), i = (int32_t)fmin(floor(Y), G - 1);
            for (int32_t b = 0; b < y->B; b++) {
                const int32_t an = y->masks[h * y->B + b];
                float *sl =
                    in->pred + in->head_off[h] + ((n * y->B + b) * K * HW + (int64_t)i * G + j);
                sl[0] = logit_of(X - j + between(&r, -0.1, 0.1));
                sl[HW] = logit_of(Y - i + between(&r, -0.1, 0.1));
                sl[2 * HW] = (float)log((double)bx->w * y->net / y->anchors[2 * an]) +
                             between(&r, -0.2, 0.2);
                sl[3 * HW] = (float)log((double)bx->h * y->net / y->anchors[2 * an + 1]) +
                             between(&r, -0.2, 0.2);
                sl[4 * HW] = between(&r, -1.0, 3.0);
            }
        }
    }
    return 0;
}

int bench_input_make(const bench_row *row, bench_input *in)
{
    memset(in, 0, sizeof *in);
    if (row->yolo)
        return yolo_input_make(row, in);
    in->n_heads = 1;
    rng r = {name_seed(row->name)};
    const int64_t HW = (int64_t)row->H * row->W, K = 5 + (int64_t)row->C;
    in->count = (size_t)row->N * (size_t)row->B * (size_t)K * (size_t)HW;
    in->offsets = malloc((size_t)(row->N + 1) * sizeof(int64_t));
    if (!in->offsets)
        return -1;
    /* Truth counts first, from their own stream, so that the rows with a
     * fixed count keep the bytes they always had. */
    in->offsets[0] = 0;
    rng rc = {name_seed(row->name) ^ 0x5bd1e995u};
    for (int32_t n = 0; n < row->N; n++) {
        int32_t k = row->truths;
        if (row->mean > 0) { /* 1 + geometric: P(k) = p (1-p)^(k-1), mean 1/p */
            k = 1;
            while (k < row->truths && unif(&rc) >= 1.0 / row->mean)
                k++;
        }
        in->offsets[n + 1] = in->offsets[n] + k;
    }
    in->n_truths = in->offsets[row->N];
    in->head_off[1] = in->count;
    in->pred = bench_alloc_floats(in->count);
    in->truths = malloc((size_t)(in->n_truths ? in->n_truths : 1) * sizeof(rl_box));
    if (!in->pred || !in->truths) {
        bench_input_free(in);
        return -1;
    }

    for (int32_t n = 0; n < row->N; n++)
        for (int32_t b = 0; b < row->B; b++) {
            float *plane = in->pred + ((int64_t)n * row->B + b) * K * HW;
            for (int64_t q = 0; q < HW; q++) {
                plane[q] = between(&r, -2.0, 2.0);          /* tx */
                plane[HW + q] = between(&r, -2.0, 2.0);     /* ty */
                plane[2 * HW + q] = between(&r, -1.0, 1.0); /* tw */
                plane[3 * HW + q] = between(&r, -1.0, 1.0); /* th */
                plane[4 * HW + q] = between(&r, -7.0, 1.0); /* tc: mostly "no object" */
            }
            for (int64_t x = 5 * HW; x < K * HW; x++)
                plane[x] = between(&r, -4.0, 4.0);
        }

    /* Truths on a jittered grid (spread over the image, a few per region),
     * sizes log-uniform from 3% to 80% of the image. */
    for (int32_t n = 0; n < row->N; n++) {
        const int32_t nt = (int32_t)(in->offsets[n + 1] - in->offsets[n]);
        const int32_t g = (int32_t)ceil(sqrt((double)(nt ? nt : 1)));
        for (int32_t t = 0; t < nt; t++) {
            rl_box *bx = &in->truths[in->offsets[n] + t];
            const int32_t cell = (t + n) % (g * g);
            bx->cx = (float)(((cell % g) + unif(&r)) / g);
            bx->cy = (float)(((cell / g) + unif(&r)) / g);
            bx->w = (float)exp(log(0.03) + (log(0.8) - log(0.03)) * unif(&r));
            bx->h = (float)exp(log(0.03) + (log(0.8) - log(0.03)) * unif(&r));
            bx->cls = (int32_t)(next(&r) % (uint64_t)row->C);
            if (unif(&r) < 0.5) { /* this truth's slot has nearly learnt its box */
                const int32_t j = (int32_t)fmin(floor((double)bx->cx * row->W), row->W - 1);
                const int32_t i = (int32_t)fmin(floor((double)bx->cy * row->H), row->H - 1);
                for (int32_t b = 0; b < row->B; b++) {
                    float *s = in->pred + ((int64_t)n * row->B + b) * K * HW + (int64_t)i * row->W + j;
                    s[2 * HW] = (float)log((double)bx->w * row->W / row->anchors[2 * b]) +
                                between(&r, -0.2, 0.2);
                    s[3 * HW] = (float)log((double)bx->h * row->H / row->anchors[2 * b + 1]) +
                                between(&r, -0.2, 0.2);
                    s[4 * HW] = between(&r, -1.0, 3.0);
                }
            }
        }
    }
    return 0;
}

void bench_input_free(bench_input *in)
{
    free(in->pred);
    free(in->truths);
    free(in->offsets);
    memset(in, 0, sizeof *in);
}

int bench_row_matches(const bench_row *row, const char *filter)
{
    char list[512];
    snprintf(list, sizeof list, "%s", filter);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
        if (fnmatch(tok, row->name, 0) == 0)
            return 1;
    return 0;
}
