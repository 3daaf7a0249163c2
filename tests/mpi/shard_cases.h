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

/* The [yolo] heads' batches: three heads (2x3, 4x6 and 8x12 cells of a
 * 96 x 64 input, masks into six anchors in pixels), the same truths as the
 * region cases (images 2, 4, 6, 7 and 8 without any, two truths on one
 * slot, one on the right border), predictions planted on some truths. */
#define YOLO_SHARD_HEADS 3

typedef struct yolo_shard_case {
    const char *name;
    rl_yolo_config cfg;                  /* cfg.variant is left NULL for the caller */
    rl_yolo_head heads[YOLO_SHARD_HEADS];
    int32_t n_images;
    int64_t per_image[YOLO_SHARD_HEADS]; /* floats of head h's prediction per image */
    float *pred[YOLO_SHARD_HEADS];       /* n_images * per_image[h] */
    rl_box *truths;
    int64_t *offsets;
    int naive_differs;                   /* as shard_case's */
} yolo_shard_case;

int yolo_shard_case_count(void);
int yolo_shard_case_build(int k, yolo_shard_case *c);
void yolo_shard_case_free(yolo_shard_case *c);

/* Images [*lo, *hi) of `rank` among `ranks`: contiguous and uneven, chosen so
 * that for 2, 3 and 4 ranks some shard holds no truth at all.  Needs
 * n_images >= ranks. */
void shard_partition(int32_t n_images, int ranks, int rank, int32_t *lo, int32_t *hi);

#endif
