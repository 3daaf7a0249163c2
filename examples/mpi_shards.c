/* One training step of a data-parallel trainer over MPI.
 *
 * Each rank owns a contiguous shard of the batch (its images, their truths
 * with offsets re-based to 0, and the matching slice of the network output).
 * The spec mode (docs/loss.md) normalises by the whole batch's N_obj and
 * N_conf, so a step is:
 *
 *   1. rl_count(shard)                    -> this shard's counts
 *   2. MPI_Allreduce(counts, SUM)         -> the whole batch's counts
 *   3. rl_compute(shard, global_counts)   -> loss parts + gradient slice
 *   4. MPI_Allreduce(loss parts, SUM)     -> the batch's loss (for logging)
 *
 * The gradient needs no reduction here: each rank's slice is already the
 * exact slice of the whole-batch gradient, and it flows back through the
 * rank's own copy of the network (the usual gradient all-reduce of the
 * weights happens after the backward pass, as in any data-parallel setup).
 *
 * --one-pass shows the alternative of docs/data-parallel.md: the shard runs
 * in sum mode (no rl_count), and the caller divides after the all-reduce.
 *
 * --yolo runs the same step for YOLOv3's three [yolo] heads (13, 26 and 52
 * at 416 x 416, the nine COCO anchors in pixels, darknet's masks): a head
 * normalised by images (RL_NORM_IMAGES) needs only the batch's image count,
 * so step 1 is the shard's own image count and step 2 an all-reduce of one
 * int64; rl_yolo_compute then divides by global_counts->n_images.
 *
 * Usage: mpirun -np R mpi_shards [--images N] [--classes C] [--repeat K] [--one-pass | --yolo]
 *   --repeat K runs K steps and prints, for each phase, the slowest rank's
 *   fastest step (least disturbed by other load on the machine) and mean;
 *   an all-reduce inside a step also waits for the slowest rank, so the
 *   all-reduce's own latency is measured apart, back to back.  Rank 0 also
 *   runs the whole batch alone and prints the difference. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regionloss.h"

/* yolo-voc's 13 x 13 grid and its five anchors (grid cells). */
static const float voc_anchors[10] = {1.3221f, 1.73145f, 3.19275f, 4.00944f, 5.05587f,
                                      8.09892f, 9.47112f, 4.84053f, 11.2364f, 10.0071f};

/* A stand-in for the data loader and the forward pass: every rank builds
 * the same batch from one seed.  A real trainer loads only its own shard. */
typedef struct batch_data {
    int32_t n_images;
    float *pred;
    rl_box *truths;
    int64_t *offsets;
} batch_data;

static double uniform01(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) * 0x1.0p-53;
}

static int make_batch(const rl_plan *plan, int32_t n_images, int32_t classes, batch_data *d)
{
    size_t count;
    if (rl_plan_tensor_size(plan, n_images, &count) != RL_OK)
        return -1;
    uint64_t seed = 42;
    d->n_images = n_images;
    d->pred = malloc(count * sizeof *d->pred);
    d->offsets = malloc((size_t)(n_images + 1) * sizeof *d->offsets);
    d->truths = malloc((size_t)n_images * 8 * sizeof *d->truths);
    if (!d->pred || !d->offsets || !d->truths)
        return -1;
    for (size_t x = 0; x < count; x++)
        d->pred[x] = (float)(4.0 * uniform01(&seed) - 2.0);
    /* 0 to 7 objects per image: shards differ in how many they hold. */
    int64_t t = 0;
    for (int32_t n = 0; n < n_images; n++) {
        d->offsets[n] = t;
        int k = (int)(8 * uniform01(&seed));
        for (int b = 0; b < k; b++, t++) {
            d->truths[t].cx = (float)uniform01(&seed);
            d->truths[t].cy = (float)uniform01(&seed);
            d->truths[t].w = (float)(0.05 + 0.9 * uniform01(&seed));
            d->truths[t].h = (float)(0.05 + 0.9 * uniform01(&seed));
            d->truths[t].cls = (int32_t)(classes * uniform01(&seed)) % classes;
        }
    }
    d->offsets[n_images] = t;
    return 0;
}

/* Contiguous shard of `rank`: images [lo, hi), as even as possible. */
static void shard_range(int32_t n_images, int ranks, int rank, int32_t *lo, int32_t *hi)
{
    int32_t base = n_images / ranks, extra = n_images % ranks;
    *lo = rank * base + (rank < extra ? rank : extra);
    *hi = *lo + base + (rank < extra ? 1 : 0);
}

/* What rank 0 logs: the parts add over shards, and so do the raw sums
 * behind the diagnostics (averages would not). */
enum { S_LOSS, S_COORD, S_CLS, S_OBJ, S_NOOBJ, S_IOU, S_SOBJ, S_SNOOBJ, S_SCLS, S_COUNT };

static void to_sums(const rl_result *r, double s[S_COUNT], int64_t recall[2])
{
    s[S_LOSS] = r->loss;
    s[S_COORD] = r->coord;
    s[S_CLS] = r->cls;
    s[S_OBJ] = r->obj;
    s[S_NOOBJ] = r->noobj;
    s[S_IOU] = r->sum_iou;
    s[S_SOBJ] = r->sum_obj;
    s[S_SNOOBJ] = r->sum_noobj;
    s[S_SCLS] = r->sum_cls;
    recall[0] = r->n_recall50;
    recall[1] = r->n_recall75;
}

/* rl_counts goes over the wire as four int64_t. */
_Static_assert(sizeof(rl_counts) == 4 * sizeof(int64_t), "rl_counts is four int64_t");

enum { T_PHASES = 4 };
static const char *const phase_names[2][T_PHASES] = {
    {"rl_count", "all-reduce counts", "rl_compute (global counts)", "all-reduce parts"},
    {"rl_compute (sum mode)", "all-reduce counts", "divide the gradient", "all-reduce parts"}};

typedef struct step_times {
    double sum[T_PHASES], min[T_PHASES];
} step_times;

static void record(step_times *t, int phase, double seconds)
{
    t->sum[phase] += seconds;
    if (seconds < t->min[phase])
        t->min[phase] = seconds;
}

#define CHECK(call)                                                                   \
    do {                                                                              \
        rl_status st_ = (call);                                                       \
        if (st_ != RL_OK) {                                                           \
            fprintf(stderr, "%s: %s\n", rl_status_name(st_), rl_last_error());        \
            MPI_Abort(MPI_COMM_WORLD, 1);                                             \
        }                                                                             \
    } while (0)

/* The step itself: three library calls and two all-reduces. */
static void train_step(const rl_plan *plan, rl_batch *shard, float *grad, rl_counts *global,
                       double sums[S_COUNT], int64_t recall[2], step_times *t)
{
    rl_counts own;
    double t0 = MPI_Wtime();
    CHECK(rl_count(plan, shard, &own));
    double t1 = MPI_Wtime();
    /* rl_counts is four int64_t: n_obj, n_noobj, n_conf, n_images. */
    MPI_Allreduce(&own, global, 4, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    double t2 = MPI_Wtime();
    shard->global_counts = global;
    rl_result r;
    CHECK(rl_compute(plan, shard, &r, grad));
    double t3 = MPI_Wtime();
    double mine[S_COUNT];
    int64_t my_recall[2];
    to_sums(&r, mine, my_recall);
    MPI_Allreduce(mine, sums, S_COUNT, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(my_recall, recall, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    double t4 = MPI_Wtime();
    record(t, 0, t1 - t0);
    record(t, 1, t2 - t1);
    record(t, 2, t3 - t2);
    record(t, 3, t4 - t3);
}

/* The caller's share of the one-pass wiring (spec mode, counts
 * normalisation, overwrite): objectness entries (channel 4) divided by
 * N_conf, the others by N_obj; a term whose divisor is 0 is 0. */
static void divide_gradient(const rl_config *cfg, float *grad, int32_t n_images,
                            const rl_counts *g)
{
    const int64_t K = 5 + cfg->C, HW = (int64_t)cfg->H * cfg->W;
    const int64_t slots = (int64_t)n_images * HW * cfg->B;
    /* NCHW: runs of H*W entries share a channel; NHWC: the channel is innermost. */
    const int64_t run = cfg->layout == RL_LAYOUT_NCHW ? HW : 1;
    for (int64_t r = 0; r < slots * K / run; r++) {
        const int64_t div = r % K == 4 ? g->n_conf : g->n_obj;
        /* A multiply by the double reciprocal: a division per entry made
         * this pass slower than the AVX2 rl_compute itself. */
        const double inv = div > 0 ? 1.0 / (double)div : 0.0;
        float *x = grad + r * run;
        for (int64_t e = 0; e < run; e++)
            x[e] = (float)(x[e] * inv);
    }
}

static void train_step_one_pass(const rl_plan *sum_plan, const rl_config *cfg,
                                const rl_batch *shard, float *grad, rl_counts *global,
                                double sums[S_COUNT], int64_t recall[2], step_times *t)
{
    double t0 = MPI_Wtime();
    rl_result r;
    CHECK(rl_compute(sum_plan, shard, &r, grad)); /* plain sums, shard's counts in r */
    double t1 = MPI_Wtime();
    rl_counts own = {r.n_obj, r.n_noobj, r.n_conf, shard->n_images};
    MPI_Allreduce(&own, global, 4, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    double t2 = MPI_Wtime();
    divide_gradient(cfg, grad, shard->n_images, global);
    double t3 = MPI_Wtime();
    double mine[S_COUNT];
    int64_t my_recall[2];
    to_sums(&r, mine, my_recall);
    MPI_Allreduce(mine, sums, S_COUNT, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(my_recall, recall, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    /* The summed parts, divided as the spec mode does. */
    const double no = (double)global->n_obj, nc = (double)global->n_conf;
    sums[S_COORD] = no > 0 ? sums[S_COORD] / no : 0.0;
    sums[S_CLS] = no > 0 ? sums[S_CLS] / no : 0.0;
    sums[S_OBJ] = nc > 0 ? sums[S_OBJ] / nc : 0.0;
    sums[S_NOOBJ] = nc > 0 ? sums[S_NOOBJ] / nc : 0.0;
    sums[S_LOSS] = sums[S_COORD] + sums[S_CLS] + sums[S_OBJ] + sums[S_NOOBJ];
    double t4 = MPI_Wtime();
    record(t, 0, t1 - t0);
    record(t, 1, t2 - t1);
    record(t, 2, t3 - t2);
    record(t, 3, t4 - t3);
}

/* The all-reduce of the four counts on its own: every rank arrives together,
 * so this is the latency a step pays for global normalisation. */
static double allreduce_latency(int rounds)
{
    rl_counts own = {1, 2, 3, 4}, global;
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    for (int k = 0; k < rounds; k++)
        MPI_Allreduce(&own, &global, 4, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    return (MPI_Wtime() - t0) / rounds;
}

/* ---- the [yolo] heads (--yolo) --------------------------------------------- */

/* yolov3.cfg: the nine COCO anchors in pixels of a 416 x 416 input, and the
 * masks of its three [yolo] layers (13, 26 and 52 cells). */
static const float coco_anchors_px[18] = {10, 13, 16, 30, 33, 23, 30, 61, 62, 45,
                                          59, 119, 116, 90, 156, 198, 373, 326};
static const int32_t yolo_masks[3][3] = {{6, 7, 8}, {3, 4, 5}, {0, 1, 2}};

static int yolo_main(int rank, int ranks, int32_t n_images, int32_t classes, int repeat)
{
    rl_yolo_head heads[3];
    for (int h = 0; h < 3; h++) {
        heads[h].H = heads[h].W = 13 << h;
        heads[h].B = 3;
        heads[h].mask = yolo_masks[h];
    }
    rl_yolo_config cfg;
    rl_yolo_config_init(&cfg); /* ignore .7, truth 1, scales 1, RL_NORM_IMAGES */
    cfg.n_heads = 3;
    cfg.heads = heads;
    cfg.C = classes;
    cfg.n_anchors = 9;
    cfg.anchors = coco_anchors_px;
    cfg.net_w = cfg.net_h = 416;
    rl_yolo_plan *plan;
    CHECK(rl_yolo_plan_create(&cfg, &plan));

    /* The stand-in batch: predictions of every head, truths as above. */
    size_t per_image[3], total[3];
    float *pred[3];
    uint64_t seed = 7;
    for (int h = 0; h < 3; h++) {
        CHECK(rl_yolo_tensor_size(plan, h, 1, &per_image[h]));
        total[h] = per_image[h] * (size_t)n_images;
        pred[h] = malloc(total[h] * sizeof *pred[h]);
        if (!pred[h])
            MPI_Abort(MPI_COMM_WORLD, 1);
        for (size_t x = 0; x < total[h]; x++)
            pred[h][x] = (float)(4.0 * uniform01(&seed) - 2.5);
    }
    rl_box *truths = malloc((size_t)n_images * 8 * sizeof *truths);
    int64_t *offsets = malloc((size_t)(n_images + 1) * sizeof *offsets);
    if (!truths || !offsets)
        MPI_Abort(MPI_COMM_WORLD, 1);
    int64_t t = 0;
    for (int32_t n = 0; n < n_images; n++) {
        offsets[n] = t;
        int k = (int)(8 * uniform01(&seed));
        for (int b = 0; b < k; b++, t++) {
            truths[t].cx = (float)uniform01(&seed);
            truths[t].cy = (float)uniform01(&seed);
            truths[t].w = (float)(0.02 + 0.6 * uniform01(&seed));
            truths[t].h = (float)(0.02 + 0.6 * uniform01(&seed));
            truths[t].cls = (int32_t)(classes * uniform01(&seed)) % classes;
        }
    }
    offsets[n_images] = t;

    /* This rank's shard: every head's slice of its images, offsets re-based. */
    int32_t lo, hi;
    shard_range(n_images, ranks, rank, &lo, &hi);
    const void *shard_pred[3];
    void *grad[3];
    for (int h = 0; h < 3; h++) {
        shard_pred[h] = pred[h] + (size_t)lo * per_image[h];
        grad[h] = malloc((size_t)(hi - lo) * per_image[h] * sizeof(float));
        if (!grad[h])
            MPI_Abort(MPI_COMM_WORLD, 1);
    }
    int64_t *shard_offsets = malloc((size_t)(hi - lo + 1) * sizeof *shard_offsets);
    if (!shard_offsets)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int32_t n = lo; n <= hi; n++)
        shard_offsets[n - lo] = offsets[n] - offsets[lo];
    rl_yolo_batch shard = {0};
    shard.n_images = hi - lo;
    shard.preds = shard_pred;
    shard.truths = truths + offsets[lo];
    shard.truth_offsets = shard_offsets;

    rl_result r, per_head[3];
    double sums[S_COUNT + 3], heads_loss[3];
    int64_t recall[2];
    double t_reduce = INFINITY, t_compute = INFINITY;
    rl_counts global = {0};
    for (int k = 0; k < repeat; k++) {
        /* 1-2: the batch's images (the only count norm images divides by) */
        double t0 = MPI_Wtime();
        int64_t own = shard.n_images;
        MPI_Allreduce(&own, &global.n_images, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
        shard.global_counts = &global;
        /* 3: every head's loss and gradient slice */
        double t1 = MPI_Wtime();
        CHECK(rl_yolo_compute(plan, &shard, &r, per_head, grad));
        double t2 = MPI_Wtime();
        /* 4: the parts and each head's loss add up over shards */
        double mine[S_COUNT + 3];
        int64_t my_recall[2];
        to_sums(&r, mine, my_recall);
        for (int h = 0; h < 3; h++)
            mine[S_COUNT + h] = per_head[h].loss;
        MPI_Allreduce(mine, sums, S_COUNT + 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        MPI_Allreduce(my_recall, recall, 2, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
        if (t1 - t0 < t_reduce)
            t_reduce = t1 - t0;
        if (t2 - t1 < t_compute)
            t_compute = t2 - t1;
    }
    memcpy(heads_loss, sums + S_COUNT, sizeof heads_loss);
    double slowest[2], mine_t[2] = {t_reduce, t_compute};
    MPI_Reduce(mine_t, slowest, 2, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);

    if (rank == 0) {
        printf("%d ranks, %d images, 3 [yolo] heads (%s): loss %.10g = coord %.6g + cls %.6g + "
               "obj %.6g + noobj %.6g\n",
               ranks, (int)n_images, rl_yolo_plan_variant(plan), sums[S_LOSS], sums[S_COORD],
               sums[S_CLS], sums[S_OBJ], sums[S_NOOBJ]);
        printf("per head (13, 26, 52): %.6g %.6g %.6g; global images %lld\n", heads_loss[0],
               heads_loss[1], heads_loss[2], (long long)global.n_images);
        const void *whole_pred[3] = {pred[0], pred[1], pred[2]};
        rl_yolo_batch whole = {0};
        whole.n_images = n_images;
        whole.preds = whole_pred;
        whole.truths = truths;
        whole.truth_offsets = offsets;
        rl_result one;
        CHECK(rl_yolo_compute(plan, &whole, &one, NULL, NULL));
        printf("single process: loss %.10g (relative difference %.2g)\n", one.loss,
               fabs(one.loss - sums[S_LOSS]) / fmax(fabs(one.loss), 1e-300));
        printf("fastest step of %d, slowest rank (us): all-reduce images %.1f, "
               "rl_yolo_compute %.1f\n",
               repeat, 1e6 * slowest[0], 1e6 * slowest[1]);
    }
    for (int h = 0; h < 3; h++) {
        free(pred[h]);
        free(grad[h]);
    }
    free(truths);
    free(offsets);
    free(shard_offsets);
    rl_yolo_plan_destroy(plan);
    return 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    int32_t n_images = 16, classes = 20;
    int repeat = 1, one_pass = 0, yolo = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--one-pass") == 0)
            one_pass = 1;
        else if (strcmp(argv[a], "--yolo") == 0)
            yolo = 1;
        else if (a + 1 < argc && strcmp(argv[a], "--images") == 0)
            n_images = atoi(argv[++a]);
        else if (a + 1 < argc && strcmp(argv[a], "--classes") == 0)
            classes = atoi(argv[++a]);
        else if (a + 1 < argc && strcmp(argv[a], "--repeat") == 0)
            repeat = atoi(argv[++a]);
    }
    if (n_images < ranks || classes < 1 || repeat < 1) {
        if (rank == 0)
            fprintf(stderr, "need --images >= ranks (%d), --classes >= 1, --repeat >= 1\n",
                    ranks);
        MPI_Finalize();
        return 2;
    }
    if (yolo) {
        const int rc = yolo_main(rank, ranks, n_images, classes, repeat);
        MPI_Finalize();
        return rc;
    }

    rl_config cfg;
    rl_config_init(&cfg); /* spec mode, RL_NORM_COUNTS */
    cfg.H = cfg.W = 13;
    cfg.B = 5;
    cfg.C = classes;
    cfg.anchors = voc_anchors;
    rl_plan *plan, *sum_plan;
    CHECK(rl_plan_create(&cfg, &plan));
    rl_config sum_cfg = cfg;
    sum_cfg.norm = RL_NORM_SUM;
    CHECK(rl_plan_create(&sum_cfg, &sum_plan));

    batch_data d = {0};
    if (make_batch(plan, n_images, classes, &d) != 0) {
        fprintf(stderr, "out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }

    /* This rank's shard: a view into the batch, truth offsets re-based. */
    int32_t lo, hi;
    shard_range(n_images, ranks, rank, &lo, &hi);
    size_t per_image, shard_floats;
    CHECK(rl_plan_tensor_size(plan, 1, &per_image));
    CHECK(rl_plan_tensor_size(plan, hi - lo, &shard_floats));
    int64_t *offsets = malloc((size_t)(hi - lo + 1) * sizeof *offsets);
    float *grad = malloc(shard_floats * sizeof *grad);
    if (!offsets || !grad)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int32_t n = lo; n <= hi; n++)
        offsets[n - lo] = d.offsets[n] - d.offsets[lo];
    rl_batch shard = {0};
    shard.n_images = hi - lo;
    shard.pred = d.pred + (size_t)lo * per_image;
    shard.truths = d.truths + d.offsets[lo];
    shard.truth_offsets = offsets;

    rl_counts global;
    double sums[S_COUNT];
    int64_t recall[2];
    step_times t;
    for (int p = 0; p < T_PHASES; p++) {
        t.sum[p] = 0;
        t.min[p] = INFINITY;
    }
    for (int k = 0; k < repeat; k++) {
        if (one_pass)
            train_step_one_pass(sum_plan, &cfg, &shard, grad, &global, sums, recall, &t);
        else
            train_step(plan, &shard, grad, &global, sums, recall, &t);
    }
    const double latency = allreduce_latency(1000);

    /* The slowest rank sets the pace of a synchronous step. */
    double mine[2 * T_PHASES + 1], slowest[2 * T_PHASES + 1];
    for (int p = 0; p < T_PHASES; p++) {
        mine[p] = t.min[p];
        mine[T_PHASES + p] = t.sum[p] / repeat;
    }
    mine[2 * T_PHASES] = latency;
    MPI_Reduce(mine, slowest, 2 * T_PHASES + 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);

    if (rank == 0) {
        const double no = (double)global.n_obj, nn = (double)global.n_noobj;
        printf("%d ranks, %d images (%s): loss %.10g = coord %.6g + cls %.6g + obj %.6g + "
               "noobj %.6g\n",
               ranks, (int)n_images, rl_plan_variant(plan), sums[S_LOSS], sums[S_COORD],
               sums[S_CLS], sums[S_OBJ], sums[S_NOOBJ]);
        printf("N_obj %lld  N_conf %lld  avg IoU %.4f  recall50 %.4f  recall75 %.4f  "
               "obj %.4f  noobj %.4f  cls %.4f\n",
               (long long)global.n_obj, (long long)global.n_conf,
               no ? sums[S_IOU] / no : 0.0, no ? (double)recall[0] / no : 0.0,
               no ? (double)recall[1] / no : 0.0, no ? sums[S_SOBJ] / no : 0.0,
               nn ? sums[S_SNOOBJ] / nn : 0.0, no ? sums[S_SCLS] / no : 0.0);

        /* The same batch in one process, for comparison. */
        rl_batch whole = {0};
        whole.n_images = n_images;
        whole.pred = d.pred;
        whole.truths = d.truths;
        whole.truth_offsets = d.offsets;
        rl_result one;
        CHECK(rl_compute(plan, &whole, &one, NULL));
        printf("single process: loss %.10g (relative difference %.2g)\n", one.loss,
               fabs(one.loss - sums[S_LOSS]) / fmax(fabs(one.loss), 1e-300));
        printf("per step over %d steps, slowest rank (us):   fastest      mean\n", repeat);
        for (int p = 0; p < T_PHASES; p++)
            printf("  %-40s %9.1f %9.1f\n", phase_names[one_pass][p], 1e6 * slowest[p],
                   1e6 * slowest[T_PHASES + p]);
        printf("  %-40s %9.1f\n", "all-reduce of 4 int64, back to back", 1e6 * slowest[2 * T_PHASES]);
    }

    free(offsets);
    free(grad);
    free(d.pred);
    free(d.truths);
    free(d.offsets);
    rl_plan_destroy(sum_plan);
    rl_plan_destroy(plan);
    MPI_Finalize();
    return 0;
}
