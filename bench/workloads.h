/* The benchmark's standard workloads (issue 7) and their deterministic
 * synthetic inputs. */
#ifndef BENCH_WORKLOADS_H
#define BENCH_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

#include "regionloss.h"

typedef struct bench_row {
    const char *name;     /* what --filter matches */
    const char *what;     /* one line for the table's legend */
    int32_t N, H, W, B, C;
    int32_t truths;       /* per image; with `mean`, the largest count drawn */
    const float *anchors; /* 2*B, grid cells */
    double thresh;        /* 0: the default, 0.6 */
    double mean;          /* > 0: truths per image vary (shifted geometric, this mean),
                             as in the data sets (VOC about 2.4, COCO about 7.3) */
} bench_row;

/* The row's thresh as its plans get it. */
double bench_row_thresh(const bench_row *row);
/* The config of a plan for this row: defaults (NCHW, float32, auto, 1
 * thread), the row's shape, anchors and thresh, and the gradient mode. */
void bench_row_config(const bench_row *row, int accumulate, rl_config *cfg);

extern const bench_row bench_rows[];
extern const int bench_n_rows;

/* One row's batch.  pred is 64-byte aligned and NCHW. */
typedef struct bench_input {
    float *pred;
    size_t count; /* floats in pred (and in a gradient) */
    rl_box *truths;
    int64_t *offsets;
    int64_t n_truths;
} bench_input;

/* 0 on success.  The same row always gives the same bytes. */
int bench_input_make(const bench_row *row, bench_input *in);
void bench_input_free(bench_input *in);

/* 64-byte aligned, zero-filled (so every page is mapped before timing). */
float *bench_alloc_floats(size_t count);

#endif
