/* The benchmark's standard workloads (issue 7) and their deterministic
 * synthetic inputs. */
#ifndef BENCH_WORKLOADS_H
#define BENCH_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

#include "regionloss.h"

/* A YOLOv3 network for the [yolo] rows (issue 22): one head per stride
 * (32, 16, 8) of a square input, darknet's anchor list in pixels and each
 * head's mask into it. */
typedef struct bench_yolo {
    int32_t net;           /* input width and height in pixels */
    int32_t n_heads;
    int32_t grid[3];       /* head h is grid[h] x grid[h] */
    int32_t B;             /* anchors per head */
    const int32_t *masks;  /* B per head, head after head */
    int32_t n_anchors;
    const float *anchors;  /* 2*n_anchors, pixels */
} bench_yolo;

typedef struct bench_row {
    const char *name;     /* what --filter matches */
    const char *what;     /* one line for the table's legend */
    int32_t N, H, W, B, C;
    int32_t truths;       /* per image; with `mean`, the largest count drawn */
    const float *anchors; /* 2*B, grid cells */
    double thresh;        /* 0: the default, 0.6 */
    double mean;          /* > 0: truths per image vary (shifted geometric, this mean),
                             as in the data sets (VOC about 2.4, COCO about 7.3) */
    /* NULL: a region row (one tensor H x W x B).  Else a [yolo] network:
     * H, W, B and anchors are unused, C and truths hold, thresh is
     * ignore_thresh (0: the default, 0.7), truth sizes are drawn like COCO's. */
    const bench_yolo *yolo;
} bench_row;

/* The row's thresh as its plans get it. */
double bench_row_thresh(const bench_row *row);
/* The config of a plan for this row: defaults (NCHW, float32, auto, 1
 * thread), the row's shape, anchors and thresh, and the gradient mode. */
void bench_row_config(const bench_row *row, int accumulate, rl_config *cfg);
/* The same for a [yolo] row: heads (n_heads entries, filled here) and the
 * network; ignore_thresh, norm and lambdas at their defaults. */
void bench_yolo_config(const bench_row *row, int accumulate, rl_yolo_config *cfg,
                       rl_yolo_head *heads);

extern const bench_row bench_rows[];
extern const int bench_n_rows;

/* 1 when the row's name matches one of the comma-separated globs of
 * `filter` (the benches' --filter). */
int bench_row_matches(const bench_row *row, const char *filter);

/* One row's batch.  pred is 64-byte aligned and NCHW.  A [yolo] row's
 * heads lie one after the other in pred (and in a gradient of `count`
 * floats): head h from head_off[h], head_off[n_heads] = count. */
typedef struct bench_input {
    float *pred;
    size_t count; /* floats in pred (and in a gradient) */
    int32_t n_heads; /* 1 for a region row */
    size_t head_off[RL_YOLO_MAX_HEADS + 1];
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
