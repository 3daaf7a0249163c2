/*
 * regionloss_darknet.h: darknet's [region] and [yolo] layers computed by
 * the library, for a trainer built on darknet (pjreddie's or AlexeyAB's).
 *
 * One call in the layer's forward pass replaces its loss code: it takes the
 * numbers the darknet layer holds (copied into rl_darknet_layer, so this
 * header never sees darknet's own types), the raw input of the layer, the
 * truth buffer and the image counter, and writes darknet's delta (minus the
 * gradient with respect to the raw input: what the layer's backward pass
 * adds into net.delta) straight into l.delta, or adds it into a buffer
 * that already holds other deltas.  It returns darknet's cost and the
 * values of its training line.  docs/darknet.md shows where the calls go.
 *
 * A state object (rl_darknet) belongs to one layer.  It keeps the plan and
 * the scratch of that layer and builds them again when the layer's fields
 * change (darknet's random=1 resizes the network every few batches), so
 * several layers and several networks in one process each keep their own.
 * Once built, a call allocates nothing.
 *
 * The conventions of regionloss.h hold: every function returns an
 * rl_status; on failure nothing is written (the delta buffer and *out are
 * untouched, the state keeps the plan it had) and rl_last_error() names the
 * field and the value at fault.  A state is not thread-safe: one call at a
 * time per state (darknet runs a layer's forward once per batch).
 */
#ifndef REGIONLOSS_DARKNET_H
#define REGIONLOSS_DARKNET_H

#include "regionloss.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rl_darknet_type {
    RL_DARKNET_REGION = 0, /* [region]: YOLOv2 (forward_region_layer) */
    RL_DARKNET_YOLO = 1    /* [yolo]: YOLOv3 and later (forward_yolo_layer) */
} rl_darknet_type;

/* The layer, as darknet holds it: fill every field from `l` and `net`
 * after darknet has parsed the cfg (parse_region / parse_yolo set the
 * scales and thresholds after make_*_layer returns, so a value read there
 * would be the defaults).  rl_darknet_layer_init sets darknet's defaults
 * for the type; fields of the other type are ignored.  The loss is
 * pjreddie's layer's (docs/loss.md), or with flavour alexeyab
 * (RL_FLAVOUR_ALEXEYAB for [region], RL_YOLO_FLAVOUR_ALEXEYAB for [yolo],
 * both 1) AlexeyAB's, with its options. */
typedef struct rl_darknet_layer {
    int32_t type;          /* rl_darknet_type */
    int32_t batch;         /* l.batch: images in the call */
    int32_t h, w;          /* l.h, l.w: the grid */
    int32_t n;             /* l.n: anchors at each cell */
    int32_t classes;       /* l.classes */
    const float *biases;   /* l.biases.  [region]: 2*n anchor sizes in grid cells;
                              [yolo]: 2*total anchor sizes in pixels */
    /* net.truth: max_boxes boxes per image of truth_floats floats each,
     * x, y, w, h, class (AlexeyAB adds a track id, ignored); an image's
     * list ends at the first box whose x is 0. */
    int32_t max_boxes;     /* pjreddie: 30 for [region], l.max_boxes (90) for [yolo];
                              AlexeyAB: l.max_boxes for both (default 200) */
    int32_t truth_floats;  /* 5 (pjreddie) or 6 (AlexeyAB: l.truth_size) */

    /* [region] */
    int32_t coords;        /* l.coords: only 4 */
    float coord_scale, class_scale, object_scale, noobject_scale; /* l.*_scale */
    float thresh;          /* l.thresh: a slot is a negative iff its best IoU <= thresh */
    int32_t rescore;       /* l.rescore: objectness target the IoU (1) or 1 (0) */
    int32_t softmax;       /* l.softmax: 1 softmax classes, 0 logistic classes */
    int32_t bias_match;    /* l.bias_match: only 1 */
    int32_t background;    /* l.background: only 0 */
    int32_t tree;          /* nonzero when l.softmax_tree is set: not supported */

    /* [yolo] */
    int32_t total;         /* l.total: anchors of the whole network */
    const int32_t *mask;   /* l.mask: n indices into the total anchors */
    int32_t net_w, net_h;  /* net.w, net.h: the input size in pixels */
    float ignore_thresh;   /* l.ignore_thresh */
    float truth_thresh;    /* l.truth_thresh */

    /* [region], appended in 0.2 */
    int32_t map;           /* nonzero when l.map is set: not supported */
    /* rl_flavour: whose [region] layer (RL_DARKNET_ALEXEYAB_REGION sets
     * RL_FLAVOUR_ALEXEYAB: AlexeyAB's deltas and cost, docs/darknet.md); the
     * two below are AlexeyAB's and need it */
    int32_t flavour;
    int32_t classfix;      /* l.classfix: -1, 0, 1 or 2 */
    int32_t focal_loss;    /* l.focal_loss: 0 or 1 ([region]: softmax classes only) */

    /* [yolo], appended in 0.2: AlexeyAB's layer.  flavour (above) is then an
     * rl_yolo_flavour; with RL_YOLO_FLAVOUR_ALEXEYAB (which
     * RL_DARKNET_ALEXEYAB_YOLO sets) the fields below and focal_loss, map
     * and max_boxes are read, as parse_yolo left them (docs/darknet.md,
     * "AlexeyAB's [yolo] layer"); with pjreddie's they are not read. */
    int32_t iou_loss;         /* l.iou_loss in darknet's IOU_LOSS numbering:
                                 IOU 0, GIOU 1, MSE 2, DIOU 3, CIOU 4 */
    int32_t iou_thresh_kind;  /* l.iou_thresh_kind, the same numbering, not MSE */
    int32_t new_coords;       /* l.new_coords: 0 or 1 */
    int32_t objectness_smooth; /* l.objectness_smooth: 0 or 1 */
    int32_t show_details;     /* l.show_details: 0 or 1 (what the cost sums) */
    float iou_normalizer, cls_normalizer, obj_normalizer; /* l.*_normalizer */
    float scale_x_y;          /* l.scale_x_y */
    float iou_thresh;         /* l.iou_thresh */
    float label_smooth_eps;   /* l.label_smooth_eps */
    float max_delta;          /* l.max_delta */
    const float *classes_multipliers; /* l.classes_multipliers: NULL or `classes` values */
} rl_darknet_layer;

/* A layer's fields from darknet's own `layer` value `l` (and its network's
 * input size for [yolo]), by field name, as a compound literal: C only.
 * Use them inside forward_region_layer / forward_yolo_layer:
 *     rl_darknet_forward(st, &RL_DARKNET_PJREDDIE_REGION(l), ...)
 * pjreddie/darknet's region layer reads 30 truths of 5 floats; AlexeyAB's
 * layers keep the count and the row size in l.max_boxes and l.truth_size. */
#define RL_DARKNET_REGION_FIELDS_(l)                                                          \
    .type = RL_DARKNET_REGION, .batch = (l).batch, .h = (l).h, .w = (l).w, .n = (l).n,       \
    .classes = (l).classes, .biases = (l).biases, .coords = (l).coords,                       \
    .coord_scale = (l).coord_scale, .class_scale = (l).class_scale,                           \
    .object_scale = (l).object_scale, .noobject_scale = (l).noobject_scale,                   \
    .thresh = (l).thresh, .rescore = (l).rescore, .softmax = (l).softmax,                     \
    .bias_match = (l).bias_match, .background = (l).background,                               \
    .tree = (l).softmax_tree != 0, .map = (l).map != 0
#define RL_DARKNET_YOLO_FIELDS_(l, net_w_, net_h_)                                            \
    .type = RL_DARKNET_YOLO, .batch = (l).batch, .h = (l).h, .w = (l).w, .n = (l).n,         \
    .classes = (l).classes, .biases = (l).biases, .max_boxes = (l).max_boxes,                 \
    .total = (l).total, .mask = (l).mask, .net_w = (net_w_), .net_h = (net_h_),               \
    .ignore_thresh = (l).ignore_thresh, .truth_thresh = (l).truth_thresh
/* pjreddie: forward_region_layer(const layer l, network net) and
 * forward_yolo_layer(const layer l, network net) */
#define RL_DARKNET_PJREDDIE_REGION(l)                                                         \
    ((rl_darknet_layer){RL_DARKNET_REGION_FIELDS_(l), .max_boxes = 30, .truth_floats = 5})
#define RL_DARKNET_PJREDDIE_YOLO(l, net)                                                      \
    ((rl_darknet_layer){RL_DARKNET_YOLO_FIELDS_(l, (net).w, (net).h), .truth_floats = 5})
/* AlexeyAB: forward_region_layer(const region_layer l, network_state state)
 * and forward_yolo_layer(const layer l, network_state state): pass
 * state.net as `net` */
#define RL_DARKNET_ALEXEYAB_REGION(l)                                                         \
    ((rl_darknet_layer){RL_DARKNET_REGION_FIELDS_(l), .max_boxes = (l).max_boxes,           \
                        .truth_floats = (l).truth_size, .flavour = RL_FLAVOUR_ALEXEYAB,       \
                        .classfix = (l).classfix, .focal_loss = (l).focal_loss})
#define RL_DARKNET_ALEXEYAB_YOLO(l, net)                                                      \
    ((rl_darknet_layer){RL_DARKNET_YOLO_FIELDS_(l, (net).w, (net).h),                       \
                        .truth_floats = (l).truth_size, .flavour = RL_YOLO_FLAVOUR_ALEXEYAB,  \
                        .focal_loss = (l).focal_loss, .map = (l).map != 0,                    \
                        .iou_loss = (int32_t)(l).iou_loss,                                    \
                        .iou_thresh_kind = (int32_t)(l).iou_thresh_kind,                      \
                        .new_coords = (l).new_coords,                                         \
                        .objectness_smooth = (l).objectness_smooth,                           \
                        .show_details = (l).show_details,                                     \
                        .iou_normalizer = (l).iou_normalizer,                                 \
                        .cls_normalizer = (l).cls_normalizer,                                 \
                        .obj_normalizer = (l).obj_normalizer, .scale_x_y = (l).scale_x_y,     \
                        .iou_thresh = (l).iou_thresh,                                         \
                        .label_smooth_eps = (l).label_smooth_eps,                             \
                        .max_delta = (l).max_delta,                                           \
                        .classes_multipliers = (l).classes_multipliers})

/* Darknet's defaults for `type`.  [region]: yolo-voc.cfg's section (coords 4,
 * scales 1, 1, 5, 1, thresh .6, rescore 1, softmax 1, bias_match 1,
 * max_boxes 30); [yolo]: pjreddie's parse_yolo's (ignore_thresh .5,
 * truth_thresh 1, max_boxes 90), and AlexeyAB's options at its parse_yolo's
 * defaults (iou_loss MSE (2), iou_thresh_kind IOU (0), show_details 1,
 * iou_normalizer .75, cls_normalizer and obj_normalizer 1, scale_x_y 1,
 * iou_thresh 1, label_smooth_eps 0, max_delta FLT_MAX), flavour pjreddie.
 * truth_floats 5; the sizes, biases and mask are left 0. */
RL_API void rl_darknet_layer_init(rl_darknet_layer *l, rl_darknet_type type);

typedef struct rl_darknet_options {
    /* What the gradient is multiplied by as it is stored: -1 (default)
     * writes darknet's delta.  The factor is folded into the loss weights,
     * so it costs no pass over the buffer; with -1 each entry is the
     * gradient's exact negation. */
    double delta_scale;
    /* RL_GRAD_OVERWRITE (default): the whole delta buffer is written (the
     * layer's own l.delta).  RL_GRAD_ACCUMULATE: added into it, touching
     * only the entries the loss reaches (net.delta, or an l.delta that
     * holds other terms). */
    rl_grad_mode delta_mode;
    /* [region] with softmax=0 only.  0 (default): class entries get the
     * gradient of the loss, the squared error of s(t) (docs/loss.md).
     * 1: darknet's update, class_scale ([c == class] - s(t)), which is what
     * darknet's backward pass applies to the class inputs. */
    int32_t darknet_class_update;
    /* [region]: darknet's warm-up prior, on while seen < warmup_seen
     * (12800), weight warmup_scale (.01). */
    int64_t warmup_seen;
    double warmup_scale;
    const char *variant;   /* NULL or "auto", or a name of rl_variant_list(); copied */
    int32_t threads;       /* as rl_config.threads: 1 (default) or a plan-owned pool */
} rl_darknet_options;

RL_API void rl_darknet_options_init(rl_darknet_options *opt);

typedef struct rl_darknet rl_darknet;

/* A state for one layer; opt NULL means the defaults.  The plan is built by
 * the first rl_darknet_forward, from the layer's fields then. */
RL_API rl_status rl_darknet_create(const rl_darknet_options *opt, rl_darknet **out_state);
RL_API void rl_darknet_destroy(rl_darknet *state);

typedef struct rl_darknet_result {
    double cost;             /* darknet's *l.cost: the sum of the squares of its
                                l.delta, summed in double.  pjreddie's [region] takes
                                its delta on the activated outputs, so its cost is not
                                the squares of the buffer written here; AlexeyAB's
                                (flavour RL_FLAVOUR_ALEXEYAB) carries s' and is */
    double loss;             /* the loss whose gradient was stored (docs/loss.md) */
    rl_darknet_stats stats;  /* the values of darknet's training line:
                                avg_iou, avg_cls, avg_obj, avg_anyobj, recall,
                                recall75, count */
    int32_t replanned;       /* 1 when this call built the plan (first call, or
                                changed fields), else 0 */
    const char *variant;     /* the variant that computed it (static string) */
} rl_darknet_result;

/* The layer's training step.
 *   input  the layer's raw input, l.batch * l.inputs floats (net.input in
 *          forward_*_layer on the CPU; on a GPU build net.input_gpu pulled
 *          to the host, never the activated l.output)
 *   truth  net.truth, l.batch * max_boxes * truth_floats floats
 *   seen   *net.seen ([region]'s warm-up; ignored by [yolo])
 *   delta  l.batch * l.outputs floats: written or added into as
 *          opt.delta_mode says, times opt.delta_scale
 *   out    optional */
RL_API rl_status rl_darknet_forward(rl_darknet *state, const rl_darknet_layer *l,
                                    const float *input, const float *truth, int64_t seen,
                                    float *delta, rl_darknet_result *out);

/* ------------------------------------------------------------------------
 * Darknet's cfg files: the library set up from a [yolo] or [region]
 * section (docs/darknet.md, "From a cfg file").
 *
 * rl_darknet_cfg_parse reads the text of a cfg (pjreddie's or AlexeyAB's
 * syntax: [section] headers, key=value lines, '#' and ';' comments) and
 * keeps the loss options of one layer, given by darknet's layer index (the
 * number darknet prints at load: 0 for the first section after [net]).
 * Every option of that section is checked: a value that is not a number,
 * a wrong count of anchors, a mask index out of range, an option whose
 * value the library does not compute (a softmax tree, a class map, ...) or
 * an option it does not know fails with RL_ERR_BAD_ARGUMENT and a message
 * naming the line, the key and the value.  Options that do not change the
 * loss (jitter, random, nms_kind, ...) are accepted and ignored.  An option
 * the section leaves out takes darknet's default.
 *
 * The flavour: a section with an option only AlexeyAB's darknet reads
 * (scale_x_y, iou_loss, nms_kind, ..., classfix other than 0) is read as
 * AlexeyAB's layer (flavour alexeyab, with its options and its defaults),
 * any other as pjreddie's.  rl_darknet_cfg_parse_flavour chooses instead:
 * AlexeyAB's defaults differ (iou_normalizer 0.75 scales the box deltas of
 * a plain yolov3.cfg in AlexeyAB's darknet), and asking for pjreddie's
 * makes an AlexeyAB option an error at its line.
 *
 * The grid of the layer is not in the cfg (it depends on the layers before
 * it): the caller sets it, from the shape of the prediction tensor. */

typedef struct rl_darknet_cfg rl_darknet_cfg;

/* Parses `len` bytes of cfg text (no terminating NUL needed) and keeps
 * layer `layer`'s options in a new object.  On failure *out is untouched. */
RL_API rl_status rl_darknet_cfg_parse(const char *text, size_t len, int32_t layer,
                                      rl_darknet_cfg **out);
/* The flavour argument: RL_DARKNET_CFG_AUTO (as rl_darknet_cfg_parse
 * does), or the layer's flavour, 0 pjreddie or 1 alexeyab (rl_flavour's and
 * rl_yolo_flavour's values, which agree); another value is
 * RL_ERR_BAD_ENUM. */
#define RL_DARKNET_CFG_AUTO (-1)
RL_API rl_status rl_darknet_cfg_parse_flavour(const char *text, size_t len, int32_t layer,
                                              int32_t flavour, rl_darknet_cfg **out);
RL_API void rl_darknet_cfg_destroy(rl_darknet_cfg *cfg);
/* rl_darknet_type of the layer: RL_DARKNET_REGION or RL_DARKNET_YOLO. */
RL_API int32_t rl_darknet_cfg_type(const rl_darknet_cfg *cfg);
/* The line (1-based) of the layer's section header. */
RL_API int32_t rl_darknet_cfg_line(const rl_darknet_cfg *cfg);

/* [region]: *out as rl_config_init_darknet sets it, then the section's
 * options: B = num, C = classes, anchors (grid cells; they point into the
 * cfg object, valid until it is destroyed), the four scales, thresh,
 * rescore, logistic_classes = !softmax, flavour, and with flavour alexeyab
 * classfix and focal_loss.  H and W are left 0 for the caller.
 * RL_ERR_BAD_ARGUMENT when the layer is a [yolo]. */
RL_API rl_status rl_darknet_cfg_region(const rl_darknet_cfg *cfg, rl_config *out);

/* [yolo]: *out as rl_yolo_config_init sets it, then the section's options:
 * C = classes, the whole anchor list (num pairs, pixels), net_w and net_h
 * from [net]'s width and height, ignore_thresh, truth_thresh, flavour, and
 * with flavour alexeyab its options (max is max_boxes; counters_per_class
 * points into the cfg object); one head,
 * *head: B and mask (the section's mask=, or every anchor without one),
 * H and W left 0 for the caller; out->heads = head, out->n_heads = 1.
 * The anchors and the mask point into the cfg object.  A network of several
 * heads: one cfg object per [yolo] section, the heads gathered in one array.
 * RL_ERR_BAD_ARGUMENT when the layer is a [region]. */
RL_API rl_status rl_darknet_cfg_yolo(const rl_darknet_cfg *cfg, rl_yolo_config *out,
                                     rl_yolo_head *head);

#ifdef __cplusplus
}
#endif

#endif /* REGIONLOSS_DARKNET_H */
