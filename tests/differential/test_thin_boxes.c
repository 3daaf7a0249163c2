/* Thin boxes far from the origin: where a float IoU is least accurate.
 * An edge near x = 50 carries a rounding error of about 4e-6 grid cells,
 * and through a 0.005-cell-high overlap that becomes an IoU error near
 * 1e-3 (src/kernels.h, RL_DOUBT).  The seeded differential cases rarely
 * make such boxes, and never put thresh right next to one's IoU; here every
 * case does.  For each case the test computes every slot's best IoU in
 * double straight from docs/loss.md, picks slots whose IoU is
 * most sensitive to the rounding of a y edge (thin, wide boxes), and sets
 * thresh next to it (2e-5 and 1e-4 away, outside the differential
 * tolerance's window of either decision, and at fractions and multiples of
 * it down to 1e-200 times), then runs rl_diffcheck: every variant must take
 * the reference's decision at every slot. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffcheck.h"
#include "testcfg.h"

enum { H = 52, W = 52, B = 2, C = 3, NT = 6 };
#define K (5 + C)

static uint64_t state = 0x853c49e6748fea9bull;

static double unif(void)
{
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (double)((state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static double sig(double z) { return 1.0 / (1.0 + exp(-z)); }

static double overlap(double a0, double a1, double b0, double b1)
{
    const double o = fmin(a1, b1) - fmax(a0, b0);
    return o > 0 ? o : 0;
}

/* docs/loss.md, "Background slots": best IoU of slot (i, j, b) with the
 * image's truths, and how much that IoU moves per unit of its y overlap
 * (ox / union). */
static double best_iou(const float *pred, const float *anchors, const rl_box *t, int i, int j, int b,
                       double *dy)
{
    const float *e = pred + (size_t)b * K * H * W + (size_t)i * W + j; /* NCHW, one image */
    const double px = j + sig(e[0]), py = i + sig(e[H * W]);
    const double pw = anchors[2 * b] * exp((double)e[2 * H * W]);
    const double ph = anchors[2 * b + 1] * exp((double)e[3 * H * W]);
    double best = 0;
    for (int k = 0; k < NT; k++) {
        const double X = (double)t[k].cx * W, Y = (double)t[k].cy * H;
        const double Wg = (double)t[k].w * W, Hg = (double)t[k].h * H;
        const double ox = overlap(px - pw / 2, px + pw / 2, X - Wg / 2, X + Wg / 2);
        const double in = ox * overlap(py - ph / 2, py + ph / 2, Y - Hg / 2, Y + Hg / 2);
        const double u = pw * ph + Wg * Hg - in, iou = in / u;
        if (iou > best) {
            best = iou;
            *dy = ox / u;
        }
    }
    return best;
}

int main(void)
{
    static const float anchors[2 * B] = {0.6f, 0.02f, 3.0f, 0.01f};
    /* thresh = best * scale + shift */
    static const double scales[][2] = {{1, 2e-5}, {1, -2e-5}, {1, 1e-4}, {1, -1e-4},
                                       {0.5, 0}, {0.1, 0}, {2, 0}, {1e-200, 0}};
    float *pred = malloc((size_t)H * W * B * K * sizeof *pred);
    int failures = 0, cases = 0, checked = 0;
    /* REGIONLOSS_CASES: images to build (default 12, each giving up to 64
     * cases); qemu runs fewer */
    const char *env = getenv("REGIONLOSS_CASES");
    const int reps = env && atoi(env) > 0 ? atoi(env) : 12;
    for (int rep = 0; rep < reps; rep++) {
        rl_box truths[NT];
        for (int k = 0; k < NT; k++) {
            /* far from the origin, wide and thin (0.0001 to 0.002 of the image) */
            truths[k].cx = (float)(0.6 + 0.39 * unif());
            truths[k].cy = (float)(0.6 + 0.39 * unif());
            truths[k].w = (float)(0.02 + 0.1 * unif());
            truths[k].h = (float)(1e-4 + 2e-3 * unif());
            truths[k].cls = k % C;
        }
        /* predictions: centres anywhere in the cell, thin boxes as the anchors */
        for (int b = 0; b < B; b++)
            for (int k = 0; k < K; k++)
                for (int q = 0; q < H * W; q++)
                    pred[((size_t)b * K + k) * H * W + q] =
                        (float)(k < 2 ? 6 * unif() - 3 : k < 4 ? 2 * unif() - 1 : 4 * unif() - 2);
        /* anchor 0 of the cells in each truth's row fits that truth's
         * height and centre row, as a trained network's would: IoUs from
         * 0.2 to 0.9 that a y edge's rounding moves by 50 to 100 times */
        for (int k = 0; k < NT; k++) {
            const double Y = (double)truths[k].cy * H, Hg = (double)truths[k].h * H;
            const int i = (int)Y < H ? (int)Y : H - 1;
            for (int j = 0; j < W; j++) {
                double f = Y - i + (unif() - 0.5) * Hg;
                f = f < 1e-3 ? 1e-3 : f > 1 - 1e-3 ? 1 - 1e-3 : f;
                pred[1 * H * W + i * W + j] = (float)log(f / (1 - f));
                pred[2 * H * W + i * W + j] =
                    (float)log((double)truths[k].w * W * (0.7 + 0.6 * unif()) / anchors[0]);
                pred[3 * H * W + i * W + j] = (float)log(Hg * (0.5 + unif()) / anchors[1]);
            }
        }
        const int64_t toff[2] = {0, NT};
        rl_batch batch;
        memset(&batch, 0, sizeof batch);
        batch.n_images = 1;
        batch.pred = pred;
        batch.truths = truths;
        batch.truth_offsets = toff;
        /* the slots whose best IoU lies in (0, 0.05]: thresh goes next to it */
        int picked = 0;
        for (int b = 0; b < B && picked < 4; b++)
            for (int q = 0; q < H * W && picked < 4; q++) {
                double dy = 0;
                const double best = best_iou(pred, anchors, truths, q / W, q % W, b, &dy);
                /* an edge's float rounding (about 2e-6 here) moves this IoU by dy times it */
                if (!(best > 0 && dy > 20))
                    continue;
                picked++;
                for (size_t o = 0; o < sizeof scales / sizeof scales[0]; o++) {
                    const double thresh = best * scales[o][0] + scales[o][1];
                    if (thresh < 0)
                        continue;
                    for (int darknet = 0; darknet < 2; darknet++) {
                        rl_config cfg;
                        rl_test_config(&cfg, darknet, H, W, B, C, anchors);
                        cfg.thresh = thresh;
                        char what[128];
                        snprintf(what, sizeof what,
                                 "thin boxes rep %d, slot (i=%d, j=%d, b=%d) best %.9g, thresh %.9g (%s)",
                                 rep, q / W, q % W, b, best, thresh, darknet ? "darknet" : "spec");
                        rl_diffcheck_report r;
                        failures += rl_diffcheck(&cfg, &batch, what, stdout, &r) != 0;
                        checked += r.variants_checked;
                        cases++;
                    }
                }
            }
    }
    free(pred);
    printf("thin boxes: %d of %d cases failed, %d variant runs compared\n", failures, cases, checked);
    return failures != 0 || cases < 4 * reps || checked == 0;
}
