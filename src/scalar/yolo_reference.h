/* The reference of the [yolo] head: docs/loss.md's "The [yolo] head" written
 * out in double precision, in the image-normalised units the definition
 * uses.  Like reference.c it is the oracle of every variant, favours
 * plainness over speed and shares no code with the optimised driver. */
#ifndef RL_YOLO_REFERENCE_H
#define RL_YOLO_REFERENCE_H

#include "reference.h"

/* Optional per-head outputs, each indexed as in rl_ref_out (grad and touched
 * per entry of head h's tensor; best_iou, slot_kind, obj_iou per slot
 * ((n*H + i)*W + j)*B + b).  slot_kind: RL_SLOT_OBJ for a positive (of the
 * matching or of truth_thresh), RL_SLOT_NOOBJ for a negative, else
 * RL_SLOT_IGNORED.  Any pointer may be NULL. */
typedef struct rl_yolo_ref_out {
    rl_ref_out head[RL_YOLO_MAX_HEADS];
} rl_yolo_ref_out;

/* The batch's truths and offsets must be validated and every head's
 * predictions finite where the loss reads them (rl_yolo_validate_preds);
 * preds[h] are float (the reference variant widens half tensors first).
 * `frozen` (NULL: preds) gives the predictions the constants come from:
 * each slot's best IoU, its decisions and the truth_thresh matches; finite
 * differences perturb preds with frozen fixed.  `forced` (NULL, or per head
 * NULL or one int8 per slot, -1 keep): replaces the decision of a slot that
 * no truth is matched to, as rl_reference_compute_forced does (the
 * differential tests' rule near ignore_thresh); RL_SLOT_OBJ there forces a
 * truth_thresh positive of the slot's best truth (in an image without
 * truths there is none: the slot keeps its own decision, a negative).
 * Diagnostics (sum_iou, obj_iou, the darknet line, ...) are measured on
 * preds, not on frozen.  per_head may be NULL.
 *
 * Fails with RL_ERR_NO_MEMORY, or with RL_ERR_NONFINITE_PRED: the class
 * logits of a truth_thresh positive are read by the loss but depend on the
 * predictions, so the validator cannot check them up front; the reference
 * checks the class logits of every positive (rl_validate_class_logits) after
 * its decisions and before it writes any output, and returns that status
 * (the message as the validator's, "head h: " in front when the plan has
 * several heads; since preds are float here, a half value's bits are not
 * shown).  On failure nothing is written. */
RL_HIDDEN rl_status rl_yolo_reference_compute(const rl_yolo_plan *plan, int32_t n_images,
                                              const float *const *preds,
                                              const float *const *frozen,
                                              const rl_box *truths, const int64_t *offsets,
                                              const rl_counts *global_counts,
                                              const int8_t *const *forced, rl_result *total,
                                              rl_result *per_head, const rl_yolo_ref_out *out);

/* The loss's divisor D: 1 under norm sum, else the images of the whole
 * batch (global_counts') or of this call. */
RL_HIDDEN double rl_yolo_reference_divisor(const rl_yolo_plan *plan, int32_t n_images,
                                           const rl_counts *global_counts);

/* The call's result from the heads' (summed in order; anyobj: each head's
 * sum of objectness outputs, head_slots its slots). */
RL_HIDDEN void rl_yolo_reference_total(const rl_result *heads, const double *anyobj,
                                       const int64_t *head_slots, int32_t n_heads,
                                       int64_t n_truths, rl_result *tot);

#endif
