/* Decoding a fuzz input into one rl_yolo_plan_create + rl_yolo_compute case
 * (a network of [yolo] heads), and what the API must answer for it.  An
 * input is a [yolo] one when bit 7 of byte 3 is set (loss_input.h); bytes
 * 0 to 3 keep their places, some with another meaning.
 *
 * Format (every field is optional: missing bytes read as 0, which decodes
 * to a valid one-head network):
 *
 *   byte 0   flags: bit 0 net_h = net_w (the net_h code is still read),
 *            1 NHWC, 2 accumulate, 3 per_head NULL, 4 the last head's
 *            gradient pointer NULL (grads[h] NULL skips that head),
 *            5 pass global counts, 6 pass a workspace, 7 two threads
 *   byte 1   bits 0-1 norm (0 images, 1 sum, 2 counts and 3 the value 7,
 *            both invalid for a head)
 *            bits 2-4: 4 heads NULL, 5 invalid layout, 6 head 0's mask
 *            NULL, 7 invalid grad mode (0-3 none)
 *            bits 5-7: 4 preds NULL, 5 anchors NULL, 6 the last head's
 *            preds[h] NULL, 7 total NULL (0-3 none)
 *   byte 2   bits 0-2: 6 invalid threads (0 or 100000 by flag bit 7),
 *            else none
 *            bits 3-5 offsets: 5 off[0] = 1, 6 decreasing, 7 global
 *            n_conf != n_obj + n_noobj (a head reads only n_images: valid)
 *            bit 6 workspace one byte short, bit 7 no gradients (grads NULL)
 *   byte 3   as loss_input.h: bit 0 misaligned buffers, 1 truths NULL when
 *            there are none, 2-3 pred_dtype, 4 float32 gradient, 5 invalid
 *            grad_dtype, 6 every variant (the harness's choice), 7 [yolo]
 *   4        n_heads: byte < 0xF0 gives 1 + byte % 3; 0xF0..0xF7 invalid
 *            (0, -1, 17, INT32_MIN, -3, 100); 0xF8..0xFF 2 to 16
 *   5        A, anchors in the list: size code, bound 9 (1..9, zero or
 *            negative, 10..1000)
 *   6, 7     net_w, net_h: < 0xC0 multiples of 32 (32..640); 0xC0..0xDF
 *            odd sizes (1 .. 1000); 0xE0..0xEF large ones (up to
 *            INT32_MAX); 0xF0..0xF7 zero or negative; 0xF8..0xFF a raw
 *            int32 from the next 4 bytes
 *   8        C: size code, bound 16; 0xF8 gives 80 (COCO)
 *   9        N: as loss_input.h (1..4, or 0, -1, INT32_MIN, -7)
 *   then     real codes lambda_coord, lambda_class, lambda_obj,
 *            lambda_noobj; ignore_thresh (a thresh code); truth_thresh: a
 *            byte < 0xA0 gives 1 (darknet's "never") and, by its low three
 *            bits, box_loss mse, iou, giou, diou, ciou, 5, -1 (no box
 *            losses), ciou; else a thresh code follows and box_loss is
 *            (byte - 0xA0) % 5; global counts n_obj, n_noobj bytes and an n_images
 *            code (< 0xF0: 1 + byte; else 0, -1, INT64_MIN, -7)
 *   then     per head (at most 17): H, W size codes (bound 8), B size code
 *            (bound 4; 10..1000 above), then min(B, 16) mask bytes:
 *            < 0xF0 gives byte % A (so repeats happen), else A, -1,
 *            INT32_MIN, INT32_MAX, A + 1, -2, 2A, 255
 *   then     2*A anchor codes (at most 2*9; later ones default), in pixels:
 *            the common codes (0.25 .. 12) times 32, the others as they
 *            are (extreme, invalid, raw)
 *   then     per image a truth count byte (% 11) and one truth code per
 *            truth (cell borders snapped to head 0's grid)
 *   then     the prediction mode byte: bits 0-1 the mode; bits 2-7 equal to
 *            0x2A make the case one of flavour alexeyab, whose option bytes
 *            follow: kinds (high nibble < 12: iou_thresh_kind 1 + v % 4,
 *            else 0, 5, -1, 7; low nibble: iou_loss v % 6, 5 invalid),
 *            switches (bit 0 focal_loss, 1 new_coords, 2 objectness_smooth,
 *            3 show_details 0, 4 focal_loss 2 (invalid), 5 keep the lambdas
 *            (else 1), 6 keep box_loss (else mse), 7 counters_per_class),
 *            max_boxes (< 0xF0: 1 + byte % 8, else 200, 0, -1, INT32_MIN),
 *            lambda codes for iou_normalizer, cls_normalizer,
 *            obj_normalizer, scale_x_y and max_delta, thresh codes for
 *            iou_thresh and label_smooth_eps, and with bit 7 C count bytes
 *            (< 0xF0 the byte, else -1, 0, INT32_MAX, 100000)
 *   then     the prediction bytes, cycled over every head's tensor in turn
 *
 * Cases within the bounds (heads 1..16, H, W <= 8, B <= 16, C <= 80, N
 * <= 4, 2^20 entries in all) are computed; larger valid ones only reach
 * plan creation. */
#ifndef RL_FUZZ_YOLO_INPUT_H
#define RL_FUZZ_YOLO_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "loss_input.h"
#include "regionloss.h"

#define YOLO_DECODED_HEADS 17 /* heads whose bytes are read (16 + one too many) */
#define YOLO_MAX_GRID 8
#define YOLO_MAX_B 16         /* computed; the code's common values are 1..4 */
#define YOLO_MAX_C 80
#define YOLO_MAX_ENTRIES (1 << 20)

typedef struct yolo_case {
    rl_yolo_config cfg;       /* cfg.heads, cfg.anchors point below (or are NULL) */
    rl_yolo_head *heads;      /* n_heads_alloc heads */
    int32_t n_heads_alloc;
    int32_t *masks;           /* every head's mask, one block */
    float *anchors;
    rl_yolo_batch batch;      /* preds, truths, offsets point below */
    const void **pred_ptrs;   /* the array batch.preds points to */
    float *pred_storage[RL_YOLO_MAX_HEADS];
    uint16_t *half_storage[RL_YOLO_MAX_HEADS];
    void *grad_init[RL_YOLO_MAX_HEADS]; /* accumulate start values, of grad_dtype */
    size_t count[RL_YOLO_MAX_HEADS];    /* entries of head h's tensor */
    size_t grad_elem;
    rl_box *truths;
    int64_t *offsets;
    rl_counts global_counts;
    int64_t n_truths;
    int32_t n_images_alloc;
    bool computable;          /* valid config within the bounds: compute */
    bool with_grad, null_last_grad, use_workspace, workspace_short, misaligned;
    bool null_total, null_per_head;
    int32_t *counters;        /* flavour alexeyab's counters_per_class, or NULL */
} yolo_case;

/* As loss_decode, for an input with bit 7 of byte 3 set. */
int yolo_decode(const uint8_t *data, size_t size, yolo_case *c, loss_expect *cfg_expect,
                loss_expect *call_expect);
void yolo_case_free(yolo_case *c);
void yolo_case_print(FILE *f, const yolo_case *c);

#endif
