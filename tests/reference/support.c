/* See support.h. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>

#include "testcfg.h"

void to_layout(const rl_config *cfg, int32_t n_images, const float *logical, rl_layout layout,
               float *out)
{
    for (int32_t n = 0; n < n_images; n++)
        for (int32_t i = 0; i < cfg->H; i++)
            for (int32_t j = 0; j < cfg->W; j++)
                for (int32_t b = 0; b < cfg->B; b++)
                    for (int32_t k = 0; k < 5 + cfg->C; k++)
                        out[spec_offset(layout, cfg->H, cfg->W, cfg->B, cfg->C, n, i, j, b, k)] =
                            logical[spec_offset(RL_LAYOUT_NHWC, cfg->H, cfg->W, cfg->B, cfg->C,
                                                n, i, j, b, k)];
}

void config_spec(rl_config *cfg, int32_t H, int32_t W, int32_t B, int32_t C,
                 const float *anchors, rl_layout layout)
{
    rl_test_config(cfg, 0, H, W, B, C, anchors);
    cfg->layout = layout;
}

rl_plan *ref_plan(const rl_config *cfg)
{
    rl_config c = *cfg;
    c.variant = "reference";
    rl_plan *plan = NULL;
    rl_status st = rl_plan_create(&c, &plan);
    cr_assert(st == RL_OK, "rl_plan_create: %s: %s", rl_status_name(st), rl_last_error());
    cr_assert(strcmp(rl_plan_variant(plan), "reference") == 0);
    return plan;
}

void compute_ok(const rl_plan *plan, const rl_batch *batch, rl_result *res, float *grad)
{
    rl_status st = rl_compute(plan, batch, res, grad);
    cr_assert(st == RL_OK, "rl_compute: %s: %s", rl_status_name(st), rl_last_error());
    cr_assert(strcmp(res->variant, "reference") == 0);
}

void ref_bufs_alloc(ref_bufs *rb, const rl_plan *plan, int32_t n_images)
{
    const rl_params *p = &plan->p;
    memset(rb, 0, sizeof *rb); /* outputs not listed here stay NULL: not wanted */
    rb->count = (size_t)n_images * (size_t)p->per_image;
    rb->slots = (size_t)n_images * (size_t)(p->HW * p->B);
    rb->out.grad = calloc(rb->count, sizeof *rb->out.grad);
    rb->out.touched = calloc(rb->count, 1);
    rb->out.best_iou = calloc(rb->slots, sizeof *rb->out.best_iou);
    rb->out.slot_kind = calloc(rb->slots, 1);
    cr_assert(rb->out.grad && rb->out.touched && rb->out.best_iou && rb->out.slot_kind);
}

void ref_bufs_free(ref_bufs *rb)
{
    free(rb->out.grad);
    free(rb->out.touched);
    free(rb->out.best_iou);
    free(rb->out.slot_kind);
    memset(rb, 0, sizeof *rb);
}

void ref_run(const rl_plan *plan, const rl_batch *batch, const float *frozen, rl_result *res,
             const ref_bufs *rb)
{
    rl_status st = rl_reference_compute(&plan->p, batch, frozen, res, rb ? &rb->out : NULL);
    cr_assert(st == RL_OK, "rl_reference_compute: %s: %s", rl_status_name(st), rl_last_error());
}

/* splitmix64: small, seedable, and the same on every platform. */
uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int64_t rng_int(rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

float rng_grid(rng *r, double lo, double hi, int grid_log2)
{
    const double step = ldexp(1.0, -grid_log2);
    const int64_t steps = (int64_t)llround((hi - lo) / step);
    return (float)(lo + (double)rng_int(r, 0, steps) * step);
}

uint64_t test_seed(uint64_t fallback)
{
    const char *s = getenv("REGIONLOSS_TEST_SEED");
    return s && *s ? strtoull(s, NULL, 0) : fallback;
}

void spec_responsible(const rl_config *cfg, const rl_box *t, int32_t *i, int32_t *j, int32_t *b)
{
    const double X = (double)t->cx * cfg->W, Y = (double)t->cy * cfg->H;
    const double Wg = (double)t->w * cfg->W, Hg = (double)t->h * cfg->H;
    *j = (int32_t)floor(X) < cfg->W - 1 ? (int32_t)floor(X) : cfg->W - 1;
    *i = (int32_t)floor(Y) < cfg->H - 1 ? (int32_t)floor(Y) : cfg->H - 1;
    double best = -1.0;
    *b = 0;
    for (int32_t a = 0; a < cfg->B; a++) {
        const double aw = cfg->anchors[2 * a], ah = cfg->anchors[2 * a + 1];
        const double inter = fmin(Wg, aw) * fmin(Hg, ah);
        const double iou = inter / (Wg * Hg + aw * ah - inter);
        if (iou > best) {
            best = iou;
            *b = a;
        }
    }
}

/* Truth centres: sometimes exactly on a cell border (k/W, 0 and 1
 * included), the section-3 clamp and floor cases; otherwise anywhere. */
static float random_centre(rng *r, int32_t cells)
{
    if (rng_int(r, 0, 3) == 0)
        return (float)((double)rng_int(r, 0, cells) / cells);
    return rng_grid(r, 0.0, 1.0, 12);
}

void rcase_random(rcase *rc, uint64_t seed, rl_layout layout)
{
    memset(rc, 0, sizeof *rc);
    rc->seed = seed;
    rng r = {seed};
    const int32_t H = (int32_t)rng_int(&r, 1, 4), W = (int32_t)rng_int(&r, 1, 4);
    const int32_t B = (int32_t)rng_int(&r, 1, RC_MAX_B), C = (int32_t)rng_int(&r, 1, 4);
    for (int32_t a = 0; a < 2 * B; a++)
        rc->anchors[a] = rng_grid(&r, 0.25, 3.0, 4);
    config_spec(&rc->cfg, H, W, B, C, rc->anchors, layout);
    static const double threshes[3] = {0.3, 0.5, 0.6};
    rc->cfg.thresh = threshes[rng_int(&r, 0, 2)];
    rc->N = (int32_t)rng_int(&r, 1, RC_MAX_N);
    int64_t k = 0;
    rc->off[0] = 0;
    for (int32_t n = 0; n < rc->N; n++) {
        const int64_t m = rng_int(&r, 0, RC_MAX_TRUTHS_PER_IMAGE - 1);
        for (int64_t t = 0; t < m; t++, k++) {
            rl_box *b = &rc->truths[k];
            b->cx = random_centre(&r, W);
            b->cy = random_centre(&r, H);
            b->w = rng_grid(&r, 1.0 / 1024, 1.0, 10);
            b->h = rng_grid(&r, 1.0 / 1024, 1.0, 10);
            b->cls = (int32_t)rng_int(&r, 0, C - 1);
        }
        rc->off[n + 1] = k;
    }
    rc->count = cfg_count(&rc->cfg, rc->N);
    rc->logical = malloc(rc->count * sizeof *rc->logical);
    rc->pred = malloc(rc->count * sizeof *rc->pred);
    cr_assert(rc->logical && rc->pred);
    for (size_t x = 0; x < rc->count; x++) {
        const int64_t kk = (int64_t)(x % (size_t)(5 + C));
        rc->logical[x] = kk == 2 || kk == 3 ? rng_grid(&r, -1.0, 1.0, 12)
                                            : rng_grid(&r, -2.0, 2.0, 12);
    }
    rc->seen = 0;
    rcase_relayout(rc);
}

void rcase_darknet(rcase *rc, int rescore, int logistic, rl_norm norm, int warmup)
{
    const rl_config spec = rc->cfg;
    rl_config_init_darknet(&rc->cfg);
    rc->cfg.H = spec.H;
    rc->cfg.W = spec.W;
    rc->cfg.B = spec.B;
    rc->cfg.C = spec.C;
    rc->cfg.anchors = spec.anchors;
    rc->cfg.layout = spec.layout;
    rc->cfg.thresh = spec.thresh;
    rc->cfg.rescore = rescore;
    rc->cfg.logistic_classes = logistic;
    rc->cfg.norm = norm;
    rc->seen = warmup ? 64 : rc->cfg.warmup_seen;
}

void rcase_relayout(rcase *rc)
{
    to_layout(&rc->cfg, rc->N, rc->logical, rc->cfg.layout, rc->pred);
}

rl_batch rcase_batch(const rcase *rc)
{
    rl_batch b;
    memset(&b, 0, sizeof b);
    b.n_images = rc->N;
    b.pred = rc->pred;
    b.truths = rc->off[rc->N] > 0 ? rc->truths : NULL;
    b.truth_offsets = rc->off;
    b.seen = rc->seen;
    return b;
}

void rcase_free(rcase *rc)
{
    free(rc->logical);
    free(rc->pred);
    rc->logical = rc->pred = NULL;
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

void assert_results_identical(const rl_result *a, const rl_result *b, const char *what)
{
#define SAME_D(f) cr_assert(same_bits(a->f, b->f), "%s: " #f " %.17g vs %.17g", what, a->f, b->f)
#define SAME_I(f) cr_assert(a->f == b->f, "%s: " #f " %lld vs %lld", what, (long long)a->f, \
                            (long long)b->f)
    SAME_D(loss); SAME_D(coord); SAME_D(cls); SAME_D(obj); SAME_D(noobj); SAME_D(warmup);
    SAME_I(n_obj); SAME_I(n_noobj); SAME_I(n_conf); SAME_I(n_truths);
    SAME_D(avg_iou); SAME_D(recall50); SAME_D(recall75); SAME_D(avg_obj); SAME_D(avg_noobj);
    SAME_D(avg_cls); SAME_D(sum_iou); SAME_D(sum_obj); SAME_D(sum_noobj); SAME_D(sum_cls);
    SAME_I(n_recall50); SAME_I(n_recall75);
    SAME_D(darknet.avg_iou); SAME_D(darknet.recall); SAME_D(darknet.recall75);
    SAME_D(darknet.avg_cls); SAME_D(darknet.avg_obj); SAME_D(darknet.avg_anyobj);
    SAME_I(darknet.count); SAME_D(darknet.cost);
#undef SAME_D
#undef SAME_I
}

void fill_guard(void *p, size_t bytes, unsigned char byte) { memset(p, byte, bytes); }

int is_guard(const void *p, size_t bytes, unsigned char byte)
{
    const unsigned char *c = p;
    for (size_t x = 0; x < bytes; x++)
        if (c[x] != byte)
            return 0;
    return 1;
}
