/* An independent re-statement of darknet's YOLOv2 region layer
 * (forward_region_layer with its helpers delta_region_box and
 * delta_region_class), in the form darknet computes it: activate the raw
 * outputs, then write l.delta on the *activated* outputs slot by slot and
 * truth by truth, each write overwriting the last, and finally print the
 * training line and set the cost to the sum of squared deltas.
 *
 * Written from issue 5's description and the published algorithm, sharing
 * nothing with the library.  It differs from darknet's C in three deliberate
 * ways, all of them decisions of issue 5 / docs/darknet.md:
 *   - double precision throughout (darknet: float), so that the comparison
 *     with the double reference tests the algorithm, not float rounding;
 *   - a truth's cell is clamped to the grid (darknet indexes one past the
 *     last column or row when x or y is exactly 1);
 *   - the warm-up length and scale are parameters (darknet: 12800 and .01),
 *     and a second truth on a slot replaces the first one's class deltas in
 *     logistic mode too (darknet keeps both there; see docs/darknet.md). */
#ifndef DN_MODEL_H
#define DN_MODEL_H

#include <stdint.h>

/* Darknet's printf line plus the count behind it. */
typedef struct dn_line {
    double avg_iou;    /* Region Avg IOU */
    double avg_cat;    /* Class */
    double avg_obj;    /* Obj */
    double avg_anyobj; /* No Obj */
    double recall;     /* Avg Recall (IoU > .5) */
    double recall75;   /* IoU > .75: not printed by the region layer, kept for rl_result */
    int count;
} dn_line;

typedef struct dn_region {
    /* make_region_layer and the [region] section */
    int batch, w, h, n, classes;
    int max_boxes;            /* 30 in darknet */
    const float *biases;      /* anchors: 2n values, grid cells */
    double coord_scale, class_scale, object_scale, noobject_scale, thresh;
    int rescore, softmax;     /* softmax 0: logistic classes */
    int64_t warmup_seen;      /* darknet: 12800 */
    double warmup_scale;      /* darknet: .01 */
    /* filled by dn_forward; batch * outputs entries each */
    int outputs;              /* per image: h*w*n*(classes + 5) */
    double *output, *delta;
    double *best_iou;         /* per slot (b, n, j, i): the noobj decision's IoU */
    double *truth_iou;        /* per truth read (b*max_boxes + t): IoU at its slot */
    double cost;
    dn_line line;
} dn_region;

/* Allocates output, delta and the per-slot arrays from the fields set. */
void dn_alloc(dn_region *l);
void dn_free(dn_region *l);

/* The forward pass of a training step: `input` is the convolution's raw
 * output (NCHW, channel n*(classes+5) + entry), `truth` darknet's net.truth
 * (max_boxes x {x, y, w, h, class} per image, a list ending at x == 0),
 * `seen` is *net.seen (this batch included). */
void dn_forward(dn_region *l, const float *input, const float *truth, int64_t seen);

/* Offset of `entry` of anchor n at cell (row j, column i) of image b. */
int dn_entry(const dn_region *l, int b, int n, int j, int i, int entry);

#endif
