/*
 * regionloss: the YOLOv2 region loss, its parts and its exact gradient.
 *
 * docs/loss.md states the mathematics; docs/api.md maps every symbol below
 * to it.  include/regionloss_darknet.h, also installed, adds the darknet
 * adapter (docs/darknet.md).
 *
 * Conventions
 *  - Every function returns an rl_status; RL_OK is 0.  On any other status the
 *    call has written nothing through its output pointers (the gradient buffer
 *    in particular is byte-for-byte untouched) and rl_last_error() holds a
 *    message that names what is wrong and where.
 *  - A plan is immutable after rl_plan_create() and may be used by many
 *    threads at once.
 *  - No function here starts threads except rl_plan_create() with
 *    config.threads > 1 (the plan owns that pool), and rl_compute() allocates
 *    nothing when the batch carries a workspace of rl_workspace_size() bytes.
 */
#ifndef REGIONLOSS_H
#define REGIONLOSS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RL_VERSION_MAJOR 0
#define RL_VERSION_MINOR 2
#define RL_VERSION_PATCH 0
#define RL_VERSION_STRING "0.2.0"
/* Single number for compile-time comparisons: 10000*major + 100*minor + patch. */
#define RL_VERSION_NUMBER \
    (RL_VERSION_MAJOR * 10000 + RL_VERSION_MINOR * 100 + RL_VERSION_PATCH)

/* Limits of a configuration (docs/api.md says why). */
#define RL_LAMBDA_MAX 1e6      /* loss weights and the warm-up scale lie in [0, 1e6] */
#define RL_MAX_CLASSES (1 << 24)
/* Largest n_truths rl_workspace_size accepts (a truth array of 20 TB). */
#define RL_MAX_TRUTHS ((int64_t)1 << 40)

#if defined(_WIN32)
#define RL_API
#elif defined(__GNUC__)
#define RL_API __attribute__((visibility("default")))
#else
#define RL_API
#endif

typedef enum rl_status {
    RL_OK = 0,
    RL_ERR_NULL_POINTER = 1,   /* a required pointer is NULL */
    RL_ERR_BAD_SIZE = 2,       /* a size <= 0, or sizes whose product overflows */
    RL_ERR_BAD_ANCHOR = 3,     /* an anchor w or h not finite or <= 0 */
    RL_ERR_BAD_LAMBDA = 4,     /* a loss weight outside [0, RL_LAMBDA_MAX] or not finite */
    RL_ERR_BAD_THRESH = 5,     /* thresh outside [0, 1] or not finite */
    RL_ERR_BAD_ENUM = 6,       /* layout, normalisation, gradient mode or loss mode unknown */
    RL_ERR_BAD_TRUTH = 7,      /* a truth box field out of range or not finite */
    RL_ERR_BAD_OFFSETS = 8,    /* per-image truth offsets not starting at 0 or decreasing */
    RL_ERR_NONFINITE_PRED = 9, /* a prediction the loss reads is NaN or infinite */
    RL_ERR_UNKNOWN_VARIANT = 10,     /* no variant of that name exists */
    RL_ERR_UNAVAILABLE_VARIANT = 11, /* the variant exists but this CPU/build lacks it */
    RL_ERR_NO_MEMORY = 12,
    RL_ERR_THREADS = 13,       /* thread count invalid, or the pool could not start */
    RL_ERR_WORKSPACE = 14,     /* a workspace was given but is too small */
    RL_ERR_BAD_ARGUMENT = 15   /* any other invalid argument (the message says which) */
} rl_status;

/* The constant's name ("RL_ERR_BAD_TRUTH"); "RL_UNKNOWN_STATUS" for other values. */
RL_API const char *rl_status_name(rl_status status);
/* One-sentence description of a status code (not of the particular failure). */
RL_API const char *rl_status_description(rl_status status);
/* The message of the last failing call on this thread, e.g.
 * "truth 3 of image 1: w = 0 is not in (0, 1]".  Empty after a success. */
RL_API const char *rl_last_error(void);

RL_API const char *rl_version(void);

typedef enum rl_layout {
    RL_LAYOUT_NCHW = 0, /* ((n*B + b)*(5+C) + k)*H*W + i*W + j  (darknet, PyTorch) */
    RL_LAYOUT_NHWC = 1  /* (((n*H + i)*W + j)*B + b)*(5+C) + k  (Keras)            */
} rl_layout;

typedef enum rl_norm {
    RL_NORM_COUNTS = 0, /* spec: coord and class / N_obj, objectness / N_conf (batch-wide) */
    RL_NORM_SUM = 1,    /* no division; the counts are returned for the caller */
    RL_NORM_IMAGES = 2  /* every term / N (images in the call), as lightnet does */
} rl_norm;

typedef enum rl_grad_mode {
    RL_GRAD_OVERWRITE = 0,  /* every entry of the gradient buffer is written */
    RL_GRAD_ACCUMULATE = 1  /* gradient added in; only entries the loss changes are touched */
} rl_grad_mode;

/* Element type of the predictions and of the gradient (rl_config's
 * pred_dtype and grad_dtype).  Half-precision values are read exactly (every
 * one is a float) and the gradient is rounded to nearest even on store. */
typedef enum rl_dtype {
    RL_DTYPE_F32 = 0,  /* IEEE binary32, float (the default) */
    RL_DTYPE_BF16 = 1, /* bfloat16: a float's upper 16 bits (uint16_t storage) */
    RL_DTYPE_F16 = 2   /* IEEE binary16 (uint16_t storage, _Float16, __fp16) */
} rl_dtype;

typedef enum rl_mode {
    RL_MODE_SPEC = 0,   /* docs/loss.md's spec mode: the article's loss (default) */
    RL_MODE_DARKNET = 1 /* docs/darknet.md: darknet's region layer */
} rl_mode;

/* Whose [region] layer darknet mode computes (rl_config.flavour;
 * docs/darknet.md, "AlexeyAB's [region] flavour"). */
typedef enum rl_flavour {
    RL_FLAVOUR_PJREDDIE = 0, /* pjreddie/darknet's region_layer.c (the default) */
    RL_FLAVOUR_ALEXEYAB = 1  /* AlexeyAB/darknet's: coord_scale without (2 - w*h), the cost
                                over deltas that carry s', classfix, focal_loss, truths of
                                a class >= C skipped, softmax=0 classes unactivated */
} rl_flavour;

typedef struct rl_config {
    int32_t H, W;          /* grid rows and columns */
    int32_t B;             /* anchors */
    int32_t C;             /* classes, >= 1 */
    const float *anchors;  /* 2*B values w0,h0,w1,h1,... in grid cells; copied by rl_plan_create */
    rl_layout layout;
    rl_mode mode;
    /* Loss weights.  In darknet mode they are coord_scale, class_scale,
     * object_scale and noobject_scale. */
    double lambda_coord, lambda_class, lambda_obj, lambda_noobj;
    double thresh;         /* spec: noobj iff best < thresh; darknet: iff best <= thresh */
    rl_norm norm;
    rl_grad_mode grad_mode;
    const char *variant;   /* NULL or "auto", or a name from rl_variant_list(); copied */
    int32_t threads;       /* 1 = run in the calling thread (default); T > 1: plan-owned pool */
    /* Darknet mode only. */
    int32_t rescore;           /* 1 (default): objectness target is the IoU; 0: target 1 */
    int32_t logistic_classes;  /* 0 (default): softmax; 1: per-class sigmoid, squared error */
    /* Element types (rl_dtype values).  pred_dtype: of batch->pred; grad_dtype:
     * of the gradient, either RL_DTYPE_F32 or pred_dtype.  Both default to
     * RL_DTYPE_F32.  They are int16_t and sit where the 0.1 struct had four
     * bytes of padding, so rl_config keeps its size and every offset. */
    int16_t pred_dtype;
    int16_t grad_dtype;
    int64_t warmup_seen;       /* warm-up while seen < warmup_seen (default 12800) */
    double warmup_scale;       /* default 0.01 */
    /* Darknet mode only: rl_flavour (default RL_FLAVOUR_PJREDDIE).  The two
     * below need RL_FLAVOUR_ALEXEYAB and are 0 otherwise. */
    int32_t flavour;
    int32_t classfix;          /* AlexeyAB's classfix: -1, 0 (default), 1 or 2 */
    int32_t focal_loss;        /* AlexeyAB's focal_loss on softmax classes: 0 (default) or 1 */
} rl_config;

/* Spec-mode defaults: layout NCHW, lambdas 1, 1, 5, 1, thresh 0.6, counts
 * normalisation, overwrite, variant auto, 1 thread.  H, W, B, C and anchors
 * are left 0/NULL for the caller. */
RL_API void rl_config_init(rl_config *cfg);
/* Darknet yolo-voc defaults: mode darknet, NCHW, scales 1, 1, 5, 1,
 * thresh 0.6, rescore 1, softmax, warm-up 12800 at 0.01, plain sums. */
RL_API void rl_config_init_darknet(rl_config *cfg);

typedef struct rl_plan rl_plan;

RL_API rl_status rl_plan_create(const rl_config *cfg, rl_plan **out_plan);
RL_API void rl_plan_destroy(rl_plan *plan);
/* The variant this plan runs ("reference", "generic", "avx2", "neon", ...). */
RL_API const char *rl_plan_variant(const rl_plan *plan);
/* Number of entries (elements of pred_dtype) of the predictions, and of the
 * gradient, for n images. */
RL_API rl_status rl_plan_tensor_size(const rl_plan *plan, int32_t n_images, size_t *out_count);

/* Batch-wide counts; input to sharded normalisation (see rl_batch). */
typedef struct rl_counts {
    int64_t n_obj;    /* slots with L_obj = 1 */
    int64_t n_noobj;  /* slots with L_noobj = 1 */
    int64_t n_conf;   /* n_obj + n_noobj */
    int64_t n_images;
} rl_counts;

typedef struct rl_box {
    float cx, cy;  /* centre, normalised to the image, in [0, 1] */
    float w, h;    /* size, normalised to the image, in (0, 1] */
    int32_t cls;   /* class in [0, C) */
} rl_box;

typedef struct rl_batch {
    int32_t n_images;
    /* rl_plan_tensor_size() entries of the plan's pred_dtype (float, or
     * uint16_t bit patterns of bfloat16 / binary16) in the plan's layout */
    const void *pred;
    const rl_box *truths;         /* all truths, image by image; NULL allowed when there are none */
    const int64_t *truth_offsets; /* n_images + 1 entries: image k owns truths[off[k] .. off[k+1]) */
    int64_t seen;                 /* darknet mode: images seen so far, this batch included */
    /* Optional: normalise by these counts instead of this batch's own (sharded
     * data parallelism: pass the all-reduced counts of the whole batch).
     * Only used with RL_NORM_COUNTS (n_obj, n_conf) or RL_NORM_IMAGES (n_images). */
    const rl_counts *global_counts;
    /* Optional scratch of at least rl_workspace_size() bytes; with it the call
     * allocates nothing.  Without it the call allocates and frees its own. */
    void *workspace;
    size_t workspace_size;
} rl_batch;

/* Darknet's training line (forward_region_layer's printf) and its cost. */
typedef struct rl_darknet_stats {
    double avg_iou;     /* over all truths, replaced ones included */
    double recall;      /* fraction of truths with IoU > 0.5 */
    double recall75;    /* fraction of truths with IoU > 0.75 */
    double avg_cls;     /* mean probability of the true class, over truths */
    double avg_obj;     /* mean objectness at each truth's slot */
    double avg_anyobj;  /* mean objectness over every slot */
    int64_t count;      /* truths */
    double cost;        /* sum of squared deltas (darknet's *l.cost); never normalised:
                           the same number whatever rl_norm says */
} rl_darknet_stats;

typedef struct rl_result {
    double loss;   /* coord + cls + obj + noobj + warmup */
    double coord;  /* loss_xywh */
    double cls;    /* loss_p */
    double obj;    /* objectness at L_obj slots */
    double noobj;  /* objectness at L_noobj slots */
    double warmup; /* darknet warm-up prior term; 0 in spec mode */
    int64_t n_obj, n_noobj, n_conf;
    int64_t n_truths;
    /* Diagnostics over L_obj slots (0 when there are none). */
    double avg_iou;    /* IoU of the responsible prediction with its truth */
    double recall50;   /* fraction of those with IoU > 0.5 */
    double recall75;   /* ... > 0.75 */
    double avg_obj;    /* mean c^ at L_obj slots */
    double avg_noobj;  /* mean c^ at L_noobj slots */
    double avg_cls;    /* mean p^[cls] at L_obj slots */
    /* Raw sums behind the diagnostics, so shards can be combined exactly. */
    double sum_iou, sum_obj, sum_noobj, sum_cls;
    int64_t n_recall50, n_recall75;
    rl_darknet_stats darknet; /* filled in darknet mode, zero in spec mode */
    const char *variant;      /* the variant that computed this (static string) */
} rl_result;

/* Bytes of workspace rl_compute needs for this batch shape (depends on the
 * plan, the number of images and the total number of truths). */
RL_API rl_status rl_workspace_size(const rl_plan *plan, int32_t n_images,
                                   int64_t n_truths, size_t *out_bytes);

/* Loss, parts, counts and diagnostics of a batch; with grad != NULL also the
 * gradient with respect to batch->pred (same layout and size, entries of the
 * plan's grad_dtype), written or accumulated as the plan's grad_mode says. */
RL_API rl_status rl_compute(const rl_plan *plan, const rl_batch *batch,
                            rl_result *result, void *grad);

/* Counts only (assignment and masks; no gradient): what a shard all-reduces
 * before calling rl_compute with batch->global_counts. */
RL_API rl_status rl_count(const rl_plan *plan, const rl_batch *batch, rl_counts *out);

/* Variants compiled into this build and runnable on this CPU, best first,
 * as a NULL-terminated array of static strings. */
RL_API const char *const *rl_variant_list(void);
/* RL_OK when `name` can run here; otherwise RL_ERR_UNKNOWN_VARIANT or
 * RL_ERR_UNAVAILABLE_VARIANT with a message. */
RL_API rl_status rl_variant_check(const char *name);

/* Darknet truth buffer (boxes_per_image x 5 floats per image: x, y, w, h,
 * class; an image's list ends at the first box with x == 0) to rl_box and
 * offsets.  out_truths holds at least n_images*boxes_per_image boxes;
 * out_offsets n_images + 1 entries. */
RL_API rl_status rl_truths_from_darknet(const float *buffer, int32_t n_images,
                                        int32_t boxes_per_image, int32_t n_classes,
                                        rl_box *out_truths, int64_t *out_offsets);

/* Flat label rows, 6 floats each: image, class, cx, cy, w, h (the CLI's
 * label format), rows of an image in any order, to rl_box truths ordered by
 * image (a stable sort: an image's rows keep their order) and offsets.
 * Checks that image is an integer in [0, n_images) and class an integer
 * that fits int32 (its range [0, C) and the box values are rl_compute's
 * checks); on failure nothing is written.  out_truths holds n_rows boxes
 * (may be NULL when n_rows is 0); out_offsets n_images + 1 entries. */
RL_API rl_status rl_truths_from_rows(const float *rows, int64_t n_rows, int32_t n_images,
                                     rl_box *out_truths, int64_t *out_offsets);

/* ------------------------------------------------------------------------
 * The YOLOv3 head: darknet's [yolo] layer (docs/loss.md, "The [yolo] head").
 *
 * A network has one head per output scale; each head's tensor is laid out
 * as the region loss's (rl_layout, 5 + C entries per slot: tx, ty, tw, th,
 * tc, then C class logits), on its own grid and with its own anchors, given
 * by their indices (`mask`) in the network's anchor list.  Truths are
 * rl_box values, as for the region loss.  A truth is matched to the anchor
 * of the whole list whose shape fits it best; the head holding that anchor
 * makes the slot of the truth's cell responsible for it, every other head
 * has no positive for it.  Classes are independent logistics with binary
 * cross-entropy, several truths on one slot make a multi-label target.
 *
 * One plan may hold every head of a network (one call: the truths are
 * checked and matched once, the pool's threads share all heads) or a single
 * head (darknet calls its layers one by one: give that head's mask and the
 * whole anchor list).  The conventions of the region loss hold: validation
 * before anything is written, no allocation with a workspace, results that
 * do not depend on the thread count, both gradient modes, every element
 * type. */

#define RL_YOLO_MAX_HEADS 16

/* The box term of a [yolo] head's positives (docs/loss.md, "IoU-family box
 * losses").  RL_BOX_MSE: binary cross-entropy on the centre's offsets and
 * squared error on the log sizes (the default, darknet's).  The others:
 * 1 - XIoU of the decoded box and its truth, whose gradient is exact
 * through the decoding (CIoU's alpha held constant). */
typedef enum rl_box_loss {
    RL_BOX_MSE = 0,
    RL_BOX_IOU = 1,
    RL_BOX_GIOU = 2,
    RL_BOX_DIOU = 3,
    RL_BOX_CIOU = 4
} rl_box_loss;

/* Whose [yolo] layer a plan computes (docs/darknet.md): pjreddie's, the
 * definition of docs/loss.md, or AlexeyAB's forward_yolo_layer, its deltas
 * and its cost reproduced with its options. */
typedef enum rl_yolo_flavour {
    RL_YOLO_FLAVOUR_PJREDDIE = 0,
    RL_YOLO_FLAVOUR_ALEXEYAB = 1
} rl_yolo_flavour;

typedef struct rl_yolo_head {
    int32_t H, W;          /* grid rows and columns of this head */
    int32_t B;             /* anchors of this head */
    const int32_t *mask;   /* B distinct indices into rl_yolo_config.anchors; copied */
} rl_yolo_head;

typedef struct rl_yolo_config {
    int32_t n_heads;             /* 1 .. RL_YOLO_MAX_HEADS */
    const rl_yolo_head *heads;   /* n_heads heads; copied by rl_yolo_plan_create */
    int32_t C;                   /* classes, >= 1 */
    int32_t n_anchors;           /* A: anchors of the whole network */
    const float *anchors;        /* 2*A values w0,h0,w1,h1,... in pixels; copied */
    int32_t net_w, net_h;        /* the network's input size in pixels */
    rl_layout layout;
    int16_t pred_dtype;          /* rl_dtype of every head's predictions */
    int16_t grad_dtype;          /* RL_DTYPE_F32 or pred_dtype */
    double lambda_coord, lambda_class, lambda_obj, lambda_noobj; /* default 1 */
    double ignore_thresh;        /* a non-responsible slot with best IoU <= this is a
                                    negative (default 0.7) */
    double truth_thresh;         /* a slot with best IoU > this is a positive of its best
                                    truth (default 1: never) */
    rl_norm norm;                /* RL_NORM_IMAGES (default): / images; RL_NORM_SUM: darknet's */
    rl_grad_mode grad_mode;
    const char *variant;         /* as rl_config.variant */
    int32_t threads;             /* as rl_config.threads */
    int32_t box_loss;            /* rl_box_loss (default RL_BOX_MSE) */
    /* The flavour (rl_yolo_flavour) and AlexeyAB's options, named as its
     * [yolo] keys, with its defaults (docs/darknet.md, "AlexeyAB's [yolo]
     * layer").  With RL_YOLO_FLAVOUR_PJREDDIE they must keep their defaults. */
    int32_t flavour;             /* default RL_YOLO_FLAVOUR_PJREDDIE */
    int32_t iou_loss;            /* rl_box_loss: mse (default), iou, giou, diou, ciou */
    int32_t iou_thresh_kind;     /* rl_box_loss, not mse: default RL_BOX_IOU */
    int32_t focal_loss;          /* 0 (default) or 1 */
    int32_t new_coords;          /* 0 (default) or 1 */
    int32_t objectness_smooth;   /* 0 (default) or 1 */
    int32_t max_boxes;           /* darknet's `max`: truths read per image (default 200) */
    int32_t show_details;        /* 1 (default): darknet's cost of an IoU kind; 0: sum of squares */
    double iou_normalizer;       /* default 0.75 (scales the mse box deltas too) */
    double cls_normalizer;       /* default 1 (acts with counters_per_class only) */
    double obj_normalizer;       /* default 1 */
    double scale_x_y;            /* default 1 */
    double iou_thresh;           /* default 1 (no extra positives) */
    double label_smooth_eps;     /* default 0 */
    double max_delta;            /* default FLT_MAX (no clipping) */
    const int32_t *counters_per_class; /* NULL (default) or C counts >= 0; copied */
    /* Appended in 0.2: the multipliers themselves, as darknet's layer holds
     * them (l.classes_multipliers, which parse_yolo derives from
     * counters_per_class and max_delta): NULL (default) or C finite values
     * > 0; copied.  At most one of the two is set. */
    const float *classes_multipliers;
} rl_yolo_config;

/* Defaults: no heads, every lambda 1, ignore_thresh 0.7, truth_thresh 1,
 * norm images, NCHW, float32, overwrite, variant auto, 1 thread, box loss
 * RL_BOX_MSE, flavour pjreddie, AlexeyAB's options at its defaults. */
RL_API void rl_yolo_config_init(rl_yolo_config *cfg);

typedef struct rl_yolo_plan rl_yolo_plan;

RL_API rl_status rl_yolo_plan_create(const rl_yolo_config *cfg, rl_yolo_plan **out_plan);
RL_API void rl_yolo_plan_destroy(rl_yolo_plan *plan);
RL_API const char *rl_yolo_plan_variant(const rl_yolo_plan *plan);
/* Entries of head `head`'s predictions (and gradient) for n images. */
RL_API rl_status rl_yolo_tensor_size(const rl_yolo_plan *plan, int32_t head, int32_t n_images,
                                     size_t *out_count);

typedef struct rl_yolo_batch {
    int32_t n_images;
    const void *const *preds;     /* n_heads tensors, head h of rl_yolo_tensor_size(h) entries */
    const rl_box *truths;         /* as rl_batch */
    const int64_t *truth_offsets; /* as rl_batch */
    /* Optional, norm images only: divide by global_counts->n_images (the
     * images of every shard) instead of this call's n_images. */
    const rl_counts *global_counts;
    void *workspace;              /* optional, rl_yolo_workspace_size() bytes */
    size_t workspace_size;
} rl_yolo_batch;

/* Bytes of workspace rl_yolo_compute needs for this batch shape. */
RL_API rl_status rl_yolo_workspace_size(const rl_yolo_plan *plan, int32_t n_images,
                                        int64_t n_truths, size_t *out_bytes);

/* Loss, parts, counts and diagnostics of every head, and with grads !=
 * NULL the gradient of every head (grads[h] for head h, entries of the
 * plan's grad_dtype; a NULL grads[h] skips that head's gradient).
 *   total     the whole call: the sum over heads (coord is the box term);
 *             darknet's statistics averaged over every head's truths
 *   per_head  optional, n_heads results: each head's own
 * In an rl_result of a head: coord, cls, obj, noobj the parts of the loss,
 * warmup 0; n_obj the positive slots, n_noobj the negatives, n_truths the
 * truths of the batch; avg_* over positive slots; darknet.* darknet's
 * training line of that [yolo] layer (count: truths matched to this head)
 * and darknet.cost the squared norm of darknet's delta. */
RL_API rl_status rl_yolo_compute(const rl_yolo_plan *plan, const rl_yolo_batch *batch,
                                 rl_result *total, rl_result *per_head, void *const *grads);

#ifdef __cplusplus
}
#endif

#endif /* REGIONLOSS_H */
