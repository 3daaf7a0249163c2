/* regionloss_darknet_bench: what the darknet adapter's delta store costs
 * (issue 23 item 5: "writing -gradient or adding into net.delta costs no
 * more than today's overwrite or accumulate").  Per row, float32, one
 * thread, one darknet layer (a [yolo] row: its largest head, as darknet
 * calls a [yolo] layer per head):
 *
 *   A   plain API, overwrite (darknet mode / one [yolo] head, norm sum)
 *   A'  A with the rl_truths_from_darknet conversion of net.truth first
 *   B   rl_darknet_forward, overwrite, delta_scale -1 (converts net.truth
 *       itself on every call: part of what a darknet user pays)
 *   C   the old way of docs/darknet.md: A' into a scratch gradient, then
 *       delta[e] = -grad[e] over the whole buffer
 *   D   plain API, accumulate into a buffer
 *   D'  D with the conversion first
 *   E   rl_darknet_forward, accumulate into a buffer (net.delta)
 *   F   the old way: A' into scratch, then darknet's axpy_cpu(-1) of it
 *       into the buffer
 *
 * The targets are B/A' and E/D <= 1.05; E/D' is E/D like for like
 * (both convert), C/B and F/E what the old way cost on top.
 *
 * Samples are interleaved (A A' B C D D' E F, then again) rather than taken
 * contender after contender: the machine is shared, and a burst of someone
 * else's load then lands on every contender alike, so the ratios stay
 * meaningful even when the absolute times move.  Each contender writes its
 * own buffers, so none finds in cache what the one before it just wrote;
 * and before every sample an untimed pass rewrites a buffer larger than
 * the last-level cache (--flush), so that every contender starts from the
 * same cache, full of dirty lines that are not its own, as a darknet layer
 * does after the convolution before it.  Without that pass a contender paid
 * for writing back the lines of the one before it: in the fixed order D
 * (after C's two whole buffers) measured 3 to 10% slower than D', which
 * does strictly more, which would have flattered E/D.
 *
 * Before timing, each row is checked: B's delta must be the bitwise
 * negation of A's gradient (a zero's sign aside), E's from a zero buffer
 * likewise, and E into a buffer S the negation of D into -S (accumulation
 * into other deltas, exactly); a failure makes the exit status non-zero. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regionloss.h"
#include "regionloss_darknet.h"
#include "stats.h"
#include "workloads.h"

enum { K_A, K_A1, K_B, K_C, K_D, K_D1, K_E, K_F, N_K };
static const char *const k_names[N_K] = {"A", "A'", "B", "C", "D", "D'", "E", "F"};
enum { OVW, ACC };

/* Past darknet's warm-up (12800 images): the steady state of a training. */
static const int64_t SEEN = (int64_t)1 << 20;

typedef struct dn_row {
    const bench_row *row;
    bench_input in;
    const float *pred;   /* the layer's input: the row's tensor or its largest head */
    size_t count;        /* floats in pred and in every buffer */
    int32_t head;        /* [yolo]: which head of the row */
    rl_yolo_head yhead;
    rl_darknet_layer layer;
    float *truth;        /* net.truth */
    rl_box *boxes;       /* what A', C, D', F convert net.truth into */
    int64_t *offsets;
    rl_plan *plan[2];    /* region row, by mode */
    rl_yolo_plan *yplan[2];
    void *ws;
    size_t ws_size;
    rl_darknet *dn[2];
    /* A A' B, C's scratch and delta, D D' E, F's scratch and net.delta */
    float *buf[10];
    float *start;        /* S: the other deltas an accumulate buffer holds */
} dn_row;

enum { B_A, B_A1, B_B, B_CS, B_CD, B_D, B_D1, B_E, B_FS, B_FD, N_BUF };

static int plans_make(dn_row *x, const char *variant)
{
    const bench_row *row = x->row;
    const rl_darknet_layer *l = &x->layer;
    for (int m = OVW; m <= ACC; m++) {
        size_t w = 0;
        rl_status st;
        if (row->yolo) {
            /* the fields as the adapter builds its plan from the layer, so
             * that the two compute the same numbers */
            rl_yolo_config cfg;
            rl_yolo_config_init(&cfg);
            cfg.n_heads = 1;
            cfg.heads = &x->yhead;
            cfg.C = l->classes;
            cfg.n_anchors = l->total;
            cfg.anchors = l->biases;
            cfg.net_w = l->net_w;
            cfg.net_h = l->net_h;
            cfg.ignore_thresh = l->ignore_thresh;
            cfg.truth_thresh = l->truth_thresh;
            cfg.norm = RL_NORM_SUM;
            cfg.grad_mode = m == ACC ? RL_GRAD_ACCUMULATE : RL_GRAD_OVERWRITE;
            cfg.variant = variant;
            st = rl_yolo_plan_create(&cfg, &x->yplan[m]);
            if (st == RL_OK)
                st = rl_yolo_workspace_size(x->yplan[m], row->N, x->in.n_truths, &w);
        } else {
            rl_config cfg;
            rl_config_init_darknet(&cfg);
            cfg.H = l->h;
            cfg.W = l->w;
            cfg.B = l->n;
            cfg.C = l->classes;
            cfg.anchors = l->biases;
            cfg.thresh = l->thresh; /* the float darknet holds, not the row's double */
            cfg.norm = RL_NORM_SUM;
            cfg.grad_mode = m == ACC ? RL_GRAD_ACCUMULATE : RL_GRAD_OVERWRITE;
            cfg.variant = variant;
            st = rl_plan_create(&cfg, &x->plan[m]);
            if (st == RL_OK)
                st = rl_workspace_size(x->plan[m], row->N, x->in.n_truths, &w);
        }
        if (st != RL_OK)
            return -1;
        x->ws_size = w > x->ws_size ? w : x->ws_size;
    }
    return (x->ws = malloc(x->ws_size ? x->ws_size : 1)) ? 0 : -1;
}

static const char *plain_variant(const dn_row *x)
{
    return x->row->yolo ? rl_yolo_plan_variant(x->yplan[OVW]) : rl_plan_variant(x->plan[OVW]);
}

static int setup(const bench_row *row, const char *variant, dn_row *x)
{
    memset(x, 0, sizeof *x);
    x->row = row;
    if (bench_input_make(row, &x->in) != 0)
        return -1;
    rl_darknet_layer *l = &x->layer;
    int32_t most = 0; /* truths of the fullest image */
    for (int32_t n = 0; n < row->N; n++) {
        const int64_t k = x->in.offsets[n + 1] - x->in.offsets[n];
        most = k > most ? (int32_t)k : most;
    }
    if (row->yolo) {
        const bench_yolo *y = row->yolo;
        int32_t h = 0;
        for (int32_t k = 1; k < y->n_heads; k++)
            h = y->grid[k] > y->grid[h] ? k : h;
        x->head = h;
        x->yhead = (rl_yolo_head){y->grid[h], y->grid[h], y->B, y->masks + h * y->B};
        x->pred = x->in.pred + x->in.head_off[h];
        x->count = x->in.head_off[h + 1] - x->in.head_off[h];
        rl_darknet_layer_init(l, RL_DARKNET_YOLO);
        l->h = l->w = y->grid[h];
        l->n = y->B;
        l->total = y->n_anchors;
        l->biases = y->anchors;
        l->mask = x->yhead.mask;
        l->net_w = l->net_h = y->net;
        l->ignore_thresh = (float)bench_row_thresh(row);
    } else {
        x->pred = x->in.pred;
        x->count = x->in.count;
        rl_darknet_layer_init(l, RL_DARKNET_REGION);
        l->h = row->H;
        l->w = row->W;
        l->n = row->B;
        l->biases = row->anchors;
        l->thresh = (float)bench_row_thresh(row);
    }
    l->batch = row->N;
    l->classes = row->C;
    if (most > l->max_boxes)
        l->max_boxes = most;

    /* net.truth as darknet's data loader fills it: the image's boxes, then
     * zeros (x == 0 ends the list) */
    const size_t slots = (size_t)row->N * (size_t)l->max_boxes;
    x->truth = calloc(slots * 5, sizeof *x->truth);
    x->boxes = malloc(slots * sizeof *x->boxes);
    x->offsets = malloc(((size_t)row->N + 1) * sizeof *x->offsets);
    x->start = bench_alloc_floats(x->count);
    if (!x->truth || !x->boxes || !x->offsets || !x->start)
        return -1;
    for (int32_t n = 0; n < row->N; n++)
        for (int64_t t = x->in.offsets[n]; t < x->in.offsets[n + 1]; t++) {
            const rl_box *b = &x->in.truths[t];
            float *f = x->truth + ((size_t)n * (size_t)l->max_boxes +
                                   (size_t)(t - x->in.offsets[n])) * 5;
            f[0] = b->cx;
            f[1] = b->cy;
            f[2] = b->w;
            f[3] = b->h;
            f[4] = (float)b->cls;
        }
    /* Other layers' deltas, small and of both signs: an accumulate that
     * added into zeros only would not show a rounding of the sum. */
    uint32_t r = 0x9e3779b9u;
    for (size_t e = 0; e < x->count; e++) {
        r = r * 1664525u + 1013904223u;
        x->start[e] = (float)((int32_t)(r >> 8) - (1 << 23)) * (0.25f / (float)(1 << 23));
    }
    for (int k = 0; k < N_BUF; k++)
        if (!(x->buf[k] = bench_alloc_floats(x->count)))
            return -1;

    if (plans_make(x, variant) != 0)
        return -1;
    for (int m = OVW; m <= ACC; m++) {
        rl_darknet_options opt;
        rl_darknet_options_init(&opt);
        opt.delta_mode = m == ACC ? RL_GRAD_ACCUMULATE : RL_GRAD_OVERWRITE;
        opt.variant = variant;
        if (rl_darknet_create(&opt, &x->dn[m]) != RL_OK)
            return -1;
    }
    return 0;
}

static void release(dn_row *x)
{
    for (int m = OVW; m <= ACC; m++) {
        rl_plan_destroy(x->plan[m]);
        rl_yolo_plan_destroy(x->yplan[m]);
        rl_darknet_destroy(x->dn[m]);
    }
    for (int k = 0; k < N_BUF; k++)
        free(x->buf[k]);
    free(x->start);
    free(x->ws);
    free(x->truth);
    free(x->boxes);
    free(x->offsets);
    bench_input_free(&x->in);
}

/* The plain API on the layer's input, with the given truths. */
static rl_status plain(const dn_row *x, int mode, const rl_box *truths, const int64_t *offsets,
                       float *grad, rl_result *res)
{
    if (x->row->yolo) {
        const void *preds[1] = {x->pred};
        void *grads[1] = {grad};
        const rl_yolo_batch b = {.n_images = x->row->N, .preds = preds, .truths = truths,
                                 .truth_offsets = offsets, .workspace = x->ws,
                                 .workspace_size = x->ws_size};
        return rl_yolo_compute(x->yplan[mode], &b, res, NULL, grads);
    }
    const rl_batch b = {.n_images = x->row->N, .pred = x->pred, .truths = truths,
                        .truth_offsets = offsets, .seen = SEEN, .workspace = x->ws,
                        .workspace_size = x->ws_size};
    return rl_compute(x->plan[mode], &b, res, grad);
}

static rl_status converted(dn_row *x, int mode, float *grad, rl_result *res)
{
    const rl_status st = rl_truths_from_darknet(x->truth, x->row->N, x->layer.max_boxes,
                                                x->row->C, x->boxes, x->offsets);
    return st != RL_OK ? st : plain(x, mode, x->boxes, x->offsets, grad, res);
}

static rl_status adapter(dn_row *x, int mode, float *delta, rl_darknet_result *out)
{
    return rl_darknet_forward(x->dn[mode], &x->layer, x->pred, x->truth, SEEN, delta, out);
}

/* What docs/darknet.md had a darknet user do after the call: darknet's
 * axpy_cpu(n, -1, grad, 1, net.delta, 1), here with unit strides known to
 * the compiler (the old way at its fastest).  For C, `y` starts as l.delta
 * and is overwritten instead. */
static void negate_into(size_t n, const float *restrict g, float *restrict y)
{
    for (size_t e = 0; e < n; e++)
        y[e] = -g[e];
}

static void axpy(size_t n, float alpha, const float *restrict g, float *restrict y)
{
    for (size_t e = 0; e < n; e++)
        y[e] += alpha * g[e];
}

/* The untimed pass of the header comment: a read and a write of every
 * line (a plain memset may stream past the cache). */
static void flush_caches(float *c, size_t n)
{
    for (size_t e = 0; e < n; e++)
        c[e] = c[e] * 0.5f + 1.0f;
}

static rl_status run(dn_row *x, int k)
{
    rl_result res;
    rl_darknet_result out;
    rl_status st;
    float **b = x->buf;
    switch (k) {
    case K_A:
        return plain(x, OVW, x->in.truths, x->in.offsets, b[B_A], &res);
    case K_A1:
        return converted(x, OVW, b[B_A1], &res);
    case K_B:
        return adapter(x, OVW, b[B_B], &out);
    case K_C:
        if ((st = converted(x, OVW, b[B_CS], &res)) == RL_OK)
            negate_into(x->count, b[B_CS], b[B_CD]);
        return st;
    case K_D:
        return plain(x, ACC, x->in.truths, x->in.offsets, b[B_D], &res);
    case K_D1:
        return converted(x, ACC, b[B_D1], &res);
    case K_E:
        return adapter(x, ACC, b[B_E], &out);
    default:
        if ((st = converted(x, OVW, b[B_FS], &res)) == RL_OK)
            axpy(x->count, -1.0f, b[B_FS], b[B_FD]);
        return st;
    }
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Entries where y is not exactly -g (+0 and -0 count as equal). */
static size_t not_negation(const float *g, const float *y, size_t n, size_t *first)
{
    size_t bad = 0;
    for (size_t e = 0; e < n; e++) {
        const uint32_t a = bits(g[e]), b = bits(y[e]);
        if ((a ^ b) != 0x80000000u && !(((a | b) & 0x7fffffffu) == 0)) {
            if (!bad)
                *first = e;
            bad++;
        }
    }
    return bad;
}

/* 1 (and a message) when y is not exactly -g. */
static int negation_bad(const dn_row *x, const char *what, const float *g, const float *y)
{
    size_t first = 0;
    const size_t bad = not_negation(g, y, x->count, &first);
    if (!bad)
        return 0;
    fprintf(stderr, "darknet_bench: %s: %s: %zu of %zu entries differ, first %zu: %a against %a\n",
            x->row->name, what, bad, x->count, first, (double)y[first], (double)g[first]);
    return 1;
}

/* The checks of the header comment; they are also the adapter's first
 * calls, which build its plans outside the timing. */
static int check(dn_row *x)
{
    float **b = x->buf;
    const size_t n = x->count, bytes = n * sizeof(float);
    rl_result ra, rd;
    rl_darknet_result ob, oe;
    int bad = 0;
    for (size_t e = 0; e < n; e++) /* so that an entry B leaves unwritten shows */
        b[B_B][e] = 1234.5f;
    memset(b[B_E], 0, bytes);
    if (plain(x, OVW, x->in.truths, x->in.offsets, b[B_A], &ra) != RL_OK ||
        adapter(x, OVW, b[B_B], &ob) != RL_OK || adapter(x, ACC, b[B_E], &oe) != RL_OK) {
        fprintf(stderr, "darknet_bench: %s: %s\n", x->row->name, rl_last_error());
        return 1;
    }
    if (strcmp(ob.variant, plain_variant(x)) != 0) {
        fprintf(stderr, "darknet_bench: %s: the adapter ran %s, the plain API %s\n",
                x->row->name, ob.variant, plain_variant(x));
        bad = 1;
    }
    if (ob.cost != ra.darknet.cost || oe.cost != ra.darknet.cost) {
        fprintf(stderr, "darknet_bench: %s: cost %.17g (overwrite), %.17g (accumulate), plain "
                        "API %.17g\n", x->row->name, ob.cost, oe.cost, ra.darknet.cost);
        bad = 1;
    }
    bad |= negation_bad(x, "B against -A", b[B_A], b[B_B]);
    bad |= negation_bad(x, "E from zeros against -A", b[B_A], b[B_E]);

    for (size_t e = 0; e < n; e++)
        b[B_D][e] = -x->start[e];
    memcpy(b[B_E], x->start, bytes);
    if (plain(x, ACC, x->in.truths, x->in.offsets, b[B_D], &rd) != RL_OK ||
        adapter(x, ACC, b[B_E], &oe) != RL_OK) {
        fprintf(stderr, "darknet_bench: %s: %s\n", x->row->name, rl_last_error());
        return 1;
    }
    bad |= negation_bad(x, "E into S against -(D into -S)", b[B_D], b[B_E]);

    /* the timed accumulate buffers start from the other deltas */
    memcpy(b[B_D], x->start, bytes);
    memcpy(b[B_D1], x->start, bytes);
    memcpy(b[B_E], x->start, bytes);
    memcpy(b[B_FD], x->start, bytes);
    return bad;
}

int main(int argc, char **argv)
{
    int reps = 11, cpu_time = 0;
    /* twice the 32 MB L3 a core of the bench machine reaches (sysconf
     * reports the whole host's, 256 MB, there) */
    int flush_mb = 64;
    const char *filter = "voc-8,voc-30,voc-avg,coco13-8,coco19-30,coco19-avg,yolo416-8,yolo608-8,"
                         "yolo608-60";
    const char *variant = NULL;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--reps") == 0 && a + 1 < argc)
            reps = atoi(argv[++a]);
        else if (strcmp(argv[a], "--filter") == 0 && a + 1 < argc)
            filter = argv[++a];
        else if (strcmp(argv[a], "--variant") == 0 && a + 1 < argc)
            variant = argv[++a];
        else if (strcmp(argv[a], "--flush") == 0 && a + 1 < argc)
            flush_mb = atoi(argv[++a]);
        else if (strcmp(argv[a], "--cpu-time") == 0)
            cpu_time = 1;
        else {
            fprintf(stderr, "usage: regionloss_darknet_bench [--reps R] [--filter ROW[,ROW...]] "
                            "[--variant NAME] [--cpu-time] [--flush MB]\n  ROW: a glob over the "
                            "rows of regionloss_bench --list (default %s)\n  --cpu-time: time by "
                            "the calling thread's CPU time instead of the wall clock\n  --flush: "
                            "MB rewritten before every sample, above the last-level cache "
                            "(default %d; 0: none)\n",
                    filter, flush_mb);
            return strcmp(argv[a], "--help") == 0 ? 0 : 2;
        }
    }
    if (reps < 1)
        reps = 1;
    const size_t flush_n = flush_mb > 0 ? (size_t)flush_mb << 18 : 0;
    float *flush = flush_n ? bench_alloc_floats(flush_n) : NULL;
    if (flush_n && !flush)
        return 1;
    if (variant && rl_variant_check(variant) != RL_OK) {
        fprintf(stderr, "darknet_bench: %s\n", rl_last_error());
        return 2;
    }
    bench_use_thread_cpu_time(cpu_time);
    bench_machine m;
    bench_machine_read(&m);
    printf("regionloss_darknet_bench: %s, %d CPUs, load %.2f %.2f %.2f; %d reps, median us, "
           "1 thread, float32, %s, %d MB flushed before each sample\n", m.cpu, m.cpus, m.load[0],
           m.load[1], m.load[2], reps, cpu_time ? "thread CPU time" : "wall clock",
           flush_mb > 0 ? flush_mb : 0);
    printf("command:");
    for (int a = 0; a < argc; a++)
        printf(" %s", argv[a]);
    printf("\nA plain, A' plain+conversion, B adapter, C old way (A' + negation pass); "
           "D plain accumulate,\nD' D+conversion, E adapter accumulate, F old way "
           "(A' + axpy -1 into net.delta). Targets B/A', E/D <= 1.05\n");

    int failed = 0, rows = 0, missed = 0;
    double *s = calloc((size_t)reps * N_K, sizeof *s);
    if (!s)
        return 1;
    for (int i = 0; i < bench_n_rows; i++) {
        const bench_row *row = &bench_rows[i];
        if (!bench_row_matches(row, filter))
            continue;
        dn_row x;
        if (setup(row, variant, &x) != 0) {
            fprintf(stderr, "darknet_bench: %s: setup failed: %s\n", row->name, rl_last_error());
            release(&x);
            failed = 1;
            continue;
        }
        rows++;
        const int bad = check(&x);
        failed |= bad;
        for (int k = 0; k < N_K; k++) /* warm-up: every buffer mapped and touched once */
            failed |= run(&x, k) != RL_OK;
        for (int r = 0; r < reps; r++)
            for (int k = 0; k < N_K; k++) {
                flush_caches(flush, flush_n);
                const double t0 = bench_now_ns();
                const rl_status st = run(&x, k);
                s[k * reps + r] = bench_now_ns() - t0;
                if (st != RL_OK) {
                    fprintf(stderr, "darknet_bench: %s %s: %s\n", row->name, k_names[k],
                            rl_last_error());
                    failed = 1;
                }
            }
        double med[N_K];
        for (int k = 0; k < N_K; k++)
            med[k] = bench_median(s + k * reps, reps) / 1e3;
        const double ba = med[K_B] / med[K_A1], ed = med[K_E] / med[K_D];
        missed += (ba > 1.05) + (ed > 1.05);
        if (row->yolo)
            printf("%s (%s): head %dx%d, %d images, %d truths, %.1f MB a buffer; %s; check %s\n",
                   row->name, row->what, (int)x.yhead.H, (int)x.yhead.W, (int)row->N,
                   (int)x.in.n_truths, (double)x.count * 4 / 1e6, plain_variant(&x),
                   bad ? "FAILED" : "ok");
        else
            printf("%s (%s): %d images, %d truths, %.1f MB a buffer; %s; check %s\n", row->name,
                   row->what, (int)row->N, (int)x.in.n_truths, (double)x.count * 4 / 1e6,
                   plain_variant(&x), bad ? "FAILED" : "ok");
        printf("  overwrite  A %8.1f  A' %8.1f  B %8.1f  C %8.1f   B/A' %.3f %-6s  C/B %.2f\n",
               med[K_A], med[K_A1], med[K_B], med[K_C], ba, ba <= 1.05 ? "met" : "missed",
               med[K_C] / med[K_B]);
        printf("  accumulate D %8.1f  D' %8.1f  E %8.1f  F %8.1f   E/D  %.3f %-6s  E/D' %.3f  "
               "F/E %.2f\n", med[K_D], med[K_D1], med[K_E], med[K_F], ed,
               ed <= 1.05 ? "met" : "missed", med[K_E] / med[K_D1], med[K_F] / med[K_E]);
        fflush(stdout);
        release(&x);
    }
    free(s);
    free(flush);
    bench_machine_read(&m);
    printf("%d rows; %d target(s) missed; load %.2f %.2f %.2f at end\n", rows, missed, m.load[0],
           m.load[1], m.load[2]);
    if (!rows)
        fprintf(stderr, "darknet_bench: no row matches \"%s\"\n", filter);
    return failed || !rows ? 1 : 0;
}
