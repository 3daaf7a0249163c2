/* The batches the MPI sharding test splits over ranks.  Every rank builds the
 * same batch from a fixed seed (no broadcast needed), so each rank can also
 * run the whole batch single-process and compare its own shard against it. */
#ifndef RL_SHARD_CASES_H
#define RL_SHARD_CASES_H

#include <stdint.h>

#include "regionloss.h"

#define SHARD_CASE_MAX_B 5

typedef struct shard_case {
    const char *name;
    rl_config cfg;                       /* cfg.variant is left NULL for the caller */
    float anchors[2 * SHARD_CASE_MAX_B]; /* cfg.anchors points here */
    int32_t n_images;
    int64_t per_image;                   /* floats of prediction per image */
    float *pred;                         /* n_images * per_image */
    rl_box *truths;                      /* NULL when the batch has none */
    int64_t *offsets;                    /* n_images + 1 */
    int64_t seen;                        /* darknet mode: the whole batch's counter */
    /* Per-shard normalisation (no global_counts) gives a different loss on
     * this batch once it is split: the control that shows the equality
     * checks are not vacuous. */
    int naive_differs;
} shard_case;

int shard_case_count(void);
/* Fills case k (0 <= k < shard_case_count()); returns 0, or -1 when out of memory. */
int shard_case_build(int k, shard_case *c);
void shard_case_free(shard_case *c);

/* Images [*lo, *hi) of `rank` among `ranks`: contiguous and uneven, chosen so
 * that for 2, 3 and 4 ranks some shard holds no truth at all.  Needs
 * n_images >= ranks. */
void shard_partition(int32_t n_images, int ranks, int rank, int32_t *lo, int32_t *hi);

#endif
