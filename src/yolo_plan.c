/* The [yolo] head's configuration, plan and public entry points.  Each head
 * becomes a region-shaped rl_plan (one rl_params, one kernel table), so
 * that the checks of plan.c, the validator and the driver serve both
 * losses; what only the head has (the mask, the anchors in pixels, the
 * network's size, truth_thresh) is checked here. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "elem.h"
#include "pool.h"
#include "scalar/yolo_reference_ab.h"
#include "variants.h"

void rl_yolo_config_init(rl_yolo_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->layout = RL_LAYOUT_NCHW;
    cfg->lambda_coord = cfg->lambda_class = cfg->lambda_obj = cfg->lambda_noobj = 1.0;
    cfg->ignore_thresh = 0.7;
    cfg->truth_thresh = 1.0;
    cfg->norm = RL_NORM_IMAGES;
    cfg->grad_mode = RL_GRAD_OVERWRITE;
    cfg->threads = 1;
    /* AlexeyAB's parse_yolo defaults */
    cfg->flavour = RL_YOLO_FLAVOUR_PJREDDIE;
    cfg->iou_loss = RL_BOX_MSE;
    cfg->iou_thresh_kind = RL_BOX_IOU;
    cfg->max_boxes = 200;
    cfg->show_details = 1;
    cfg->iou_normalizer = 0.75;
    cfg->cls_normalizer = 1.0;
    cfg->obj_normalizer = 1.0;
    cfg->scale_x_y = 1.0;
    cfg->iou_thresh = 1.0;
    cfg->label_smooth_eps = 0.0;
    cfg->max_delta = FLT_MAX;
}

/* AlexeyAB's options: with flavour pjreddie each must keep its default (a
 * set option that would be ignored is a mistake); with flavour alexeyab
 * each in its range, the lambdas 1 and box_loss mse (the normalizers and
 * iou_loss take their place). */
static rl_status check_flavour(const rl_yolo_config *cfg)
{
    if (cfg->flavour != RL_YOLO_FLAVOUR_PJREDDIE && cfg->flavour != RL_YOLO_FLAVOUR_ALEXEYAB)
        return rl_fail(RL_ERR_BAD_ENUM,
                       "config: flavour = %d is not a flavour (0 pjreddie, 1 alexeyab)",
                       (int)cfg->flavour);
    if (cfg->flavour == RL_YOLO_FLAVOUR_PJREDDIE) {
        rl_yolo_config d;
        rl_yolo_config_init(&d);
#define KEEP(f, fmt, cast)                                                                    \
    if (cfg->f != d.f)                                                                        \
        return rl_fail(RL_ERR_BAD_ARGUMENT,                                                   \
                       "config: " #f " = " fmt " is an option of flavour alexeyab; flavour "  \
                       "pjreddie needs its default " fmt,                                     \
                       (cast)cfg->f, (cast)d.f);
        if (cfg->iou_loss != d.iou_loss) /* darknet's key of both flavours' IoU losses */
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "config: iou_loss = %d is an option of flavour alexeyab; flavour "
                           "pjreddie needs its default %d (its IoU-family box loss is box_loss)",
                           (int)cfg->iou_loss, (int)d.iou_loss);
        KEEP(iou_thresh_kind, "%d", int) KEEP(focal_loss, "%d", int)
        KEEP(new_coords, "%d", int) KEEP(objectness_smooth, "%d", int)
        KEEP(max_boxes, "%d", int) KEEP(show_details, "%d", int)
        KEEP(iou_normalizer, "%.17g", double) KEEP(cls_normalizer, "%.17g", double)
        KEEP(obj_normalizer, "%.17g", double) KEEP(scale_x_y, "%.17g", double)
        KEEP(iou_thresh, "%.17g", double) KEEP(label_smooth_eps, "%.17g", double)
        KEEP(max_delta, "%.17g", double)
#undef KEEP
        if (cfg->counters_per_class || cfg->classes_multipliers)
            return rl_fail(RL_ERR_BAD_ARGUMENT, "config: %s is an option of flavour alexeyab; "
                           "flavour pjreddie needs NULL",
                           cfg->counters_per_class ? "counters_per_class"
                                                   : "classes_multipliers");
        return RL_OK;
    }
    const double lam[4] = {cfg->lambda_coord, cfg->lambda_class, cfg->lambda_obj,
                           cfg->lambda_noobj};
    static const char *const lam_name[4] = {"lambda_coord", "lambda_class", "lambda_obj",
                                            "lambda_noobj"};
    for (int k = 0; k < 4; k++)
        if (lam[k] != 1.0)
            return rl_fail(RL_ERR_BAD_LAMBDA,
                           "config: %s = %.17g: flavour alexeyab needs every lambda 1 (its "
                           "iou_normalizer, obj_normalizer, cls_normalizer weigh the terms)",
                           lam_name[k], lam[k]);
    if (cfg->box_loss != RL_BOX_MSE)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "config: box_loss = %d: flavour alexeyab takes its box loss from "
                       "iou_loss; box_loss must stay 0 (mse)",
                       (int)cfg->box_loss);
    if (cfg->iou_loss < RL_BOX_MSE || cfg->iou_loss > RL_BOX_CIOU)
        return rl_fail(RL_ERR_BAD_ENUM,
                       "config: iou_loss = %d is not 0 mse, 1 iou, 2 giou, 3 diou or 4 ciou",
                       (int)cfg->iou_loss);
    if (cfg->iou_thresh_kind < RL_BOX_IOU || cfg->iou_thresh_kind > RL_BOX_CIOU)
        return rl_fail(RL_ERR_BAD_ENUM,
                       "config: iou_thresh_kind = %d is not 1 iou, 2 giou, 3 diou or 4 ciou",
                       (int)cfg->iou_thresh_kind);
    const struct {
        const char *name;
        int32_t v;
    } flags[] = {{"focal_loss", cfg->focal_loss},
                 {"new_coords", cfg->new_coords},
                 {"objectness_smooth", cfg->objectness_smooth},
                 {"show_details", cfg->show_details}};
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (flags[k].v != 0 && flags[k].v != 1)
            return rl_fail(RL_ERR_BAD_ARGUMENT, "config: %s = %d is not 0 or 1", flags[k].name,
                           (int)flags[k].v);
    if (cfg->max_boxes < 1)
        return rl_fail(RL_ERR_BAD_SIZE, "config: max_boxes = %d is not positive",
                       (int)cfg->max_boxes);
    const struct {
        const char *name;
        double v, lo, hi;
    } reals[] = {{"iou_normalizer", cfg->iou_normalizer, 0.0, RL_LAMBDA_MAX},
                 {"cls_normalizer", cfg->cls_normalizer, 0.0, RL_LAMBDA_MAX},
                 {"obj_normalizer", cfg->obj_normalizer, 0.0, RL_LAMBDA_MAX},
                 {"iou_thresh", cfg->iou_thresh, 0.0, 1.0},
                 {"label_smooth_eps", cfg->label_smooth_eps, 0.0, 1.0}};
    for (size_t k = 0; k < sizeof reals / sizeof reals[0]; k++)
        if (!(reals[k].v >= reals[k].lo && reals[k].v <= reals[k].hi))
            return rl_fail(RL_ERR_BAD_ARGUMENT, "config: %s = %.17g is not in [%g, %g]",
                           reals[k].name, reals[k].v, reals[k].lo, reals[k].hi);
    if (!(cfg->scale_x_y > 0.0 && cfg->scale_x_y <= 1e6))
        return rl_fail(RL_ERR_BAD_ARGUMENT, "config: scale_x_y = %.17g is not in (0, 1e6]",
                       cfg->scale_x_y);
    if (!(cfg->max_delta > 0.0))
        return rl_fail(RL_ERR_BAD_ARGUMENT, "config: max_delta = %.17g is not positive",
                       cfg->max_delta);
    if (cfg->counters_per_class)
        for (int32_t c = 0; c < cfg->C; c++)
            if (cfg->counters_per_class[c] < 0)
                return rl_fail(RL_ERR_BAD_ARGUMENT,
                               "config: counters_per_class[%d] = %d is negative (a count of "
                               "class %d's objects)",
                               (int)c, (int)cfg->counters_per_class[c], (int)c);
    if (cfg->counters_per_class && cfg->classes_multipliers)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "config: counters_per_class and classes_multipliers are both set: the "
                       "multipliers are derived from the counts, give one of them");
    if (cfg->classes_multipliers)
        for (int32_t c = 0; c < cfg->C; c++) {
            const float m = cfg->classes_multipliers[c];
            if (!(isfinite(m) && m > 0.0f && (double)m <= RL_LAMBDA_MAX))
                return rl_fail(RL_ERR_BAD_ARGUMENT,
                               "config: classes_multipliers[%d] = %.9g is not in (0, %g]",
                               (int)c, (double)m, RL_LAMBDA_MAX);
        }
    return RL_OK;
}

/* darknet's get_classes_multipliers: counts below 1 count 1; max / count
 * in float, capped at max_delta. */
static void class_multipliers(const rl_yolo_config *cfg, float *m)
{
    float max_counter = 0.0f;
    for (int32_t c = 0; c < cfg->C; c++) {
        const int32_t k = cfg->counters_per_class[c] < 1 ? 1 : cfg->counters_per_class[c];
        if (max_counter < (float)k)
            max_counter = (float)k;
    }
    for (int32_t c = 0; c < cfg->C; c++) {
        const int32_t k = cfg->counters_per_class[c] < 1 ? 1 : cfg->counters_per_class[c];
        m[c] = max_counter / (float)k;
        if ((double)m[c] > cfg->max_delta)
            m[c] = (float)cfg->max_delta;
    }
}

/* Shape IoU of two boxes centred at the origin, in double. */
static double shape_iou(double w1, double h1, double w2, double h2)
{
    const double inter = fmin(w1, w2) * fmin(h1, h2);
    return inter / (w1 * h1 + w2 * h2 - inter);
}

int32_t rl_yolo_best_anchor(const rl_params *p, const rl_box *t)
{
    const double tw = (double)t->w * p->net_w, th = (double)t->h * p->net_h;
    double best = -1.0;
    int32_t a_best = 0;
    for (int32_t a = 0; a < p->n_anchors; a++) {
        const double iou = shape_iou(tw, th, p->yolo_anchors[2 * a], p->yolo_anchors[2 * a + 1]);
        if (iou > best) { /* strict: ties go to the smaller index */
            best = iou;
            a_best = a;
        }
    }
    return a_best;
}

int rl_yolo_match(const rl_params *p, int32_t best_anchor, const rl_box *t, int32_t *i,
                  int32_t *j, int32_t *b)
{
    for (int32_t k = 0; k < p->B; k++)
        if (p->mask[k] == best_anchor) {
            const double fj = floor((double)t->cx * p->W), fi = floor((double)t->cy * p->H);
            *j = fj > p->W - 1 ? p->W - 1 : (int32_t)fj;
            *i = fi > p->H - 1 ? p->H - 1 : (int32_t)fi;
            *b = k;
            return 1;
        }
    return 0;
}

/* The region-shaped config of head h: what plan.c checks for every plan. */
static rl_config head_config(const rl_yolo_config *cfg, int32_t h, float *grid_anchors)
{
    rl_config c;
    rl_config_init(&c);
    c.H = cfg->heads[h].H;
    c.W = cfg->heads[h].W;
    c.B = cfg->heads[h].B;
    c.C = cfg->C;
    c.anchors = grid_anchors;
    c.layout = cfg->layout;
    c.mode = RL_MODE_SPEC;
    c.lambda_coord = cfg->lambda_coord;
    c.lambda_class = cfg->lambda_class;
    c.lambda_obj = cfg->lambda_obj;
    c.lambda_noobj = cfg->lambda_noobj;
    c.thresh = cfg->ignore_thresh;
    c.norm = cfg->norm;
    c.grad_mode = cfg->grad_mode;
    c.pred_dtype = cfg->pred_dtype;
    c.grad_dtype = cfg->grad_dtype;
    c.threads = cfg->threads;
    return c;
}

/* Head h's anchors in grid cells: aw * W / net_w, in double and as float. */
static rl_status grid_anchors(const rl_yolo_config *cfg, int32_t h, double *d, float *f)
{
    const rl_yolo_head *hd = &cfg->heads[h];
    for (int32_t b = 0; b < hd->B; b++)
        for (int k = 0; k < 2; k++) {
            const double px = cfg->anchors[2 * hd->mask[b] + k];
            const double v = px * (k ? hd->H : hd->W) / (k ? cfg->net_h : cfg->net_w);
            d[2 * b + k] = v;
            f[2 * b + k] = (float)v;
            if (!(f[2 * b + k] > 0) || isinf(f[2 * b + k]))
                return rl_fail(RL_ERR_BAD_ANCHOR,
                               "config: head %d: anchor %d (mask[%d]): %s = %.9g pixels is %.9g "
                               "cells of this head's grid, outside float's range",
                               (int)h, (int)hd->mask[b], (int)b, k ? "h" : "w", px, v);
        }
    return RL_OK;
}

static rl_status check_yolo_config(const rl_yolo_config *cfg)
{
    if (cfg->n_heads < 1 || cfg->n_heads > RL_YOLO_MAX_HEADS)
        return rl_fail(RL_ERR_BAD_SIZE, "config: n_heads = %d is not in [1, %d]",
                       (int)cfg->n_heads, RL_YOLO_MAX_HEADS);
    if (!cfg->heads)
        return rl_fail(RL_ERR_NULL_POINTER, "config: heads is NULL");
    if (cfg->n_anchors <= 0)
        return rl_fail(RL_ERR_BAD_SIZE, "config: n_anchors = %d is not positive",
                       (int)cfg->n_anchors);
    if (!cfg->anchors)
        return rl_fail(RL_ERR_NULL_POINTER, "config: anchors is NULL");
    for (int32_t a = 0; a < cfg->n_anchors; a++)
        for (int k = 0; k < 2; k++) {
            const float v = cfg->anchors[2 * a + k];
            if (!isfinite(v) || !(v > 0))
                return rl_fail(RL_ERR_BAD_ANCHOR,
                               "config: anchor %d: %s = %.9g pixels is not finite and > 0",
                               (int)a, k ? "h" : "w", (double)v);
        }
    if (cfg->net_w <= 0 || cfg->net_h <= 0)
        return rl_fail(RL_ERR_BAD_SIZE, "config: net size %d x %d (net_w x net_h) is not positive",
                       (int)cfg->net_w, (int)cfg->net_h);
    if (!(cfg->ignore_thresh >= 0.0 && cfg->ignore_thresh <= 1.0))
        return rl_fail(RL_ERR_BAD_THRESH, "config: ignore_thresh = %.17g is not in [0, 1]",
                       cfg->ignore_thresh);
    if (!(cfg->truth_thresh >= 0.0 && cfg->truth_thresh <= 1.0))
        return rl_fail(RL_ERR_BAD_THRESH, "config: truth_thresh = %.17g is not in [0, 1]",
                       cfg->truth_thresh);
    if (cfg->box_loss < RL_BOX_MSE || cfg->box_loss > RL_BOX_CIOU)
        return rl_fail(RL_ERR_BAD_ENUM,
                       "config: box_loss = %d is not a box loss (0 mse, 1 iou, 2 giou, 3 diou, "
                       "4 ciou)",
                       (int)cfg->box_loss);
    rl_status fst = check_flavour(cfg);
    if (fst != RL_OK)
        return fst;
    if (cfg->norm != RL_NORM_SUM && cfg->norm != RL_NORM_IMAGES)
        return rl_fail(RL_ERR_BAD_ENUM,
                       "config: norm = %d: a [yolo] head sums (sum, 1) or divides by the "
                       "images (images, 2)",
                       (int)cfg->norm);
    for (int32_t h = 0; h < cfg->n_heads; h++) {
        const rl_yolo_head *hd = &cfg->heads[h];
        if (hd->B <= 0)
            return rl_fail(RL_ERR_BAD_SIZE, "config: head %d: B = %d is not positive", (int)h,
                           (int)hd->B);
        if (!hd->mask)
            return rl_fail(RL_ERR_NULL_POINTER, "config: head %d: mask is NULL", (int)h);
        for (int32_t b = 0; b < hd->B; b++) {
            if (hd->mask[b] < 0 || hd->mask[b] >= cfg->n_anchors)
                return rl_fail(RL_ERR_BAD_ARGUMENT,
                               "config: head %d: mask[%d] = %d is not an index of the %d anchors",
                               (int)h, (int)b, (int)hd->mask[b], (int)cfg->n_anchors);
            for (int32_t e = 0; e < b; e++)
                if (hd->mask[e] == hd->mask[b])
                    return rl_fail(RL_ERR_BAD_ARGUMENT,
                                   "config: head %d: mask[%d] = %d repeats mask[%d]", (int)h,
                                   (int)b, (int)hd->mask[b], (int)e);
        }
    }
    return RL_OK;
}

/* plan.c's checks of head h, its message prefixed with the head. */
static rl_status check_head(const rl_yolo_config *cfg, int32_t h, double *ad, float *af)
{
    rl_status st;
    if (cfg->heads[h].H <= 0 || cfg->heads[h].W <= 0)
        return rl_fail(RL_ERR_BAD_SIZE, "config: head %d: grid %d x %d (H x W) is not positive",
                       (int)h, (int)cfg->heads[h].H, (int)cfg->heads[h].W);
    if ((st = grid_anchors(cfg, h, ad, af)) != RL_OK)
        return st;
    const rl_config c = head_config(cfg, h, af);
    if ((st = rl_check_config(&c)) != RL_OK && cfg->n_heads > 1) {
        char inner[400];
        snprintf(inner, sizeof inner, "%s", rl_last_error());
        const char *rest = strncmp(inner, "config: ", 8) == 0 ? inner + 8 : inner;
        return rl_fail(st, "config: head %d: %s", (int)h, rest);
    }
    return st;
}

/* Head h's numbers: plan.c's from its region-shaped config, then what only
 * a head has. */
static void fill_params(const rl_yolo_config *cfg, int32_t h, rl_params *p, float *af,
                        const double *ad, const int32_t *mask, const float *px)
{
    const rl_config c = head_config(cfg, h, af);
    rl_params_from_config(&c, af, p);
    p->mode = RL_MODE_YOLO;
    p->mask = mask;
    p->yolo_anchors = px;
    p->n_anchors = cfg->n_anchors;
    p->net_w = cfg->net_w;
    p->net_h = cfg->net_h;
    p->truth_thresh = cfg->truth_thresh;
    p->box_loss = cfg->box_loss;
    p->anchors_d = ad;
}

rl_status rl_yolo_plan_create(const rl_yolo_config *cfg, rl_yolo_plan **out_plan)
{
    rl_clear_error();
    if (!out_plan)
        return rl_fail(RL_ERR_NULL_POINTER, "out_plan is NULL");
    if (!cfg)
        return rl_fail(RL_ERR_NULL_POINTER, "config is NULL");
    rl_status st = check_yolo_config(cfg);
    if (st != RL_OK)
        return st;
    int64_t total_b = 0;
    for (int32_t h = 0; h < cfg->n_heads; h++)
        total_b += cfg->heads[h].B;
    /* one block: per head's anchors in double and float, the masks, the
     * pixel list */
    const size_t bytes = (size_t)total_b * 2 * sizeof(double) +
                         (size_t)total_b * 2 * sizeof(float) + (size_t)total_b * sizeof(int32_t) +
                         (size_t)cfg->n_anchors * 2 * sizeof(float) +
                         (cfg->counters_per_class || cfg->classes_multipliers
                              ? (size_t)cfg->C * sizeof(float)
                              : 0);
    rl_yolo_plan *plan = calloc(1, sizeof *plan);
    char *block = malloc(bytes);
    if (!plan || !block) {
        free(plan);
        free(block);
        return rl_fail(RL_ERR_NO_MEMORY, "plan: out of memory");
    }
    double *ad = (double *)block;
    float *af = (float *)(ad + 2 * total_b);
    int32_t *masks = (int32_t *)(af + 2 * total_b);
    float *px = (float *)(masks + total_b);
    memcpy(px, cfg->anchors, (size_t)cfg->n_anchors * 2 * sizeof(float));
    plan->flavour = cfg->flavour;
    if (cfg->flavour == RL_YOLO_FLAVOUR_ALEXEYAB) {
        rl_yolo_ab *ab = &plan->ab;
        ab->iou_loss = cfg->iou_loss;
        ab->iou_thresh_kind = cfg->iou_thresh_kind;
        ab->focal_loss = cfg->focal_loss;
        ab->new_coords = cfg->new_coords;
        ab->objectness_smooth = cfg->objectness_smooth;
        ab->max_boxes = cfg->max_boxes;
        ab->show_details = cfg->show_details;
        ab->iou_normalizer = cfg->iou_normalizer;
        ab->cls_normalizer = cfg->cls_normalizer;
        ab->obj_normalizer = cfg->obj_normalizer;
        ab->scale_x_y = cfg->scale_x_y;
        ab->iou_thresh = cfg->iou_thresh;
        ab->label_smooth_eps = cfg->label_smooth_eps;
        ab->max_delta = cfg->max_delta;
        if (cfg->counters_per_class) {
            float *m = px + 2 * cfg->n_anchors;
            class_multipliers(cfg, m);
            ab->class_mult = m;
        } else if (cfg->classes_multipliers) {
            float *m = px + 2 * cfg->n_anchors;
            memcpy(m, cfg->classes_multipliers, (size_t)cfg->C * sizeof(float));
            ab->class_mult = m;
        }
    }
    int64_t at = 0;
    for (int32_t h = 0; h < cfg->n_heads && st == RL_OK; h++) {
        st = check_head(cfg, h, ad + 2 * at, af + 2 * at);
        memcpy(masks + at, cfg->heads[h].mask, (size_t)cfg->heads[h].B * sizeof(int32_t));
        if (st == RL_OK)
            fill_params(cfg, h, &plan->heads[h].p, af + 2 * at, ad + 2 * at, masks + at, px);
        if (st == RL_OK && cfg->flavour == RL_YOLO_FLAVOUR_ALEXEYAB)
            plan->heads[h].p.ab = &plan->ab;
        at += cfg->heads[h].B;
    }
    const rl_variant_desc *variant = NULL;
    if (st == RL_OK)
        st = rl_choose_variant(cfg->variant, &variant);
    if (st == RL_OK && cfg->threads > 1)
        st = rl_pool_create(cfg->threads, &plan->pool);
    if (st != RL_OK) {
        free(block);
        free(plan);
        return st;
    }
    plan->n_heads = cfg->n_heads;
    plan->variant = variant;
    plan->threads = cfg->threads;
    plan->storage = block;
    for (int32_t h = 0; h < cfg->n_heads; h++) {
        rl_plan *hp = &plan->heads[h];
        hp->variant = variant;
        hp->pool = plan->pool;
        hp->threads = cfg->threads;
        if (variant->init_kernels)
            variant->init_kernels(&hp->kernels);
    }
    *out_plan = plan;
    return RL_OK;
}

void rl_yolo_plan_destroy(rl_yolo_plan *plan)
{
    if (!plan)
        return;
    rl_pool_destroy(plan->pool);
    free(plan->storage);
    free(plan);
}

const char *rl_yolo_plan_variant(const rl_yolo_plan *plan)
{
    return plan ? plan->variant->name : NULL;
}

rl_status rl_yolo_tensor_size(const rl_yolo_plan *plan, int32_t head, int32_t n_images,
                              size_t *out_count)
{
    rl_clear_error();
    if (!plan)
        return rl_fail(RL_ERR_NULL_POINTER, "plan is NULL");
    if (head < 0 || head >= plan->n_heads)
        return rl_fail(RL_ERR_BAD_ARGUMENT, "head = %d is not in [0, %d)", (int)head,
                       (int)plan->n_heads);
    return rl_plan_tensor_size(&plan->heads[head], n_images, out_count);
}

rl_status rl_yolo_workspace_size(const rl_yolo_plan *plan, int32_t n_images, int64_t n_truths,
                                 size_t *out_bytes)
{
    rl_status st = rl_check_workspace_args(plan, n_images, n_truths, out_bytes);
    if (st == RL_OK)
        *out_bytes = plan->variant->init_kernels
                         ? rl_yolo_driver_workspace(plan, n_images, n_truths)
                         : 0; /* the reference allocates: it is never the hot path */
    return st;
}

rl_batch rl_yolo_head_batch(const rl_yolo_batch *yb, int32_t h)
{
    rl_batch b;
    memset(&b, 0, sizeof b);
    b.n_images = yb->n_images;
    b.pred = yb->preds[h];
    b.truths = yb->truths;
    b.truth_offsets = yb->truth_offsets;
    return b;
}

/* A validator's message with the head in front (for a network of heads). */
static rl_status head_fail(const rl_yolo_plan *plan, int32_t h, rl_status st)
{
    if (st == RL_OK || plan->n_heads == 1)
        return st;
    char inner[400];
    snprintf(inner, sizeof inner, "%s", rl_last_error());
    return rl_fail(st, "head %d: %s", (int)h, inner);
}

static rl_status check_batch(const rl_yolo_plan *plan, const rl_yolo_batch *batch)
{
    if (!batch->preds)
        return rl_fail(RL_ERR_NULL_POINTER, "batch: preds is NULL");
    rl_status st;
    for (int32_t h = 0; h < plan->n_heads; h++) {
        if (!batch->preds[h])
            return rl_fail(RL_ERR_NULL_POINTER, "batch: preds[%d] (head %d) is NULL", (int)h,
                           (int)h);
        const rl_batch b = rl_yolo_head_batch(batch, h);
        /* the truths are the same for every head: checked once, with head 0 */
        st = h == 0 ? rl_validate_batch(&plan->heads[0].p, &b)
                    : rl_validate_batch_shape(&plan->heads[h].p, &b);
        if (st != RL_OK)
            return h == 0 && strncmp(rl_last_error(), "batch: ", 7) != 0 ? st
                                                                         : head_fail(plan, h, st);
    }
    if (batch->global_counts && batch->global_counts->n_images <= 0)
        return rl_fail(RL_ERR_BAD_ARGUMENT, "batch: global_counts->n_images = %lld is not positive",
                       (long long)batch->global_counts->n_images);
    if (batch->workspace) {
        size_t need;
        st = rl_yolo_workspace_size(plan, batch->n_images, batch->truth_offsets[batch->n_images],
                                    &need);
        if (st != RL_OK)
            return st;
        if (batch->workspace_size < need)
            return rl_fail(RL_ERR_WORKSPACE, "batch: workspace_size = %zu, this batch needs %zu",
                           batch->workspace_size, need);
    }
    return RL_OK;
}

rl_status rl_yolo_validate_preds(const rl_yolo_plan *plan, const rl_yolo_batch *batch)
{
    for (int32_t h = 0; h < plan->n_heads; h++) {
        const rl_batch b = rl_yolo_head_batch(batch, h);
        rl_status st = rl_validate_preds(&plan->heads[h].p, &b);
        if (st != RL_OK)
            return head_fail(plan, h, st);
    }
    return RL_OK;
}

/* The reference as the plan's variant: half tensors widened (exactly), the
 * double gradient rounded once into the caller's type. */
static rl_status reference_run(const rl_yolo_plan *plan, const rl_yolo_batch *batch,
                               rl_result *total, rl_result *per_head, void *const *grads)
{
    rl_status st = rl_yolo_validate_preds(plan, batch);
    if (st != RL_OK)
        return st;
    const int32_t H = plan->n_heads, N = batch->n_images;
    const float *preds[RL_YOLO_MAX_HEADS];
    float *wide[RL_YOLO_MAX_HEADS] = {0};
    rl_yolo_ref_out out;
    memset(&out, 0, sizeof out);
    for (int32_t h = 0; h < H && st == RL_OK; h++) {
        const rl_params *p = &plan->heads[h].p;
        const size_t count = (size_t)N * (size_t)p->per_image;
        preds[h] = batch->preds[h];
        if (p->pred_type != RL_DTYPE_F32) {
            wide[h] = malloc(count * sizeof(float));
            if (wide[h])
                for (size_t x = 0; x < count; x++)
                    wide[h][x] = rl_load(batch->preds[h], (int64_t)x, p->pred_type);
            preds[h] = wide[h];
        }
        if (grads && grads[h]) {
            out.head[h].grad = malloc(count * sizeof(double));
            out.head[h].touched = malloc(count);
        }
        if ((p->pred_type != RL_DTYPE_F32 && !wide[h]) ||
            (grads && grads[h] && (!out.head[h].grad || !out.head[h].touched)))
            st = rl_fail(RL_ERR_NO_MEMORY, "reference: out of memory for head %d", (int)h);
    }
    rl_result tot, heads[RL_YOLO_MAX_HEADS];
    if (st == RL_OK)
        st = plan->flavour == RL_YOLO_FLAVOUR_ALEXEYAB
                 ? rl_yolo_reference_ab_compute(plan, N, preds, batch->truths,
                                                batch->truth_offsets, batch->global_counts, &tot,
                                                heads, &out)
                 : rl_yolo_reference_compute(plan, N, preds, NULL, batch->truths,
                                             batch->truth_offsets, batch->global_counts, NULL,
                                             &tot, heads, &out);
    if (st == RL_OK) {
        for (int32_t h = 0; h < H; h++) {
            if (!grads || !grads[h])
                continue;
            const rl_params *p = &plan->heads[h].p;
            const size_t count = (size_t)N * (size_t)p->per_image;
            const int gt = p->grad_type;
            const double s = p->grad_scale; /* the darknet adapter's; 1 otherwise */
            for (size_t x = 0; x < count; x++) {
                const double v = s * out.head[h].grad[x];
                if (p->grad_mode == RL_GRAD_OVERWRITE)
                    rl_store_f64(grads[h], (int64_t)x, gt, v);
                else if (out.head[h].touched[x])
                    rl_store_f64(grads[h], (int64_t)x, gt,
                                 (double)rl_load(grads[h], (int64_t)x, gt) + v);
            }
        }
        *total = tot;
        if (per_head)
            memcpy(per_head, heads, (size_t)H * sizeof *heads);
    }
    for (int32_t h = 0; h < H; h++) {
        free(wide[h]);
        free(out.head[h].grad);
        free(out.head[h].touched);
    }
    return st;
}

rl_status rl_yolo_compute(const rl_yolo_plan *plan, const rl_yolo_batch *batch, rl_result *total,
                          rl_result *per_head, void *const *grads)
{
    rl_clear_error();
    if (!plan)
        return rl_fail(RL_ERR_NULL_POINTER, "plan is NULL");
    if (!batch)
        return rl_fail(RL_ERR_NULL_POINTER, "batch is NULL");
    if (!total)
        return rl_fail(RL_ERR_NULL_POINTER, "total is NULL");
    rl_status st = check_batch(plan, batch);
    if (st != RL_OK)
        return st;
    rl_result tot, heads[RL_YOLO_MAX_HEADS];
    st = plan->variant->init_kernels
             ? rl_yolo_driver_run(plan, batch, &tot, heads, grads, NULL)
             : reference_run(plan, batch, &tot, heads, grads);
    if (st != RL_OK)
        return st;
    tot.variant = plan->variant->name;
    for (int32_t h = 0; h < plan->n_heads; h++)
        heads[h].variant = plan->variant->name;
    *total = tot;
    if (per_head)
        memcpy(per_head, heads, (size_t)plan->n_heads * sizeof *heads);
    return RL_OK;
}
