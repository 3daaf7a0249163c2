/* Seeded random [yolo] networks and batches for the differential tests and
 * the fuzzer's seeds: one to three heads (a single head of a larger anchor
 * list too, as darknet calls its layers), masks in any order, anchors in
 * pixels with exact ties now and then, truths whose best anchor is another
 * head's, several truths on one slot, truths on cell borders and at
 * cx = 1 or cy = 1, boxes near the ignore and truth thresholds, every
 * layout, gradient mode and element type. */
#include "yolo_randcase.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elem.h"
#include "rng.h"

static int64_t offset_of(const rl_yolo_config *g, int32_t h, int64_t n, int32_t i, int32_t j,
                         int32_t b, int32_t k)
{
    const rl_yolo_head *hd = &g->heads[h];
    const int64_t K = 5 + g->C, HW = (int64_t)hd->H * hd->W;
    if (g->layout == RL_LAYOUT_NCHW)
        return ((n * hd->B + b) * K + k) * HW + (int64_t)i * hd->W + j;
    return (((n * hd->H + i) * hd->W + j) * hd->B + b) * K + k;
}

/* Flavour alexeyab's options, each of darknet's values and the cfgs' sets
 * (docs/darknet.md, "AlexeyAB's [yolo] layer"). */
static void alexeyab(rl_yolo_case *c, rng *r, int unaligned)
{
    static const double norms[4] = {0.75, 0.07, 1.0, 0.05};
    static const double sxy[4] = {1.0, 1.05, 1.2, 2.0};
    rl_yolo_config *g = &c->cfg;
    g->flavour = RL_YOLO_FLAVOUR_ALEXEYAB;
    g->lambda_coord = g->lambda_class = g->lambda_obj = g->lambda_noobj = 1.0;
    g->box_loss = RL_BOX_MSE;
    g->iou_loss = range(r, RL_BOX_MSE, RL_BOX_CIOU);
    g->iou_thresh_kind = range(r, RL_BOX_IOU, RL_BOX_CIOU);
    g->iou_normalizer = norms[range(r, 0, 3)];
    g->obj_normalizer = unif(r) < 0.7 ? 1.0 : 0.4 + 2 * unif(r);
    g->cls_normalizer = unif(r) < 0.5 ? 1.0 : 0.5;
    /* scale_x_y 1 with new_coords 0 lets the kernels decide negatives */
    g->scale_x_y = unif(r) < 0.5 ? 1.0 : sxy[range(r, 0, 3)];
    g->iou_thresh = unif(r) < 0.5 ? 1.0 : 0.1 + 0.5 * unif(r);
    g->label_smooth_eps = unif(r) < 0.7 ? 0.0 : 0.1;
    g->max_delta = unif(r) < 0.5 ? g->max_delta : 2.0 + 8 * unif(r);
    g->focal_loss = unif(r) < 0.2;
    g->new_coords = unif(r) < 0.2;
    g->objectness_smooth = unif(r) < 0.3;
    g->max_boxes = unif(r) < 0.2 ? range(r, 1, 4) : 200;
    g->show_details = unif(r) < 0.8;
    if (unif(r) < 0.3 && g->C <= 256) {
        if (unif(r) < 0.7) {
            for (int32_t k = 0; k < g->C; k++)
                c->counters[k] = range(r, 0, 50);
            g->counters_per_class = c->counters;
        } else { /* the multipliers as darknet's layer holds them */
            for (int32_t k = 0; k < g->C; k++)
                c->multipliers[k] = (float)(0.25 + 8 * unif(r));
            g->classes_multipliers = c->multipliers;
        }
    }
    if (g->new_coords) {
        /* the outputs are read as probabilities, and 4 t^2 as the size */
        for (int32_t h = 0; h < g->n_heads; h++) {
            for (size_t x = 0; x < c->pred_count[h]; x++)
                c->pred[h][x] = 1.0f / (1.0f + expf(-c->pred[h][x]));
            if (c->half_storage[h]) {
                uint16_t *hp = c->half_storage[h] + unaligned;
                for (size_t x = 0; x < c->pred_count[h]; x++)
                    hp[x] = g->pred_dtype == RL_DTYPE_BF16 ? rl_f32_to_bf16(c->pred[h][x])
                                                           : rl_f32_to_f16(c->pred[h][x]);
            }
        }
    }
}

void rl_yolo_case_make(rl_yolo_case *c, uint64_t seed, uint64_t index)
{
    memset(c, 0, sizeof *c);
    rng r = {seed * 0x100000001b3ull ^ (index + 1) * 0x7f4a7c159e3779b9ull};
    next(&r);
    rl_yolo_config *g = &c->cfg;
    rl_yolo_config_init(g);
    const double hu = unif(&r);
    const int32_t H = hu < 0.4 ? 1 : hu < 0.6 ? 2 : 3;
    /* anchors: each head's B of them, plus (single heads) the rest of a
     * network's list */
    int32_t A = 0;
    int32_t Bh[3];
    for (int32_t h = 0; h < H; h++)
        A += Bh[h] = range(&r, 1, 4);
    const int32_t extra = H == 1 && unif(&r) < 0.6 ? range(&r, 1, 6) : 0;
    A += extra;
    g->net_w = unif(&r) < 0.6 ? 32 * range(&r, 1, 20) : range(&r, 1, 700);
    g->net_h = unif(&r) < 0.5 ? g->net_w : 32 * range(&r, 1, 20);
    for (int32_t a = 0; a < A; a++) {
        c->anchors[2 * a] = (float)(1 + unif(&r) * 0.9 * g->net_w);
        c->anchors[2 * a + 1] = (float)(1 + unif(&r) * 0.9 * g->net_h);
    }
    if (A > 1 && unif(&r) < 0.1) { /* an exact tie between two anchors */
        c->anchors[2 * (A - 1)] = c->anchors[0];
        c->anchors[2 * (A - 1) + 1] = c->anchors[1];
    }
    /* masks: a shuffled list of the anchor indices, dealt out to the heads */
    int32_t perm[RL_YOLO_CASE_MAX_ANCHORS];
    for (int32_t a = 0; a < A; a++)
        perm[a] = a;
    for (int32_t a = A - 1; a > 0; a--) {
        const int32_t o = range(&r, 0, a), t = perm[a];
        perm[a] = perm[o];
        perm[o] = t;
    }
    int32_t at = 0;
    const int32_t base = unif(&r) < 0.9 ? range(&r, 1, 9) : range(&r, 10, 19);
    for (int32_t h = 0; h < H; h++) {
        rl_yolo_head *hd = &c->heads[h];
        hd->B = Bh[h];
        memcpy(c->masks[h], perm + at, (size_t)Bh[h] * sizeof(int32_t));
        hd->mask = c->masks[h];
        at += Bh[h];
        /* the heads' grids double, as in YOLOv3, or anything */
        hd->H = unif(&r) < 0.7 ? base << h : range(&r, 1, 13);
        hd->W = unif(&r) < 0.5 ? hd->H : range(&r, 1, 13) << (unif(&r) < 0.3 ? h : 0);
    }
    g->n_heads = H;
    g->heads = c->heads;
    g->n_anchors = A;
    g->anchors = c->anchors;
    const double cu = unif(&r);
    g->C = cu < 0.05 ? range(&r, 100, 200) : cu < 0.15 ? 80 : range(&r, 1, 30);
    g->layout = unif(&r) < 0.5 ? RL_LAYOUT_NCHW : RL_LAYOUT_NHWC;
    g->grad_mode = unif(&r) < 0.3 ? RL_GRAD_ACCUMULATE : RL_GRAD_OVERWRITE;
    g->norm = unif(&r) < 0.7 ? RL_NORM_IMAGES : RL_NORM_SUM;
    if (unif(&r) < 0.3) {
        g->lambda_coord = unif(&r) * 3;
        g->lambda_class = unif(&r) * 3;
        g->lambda_obj = unif(&r) * 6;
        g->lambda_noobj = unif(&r) * 2;
    }
    const double tu = unif(&r);
    /* 0.7 (darknet's), both sides of the sparse path's bound, the ends */
    g->ignore_thresh = tu < 0.5    ? 0.7
                       : tu < 0.55 ? 0.5
                       : tu < 0.6  ? 0.5000001
                       : tu < 0.65 ? 0.0
                       : tu < 0.7  ? 1.0
                                   : unif(&r);
    const double uu = unif(&r);
    g->truth_thresh = uu < 0.7    ? 1.0
                      : uu < 0.75 ? g->ignore_thresh
                      : uu < 0.8  ? 0.0
                                  : 0.3 + 0.7 * unif(&r);

    const int32_t N = range(&r, 1, 3);
    const int32_t K = 5 + g->C;
    const int unaligned = unif(&r) < 0.5;
    const int wide = unif(&r) < 0.5;
    for (int32_t h = 0; h < H; h++) {
        const size_t count = (size_t)N * c->heads[h].H * c->heads[h].W * c->heads[h].B * K;
        c->pred_storage[h] = malloc((count + 1) * sizeof(float));
        c->pred[h] = c->pred_storage[h] + unaligned;
        c->pred_count[h] = count;
        for (size_t x = 0; x < count; x++)
            c->pred[h][x] = logit(&r, wide);
    }

    c->offsets = malloc((size_t)(N + 1) * sizeof(int64_t));
    const int max_truths = unif(&r) < 0.2 ? 40 : 10;
    c->truths = malloc((size_t)N * (size_t)max_truths * sizeof(rl_box) + sizeof(rl_box));
    int64_t k = 0;
    c->offsets[0] = 0;
    for (int32_t n = 0; n < N; n++) {
        const int32_t nt = unif(&r) < 0.15 ? 0 : range(&r, 1, max_truths);
        for (int32_t t = 0; t < nt; t++) {
            rl_box *bx = &c->truths[k];
            const double u = unif(&r);
            if (u < 0.12 && t > 0) { /* the previous truth's slot: a second class */
                *bx = c->truths[k - 1];
                bx->cls = range(&r, 0, g->C - 1);
            } else {
                bx->cx = (float)unif(&r);
                bx->cy = (float)unif(&r);
                const rl_yolo_head *hd = &c->heads[range(&r, 0, H - 1)];
                if (u < 0.25) /* on a cell border of some head, or the image's edge */
                    bx->cx = (float)range(&r, 0, hd->W) / (float)hd->W;
                if (u > 0.15 && u < 0.3)
                    bx->cy = (float)range(&r, 0, hd->H) / (float)hd->H;
                bx->w = (float)(0.01 + 0.99 * unif(&r) * unif(&r));
                bx->h = (float)(0.01 + 0.99 * unif(&r) * unif(&r));
                if (u > 0.95)
                    bx->w = 1.0f;
                bx->cls = range(&r, 0, g->C - 1);
            }
            k++;
        }
        c->offsets[n + 1] = k;
    }
    /* Predictions near the truths at their cells in every head, so that
     * IoUs cover (0, 1) and reach both thresholds. */
    if (unif(&r) < 0.8)
        for (int32_t n = 0; n < N; n++)
            for (int64_t t = c->offsets[n]; t < c->offsets[n + 1]; t++) {
                const rl_box *bx = &c->truths[t];
                for (int32_t h = 0; h < H; h++) {
                    if (unif(&r) < 0.3)
                        continue;
                    const rl_yolo_head *hd = &c->heads[h];
                    const int32_t j = (int32_t)fmin(floor((double)bx->cx * hd->W), hd->W - 1);
                    const int32_t i = (int32_t)fmin(floor((double)bx->cy * hd->H), hd->H - 1);
                    const double sp = unif(&r) < 0.5 ? 0.4 : 0.05;
                    for (int32_t b = 0; b < hd->B; b++) {
                        const double aw = c->anchors[2 * hd->mask[b]];
                        const double ah = c->anchors[2 * hd->mask[b] + 1];
                        float *p = c->pred[h];
                        p[offset_of(g, h, n, i, j, b, 2)] =
                            (float)(log((double)bx->w * g->net_w / aw) + (unif(&r) - 0.5) * sp);
                        p[offset_of(g, h, n, i, j, b, 3)] =
                            (float)(log((double)bx->h * g->net_h / ah) + (unif(&r) - 0.5) * sp);
                        /* the centre: s(tx) = X - j, kept inside (0, 1) */
                        const double X = fmin(fmax((double)bx->cx * hd->W - j, 0.02), 0.98);
                        const double Y = fmin(fmax((double)bx->cy * hd->H - i, 0.02), 0.98);
                        p[offset_of(g, h, n, i, j, b, 0)] =
                            (float)(log(X / (1 - X)) + (unif(&r) - 0.5) * sp);
                        p[offset_of(g, h, n, i, j, b, 1)] =
                            (float)(log(Y / (1 - Y)) + (unif(&r) - 0.5) * sp);
                    }
                }
            }
    c->batch.n_images = N;
    c->batch.preds = (const void *const *)c->pred_ptrs;
    for (int32_t h = 0; h < H; h++)
        c->pred_ptrs[h] = c->pred[h];
    c->batch.truths = k ? c->truths : NULL;
    c->batch.truth_offsets = c->offsets;
    if (g->norm == RL_NORM_IMAGES && unif(&r) < 0.1) { /* a shard of a larger batch */
        c->global.n_images = N + range(&r, 0, 5);
        c->batch.global_counts = &c->global;
    }
    /* A third in half precision, drawn last: the same values rounded. */
    const double du = unif(&r);
    if (du < 1.0 / 3) {
        const int type = du < 1.0 / 6 ? RL_DTYPE_BF16 : RL_DTYPE_F16;
        g->pred_dtype = (int16_t)type;
        g->grad_dtype = (int16_t)(unif(&r) < 0.5 ? type : RL_DTYPE_F32);
        for (int32_t h = 0; h < H; h++) {
            const size_t count = c->pred_count[h];
            c->half_storage[h] = malloc((count + 1) * sizeof(uint16_t));
            uint16_t *hp = c->half_storage[h] + unaligned;
            for (size_t x = 0; x < count; x++)
                hp[x] = type == RL_DTYPE_BF16 ? rl_f32_to_bf16(c->pred[h][x])
                                              : rl_f32_to_f16(c->pred[h][x]);
            c->pred_ptrs[h] = hp;
        }
    }
    /* Half the cases with an IoU-family box loss, drawn after everything
     * else so that the other draws keep their values. */
    if (unif(&r) < 0.5)
        g->box_loss = range(&r, RL_BOX_IOU, RL_BOX_CIOU);
    /* A quarter in flavour alexeyab with random options, drawn after that. */
    if (unif(&r) < 0.25)
        alexeyab(c, &r, unaligned);
    static const char *const box_names[] = {"", " iou", " giou", " diou", " ciou"};
    int len = snprintf(c->desc, sizeof c->desc, "yolo%s %s%s N=%d C=%d A=%d net=%dx%d heads",
                       box_names[g->box_loss],
                       g->layout ? "nhwc" : "nchw",
                       g->pred_dtype == RL_DTYPE_F32    ? ""
                       : g->pred_dtype == RL_DTYPE_BF16 ? (g->grad_dtype ? " bf16" : " bf16>f32")
                                                        : (g->grad_dtype ? " f16" : " f16>f32"),
                       (int)N, (int)g->C, (int)A, (int)g->net_w, (int)g->net_h);
    for (int32_t h = 0; h < H && len < (int)sizeof c->desc; h++)
        len += snprintf(c->desc + len, sizeof c->desc - (size_t)len, " %dx%dx%d",
                        (int)c->heads[h].H, (int)c->heads[h].W, (int)c->heads[h].B);
    if (len < (int)sizeof c->desc)
        len += snprintf(c->desc + len, sizeof c->desc - (size_t)len,
                 " truths=%lld norm=%d %s ignore=%g truth=%g%s%s", (long long)k, (int)g->norm,
                 g->grad_mode ? "accumulate" : "overwrite", g->ignore_thresh, g->truth_thresh,
                 c->batch.global_counts ? " global" : "", unaligned ? " unaligned" : "");
    if (g->flavour == RL_YOLO_FLAVOUR_ALEXEYAB && len < (int)sizeof c->desc)
        snprintf(c->desc + len, sizeof c->desc - (size_t)len,
                 " alexeyab: iou_loss %d kind %d norms %g/%g/%g sxy %g iou_thresh %g eps %g "
                 "max_delta %g focal %d new_coords %d smooth %d max %d details %d counters %s"
                 "%s",
                 (int)g->iou_loss, (int)g->iou_thresh_kind, g->iou_normalizer,
                 g->obj_normalizer, g->cls_normalizer, g->scale_x_y, g->iou_thresh,
                 g->label_smooth_eps, g->max_delta, (int)g->focal_loss, (int)g->new_coords,
                 (int)g->objectness_smooth, (int)g->max_boxes, (int)g->show_details,
                 g->counters_per_class ? "yes" : "no",
                 g->classes_multipliers ? " multipliers" : "");
}

void rl_yolo_case_free(rl_yolo_case *c)
{
    for (int h = 0; h < RL_YOLO_CASE_MAX_HEADS; h++) {
        free(c->pred_storage[h]);
        free(c->half_storage[h]);
    }
    free(c->truths);
    free(c->offsets);
}
