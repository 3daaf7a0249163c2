/* The pieces of the differential oracle that the region check
 * (diffcheck.c) and the [yolo] head's (yolo_diffcheck.c) share: the bounds of
 * tolerance.h applied to results and gradient entries, and the guard
 * pattern. */
#ifndef RL_DIFFCHECK_UTIL_H
#define RL_DIFFCHECK_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include "internal.h"

/* The weights behind the absolute part of each bound. */
typedef struct rl_dc_weights {
    double kc, kp, ko, kn, kw;
} rl_dc_weights;

void rl_dc_entry_coords(const rl_params *p, int64_t e, int64_t *n, int64_t *i, int64_t *j,
                        int64_t *b, int64_t *k);
double rl_dc_entry_weight(const rl_dc_weights *w, int64_t k);
rl_dc_weights rl_dc_weights_of(const rl_params *p, const rl_batch *batch, const rl_result *r);
int rl_dc_close_enough(double got, double ref, double abs_scale);
int rl_dc_compare_results(const char *variant, const char *what, FILE *log, const rl_result *g,
                          const rl_result *r, const rl_dc_weights *w, int64_t recall50_slack,
                          int64_t recall75_slack, double all_slots, const rl_params *p);
void rl_dc_put_guard(void *g, int64_t x, int type);
int rl_dc_same_bits(const void *a, const void *b, int64_t x, int type);
uint32_t rl_dc_elem_bits(const void *g, int64_t x, int type);
int rl_dc_half_close(int type, double got, double want, double fbound, double *bound);
int rl_dc_compare_grad(const char *label, const char *what, FILE *log, const rl_params *p,
                       const void *grad, const void *prior, const double *rgrad,
                       const uint8_t *touched, const rl_dc_weights *w, size_t count, int bad);
void rl_dc_fill_prior(void *prior, size_t count, int gt, int accumulate);

#endif
