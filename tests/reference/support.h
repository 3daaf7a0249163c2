/* Helpers shared by the reference suites: plans pinned to the reference
 * variant, tensor offsets written from docs/loss.md (independently of
 * the library's rl_index), a seeded generator of small random batches, and
 * tolerance checks that print what they compared. */
#ifndef RL_TEST_REFERENCE_SUPPORT_H
#define RL_TEST_REFERENCE_SUPPORT_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "regionloss.h"
#include "scalar/reference.h"

/* ---- numbers ---------------------------------------------------------- */

static inline double sig(double z) { return 1.0 / (1.0 + exp(-z)); }

/* |actual - expected| <= rel*|expected| + abs; abs = rel = 0 means exact. */
static inline int close_to(double actual, double expected, double rel, double abs_)
{
    return fabs(actual - expected) <= rel * fabs(expected) + abs_;
}

#define assert_close(actual, expected, rel, abs_, ...)                                   \
    do {                                                                                 \
        double a_ = (actual), e_ = (expected);                                           \
        if (!close_to(a_, e_, (rel), (abs_))) {                                          \
            cr_log_error(__VA_ARGS__);                                                   \
            cr_assert_fail("got %.17g, expected %.17g (diff %.3g, rel %.1e, abs %.1e)",  \
                           a_, e_, a_ - e_, (double)(rel), (double)(abs_));              \
        }                                                                                \
    } while (0)

/* A double computed by the library from the same float inputs as a few
 * double operations in the test: both sides round ~10 times, so they agree
 * to ~1e-15 relative; 1e-13 leaves room for a different order of operations
 * but not for a wrong formula. */
#define DOUBLE_REL 1e-13
/* A float gradient entry is the double value rounded once: relative error
 * at most 2^-24; 2^-23 allows the double side its own few ulps. */
#define FLOAT_REL 0x1p-23

/* ---- tensors ---------------------------------------------------------- */

/* docs/loss.md, "The tensor", written out again here on purpose. */
static inline int64_t spec_offset(rl_layout layout, int64_t H, int64_t W, int64_t B, int64_t C,
                                  int64_t n, int64_t i, int64_t j, int64_t b, int64_t k)
{
    if (layout == RL_LAYOUT_NCHW)
        return ((n * B + b) * (5 + C) + k) * H * W + i * W + j;
    return (((n * H + i) * W + j) * B + b) * (5 + C) + k;
}

static inline int64_t cfg_offset(const rl_config *cfg, int64_t n, int64_t i, int64_t j,
                                 int64_t b, int64_t k)
{
    return spec_offset(cfg->layout, cfg->H, cfg->W, cfg->B, cfg->C, n, i, j, b, k);
}

static inline size_t cfg_count(const rl_config *cfg, int32_t n_images)
{
    return (size_t)n_images * cfg->H * cfg->W * cfg->B * (5 + cfg->C);
}

/* Copy a tensor stored in the logical order [n][i][j][b][k] (which is NHWC)
 * into `layout`. */
void to_layout(const rl_config *cfg, int32_t n_images, const float *logical, rl_layout layout,
               float *out);

/* Spec-mode config with the given shape; anchors must outlive the plan call. */
void config_spec(rl_config *cfg, int32_t H, int32_t W, int32_t B, int32_t C,
                 const float *anchors, rl_layout layout);

/* A plan on the reference variant; the test fails if creation fails. */
rl_plan *ref_plan(const rl_config *cfg);

/* rl_compute through the public API; the test fails unless RL_OK. */
void compute_ok(const rl_plan *plan, const rl_batch *batch, rl_result *res, float *grad);

/* ---- the reference's internals ---------------------------------------- */

typedef struct ref_bufs {
    rl_ref_out out;
    size_t count, slots;
} ref_bufs;

void ref_bufs_alloc(ref_bufs *rb, const rl_plan *plan, int32_t n_images);
void ref_bufs_free(ref_bufs *rb);
/* rl_reference_compute on a batch the public API has already accepted. */
void ref_run(const rl_plan *plan, const rl_batch *batch, const float *frozen, rl_result *res,
             const ref_bufs *rb);

/* ---- random small batches --------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

uint64_t rng_next(rng *r);
/* Uniform integer in [lo, hi]. */
int64_t rng_int(rng *r, int64_t lo, int64_t hi);
/* A multiple of 2^-grid_log2 in [lo, hi] (lo, hi themselves multiples). */
float rng_grid(rng *r, double lo, double hi, int grid_log2);

/* Seeds: REGIONLOSS_TEST_SEED overrides the first one, to replay a failure. */
uint64_t test_seed(uint64_t fallback);

#define RC_MAX_N 3
#define RC_MAX_B 3
#define RC_MAX_TRUTHS_PER_IMAGE 5

typedef struct rcase {
    uint64_t seed;
    rl_config cfg;
    float anchors[2 * RC_MAX_B];
    int32_t N;
    rl_box truths[RC_MAX_N * RC_MAX_TRUTHS_PER_IMAGE];
    int64_t off[RC_MAX_N + 1];
    size_t count;
    float *logical; /* [n][i][j][b][k] */
    float *pred;    /* the same numbers in cfg.layout */
    int64_t seen;
} rcase;

/* A random spec-mode case: H, W in 1..4, B 1..3, C 1..4, N 1..3, 0..4 truths
 * per image (some on cell borders), predictions on a 2^-12 grid (box and
 * class logits in [-2, 2], tw/th in [-1, 1]), thresh 0.3, 0.5 or 0.6. */
void rcase_random(rcase *rc, uint64_t seed, rl_layout layout);
/* Turn a random case into a darknet-mode one (same shape, anchors, layout
 * and thresh); warm-up on means seen = 64 < 12800, off means seen = 12800. */
void rcase_darknet(rcase *rc, int rescore, int logistic, rl_norm norm, int warmup);
/* Recopy logical into pred after editing logical or changing cfg.layout. */
void rcase_relayout(rcase *rc);
rl_batch rcase_batch(const rcase *rc);
void rcase_free(rcase *rc);

/* The responsible slot of a truth, from docs/loss.md written again. */
void spec_responsible(const rl_config *cfg, const rl_box *t, int32_t *i, int32_t *j, int32_t *b);

/* Every numeric field of two results, bit for bit. */
void assert_results_identical(const rl_result *a, const rl_result *b, const char *what);

/* Fill with a repeating byte so that any write shows. */
void fill_guard(void *p, size_t bytes, unsigned char byte);
int is_guard(const void *p, size_t bytes, unsigned char byte);

#endif
