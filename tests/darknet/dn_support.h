/* Helpers of the darknet-mode suites: tensor offsets written again from
 * docs/loss.md ("The tensor"), hand-derived expectations checked against every
 * variant (the reference to ~1e-12, the float variants within the bound of
 * tests/common/tolerance.h and through rl_diffcheck), and the conversion of
 * the library's gradient into darknet's l.delta (issue 5 point 8). */
#ifndef DN_SUPPORT_H
#define DN_SUPPORT_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>

#include "regionloss.h"

/* The reference against numbers derived by hand: both sides are a few
 * double operations on the same float inputs (~1e-16 each), so 1e-12
 * leaves room for a different order of operations, not for a wrong term. */
#define DN_REF_REL 1e-12
/* The reference's gradient against darknet's l.delta (issue 5 point 8):
 * the division by s(1-s) and darknet's normalised-coordinate IoUs cost a
 * few more roundings; 1e-9 still catches any difference of formula. */
#define DN_DELTA_REL 1e-9

static inline double dn_sig(double z) { return 1.0 / (1.0 + exp(-z)); }
/* s'(z) = s(z)(1 - s(z)), as s(z)s(-z) */
static inline double dn_slope(double z) { return dn_sig(z) * dn_sig(-z); }

/* docs/loss.md, "The tensor", NCHW: ((n*B + b)*(5+C) + k)*H*W + i*W + j. */
static inline int64_t dn_off(const rl_config *cfg, int64_t n, int64_t i, int64_t j, int64_t b,
                             int64_t k)
{
    return ((n * cfg->B + b) * (5 + cfg->C) + k) * cfg->H * cfg->W + i * cfg->W + j;
}

static inline size_t dn_count(const rl_config *cfg, int32_t n_images)
{
    return (size_t)n_images * cfg->H * cfg->W * cfg->B * (5 + cfg->C);
}

/* What a hand derivation predicts for one call. */
typedef struct dn_expect {
    double coord, cls, obj, noobj, warmup, loss;
    int64_t n_obj, n_noobj, n_truths;
    /* rl_result's own diagnostics, over responsible slots */
    double avg_iou, avg_obj, avg_cls, avg_noobj;
    int64_t n_recall50, n_recall75;
    /* darknet's training line and cost */
    rl_darknet_stats dn;
    /* the whole gradient, dn_count() doubles, 0 where the loss has no term */
    double *grad;
} dn_expect;

/* Zeroed expectation with a zeroed gradient for this shape. */
void dn_expect_init(dn_expect *e, const rl_config *cfg, int32_t n_images);
void dn_expect_free(dn_expect *e);
/* loss = coord + cls + obj + noobj + warmup */
void dn_expect_total(dn_expect *e);

/* Runs cfg (its variant field ignored) with every name of rl_variant_list()
 * through rl_compute and checks everything in e: the reference to
 * DN_REF_REL (its double gradient as well, through the internal API), every
 * other variant within the documented tolerance, and through rl_diffcheck
 * against the reference.  Counts must match exactly for every variant. */
void dn_expect_check(const rl_config *cfg, const rl_batch *batch, const dn_expect *e,
                     const char *what);

/* The reference's double gradient of a batch (NULL res allowed). */
void dn_reference_grad(const rl_config *cfg, const rl_batch *batch, double *grad,
                       rl_result *res);

/* Issue 5 point 8: the l.delta entry darknet writes, from the library's
 * gradient entry g at channel k of a slot with raw output t: minus g, times
 * the divisor of the images normalisation, divided by s'(t) where darknet's
 * delta is on a logistic output (x, y, objectness, logistic classes). */
double dn_delta_from_grad(const rl_config *cfg, int64_t k, double t, double g, double divisor);

/* Every variant compared with the reference by rl_diffcheck; the test fails
 * on any disagreement (details printed to stdout). */
void dn_diffcheck_all(const rl_config *cfg, const rl_batch *batch, const char *what);

#endif
