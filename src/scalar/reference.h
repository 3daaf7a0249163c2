/* The scalar reference: docs/loss.md written out in double precision.  It is
 * the oracle every other variant is compared with, so it favours plainness
 * over speed and shares no code with the optimised driver. */
#ifndef RL_REFERENCE_H
#define RL_REFERENCE_H

#include "../internal.h"

/* Optional per-entry and per-slot outputs.  Slots are numbered
 * ((n*H + i)*W + j)*B + b whatever the layout. */
typedef struct rl_ref_out {
    double *grad;      /* per_image*N doubles; 0 where the loss has no term */
    uint8_t *touched;  /* per_image*N bytes: 1 where the loss has a term */
    double *best_iou;  /* per slot: max IoU of the decoded box with the image's truths */
    int8_t *slot_kind; /* per slot: RL_SLOT_* */
    double *obj_iou;   /* per slot: IoU of a responsible slot with its truth (else 0) */
} rl_ref_out;

enum { RL_SLOT_IGNORED = 0, RL_SLOT_OBJ = 1, RL_SLOT_NOOBJ = 2 };

/* The batch must already be validated.  Fails only with RL_ERR_NO_MEMORY.
 * `frozen` (NULL: batch->pred) is where the constants come from: the
 * assignment masks, each slot's best IoU and the IoU targets.  Finite
 * differences perturb batch->pred with frozen fixed, which is the function
 * whose gradient docs/loss.md defines. */
RL_HIDDEN rl_status rl_reference_compute(const rl_params *p, const rl_batch *batch,
                                         const float *frozen, rl_result *res,
                                         const rl_ref_out *out);

/* As rl_reference_compute, but where forced_kind[slot] is RL_SLOT_NOOBJ or
 * RL_SLOT_IGNORED and the slot is not responsible, that decision replaces the
 * reference's own (-1: keep).  The differential tests use it to accept a
 * variant's different decision at a slot whose best IoU is within rounding of
 * thresh, and to check everything else exactly as usual. */
RL_HIDDEN rl_status rl_reference_compute_forced(const rl_params *p, const rl_batch *batch,
                                                const float *frozen, const int8_t *forced_kind,
                                                rl_result *res, const rl_ref_out *out);

/* Counts only (same decisions as rl_reference_compute). */
RL_HIDDEN rl_status rl_reference_count(const rl_params *p, const rl_batch *batch,
                                       rl_counts *counts);

#endif
