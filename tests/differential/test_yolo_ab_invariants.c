/* Flavour alexeyab on seeded random networks (tests/common/yolo_randcase.c)
 * with random AlexeyAB options, on every variant (yolo-differential holds
 * them to the reference).  What must agree, variant by variant, are the
 * ways of asking the same question:
 *   - one plan of every head and one plan per head (darknet's calls);
 *   - norm sum and norm images (the cost unchanged, the rest divided);
 *   - accumulate into zeros and overwrite;
 *   - the two layouts (float32 cases: the tensors permuted);
 * bit for bit except the division (and, for a kernel variant accumulating,
 * the sign of a zero: it adds each term's float).  The seed is printed and taken back:
 *   REGIONLOSS_SEED=S  REGIONLOSS_CASE=I  REGIONLOSS_CASES=N */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yolo_randcase.h"

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static double unit(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

/* Random AlexeyAB options on the case's config. */
static void alexeyab_options(rl_yolo_config *g, uint64_t seed, int32_t *counts, char *desc,
                             size_t len)
{
    uint64_t s = seed;
    static const double norms[4] = {0.75, 0.07, 1.0, 0.5};
    static const double sxy[4] = {1.0, 1.05, 1.2, 2.0};
    g->flavour = RL_YOLO_FLAVOUR_ALEXEYAB;
    g->lambda_coord = g->lambda_class = g->lambda_obj = g->lambda_noobj = 1.0;
    g->box_loss = RL_BOX_MSE;
    g->iou_loss = (int32_t)(unit(&s) * 5);
    g->iou_thresh_kind = 1 + (int32_t)(unit(&s) * 4);
    g->iou_normalizer = norms[(int)(unit(&s) * 4)];
    g->obj_normalizer = unit(&s) < 0.7 ? 1.0 : 2.0;
    g->cls_normalizer = unit(&s) < 0.5 ? 1.0 : 0.5;
    g->scale_x_y = sxy[(int)(unit(&s) * 4)];
    g->iou_thresh = unit(&s) < 0.5 ? 1.0 : 0.3;
    g->label_smooth_eps = unit(&s) < 0.7 ? 0.0 : 0.1;
    g->max_delta = unit(&s) < 0.5 ? FLT_MAX : 2.0;
    g->focal_loss = unit(&s) < 0.25;
    g->new_coords = unit(&s) < 0.25;
    g->objectness_smooth = unit(&s) < 0.3;
    g->max_boxes = unit(&s) < 0.2 ? 2 : 200;
    g->show_details = unit(&s) < 0.8;
    g->counters_per_class = NULL;
    g->classes_multipliers = NULL; /* the case may have drawn them */
    if (unit(&s) < 0.3 && g->C <= 64) {
        for (int32_t c = 0; c < g->C; c++)
            counts[c] = (int32_t)(unit(&s) * 50);
        g->counters_per_class = counts;
    }
    snprintf(desc, len,
             "iou_loss %d kind %d norm %g/%g/%g sxy %g iou_thresh %g eps %g max_delta %g focal %d "
             "new_coords %d smooth %d max %d details %d counters %s",
             (int)g->iou_loss, (int)g->iou_thresh_kind, g->iou_normalizer, g->obj_normalizer,
             g->cls_normalizer, g->scale_x_y, g->iou_thresh, g->label_smooth_eps, g->max_delta,
             (int)g->focal_loss, (int)g->new_coords, (int)g->objectness_smooth,
             (int)g->max_boxes, (int)g->show_details, g->counters_per_class ? "yes" : "no");
}

typedef struct run {
    rl_result total, heads[RL_YOLO_CASE_MAX_HEADS];
    float *grad[RL_YOLO_CASE_MAX_HEADS];
} run;

static int compute(const rl_yolo_config *cfg, const rl_yolo_batch *b, const size_t *count,
                   run *r, const char *what)
{
    rl_yolo_plan *plan = NULL;
    if (rl_yolo_plan_create(cfg, &plan) != RL_OK) {
        cr_log_error("%s: plan: %s", what, rl_last_error());
        return 1;
    }
    void *g[RL_YOLO_CASE_MAX_HEADS] = {0};
    for (int32_t h = 0; h < cfg->n_heads; h++) {
        r->grad[h] = calloc(count[h] ? count[h] : 1, sizeof(float));
        g[h] = r->grad[h];
    }
    const rl_status st = rl_yolo_compute(plan, b, &r->total, r->heads, g);
    rl_yolo_plan_destroy(plan);
    if (st != RL_OK) {
        cr_log_error("%s: compute: %s", what, rl_last_error());
        return 1;
    }
    return 0;
}

static void run_free(run *r)
{
    for (int h = 0; h < RL_YOLO_CASE_MAX_HEADS; h++)
        free(r->grad[h]);
    memset(r, 0, sizeof *r);
}

/* The same numbers, bit for bit (NaN never: finite inputs). */
static int same_result(const rl_result *a, const rl_result *b, const char *what)
{
    const double va[] = {a->loss, a->coord, a->cls, a->obj, a->noobj, a->darknet.cost,
                         a->sum_iou, a->sum_obj, a->sum_noobj, a->sum_cls, a->darknet.avg_iou,
                         a->darknet.avg_obj, a->darknet.avg_cls, a->darknet.avg_anyobj};
    const double vb[] = {b->loss, b->coord, b->cls, b->obj, b->noobj, b->darknet.cost,
                         b->sum_iou, b->sum_obj, b->sum_noobj, b->sum_cls, b->darknet.avg_iou,
                         b->darknet.avg_obj, b->darknet.avg_cls, b->darknet.avg_anyobj};
    for (size_t k = 0; k < sizeof va / sizeof va[0]; k++)
        if (va[k] != vb[k]) {
            cr_log_error("%s: field %zu: %.17g vs %.17g", what, k, va[k], vb[k]);
            return 1;
        }
    if (a->n_obj != b->n_obj || a->n_noobj != b->n_noobj || a->darknet.count != b->darknet.count) {
        cr_log_error("%s: counts %lld/%lld/%lld vs %lld/%lld/%lld", what, (long long)a->n_obj,
                     (long long)a->n_noobj, (long long)a->darknet.count, (long long)b->n_obj,
                     (long long)b->n_noobj, (long long)b->darknet.count);
        return 1;
    }
    return 0;
}

/* zero_sign: +0 and -0 count as equal (a kernel variant accumulating a
 * term that rounds to -0 into +0 stores +0: docs/numerics.md, one float
 * rounding of prior + g). */
static int same_grad(const float *a, const float *b, size_t n, const char *what, int zero_sign)
{
    for (size_t x = 0; x < n; x++)
        if (memcmp(&a[x], &b[x], sizeof *a) != 0 && !(zero_sign && a[x] == 0 && b[x] == 0)) {
            cr_log_error("%s: gradient entry %zu: %.9g vs %.9g", what, x, (double)a[x],
                         (double)b[x]);
            return 1;
        }
    return 0;
}

/* Entry (n, i, j, b, k) of a head in NCHW and in NHWC. */
static size_t nchw(const rl_yolo_head *hd, int32_t K, size_t n, size_t i, size_t j, size_t b,
                   size_t k)
{
    return ((n * hd->B + b) * K + k) * hd->H * hd->W + i * hd->W + j;
}

static size_t nhwc(const rl_yolo_head *hd, int32_t K, size_t n, size_t i, size_t j, size_t b,
                   size_t k)
{
    return (((n * hd->H + i) * hd->W + j) * hd->B + b) * K + k;
}

static int check_case(rl_yolo_case *c, uint64_t seed, uint64_t index, const char *variant,
                      int first)
{
    rl_yolo_config cfg = c->cfg;
    int32_t counts[64];
    char desc[400], what[1000];
    alexeyab_options(&cfg, seed * 1000003u + index, counts, desc, sizeof desc);
    cfg.variant = variant;
    const int kernels = strcmp(variant, "reference") != 0;
    cfg.grad_dtype = RL_DTYPE_F32;
    cfg.grad_mode = RL_GRAD_OVERWRITE;
    /* raw outputs are read as probabilities: keep them in (0, 1) (once per case) */
    if (cfg.new_coords && first)
        for (int32_t h = 0; h < cfg.n_heads; h++)
            if (cfg.pred_dtype == RL_DTYPE_F32)
                for (size_t x = 0; x < c->pred_count[h]; x++)
                    c->pred[h][x] = 1.0f / (1.0f + expf(-c->pred[h][x]));
    snprintf(what, sizeof what, "seed %llu case %llu, variant %s (%s; %s)",
             (unsigned long long)seed, (unsigned long long)index, variant, c->desc, desc);
    const int32_t H = cfg.n_heads, K = 5 + cfg.C;
    const int64_t N = c->batch.n_images;
    int bad = 0;
    run base = {0}, other = {0};
    if (compute(&cfg, &c->batch, c->pred_count, &base, what)) {
        run_free(&base);
        return 1;
    }

    /* one plan per head */
    for (int32_t h = 0; h < H && !bad; h++) {
        rl_yolo_config one = cfg;
        one.n_heads = 1;
        one.heads = &cfg.heads[h];
        rl_yolo_batch b = c->batch;
        b.preds = &c->batch.preds[h];
        run r = {0};
        bad |= compute(&one, &b, &c->pred_count[h], &r, what);
        if (!bad) {
            char w[1100];
            snprintf(w, sizeof w, "%s: head %d alone", what, (int)h);
            bad |= same_result(&r.heads[0], &base.heads[h], w);
            bad |= same_grad(r.grad[0], base.grad[h], c->pred_count[h], w, 0);
        }
        run_free(&r);
    }

    /* the other norm: cost unchanged, the rest divided by the images */
    rl_yolo_config alt = cfg;
    alt.norm = cfg.norm == RL_NORM_SUM ? RL_NORM_IMAGES : RL_NORM_SUM;
    if (!bad && !compute(&alt, &c->batch, c->pred_count, &other, what)) {
        const run *s = cfg.norm == RL_NORM_SUM ? &base : &other;
        const run *m = cfg.norm == RL_NORM_SUM ? &other : &base;
        const double D = c->batch.global_counts ? (double)c->batch.global_counts->n_images
                                                : (double)N;
        if (s->total.darknet.cost != m->total.darknet.cost) {
            cr_log_error("%s: cost %.17g with norm sum, %.17g with norm images", what,
                         s->total.darknet.cost, m->total.darknet.cost);
            bad = 1;
        }
        if (!(fabs(s->total.loss - D * m->total.loss) <= 1e-13 * fabs(s->total.loss))) {
            cr_log_error("%s: loss %.17g with norm sum, %.17g x %g with norm images", what,
                         s->total.loss, m->total.loss, D);
            bad = 1;
        }
        for (int32_t h = 0; h < H && !bad; h++)
            for (size_t x = 0; x < c->pred_count[h]; x++) {
                const double a = s->grad[h][x], b = D * (double)m->grad[h][x];
                if (!(fabs(a - b) <= 2.5e-7 * fabs(a) + 1e-37) && !(isinf(a) && isinf(b))) {
                    cr_log_error("%s: head %d entry %zu: %.9g with norm sum, %.9g x %g", what,
                                 (int)h, x, a, (double)m->grad[h][x], D);
                    bad = 1;
                    break;
                }
            }
    } else {
        bad = 1;
    }
    run_free(&other);

    /* accumulate into zeros */
    alt = cfg;
    alt.grad_mode = RL_GRAD_ACCUMULATE;
    if (!bad && !compute(&alt, &c->batch, c->pred_count, &other, what)) {
        bad |= same_result(&other.total, &base.total, what);
        for (int32_t h = 0; h < H && !bad; h++)
            bad |= same_grad(other.grad[h], base.grad[h], c->pred_count[h], what, kernels);
    }
    run_free(&other);

    /* the other layout (float32 cases) */
    if (!bad && cfg.pred_dtype == RL_DTYPE_F32) {
        float *perm[RL_YOLO_CASE_MAX_HEADS] = {0};
        const void *pp[RL_YOLO_CASE_MAX_HEADS];
        const int to_nhwc = cfg.layout == RL_LAYOUT_NCHW;
        for (int32_t h = 0; h < H; h++) {
            const rl_yolo_head *hd = &cfg.heads[h];
            perm[h] = malloc(c->pred_count[h] * sizeof(float) + 1);
            const float *src = c->batch.preds[h];
            for (size_t n = 0; n < (size_t)N; n++)
                for (size_t i = 0; i < (size_t)hd->H; i++)
                    for (size_t j = 0; j < (size_t)hd->W; j++)
                        for (size_t b = 0; b < (size_t)hd->B; b++)
                            for (size_t k = 0; k < (size_t)K; k++) {
                                const size_t a = nchw(hd, K, n, i, j, b, k),
                                             z = nhwc(hd, K, n, i, j, b, k);
                                perm[h][to_nhwc ? z : a] = src[to_nhwc ? a : z];
                            }
            pp[h] = perm[h];
        }
        alt = cfg;
        alt.layout = to_nhwc ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW;
        rl_yolo_batch b = c->batch;
        b.preds = pp;
        if (!compute(&alt, &b, c->pred_count, &other, what)) {
            bad |= same_result(&other.total, &base.total, what);
            for (int32_t h = 0; h < H && !bad; h++) {
                const rl_yolo_head *hd = &cfg.heads[h];
                for (size_t n = 0; n < (size_t)N && !bad; n++)
                    for (size_t i = 0; i < (size_t)hd->H && !bad; i++)
                        for (size_t j = 0; j < (size_t)hd->W && !bad; j++)
                            for (size_t q = 0; q < (size_t)hd->B && !bad; q++)
                                for (size_t k = 0; k < (size_t)K && !bad; k++) {
                                    const size_t a = nchw(hd, K, n, i, j, q, k),
                                                 z = nhwc(hd, K, n, i, j, q, k);
                                    const float g0 = base.grad[h][to_nhwc ? a : z],
                                                g1 = other.grad[h][to_nhwc ? z : a];
                                    if (memcmp(&g0, &g1, sizeof g0) != 0) {
                                        cr_log_error("%s: other layout: head %d (n %zu, i %zu, "
                                                     "j %zu, b %zu, k %zu): %.9g vs %.9g",
                                                     what, (int)h, n, i, j, q, k, (double)g0,
                                                     (double)g1);
                                        bad = 1;
                                    }
                                }
            }
        } else {
            bad = 1;
        }
        run_free(&other);
        for (int32_t h = 0; h < H; h++)
            free(perm[h]);
    }
    run_free(&base);
    if (bad)
        printf("  failed: %s\n", what);
    return bad;
}

Test(yolo_ab_invariants, random_networks, .timeout = 900)
{
    const uint64_t seed = env_u64("REGIONLOSS_SEED", 20261207);
    const uint64_t cases = env_u64("REGIONLOSS_CASES", 300);
    const char *only = getenv("REGIONLOSS_CASE");
    uint64_t first = 0, last = cases;
    if (only && *only) {
        first = strtoull(only, NULL, 0);
        last = first + 1;
    }
    printf("yolo-ab-invariants: seed %llu, cases %llu..%llu\n", (unsigned long long)seed,
           (unsigned long long)first, (unsigned long long)last - 1);
    int failures = 0;
    for (uint64_t i = first; i < last && failures < 5; i++) {
        rl_yolo_case c;
        rl_yolo_case_make(&c, seed, i);
        for (const char *const *v = rl_variant_list(); *v; v++)
            failures += check_case(&c, seed, i, *v, v == rl_variant_list());
        rl_yolo_case_free(&c);
    }
    fflush(stdout);
    cr_assert_eq(failures, 0, "%d case(s) failed (details above)", failures);
}
