/* Seeded random [yolo] cases (yolo_randcase.c): a network's config and a
 * batch that own their memory.  The same (seed, index) gives the same case
 * on every machine. */
#ifndef RL_YOLO_RANDCASE_H
#define RL_YOLO_RANDCASE_H

#include <stdint.h>

#include "regionloss.h"

#define RL_YOLO_CASE_MAX_HEADS 3
#define RL_YOLO_CASE_MAX_ANCHORS 18

typedef struct rl_yolo_case {
    rl_yolo_config cfg;
    rl_yolo_head heads[RL_YOLO_CASE_MAX_HEADS];
    int32_t masks[RL_YOLO_CASE_MAX_HEADS][RL_YOLO_CASE_MAX_ANCHORS];
    float anchors[2 * RL_YOLO_CASE_MAX_ANCHORS];
    rl_yolo_batch batch;
    float *pred[RL_YOLO_CASE_MAX_HEADS];         /* float values (pred_storage, maybe +1) */
    float *pred_storage[RL_YOLO_CASE_MAX_HEADS];
    uint16_t *half_storage[RL_YOLO_CASE_MAX_HEADS]; /* half cases: the values rounded */
    const void *pred_ptrs[RL_YOLO_CASE_MAX_HEADS];  /* what batch.preds points at */
    size_t pred_count[RL_YOLO_CASE_MAX_HEADS];
    rl_box *truths;
    int64_t *offsets;
    rl_counts global;
    int32_t counters[256];  /* flavour alexeyab with counters_per_class */
    float multipliers[256]; /* or with classes_multipliers */
    char desc[520];
} rl_yolo_case;

void rl_yolo_case_make(rl_yolo_case *c, uint64_t seed, uint64_t index);
void rl_yolo_case_free(rl_yolo_case *c);

#endif
