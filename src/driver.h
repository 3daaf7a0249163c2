/* The optimised driver (driver.c) and the variants built on it. */
#ifndef RL_DRIVER_H
#define RL_DRIVER_H

#include "internal.h"

/* Runs a validated-shape batch (truths checked; predictions are checked in
 * phase 1).  With counts_only != NULL only the counts are produced.
 * probe (optional, tests): each slot's best IoU and decision, indexed
 * n*H*W*B + (b*H + i)*W + j (best is -1 at responsible slots; on the
 * sparse path, 0 at the slots no truth reaches, which are not decoded). */
typedef struct rl_driver_probe {
    float *best;
    uint8_t *kind;
    int dense;   /* take the dense mask path even where the sparse one applies */
} rl_driver_probe;

RL_HIDDEN rl_status rl_driver_run(const rl_plan *plan, const rl_kernels *k,
                                  const rl_batch *batch, rl_result *res,
                                  rl_counts *counts_only, void *grad,
                                  const rl_driver_probe *probe);

RL_HIDDEN size_t rl_driver_workspace(const rl_params *p, int64_t n_images, int64_t n_truths);

/* Every head of a [yolo] plan through the same driver: the truths matched
 * once, phase 1 of every head and image on the pool, then (with nothing
 * non-finite anywhere) phase 2 of every head and image.  probes: NULL, or
 * one per head (tests). */
RL_HIDDEN rl_status rl_yolo_driver_run(const rl_yolo_plan *plan, const rl_yolo_batch *batch,
                                       rl_result *total, rl_result *per_head, void *const *grads,
                                       const rl_driver_probe *probes);
RL_HIDDEN size_t rl_yolo_driver_workspace(const rl_yolo_plan *plan, int64_t n_images,
                                          int64_t n_truths);

#endif
