/* Library-internal declarations shared by the driver, the reference and the
 * kernels.  Nothing here is installed. */
#ifndef RL_INTERNAL_H
#define RL_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "regionloss.h"

#ifndef RL_HIDDEN
#define RL_HIDDEN __attribute__((visibility("hidden")))
#endif


/* The validated, immutable numbers of a plan: what every variant reads. */
typedef struct rl_params {
    int32_t H, W, B, C;
    int32_t K;          /* 5 + C: entries per slot */
    int64_t HW;         /* H*W */
    int64_t per_image;  /* B*K*H*W: floats per image */
    const float *anchors; /* 2*B, owned by the plan */
    rl_layout layout;
    rl_mode mode;
    double lambda_coord, lambda_class, lambda_obj, lambda_noobj;
    double thresh;
    rl_norm norm;
    rl_grad_mode grad_mode;
    int32_t pred_type, grad_type; /* rl_dtype: of batch->pred, of the gradient */
    int32_t rescore, logistic_classes;
    int64_t warmup_seen;
    double warmup_scale;
    int32_t flavour, classfix, focal_loss; /* darknet mode; 0 otherwise */
    /* A [yolo] head (mode RL_MODE_YOLO; docs/loss.md).  thresh is the
     * ignore_thresh, norm RL_NORM_SUM or RL_NORM_IMAGES, and `anchors`
     * above are this head's anchors in grid cells, aw[mask[b]] * W / net_w
     * rounded to float, for the kernels, which decode in grid cells (IoU does
     * not change when each axis is scaled).  The definitions in pixels: */
    const int32_t *mask;        /* B indices into yolo_anchors */
    const float *yolo_anchors;  /* 2*n_anchors values, pixels: the whole network's list */
    int32_t n_anchors;
    int32_t net_w, net_h;
    double truth_thresh;
    int32_t box_loss;           /* rl_box_loss */
    const double *anchors_d;    /* 2*B: this head's anchors in grid cells, in double */
    const struct rl_yolo_ab *ab; /* flavour alexeyab: its options (the plan's); else NULL */
    /* Set only by the darknet adapter (src/darknet_adapter.c), never by a
     * public config.  grad_scale multiplies every gradient entry as it is
     * stored (1 for every plan the public API makes; -1 stores darknet's
     * delta); it is folded into the weights, so it costs no pass.
     * class_update: logistic classes get lambda_class (s - y) at the
     * responsible slot, the update darknet applies (the gradient of binary
     * cross-entropy), instead of the gradient of their squared error. */
    double grad_scale;
    int32_t class_update;
} rl_params;

/* AlexeyAB's [yolo] options of a plan of flavour alexeyab, checked
 * (docs/darknet.md, "AlexeyAB's [yolo] layer"); class_mult is NULL without
 * counters_per_class, else C multipliers, computed in float as darknet
 * does. */
typedef struct rl_yolo_ab {
    int32_t iou_loss, iou_thresh_kind; /* rl_box_loss */
    int32_t focal_loss, new_coords, objectness_smooth, max_boxes, show_details;
    double iou_normalizer, cls_normalizer, obj_normalizer, scale_x_y, iou_thresh;
    double label_smooth_eps, max_delta;
    const float *class_mult;
} rl_yolo_ab;

/* The mode of a [yolo] head's rl_params; never a value of rl_config.mode. */
#define RL_MODE_YOLO ((rl_mode)2)

struct rl_variant_desc;
struct rl_pool;

#include "kernels.h"

struct rl_plan {
    rl_params p;   /* of a region plan, or of one head of a yolo plan */
    rl_kernels kernels;  /* filled once from the variant at creation */
    float *anchors_storage;
    const struct rl_variant_desc *variant;
    struct rl_pool *pool;   /* NULL when threads == 1 */
    int32_t threads;
};

/* A network's [yolo] heads: one rl_plan each (params and kernel table),
 * sharing the variant and the pool, which the yolo plan owns. */
struct rl_yolo_plan {
    int32_t n_heads;
    rl_plan heads[RL_YOLO_MAX_HEADS];
    const struct rl_variant_desc *variant;
    struct rl_pool *pool;
    int32_t threads;
    void *storage;  /* masks, anchors: one block */
    int32_t flavour;  /* rl_yolo_flavour */
    rl_yolo_ab ab;    /* flavour alexeyab: its options (heads' p.ab point here) */
};

/* The anchor of the whole list whose shape fits the truth best (section
 * "Which slots are responsible" of docs/loss.md; ties to the smaller
 * index), and whether it is anchor *b of head p, with the truth's cell
 * (*i, *j).  Written once, used by the validator and the driver; the
 * reference has its own. */
RL_HIDDEN int32_t rl_yolo_best_anchor(const rl_params *p, const rl_box *t);
RL_HIDDEN int rl_yolo_match(const rl_params *p, int32_t best_anchor, const rl_box *t, int32_t *i,
                            int32_t *j, int32_t *b);

/* Offset of entry k of slot (n, i, j, b) in the plan's layout. */
static inline int64_t rl_index(const rl_params *p, int64_t n, int64_t i, int64_t j,
                               int64_t b, int64_t k)
{
    if (p->layout == RL_LAYOUT_NCHW)
        return ((n * p->B + b) * p->K + k) * p->HW + i * p->W + j;
    return (((n * p->H + i) * p->W + j) * p->B + b) * p->K + k;
}

/* Errors: set the thread's message and return the status. */
RL_HIDDEN rl_status rl_fail(rl_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
RL_HIDDEN void rl_clear_error(void);

/* Validation of a batch against a plan.  rl_validate_batch checks the shape,
 * offsets and truths; rl_validate_preds the predictions the loss reads:
 * channels 0..4 of every slot and the class logits of every responsible slot.
 * The reference runs it before computing; the driver finds non-finite values
 * during its first phase (before writing) and calls it only to name them. */
RL_HIDDEN rl_status rl_validate_batch(const rl_params *p, const rl_batch *batch);
RL_HIDDEN rl_status rl_validate_batch_shape(const rl_params *p, const rl_batch *batch);
RL_HIDDEN rl_status rl_validate_preds(const rl_params *p, const rl_batch *batch);
/* The C class logits of slot (n, i, j, b) are finite (else the error names one). */
RL_HIDDEN rl_status rl_validate_class_logits(const rl_params *p, const void *pred, int64_t n,
                                             int64_t i, int64_t j, int64_t b);

/* Head h of a [yolo] batch as a region-shaped batch (its predictions, the
 * truths; no global counts, whose n_images alone a head reads), for the
 * validator and the driver. */
RL_HIDDEN rl_batch rl_yolo_head_batch(const rl_yolo_batch *yb, int32_t h);
/* Every head's predictions that the loss reads are finite (yolo_plan.c);
 * the message names the head when the plan has several. */
RL_HIDDEN rl_status rl_yolo_validate_preds(const rl_yolo_plan *plan, const rl_yolo_batch *batch);

/* How a darknet truth row outside [0, n_classes) is read: as an error (the
 * library's rule), or passed over as AlexeyAB's layers do, [region] before
 * its end-of-list test (a passed row does not end the list even with x 0)
 * and [yolo] after it (region_layer.c and yolo_layer.c, forward_*). */
typedef enum rl_dn_rows {
    RL_DN_ROWS_STRICT = 0,
    RL_DN_ROWS_AB_REGION = 1,
    RL_DN_ROWS_AB_YOLO = 2
} rl_dn_rows;

/* rl_truths_from_darknet with floats_per_box floats per box (pjreddie 5,
 * AlexeyAB 6: a track id after the class), for the darknet adapter. */
RL_HIDDEN rl_status rl_truths_from_darknet_rows(const float *buffer, int32_t n_images,
                                                int32_t boxes_per_image, int32_t floats_per_box,
                                                int32_t n_classes, rl_dn_rows rows,
                                                rl_box *out_truths, int64_t *out_offsets);

/* Fill the averaged diagnostics of r from its raw sums and counts. */
RL_HIDDEN void rl_finish_diagnostics(rl_result *r);

/* AlexeyAB's [region] flavour (src/flavour.c).  rl_flavour_skips: whether
 * the flavour passes over truth t (a class >= C).  rl_flavour_batch: *out is
 * *in without those truths, in rl_flavour_ws() bytes taken from the front of
 * in's workspace (or allocated, then *owned is to be freed); *out = *in when
 * nothing is skipped. */
RL_HIDDEN rl_status rl_check_flavour(const rl_config *cfg);
RL_HIDDEN int rl_flavour_skips(const rl_params *p, const rl_box *t);
RL_HIDDEN size_t rl_flavour_ws(const rl_params *p, int64_t n_images, int64_t n_truths);
RL_HIDDEN rl_status rl_flavour_batch(const rl_params *p, const rl_batch *in, rl_batch *out,
                                     void **owned);

#endif
