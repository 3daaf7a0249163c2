/* TEMPORARY: the [yolo] reference is being written (yolo_reference.h). */
#include "yolo_reference.h"

rl_status rl_yolo_reference_compute(const rl_yolo_plan *plan, int32_t n_images,
                                    const float *const *preds, const float *const *frozen,
                                    const rl_box *truths, const int64_t *offsets,
                                    const rl_counts *global_counts, const int8_t *const *forced,
                                    rl_result *total, rl_result *per_head,
                                    const rl_yolo_ref_out *out)
{
    (void)plan, (void)n_images, (void)preds, (void)frozen, (void)truths, (void)offsets;
    (void)global_counts, (void)forced, (void)total, (void)per_head, (void)out;
    return rl_fail(RL_ERR_BAD_ARGUMENT, "yolo reference: not built yet");
}
