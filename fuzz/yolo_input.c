/* The decoder of yolo_input.h.  The code bytes are loss_input.c's
 * (input_codes.h); the statuses the library may answer are written from
 * the contract of the [yolo] head in include/regionloss.h and docs/loss.md
 * ("The [yolo] head"), and the region loss's rules where the head shares them,
 * not from the library's code. */
#include "yolo_input.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "elem.h"
#include "input_codes.h"

static int32_t n_heads_code(uint8_t b)
{
    static const int32_t bad[8] = {0, -1, 17, INT32_MIN, 0, -3, 17, 100};
    static const int32_t more[8] = {4, 5, 6, 8, 16, 4, 16, 2};
    if (b < 0xF0)
        return 1 + b % 3;
    return b < 0xF8 ? bad[b & 7] : more[b & 7];
}

static int32_t net_code(fuzz_bytes *in)
{
    static const int32_t odd[16] = {1, 2, 3, 31, 33, 100, 415, 417,
                                    500, 609, 7, 13, 1000, 999, 65, 319};
    static const int32_t large[16] = {1024, 4096, 65536, 1 << 20, INT32_MAX, 416, 608, 1280,
                                      1 << 24, 1 << 30, 2, 1, 8192, 3000, 12345, 32};
    static const int32_t bad[8] = {0, -1, -32, INT32_MIN, -416, 0, -2, -65536};
    const uint8_t b = fb_u8(in);
    if (b < 0xC0)
        return 32 * (1 + b % 20);
    if (b < 0xE0)
        return odd[b & 15];
    if (b < 0xF0)
        return large[b & 15];
    if (b < 0xF8)
        return bad[b & 7];
    return (int32_t)fb_u32(in);
}

static int32_t mask_code(uint8_t m, int32_t A)
{
    if (m < 0xF0)
        return A > 0 ? m % A : m;
    /* A + 1 and 2A where they fit (A may be INT32_MIN) */
    const int32_t special[8] = {A,
                                -1,
                                INT32_MIN,
                                INT32_MAX,
                                A < INT32_MAX ? A + 1 : A,
                                -2,
                                A >= INT32_MIN / 2 && A <= INT32_MAX / 2 ? 2 * A : A,
                                255};
    return special[m & 7];
}

/* The common anchor codes (multiples of 0.25 up to 12, grid cells in the
 * region loss) become pixels of a network of a few hundred; extreme,
 * invalid and raw values are kept as they are. */
static float anchor_px(float v)
{
    if (v >= 0.25f && v <= 12.0f && v * 4 == floorf(v * 4))
        return v * 32;
    return v;
}

/* An anchor of `px` pixels on a grid of `cells` over `net` pixels: the
 * library holds it in float grid cells; one that leaves float's positive
 * range there may be refused as a bad anchor (either rounding of the
 * product). */
static bool grid_anchor_doubtful(float px, int32_t cells, int32_t net)
{
    const double v = (double)px * cells / net;
    return !((float)(v * (1 - 1e-9)) > 0) || isinf((float)(v * (1 + 1e-9)));
}

/* Channel k of entry e of a head's tensor. */
static int64_t channel_of(const rl_yolo_config *g, const rl_yolo_head *hd, size_t e)
{
    const int64_t K = 5 + (int64_t)g->C;
    if (g->layout == RL_LAYOUT_NHWC)
        return (int64_t)(e % (size_t)K);
    const int64_t HW = (int64_t)hd->H * hd->W;
    return (int64_t)((e / (size_t)HW) % (size_t)K);
}

void yolo_case_free(yolo_case *c)
{
    free(c->heads);
    free(c->masks);
    free(c->anchors);
    free(c->pred_ptrs);
    for (int h = 0; h < RL_YOLO_MAX_HEADS; h++) {
        free(c->pred_storage[h]);
        free(c->half_storage[h]);
        free(c->grad_init[h]);
    }
    free(c->truths);
    free(c->offsets);
    free(c->counters);
    memset(c, 0, sizeof *c);
}

static void expect_range(loss_expect *ce, const char *name, double v, double lo, double hi,
                         bool open_lo)
{
    if (!(open_lo ? v > lo : v >= lo) || !(v <= hi))
        loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT, "config: %s = %.17g", name, v);
}

/* Flavour alexeyab's options (yolo_input.h) and what the configuration
 * then must answer (include/regionloss.h's rl_yolo_config, docs/darknet.md). */
static void alexeyab_code(fuzz_bytes *in, yolo_case *c, loss_expect *ce)
{
    rl_yolo_config *cfg = &c->cfg;
    cfg->flavour = RL_YOLO_FLAVOUR_ALEXEYAB;
    const uint8_t kinds = fb_u8(in), sw = fb_u8(in), mb = fb_u8(in);
    const int hi = kinds >> 4;
    cfg->iou_thresh_kind = hi < 12 ? 1 + hi % 4 : (int32_t[]){0, 5, -1, 7}[hi & 3];
    cfg->iou_loss = (kinds & 15) % 6;
    cfg->focal_loss = (sw & 16) ? 2 : (sw & 1);
    cfg->new_coords = (sw >> 1) & 1;
    cfg->objectness_smooth = (sw >> 2) & 1;
    cfg->show_details = (sw & 8) ? 0 : 1;
    if (!(sw & 32))
        cfg->lambda_coord = cfg->lambda_class = cfg->lambda_obj = cfg->lambda_noobj = 1.0;
    if (!(sw & 64))
        cfg->box_loss = RL_BOX_MSE;
    cfg->max_boxes = mb < 0xF0 ? 1 + mb % 8 : (int32_t[]){200, 0, -1, INT32_MIN}[mb & 3];
    cfg->iou_normalizer = lambda_code(in);
    cfg->cls_normalizer = lambda_code(in);
    cfg->obj_normalizer = lambda_code(in);
    cfg->scale_x_y = lambda_code(in);
    cfg->max_delta = lambda_code(in);
    cfg->iou_thresh = thresh_code(in);
    cfg->label_smooth_eps = thresh_code(in);
    if ((sw & 128) && cfg->C > 0 && cfg->C <= 80) {
        c->counters = malloc((size_t)cfg->C * sizeof *c->counters);
        if (!c->counters)
            abort();
        for (int32_t k = 0; k < cfg->C; k++) {
            const uint8_t b = fb_u8(in);
            c->counters[k] = b < 0xF0 ? b : (int32_t[]){-1, 0, INT32_MAX, 100000}[b & 3];
            if (c->counters[k] < 0)
                loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT, "config: counters_per_class[%d] = %d",
                                 (int)k, (int)c->counters[k]);
        }
        cfg->counters_per_class = c->counters;
    }
    const double lambdas[4] = {cfg->lambda_coord, cfg->lambda_class, cfg->lambda_obj,
                               cfg->lambda_noobj};
    for (int k = 0; k < 4; k++)
        if (lambdas[k] != 1.0)
            loss_expect_fail(ce, RL_ERR_BAD_LAMBDA, "config: alexeyab with lambda %d = %.17g", k,
                             lambdas[k]);
    if (cfg->box_loss != RL_BOX_MSE)
        loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT, "config: alexeyab with box_loss %d",
                         (int)cfg->box_loss);
    if (cfg->iou_loss > RL_BOX_CIOU)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: iou_loss %d", (int)cfg->iou_loss);
    if (cfg->iou_thresh_kind < RL_BOX_IOU || cfg->iou_thresh_kind > RL_BOX_CIOU)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: iou_thresh_kind %d",
                         (int)cfg->iou_thresh_kind);
    if (cfg->focal_loss == 2)
        loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT, "config: focal_loss 2");
    if (cfg->max_boxes < 1)
        loss_expect_fail(ce, RL_ERR_BAD_SIZE, "config: max_boxes %d", (int)cfg->max_boxes);
    expect_range(ce, "iou_normalizer", cfg->iou_normalizer, 0, RL_LAMBDA_MAX, false);
    expect_range(ce, "cls_normalizer", cfg->cls_normalizer, 0, RL_LAMBDA_MAX, false);
    expect_range(ce, "obj_normalizer", cfg->obj_normalizer, 0, RL_LAMBDA_MAX, false);
    expect_range(ce, "scale_x_y", cfg->scale_x_y, 0, 1e6, true);
    expect_range(ce, "max_delta", cfg->max_delta, 0, INFINITY, true);
    expect_range(ce, "iou_thresh", cfg->iou_thresh, 0, 1, false);
    expect_range(ce, "label_smooth_eps", cfg->label_smooth_eps, 0, 1, false);
}

int yolo_decode(const uint8_t *data, size_t size, yolo_case *c, loss_expect *ce,
                loss_expect *be)
{
    fuzz_bytes in = {data, size, 0};
    memset(c, 0, sizeof *c);
    memset(ce, 0, sizeof *ce);
    memset(be, 0, sizeof *be);

    const uint8_t flags = fb_u8(&in), enums = fb_u8(&in), misc = fb_u8(&in),
                  more = fb_u8(&in);
    rl_yolo_config *cfg = &c->cfg;
    rl_yolo_config_init(cfg);
    cfg->layout = (flags & 2) ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW;
    cfg->grad_mode = (flags & 4) ? RL_GRAD_ACCUMULATE : RL_GRAD_OVERWRITE;
    c->null_per_head = flags & 8;
    c->null_last_grad = flags & 16;
    c->use_workspace = flags & 64;
    cfg->threads = (flags & 128) ? 2 : 1;
    static const rl_norm norms[4] = {RL_NORM_IMAGES, RL_NORM_SUM, RL_NORM_COUNTS, (rl_norm)7};
    cfg->norm = norms[enums & 3];
    const int enum_break = (enums >> 2) & 7, null_sel = (enums >> 5) & 7;
    if (enum_break == 5)
        cfg->layout = (rl_layout)2;
    else if (enum_break == 7)
        cfg->grad_mode = (rl_grad_mode)5;
    const int misc_sel = misc & 7, off_sel = (misc >> 3) & 7;
    if (misc_sel == 6)
        cfg->threads = (flags & 128) ? 100000 : 0;
    c->workspace_short = misc & 64;
    c->with_grad = !(misc & 128);
    c->misaligned = more & 1;
    static const int16_t pred_types[4] = {RL_DTYPE_F32, RL_DTYPE_BF16, RL_DTYPE_F16, 3};
    cfg->pred_dtype = pred_types[(more >> 2) & 3];
    cfg->grad_dtype = (more & 16) ? RL_DTYPE_F32 : cfg->pred_dtype;
    if (more & 32) /* neither float32 nor the predictions' type */
        cfg->grad_dtype = cfg->pred_dtype == RL_DTYPE_F16 ? RL_DTYPE_BF16 : RL_DTYPE_F16;
    c->null_total = null_sel == 7;

    const int32_t n_heads = n_heads_code(fb_u8(&in));
    cfg->n_heads = n_heads;
    const int32_t A = size_code(fb_u8(&in), 9, true);
    cfg->n_anchors = A;
    cfg->net_w = net_code(&in);
    cfg->net_h = net_code(&in);
    if (flags & 1)
        cfg->net_h = cfg->net_w;
    const uint8_t c_code = fb_u8(&in);
    cfg->C = c_code == 0xF8 ? 80 : size_code(c_code, 16, false);
    const uint8_t n_code = fb_u8(&in);
    const int32_t N = n_code < 0xF0 ? 1 + n_code % LOSS_MAX_N
                                    : (int32_t[]){0, -1, INT32_MIN, -7}[n_code & 3];
    cfg->lambda_coord = lambda_code(&in);
    cfg->lambda_class = lambda_code(&in);
    cfg->lambda_obj = lambda_code(&in);
    cfg->lambda_noobj = lambda_code(&in);
    cfg->ignore_thresh = thresh_code(&in);
    /* The truth_thresh byte also chooses the box loss: below 0xA0 its low
     * three bits (5 and 6: values that are no box loss), above, the kinds
     * in turn. */
    const uint8_t tt_code = fb_u8(&in);
    static const int32_t box_losses[8] = {RL_BOX_MSE,  RL_BOX_IOU, RL_BOX_GIOU, RL_BOX_DIOU,
                                          RL_BOX_CIOU, 5,          -1,          RL_BOX_CIOU};
    cfg->box_loss = tt_code < 0xA0 ? box_losses[tt_code & 7] : (tt_code - 0xA0) % 5;
    cfg->truth_thresh = tt_code < 0xA0 ? 1.0 : thresh_code(&in);
    const uint8_t g_obj = fb_u8(&in), g_noobj = fb_u8(&in), g_img = fb_u8(&in);
    const int64_t g_images =
        g_img < 0xF0 ? 1 + (int64_t)g_img : (int64_t[]){0, -1, INT64_MIN, -7}[g_img & 3];

    /* The heads: as many as n_heads says (the caller's array holds that
     * many, even when n_heads is invalid), the first 17 from the input. */
    const int32_t n_alloc = n_heads >= 1 ? n_heads : 1;
    c->n_heads_alloc = n_alloc;
    c->heads = calloc((size_t)n_alloc, sizeof *c->heads);
    if (!c->heads)
        abort();
    int64_t mask_total = 0;
    int32_t Bs[YOLO_DECODED_HEADS];
    uint8_t mask_bytes[YOLO_DECODED_HEADS][YOLO_MAX_B];
    for (int32_t h = 0; h < n_alloc; h++) {
        rl_yolo_head *hd = &c->heads[h];
        if (h < YOLO_DECODED_HEADS) {
            hd->H = size_code(fb_u8(&in), YOLO_MAX_GRID, false);
            hd->W = size_code(fb_u8(&in), YOLO_MAX_GRID, false);
            hd->B = size_code(fb_u8(&in), 4, true);
            Bs[h] = hd->B;
            for (int32_t b = 0; b < hd->B && b < YOLO_MAX_B; b++)
                mask_bytes[h][b] = fb_u8(&in);
        } else {
            hd->H = hd->W = hd->B = 1;
        }
        mask_total += hd->B > 0 ? hd->B : 1;
    }
    c->masks = malloc((size_t)mask_total * sizeof *c->masks);
    if (!c->masks)
        abort();
    int64_t at = 0;
    for (int32_t h = 0; h < n_alloc; h++) {
        rl_yolo_head *hd = &c->heads[h];
        int32_t *m = c->masks + at;
        for (int32_t b = 0; b < (hd->B > 0 ? hd->B : 1); b++)
            m[b] = h < YOLO_DECODED_HEADS && b < Bs[h] && b < YOLO_MAX_B
                       ? mask_code(mask_bytes[h][b], A)
                       : b; /* past the input's masks: distinct indices */
        hd->mask = m;
        at += hd->B > 0 ? hd->B : 1;
    }
    cfg->heads = c->heads;

    /* The anchor list, in pixels: the library reads 2*A values. */
    const int32_t A_alloc = A > 0 ? A : 1;
    c->anchors = malloc(2 * (size_t)A_alloc * sizeof *c->anchors);
    if (!c->anchors)
        abort();
    for (int32_t a = 0; a < 2 * A_alloc; a++)
        c->anchors[a] = a < 2 * 9 ? anchor_px(anchor_code(&in)) : 32.0f * (float)(1 + a % 7);
    cfg->anchors = c->anchors;

    if (enum_break == 4) {
        cfg->heads = NULL;
        loss_expect_fail(ce, RL_ERR_NULL_POINTER, "config: heads NULL");
    } else if (enum_break == 6) {
        c->heads[0].mask = NULL;
        loss_expect_fail(ce, RL_ERR_NULL_POINTER, "config: head 0's mask NULL");
    }
    if (null_sel == 5) {
        cfg->anchors = NULL;
        loss_expect_fail(ce, RL_ERR_NULL_POINTER, "config: anchors NULL");
    }

    /* --- what rl_yolo_plan_create must answer --------------------------- */
    bool sizes_ok = true, sizes_bounded = true;
    if (n_heads < 1 || n_heads > RL_YOLO_MAX_HEADS) {
        loss_expect_fail(ce, RL_ERR_BAD_SIZE, "config: n_heads = %d", (int)n_heads);
        sizes_ok = false;
    }
    if (A <= 0) {
        loss_expect_fail(ce, RL_ERR_BAD_SIZE, "config: n_anchors = %d", (int)A);
        sizes_ok = false;
    }
    if (cfg->net_w <= 0 || cfg->net_h <= 0) {
        loss_expect_fail(ce, RL_ERR_BAD_SIZE, "config: net %d x %d", (int)cfg->net_w,
                         (int)cfg->net_h);
        sizes_ok = false;
    }
    if (cfg->C <= 0 || cfg->C > RL_MAX_CLASSES) {
        loss_expect_fail(ce, RL_ERR_BAD_SIZE, "config: C = %d", (int)cfg->C);
        sizes_ok = false;
    } else if (cfg->C > YOLO_MAX_C) {
        sizes_bounded = false;
    }
    if (A > 0 && null_sel != 5)
        for (int32_t a = 0; a < 2 * A; a++)
            if (!anchor_ok(c->anchors[a])) {
                loss_expect_fail(ce, RL_ERR_BAD_ANCHOR, "config: anchor value %d = %.9g pixels",
                                 (int)a, (double)c->anchors[a]);
                break;
            }
    double entries = 0;
    for (int32_t h = 0; h < n_alloc; h++) {
        const rl_yolo_head *hd = &c->heads[h];
        const int32_t dims[3] = {hd->H, hd->W, hd->B};
        const int32_t bounds[3] = {YOLO_MAX_GRID, YOLO_MAX_GRID, YOLO_MAX_B};
        static const char *const names[3] = {"H", "W", "B"};
        for (int d = 0; d < 3; d++) {
            if (dims[d] <= 0) {
                loss_expect_fail(ce, RL_ERR_BAD_SIZE, "config: head %d: %s = %d", (int)h,
                                 names[d], (int)dims[d]);
                sizes_ok = false;
            } else if (dims[d] > bounds[d]) {
                sizes_bounded = false;
            }
        }
        if (hd->B <= 0 || !hd->mask)
            continue;
        for (int32_t b = 0; b < hd->B; b++) {
            const int32_t m = hd->mask[b];
            if (m < 0 || m >= A) {
                loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT, "config: head %d: mask[%d] = %d of %d anchors",
                                 (int)h, (int)b, (int)m, (int)A);
                continue;
            }
            for (int32_t e = 0; e < b; e++)
                if (hd->mask[e] == m) {
                    loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT,
                                     "config: head %d: mask[%d] = %d repeats mask[%d]", (int)h,
                                     (int)b, (int)m, (int)e);
                    break;
                }
            /* The anchor in this head's grid cells. */
            if (cfg->anchors && hd->H > 0 && hd->W > 0 && cfg->net_w > 0 && cfg->net_h > 0 &&
                anchor_ok(c->anchors[2 * m]) && anchor_ok(c->anchors[2 * m + 1]) &&
                (grid_anchor_doubtful(c->anchors[2 * m], hd->W, cfg->net_w) ||
                 grid_anchor_doubtful(c->anchors[2 * m + 1], hd->H, cfg->net_h)))
                expect_allow(ce, RL_ERR_BAD_ANCHOR);
        }
        if (hd->H > 0 && hd->W > 0 && hd->B > 0 && cfg->C > 0)
            entries += (double)hd->H * hd->W * hd->B * (5.0 + cfg->C);
    }
    if (sizes_ok && !sizes_bounded)
        expect_allow(ce, RL_ERR_BAD_SIZE); /* valid, but the product may overflow */
    if (!(cfg->ignore_thresh >= 0 && cfg->ignore_thresh <= 1))
        loss_expect_fail(ce, RL_ERR_BAD_THRESH, "config: ignore_thresh = %.17g",
                         cfg->ignore_thresh);
    if (!(cfg->truth_thresh >= 0 && cfg->truth_thresh <= 1))
        loss_expect_fail(ce, RL_ERR_BAD_THRESH, "config: truth_thresh = %.17g",
                         cfg->truth_thresh);
    if (cfg->box_loss < RL_BOX_MSE || cfg->box_loss > RL_BOX_CIOU)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: box_loss %d", (int)cfg->box_loss);
    if (cfg->norm != RL_NORM_SUM && cfg->norm != RL_NORM_IMAGES)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: norm %d", (int)cfg->norm);
    if (cfg->layout != RL_LAYOUT_NCHW && cfg->layout != RL_LAYOUT_NHWC)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: layout %d", (int)cfg->layout);
    if (cfg->grad_mode != RL_GRAD_OVERWRITE && cfg->grad_mode != RL_GRAD_ACCUMULATE)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: grad_mode %d", (int)cfg->grad_mode);
    const double lambdas[4] = {cfg->lambda_coord, cfg->lambda_class, cfg->lambda_obj,
                               cfg->lambda_noobj};
    for (int k = 0; k < 4; k++)
        if (!(lambdas[k] >= 0 && lambdas[k] <= RL_LAMBDA_MAX))
            loss_expect_fail(ce, RL_ERR_BAD_LAMBDA, "config: lambda %d = %.17g", k, lambdas[k]);
    if (cfg->pred_dtype != RL_DTYPE_F32 && cfg->pred_dtype != RL_DTYPE_BF16 &&
        cfg->pred_dtype != RL_DTYPE_F16)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: pred_dtype %d", (int)cfg->pred_dtype);
    else if (cfg->grad_dtype != RL_DTYPE_F32 && cfg->grad_dtype != cfg->pred_dtype)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: grad_dtype %d with pred_dtype %d",
                         (int)cfg->grad_dtype, (int)cfg->pred_dtype);
    if (cfg->threads < 1 || cfg->threads > 64 * 1024)
        loss_expect_fail(ce, RL_ERR_THREADS, "config: threads = %d", (int)cfg->threads);

    c->computable = sizes_ok && sizes_bounded && N <= LOSS_MAX_N &&
                    entries * (N > 0 ? N : 1) <= YOLO_MAX_ENTRIES;
    if (!c->computable || ce->must_fail) {
        c->computable = false;
        return 0; /* the batch is never used */
    }

    /* --- the batch ------------------------------------------------------ */
    const int32_t H = n_heads;
    c->n_images_alloc = N > 0 ? N : 1;
    c->batch.n_images = N;
    if (N <= 0)
        loss_expect_fail(be, RL_ERR_BAD_SIZE, "batch: n_images = %d", (int)N);
    const int32_t NA = c->n_images_alloc;
    c->offsets = calloc((size_t)NA + 1, sizeof *c->offsets);
    c->truths = malloc((size_t)NA * LOSS_MAX_TRUTHS_PER_IMAGE * sizeof *c->truths);
    if (!c->offsets || !c->truths)
        abort();
    int64_t T = 0;
    for (int32_t n = 0; n < NA; n++) {
        const int cnt = fb_u8(&in) % (LOSS_MAX_TRUTHS_PER_IMAGE + 1);
        for (int k = 0; k < cnt; k++) {
            rl_box *t = &c->truths[T];
            truth_code(&in, c->heads[0].H, c->heads[0].W, cfg->C, t);
            const char *bad = truth_problem(t, cfg->C);
            if (bad)
                loss_expect_fail(be, RL_ERR_BAD_TRUTH, "truth %d of image %d: %s", k, (int)n,
                                 bad);
            T++;
        }
        c->offsets[n + 1] = T;
    }
    c->n_truths = T;
    c->batch.truths = (T == 0 && (more & 2)) ? NULL : c->truths;
    c->batch.truth_offsets = c->offsets;
    if (off_sel == 5) {
        c->offsets[0] = 1;
        loss_expect_fail(be, RL_ERR_BAD_OFFSETS, "batch: truth_offsets[0] = 1");
    } else if (off_sel == 6) {
        c->offsets[1] = c->offsets[0] - 1;
        loss_expect_fail(be, RL_ERR_BAD_OFFSETS, "batch: truth_offsets[1] < truth_offsets[0]");
    }
    if (flags & 32) {
        c->global_counts.n_obj = g_obj;
        c->global_counts.n_noobj = g_noobj;
        c->global_counts.n_conf = (int64_t)g_obj + g_noobj + (off_sel == 7);
        c->global_counts.n_images = g_images;
        if (g_images <= 0) {
            /* Read with norm images; passed along with norm sum. */
            if (cfg->norm == RL_NORM_IMAGES)
                loss_expect_fail(be, RL_ERR_BAD_ARGUMENT, "batch: global n_images = %lld",
                                 (long long)g_images);
            else
                expect_allow(be, RL_ERR_BAD_ARGUMENT);
        }
        c->batch.global_counts = &c->global_counts;
    }

    /* Predictions: every head's tensor in turn, from one stream. */
    const uint8_t kind_byte = fb_u8(&in);
    const int kind = kind_byte & 3;
    if ((kind_byte >> 2) == 0x2A)
        alexeyab_code(&in, c, ce);
    size_t rest_len;
    const uint8_t *rest = fb_rest(&in, &rest_len);
    const int pt = cfg->pred_dtype, gt = cfg->grad_dtype;
    c->grad_elem = (size_t)rl_elem_size(gt);
    c->pred_ptrs = calloc((size_t)H, sizeof *c->pred_ptrs);
    if (!c->pred_ptrs)
        abort();
    bool nonfinite_read = false, nonfinite_other = false;
    size_t e0 = 0;
    for (int32_t h = 0; h < H; h++) {
        const rl_yolo_head *hd = &c->heads[h];
        const size_t count =
            (size_t)NA * (size_t)hd->H * (size_t)hd->W * (size_t)hd->B * (size_t)(5 + cfg->C);
        c->count[h] = count;
        c->pred_storage[h] = malloc((count + 1) * sizeof(float));
        c->grad_init[h] = malloc((count + 1) * c->grad_elem);
        if (!c->pred_storage[h] || !c->grad_init[h])
            abort();
        float *pred = c->pred_storage[h] + (c->misaligned ? 1 : 0);
        for (size_t e = 0; e < count; e++)
            pred[e] = pred_value(kind, rest, rest_len, e0 + e);
        e0 += count;
        uint16_t *half = NULL;
        if (pt == RL_DTYPE_BF16 || pt == RL_DTYPE_F16) {
            c->half_storage[h] = malloc((count + 1) * sizeof(uint16_t));
            if (!c->half_storage[h])
                abort();
            half = c->half_storage[h] + (c->misaligned ? 1 : 0);
            for (size_t e = 0; e < count; e++) {
                half[e] = pt == RL_DTYPE_BF16 ? rl_f32_to_bf16(pred[e]) : rl_f32_to_f16(pred[e]);
                pred[e] = rl_load(half, (int64_t)e, pt);
            }
        }
        for (size_t e = 0; e < count; e++)
            if (!isfinite(pred[e])) {
                if (channel_of(cfg, hd, e) < 5)
                    nonfinite_read = true;
                else
                    nonfinite_other = true;
            }
        c->pred_ptrs[h] = half ? (const void *)half : (const void *)pred;
        /* Accumulate start values: finite, varied, cheap. */
        for (size_t x = 0; x < count; x++)
            rl_store_f32(c->grad_init[h], (int64_t)x, gt,
                         (float)(((uint32_t)(x + (size_t)h) * 2654435761u) >> 24) / 64.0f - 2.0f);
    }
    if (nonfinite_read)
        loss_expect_fail(be, RL_ERR_NONFINITE_PRED,
                         "batch: a box or objectness entry of a head is not finite");
    else if (nonfinite_other)
        expect_allow(be, RL_ERR_NONFINITE_PRED); /* read only at positive slots */
    c->batch.preds = c->pred_ptrs;
    if (null_sel == 4) {
        c->batch.preds = NULL;
        loss_expect_fail(be, RL_ERR_NULL_POINTER, "batch: preds NULL");
    } else if (null_sel == 6) {
        c->pred_ptrs[H - 1] = NULL;
        loss_expect_fail(be, RL_ERR_NULL_POINTER, "batch: preds[%d] NULL", (int)(H - 1));
    }
    if (c->null_total)
        loss_expect_fail(be, RL_ERR_NULL_POINTER, "total NULL");
    return 0;
}

void yolo_case_print(FILE *f, const yolo_case *c)
{
    const rl_yolo_config *g = &c->cfg;
    fprintf(f,
            "yolo config: heads %d anchors %d net %d x %d C %d layout %d norm %d grad_mode %d "
            "threads %d dtypes %d/%d\n"
            "        lambdas coord %.17g class %.17g obj %.17g noobj %.17g\n"
            "        ignore_thresh %.17g truth_thresh %.17g box_loss %d\n",
            (int)g->n_heads, (int)g->n_anchors, (int)g->net_w, (int)g->net_h, (int)g->C,
            (int)g->layout, (int)g->norm, (int)g->grad_mode, (int)g->threads,
            (int)g->pred_dtype, (int)g->grad_dtype, g->lambda_coord, g->lambda_class,
            g->lambda_obj, g->lambda_noobj, g->ignore_thresh, g->truth_thresh, (int)g->box_loss);
    if (g->flavour == RL_YOLO_FLAVOUR_ALEXEYAB)
        fprintf(f,
                "        alexeyab: iou_loss %d iou_thresh_kind %d focal %d new_coords %d smooth %d "
                "max_boxes %d show_details %d\n"
                "        normalizers iou %.17g cls %.17g obj %.17g scale_x_y %.17g iou_thresh "
                "%.17g eps %.17g max_delta %.17g counters %s\n",
                (int)g->iou_loss, (int)g->iou_thresh_kind, (int)g->focal_loss,
                (int)g->new_coords, (int)g->objectness_smooth, (int)g->max_boxes,
                (int)g->show_details, g->iou_normalizer, g->cls_normalizer, g->obj_normalizer,
                g->scale_x_y, g->iou_thresh, g->label_smooth_eps, g->max_delta,
                g->counters_per_class ? "given" : "none");
    if (g->anchors && g->n_anchors > 0)
        for (int32_t a = 0; a < g->n_anchors && a < 9; a++)
            fprintf(f, "        anchor %d: %.9g x %.9g pixels\n", (int)a,
                    (double)g->anchors[2 * a], (double)g->anchors[2 * a + 1]);
    for (int32_t h = 0; h < c->n_heads_alloc && h < YOLO_DECODED_HEADS; h++) {
        const rl_yolo_head *hd = &c->heads[h];
        fprintf(f, "        head %d: %d x %d, B %d, mask", (int)h, (int)hd->H, (int)hd->W,
                (int)hd->B);
        if (!hd->mask)
            fprintf(f, " NULL");
        for (int32_t b = 0; hd->mask && b < hd->B && b < YOLO_MAX_B; b++)
            fprintf(f, " %d", (int)hd->mask[b]);
        fputc('\n', f);
    }
    if (!c->offsets)
        return;
    const rl_yolo_batch *bt = &c->batch;
    fprintf(f, "batch: n_images %d truths %lld global_counts %s workspace %s%s%s%s%s%s\n",
            (int)bt->n_images, (long long)c->n_truths, bt->global_counts ? "yes" : "no",
            c->use_workspace ? "yes" : "no", c->workspace_short ? " (short)" : "",
            c->misaligned ? " misaligned" : "", c->with_grad ? "" : " no-gradient",
            c->null_last_grad ? " last-head-no-gradient" : "",
            c->null_per_head ? " no-per-head" : "");
    for (int32_t n = 0; n < c->n_images_alloc; n++)
        for (int64_t t = c->offsets[n]; t < c->offsets[n + 1] && t >= 0; t++) {
            const rl_box *x = &c->truths[t];
            fprintf(f, "  image %d truth %lld: cx %.9g cy %.9g w %.9g h %.9g cls %d\n", (int)n,
                    (long long)(t - c->offsets[n]), (double)x->cx, (double)x->cy,
                    (double)x->w, (double)x->h, (int)x->cls);
        }
}
