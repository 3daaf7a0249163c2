/* Seeded random batches for the thread and allocation tests: larger N than
 * the differential cases (so that 7 threads all get images), and every
 * combination of layout, mode and gradient mode chosen by the index, not by
 * chance, so that each is covered whatever the number of cases. */
#ifndef RL_PERFCASE_H
#define RL_PERFCASE_H

#include <stddef.h>
#include <stdint.h>

#include "regionloss.h"

typedef struct perf_case {
    rl_config cfg;
    float anchors[18];
    rl_batch batch;
    float *pred;
    size_t count;
    rl_box *truths;
    int64_t *offsets;
    char desc[200];
} perf_case;

/* index % 8 picks layout (bit 0), mode (bit 1) and gradient mode (bit 2). */
void perf_case_make(perf_case *c, uint64_t seed, uint64_t index);
void perf_case_free(perf_case *c);

/* Deterministic bytes for a gradient buffer, so that accumulate starts from
 * the same non-zero values whatever the thread count. */
void perf_fill(float *g, size_t count, uint64_t seed);

/* Entry x of a tensor of this config as "n=.. i=.. j=.. b=.. k=..". */
void perf_where(const rl_config *cfg, size_t x, char *buf, size_t n);

#endif
