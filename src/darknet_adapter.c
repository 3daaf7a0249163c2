/* The darknet adapter (include/regionloss_darknet.h): a darknet layer's
 * fields to a plan, built again only when they change, and its training
 * step in one call.  Everything the loss needs is the library's own plan
 * and driver; what is here is the translation, the per-layer state, and
 * the two internal knobs a public config cannot set (params.grad_scale,
 * params.class_update). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "regionloss_darknet.h"
#include "internal.h"
#include "variants.h"

#define VARIANT_MAX 64

/* AlexeyAB's IOU_LOSS numbering (include/darknet.h), which its layer's
 * iou_loss and iou_thresh_kind hold, and the library's rl_box_loss for each. */
enum { DN_IOU = 0, DN_GIOU = 1, DN_MSE = 2, DN_DIOU = 3, DN_CIOU = 4 };
static const int32_t box_loss_of_dn[5] = {RL_BOX_IOU, RL_BOX_GIOU, RL_BOX_MSE, RL_BOX_DIOU,
                                          RL_BOX_CIOU};

/* What a plan is built from: the layer's fields by value, its anchor list
 * and mask as they were when it was built. */
typedef struct layer_key {
    rl_darknet_layer l; /* biases and mask pointers cleared */
    float *biases;      /* 2*n ([region]) or 2*total ([yolo]) */
    int32_t *mask;      /* n, [yolo] only */
    float *mult;        /* classes, when the layer has classes_multipliers */
} layer_key;

typedef struct built {
    layer_key key;
    rl_plan *plan;         /* [region] */
    rl_yolo_plan *yplan;   /* [yolo] */
    rl_box *boxes;         /* batch * max_boxes */
    int64_t *offsets;      /* batch + 1 */
    void *workspace;
    size_t workspace_size;
} built;

struct rl_darknet {
    rl_darknet_options opt;
    char variant[VARIANT_MAX];
    int has_plan;
    built b;
};

void rl_darknet_layer_init(rl_darknet_layer *l, rl_darknet_type type)
{
    if (!l)
        return;
    memset(l, 0, sizeof *l);
    l->type = type;
    l->truth_floats = 5;
    l->max_boxes = type == RL_DARKNET_YOLO ? 90 : 30;
    l->coords = 4;
    l->coord_scale = l->class_scale = l->noobject_scale = 1.0f;
    l->object_scale = 5.0f;
    l->thresh = 0.6f;
    l->rescore = 1;
    l->softmax = 1;
    l->bias_match = 1;
    l->ignore_thresh = 0.5f;
    l->truth_thresh = 1.0f;
    l->iou_loss = DN_MSE;
    l->iou_thresh_kind = DN_IOU;
    l->show_details = 1;
    l->iou_normalizer = 0.75f;
    l->cls_normalizer = l->obj_normalizer = 1.0f;
    l->scale_x_y = 1.0f;
    l->iou_thresh = 1.0f;
    l->max_delta = FLT_MAX;
}

void rl_darknet_options_init(rl_darknet_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->delta_scale = -1.0;
    opt->delta_mode = RL_GRAD_OVERWRITE;
    opt->warmup_seen = 12800;
    opt->warmup_scale = 0.01;
    opt->threads = 1;
}

rl_status rl_darknet_create(const rl_darknet_options *opt, rl_darknet **out_state)
{
    rl_clear_error();
    if (!out_state)
        return rl_fail(RL_ERR_NULL_POINTER, "out_state is NULL");
    rl_darknet_options o;
    rl_darknet_options_init(&o);
    if (opt)
        o = *opt;
    if (!isfinite(o.delta_scale) || fabs(o.delta_scale) > RL_LAMBDA_MAX)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "darknet options: delta_scale = %g is not a finite number in [-%g, %g]",
                       o.delta_scale, RL_LAMBDA_MAX, RL_LAMBDA_MAX);
    if (o.delta_mode != RL_GRAD_OVERWRITE && o.delta_mode != RL_GRAD_ACCUMULATE)
        return rl_fail(RL_ERR_BAD_ENUM, "darknet options: delta_mode = %d is neither "
                       "RL_GRAD_OVERWRITE nor RL_GRAD_ACCUMULATE", (int)o.delta_mode);
    if (o.darknet_class_update != 0 && o.darknet_class_update != 1)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "darknet options: darknet_class_update = %d is neither 0 nor 1",
                       (int)o.darknet_class_update);
    if (o.variant && strlen(o.variant) >= VARIANT_MAX)
        return rl_fail(RL_ERR_UNKNOWN_VARIANT, "darknet options: variant name too long");
    if (o.variant) {
        const rl_variant_desc *v;
        rl_status st = rl_choose_variant(o.variant, &v);
        if (st != RL_OK)
            return st;
    }
    /* The remaining fields (threads, warm-up) are the plan's checks, on the
     * first forward; a bad value there names the option too. */
    rl_darknet *s = calloc(1, sizeof *s);
    if (!s)
        return rl_fail(RL_ERR_NO_MEMORY, "darknet state: out of memory");
    s->opt = o;
    if (o.variant) {
        strcpy(s->variant, o.variant);
        s->opt.variant = s->variant;
    }
    *out_state = s;
    return RL_OK;
}

static void built_free(built *b)
{
    rl_plan_destroy(b->plan);
    rl_yolo_plan_destroy(b->yplan);
    free(b->key.biases);
    free(b->key.mask);
    free(b->key.mult);
    free(b->boxes);
    free(b->offsets);
    free(b->workspace);
    memset(b, 0, sizeof *b);
}

void rl_darknet_destroy(rl_darknet *state)
{
    if (!state)
        return;
    built_free(&state->b);
    free(state);
}

static int finite_nonneg(float v) { return isfinite(v) && v >= 0.0f; }

/* The layer's own checks, named by darknet's field names; the plan's
 * checks (anchor values, scales' upper bound) follow when it is built. */
static rl_status check_layer(const rl_darknet_layer *l)
{
    if (l->type != RL_DARKNET_REGION && l->type != RL_DARKNET_YOLO)
        return rl_fail(RL_ERR_BAD_ENUM, "darknet layer: type = %d is neither RL_DARKNET_REGION "
                       "nor RL_DARKNET_YOLO", (int)l->type);
    const char *what = l->type == RL_DARKNET_REGION ? "[region]" : "[yolo]";
    const struct { const char *name; int32_t v; } sizes[] = {
        {"batch", l->batch}, {"h", l->h}, {"w", l->w}, {"n", l->n}, {"classes", l->classes},
        {"max_boxes", l->max_boxes}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        if (sizes[k].v <= 0)
            return rl_fail(RL_ERR_BAD_SIZE, "darknet %s layer: %s = %d must be positive", what,
                           sizes[k].name, (int)sizes[k].v);
    if (l->truth_floats != 5 && l->truth_floats != 6)
        return rl_fail(RL_ERR_BAD_SIZE, "darknet %s layer: truth_floats = %d: darknet's truths "
                       "have 5 floats (pjreddie) or 6 (AlexeyAB)", what, (int)l->truth_floats);
    if (!l->biases)
        return rl_fail(RL_ERR_NULL_POINTER, "darknet %s layer: biases is NULL", what);
    if (l->type == RL_DARKNET_REGION) {
        if (l->coords != 4)
            return rl_fail(RL_ERR_BAD_ARGUMENT, "darknet [region] layer: coords = %d: only 4 "
                           "(a box) is supported", (int)l->coords);
        if (l->tree)
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "darknet [region] layer: tree is set: a softmax tree is not supported");
        if (l->background)
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "darknet [region] layer: background = %d: only 0 is supported",
                           (int)l->background);
        if (l->map)
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "darknet [region] layer: map is set: a class map is not supported");
        if (l->flavour != RL_FLAVOUR_PJREDDIE && l->flavour != RL_FLAVOUR_ALEXEYAB)
            return rl_fail(RL_ERR_BAD_ENUM, "darknet [region] layer: flavour = %d is neither "
                           "pjreddie (0) nor alexeyab (1)", (int)l->flavour);
        if (l->classfix < -1 || l->classfix > 2)
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "darknet [region] layer: classfix = %d is not -1, 0, 1 or 2",
                           (int)l->classfix);
        if (l->focal_loss != 0 && l->focal_loss != 1)
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "darknet [region] layer: focal_loss = %d is neither 0 nor 1",
                           (int)l->focal_loss);
        if (l->flavour != RL_FLAVOUR_ALEXEYAB && (l->classfix || l->focal_loss))
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "darknet [region] layer: %s = %d is AlexeyAB's: it needs flavour = "
                           "RL_FLAVOUR_ALEXEYAB (RL_DARKNET_ALEXEYAB_REGION sets it)",
                           l->classfix ? "classfix" : "focal_loss",
                           (int)(l->classfix ? l->classfix : l->focal_loss));
        if (l->focal_loss && !l->softmax)
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "darknet [region] layer: focal_loss = 1 with softmax = 0: AlexeyAB's "
                           "focal term takes the log of the unactivated class output");
        if (l->bias_match != 1)
            return rl_fail(RL_ERR_BAD_ARGUMENT, "darknet [region] layer: bias_match = %d: only 1 "
                           "(anchor chosen by shape) is supported", (int)l->bias_match);
        if (l->softmax != 0 && l->softmax != 1)
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "darknet [region] layer: softmax = %d is neither 0 nor 1",
                           (int)l->softmax);
        if (l->rescore != 0 && l->rescore != 1)
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "darknet [region] layer: rescore = %d is neither 0 nor 1",
                           (int)l->rescore);
        const struct { const char *name; float v; } scales[] = {
            {"coord_scale", l->coord_scale}, {"class_scale", l->class_scale},
            {"object_scale", l->object_scale}, {"noobject_scale", l->noobject_scale}};
        for (size_t k = 0; k < sizeof scales / sizeof *scales; k++)
            if (!finite_nonneg(scales[k].v) || scales[k].v > RL_LAMBDA_MAX)
                return rl_fail(RL_ERR_BAD_LAMBDA, "darknet [region] layer: %s = %g is not in "
                               "[0, %g]", scales[k].name, (double)scales[k].v, RL_LAMBDA_MAX);
        if (!(l->thresh >= 0.0f && l->thresh <= 1.0f))
            return rl_fail(RL_ERR_BAD_THRESH, "darknet [region] layer: thresh = %g is not in "
                           "[0, 1]", (double)l->thresh);
    } else {
        if (l->total <= 0)
            return rl_fail(RL_ERR_BAD_SIZE, "darknet [yolo] layer: total = %d must be positive",
                           (int)l->total);
        if (!l->mask)
            return rl_fail(RL_ERR_NULL_POINTER, "darknet [yolo] layer: mask is NULL");
        if (l->flavour != RL_YOLO_FLAVOUR_PJREDDIE && l->flavour != RL_YOLO_FLAVOUR_ALEXEYAB)
            return rl_fail(RL_ERR_BAD_ENUM, "darknet [yolo] layer: flavour = %d is neither "
                           "pjreddie (0) nor alexeyab (1)", (int)l->flavour);
        if (l->flavour == RL_YOLO_FLAVOUR_ALEXEYAB) {
            if (l->iou_loss < DN_IOU || l->iou_loss > DN_CIOU)
                return rl_fail(RL_ERR_BAD_ENUM,
                               "darknet [yolo] layer: iou_loss = %d is not darknet's IOU (0), "
                               "GIOU (1), MSE (2), DIOU (3) or CIOU (4)", (int)l->iou_loss);
            if (l->iou_thresh_kind < DN_IOU || l->iou_thresh_kind > DN_CIOU ||
                l->iou_thresh_kind == DN_MSE)
                return rl_fail(RL_ERR_BAD_ENUM,
                               "darknet [yolo] layer: iou_thresh_kind = %d is not darknet's "
                               "IOU (0), GIOU (1), DIOU (3) or CIOU (4)",
                               (int)l->iou_thresh_kind);
            if (l->map)
                return rl_fail(RL_ERR_BAD_ARGUMENT,
                               "darknet [yolo] layer: map is set: a class map is not supported");
        }
        /* the mask's values, the net size, the thresholds and the rest of
         * AlexeyAB's options: the plan's checks, whose messages name the
         * field */
    }
    return RL_OK;
}

/* The layer's fields equal those the state's plan was built from (field
 * by field: a struct's padding bytes are not part of its value). */
static int same_layer(const layer_key *k, const rl_darknet_layer *l)
{
    const rl_darknet_layer *o = &k->l;
    const int same_ints = l->type == o->type && l->batch == o->batch && l->h == o->h &&
                          l->w == o->w && l->n == o->n && l->classes == o->classes &&
                          l->max_boxes == o->max_boxes && l->truth_floats == o->truth_floats &&
                          l->coords == o->coords && l->rescore == o->rescore &&
                          l->softmax == o->softmax && l->bias_match == o->bias_match &&
                          l->background == o->background && l->tree == o->tree &&
                          l->total == o->total && l->net_w == o->net_w && l->net_h == o->net_h &&
                          l->map == o->map && l->flavour == o->flavour &&
                          l->classfix == o->classfix && l->focal_loss == o->focal_loss &&
                          l->iou_loss == o->iou_loss && l->iou_thresh_kind == o->iou_thresh_kind &&
                          l->new_coords == o->new_coords &&
                          l->objectness_smooth == o->objectness_smooth &&
                          l->show_details == o->show_details;
    const int same_floats = l->coord_scale == o->coord_scale &&
                            l->class_scale == o->class_scale &&
                            l->object_scale == o->object_scale &&
                            l->noobject_scale == o->noobject_scale && l->thresh == o->thresh &&
                            l->ignore_thresh == o->ignore_thresh &&
                            l->truth_thresh == o->truth_thresh &&
                            l->iou_normalizer == o->iou_normalizer &&
                            l->cls_normalizer == o->cls_normalizer &&
                            l->obj_normalizer == o->obj_normalizer &&
                            l->scale_x_y == o->scale_x_y && l->iou_thresh == o->iou_thresh &&
                            l->label_smooth_eps == o->label_smooth_eps &&
                            l->max_delta == o->max_delta;
    if (!same_ints || !same_floats)
        return 0;
    if (!l->classes_multipliers != !k->mult ||
        (k->mult &&
         memcmp(l->classes_multipliers, k->mult, (size_t)l->classes * sizeof *k->mult) != 0))
        return 0;
    const int32_t na = l->type == RL_DARKNET_REGION ? l->n : l->total;
    if (memcmp(l->biases, k->biases, 2 * (size_t)na * sizeof *l->biases) != 0)
        return 0;
    return l->type == RL_DARKNET_REGION ||
           memcmp(l->mask, k->mask, (size_t)l->n * sizeof *l->mask) == 0;
}

/* Build everything for layer l into *b, or fail leaving *b empty. */
static rl_status build(const rl_darknet *s, const rl_darknet_layer *l, built *b)
{
    memset(b, 0, sizeof *b);
    const rl_darknet_options *o = &s->opt;
    const int region = l->type == RL_DARKNET_REGION;
    const int32_t na = region ? l->n : l->total;
    const int64_t max_truths = (int64_t)l->batch * l->max_boxes;
    rl_status st;

    b->key.l = *l;
    b->key.l.biases = NULL;
    b->key.l.mask = NULL;
    b->key.l.classes_multipliers = NULL;
    b->key.biases = malloc(2 * (size_t)na * sizeof *b->key.biases);
    b->key.mask = region ? NULL : malloc((size_t)l->n * sizeof *b->key.mask);
    b->boxes = malloc((size_t)max_truths * sizeof *b->boxes);
    b->offsets = malloc(((size_t)l->batch + 1) * sizeof *b->offsets);
    const int mult = l->classes_multipliers != NULL;
    b->key.mult = mult ? malloc((size_t)l->classes * sizeof *b->key.mult) : NULL;
    if (!b->key.biases || (!region && !b->key.mask) || (mult && !b->key.mult) || !b->boxes ||
        !b->offsets) {
        built_free(b);
        return rl_fail(RL_ERR_NO_MEMORY, "darknet state: out of memory");
    }
    memcpy(b->key.biases, l->biases, 2 * (size_t)na * sizeof *l->biases);
    if (!region)
        memcpy(b->key.mask, l->mask, (size_t)l->n * sizeof *l->mask);
    if (mult)
        memcpy(b->key.mult, l->classes_multipliers, (size_t)l->classes * sizeof *b->key.mult);

    if (region) {
        rl_config cfg;
        rl_config_init_darknet(&cfg);
        cfg.H = l->h;
        cfg.W = l->w;
        cfg.B = l->n;
        cfg.C = l->classes;
        cfg.anchors = l->biases;
        cfg.lambda_coord = l->coord_scale;
        cfg.lambda_class = l->class_scale;
        cfg.lambda_obj = l->object_scale;
        cfg.lambda_noobj = l->noobject_scale;
        cfg.thresh = l->thresh;
        cfg.rescore = l->rescore;
        cfg.logistic_classes = !l->softmax;
        cfg.flavour = l->flavour;
        cfg.classfix = l->classfix;
        cfg.focal_loss = l->focal_loss;
        cfg.warmup_seen = o->warmup_seen;
        cfg.warmup_scale = o->warmup_scale;
        cfg.norm = RL_NORM_SUM; /* darknet's update divides by the images itself */
        cfg.grad_mode = o->delta_mode;
        cfg.variant = o->variant;
        cfg.threads = o->threads;
        st = rl_plan_create(&cfg, &b->plan);
        if (st == RL_OK) {
            b->plan->p.grad_scale = o->delta_scale;
            b->plan->p.class_update = !l->softmax && o->darknet_class_update;
            st = rl_workspace_size(b->plan, l->batch, max_truths, &b->workspace_size);
        }
    } else {
        const rl_yolo_head head = {l->h, l->w, l->n, l->mask};
        rl_yolo_config cfg;
        rl_yolo_config_init(&cfg);
        cfg.n_heads = 1;
        cfg.heads = &head;
        cfg.C = l->classes;
        cfg.n_anchors = l->total;
        cfg.anchors = l->biases;
        cfg.net_w = l->net_w;
        cfg.net_h = l->net_h;
        cfg.ignore_thresh = l->ignore_thresh;
        cfg.truth_thresh = l->truth_thresh;
        if (l->flavour == RL_YOLO_FLAVOUR_ALEXEYAB) {
            cfg.flavour = RL_YOLO_FLAVOUR_ALEXEYAB;
            cfg.iou_loss = box_loss_of_dn[l->iou_loss];
            cfg.iou_thresh_kind = box_loss_of_dn[l->iou_thresh_kind];
            cfg.focal_loss = l->focal_loss;
            cfg.new_coords = l->new_coords;
            cfg.objectness_smooth = l->objectness_smooth;
            cfg.max_boxes = l->max_boxes;
            cfg.show_details = l->show_details;
            cfg.iou_normalizer = l->iou_normalizer;
            cfg.cls_normalizer = l->cls_normalizer;
            cfg.obj_normalizer = l->obj_normalizer;
            cfg.scale_x_y = l->scale_x_y;
            cfg.iou_thresh = l->iou_thresh;
            cfg.label_smooth_eps = l->label_smooth_eps;
            cfg.max_delta = l->max_delta;
            cfg.classes_multipliers = l->classes_multipliers;
        }
        cfg.norm = RL_NORM_SUM;
        cfg.grad_mode = o->delta_mode;
        cfg.variant = o->variant;
        cfg.threads = o->threads;
        st = rl_yolo_plan_create(&cfg, &b->yplan);
        if (st == RL_OK) {
            b->yplan->heads[0].p.grad_scale = o->delta_scale;
            st = rl_yolo_workspace_size(b->yplan, l->batch, max_truths, &b->workspace_size);
        }
    }
    if (st == RL_OK && !(b->workspace = malloc(b->workspace_size ? b->workspace_size : 1)))
        st = rl_fail(RL_ERR_NO_MEMORY, "darknet state: out of memory for the workspace");
    if (st != RL_OK)
        built_free(b);
    return st;
}

rl_status rl_darknet_forward(rl_darknet *state, const rl_darknet_layer *l, const float *input,
                             const float *truth, int64_t seen, float *delta,
                             rl_darknet_result *out)
{
    rl_clear_error();
    if (!state || !l || !input || !truth || !delta)
        return rl_fail(RL_ERR_NULL_POINTER, "%s is NULL",
                       !state ? "state" : !l ? "layer" : !input ? "input" : !truth ? "truth"
                                                                                 : "delta");
    rl_status st = check_layer(l);
    if (st != RL_OK)
        return st;

    /* A changed layer gets a new plan; the old one is dropped only when the
     * new one is built, so a failure leaves the state as it was. */
    const int replan = !state->has_plan || !same_layer(&state->b.key, l);
    built fresh;
    built *b = &state->b;
    if (replan) {
        if ((st = build(state, l, &fresh)) != RL_OK)
            return st;
        b = &fresh;
    }

    const rl_dn_rows rows =
        l->type == RL_DARKNET_REGION
            ? (l->flavour == RL_FLAVOUR_ALEXEYAB ? RL_DN_ROWS_AB_REGION : RL_DN_ROWS_STRICT)
            : (l->flavour == RL_YOLO_FLAVOUR_ALEXEYAB ? RL_DN_ROWS_AB_YOLO : RL_DN_ROWS_STRICT);
    st = rl_truths_from_darknet_rows(truth, l->batch, l->max_boxes, l->truth_floats, l->classes,
                                     rows, b->boxes, b->offsets);
    rl_result res;
    if (st == RL_OK && l->type == RL_DARKNET_REGION) {
        const rl_batch batch = {.n_images = l->batch, .pred = input, .truths = b->boxes,
                                .truth_offsets = b->offsets, .seen = seen,
                                .workspace = b->workspace, .workspace_size = b->workspace_size};
        st = rl_compute(b->plan, &batch, &res, delta);
    } else if (st == RL_OK) {
        const void *preds[1] = {input};
        void *grads[1] = {delta};
        const rl_yolo_batch batch = {.n_images = l->batch, .preds = preds, .truths = b->boxes,
                                     .truth_offsets = b->offsets,
                                     .workspace = b->workspace,
                                     .workspace_size = b->workspace_size};
        st = rl_yolo_compute(b->yplan, &batch, &res, NULL, grads);
    }
    if (st != RL_OK) {
        if (replan) /* the fresh plan was fine; the call's data was not */
            built_free(&fresh);
        return st;
    }
    if (replan) {
        built_free(&state->b);
        state->b = fresh;
        state->has_plan = 1;
    }
    if (out) {
        memset(out, 0, sizeof *out);
        out->cost = res.darknet.cost;
        out->loss = res.loss;
        out->stats = res.darknet;
        out->replanned = replan;
        out->variant = res.variant;
    }
    return RL_OK;
}
