/* The case generator.  Shapes are drawn small most of the time (so that
 * thousands of cases run in seconds) with a tail of large ones; values cover
 * the awkward corners the issue lists: logits from tiny to +-60, truths on
 * cell borders, two truths on one slot, sizes that are not multiples of any
 * vector width, and buffers that are not aligned. */
#include "randcase.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elem.h"
#include "rng.h"

void rl_case_make(rl_case *c, uint64_t seed, uint64_t index)
{
    memset(c, 0, sizeof *c);
    rng r = {seed * 0x100000001b3ull ^ (index + 1) * 0x9e3779b97f4a7c15ull};
    next(&r);
    const int big = unif(&r) < 0.05;
    rl_config *g = &c->cfg;
    const int darknet = unif(&r) < 0.3;
    if (darknet)
        rl_config_init_darknet(g);
    else
        rl_config_init(g);
    g->H = big ? range(&r, 13, 32) : range(&r, 1, 13);
    g->W = unif(&r) < 0.5 ? g->H : (big ? range(&r, 8, 32) : range(&r, 1, 13));
    g->B = range(&r, 1, 9);
    const double cu = unif(&r);
    g->C = cu < 0.02 ? range(&r, 2040, 3000) : cu < 0.12 ? range(&r, 100, 300) : range(&r, 1, 40);
    if (g->C > 2000) { /* kernels switch strategy past 2048 classes; keep it cheap */
        g->H = range(&r, 1, 3);
        g->W = range(&r, 1, 3);
    }
    for (int b = 0; b < g->B; b++) {
        c->anchors[2 * b] = (float)(0.2 + unif(&r) * 8);
        c->anchors[2 * b + 1] = (float)(0.2 + unif(&r) * 8);
    }
    if (g->B > 1 && unif(&r) < 0.1) { /* an exact anchor tie */
        c->anchors[2] = c->anchors[0];
        c->anchors[3] = c->anchors[1];
    }
    g->anchors = c->anchors;
    g->layout = unif(&r) < 0.5 ? RL_LAYOUT_NCHW : RL_LAYOUT_NHWC;
    g->grad_mode = unif(&r) < 0.3 ? RL_GRAD_ACCUMULATE : RL_GRAD_OVERWRITE;
    if (darknet) {
        g->norm = unif(&r) < 0.5 ? RL_NORM_SUM : RL_NORM_IMAGES;
        g->rescore = unif(&r) < 0.7;
        g->logistic_classes = unif(&r) < 0.2;
    } else {
        const double u = unif(&r);
        g->norm = u < 0.6 ? RL_NORM_COUNTS : u < 0.8 ? RL_NORM_SUM : RL_NORM_IMAGES;
    }
    if (unif(&r) < 0.3) {
        g->lambda_coord = unif(&r) * 3;
        g->lambda_class = unif(&r) * 3;
        g->lambda_obj = unif(&r) * 6;
        g->lambda_noobj = unif(&r) * 2;
    }
    const double tu = unif(&r);
    /* 0.6 (the article's and darknet's), both sides of the sparse mask
     * path's bound (thresh > 1/2, src/driver.c), the ends, and anything */
    g->thresh = tu < 0.5    ? 0.6
                : tu < 0.55 ? 0.5
                : tu < 0.6  ? 0.5000001
                : tu < 0.7  ? 0.0
                : tu < 0.8  ? 1.0
                            : unif(&r);

    const int32_t N = big ? range(&r, 1, 2) : range(&r, 1, 4);
    const int32_t K = 5 + g->C;
    const size_t count = (size_t)N * g->H * g->W * g->B * K;
    const int unaligned = unif(&r) < 0.5;
    c->pred_storage = malloc((count + 1) * sizeof(float));
    float *pred = c->pred_storage + unaligned;
    const int wide = unif(&r) < 0.5;
    for (size_t x = 0; x < count; x++)
        pred[x] = logit(&r, wide);
    c->pred_count = count;

    c->offsets = malloc((size_t)(N + 1) * sizeof(int64_t));
    const int max_truths = big ? 80 : (unif(&r) < 0.2 ? 80 : 12);
    c->truths = malloc((size_t)N * (size_t)max_truths * sizeof(rl_box) + sizeof(rl_box));
    int64_t k = 0;
    c->offsets[0] = 0;
    for (int32_t n = 0; n < N; n++) {
        const int32_t nt = unif(&r) < 0.15 ? 0 : range(&r, 1, max_truths);
        for (int32_t t = 0; t < nt; t++) {
            rl_box *bx = &c->truths[k];
            const double u = unif(&r);
            if (u < 0.1 && t > 0) { /* the same slot as the previous truth */
                *bx = c->truths[k - 1];
                bx->cls = range(&r, 0, g->C - 1);
            } else {
                bx->cx = (float)unif(&r);
                bx->cy = (float)unif(&r);
                if (u < 0.25) /* on a cell border, or the image's edge */
                    bx->cx = (float)range(&r, 0, g->W) / (float)g->W;
                if (u > 0.15 && u < 0.3)
                    bx->cy = (float)range(&r, 0, g->H) / (float)g->H;
                bx->w = (float)(0.01 + 0.99 * unif(&r) * unif(&r));
                bx->h = (float)(0.01 + 0.99 * unif(&r) * unif(&r));
                if (u > 0.95)
                    bx->w = 1.0f;
                bx->cls = range(&r, 0, g->C - 1);
            }
            k++;
        }
        c->offsets[n + 1] = k;
    }
    /* Some responsible predictions near their truth, so IoUs cover (0, 1). */
    if (unif(&r) < 0.7) {
        for (int32_t n = 0; n < N; n++)
            for (int64_t t = c->offsets[n]; t < c->offsets[n + 1]; t++) {
                if (unif(&r) < 0.3)
                    continue;
                const rl_box *bx = &c->truths[t];
                /* nudge channel 2/3 of every anchor at the truth's cell */
                int32_t j = (int32_t)fmin(floor((double)bx->cx * g->W), g->W - 1);
                int32_t i = (int32_t)fmin(floor((double)bx->cy * g->H), g->H - 1);
                for (int32_t b = 0; b < g->B; b++) {
                    float tw = (float)log((double)bx->w * g->W / c->anchors[2 * b]);
                    float th = (float)log((double)bx->h * g->H / c->anchors[2 * b + 1]);
                    int64_t base = g->layout == RL_LAYOUT_NCHW
                                       ? (((int64_t)n * g->B + b) * K) * g->H * g->W +
                                             (int64_t)i * g->W + j
                                       : ((((int64_t)n * g->H + i) * g->W + j) * g->B + b) * K;
                    int64_t cs = g->layout == RL_LAYOUT_NCHW ? (int64_t)g->H * g->W : 1;
                    pred[base + 2 * cs] = tw + (float)((unif(&r) - 0.5) * 0.4);
                    pred[base + 3 * cs] = th + (float)((unif(&r) - 0.5) * 0.4);
                }
            }
    }
    c->batch.n_images = N;
    c->batch.pred = pred;
    c->batch.truths = k ? c->truths : NULL;
    c->batch.truth_offsets = c->offsets;
    c->batch.seen = unif(&r) < 0.5 ? 1000 : 20000;
    /* A third of the cases in half precision (drawn last, so the float
     * cases keep the values they had): the same predictions rounded to
     * nearest even, the gradient in that type or in float.  binary16 turns
     * the +-60 of tw, th into widths of e^60 that overflow its gradient (and
     * logits past 65504 into infinities, which must be rejected). */
    const double du = unif(&r);
    if (du < 1.0 / 3) {
        const int type = du < 1.0 / 6 ? RL_DTYPE_BF16 : RL_DTYPE_F16;
        g->pred_dtype = (int16_t)type;
        g->grad_dtype = (int16_t)(unif(&r) < 0.5 ? type : RL_DTYPE_F32);
        c->half_storage = malloc((count + 1) * sizeof(uint16_t));
        uint16_t *h = c->half_storage + unaligned;
        for (size_t x = 0; x < count; x++)
            h[x] = type == RL_DTYPE_BF16 ? rl_f32_to_bf16(pred[x]) : rl_f32_to_f16(pred[x]);
        c->batch.pred = h;
    }
    /* Two in five darknet cases in AlexeyAB's [region] flavour (drawn after
     * everything else, so the other cases keep their values): any classfix,
     * focal loss on softmax classes, and a tenth of the truths given a class
     * >= C, which the flavour skips. */
    if (darknet && unif(&r) < 0.4) {
        g->flavour = RL_FLAVOUR_ALEXEYAB;
        g->classfix = range(&r, -1, 2);
        g->focal_loss = !g->logistic_classes && unif(&r) < 0.4;
        for (int64_t t = 0; t < k; t++)
            if (unif(&r) < 0.1)
                c->truths[t].cls = g->C + range(&r, 0, 3);
    }
    snprintf(c->desc, sizeof c->desc,
             "%s%s %s%s N=%d H=%d W=%d B=%d C=%d truths=%lld norm=%d %s thresh=%g%s%s",
             darknet ? "darknet" : "spec",
             g->flavour ? (g->classfix == -1  ? " alexeyab classfix -1"
                           : g->classfix == 0 ? (g->focal_loss ? " alexeyab focal" : " alexeyab")
                           : g->classfix == 1 ? (g->focal_loss ? " alexeyab classfix 1 focal"
                                                                : " alexeyab classfix 1")
                                               : (g->focal_loss ? " alexeyab classfix 2 focal"
                                                                : " alexeyab classfix 2"))
                        : "",
             g->layout ? "nhwc" : "nchw",
             g->pred_dtype == RL_DTYPE_F32   ? ""
             : g->pred_dtype == RL_DTYPE_BF16 ? (g->grad_dtype ? " bf16" : " bf16>f32")
                                              : (g->grad_dtype ? " f16" : " f16>f32"),
             (int)N, (int)g->H,
             (int)g->W, (int)g->B, (int)g->C, (long long)k, (int)g->norm,
             g->grad_mode ? "accumulate" : "overwrite", g->thresh,
             darknet && c->batch.seen < g->warmup_seen ? " warmup" : "",
             unaligned ? " unaligned" : "");
}

void rl_case_free(rl_case *c)
{
    free(c->pred_storage);
    free(c->half_storage);
    free(c->truths);
    free(c->offsets);
    memset(c, 0, sizeof *c);
}
