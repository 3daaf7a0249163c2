#include "perfcase.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next(rng *r)
{ /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double unif(rng *r) { return (double)(next(r) >> 11) / 9007199254740992.0; }
static int32_t range(rng *r, int32_t lo, int32_t hi)
{
    return lo + (int32_t)(next(r) % (uint64_t)(hi - lo + 1));
}

static float logit(rng *r, int wide)
{
    const double u = unif(r);
    if (wide && u < 0.1)
        return (float)((unif(r) - 0.5) * 60.0);
    if (wide && u < 0.15)
        return (float)((unif(r) - 0.5) * 1e-6);
    return (float)((unif(r) - 0.5) * 8.0);
}

static int64_t offset(const rl_config *g, int64_t n, int64_t i, int64_t j, int64_t b, int64_t k)
{
    const int64_t K = 5 + (int64_t)g->C;
    if (g->layout == RL_LAYOUT_NCHW)
        return ((n * g->B + b) * K + k) * g->H * g->W + i * g->W + j;
    return (((n * g->H + i) * g->W + j) * g->B + b) * K + k;
}

void perf_case_make(perf_case *c, uint64_t seed, uint64_t index)
{
    memset(c, 0, sizeof *c);
    rng r = {seed ^ (index + 1) * 0xd1342543de82ef95ull};
    next(&r);
    const int nhwc = index & 1, darknet = (index >> 1) & 1, accumulate = (index >> 2) & 1;
    rl_config *g = &c->cfg;
    if (darknet) {
        rl_config_init_darknet(g);
        g->norm = unif(&r) < 0.5 ? RL_NORM_SUM : RL_NORM_IMAGES;
        g->rescore = unif(&r) < 0.7;
        g->logistic_classes = unif(&r) < 0.25;
    } else {
        rl_config_init(g);
        const double u = unif(&r);
        g->norm = u < 0.6 ? RL_NORM_COUNTS : u < 0.8 ? RL_NORM_SUM : RL_NORM_IMAGES;
    }
    g->layout = nhwc ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW;
    g->grad_mode = accumulate ? RL_GRAD_ACCUMULATE : RL_GRAD_OVERWRITE;
    g->H = range(&r, 1, 16);
    g->W = unif(&r) < 0.5 ? g->H : range(&r, 1, 16);
    g->B = range(&r, 1, 9);
    g->C = unif(&r) < 0.1 ? range(&r, 100, 300) : range(&r, 1, 40);
    for (int b = 0; b < g->B; b++) {
        c->anchors[2 * b] = (float)(0.3 + unif(&r) * 6);
        c->anchors[2 * b + 1] = (float)(0.3 + unif(&r) * 6);
    }
    g->anchors = c->anchors;
    const double tu = unif(&r);
    g->thresh = tu < 0.6 ? 0.6 : unif(&r);

    const int32_t N = range(&r, 1, 24);
    c->count = (size_t)N * g->H * g->W * g->B * (5 + g->C);
    c->pred = malloc(c->count * sizeof(float));
    const int wide = unif(&r) < 0.5;
    for (size_t x = 0; x < c->count; x++)
        c->pred[x] = logit(&r, wide);

    const int32_t max_truths = unif(&r) < 0.3 ? 40 : 10;
    c->offsets = malloc((size_t)(N + 1) * sizeof(int64_t));
    c->truths = malloc(((size_t)N * max_truths + 1) * sizeof(rl_box));
    int64_t k = 0;
    c->offsets[0] = 0;
    for (int32_t n = 0; n < N; n++) {
        const int32_t nt = unif(&r) < 0.15 ? 0 : range(&r, 1, max_truths);
        for (int32_t t = 0; t < nt; t++, k++) {
            rl_box *bx = &c->truths[k];
            if (t > 0 && unif(&r) < 0.1) { /* the previous truth's slot again */
                *bx = c->truths[k - 1];
                bx->cls = range(&r, 0, g->C - 1);
                continue;
            }
            bx->cx = (float)unif(&r);
            bx->cy = (float)unif(&r);
            bx->w = (float)(0.02 + 0.98 * unif(&r) * unif(&r));
            bx->h = (float)(0.02 + 0.98 * unif(&r) * unif(&r));
            bx->cls = range(&r, 0, g->C - 1);
            if (unif(&r) < 0.5) { /* predictions near this truth: IoUs over (0, 1) */
                const int32_t j = (int32_t)fmin(floor((double)bx->cx * g->W), g->W - 1);
                const int32_t i = (int32_t)fmin(floor((double)bx->cy * g->H), g->H - 1);
                for (int32_t b = 0; b < g->B; b++) {
                    c->pred[offset(g, n, i, j, b, 2)] =
                        (float)(log((double)bx->w * g->W / c->anchors[2 * b]) + unif(&r) * 0.3);
                    c->pred[offset(g, n, i, j, b, 3)] =
                        (float)(log((double)bx->h * g->H / c->anchors[2 * b + 1]) + unif(&r) * 0.3);
                }
            }
        }
        c->offsets[n + 1] = k;
    }
    c->batch.n_images = N;
    c->batch.pred = c->pred;
    c->batch.truths = k ? c->truths : NULL;
    c->batch.truth_offsets = c->offsets;
    c->batch.seen = unif(&r) < 0.5 ? 100 : 50000; /* darknet warm-up on or off */
    snprintf(c->desc, sizeof c->desc,
             "seed %llu case %llu: %s %s %s N=%d H=%d W=%d B=%d C=%d truths=%lld norm=%d "
             "thresh=%g%s%s",
             (unsigned long long)seed, (unsigned long long)index, darknet ? "darknet" : "spec",
             nhwc ? "nhwc" : "nchw", accumulate ? "accumulate" : "overwrite", (int)N, (int)g->H,
             (int)g->W, (int)g->B, (int)g->C, (long long)k, (int)g->norm, g->thresh,
             darknet && c->batch.seen < g->warmup_seen ? " warmup" : "",
             darknet && g->logistic_classes ? " logistic" : "");
}

void perf_case_free(perf_case *c)
{
    free(c->pred);
    free(c->truths);
    free(c->offsets);
    memset(c, 0, sizeof *c);
}

void perf_fill(float *g, size_t count, uint64_t seed)
{
    rng r = {seed};
    for (size_t x = 0; x < count; x++)
        g[x] = (float)((unif(&r) - 0.5) * 2.0);
}

void perf_where(const rl_config *g, size_t x, char *buf, size_t n)
{
    const int64_t K = 5 + (int64_t)g->C, HW = (int64_t)g->H * g->W;
    int64_t v = (int64_t)x, nn, i, j, b, k;
    if (g->layout == RL_LAYOUT_NCHW) {
        const int64_t q = v % HW;
        v /= HW;
        k = v % K;
        v /= K;
        b = v % g->B;
        nn = v / g->B;
        i = q / g->W;
        j = q % g->W;
    } else {
        k = v % K;
        v /= K;
        b = v % g->B;
        v /= g->B;
        j = v % g->W;
        v /= g->W;
        i = v % g->H;
        nn = v / g->H;
    }
    snprintf(buf, n, "n=%lld i=%lld j=%lld b=%lld k=%lld", (long long)nn, (long long)i,
             (long long)j, (long long)b, (long long)k);
}
