/* The [yolo] reference against goldens from an independent implementation:
 * every $REGIONLOSS_TEST_DATA/goldens/yolo_*.txt was computed by
 * tools/goldens/make_yolo_goldens.py, written from docs/loss.md's [yolo] head
 * and docs/api.md's result fields in PyTorch float64 with autograd, sharing no
 * code with src/scalar/yolo_reference.c.
 *
 * For the call's total and for every head: the loss and its parts, the
 * counts, the diagnostics and their raw sums, darknet's line and cost, and
 * every gradient entry of every head, for the default box term and for each
 * IoU-family one (files with a box_loss line).  Tolerance as tests/goldens/
 * test_goldens.c: a value v matches its golden g when
 *     |v - g| <= 1e-12 * max(|g|, 1e-12 * scale)
 * with scale the largest |entry| of that family (the head's largest
 * |gradient entry|, |loss|, |cost|, 1 for averages, the slot count for
 * sums of values in [0, 1]); the generator redraws every input whose golden
 * would be a cancellation or a decision within rounding of a threshold, so
 * two correct double implementations differ by a few ulps.  Counts must be
 * equal.
 *
 * The plan is made by rl_yolo_plan_create with variant "reference" and the
 * batch goes through rl_yolo_compute first (so it is one the public API
 * accepts); the double gradient comes from rl_yolo_reference_compute, and
 * the public call's results must be the same numbers bit for bit, its float
 * gradient each double entry rounded once. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "scalar/yolo_reference.h"
#include "yolo_golden_file.h"

#define REL_TOL 1e-12
#define MAX_REPORTS 12

typedef struct checker {
    const char *file;
    char where[32]; /* "total" or "head h" */
    int failures;
    double worst_rel;
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
    fprintf(stderr, "%s: %s: %s: reference %.17g, golden %.17g (diff %.3g, rel %.3g)\n",
            ck->file, ck->where, field, v, g, v - g,
            g != 0 ? fabs(v - g) / fabs(g) : INFINITY);
}

static void check_count(checker *ck, const char *field, int64_t v, int64_t g)
{
    if (v == g)
        return;
    ck->failures++;
    fprintf(stderr, "%s: %s: %s: reference %lld, golden %lld\n", ck->file, ck->where, field,
            (long long)v, (long long)g);
}

static void check_result(checker *ck, const rl_result *r, const yolo_golden_result *g,
                         int64_t slots)
{
    const double lscale = fabs(g->loss);
    check_value(ck, "loss", r->loss, g->loss, lscale);
    check_value(ck, "coord", r->coord, g->coord, lscale);
    check_value(ck, "cls", r->cls, g->cls, lscale);
    check_value(ck, "obj", r->obj, g->obj, lscale);
    check_value(ck, "noobj", r->noobj, g->noobj, lscale);
    check_value(ck, "warmup", r->warmup, g->warmup, lscale);
    check_count(ck, "n_obj", r->n_obj, g->n_obj);
    check_count(ck, "n_noobj", r->n_noobj, g->n_noobj);
    check_count(ck, "n_conf", r->n_conf, g->n_conf);
    check_count(ck, "n_truths", r->n_truths, g->n_truths);
    check_count(ck, "n_recall50", r->n_recall50, g->n_recall50);
    check_count(ck, "n_recall75", r->n_recall75, g->n_recall75);
    check_value(ck, "avg_iou", r->avg_iou, g->avg_iou, 1.0);
    check_value(ck, "recall50", r->recall50, g->recall50, 1.0);
    check_value(ck, "recall75", r->recall75, g->recall75, 1.0);
    check_value(ck, "avg_obj", r->avg_obj, g->avg_obj, 1.0);
    check_value(ck, "avg_noobj", r->avg_noobj, g->avg_noobj, 1.0);
    check_value(ck, "avg_cls", r->avg_cls, g->avg_cls, 1.0);
    check_value(ck, "sum_iou", r->sum_iou, g->sum_iou, (double)slots);
    check_value(ck, "sum_obj", r->sum_obj, g->sum_obj, (double)slots);
    check_value(ck, "sum_noobj", r->sum_noobj, g->sum_noobj, (double)slots);
    check_value(ck, "sum_cls", r->sum_cls, g->sum_cls, (double)slots);
    const golden_darknet *gd = &g->darknet;
    check_value(ck, "darknet.avg_iou", r->darknet.avg_iou, gd->avg_iou, 1.0);
    check_value(ck, "darknet.recall", r->darknet.recall, gd->recall, 1.0);
    check_value(ck, "darknet.recall75", r->darknet.recall75, gd->recall75, 1.0);
    check_value(ck, "darknet.avg_cls", r->darknet.avg_cls, gd->avg_cls, 1.0);
    check_value(ck, "darknet.avg_obj", r->darknet.avg_obj, gd->avg_obj, 1.0);
    check_value(ck, "darknet.avg_anyobj", r->darknet.avg_anyobj, gd->avg_anyobj, 1.0);
    check_value(ck, "darknet.cost", r->darknet.cost, gd->cost, fabs(gd->cost));
    check_count(ck, "darknet.count", r->darknet.count, gd->count);
}

static void check_grad(checker *ck, const rl_params *p, const double *v, const uint8_t *touched,
                       const double *g, int64_t count)
{
    double gscale = 0;
    for (int64_t x = 0; x < count; x++)
        if (fabs(g[x]) > gscale)
            gscale = fabs(g[x]);
    int reported = 0, bad = 0;
    for (int64_t x = 0; x < count; x++) {
        note_rel(ck, v[x], g[x]);
        const int ok_value = close_enough(v[x], g[x], gscale);
        const int ok_touched = g[x] == 0 || touched[x];
        if (ok_value && ok_touched)
            continue;
        bad++;
        if (reported++ < MAX_REPORTS)
            fprintf(stderr, "%s: %s: grad[%lld] (entry %lld of its slot): reference %.17g%s, "
                            "golden %.17g\n",
                    ck->file, ck->where, (long long)x,
                    (long long)(p->layout == RL_LAYOUT_NCHW ? x / p->HW % p->K : x % p->K), v[x],
                    ok_touched ? "" : " (not touched)", g[x]);
    }
    if (bad) {
        ck->failures += bad;
        fprintf(stderr, "%s: %s: %d of %lld gradient entries differ\n", ck->file, ck->where, bad,
                (long long)count);
    }
}

/* Every numeric field of two results, bit for bit. */
static int same_result(const rl_result *a, const rl_result *b)
{
    rl_result x = *a, y = *b;
    x.variant = y.variant = NULL;
    return memcmp(&x, &y, sizeof x) == 0;
}

static void check_case(checker *ck, const yolo_golden *g, int *n_tt, int *n_multi_head)
{
    rl_yolo_config cfg = g->cfg;
    cfg.variant = "reference";
    rl_yolo_plan *plan = NULL;
    rl_status st = rl_yolo_plan_create(&cfg, &plan);
    if (st != RL_OK) {
        ck->failures++;
        fprintf(stderr, "%s: rl_yolo_plan_create: %s: %s\n", ck->file, rl_status_name(st),
                rl_last_error());
        return;
    }
    const int32_t H = plan->n_heads;
    *n_tt += cfg.truth_thresh < 1.0;
    *n_multi_head += H > 1;
    rl_counts gc = {0, 0, 0, g->global_images};
    rl_yolo_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.n_images = g->n_images;
    const void *preds[RL_YOLO_MAX_HEADS];
    const float *fpreds[RL_YOLO_MAX_HEADS];
    float *fgrads[RL_YOLO_MAX_HEADS] = {0};
    void *grads[RL_YOLO_MAX_HEADS] = {0};
    rl_yolo_ref_out out;
    memset(&out, 0, sizeof out);
    for (int32_t h = 0; h < H; h++) {
        size_t count = 0;
        st = rl_yolo_tensor_size(plan, h, g->n_images, &count);
        cr_assert(st == RL_OK && (int64_t)count == g->n_pred[h], "%s: head %d: tensor size",
                  ck->file, (int)h);
        preds[h] = fpreds[h] = g->pred[h];
        fgrads[h] = malloc(count * sizeof(float));
        grads[h] = fgrads[h];
        out.head[h].grad = malloc(count * sizeof(double));
        out.head[h].touched = malloc(count);
        cr_assert(fgrads[h] && out.head[h].grad && out.head[h].touched);
    }
    batch.preds = preds;
    batch.truths = g->truths;
    batch.truth_offsets = g->offsets;
    batch.global_counts = g->global_images ? &gc : NULL;

    rl_result api_total, api_heads[RL_YOLO_MAX_HEADS];
    st = rl_yolo_compute(plan, &batch, &api_total, api_heads, grads);
    if (st != RL_OK) {
        ck->failures++;
        fprintf(stderr, "%s: rl_yolo_compute: %s: %s\n", ck->file, rl_status_name(st),
                rl_last_error());
        goto done;
    }
    rl_result total, heads[RL_YOLO_MAX_HEADS];
    st = rl_yolo_reference_compute(plan, g->n_images, fpreds, NULL, g->truths, g->offsets,
                                   batch.global_counts, NULL, &total, heads, &out);
    cr_assert(st == RL_OK, "%s: rl_yolo_reference_compute: %s", ck->file, rl_last_error());

    int64_t all_slots = 0;
    for (int32_t h = 0; h < H; h++)
        all_slots += (int64_t)g->n_images * plan->heads[h].p.HW * plan->heads[h].p.B;
    snprintf(ck->where, sizeof ck->where, "total");
    check_result(ck, &total, &g->total, all_slots);
    if (!same_result(&api_total, &total)) {
        ck->failures++;
        fprintf(stderr, "%s: rl_yolo_compute's total differs from the reference's\n", ck->file);
    }
    for (int32_t h = 0; h < H; h++) {
        const rl_params *p = &plan->heads[h].p;
        snprintf(ck->where, sizeof ck->where, "head %d", (int)h);
        check_result(ck, &heads[h], &g->head[h], (int64_t)g->n_images * p->HW * p->B);
        check_grad(ck, p, out.head[h].grad, out.head[h].touched, g->grad[h], g->n_pred[h]);
        if (!same_result(&api_heads[h], &heads[h])) {
            ck->failures++;
            fprintf(stderr, "%s: head %d: rl_yolo_compute's result differs\n", ck->file, (int)h);
        }
        for (int64_t x = 0; x < g->n_pred[h]; x++)
            if (fgrads[h][x] != (float)out.head[h].grad[x]) {
                ck->failures++;
                fprintf(stderr, "%s: head %d: float grad[%lld] = %.9g is not the double %.17g "
                                "rounded\n",
                        ck->file, (int)h, (long long)x, (double)fgrads[h][x],
                        out.head[h].grad[x]);
                break;
            }
    }
done:
    for (int32_t h = 0; h < H; h++) {
        free(fgrads[h]);
        free(out.head[h].grad);
        free(out.head[h].touched);
    }
    rl_yolo_plan_destroy(plan);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(yolo_goldens, reference_matches_autograd)
{
    const char *data = getenv("REGIONLOSS_TEST_DATA");
    cr_assert_not_null(data, "REGIONLOSS_TEST_DATA is not set (meson test sets it)");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/goldens", data);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    char *names[256];
    int n_files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n_files < 256) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "yolo_", 5) == 0 && len > 4 &&
            strcmp(e->d_name + len - 4, ".txt") == 0)
            names[n_files++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n_files, sizeof *names, by_name);

    int failures = 0, n_nhwc = 0, n_sum = 0, n_tt = 0, n_multi_head = 0;
    int n_box[RL_BOX_CIOU + 1] = {0}, n_box_tt[RL_BOX_CIOU + 1] = {0};
    int n_box_nhwc[RL_BOX_CIOU + 1] = {0};
    double worst_rel = 0;
    for (int f = 0; f < n_files; f++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        yolo_golden g;
        char err[512];
        checker ck = {names[f], "", 0, 0.0};
        if (yolo_golden_load(path, &g, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            failures++;
        } else {
            check_case(&ck, &g, &n_tt, &n_multi_head);
            failures += ck.failures;
            if (ck.worst_rel > worst_rel)
                worst_rel = ck.worst_rel;
            n_nhwc += g.cfg.layout == RL_LAYOUT_NHWC;
            n_sum += g.cfg.norm == RL_NORM_SUM;
            if (g.cfg.box_loss >= 0 && g.cfg.box_loss <= RL_BOX_CIOU) {
                n_box[g.cfg.box_loss]++;
                n_box_tt[g.cfg.box_loss] += g.cfg.truth_thresh < 1.0;
                n_box_nhwc[g.cfg.box_loss] += g.cfg.layout == RL_LAYOUT_NHWC;
            }
            yolo_golden_free(&g);
        }
        free(names[f]);
    }
    printf("yolo goldens: %d files, largest relative difference %.3g (tolerance %.0e)\n",
           n_files, worst_rel, REL_TOL);
    /* A missing or truncated data directory must not pass quietly. */
    cr_expect_geq(n_files, 27, "only %d [yolo] goldens in %s", n_files, dir);
    cr_expect_geq(n_nhwc, 1, "no NHWC [yolo] golden in %s", dir);
    cr_expect_geq(n_sum, 1, "no norm-sum [yolo] golden in %s", dir);
    cr_expect_geq(n_tt, 2, "fewer than two truth_thresh < 1 goldens in %s", dir);
    cr_expect_geq(n_multi_head, 10, "fewer than ten multi-head goldens in %s", dir);
    /* every IoU-family kind: several cases, truth_thresh positives, NHWC */
    static const char *const box_names[] = {"mse", "iou", "giou", "diou", "ciou"};
    for (int k = RL_BOX_IOU; k <= RL_BOX_CIOU; k++) {
        cr_expect_geq(n_box[k], 3, "only %d box_loss %s goldens in %s", n_box[k], box_names[k],
                      dir);
        cr_expect_geq(n_box_tt[k], 1, "no box_loss %s golden with truth_thresh < 1 in %s",
                      box_names[k], dir);
        cr_expect_geq(n_box_nhwc[k], 1, "no NHWC box_loss %s golden in %s", box_names[k], dir);
    }
    cr_assert_eq(failures, 0, "%d mismatches against the [yolo] goldens (listed on stderr)",
                 failures);
}
