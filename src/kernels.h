/* The per-ISA kernel table of the optimised driver (driver.c).  Each
 * signature is declared once here; each ISA fills one rl_kernels in its own
 * unit.  Kept small on purpose: every entry is code written once per ISA.
 * Kernels compute in float and add into double accumulators, so sums do not
 * lose precision with the number of slots. */
#ifndef RL_KERNELS_H
#define RL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifndef RL_HIDDEN
#define RL_HIDDEN __attribute__((visibility("hidden")))
#endif

/* Truths of one image in grid units, as float edges ready for IoU. */
typedef struct rl_truth_soa {
    const float *x0, *x1, *y0, *y1, *area;
    int32_t n;
    /* The same truths as the user gave them, for rl_best_iou_exact. */
    const struct rl_box *boxes;
    int32_t H, W;
} rl_truth_soa;

/* One run of slots of one anchor's plane: `count` consecutive cells from
 * cell q0, cells q = i*W + j in order (the whole plane: q0 = 0, count H*W;
 * the sparse mask step: a span of one row).  Entry k of the run's q-th cell
 * is t[q*slot_stride + k*ch_stride] (NCHW: slot_stride 1, ch_stride H*W;
 * NHWC: slot_stride B*(5+C), ch_stride 1), in both layouts a uniform stride.
 * t, grad and every per-cell array of the kernels' arguments point at the
 * run's first cell.  The gradient buffer, when present, has t's offsets.
 * t and grad hold float, bfloat16 or binary16 entries (t_type, g_type; g_type
 * is float or t_type): kernels widen what they load to float in registers
 * (exact) and narrow what they store to g_type rounding to nearest even, a
 * NaN staying a NaN (src/elem.h is the scalar definition).  Everything
 * between is float as for float tensors; cslope and the softmax stay float. */
typedef struct rl_run {
    const void *t;     /* elements of t_type */
    void *grad;        /* elements of g_type */
    int32_t t_type, g_type; /* rl_dtype values; every offset and stride counts elements */
    int64_t slot_stride, ch_stride;
    int32_t count; /* cells in the run */
    int32_t W;     /* row length: cell q0 + q is (i, j) = ((q0+q) / W, (q0+q) % W) */
    int32_t q0;    /* the plane's index of the run's first cell */
    float aw, ah;  /* the anchor in grid cells */
    double aw_d, ah_d; /* the same in double (a [yolo] head's is not a float), for
                          rl_best_iou_exact */
} rl_run;

enum { RL_KIND_IGNORED = 0, RL_KIND_OBJ = 1, RL_KIND_NOOBJ = 2 };

/* What the mask kernel (dense path) or the stream kernel (sparse path) adds
 * up over the slots of a run. */
typedef struct rl_mask_sums {
    int64_t n_noobj;
    double c_noobj;    /* sum of c^ over noobj slots */
    double c2_noobj;   /* sum of c^2 over noobj slots */
    double c_all;      /* sum of c^ over every slot (darknet's Avg Any Obj) */
    double warm;       /* darknet warm-up: sum over non-responsible slots of
                          (s(tx)-1/2)^2 + (s(ty)-1/2)^2 + tw^2 + th^2 */
    int nonfinite;     /* some channel 0..4 of the run is NaN or infinite */
    double bce_noobj;  /* with `bce`: sum of -log(1 - c^) = softplus(tc) over noobj slots */
} rl_mask_sums;

typedef struct rl_mask_args {
    rl_run run;
    const rl_truth_soa *truths;
    uint8_t *kind;       /* per cell of the run; RL_KIND_OBJ is set on entry and kept */
    float thresh;
    double thresh_d;     /* for cells decided by rl_best_iou_exact */
    int noobj_inclusive; /* darknet: noobj iff best <= thresh; spec: best < thresh */
    int warmup;          /* accumulate `warm` */
    float *best;         /* optional: each cell's best IoU (tests) */
    float *cslope;       /* optional: each cell's noobj gradient factor, for the grad
                            kernel: c^ * c^(1 - c^), or c^ with `bce` */
    /* A cell's float best IoU decides it only when it lies farther from
     * thresh than doubt_w / pw + doubt_h / ph + doubt_c (pw, ph: its float
     * box size); nearer, rl_best_iou_exact decides.  All three are negative
     * when no IoU can change the decision.  See rl_mask_doubt. */
    float doubt_w, doubt_h, doubt_c;
    int bce;             /* objectness by binary cross-entropy (a [yolo] head): cslope
                            holds c^ and the noobj slots' softplus(tc) is added to
                            bce_noobj */
} rl_mask_args;

/* How far a float best IoU can be from the reference's.  An edge of the
 * decoded box (j + s(tx) -+ pw/2) or of a truth (X -+ Wg/2) carries a
 * rounding error of at most u (2W + 4 + 1.5 pw), u = 2^-24, so an overlap
 * ox carries Ex <= u (4W + 8 + 4 pw), and the IoU
 *     |dIoU| <= 2 Ex / pw + 2 Ey / ph + 10 u
 * (an overlap's share of the union is at most 1 / pw: oy <= ph and the
 * union is at least pw ph).  The error thus grows as the box gets thin:
 * a 0.02-cell-high box on a 6-row grid can turn an IoU of 1.3e-5 into 0,
 * which decides a slot wrongly when thresh is about 0.  The bound below is
 * twice the one above:
 *     margin = 2^-20 ((W + 2) / pw + (H + 2) / ph + 4). */
#define RL_DOUBT 0x1p-20

static inline void rl_mask_doubt(rl_mask_args *a, int32_t H, int32_t W)
{
    /* strict "best < 0" never holds: every decision is certain */
    const int certain = !a->noobj_inclusive && a->thresh_d <= 0.0;
    a->doubt_w = certain ? -1.0f : (float)(RL_DOUBT * (W + 2.0));
    a->doubt_h = certain ? -1.0f : (float)(RL_DOUBT * (H + 2.0));
    a->doubt_c = certain ? -1.0f : (float)(RL_DOUBT * 4.0);
}

/* Decode every cell of the run, its best IoU with the truths given, and
 * mark non-responsible cells RL_KIND_NOOBJ or RL_KIND_IGNORED; add the run's
 * sums (those of rl_stream_fn) into *sums.  The dense path runs it over
 * whole planes with every truth of the image; the sparse path (driver.c,
 * sparse_phase1) over the rows, or the spans of a row, that some truth
 * reaches, with the truths that reach them.  A cell whose
 * float box size leaves [RL_BOX_MIN, RL_BOX_MAX] (exp over- or underflow,
 * extreme anchors), or whose float best IoU is within the doubt margin of
 * thresh, is decided by rl_best_iou_exact instead: float cannot carry its
 * IoU to the precision the decision needs. */
typedef void (*rl_mask_fn)(const rl_mask_args *a, rl_mask_sums *sums);

#define RL_BOX_MIN 0x1p-40f
#define RL_BOX_MAX 0x1p+40f

/* The best IoU of cell (i, j)'s decoded box with the image's truths, in
 * double exactly as the reference computes it. */
RL_HIDDEN double rl_best_iou_exact(float tx, float ty, float tw, float th, int32_t i, int32_t j,
                                   double aw, double ah, const rl_truth_soa *T);

typedef struct rl_stream_args {
    rl_run run;
    const uint8_t *kind; /* every cell already decided */
    int warmup;          /* accumulate `warm` */
    float *cslope;       /* optional: as in rl_mask_args */
    int bce;             /* as in rl_mask_args */
} rl_stream_args;

/* The sparse path's pass over every slot, whose kinds are decided: the
 * finiteness of channels 0..4, and the sums of rl_mask_sums (n_noobj,
 * c_noobj and c2_noobj over NOOBJ cells, c_all over all, warm over the
 * non-responsible ones), exactly what the mask kernel adds up.  It decodes
 * no box: only s(tc), and s(tx), s(ty) for the warm-up.  Both kernels store
 * c^ * s(tc) s(-tc) per cell when cslope is given: the noobj gradient's
 * factor, computed once. */
typedef void (*rl_stream_fn)(const rl_stream_args *a, rl_mask_sums *sums);

typedef struct rl_grad_args {
    rl_run run;
    const uint8_t *kind;
    float k_noobj;     /* gradient w.r.t. tc at a noobj cell is k_noobj * c^ * c^(1-c^) */
    float k_warm;      /* darknet warm-up weight; 0 when off */
    int accumulate;    /* add into grad, touching only the entries written */
    /* Optional: each cell's c^ * c^(1 - c^) as phase 1 stored it (cslope of
     * the mask and stream kernels), so that the noobj gradient is
     * k_noobj * cslope[q] without a second exp; NULL: computed from tc.
     * A [yolo] head (bce) always passes it, holding c^. */
    const float *cslope;
} rl_grad_args;

/* Objectness and warm-up gradient of the non-responsible cells of a run.
 * Overwrite mode writes channels 0..4 of every cell of the run, zeros
 * included (responsible cells get zeros that the driver then overwrites with
 * their terms), so that with the class channels zeroed by the driver each
 * gradient entry is stored once; accumulate mode adds into the entries that
 * can be non-zero and touches nothing else. */
typedef void (*rl_grad_fn)(const rl_grad_args *a);

typedef struct rl_softmax_out {
    double neg_log_p;  /* -log p^[cls] */
    double max;        /* the largest logit m */
    double log_sum;    /* log sum_c exp(t_c - m): log p^[c] = (t_c - m) - log_sum */
    double p_cls;      /* p^[cls] */
    double sum_p2;     /* sum_c p^[c]^2, for darknet's cost */
} rl_softmax_out;

/* Softmax cross-entropy of one responsible slot: C logits at `logits` with
 * `stride`; writes k * (p^[c] - [c == cls]) to grad (same stride) unless grad
 * is NULL, adding when `accumulate`. */
typedef void (*rl_softmax_fn)(const float *logits, int64_t stride, int32_t C, int32_t cls,
                              double k, float *grad, int accumulate, rl_softmax_out *out);

typedef struct rl_kernels {
    int32_t lanes;   /* cells per vector step (1 for scalar code): the driver's
                        sparse path sizes its runs by it */
    rl_mask_fn mask;
    rl_stream_fn stream;
    rl_grad_fn grad;
    rl_softmax_fn softmax;
} rl_kernels;

RL_HIDDEN void rl_kernels_init_generic(rl_kernels *k);
#if defined(__x86_64__) || defined(_M_X64)
RL_HIDDEN void rl_kernels_init_avx2(rl_kernels *k);
RL_HIDDEN void rl_kernels_init_avx2_bf16(rl_kernels *k);
#endif
#if defined(__aarch64__)
RL_HIDDEN void rl_kernels_init_neon(rl_kernels *k);
/* The same kernels built for FEAT_BF16 (src/neon/meson.build). */
RL_HIDDEN void rl_kernels_init_neon_bf16(rl_kernels *k);
#endif

#endif
