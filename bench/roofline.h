/* The memory traffic no implementation of the loss can avoid, as tight
 * loops: the bench's yardstick (issue 7).  NCHW only, like the bench. */
#ifndef BENCH_ROOFLINE_H
#define BENCH_ROOFLINE_H

#include <stdint.h>

#include "pool.h"

typedef struct roofline {
    const float *pred;
    float *grad;
    int32_t N, B;
    int64_t HW, K;
    /* 1 where the slot is L_noobj, per slot in plane order (n*B + b)*HW + q. */
    const uint8_t *noobj;
    /* Offset of entry 0 of every responsible slot, image by image:
     * image n owns obj_base[obj_off[n] .. obj_off[n+1]). */
    const int64_t *obj_base;
    const int64_t *obj_off;
    uint32_t *sink; /* N words that keep the reads alive */
    float eps;      /* what accumulate adds (not a constant the compiler can fold) */
} roofline;

/* Overwrite: read channels 0..4 of every slot, write the whole gradient. */
void roofline_overwrite(const roofline *rf, rl_pool *pool);
/* Accumulate: read channels 0..4 of every slot, read-modify-write the
 * objectness entry of every noobj slot and all 5+C entries of every
 * responsible slot. */
void roofline_accumulate(const roofline *rf, rl_pool *pool);

/* The same over several tensors of N images each (a [yolo] network's
 * heads): one pool run of n*N tasks, tensor after tensor, as the library's
 * driver runs the heads of one call. */
void roofline_overwrite_many(const roofline *rf, int n, rl_pool *pool);
void roofline_accumulate_many(const roofline *rf, int n, rl_pool *pool);

#endif
