#include "breakdown.h"

#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "internal.h"
#include "stats.h"

/* The call, its phase 1 on either mask path, and each kernel of the table
 * alone (src/kernels.h). */
enum { P_OVER, P_ACC, P_CNT, P_CNT_DENSE, P_MEMSET, P_ZERO, P_MASK, P_MASK0, P_STREAM, P_GRAD,
       P_GRAD_ACC, P_SOFT, P_SOFT_ACC, P_SOFT_X4, P_COUNT };


typedef struct bd {
    const breakdown_input *b;
    const rl_kernels *k;
    rl_plan *over, *acc;
    rl_batch batch;
    uint8_t *kind;   /* working copy: the mask kernel fills the non-responsible cells */
    float *edges;    /* 5 floats per truth, image by image, as the driver lays them out */
    float *cslope;   /* per slot, as phase 1 leaves it for the grad kernel */
    int64_t HW, K;
} bd;

static rl_plan *plan_for(const bench_row *row, int accumulate, const char *variant)
{
    rl_config cfg;
    bench_row_config(row, accumulate, &cfg);
    cfg.variant = variant;
    rl_plan *p = NULL;
    return rl_plan_create(&cfg, &p) == RL_OK ? p : NULL;
}

static rl_run run_of(const bd *d, int64_t n, int32_t b)
{
    const bench_row *row = d->b->row;
    const int64_t off = (n * row->B + b) * d->K * d->HW;
    rl_run r = {d->b->in->pred + off, d->b->grad + off, RL_DTYPE_F32, RL_DTYPE_F32, 1, d->HW,
                (int32_t)d->HW, row->W, 0, row->anchors[2 * b], row->anchors[2 * b + 1],
                row->anchors[2 * b], row->anchors[2 * b + 1]};
    return r;
}

static rl_truth_soa soa_of(const bd *d, int64_t n, int with_truths)
{
    const bench_row *row = d->b->row;
    const int64_t lo = d->b->in->offsets[n], nt = d->b->in->offsets[n + 1] - lo;
    const float *e = d->edges + 5 * lo;
    rl_truth_soa s = {e, e + nt, e + 2 * nt, e + 3 * nt, e + 4 * nt, with_truths ? (int32_t)nt : 0,
                      d->b->in->truths + lo, row->H, row->W};
    return s;
}

static void masks(const bd *d, int with_truths)
{
    const bench_row *row = d->b->row;
    for (int64_t n = 0; n < row->N; n++) {
        rl_truth_soa soa = soa_of(d, n, with_truths);
        rl_mask_sums sums;
        memset(&sums, 0, sizeof sums);
        for (int32_t b = 0; b < row->B; b++) {
            const double th = bench_row_thresh(row);
            rl_mask_args a = {run_of(d, n, b), &soa, d->kind + (n * row->B + b) * d->HW, (float)th,
                              th, 0, 0, NULL, d->cslope + (n * row->B + b) * d->HW,
                              0.0f, 0.0f, 0.0f, 0};
            rl_mask_doubt(&a, row->H, row->W);
            d->k->mask(&a, &sums);
        }
    }
}

static void streams(const bd *d)
{
    const bench_row *row = d->b->row;
    for (int64_t n = 0; n < row->N; n++) {
        rl_mask_sums sums;
        memset(&sums, 0, sizeof sums);
        for (int32_t b = 0; b < row->B; b++) {
            rl_stream_args a = {run_of(d, n, b), d->kind + (n * row->B + b) * d->HW, 0,
                                d->cslope + (n * row->B + b) * d->HW, 0};
            d->k->stream(&a, &sums);
        }
    }
}

/* Overwrite mode's zeroing of the class channels, one block per anchor. */
static void zero_classes(const bd *d)
{
    const bench_row *row = d->b->row;
    for (int64_t n = 0; n < row->N; n++)
        for (int32_t b = 0; b < row->B; b++)
            memset(d->b->grad + ((n * row->B + b) * d->K + 5) * d->HW, 0,
                   (size_t)(row->C * d->HW) * sizeof(float));
}

static void grads(const bd *d, int accumulate)
{
    const bench_row *row = d->b->row;
    for (int64_t n = 0; n < row->N; n++)
        for (int32_t b = 0; b < row->B; b++) {
            rl_grad_args a = {run_of(d, n, b), d->kind + (n * row->B + b) * d->HW, 1e-4f, 0.0f,
                              accumulate, d->cslope + (n * row->B + b) * d->HW};
            d->k->grad(&a);
        }
}

/* times > 1: each slot several times in a row, the later calls with its
 * lines in cache, which separates the kernel's arithmetic from its misses. */
static void softmaxes(const bd *d, int accumulate, int times)
{
    const bench_row *row = d->b->row;
    for (int64_t o = 0; o < d->b->obj_off[row->N]; o++) {
        const int64_t base = d->b->obj_base[o] + 5 * d->HW;
        rl_softmax_out out;
        for (int t = 0; t < times; t++)
            d->k->softmax(d->b->in->pred + base, d->HW, row->C, (int32_t)(o % row->C), 1e-2,
                          d->b->grad + base, accumulate, &out);
    }
}

static double piece(bd *d, int p)
{
    const bench_row *row = d->b->row;
    const int64_t per_image = row->B * d->K * d->HW;
    rl_result r;
    const int acc_state = p == P_ACC || p == P_GRAD_ACC || p == P_SOFT_ACC || p == P_SOFT_X4 ||
                          p == P_CNT || p == P_CNT_DENSE || p == P_STREAM;
    if (acc_state)
        roofline_accumulate(d->b->rf, NULL);
    else
        roofline_overwrite(d->b->rf, NULL);
    const double t0 = bench_now_ns();
    switch (p) {
    case P_OVER:
        rl_compute(d->over, &d->batch, &r, d->b->grad);
        break;
    case P_ACC:
        rl_compute(d->acc, &d->batch, &r, d->b->grad);
        break;
    case P_CNT: {
        rl_counts c;
        rl_count(d->over, &d->batch, &c);
        break;
    }
    case P_CNT_DENSE: {
        rl_counts c;
        const rl_driver_probe dense = {NULL, NULL, 1};
        rl_driver_run(d->over, &d->over->kernels, &d->batch, &r, &c, NULL, &dense);
        break;
    }
    case P_ZERO:
        zero_classes(d);
        break;
    case P_STREAM:
        streams(d);
        break;
    case P_MEMSET:
        for (int64_t n = 0; n < row->N; n++)
            memset(d->b->grad + n * per_image, 0, (size_t)per_image * sizeof(float));
        break;
    case P_MASK:
        masks(d, 1);
        break;
    case P_MASK0:
        masks(d, 0);
        break;
    case P_GRAD:
    case P_GRAD_ACC:
        grads(d, p == P_GRAD_ACC);
        break;
    case P_SOFT:
    case P_SOFT_ACC:
        softmaxes(d, p == P_SOFT_ACC, 1);
        break;
    case P_SOFT_X4:
        softmaxes(d, 1, 4);
        break;
    }
    return bench_now_ns() - t0;
}

int bench_breakdown(const breakdown_input *b, const char *variant, int reps, FILE *out)
{
    const bench_row *row = b->row;
    bd d;
    memset(&d, 0, sizeof d);
    d.b = b;
    d.HW = (int64_t)row->H * row->W;
    d.K = 5 + (int64_t)row->C;
    d.over = plan_for(row, 0, variant);
    d.acc = plan_for(row, 1, variant);
    const int64_t slots = (int64_t)row->N * row->B * d.HW;
    d.kind = malloc((size_t)slots);
    d.edges = malloc((size_t)(5 * b->in->n_truths + 1) * sizeof(float));
    d.cslope = calloc((size_t)slots, sizeof(float));
    size_t ws = 0;
    if (d.over)
        rl_workspace_size(d.over, row->N, b->in->n_truths, &ws);
    void *space = malloc(ws ? ws : 1);
    int rc = -1;
    if (!d.over || !d.acc || !d.kind || !d.edges || !d.cslope || !space || !d.over->variant ||
        !d.over->kernels.mask) {
        fprintf(stderr, "breakdown: %s: not a driver variant, or out of memory\n", variant);
        goto done;
    }
    d.k = &d.over->kernels;
    memcpy(d.kind, b->objkind, (size_t)slots);
    d.batch = (rl_batch){row->N, b->in->pred, b->in->truths, b->in->offsets, 0, NULL, space, ws};
    /* Truth edges exactly as the driver prepares them. */
    for (int64_t n = 0; n < row->N; n++) {
        const int64_t lo = b->in->offsets[n], nt = b->in->offsets[n + 1] - lo;
        float *e = d.edges + 5 * lo;
        for (int64_t t = 0; t < nt; t++) {
            const rl_box *bx = &b->in->truths[lo + t];
            const double X = (double)bx->cx * row->W, Y = (double)bx->cy * row->H;
            const double Wg = (double)bx->w * row->W, Hg = (double)bx->h * row->H;
            e[t] = (float)(X - Wg / 2);
            e[nt + t] = (float)(X + Wg / 2);
            e[2 * nt + t] = (float)(Y - Hg / 2);
            e[3 * nt + t] = (float)(Y + Hg / 2);
            e[4 * nt + t] = (float)(Wg * Hg);
        }
    }
    double *s = calloc((size_t)P_COUNT * (size_t)reps, sizeof(double));
    if (!s)
        goto done;
    for (int p = 0; p < P_COUNT; p++) /* warm-up; the masks leave kinds for grad */
        piece(&d, p == P_MASK0 ? P_MASK : p);
    for (int r = 0; r < reps; r++)
        for (int p = 0; p < P_COUNT; p++) {
            s[p * reps + r] = piece(&d, p);
            if (p == P_MASK0) /* grad must see the kinds of the real masks */
                piece(&d, P_MASK);
        }
    double m[P_COUNT];
    for (int p = 0; p < P_COUNT; p++)
        m[p] = bench_median(s + p * reps, reps) / row->N;
    free(s);

    const double over = m[P_OVER], acc = m[P_ACC];
    /* rl_count is the assignment, phase 1 and the class-logit checks: on the
     * sparse path its masks are what remains after the stream kernel and
     * the rest of the dense path's phase 1 (the dense count minus its mask
     * kernel). */
    const int sparse = bench_row_thresh(row) > 0.5;
    const double p1_rest = m[P_CNT_DENSE] - m[P_MASK];
    const double sparse_masks = m[P_CNT] - m[P_STREAM] - p1_rest;
    const double rest_o = over - m[P_CNT] - m[P_GRAD] - m[P_ZERO] - m[P_SOFT];
    const double rest_a = acc - m[P_CNT] - m[P_GRAD_ACC] - m[P_SOFT_ACC];
#define LINE(name, v_o, v_a)                                                               \
    fprintf(out, "  %-50s %10.0f %5.1f%%  %10.0f %5.1f%%\n", name, v_o, 100 * (v_o) / over, v_a, \
            100 * (v_a) / acc)
    fprintf(out, "\nbreakdown: %s on %s (%s), thresh %g (%s masks), ns/image, 1 thread, medians of %d\n",
            variant, row->name, row->what, bench_row_thresh(row), sparse ? "sparse" : "dense",
            reps);
    fprintf(out, "  %-50s %17s  %17s\n", "", "overwrite", "accumulate");
    LINE("rl_compute", over, acc);
    LINE("phase 1: rl_count (assignment, masks, sums, checks)", m[P_CNT], m[P_CNT]);
    if (sparse) {
        LINE("  sparse mask step (derived)", sparse_masks, sparse_masks);
        LINE("  stream kernel (every slot: checks, s(tc), sums)", m[P_STREAM], m[P_STREAM]);
    } else {
        LINE("  mask kernel (every slot: decode, best IoU, sums)", m[P_MASK], m[P_MASK]);
    }
    LINE("  assignment and class-logit checks (derived)", p1_rest, p1_rest);
    LINE("the dense path's phase 1 instead (dense rl_count)", m[P_CNT_DENSE], m[P_CNT_DENSE]);
    LINE("  its mask kernel", m[P_MASK], m[P_MASK]);
    LINE("    of which the loop over truths", m[P_MASK] - m[P_MASK0], m[P_MASK] - m[P_MASK0]);
    LINE("grad kernel (channels 0-4 / noobj objectness)", m[P_GRAD], m[P_GRAD_ACC]);
    LINE("zeroing the class channels", m[P_ZERO], 0.0);
    LINE("softmax kernel (responsible slots)", m[P_SOFT], m[P_SOFT_ACC]);
    const double hot = (m[P_SOFT_X4] - m[P_SOFT_ACC]) / 3;
    LINE("  the same with its lines in cache", hot, hot);
    LINE("rest of the driver (call minus phase 1, grad, zero, softmax)", rest_o, rest_a);
    LINE("for comparison: memset of the whole gradient", m[P_MEMSET], 0.0);
#undef LINE
    rc = 0;
done:
    rl_plan_destroy(d.over);
    rl_plan_destroy(d.acc);
    free(d.kind);
    free(d.edges);
    free(d.cslope);
    free(space);
    return rc;
}

/* ---- [yolo] rows -------------------------------------------------------- */

enum { Y_OVER, Y_ACC, Y_NOGRAD, Y_MEMSET, Y_HEAD0 };
#define Y_HEAD_PIECES 3 /* per head: overwrite, accumulate, no gradient */

typedef struct ybd {
    const breakdown_input *b;
    rl_yolo_plan *over, *acc, *head_over[RL_YOLO_MAX_HEADS], *head_acc[RL_YOLO_MAX_HEADS];
    const void *preds[RL_YOLO_MAX_HEADS];
    void *grads[RL_YOLO_MAX_HEADS];
    rl_yolo_batch batch, head_batch[RL_YOLO_MAX_HEADS];
    int n_heads;
} ybd;

/* Every head (head < 0) or head `head` alone. */
static rl_yolo_plan *yplan_for(const bench_row *row, int accumulate, const char *variant, int head)
{
    rl_yolo_config cfg;
    rl_yolo_head heads[RL_YOLO_MAX_HEADS];
    bench_yolo_config(row, accumulate, &cfg, heads);
    cfg.variant = variant;
    if (head >= 0) {
        cfg.n_heads = 1;
        cfg.heads = &heads[head];
    }
    rl_yolo_plan *p = NULL;
    return rl_yolo_plan_create(&cfg, &p) == RL_OK ? p : NULL;
}

static double ypiece(ybd *d, int p)
{
    const bench_row *row = d->b->row;
    const int h = p >= Y_HEAD0 ? (p - Y_HEAD0) / Y_HEAD_PIECES : -1;
    const int hk = p >= Y_HEAD0 ? (p - Y_HEAD0) % Y_HEAD_PIECES : -1;
    const int acc_state = p == Y_ACC || p == Y_NOGRAD || hk == 1 || hk == 2;
    if (acc_state)
        roofline_accumulate_many(d->b->rf, d->n_heads, NULL);
    else
        roofline_overwrite_many(d->b->rf, d->n_heads, NULL);
    rl_result r;
    const double t0 = bench_now_ns();
    switch (p) {
    case Y_OVER:
        rl_yolo_compute(d->over, &d->batch, &r, NULL, d->grads);
        break;
    case Y_ACC:
        rl_yolo_compute(d->acc, &d->batch, &r, NULL, d->grads);
        break;
    case Y_NOGRAD:
        rl_yolo_compute(d->acc, &d->batch, &r, NULL, NULL);
        break;
    case Y_MEMSET:
        for (int k = 0; k < d->n_heads; k++) {
            const size_t per = (d->b->in->head_off[k + 1] - d->b->in->head_off[k]) / row->N;
            for (int64_t n = 0; n < row->N; n++) /* image by image, as overwrite does */
                memset((float *)d->grads[k] + n * per, 0, per * sizeof(float));
        }
        break;
    default:
        rl_yolo_compute(hk == 0 ? d->head_over[h] : d->head_acc[h], &d->head_batch[h], &r, NULL,
                        hk == 2 ? NULL : &d->grads[h]);
        break;
    }
    return bench_now_ns() - t0;
}

int bench_yolo_breakdown(const breakdown_input *b, const char *variant, int reps, FILE *out)
{
    const bench_row *row = b->row;
    ybd d;
    memset(&d, 0, sizeof d);
    d.b = b;
    d.n_heads = b->in->n_heads;
    const int n_pieces = Y_HEAD0 + Y_HEAD_PIECES * d.n_heads;
    d.over = yplan_for(row, 0, variant, -1);
    d.acc = yplan_for(row, 1, variant, -1);
    int ok = d.over && d.acc;
    for (int h = 0; h < d.n_heads; h++) {
        d.head_over[h] = yplan_for(row, 0, variant, h);
        d.head_acc[h] = yplan_for(row, 1, variant, h);
        ok = ok && d.head_over[h] && d.head_acc[h];
        d.preds[h] = b->in->pred + b->in->head_off[h];
        d.grads[h] = b->grad + b->in->head_off[h];
    }
    size_t ws = 0;
    if (ok)
        rl_yolo_workspace_size(d.over, row->N, b->in->n_truths, &ws);
    void *space = malloc(ws ? ws : 1);
    double *s = calloc((size_t)n_pieces * (size_t)reps, sizeof(double));
    int rc = -1;
    if (!ok || !space || !s) {
        fprintf(stderr, "breakdown: %s: no such variant, or out of memory\n", variant);
        goto done;
    }
    d.batch = (rl_yolo_batch){row->N, d.preds, b->in->truths, b->in->offsets, NULL, space, ws};
    for (int h = 0; h < d.n_heads; h++) /* a one-head plan's workspace fits in the network's */
        d.head_batch[h] =
            (rl_yolo_batch){row->N, &d.preds[h], b->in->truths, b->in->offsets, NULL, space, ws};
    for (int p = 0; p < n_pieces; p++) /* warm-up */
        ypiece(&d, p);
    for (int r = 0; r < reps; r++)
        for (int p = 0; p < n_pieces; p++)
            s[p * reps + r] = ypiece(&d, p);
    double m[Y_HEAD0 + Y_HEAD_PIECES * RL_YOLO_MAX_HEADS];
    for (int p = 0; p < n_pieces; p++)
        m[p] = bench_median(s + p * reps, reps) / row->N;

    const double over = m[Y_OVER], acc = m[Y_ACC];
#define YLINE(name, v_o, v_a)                                                              \
    fprintf(out, "  %-50s %10.0f %5.1f%%  %10.0f %5.1f%%\n", name, v_o, 100 * (v_o) / over, v_a, \
            100 * (v_a) / acc)
    fprintf(out, "\nbreakdown: %s on %s (%s), ignore_thresh %g, ns/image, 1 thread, medians of %d\n",
            variant, row->name, row->what, bench_row_thresh(row), reps);
    fprintf(out, "  %-50s %17s  %17s\n", "", "overwrite", "accumulate");
    YLINE("rl_yolo_compute, every head", over, acc);
    YLINE("  without a gradient (grads NULL): loss and masks", m[Y_NOGRAD], m[Y_NOGRAD]);
    YLINE("  the gradient (call minus the above)", over - m[Y_NOGRAD], acc - m[Y_NOGRAD]);
    double sum_o = 0, sum_a = 0;
    for (int h = 0; h < d.n_heads; h++) {
        char name[80];
        const double ho = m[Y_HEAD0 + Y_HEAD_PIECES * h], ha = m[Y_HEAD0 + Y_HEAD_PIECES * h + 1];
        const double hn = m[Y_HEAD0 + Y_HEAD_PIECES * h + 2];
        sum_o += ho;
        sum_a += ha;
        snprintf(name, sizeof name, "head %d (%dx%d) alone, a one-head plan", h,
                 (int)row->yolo->grid[h], (int)row->yolo->grid[h]);
        YLINE(name, ho, ha);
        snprintf(name, sizeof name, "  of which without a gradient");
        YLINE(name, hn, hn);
    }
    YLINE("the heads one by one, summed (darknet's way)", sum_o, sum_a);
    YLINE("for comparison: memset of the whole gradient", m[Y_MEMSET], 0.0);
#undef YLINE
    rc = 0;
done:
    rl_yolo_plan_destroy(d.over);
    rl_yolo_plan_destroy(d.acc);
    for (int h = 0; h < d.n_heads; h++) {
        rl_yolo_plan_destroy(d.head_over[h]);
        rl_yolo_plan_destroy(d.head_acc[h]);
    }
    free(space);
    free(s);
    return rc;
}
