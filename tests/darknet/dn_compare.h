/* The library against dn_model.c (darknet's region layer restated) on one
 * batch: issue 5 point 8, entry by entry, plus darknet's cost and training
 * line.  Shared by delta_equivalence.c and truth_buffer.c. */
#ifndef DN_COMPARE_H
#define DN_COMPARE_H

#include <stdint.h>

#include "dn_model.h"
#include "regionloss.h"

/* One darknet-mode batch as both sides see it. */
typedef struct dn_batch {
    const rl_config *cfg;   /* darknet mode; its layout and variant are overridden */
    int32_t N;
    const float *pred;      /* raw outputs, NCHW: what darknet's layer reads */
    const float *truth;     /* net.truth: N x max_boxes x {x, y, w, h, class} */
    int max_boxes;
    const rl_box *boxes;    /* the same truths through rl_truths_from_darknet */
    const int64_t *off;
    int64_t seen;
} dn_batch;

/* Fills l from the configuration and runs darknet's forward pass. */
void dn_model_run(const dn_batch *b, dn_region *l);

/* Mismatch counter; the first few mismatches are reported with `what`. */
typedef struct dn_cmp {
    int bad;
    const char *what;
} dn_cmp;

/* The reference's double gradient turned into l.delta (DN_DELTA_REL, zeros
 * exact), its cost and line (same bound) and count, with the predictions
 * given to the library in `layout`. */
void dn_compare_reference(const dn_batch *b, const dn_region *l, rl_layout layout, dn_cmp *m);

/* A float variant through rl_compute: its gradient against -l.delta *
 * s'(t) / N entry by entry, its cost and line, within tolerance.h; where a
 * decision is within RL_TOL_THRESH of its threshold the values it moves are
 * not compared (rl_diffcheck covers them against the reference). */
void dn_compare_variant(const dn_batch *b, const dn_region *l, const char *variant, dn_cmp *m);

#endif
