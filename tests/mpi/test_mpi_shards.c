/* Sharded batches over MPI reproduce the single-process run (issue 9).
 *
 * Run under mpirun with any number of ranks up to 9 (meson registers 1 to 4).
 * Every rank builds the same batch, runs it whole in its own process, then
 * takes its shard (contiguous images, truth offsets re-based), and the ranks
 * do what a data-parallel trainer does: rl_count, all-reduce the counts,
 * rl_compute with global_counts, all-reduce the loss parts and diagnostic
 * sums.  Each rank then checks against its whole-batch run:
 *  - the all-reduced counts equal the whole batch's;
 *  - each loss part and diagnostic equals the whole batch's: relative 1e-12
 *    for the reference (see part_tolerance);
 *  - its gradient is bit for bit the matching slice of the whole gradient;
 *  - for a normalising mode with 2+ ranks, per-shard normalisation (no
 *    global_counts) gives a different loss, so the batch really tells the
 *    two apart;
 *  - the one-pass alternative (sum mode, all-reduce the counts it returns,
 *    divide the gradient by channel) matches within two float roundings;
 *  - the same for a network of three [yolo] heads (rl_yolo_compute): norm
 *    images with the all-reduced image count as global_counts->n_images,
 *    norm sum without, truth_thresh, a batch without truths; every head's
 *    gradient slice, and every head's and the total's parts and darknet
 *    statistics.
 * A plain MPI program (Criterion forks, which mpirun does not want): it
 * prints every failure with its rank and a closing "P passed, F failed"
 * summed over ranks, and exits 1 on any failure. */
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regionloss.h"
#include "shard_cases.h"

/* Counts go over the wire as four int64_t. */
_Static_assert(sizeof(rl_counts) == 4 * sizeof(int64_t), "rl_counts is four int64_t");

static int g_rank, g_ranks;
static long g_passed, g_failed;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
    if (ok) {
        g_passed++;
        return;
    }
    g_failed++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL rank %d of %d: ", g_rank, g_ranks);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* True on every rank when every rank passes ok: a rank whose call failed
 * must not leave the others waiting in a collective. */
static int all_ok(int ok)
{
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    return all;
}

static int rel_close(double got, double want, double tol)
{
    return fabs(got - want) <= tol * fmax(fabs(got), fabs(want));
}

/* What adds up over shards: the loss parts, the raw diagnostic sums, and
 * darknet's per-truth and per-slot averages turned back into sums. */
enum {
    D_LOSS, D_COORD, D_CLS, D_OBJ, D_NOOBJ, D_WARMUP,
    D_SUM_IOU, D_SUM_OBJ, D_SUM_NOOBJ, D_SUM_CLS,
    D_DN_IOU, D_DN_RECALL, D_DN_RECALL75, D_DN_CLS, D_DN_OBJ, D_DN_ANYOBJ, D_DN_COST,
    D_COUNT
};
static const char *const d_names[D_COUNT] = {
    "loss", "coord", "cls", "obj", "noobj", "warmup",
    "sum_iou", "sum_obj", "sum_noobj", "sum_cls",
    "darknet.avg_iou*count", "darknet.recall*count", "darknet.recall75*count",
    "darknet.avg_cls*count", "darknet.avg_obj*count", "darknet.avg_anyobj*slots",
    "darknet.cost"};
enum { I_NOBJ, I_NNOOBJ, I_NCONF, I_NTRUTHS, I_RECALL50, I_RECALL75, I_DN_COUNT, I_COUNT };
static const char *const i_names[I_COUNT] = {"n_obj", "n_noobj", "n_conf", "n_truths",
                                             "n_recall50", "n_recall75", "darknet.count"};

static void additive(const rl_result *r, int64_t slots, double d[D_COUNT], int64_t i[I_COUNT])
{
    const double cnt = (double)r->darknet.count;
    const double v[D_COUNT] = {
        r->loss, r->coord, r->cls, r->obj, r->noobj, r->warmup,
        r->sum_iou, r->sum_obj, r->sum_noobj, r->sum_cls,
        r->darknet.avg_iou * cnt, r->darknet.recall * cnt, r->darknet.recall75 * cnt,
        r->darknet.avg_cls * cnt, r->darknet.avg_obj * cnt,
        r->darknet.avg_anyobj * (double)slots, r->darknet.cost};
    const int64_t w[I_COUNT] = {r->n_obj, r->n_noobj, r->n_conf, r->n_truths,
                                r->n_recall50, r->n_recall75, r->darknet.count};
    memcpy(d, v, sizeof v);
    memcpy(i, w, sizeof w);
}

/* How far an all-reduced part may be from the single-process one.
 * Every part is a sum of non-negative terms, each computed identically in
 * both runs (same inputs, same constants).  Only the order of additions
 * differs: the shards sum their images from 0, then MPI adds the R partial
 * sums.  Two orders of summing n non-negative terms in precision u differ
 * by at most 2(n-1)u of the total (first order), plus R u for the
 * all-reduce.  n is at most the number of prediction entries; the
 * reference sums in double (u = 2^-53): for these batches (8505 entries)
 * that is below 1.9e-12, and the 1e-12 holds with a wide margin in
 * practice (errors grow like sqrt(n) u), so the reference is held to it.
 * Another variant is held to the double-accumulation bound: it must sum its
 * parts in double as well (float accumulators would make the loss depend
 * on the world size at the 1e-4 level). */
static double part_tolerance(int is_reference, int64_t entries)
{
    const double u = 0x1.0p-53;
    if (is_reference)
        return 1e-12;
    return (2.0 * (double)(entries - 1) + g_ranks) * u;
}

/* The same deterministic fill for the whole and the shard's gradient, so
 * that accumulate mode adds into equal starting values. */
static void prefill(float *g, int64_t first, int64_t count)
{
    for (int64_t x = 0; x < count; x++)
        g[x] = (float)((uint32_t)((uint64_t)(first + x) * 2654435761u) % 2001u) / 1000.0f - 1.0f;
}

typedef struct shard {
    int32_t lo, hi;
    int64_t *offsets; /* re-based to 0 */
    rl_batch batch;
} shard;

static int shard_make(const shard_case *c, shard *s)
{
    shard_partition(c->n_images, g_ranks, g_rank, &s->lo, &s->hi);
    const int32_t n = s->hi - s->lo;
    s->offsets = malloc((size_t)(n + 1) * sizeof *s->offsets);
    if (!s->offsets)
        return -1;
    const int64_t base = c->offsets[s->lo];
    for (int32_t k = 0; k <= n; k++)
        s->offsets[k] = c->offsets[s->lo + k] - base;
    memset(&s->batch, 0, sizeof s->batch);
    s->batch.n_images = n;
    s->batch.pred = c->pred + (int64_t)s->lo * c->per_image;
    /* A shard without truths passes NULL, as a trainer with an empty shard may. */
    s->batch.truths = s->offsets[n] > 0 ? c->truths + base : NULL;
    s->batch.truth_offsets = s->offsets;
    s->batch.seen = c->seen; /* the whole batch's counter, not the shard's */
    return 0;
}

static void compare_gradients(const char *what, const float *shard_g, const float *whole_g,
                              int64_t first, int64_t count, int64_t per_image)
{
    int64_t bad = 0, first_bad = -1;
    for (int64_t x = 0; x < count; x++)
        if (memcmp(&shard_g[x], &whole_g[first + x], sizeof(float)) != 0) {
            if (first_bad < 0)
                first_bad = x;
            bad++;
        }
    if (bad == 0) {
        check(1, "%s", what);
        return;
    }
    const int64_t at = first + first_bad;
    check(0,
          "%s: gradient differs from the whole batch's at %lld of %lld entries; first at "
          "entry %lld (image %lld, offset %lld in the image): shard %.9g, whole %.9g",
          what, (long long)bad, (long long)count, (long long)at, (long long)(at / per_image),
          (long long)(at % per_image), (double)shard_g[first_bad], (double)whole_g[at]);
}

static void run_case(const shard_case *c, const char *variant)
{
    char what[160];
    rl_config cfg = c->cfg;
    cfg.variant = variant;
    rl_plan *plan = NULL;
    rl_status st = rl_plan_create(&cfg, &plan);
    snprintf(what, sizeof what, "%s [%s]", c->name, st == RL_OK ? rl_plan_variant(plan) : "?");
    check(st == RL_OK, "%s: rl_plan_create: %s", what, rl_last_error());
    if (!all_ok(st == RL_OK)) {
        rl_plan_destroy(plan);
        return;
    }
    const int is_reference = strcmp(rl_plan_variant(plan), "reference") == 0;
    const int64_t slots_per_image = (int64_t)cfg.H * cfg.W * cfg.B;
    const int64_t entries = c->n_images * c->per_image;

    /* The whole batch, single-process. */
    rl_batch whole_b = {0};
    whole_b.n_images = c->n_images;
    whole_b.pred = c->pred;
    whole_b.truths = c->truths;
    whole_b.truth_offsets = c->offsets;
    whole_b.seen = c->seen;
    rl_result whole;
    rl_counts whole_counts;
    float *whole_g = malloc((size_t)entries * sizeof *whole_g);
    shard s = {0};
    int ok = whole_g && shard_make(c, &s) == 0;
    if (ok) {
        prefill(whole_g, 0, entries);
        st = rl_compute(plan, &whole_b, &whole, whole_g);
        if (st == RL_OK)
            st = rl_count(plan, &whole_b, &whole_counts);
        check(st == RL_OK, "%s: whole batch: %s", what, rl_last_error());
        ok = st == RL_OK;
    } else {
        check(0, "%s: out of memory", what);
    }

    /* The trainer's step: count, all-reduce, compute with global counts. */
    rl_counts own = {0}, global = {0};
    const int64_t shard_entries = (int64_t)(s.hi - s.lo) * c->per_image;
    float *shard_g = ok ? malloc((size_t)shard_entries * sizeof *shard_g) : NULL;
    if (ok) {
        st = rl_count(plan, &s.batch, &own);
        check(st == RL_OK, "%s: rl_count of shard [%d, %d): %s", what, (int)s.lo, (int)s.hi,
              rl_last_error());
        ok = st == RL_OK && shard_g;
    }
    if (!all_ok(ok))
        goto done;
    MPI_Allreduce(&own, &global, 4, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    check(global.n_obj == whole_counts.n_obj && global.n_noobj == whole_counts.n_noobj &&
              global.n_conf == whole_counts.n_conf && global.n_images == c->n_images,
          "%s: all-reduced counts (%lld, %lld, %lld, %lld images) != whole batch's "
          "(%lld, %lld, %lld, %d images)",
          what, (long long)global.n_obj, (long long)global.n_noobj, (long long)global.n_conf,
          (long long)global.n_images, (long long)whole_counts.n_obj,
          (long long)whole_counts.n_noobj, (long long)whole_counts.n_conf, (int)c->n_images);
    check(whole_counts.n_obj == whole.n_obj && whole_counts.n_noobj == whole.n_noobj &&
              whole_counts.n_conf == whole.n_conf,
          "%s: rl_count and rl_compute disagree on the whole batch's counts", what);

    s.batch.global_counts = &global;
    rl_result part;
    prefill(shard_g, (int64_t)s.lo * c->per_image, shard_entries);
    st = rl_compute(plan, &s.batch, &part, shard_g);
    check(st == RL_OK, "%s: rl_compute of shard [%d, %d): %s", what, (int)s.lo, (int)s.hi,
          rl_last_error());
    if (!all_ok(st == RL_OK))
        goto done;
    check(part.n_obj == own.n_obj && part.n_noobj == own.n_noobj && part.n_conf == own.n_conf,
          "%s: shard's rl_compute counts differ from its rl_count", what);

    double d[D_COUNT], dsum[D_COUNT], dwhole[D_COUNT];
    int64_t iv[I_COUNT], isum[I_COUNT], iwhole[I_COUNT];
    additive(&part, (int64_t)(s.hi - s.lo) * slots_per_image, d, iv);
    additive(&whole, (int64_t)c->n_images * slots_per_image, dwhole, iwhole);
    MPI_Allreduce(d, dsum, D_COUNT, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(iv, isum, I_COUNT, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);

    const double tol = part_tolerance(is_reference, entries);
    for (int k = 0; k < D_COUNT; k++)
        check(rel_close(dsum[k], dwhole[k], tol),
              "%s: %s: all-reduced %.17g, whole batch %.17g (relative %.3g > %.3g)", what,
              d_names[k], dsum[k], dwhole[k],
              fabs(dsum[k] - dwhole[k]) / fmax(fabs(dwhole[k]), 1e-300), tol);
    for (int k = 0; k < I_COUNT; k++)
        check(isum[k] == iwhole[k], "%s: %s: all-reduced %lld, whole batch %lld", what,
              i_names[k], (long long)isum[k], (long long)iwhole[k]);

    /* The averages a trainer prints, rebuilt from the sums as docs say. */
    const double no = (double)isum[I_NOBJ], nn = (double)isum[I_NNOOBJ];
    const struct {
        const char *name;
        double got, want;
    } avg[] = {
        {"avg_iou", no ? dsum[D_SUM_IOU] / no : 0, whole.avg_iou},
        {"recall50", no ? (double)isum[I_RECALL50] / no : 0, whole.recall50},
        {"recall75", no ? (double)isum[I_RECALL75] / no : 0, whole.recall75},
        {"avg_obj", no ? dsum[D_SUM_OBJ] / no : 0, whole.avg_obj},
        {"avg_cls", no ? dsum[D_SUM_CLS] / no : 0, whole.avg_cls},
        {"avg_noobj", nn ? dsum[D_SUM_NOOBJ] / nn : 0, whole.avg_noobj},
    };
    for (size_t k = 0; k < sizeof avg / sizeof avg[0]; k++)
        check(rel_close(avg[k].got, avg[k].want, tol),
              "%s: %s from all-reduced sums %.17g, whole batch %.17g", what, avg[k].name,
              avg[k].got, avg[k].want);

    compare_gradients(what, shard_g, whole_g, (int64_t)s.lo * c->per_image, shard_entries,
                      c->per_image);

    /* Control: without global_counts each shard normalises by its own counts,
     * and the sum of the shards' losses is not the batch's loss. */
    double naive_sum = NAN;
    if (c->naive_differs && g_ranks > 1) {
        rl_result naive;
        s.batch.global_counts = NULL;
        st = rl_compute(plan, &s.batch, &naive, NULL);
        check(st == RL_OK, "%s: rl_compute without global counts: %s", what, rl_last_error());
        if (all_ok(st == RL_OK)) {
            MPI_Allreduce(&naive.loss, &naive_sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            check(!rel_close(naive_sum, whole.loss, 1e-6),
                  "%s: per-shard normalisation gave the whole batch's loss %.17g; this "
                  "batch does not tell the two apart",
                  what, whole.loss);
        }
    }
    if (g_rank == 0) {
        printf("%-34s %-10s loss %.15g  n_obj %lld n_conf %lld", c->name,
               rl_plan_variant(plan), dsum[D_LOSS], (long long)global.n_obj,
               (long long)global.n_conf);
        if (!isnan(naive_sum))
            printf("  (per-shard normalisation: %.6g)", naive_sum);
        putchar('\n');
    }

done:
    free(shard_g);
    free(whole_g);
    free(s.offsets);
    rl_plan_destroy(plan);
}

/* Channel k (0 .. 4+C) of gradient entry x of an image-aligned buffer. */
static int64_t channel_of(const rl_config *cfg, int64_t x)
{
    const int64_t K = 5 + cfg->C, HW = (int64_t)cfg->H * cfg->W;
    return cfg->layout == RL_LAYOUT_NCHW ? (x / HW) % K : x % K;
}

/* The one-pass alternative docs/data-parallel.md describes: the shard runs
 * in sum mode (its counts come back in the result), the counts are
 * all-reduced, and the caller divides the gradient itself: channel 4 by
 * N_conf and the others by N_obj (counts mode), or everything by the images
 * (images mode), as a multiply by the double reciprocal, as the example
 * does.  The divided gradient is rounded to float twice (once by the
 * library, once after the multiply) against once for the direct call, each
 * rounding within 2^-24 relative, and the double-precision reciprocal and
 * factor order add ~1e-16: so every entry is within 3 * 2^-24 of the whole
 * batch's, checked as 2^-22 relative.  The parts divided by the global counts match
 * to the same 1e-12 as the direct call. */
static void run_sum_rescale(const shard_case *c)
{
    if (c->cfg.norm == RL_NORM_SUM || c->cfg.grad_mode != RL_GRAD_OVERWRITE)
        return; /* nothing to divide; accumulate would divide what was there */
    char what[160];
    snprintf(what, sizeof what, "%s [reference, sum + divide]", c->name);
    rl_config cfg = c->cfg;
    cfg.variant = "reference";
    rl_plan *direct = NULL, *sum = NULL;
    rl_status st = rl_plan_create(&cfg, &direct);
    cfg.norm = RL_NORM_SUM;
    if (st == RL_OK)
        st = rl_plan_create(&cfg, &sum);
    check(st == RL_OK, "%s: rl_plan_create: %s", what, rl_last_error());
    const int64_t entries = c->n_images * c->per_image;
    float *whole_g = malloc((size_t)entries * sizeof *whole_g);
    shard s = {0};
    int ok = st == RL_OK && whole_g && shard_make(c, &s) == 0;
    const int64_t shard_entries = (int64_t)(s.hi - s.lo) * c->per_image;
    float *shard_g = ok ? malloc((size_t)shard_entries * sizeof *shard_g) : NULL;
    rl_batch whole_b = {0};
    whole_b.n_images = c->n_images;
    whole_b.pred = c->pred;
    whole_b.truths = c->truths;
    whole_b.truth_offsets = c->offsets;
    whole_b.seen = c->seen;
    rl_result whole, part;
    if (ok && shard_g) {
        st = rl_compute(direct, &whole_b, &whole, whole_g);
        if (st == RL_OK)
            st = rl_compute(sum, &s.batch, &part, shard_g);
        check(st == RL_OK, "%s: rl_compute: %s", what, rl_last_error());
    } else {
        check(0, "%s: out of memory", what);
    }
    if (all_ok(ok && shard_g && st == RL_OK)) {
        int64_t own[3] = {part.n_obj, part.n_conf, s.hi - s.lo}, g[3];
        MPI_Allreduce(own, g, 3, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
        const int images = c->cfg.norm == RL_NORM_IMAGES;
        const double div_obj = images ? (double)g[2] : (double)g[0];
        const double div_conf = images ? (double)g[2] : (double)g[1];
        const int64_t first = (int64_t)s.lo * c->per_image;
        int64_t bad = 0, first_bad = -1;
        float first_got = 0;
        for (int64_t x = 0; x < shard_entries; x++) {
            const double div = channel_of(&c->cfg, x) == 4 ? div_conf : div_obj;
            const float got = div > 0 ? (float)(shard_g[x] * (1.0 / div)) : 0.0f;
            const double want = whole_g[first + x];
            if (!(fabs(got - want) <= 0x1.0p-22 * fabs(want))) {
                if (first_bad < 0) {
                    first_bad = x;
                    first_got = got;
                }
                bad++;
            }
        }
        check(bad == 0,
              "%s: %lld divided gradient entries off by more than 2^-22 relative; first at "
              "entry %lld: divided %.9g, whole batch %.9g",
              what, (long long)bad, (long long)(first + first_bad), (double)first_got,
              bad ? (double)whole_g[first + first_bad] : 0.0);
        /* Parts: coord and class by N_obj, objectness by N_conf. */
        double mine[5] = {part.coord, part.cls, part.obj, part.noobj, part.warmup}, sums[5];
        MPI_Allreduce(mine, sums, 5, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        const double divs[5] = {div_obj, div_obj, div_conf, div_conf, div_obj};
        const double wants[5] = {whole.coord, whole.cls, whole.obj, whole.noobj, whole.warmup};
        for (int k = 0; k < 5; k++) {
            const double got = divs[k] > 0 ? sums[k] / divs[k] : 0.0;
            check(rel_close(got, wants[k], 1e-12), "%s: %s divided: %.17g, whole batch %.17g",
                  what, d_names[D_COORD + k], got, wants[k]);
        }
    }
    free(shard_g);
    free(whole_g);
    free(s.offsets);
    rl_plan_destroy(sum);
    rl_plan_destroy(direct);
}

/* ---- the [yolo] heads ------------------------------------------------------
 * The same trainer's step for a network of [yolo] heads: norm images needs
 * only the batch's image count, so the shard all-reduces its n_images and
 * passes them as global_counts->n_images; norm sum needs nothing.  Every
 * head's gradient slice must be the whole batch's bit for bit, and every
 * head's parts, counts and darknet statistics (as sums) and the total's
 * must add up to the whole batch's. */
static void run_yolo_case(const yolo_shard_case *c, const char *variant)
{
    char what[160];
    rl_yolo_config cfg = c->cfg;
    cfg.variant = variant;
    rl_yolo_plan *plan = NULL;
    rl_status st = rl_yolo_plan_create(&cfg, &plan);
    snprintf(what, sizeof what, "%s [%s]", c->name,
             st == RL_OK ? rl_yolo_plan_variant(plan) : "?");
    check(st == RL_OK, "%s: rl_yolo_plan_create: %s", what, rl_last_error());
    if (!all_ok(st == RL_OK)) {
        rl_yolo_plan_destroy(plan);
        return;
    }
    enum { NH = YOLO_SHARD_HEADS };
    _Static_assert(YOLO_SHARD_HEADS == 3, "the pointer arrays below list three heads");
    const int is_reference = strcmp(rl_yolo_plan_variant(plan), "reference") == 0;
    int32_t lo, hi;
    shard_partition(c->n_images, g_ranks, g_rank, &lo, &hi);
    const int32_t n = hi - lo;
    int64_t entries = 0, slots[NH];
    float *whole_g[NH] = {0}, *shard_g[NH] = {0};
    const void *whole_p[NH], *shard_p[NH];
    int ok = 1;
    for (int h = 0; h < NH; h++) {
        entries += c->n_images * c->per_image[h];
        slots[h] = (int64_t)c->heads[h].H * c->heads[h].W * c->heads[h].B;
        whole_g[h] = malloc((size_t)(c->n_images * c->per_image[h]) * sizeof(float));
        shard_g[h] = malloc((size_t)((n ? n : 1) * c->per_image[h]) * sizeof(float));
        ok &= whole_g[h] && shard_g[h];
        whole_p[h] = c->pred[h];
        shard_p[h] = c->pred[h] + (int64_t)lo * c->per_image[h];
    }
    int64_t *offsets = malloc((size_t)(n + 1) * sizeof *offsets);
    ok &= offsets != NULL;
    rl_result whole, whole_h[NH], part, part_h[NH];
    if (ok) {
        for (int32_t k = 0; k <= n; k++)
            offsets[k] = c->offsets[lo + k] - c->offsets[lo];
        rl_yolo_batch wb = {0};
        wb.n_images = c->n_images;
        wb.preds = whole_p;
        wb.truths = c->truths;
        wb.truth_offsets = c->offsets;
        for (int h = 0; h < NH; h++)
            prefill(whole_g[h], 0, c->n_images * c->per_image[h]);
        void *const wgp[NH] = {whole_g[0], whole_g[1], whole_g[2]};
        st = rl_yolo_compute(plan, &wb, &whole, whole_h, wgp);
        check(st == RL_OK, "%s: whole batch: %s", what, rl_last_error());
        ok = st == RL_OK;
    } else {
        check(0, "%s: out of memory", what);
    }
    if (!all_ok(ok))
        goto done;

    /* The trainer's step: the images of every shard, then the shard's call. */
    rl_counts global = {0, 0, 0, 0};
    const int64_t own = n;
    MPI_Allreduce(&own, &global.n_images, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    check(global.n_images == c->n_images, "%s: all-reduced images %lld, batch %d", what,
          (long long)global.n_images, (int)c->n_images);
    rl_yolo_batch sb = {0};
    sb.n_images = n;
    sb.preds = shard_p;
    sb.truths = offsets[n] > 0 ? c->truths + c->offsets[lo] : NULL;
    sb.truth_offsets = offsets;
    sb.global_counts = cfg.norm == RL_NORM_IMAGES ? &global : NULL;
    for (int h = 0; h < NH; h++)
        prefill(shard_g[h], (int64_t)lo * c->per_image[h], n * c->per_image[h]);
    void *const sgp[NH] = {shard_g[0], shard_g[1], shard_g[2]};
    st = rl_yolo_compute(plan, &sb, &part, part_h, sgp);
    check(st == RL_OK, "%s: shard [%d, %d): %s", what, (int)lo, (int)hi, rl_last_error());
    if (!all_ok(st == RL_OK))
        goto done;

    for (int h = 0; h < NH; h++) {
        char hw[200];
        snprintf(hw, sizeof hw, "%s head %d", what, h);
        compare_gradients(hw, shard_g[h], whole_g[h], (int64_t)lo * c->per_image[h],
                          n * c->per_image[h], c->per_image[h]);
    }
    const double tol = part_tolerance(is_reference, entries);
    for (int h = -1; h < NH; h++) {
        const rl_result *pr = h < 0 ? &part : &part_h[h], *wr = h < 0 ? &whole : &whole_h[h];
        int64_t sl = 0;
        for (int q = 0; q < NH; q++)
            sl += (h < 0 || q == h) ? slots[q] : 0;
        double d[D_COUNT], dsum[D_COUNT], dwhole[D_COUNT];
        int64_t iv[I_COUNT], isum[I_COUNT], iwhole[I_COUNT];
        additive(pr, n * sl, d, iv);
        additive(wr, c->n_images * sl, dwhole, iwhole);
        MPI_Allreduce(d, dsum, D_COUNT, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        MPI_Allreduce(iv, isum, I_COUNT, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
        char hw[200];
        if (h < 0)
            snprintf(hw, sizeof hw, "%s total", what);
        else
            snprintf(hw, sizeof hw, "%s head %d", what, h);
        for (int k = 0; k < D_COUNT; k++)
            check(rel_close(dsum[k], dwhole[k], tol),
                  "%s: %s: all-reduced %.17g, whole batch %.17g (relative %.3g > %.3g)", hw,
                  d_names[k], dsum[k], dwhole[k],
                  fabs(dsum[k] - dwhole[k]) / fmax(fabs(dwhole[k]), 1e-300), tol);
        /* n_truths is the call's truths in every head: it adds up like the rest */
        for (int k = 0; k < I_COUNT; k++)
            check(isum[k] == iwhole[k], "%s: %s: all-reduced %lld, whole batch %lld", hw,
                  i_names[k], (long long)isum[k], (long long)iwhole[k]);
    }
    check(whole.n_obj > 0 || c->offsets[c->n_images] == 0, "%s: no positive: vacuous", what);

    double naive_sum = NAN;
    if (c->naive_differs && g_ranks > 1) {
        rl_result naive;
        sb.global_counts = NULL;
        st = rl_yolo_compute(plan, &sb, &naive, NULL, NULL);
        check(st == RL_OK, "%s: without global counts: %s", what, rl_last_error());
        if (all_ok(st == RL_OK)) {
            MPI_Allreduce(&naive.loss, &naive_sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            check(!rel_close(naive_sum, whole.loss, 1e-6),
                  "%s: per-shard normalisation gave the whole batch's loss %.17g", what,
                  whole.loss);
        }
    }
    if (g_rank == 0) {
        printf("%-34s %-10s loss %.15g  n_obj %lld n_noobj %lld", c->name,
               rl_yolo_plan_variant(plan), whole.loss, (long long)whole.n_obj,
               (long long)whole.n_noobj);
        if (!isnan(naive_sum))
            printf("  (per-shard normalisation: %.6g)", naive_sum);
        putchar('\n');
    }
done:
    for (int h = 0; h < NH; h++) {
        free(whole_g[h]);
        free(shard_g[h]);
    }
    free(offsets);
    rl_yolo_plan_destroy(plan);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_ranks);

    /* The reference is the oracle; NULL is whatever a trainer gets by
     * default (the CPU's best variant, or REGIONLOSS_VARIANT). */
    const char *const variants[] = {"reference", NULL};
    for (int k = 0; k < shard_case_count(); k++) {
        shard_case c;
        int built = shard_case_build(k, &c) == 0;
        check(built, "case %d: out of memory", k);
        if (!all_ok(built)) {
            if (built)
                shard_case_free(&c);
            continue;
        }
        if (c.n_images < g_ranks) {
            check(0, "%s: %d ranks but only %d images", c.name, g_ranks, (int)c.n_images);
        } else {
            for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++)
                run_case(&c, variants[v]);
            run_sum_rescale(&c);
        }
        shard_case_free(&c);
    }
    for (int k = 0; k < yolo_shard_case_count(); k++) {
        yolo_shard_case c;
        int built = yolo_shard_case_build(k, &c) == 0;
        check(built, "yolo case %d: out of memory", k);
        if (!all_ok(built)) {
            if (built)
                yolo_shard_case_free(&c);
            continue;
        }
        if (c.n_images < g_ranks)
            check(0, "%s: %d ranks but only %d images", c.name, g_ranks, (int)c.n_images);
        else
            for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++)
                run_yolo_case(&c, variants[v]);
        yolo_shard_case_free(&c);
    }

    long mine[2] = {g_passed, g_failed}, total[2];
    MPI_Allreduce(mine, total, 2, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (g_rank == 0)
        printf("%d ranks: %ld passed, %ld failed\n", g_ranks, total[0], total[1]);
    MPI_Finalize();
    return total[1] ? 1 : 0;
}
