/* --layer yolo: a network's [yolo] heads from files (one prediction file and
 * one --mask per head, the network's anchors in pixels, the labels), checked
 * against each other with messages that name the file and the head, and
 * one library call over every head. */
#ifndef RL_TOOL_YOLO_H
#define RL_TOOL_YOLO_H

#include "cli.h"
#include "inputs.h"

typedef struct yolo_inputs {
    int n_heads;
    /* Head h: its prediction file as the region tool reads one (N, H, W, B,
     * C, shape, dtype, grad_dtype, pred, count; no anchors or truths). */
    tool_inputs heads[TOOL_MAX_HEADS];
    int32_t *masks[TOOL_MAX_HEADS]; /* heads[h].B indices into anchors */
    const char *paths[TOOL_MAX_HEADS];
    float *anchors;                 /* 2*n_anchors, pixels */
    int32_t n_anchors;
    int32_t N, C;
    rl_dtype dtype, grad_dtype;     /* every head's */
    rl_box *truths;
    int64_t *offsets;               /* N + 1 */
} yolo_inputs;

/* Loads and checks everything o names.  Returns 0 (the caller calls
 * yolo_free), or EXIT_ERROR after printing the problem, with nothing left
 * to free. */
int yolo_load(const tool_opts *o, yolo_inputs *in);
void yolo_free(yolo_inputs *in);

/* The library call: *total and per_head[0 .. n_heads) and, with grads !=
 * NULL, head h's gradient in a new buffer grads[h] (heads[h].count elements
 * of in->grad_dtype).  Returns 0 (the caller frees grads[h]), or
 * EXIT_ERROR after printing the problem, with nothing allocated. */
int yolo_compute(const yolo_inputs *in, const rl_yolo_config *base, rl_result *total,
                 rl_result *per_head, void **grads);

/* Loads o's files and computes; on failure nothing is left to free. */
int yolo_compute_from_files(const tool_opts *o, yolo_inputs *in, rl_result *total,
                            rl_result *per_head, void **grads);

/* "13x13 grid, mask 6,7,8" of head h, for the text output. */
void yolo_head_summary(const yolo_inputs *in, int h, char *buf, size_t cap);

#endif
