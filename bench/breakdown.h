/* --breakdown: where one call's time goes.  Calls the plan's kernel table
 * (src/kernels.h) the way src/driver.c does, one kind of kernel at a time
 * over the whole batch, so each piece is timed alone; what the full call
 * costs beyond their sum is the driver's own work.  A diagnostic for whoever
 * tunes the kernels, tied to the kernel table's signatures on purpose. */
#ifndef BENCH_BREAKDOWN_H
#define BENCH_BREAKDOWN_H

#include <stdint.h>
#include <stdio.h>

#include "roofline.h"
#include "workloads.h"

typedef struct breakdown_input {
    const bench_row *row;
    const bench_input *in;
    /* Per slot in plane order (n*B + b)*HW + q: 1 (RL_KIND_OBJ) at the
     * reference's responsible slots, else 0. */
    const uint8_t *objkind;
    const int64_t *obj_base, *obj_off; /* as in roofline.h */
    float *grad;
    /* Run (untimed) before every timed piece, in the piece's gradient mode,
     * exactly as the main table runs it before every sample: each piece then
     * starts from the cache state the table's calls start from.  One per
     * tensor (in->n_heads). */
    const roofline *rf;
} breakdown_input;

/* Prints the breakdown of `variant` (a driver variant) on this row. */
int bench_breakdown(const breakdown_input *b, const char *variant, int reps, FILE *out);

/* The same for a [yolo] row, through the public API (the heads share the
 * driver's kernels, which the region breakdown already splits): the call in
 * both modes, without a gradient, each head alone in a one-head plan, and a
 * memset of the gradient.  objkind, obj_base and obj_off are not used. */
int bench_yolo_breakdown(const breakdown_input *b, const char *variant, int reps, FILE *out);

#endif
