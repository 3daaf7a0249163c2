/* The boundary between the sparse and the dense mask paths (src/driver.c,
 * sparse_phase1).  For thresh > 1/2 a slot is decoded only when its row
 * meets some truth's box; the proof behind that (a centre outside a truth's
 * box gives IoU <= 1/2 with it) is tight exactly where these cases put the
 * predictions:
 *   - truths whose edges lie on cell borders, and at the image's right and
 *     bottom edges (centre 1, or a box reaching past the grid);
 *   - predicted centres exactly on a cell edge (s(tx) saturated to 1, or to
 *     0, in float);
 *   - predicted boxes built to sit on a truth: its size, its centre, and
 *     twice its width centred on its left edge (IoU exactly 1/2), in the
 *     truth's cells and in the cells around them;
 *   - huge and tiny predicted boxes;
 * at thresh 0.5 (dense path), 0.5000001 and 0.6 (sparse), in both modes,
 * both layouts and both gradient modes.  Each case goes through
 * rl_diffcheck (every variant, on both paths, within the stated tolerance)
 * and then a strict check: on the default path every slot's decision must
 * equal the reference's, with no window around thresh, because the kernels
 * decide every doubtful slot in double exactly as the reference does.
 *   REGIONLOSS_CASES=N  scenes to build (default 40; qemu runs fewer) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffcheck.h"
#include "driver.h"
#include "scalar/reference.h"
#include "testcfg.h"
#include "variants.h"

enum { H = 8, W = 8, B = 3, C = 4, NI = 2, MAXT = 5 };
#define K (5 + C)
#define HW (H * W)
#define PER_IMAGE (B * K * HW)

static const float anchors[2 * B] = {0.3f, 0.4f, 1.5f, 1.2f, 6.0f, 5.0f};

static uint64_t state = 0x2545f4914f6cdd1dull;

static double unif(void)
{
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (double)((state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static int pick(int n) { return (int)(unif() * n) % n; }

/* entry k of slot (i, j, b) of image n, NCHW */
static float *at(float *pred, int n, int i, int j, int b, int k)
{
    return pred + (size_t)n * PER_IMAGE + ((size_t)b * K + k) * HW + (size_t)i * W + j;
}

static double logit(double s) { return log(s / (1 - s)); }

/* A truth of one of the shapes the boundary cares about. */
static rl_box make_truth(void)
{
    rl_box t;
    switch (pick(5)) {
    case 0: /* edges on cell borders */
    {
        const int w = 1 + pick(4), h = 1 + pick(4);
        const int x0 = pick(W - w + 1), y0 = pick(H - h + 1);
        t.cx = (float)((x0 + w / 2.0) / W);
        t.cy = (float)((y0 + h / 2.0) / H);
        t.w = (float)((double)w / W);
        t.h = (float)((double)h / H);
        break;
    }
    case 1: /* centre on the right or bottom edge of the image */
        t.cx = pick(2) ? 1.0f : (float)unif();
        t.cy = pick(2) ? 1.0f : (float)unif();
        t.w = (float)(0.05 + 0.4 * unif());
        t.h = (float)(0.05 + 0.4 * unif());
        break;
    case 2: /* reaching the right and bottom edges exactly */
    {
        const int w = 1 + pick(3), h = 1 + pick(3);
        t.cx = (float)((W - w / 2.0) / W);
        t.cy = (float)((H - h / 2.0) / H);
        t.w = (float)((double)w / W);
        t.h = (float)((double)h / H);
        break;
    }
    case 3: /* inside one cell */
        t.cx = (float)((pick(W) + 0.2 + 0.6 * unif()) / W);
        t.cy = (float)((pick(H) + 0.2 + 0.6 * unif()) / H);
        t.w = (float)(0.1 / W);
        t.h = (float)(0.1 / H);
        break;
    default: /* anywhere, any size */
        t.cx = (float)unif();
        t.cy = (float)unif();
        t.w = (float)(0.02 + 0.98 * unif());
        t.h = (float)(0.02 + 0.98 * unif());
        break;
    }
    if (!(t.w > 0))
        t.w = 0.01f;
    if (!(t.h > 0))
        t.h = 0.01f;
    t.cls = pick(C);
    return t;
}

/* Slot (i, j, b) of image n aimed at truth t in one of the boundary ways. */
static void aim(float *pred, int n, int i, int j, int b, const rl_box *t)
{
    const double X = (double)t->cx * W, Y = (double)t->cy * H;
    const double Wg = (double)t->w * W, Hg = (double)t->h * H;
    const double aw = anchors[2 * b], ah = anchors[2 * b + 1];
    float *tx = at(pred, n, i, j, b, 0), *ty = at(pred, n, i, j, b, 1);
    float *tw = at(pred, n, i, j, b, 2), *th = at(pred, n, i, j, b, 3);
    const double jit = 0.02 * (unif() - 0.5);
    switch (pick(6)) {
    case 0: /* the truth's size, centred as near its centre as the cell allows */
        *tx = (float)logit(fmin(fmax(X - j, 1e-4), 1 - 1e-4));
        *ty = (float)logit(fmin(fmax(Y - i, 1e-4), 1 - 1e-4));
        *tw = (float)(log(Wg / aw) + jit);
        *th = (float)(log(Hg / ah) - jit);
        break;
    case 1: /* centre on the cell's right or bottom edge: s saturates to 1 in float */
        *tx = pick(2) ? 40.0f : *tx;
        *ty = pick(2) ? 40.0f : *ty;
        *tw = (float)(log(Wg / aw) + jit);
        *th = (float)(log(Hg / ah) + jit);
        break;
    case 2: /* centre on the cell's left or top edge: s is 0 in float */
        *tx = pick(2) ? -200.0f : *tx;
        *ty = pick(2) ? -200.0f : *ty;
        *tw = (float)(log(Wg / aw) - jit);
        *th = (float)(log(Hg / ah) + jit);
        break;
    case 3: /* twice the truth's width, centred on its left edge: IoU 1/2 */
        *tx = j + 1 <= X - Wg / 2 ? 40.0f : -200.0f;
        *ty = (float)logit(fmin(fmax(Y - i, 1e-4), 1 - 1e-4));
        *tw = (float)log(2 * Wg / aw);
        *th = (float)log(Hg / ah);
        break;
    case 4: /* huge */
        *tw = (float)(10 + 20 * unif());
        *th = (float)(10 + 20 * unif());
        break;
    default: /* tiny */
        *tw = (float)(-10 - 20 * unif());
        *th = (float)(-10 - 20 * unif());
        break;
    }
}

static void to_nhwc(const float *nchw, float *nhwc)
{
    for (int n = 0; n < NI; n++)
        for (int b = 0; b < B; b++)
            for (int k = 0; k < K; k++)
                for (int q = 0; q < HW; q++)
                    nhwc[(size_t)n * PER_IMAGE + ((size_t)q * B + b) * K + k] =
                        nchw[(size_t)n * PER_IMAGE + ((size_t)b * K + k) * HW + q];
}

/* Every variant's decisions on the path it takes by default, against the
 * reference's, slot by slot and exactly. */
static int strict_decisions1(const rl_config *cfg0, const rl_batch *batch, const char *what,
                             int Hh, int Ww, int Bb)
{
    rl_config cfg = *cfg0;
    cfg.variant = "reference";
    rl_plan *ref;
    if (rl_plan_create(&cfg, &ref) != RL_OK)
        return 1;
    const int64_t per = (int64_t)Hh * Ww * Bb, slots = batch->n_images * per;
    int8_t *rk = malloc((size_t)slots);
    double *best = malloc((size_t)slots * sizeof *best), *obj_iou = malloc((size_t)slots * sizeof *obj_iou);
    uint8_t *vk = malloc((size_t)slots);
    float *vb = malloc((size_t)slots * sizeof *vb);
    rl_ref_out out = {NULL, NULL, best, rk, obj_iou};
    rl_result rres;
    int bad = rl_reference_compute(&ref->p, batch, NULL, &rres, &out) != RL_OK;
    for (int v = 0; !bad && rl_all_variants[v]; v++) {
        const rl_variant_desc *d = rl_all_variants[v];
        if (d == &rl_variant_reference || !d->available())
            continue;
        cfg.variant = d->name;
        rl_plan *plan;
        if (rl_plan_create(&cfg, &plan) != RL_OK) {
            bad = 1;
            break;
        }
        rl_driver_probe probe = {vb, vk, 0};
        rl_counts counts;
        rl_result res;
        if (rl_driver_run(plan, &plan->kernels, batch, &res, &counts, NULL, &probe) != RL_OK) {
            printf("%s: variant %s failed: %s\n", what, d->name, rl_last_error());
            bad = 1;
        }
        for (int64_t s = 0; s < slots && !bad; s++) {
            const int n = (int)(s / per), r = (int)(s % per);
            const int i = r / (Ww * Bb), j = r / Bb % Ww, b = r % Bb;
            const int64_t ds = (int64_t)n * per + ((int64_t)b * Hh + i) * Ww + j;
            if (vk[ds] != rk[s]) {
                printf("%s: variant %s: slot (n=%d, i=%d, j=%d, b=%d) decided %d, reference %d "
                       "(reference best IoU %.17g, variant %.9g)\n",
                       what, d->name, n, i, j, b, vk[ds], rk[s], best[s], (double)vb[ds]);
                bad = 1;
            }
        }
        rl_plan_destroy(plan);
    }
    rl_plan_destroy(ref);
    free(rk);
    free(best);
    free(obj_iou);
    free(vk);
    free(vb);
    return bad;
}

static int strict_decisions(const rl_config *cfg, const rl_batch *batch, const char *what)
{
    return strict_decisions1(cfg, batch, what, H, W, B);
}

/* The 1/2 bound is tight from below too: a slot whose centre lies a row
 * above a truth's box, with a box twice as tall reaching the truth's far
 * edge, has IoU 1/2 - (1 + d)/h_p (here 0.466).  So below thresh 1/2 a slot
 * no truth reaches can still be ignored, and the sparse path must not
 * serve thresh 0.46; above 0.4664 the same slot is noobj. */
static int below_half(void)
{
    enum { G = 16, GK = 5 + C };
    static const float anchor[2] = {1.0f, 1.0f};
    static float pred[GK * G * G];
    for (int x = 0; x < GK * G * G; x++)
        pred[x] = x / (G * G) == 4 ? -3.0f : 0.0f; /* objectness low, boxes one cell */
    /* the truth: every column, rows 2 to 16 */
    rl_box t = {0.5f, 9.0f / G, 1.0f, 14.0f / G, 1};
    /* slot (i = 0, j = 8): centre (8, 0.99), 16 wide, 2 (16 - 0.99) tall */
    const int q = 0 * G + 8;
    pred[0 * G * G + q] = -200.0f;
    pred[1 * G * G + q] = (float)logit(0.99);
    pred[2 * G * G + q] = (float)log(16.0);
    pred[3 * G * G + q] = (float)log(2 * (16 - 0.99));
    const int64_t off[2] = {0, 1};
    static const double threshes[] = {0.46, 0.466, 0.467, 0.49, 0.5, 0.5000001};
    int failures = 0;
    for (size_t th = 0; th < sizeof threshes / sizeof threshes[0]; th++)
        for (int darknet = 0; darknet < 2; darknet++) {
            rl_config cfg;
            rl_test_config(&cfg, darknet, G, G, 1, C, anchor);
            cfg.thresh = threshes[th];
            rl_batch batch;
            memset(&batch, 0, sizeof batch);
            batch.n_images = 1;
            batch.pred = pred;
            batch.truths = &t;
            batch.truth_offsets = off;
            char what[128];
            snprintf(what, sizeof what, "below 1/2: IoU 0.4664 a row off the truth, thresh %.9g, %s",
                     threshes[th], darknet ? "darknet" : "spec");
            rl_diffcheck_report r;
            failures += rl_diffcheck(&cfg, &batch, what, stdout, &r) != 0 ||
                        strict_decisions1(&cfg, &batch, what, G, G, 1) != 0;
        }
    return failures;
}

int main(void)
{
    const char *env = getenv("REGIONLOSS_CASES");
    const int scenes = env && atoi(env) > 0 ? atoi(env) : 40;
    static const double threshes[] = {0.5, 0.5000001, 0.6};
    float *pred = malloc((size_t)NI * PER_IMAGE * sizeof *pred);
    float *nhwc = malloc((size_t)NI * PER_IMAGE * sizeof *nhwc);
    int failures = below_half(), cases = 12, checked = 0;
    for (int sc = 0; sc < scenes; sc++) {
        rl_box truths[NI * MAXT];
        int64_t off[NI + 1] = {0};
        for (int n = 0; n < NI; n++) {
            const int nt = 1 + pick(MAXT);
            for (int t = 0; t < nt; t++)
                truths[off[n] + t] = make_truth();
            off[n + 1] = off[n] + nt;
        }
        /* background: centres anywhere, sizes near the anchors */
        for (size_t x = 0; x < (size_t)NI * PER_IMAGE; x++) {
            const int k = (int)(x / HW % K);
            pred[x] = (float)(k < 2 ? 6 * unif() - 3 : k < 4 ? 2 * unif() - 1 : 6 * unif() - 4);
        }
        /* the slots in and around each truth's cells aimed at it */
        for (int n = 0; n < NI; n++)
            for (int64_t t = off[n]; t < off[n + 1]; t++) {
                const rl_box *tr = &truths[t];
                const double x0 = tr->cx * W - tr->w * W / 2, x1 = tr->cx * W + tr->w * W / 2;
                const double y0 = tr->cy * H - tr->h * H / 2, y1 = tr->cy * H + tr->h * H / 2;
                for (int i = (int)floor(y0) - 2; i <= (int)floor(y1) + 2; i++)
                    for (int j = (int)floor(x0) - 2; j <= (int)floor(x1) + 2; j++)
                        for (int b = 0; b < B; b++)
                            if (i >= 0 && i < H && j >= 0 && j < W && unif() < 0.7)
                                aim(pred, n, i, j, b, tr);
            }
        to_nhwc(pred, nhwc);
        for (size_t th = 0; th < sizeof threshes / sizeof threshes[0]; th++)
            for (int darknet = 0; darknet < 2; darknet++)
                for (int layout = 0; layout < 2; layout++) {
                    rl_config cfg;
                    rl_test_config(&cfg, darknet, H, W, B, C, anchors);
                    cfg.thresh = threshes[th];
                    cfg.layout = layout ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW;
                    cfg.grad_mode = (sc + layout) % 2 ? RL_GRAD_ACCUMULATE : RL_GRAD_OVERWRITE;
                    rl_batch batch;
                    memset(&batch, 0, sizeof batch);
                    batch.n_images = NI;
                    batch.pred = layout ? nhwc : pred;
                    batch.truths = truths;
                    batch.truth_offsets = off;
                    char what[160];
                    snprintf(what, sizeof what, "sparse boundary scene %d, thresh %.9g, %s, %s, %s",
                             sc, threshes[th], darknet ? "darknet" : "spec",
                             layout ? "NHWC" : "NCHW",
                             cfg.grad_mode == RL_GRAD_ACCUMULATE ? "accumulate" : "overwrite");
                    rl_diffcheck_report r;
                    const int f = rl_diffcheck(&cfg, &batch, what, stdout, &r) != 0 ||
                                  strict_decisions(&cfg, &batch, what) != 0;
                    failures += f;
                    checked += r.variants_checked;
                    cases++;
                }
    }
    free(pred);
    free(nhwc);
    printf("sparse boundary: %d of %d cases failed, %d variant runs compared\n", failures, cases,
           checked);
    return failures != 0 || checked == 0;
}
