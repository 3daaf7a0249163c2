/* The reference against goldens from an independent implementation: every
 * file under $REGIONLOSS_TEST_DATA/goldens was computed by
 * tools/goldens/make_goldens.py, written from docs/loss.md and issue 5 in
 * PyTorch float64 with autograd, sharing no code with src/scalar/reference.c.
 *
 * Tolerance.  A value v matches its golden g when
 *     |v - g| <= 1e-12 * max(|g|, 1e-12 * scale)
 * where scale is the largest |entry| of that family in the case (the largest
 * |gradient entry|, |loss|, or 1 for the diagnostics, which are averages of
 * values in [0, 1]).  The generator redraws any input whose golden entry is a
 * cancellation (a coordinate next to its target, c^ next to its IoU target, a
 * best IoU next to thresh, ...), so every nonzero golden carries ~15 correct
 * digits and two correct double implementations differ by a few ulps: 1e-12
 * relative leaves three digits of room for different evaluation orders and
 * nothing for a wrong formula.  The floor 1e-24 * scale only gives the
 * comparison a meaning when g is 0: an entry docs/loss.md makes 0 must come out
 * 0 up to a residue 24 orders below the case's largest entry, i.e. exactly
 * in practice.  Counts must be equal. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_file.h"
#include "internal.h"
#include "scalar/reference.h"

#define REL_TOL 1e-12
#define MAX_REPORTS 12 /* mismatching gradient entries printed per file */

typedef struct checker {
    const char *file;
    int failures;
    double worst_rel; /* largest |v - g| / |g| over nonzero goldens: the headroom */
} checker;

static void note_rel(checker *ck, double v, double g)
{
    if (g != 0 && fabs(v - g) / fabs(g) > ck->worst_rel)
        ck->worst_rel = fabs(v - g) / fabs(g);
}

static int close_enough(double v, double g, double scale)
{
    const double floor_ = 1e-12 * scale;
    return fabs(v - g) <= REL_TOL * (fabs(g) > floor_ ? fabs(g) : floor_);
}

static void check_value(checker *ck, const char *field, double v, double g, double scale)
{
    note_rel(ck, v, g);
    if (close_enough(v, g, scale))
        return;
    ck->failures++;
    fprintf(stderr, "%s: %s: reference %.17g, golden %.17g (diff %.3g, rel %.3g)\n", ck->file,
            field, v, g, v - g, g != 0 ? fabs(v - g) / fabs(g) : INFINITY);
}

static void check_count(checker *ck, const char *field, int64_t v, int64_t g)
{
    if (v == g)
        return;
    ck->failures++;
    fprintf(stderr, "%s: %s: reference %lld, golden %lld\n", ck->file, field, (long long)v,
            (long long)g);
}

/* (n, i, j, b, k) of a flat offset, inverting docs/loss.md's formulas. */
static void entry_coords(const rl_params *p, int64_t x, int64_t c[5])
{
    const int64_t K = p->K, H = p->H, W = p->W, B = p->B;
    if (p->layout == RL_LAYOUT_NCHW) {
        c[2] = x % W;
        x /= W;
        c[1] = x % H;
        x /= H;
        c[4] = x % K;
        x /= K;
        c[3] = x % B;
        c[0] = x / B;
    } else {
        c[4] = x % K;
        x /= K;
        c[3] = x % B;
        x /= B;
        c[2] = x % W;
        x /= W;
        c[1] = x % H;
        c[0] = x / H;
    }
}

static void check_case(checker *ck, const golden *g)
{
    rl_config cfg = g->cfg;
    cfg.variant = "reference";
    rl_plan *plan = NULL;
    rl_status st = rl_plan_create(&cfg, &plan);
    if (st != RL_OK) {
        ck->failures++;
        fprintf(stderr, "%s: rl_plan_create: %s: %s\n", ck->file, rl_status_name(st),
                rl_last_error());
        return;
    }
    const rl_params *p = &plan->p;
    rl_batch batch = {0};
    batch.n_images = g->n_images;
    batch.pred = g->pred;
    batch.truths = g->truths;
    batch.truth_offsets = g->offsets;
    batch.seen = g->seen;

    size_t count = 0;
    st = rl_plan_tensor_size(plan, g->n_images, &count);
    if (st == RL_OK && (int64_t)count != g->n_pred) {
        ck->failures++;
        fprintf(stderr, "%s: tensor size %zu, golden has %lld predictions\n", ck->file, count,
                (long long)g->n_pred);
        rl_plan_destroy(plan);
        return;
    }
    if (st == RL_OK)
        st = rl_validate_batch(p, &batch);
    if (st != RL_OK) {
        ck->failures++;
        fprintf(stderr, "%s: the batch is rejected: %s: %s\n", ck->file, rl_status_name(st),
                rl_last_error());
        rl_plan_destroy(plan);
        return;
    }

    rl_ref_out out = {0};
    out.grad = malloc(count * sizeof *out.grad);
    out.touched = malloc(count);
    cr_assert_not_null(out.grad);
    cr_assert_not_null(out.touched);
    rl_result res;
    memset(&res, 0, sizeof res);
    st = rl_reference_compute(p, &batch, NULL, &res, &out);
    if (st != RL_OK) {
        ck->failures++;
        fprintf(stderr, "%s: rl_reference_compute: %s: %s\n", ck->file, rl_status_name(st),
                rl_last_error());
        goto done;
    }

    const double lscale = fabs(g->loss);
    check_value(ck, "loss", res.loss, g->loss, lscale);
    check_value(ck, "coord", res.coord, g->coord, lscale);
    check_value(ck, "cls", res.cls, g->cls, lscale);
    check_value(ck, "obj", res.obj, g->obj, lscale);
    check_value(ck, "noobj", res.noobj, g->noobj, lscale);
    check_value(ck, "warmup", res.warmup, g->warmup, lscale);

    check_count(ck, "n_obj", res.n_obj, g->n_obj);
    check_count(ck, "n_noobj", res.n_noobj, g->n_noobj);
    check_count(ck, "n_conf", res.n_conf, g->n_conf);
    check_count(ck, "n_truths", res.n_truths, g->n_truths_expected);
    check_count(ck, "n_recall50", res.n_recall50, g->n_recall50);
    check_count(ck, "n_recall75", res.n_recall75, g->n_recall75);

    check_value(ck, "avg_iou", res.avg_iou, g->avg_iou, 1.0);
    check_value(ck, "recall50", res.recall50, g->recall50, 1.0);
    check_value(ck, "recall75", res.recall75, g->recall75, 1.0);
    check_value(ck, "avg_obj", res.avg_obj, g->avg_obj, 1.0);
    check_value(ck, "avg_noobj", res.avg_noobj, g->avg_noobj, 1.0);
    check_value(ck, "avg_cls", res.avg_cls, g->avg_cls, 1.0);
    /* Sums of up to n values in [0, 1]. */
    const double nscale = (double)(g->n_obj + g->n_noobj + 1);
    check_value(ck, "sum_iou", res.sum_iou, g->sum_iou, nscale);
    check_value(ck, "sum_obj", res.sum_obj, g->sum_obj, nscale);
    check_value(ck, "sum_noobj", res.sum_noobj, g->sum_noobj, nscale);
    check_value(ck, "sum_cls", res.sum_cls, g->sum_cls, nscale);

    /* In spec mode the golden's darknet line is all zeros, as the header
     * promises for rl_result.darknet. */
    const golden_darknet *gd = &g->darknet;
    check_value(ck, "darknet.avg_iou", res.darknet.avg_iou, gd->avg_iou, 1.0);
    check_value(ck, "darknet.recall", res.darknet.recall, gd->recall, 1.0);
    check_value(ck, "darknet.recall75", res.darknet.recall75, gd->recall75, 1.0);
    check_value(ck, "darknet.avg_cls", res.darknet.avg_cls, gd->avg_cls, 1.0);
    check_value(ck, "darknet.avg_obj", res.darknet.avg_obj, gd->avg_obj, 1.0);
    check_value(ck, "darknet.avg_anyobj", res.darknet.avg_anyobj, gd->avg_anyobj, 1.0);
    check_value(ck, "darknet.cost", res.darknet.cost, gd->cost, fabs(gd->cost));
    check_count(ck, "darknet.count", res.darknet.count, gd->count);

    double gscale = 0;
    for (int64_t x = 0; x < g->n_pred; x++)
        if (fabs(g->grad[x]) > gscale)
            gscale = fabs(g->grad[x]);
    int reported = 0, bad = 0;
    for (int64_t x = 0; x < g->n_pred; x++) {
        note_rel(ck, out.grad[x], g->grad[x]);
        const int ok_value = close_enough(out.grad[x], g->grad[x], gscale);
        /* A term the golden has must be one the reference says it has. */
        const int ok_touched = g->grad[x] == 0 || out.touched[x];
        if (ok_value && ok_touched)
            continue;
        bad++;
        if (reported++ < MAX_REPORTS) {
            int64_t c[5];
            entry_coords(p, x, c);
            fprintf(stderr,
                    "%s: grad[%lld] (n %lld, i %lld, j %lld, b %lld, k %lld): reference "
                    "%.17g%s, golden %.17g (rel %.3g)\n",
                    ck->file, (long long)x, (long long)c[0], (long long)c[1], (long long)c[2],
                    (long long)c[3], (long long)c[4], out.grad[x],
                    ok_touched ? "" : " (not touched)", g->grad[x],
                    g->grad[x] != 0 ? fabs(out.grad[x] - g->grad[x]) / fabs(g->grad[x])
                                    : INFINITY);
        }
    }
    if (bad) {
        ck->failures += bad;
        fprintf(stderr, "%s: %d of %lld gradient entries differ\n", ck->file, bad,
                (long long)g->n_pred);
    }
done:
    free(out.grad);
    free(out.touched);
    rl_plan_destroy(plan);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(goldens, reference_matches_autograd)
{
    const char *data = getenv("REGIONLOSS_TEST_DATA");
    cr_assert_not_null(data, "REGIONLOSS_TEST_DATA is not set (meson test sets it)");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/goldens", data);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    char *names[1024];
    int n_files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n_files < 1024) {
        size_t len = strlen(e->d_name);
        /* yolo_*.txt are the [yolo] head's (test_yolo_goldens.c) */
        if (len > 4 && strcmp(e->d_name + len - 4, ".txt") == 0 &&
            strncmp(e->d_name, "yolo_", 5) != 0)
            names[n_files++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n_files, sizeof *names, by_name);

    int failures = 0, n_spec = 0, n_darknet = 0, n_nhwc = 0;
    double worst_rel = 0;
    for (int f = 0; f < n_files; f++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        golden g;
        char err[512];
        checker ck = {names[f], 0, 0.0};
        if (golden_load(path, &g, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            failures++;
        } else {
            check_case(&ck, &g);
            failures += ck.failures;
            if (ck.worst_rel > worst_rel)
                worst_rel = ck.worst_rel;
            if (g.cfg.mode == RL_MODE_DARKNET)
                n_darknet++;
            else
                n_spec++;
            n_nhwc += g.cfg.layout == RL_LAYOUT_NHWC;
            golden_free(&g);
        }
        free(names[f]);
    }
    printf("goldens: %d files, largest relative difference %.3g (tolerance %.0e)\n", n_files,
           worst_rel, REL_TOL);
    /* Issue 2 asks for at least 20 spec cases, issue 5's mode gets 8: a
     * missing or truncated data directory must not pass quietly. */
    cr_expect_geq(n_spec, 20, "only %d spec-mode goldens in %s", n_spec, dir);
    cr_expect_geq(n_darknet, 8, "only %d darknet-mode goldens in %s", n_darknet, dir);
    cr_expect_geq(n_nhwc, 1, "no NHWC golden in %s", dir);
    cr_assert_eq(failures, 0, "%d mismatches against the goldens (listed on stderr)",
                 failures);
}
