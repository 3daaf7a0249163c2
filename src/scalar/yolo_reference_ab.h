/* The reference of flavour alexeyab of the [yolo] head (docs/darknet.md,
 * "AlexeyAB's [yolo] layer"): AlexeyAB's forward_yolo_layer in double
 * precision, its delta negated as the gradient. */
#ifndef RL_YOLO_REFERENCE_AB_H
#define RL_YOLO_REFERENCE_AB_H

#include "yolo_reference.h"

/* As rl_yolo_reference_compute for a plan of flavour alexeyab (no frozen
 * predictions and no forced decisions: the flavour is darknet's procedure,
 * not a loss to differentiate).  The batch must be validated, preds float.
 * slot_kind: RL_SLOT_OBJ for a slot of pass 2, iou_thresh or truth_thresh,
 * RL_SLOT_IGNORED for a slot whose objectness the ignore test changed, else
 * RL_SLOT_NOOBJ.  Fails only with RL_ERR_NO_MEMORY; on failure nothing of
 * total and per_head is written. */
RL_HIDDEN rl_status rl_yolo_reference_ab_compute(const rl_yolo_plan *plan, int32_t n_images,
                                                 const float *const *preds,
                                                 const rl_box *truths, const int64_t *offsets,
                                                 const rl_counts *global_counts,
                                                 rl_result *total, rl_result *per_head,
                                                 const rl_yolo_ref_out *out);

#endif
