/* Seeded random cases for the differential tests and benchmarks: a config
 * and a batch that own their memory.  The same (seed, index) always gives
 * the same case on every machine. */
#ifndef RL_RANDCASE_H
#define RL_RANDCASE_H

#include <stdint.h>

#include "regionloss.h"

typedef struct rl_case {
    rl_config cfg;
    rl_batch batch;
    float anchors[18];
    float *pred_storage; /* pred may point one float into it: unaligned on purpose */
    uint16_t *half_storage; /* bfloat16 / binary16 cases: the predictions rounded to the type */
    rl_box *truths;
    int64_t *offsets;
    size_t pred_count;
    char desc[200];
} rl_case;

/* Fills c with case `index` of the stream `seed`. */
void rl_case_make(rl_case *c, uint64_t seed, uint64_t index);
void rl_case_free(rl_case *c);

#endif
