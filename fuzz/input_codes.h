/* The code bytes shared by the loss harness's decoders (loss_input.c for
 * the region loss, yolo_input.c for the [yolo] head): each value is drawn
 * from a byte so that most inputs are valid while every invalid value the
 * API promises to reject is a byte flip away.  Defined in loss_input.c;
 * committed regressions depend on their tables (extend, never reorder). */
#ifndef RL_FUZZ_INPUT_CODES_H
#define RL_FUZZ_INPUT_CODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytes.h"
#include "loss_input.h"
#include "regionloss.h"

/* A failure that is acceptable but not required. */
void expect_allow(loss_expect *e, rl_status st);

/* b < 0xF0: 1 + b % bound; 0xF0..0xF7: zero or negative; 0xF8..0xFF: valid
 * sizes above bound (is_b: 10..1000, else 17..INT32_MAX, some of which
 * exceed RL_MAX_CLASSES as a C). */
int32_t size_code(uint8_t b, int32_t bound, bool is_b);
/* A loss weight: common values, special ones (negative, NaN, infinite,
 * past RL_LAMBDA_MAX, denormal), or a raw double. */
double lambda_code(fuzz_bytes *in);
/* A threshold: common values, k/31, special ones (just outside [0, 1],
 * NaN, infinite, next to 0.5 and 0.6), or a raw double. */
double thresh_code(fuzz_bytes *in);
/* An anchor side: 0.25 * (1 + s % 48) for s < 0xC0 (0.25 .. 12), extreme
 * valid values, invalid ones (zero, negative, NaN, infinite), raw bits. */
float anchor_code(fuzz_bytes *in);
bool anchor_ok(float v);
/* A truth box for an H x W grid (centres may be snapped to its cell
 * borders), C classes; or one with a broken field; or raw bits. */
void truth_code(fuzz_bytes *in, int32_t H, int32_t W, int32_t C, rl_box *t);
/* Why the API must refuse the truth, or NULL. */
const char *truth_problem(const rl_box *t, int32_t C);
/* Prediction e from the rest of the input in encoding `kind` (0 small
 * logits, 1 wide logits, 2 special values, 3 raw float bits). */
float pred_value(int kind, const uint8_t *r, size_t len, size_t e);

#endif
