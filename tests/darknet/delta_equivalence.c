/* Issue 5 point 8 on random batches: minus the library's gradient (times
 * N under per-image division), divided by s(1 - s) where darknet's delta is
 * on a logistic output (x, y, objectness, logistic classes), equals the
 * l.delta that darknet's region layer writes, entry for entry, zeros
 * included; and darknet's cost and training line match.  The darknet side
 * is dn_model.c, restated independently; the truths reach it as darknet's
 * net.truth buffer and reach the library through rl_truths_from_darknet.
 *
 *   the reference: its double gradient to DN_DELTA_REL (1e-9), the line and
 *                  the cost to the same relative bound, counts exactly;
 *   every other variant: rl_diffcheck against the reference, and its float
 *                  gradient, line and cost against the model within
 *                  tests/common/tolerance.h (decisions within RL_TOL_THRESH
 *                  of a threshold may go either way and are skipped there).
 *
 *   REGIONLOSS_SEED=S    the stream (default fixed)
 *   REGIONLOSS_CASE=I    only case I
 *   REGIONLOSS_CASES=N   how many (default 400) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_compare.h"
#include "dn_support.h"

#define MAX_BOXES 30

typedef struct rng {
    uint64_t s;
} rng;

/* splitmix64 */
static uint64_t next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unit(rng *r) { return (double)(next(r) >> 11) * 0x1p-53; }
static int pick(rng *r, int lo, int hi) { return lo + (int)(next(r) % (uint64_t)(hi - lo + 1)); }
static float uniform(rng *r, double lo, double hi) { return (float)(lo + (hi - lo) * unit(r)); }

typedef struct dcase {
    rl_config cfg;
    float anchors[10];
    int N;
    float *pred;      /* NCHW, what darknet's convolution hands the layer */
    float *truth;     /* darknet's net.truth: N x 30 x 5 */
    rl_box boxes[3 * MAX_BOXES];
    int64_t off[4];
    int64_t seen;
    char desc[200];
} dcase;

/* A truth box in (0, 1] x [0, 1]: x == 0 would end darknet's list. */
static void random_truth(rng *r, const rl_config *cfg, float *f, const float *prev)
{
    const int kind = pick(r, 0, 9);
    f[2] = uniform(r, 0.02, 1.0);
    f[3] = uniform(r, 0.02, 1.0);
    f[0] = uniform(r, 0.001, 1.0);
    f[1] = uniform(r, 0.0, 1.0);
    if (kind == 0) { /* on cell borders, the far ones included (x or y = 1) */
        f[0] = (float)pick(r, 1, cfg->W) / (float)cfg->W;
        f[1] = (float)pick(r, 0, cfg->H) / (float)cfg->H;
    } else if (kind == 1) {
        f[0] = 1.0f;
    } else if (kind <= 3 && prev) {
        /* the same cell and almost the same shape as the previous truth:
         * usually the same slot, where the later one wins */
        const double jx = (double)prev[0] * cfg->W, jy = (double)prev[1] * cfg->H;
        const double cx = floor(jx) + 0.05 + 0.9 * unit(r), cy = floor(jy) + 0.05 + 0.9 * unit(r);
        f[0] = (float)fmin(1.0, cx / cfg->W);
        f[1] = (float)fmin(1.0, cy / cfg->H);
        if (f[0] <= 0)
            f[0] = prev[0];
        f[2] = (float)fmin(1.0, prev[2] * (0.97 + 0.06 * unit(r)));
        f[3] = (float)fmin(1.0, prev[3] * (0.97 + 0.06 * unit(r)));
    }
    f[4] = (float)pick(r, 0, cfg->C - 1);
}

static void make_case(dcase *c, uint64_t seed, uint64_t index)
{
    rng r = {seed * 0x2545f4914f6cdd1dull + index};
    memset(c, 0, sizeof *c);
    rl_config *cfg = &c->cfg;
    rl_config_init_darknet(cfg);
    cfg->H = pick(&r, 1, 6);
    cfg->W = pick(&r, 1, 6);
    cfg->B = pick(&r, 1, 5);
    cfg->C = pick(&r, 1, 6);
    for (int b = 0; b < cfg->B; b++) {
        c->anchors[2 * b] = uniform(&r, 0.25, 6.0);
        c->anchors[2 * b + 1] = uniform(&r, 0.25, 6.0);
    }
    if (cfg->B > 1 && pick(&r, 0, 4) == 0) { /* a tie: the smaller index wins */
        c->anchors[2] = c->anchors[0];
        c->anchors[3] = c->anchors[1];
    }
    cfg->anchors = c->anchors;
    const double coord[] = {1, 0.5, 2, 0}, cls[] = {1, 2, 0.5, 0}, obj[] = {5, 1, 0.25, 0},
                 noobj[] = {1, 0.5, 3, 0}, warm[] = {0.01, 0.2, 1, 0},
                 thresh[] = {0.6, 0.5, 0.3, 0.0, 1.0};
    cfg->lambda_coord = coord[pick(&r, 0, 3) * (pick(&r, 0, 3) != 0)];
    cfg->lambda_class = cls[pick(&r, 0, 3) * (pick(&r, 0, 3) != 0)];
    cfg->lambda_obj = obj[pick(&r, 0, 3) * (pick(&r, 0, 3) != 0)];
    cfg->lambda_noobj = noobj[pick(&r, 0, 3) * (pick(&r, 0, 3) != 0)];
    cfg->warmup_scale = warm[pick(&r, 0, 3) * (pick(&r, 0, 3) != 0)];
    cfg->thresh = thresh[pick(&r, 0, 4)];
    cfg->rescore = pick(&r, 0, 3) != 0;
    cfg->logistic_classes = pick(&r, 0, 2) == 0;
    cfg->norm = pick(&r, 0, 1) ? RL_NORM_IMAGES : RL_NORM_SUM;
    cfg->warmup_seen = pick(&r, 0, 1) ? 12800 : pick(&r, 1, 1000);
    c->seen = pick(&r, 0, 1) ? cfg->warmup_seen - pick(&r, 1, 64) : cfg->warmup_seen + pick(&r, 0, 3);
    if (c->seen < 0)
        c->seen = 0;

    c->N = pick(&r, 1, 3);
    const size_t count = dn_count(cfg, c->N);
    c->pred = malloc(count * sizeof *c->pred);
    c->truth = calloc((size_t)c->N * MAX_BOXES * 5, sizeof *c->truth);
    cr_assert(c->pred && c->truth);
    for (int n = 0; n < c->N; n++)
        for (int b = 0; b < cfg->B; b++)
            for (int k = 0; k < 5 + cfg->C; k++)
                for (int i = 0; i < cfg->H; i++)
                    for (int j = 0; j < cfg->W; j++) {
                        const int box_size = k == 2 || k == 3;
                        float v = box_size ? uniform(&r, -2, 2) : uniform(&r, -4, 4);
                        if (k < 4 && pick(&r, 0, 5) == 0)
                            v = 0; /* on the prior: a zero warm-up delta */
                        c->pred[dn_off(cfg, n, i, j, b, k)] = v;
                    }

    /* 0..8 truths per image, sometimes all 30; after the terminator some
     * garbage darknet must not read (even a class out of range) */
    for (int n = 0; n < c->N; n++) {
        float *img = c->truth + (size_t)n * MAX_BOXES * 5;
        const int nt = pick(&r, 0, 9) == 0 ? MAX_BOXES : pick(&r, 0, 8);
        for (int t = 0; t < nt; t++)
            random_truth(&r, cfg, img + 5 * t, t ? img + 5 * (t - 1) : NULL);
        for (int t = nt + 1; t < MAX_BOXES && t < nt + 3; t++) {
            random_truth(&r, cfg, img + 5 * t, NULL);
            img[5 * t + 4] = (float)(cfg->C + 7);
        }
    }
    rl_status st = rl_truths_from_darknet(c->truth, c->N, MAX_BOXES, cfg->C, c->boxes, c->off);
    cr_assert(st == RL_OK, "rl_truths_from_darknet: %s", rl_last_error());
    snprintf(c->desc, sizeof c->desc,
             "%dx%d B%d C%d N%d truths %lld, scales %g/%g/%g/%g warm %g, thresh %g, rescore %d, "
             "logistic %d, norm %s, seen %lld of %lld",
             cfg->H, cfg->W, cfg->B, cfg->C, c->N, (long long)c->off[c->N], cfg->lambda_coord,
             cfg->lambda_class, cfg->lambda_obj, cfg->lambda_noobj, cfg->warmup_scale,
             cfg->thresh, cfg->rescore, cfg->logistic_classes,
             cfg->norm == RL_NORM_IMAGES ? "images" : "sum", (long long)c->seen,
             (long long)cfg->warmup_seen);
}

static void free_case(dcase *c)
{
    free(c->pred);
    free(c->truth);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

Test(delta_equivalence, random_batches, .timeout = 600)
{
    const uint64_t seed = env_u64("REGIONLOSS_SEED", 5);
    uint64_t first = 0, last = env_u64("REGIONLOSS_CASES", 400);
    const char *only = getenv("REGIONLOSS_CASE");
    if (only && *only) {
        first = strtoull(only, NULL, 0);
        last = first + 1;
    }
    printf("delta_equivalence: seed %llu, cases %llu..%llu\n", (unsigned long long)seed,
           (unsigned long long)first, (unsigned long long)last - 1);
    int failed = 0;
    int64_t truths = 0, replaced = 0;
    for (uint64_t q = first; q < last && failed < 3; q++) {
        dcase c;
        make_case(&c, seed, q);
        const dn_batch db = {&c.cfg, c.N, c.pred, c.truth, MAX_BOXES, c.boxes, c.off, c.seen};
        dn_region l;
        dn_model_run(&db, &l);
        char what[300];
        snprintf(what, sizeof what, "seed %llu case %llu (%s)", (unsigned long long)seed,
                 (unsigned long long)q, c.desc);
        dn_cmp m = {0, what};
        dn_compare_reference(&db, &l, RL_LAYOUT_NCHW, &m);
        dn_compare_reference(&db, &l, RL_LAYOUT_NHWC, &m);
        for (const char *const *v = rl_variant_list(); *v; v++)
            if (strcmp(*v, "reference") != 0)
                dn_compare_variant(&db, &l, *v, &m);
        const rl_batch batch = {.n_images = c.N, .pred = c.pred, .truths = c.boxes,
                                .truth_offsets = c.off, .seen = c.seen};
        dn_diffcheck_all(&c.cfg, &batch, what);
        rl_result r;
        dn_reference_grad(&c.cfg, &batch, NULL, &r);
        truths += r.n_truths;
        replaced += r.n_truths - r.n_obj;
        if (m.bad)
            printf("  rerun: REGIONLOSS_SEED=%llu REGIONLOSS_CASE=%llu\n",
                   (unsigned long long)seed, (unsigned long long)q);
        failed += m.bad != 0;
        dn_free(&l);
        free_case(&c);
    }
    printf("delta_equivalence: %lld truths, %lld of them replaced on their slot\n",
           (long long)truths, (long long)replaced);
    fflush(stdout);
    cr_assert_eq(failed, 0, "%d case(s) differ from darknet's l.delta", failed);
    /* the stream must exercise the rule it is about */
    if (last - first >= 100)
        cr_assert_gt(replaced, 0, "no truth was ever replaced on its slot");
}
