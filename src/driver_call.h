/* The optimised driver's state of one call on one plan (one region layer,
 * or one head of a [yolo] plan), shared by driver.c, which runs the phases
 * every loss has, and driver_yolo.c, which adds what only the [yolo] head
 * does (its matching, truth_thresh and its per-object terms).  Nothing here
 * leaves the library. */
#ifndef RL_DRIVER_CALL_H
#define RL_DRIVER_CALL_H

#include "driver.h"

#define ALIGN 64
static inline size_t align_up(size_t x) { return (x + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

typedef struct obj_entry {
    int32_t kidx;   /* (b*H + i)*W + j: index into the image's kind array */
    int32_t truth;  /* the winning truth, index within the image */
    int32_t i, j, b;
    int32_t tt_truth; /* [yolo] with truth_thresh: the slot's best truth when its best IoU
                         exceeds truth_thresh (its class joins the targets), else -1 */
    double max, log_sum; /* of the class logits (softmax), set in phase 2 */
} obj_entry;

/* Flavour alexeyab (driver_yolo_ab.c): its own sums of an image. */
typedef struct ab_sums {
    double box2, cls2, obj2;  /* squared deltas of the positive slots */
    double noobj2;            /* squared objectness deltas of ignored slots (objectness_smooth) */
    double tot_iou, loss_iou, loss_giou, avg_obj, avg_cat; /* darknet's, over pass 2 */
    int64_t count, recall50, recall75;                     /* the same */
    int64_t n_pos;            /* positive slots */
} ab_sums;

/* A slot of pass 2 of flavour alexeyab: its kind index, and the last truth
 * that made it positive. */
typedef struct ab_rec {
    int64_t last;
    int32_t kidx;
} ab_rec;

typedef struct image_sums {
    rl_mask_sums m;
    double coord, cls, obj;               /* before weighting */
    double sum_iou, sum_obj, sum_cls;
    int64_t n_r50, n_r75;
    double cost_obj;                      /* darknet cost of the responsible slots */
    double dn_iou, dn_obj, dn_cls;        /* darknet per-truth statistics */
    int64_t dn_r50, dn_r75;
    int64_t dn_count;                     /* [yolo]: truths matched to this head */
    int64_t n_tt;                         /* [yolo]: positives of truth_thresh alone */
    int nonfinite_class;                  /* a class logit read by the loss is not finite */
    double ab_cost;                       /* AlexeyAB flavour: darknet cost of the other slots */
    int64_t ab_class_slots;               /* AlexeyAB classfix: class terms past thresh */
    ab_sums ab;                           /* flavour alexeyab of a [yolo] head */
} image_sums;

typedef struct workspace {
    uint8_t *kind;         /* N * slots */
    obj_entry *entries;    /* image n's entries start at truth_offsets[n] */
    int64_t *n_entries;    /* N */
    float *edges;          /* 5 * n_truths: x0, x1, y0, y1, area per truth */
    float *row_edges;      /* sparse path: 5 * n_truths, one row's truths */
    rl_box *row_boxes;     /* sparse path: n_truths, the same truths */
    int32_t *reach;        /* sparse path: 4 * n_truths, the rows and columns each truth reaches */
    int32_t *rowcov;       /* sparse path: N * (H + 1), how many truths reach each row */
    float *cslope;         /* N * slots: each slot's noobj gradient factor (phase 1 for phase 2) */
    image_sums *sums;      /* N */
    float *logits;         /* NULL, or C per entry: the responsible slots' class logits */
    float *class_in;       /* half predictions without `logits`: C per image, one slot's
                              logits widened for the softmax */
    float *class_grad;     /* with logits or class_in: C per image, the softmax's gradient
                              before scatter */
    /* [yolo] only */
    int32_t *tkidx;        /* n_truths: the kind index of the slot a truth is matched to
                              in this head, or -1 */
    uint8_t *ylabel;       /* N * C: one slot's class targets at a time */
    int32_t *tt_kidx;      /* with truth_thresh < 1, N * slots: image n's positives of
                              truth_thresh alone from n * slots, sums[n].n_tt of them */
    int32_t *tt_truth;     /* the same: their truth, index within the image */
    /* flavour alexeyab only */
    ab_rec *ab_rec;        /* B per truth: image n's pass-2 slots from B * truth_offsets[n],
                              ab_nrec[n] of them, sorted by kidx */
    int64_t *ab_nrec;      /* N */
    double *ab_delta;      /* K per ab_rec: their deltas, darknet's sign */
    double *ab_scratch;    /* K per image: one other positive slot's deltas */
} workspace;

typedef struct call {
    const rl_params *p;
    const rl_kernels *k;
    const rl_batch *batch;
    void *grad;   /* entries of p->grad_type */
    workspace w;
    int64_t slots;
    /* set between the phases */
    double kc, kp, ko, kn, kw;
    /* The same weights times params.grad_scale: what the gradient uses. */
    double gkc, gkp, gko, gkn, gkw;
    int warmup;
    int sparse;   /* phase 1 takes the sparse path (use_sparse) */
    double kthresh; /* the threshold the mask kernel decides by: thresh, or for a [yolo]
                       head min(ignore_thresh, truth_thresh) */
    const int32_t *best_anchor; /* [yolo]: per truth of the batch, its anchor in the list */
    const rl_driver_probe *probe;
} call;

/* driver.c */
RL_HIDDEN size_t rl_call_ws_bytes(const rl_params *p, int64_t N, int64_t nt);
RL_HIDDEN void rl_call_init(call *c, const rl_plan *plan, const rl_kernels *k,
                            const rl_batch *batch, void *grad, int counts_only, void *mem,
                            const int32_t *best_anchor, const rl_driver_probe *probe);
RL_HIDDEN int64_t rl_call_assign(call *c);
RL_HIDDEN void rl_call_phase1(void *arg, int64_t n);
RL_HIDDEN void rl_call_phase2(void *arg, int64_t n);
/* After phase 1: the counts, and whether anything the loss reads is not finite. */
RL_HIDDEN int rl_call_counts(const call *c, int64_t n_obj, rl_counts *own);
RL_HIDDEN void rl_call_set_weights(call *c, const rl_counts *nc);
RL_HIDDEN double rl_call_sigmoid(double z);
/* IoU of a box in grid units (centre px, py; size pw, ph) with truth t, in
 * double, as the reference computes it. */
RL_HIDDEN double rl_call_iou(const rl_params *p, double px, double py, double pw, double ph,
                             const rl_box *t);
RL_HIDDEN double rl_call_mul0(double k, double v);
RL_HIDDEN void rl_call_put(void *g, int type, int64_t idx, double v, int accumulate);
RL_HIDDEN uint32_t rl_call_check_logits(const void *pred, int64_t x0, int64_t cs, int32_t C,
                                        int type, float *copy);

RL_HIDDEN void rl_call_assign_one(const rl_params *p, const rl_box *t, int32_t *i, int32_t *j,
                                  int32_t *b);

/* driver_ab.c: AlexeyAB's [region] flavour.  Phase 1, after the mask
 * kernels and the class checks: classfix -1's negatives, the cost of the
 * slots without a truth, classfix 1, 2's class checks.  Phase 2, after the
 * grad kernels: the per-object terms, classfix's class terms and darknet's
 * statistics of image n. */
RL_HIDDEN void rl_ab_phase1(call *c, int64_t n);
RL_HIDDEN void rl_ab_objects(call *c, int64_t n);

/* driver_yolo.c */
RL_HIDDEN size_t rl_yolo_ws_extra(const rl_params *p, int64_t N, int64_t nt);
RL_HIDDEN void rl_yolo_ws_carve(const rl_params *p, int64_t N, int64_t nt, uintptr_t *a,
                                workspace *w);
/* Phase 1, after the mask kernels: the positives of truth_thresh. */
RL_HIDDEN void rl_yolo_truth_thresh(const call *c, int64_t n, const rl_truth_soa *T);
/* Phase 2: the per-object terms and darknet's statistics of image n. */
RL_HIDDEN void rl_yolo_objects(call *c, int64_t n);
/* The head's result from its calls' per-image sums. */
RL_HIDDEN void rl_yolo_reduce(const call *c, const rl_counts *own, rl_result *r);

/* driver_yolo_ab.c: flavour alexeyab (p->ab set) */
RL_HIDDEN size_t rl_yolo_ab_ws_extra(const rl_params *p, int64_t N, int64_t nt);
RL_HIDDEN void rl_yolo_ab_ws_carve(const rl_params *p, int64_t N, int64_t nt, uintptr_t *a,
                                   workspace *w);
/* Whether the kernels decode the flavour's box (scale_x_y 1, new_coords 0). */
RL_HIDDEN int rl_yolo_ab_standard(const rl_params *p);
/* Assignment: image n's pass-2 slots, marked RL_KIND_OBJ for the kernels to skip. */
RL_HIDDEN void rl_yolo_ab_mark(const call *c, int64_t n);
/* Phase 1, after the kernels (standard decoding) or instead of them: every
 * slot's decision. */
RL_HIDDEN void rl_yolo_ab_phase1(const call *c, int64_t n);
/* Phase 2, after the grad kernel: every delta but the negatives'. */
RL_HIDDEN void rl_yolo_ab_objects(call *c, int64_t n);
RL_HIDDEN void rl_yolo_ab_reduce(const call *c, rl_result *r);

#endif
