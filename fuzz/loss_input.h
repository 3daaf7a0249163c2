/* Decoding a fuzz input into one rl_plan_create + rl_compute case, and what
 * the API must answer for it.
 *
 * Format (every field is optional: missing bytes read as 0):
 *
 *   byte 0   flags: bit 0 darknet mode, 1 NHWC, 2 accumulate, 3 rescore
 *            (darknet), 4 logistic classes (darknet), 5 pass global counts,
 *            6 pass a workspace, 7 two threads
 *   byte 1   bits 0-1 norm (0 counts, 1 sum, 2 images, 3 invalid value 7)
 *            bits 2-4 an invalid enum: 5 layout, 6 mode, 7 grad mode (0-4 none)
 *            bits 5-7 a NULL pointer: 5 anchors, 6 pred, 7 result (0-4 none)
 *   byte 2   misc: bits 0-2 6 = invalid rescore/logistic/threads (by flags),
 *                  7 = negative seen (0-5 none)
 *            bits 3-5 offsets: 5 off[0] = 1, 6 decreasing, 7 inconsistent
 *                  global counts (0-4 none)
 *            bit 6 workspace one byte short, bit 7 no gradient pointer
 *   byte 3   bit 0 misaligned buffers, bit 1 truths pointer NULL when there
 *            are none, bits 2-3 the predictions' type (0 float32, 1
 *            bfloat16, 2 binary16, 3 the invalid value 3), bit 4 a float32
 *            gradient (else the predictions' type), bit 5 an invalid
 *            gradient type (neither float32 nor the predictions'), bit 6
 *            every variant (else the reference and one other, picked by a
 *            hash of the whole input, as is the mask path: loss_fuzz.c),
 *            bit 7 a network of [yolo] heads: the rest of the input is
 *            read as yolo_input.h says
 *   4..8     size codes H, W, B, C, N: byte < 0xF0 gives 1 + byte % bound
 *            (bounds 16, 16, 9, 64, 4); 0xF0..0xF7 zero or negative sizes;
 *            0xF8..0xFF valid sizes above the bounds (plan creation only)
 *   then     real codes lambda_coord, lambda_class, lambda_obj,
 *            lambda_noobj, warmup_scale; a thresh code; a seen byte; a
 *            warmup_seen byte; global counts n_obj, n_noobj, n_images bytes.
 *            The seen byte's bits 0-2 pick seen, bit 3 AlexeyAB's [region]
 *            flavour, bits 4-5 classfix (0, -1, 1, 2), bit 6 focal_loss, bit
 *            7 an invalid value chosen by warmup_seen's bits 6-7 (flavour 5,
 *            classfix 3, focal_loss 2 or -1); warmup_seen's bits 0-2 pick it
 *   then     2*B anchor codes (at most 2*9)
 *   then     per image a truth count byte (% 11, so at most 40 truths in
 *            all) and one truth code per truth
 *   then     the prediction mode byte and the prediction bytes (all the
 *            rest, cycled over the tensor)
 *
 * Codes (see loss_input.c): mostly-valid values from small tables, then
 * special values (invalid, extreme, non-finite), then raw bit patterns. */
#ifndef RL_FUZZ_LOSS_INPUT_H
#define RL_FUZZ_LOSS_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "regionloss.h"

#define LOSS_MAX_GRID 16
#define LOSS_MAX_B 9
#define LOSS_MAX_C 64
#define LOSS_MAX_N 4
#define LOSS_MAX_TRUTHS_PER_IMAGE 10

/* The statuses a call may return.  must_fail: the input holds an invalid
 * value, so RL_OK is wrong; otherwise RL_OK is right and `allowed` lists
 * the only failures that are also acceptable (a valid size the library
 * finds too large, a non-finite value the loss might not read). */
typedef struct loss_expect {
    bool must_fail;
    int n_allowed;
    rl_status allowed[24];
    char why[200]; /* the first reason, for messages */
} loss_expect;

void loss_expect_fail(loss_expect *e, rl_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct loss_case {
    rl_config cfg;      /* cfg.anchors points into anchors, or is NULL */
    float *anchors;
    rl_batch batch;     /* pred, truths, offsets point into the fields below */
    float *pred_storage;
    uint16_t *half_storage; /* half predictions: pred_storage's values rounded */
    rl_box *truths;
    int64_t *offsets;
    rl_counts global_counts;
    void *grad_init;    /* start values of the gradient (finite), of cfg.grad_dtype */
    size_t grad_elem;   /* bytes per gradient entry */
    size_t tensor_count; /* entries of pred and of the gradient */
    int64_t n_truths;
    int64_t n_skipped;   /* of them, AlexeyAB's flavour skips (a class >= C) */
    int32_t n_images_alloc;
    bool computable;    /* sizes within the bounds: run rl_compute */
    bool with_grad, use_workspace, workspace_short, misaligned, null_result;
} loss_case;

/* Returns 0 and fills c, cfg_expect (for rl_plan_create) and call_expect
 * (for rl_compute, meaningful when the config is valid).  On success the
 * caller frees c with loss_case_free. */
int loss_decode(const uint8_t *data, size_t size, loss_case *c, loss_expect *cfg_expect,
                loss_expect *call_expect);
void loss_case_free(loss_case *c);

/* The decoded case in words, for reports (RL_FUZZ_VERBOSE=1). */
void loss_case_print(FILE *f, const loss_case *c);

#endif
