/* See dn_compare.h. */
#include "dn_compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_support.h"
#include "tolerance.h"

void dn_model_run(const dn_batch *c, dn_region *l)
{
    memset(l, 0, sizeof *l);
    l->batch = c->N;
    l->w = c->cfg->W;
    l->h = c->cfg->H;
    l->n = c->cfg->B;
    l->classes = c->cfg->C;
    l->max_boxes = c->max_boxes;
    l->biases = c->cfg->anchors;
    l->coord_scale = c->cfg->lambda_coord;
    l->class_scale = c->cfg->lambda_class;
    l->object_scale = c->cfg->lambda_obj;
    l->noobject_scale = c->cfg->lambda_noobj;
    l->thresh = c->cfg->thresh;
    l->rescore = c->cfg->rescore;
    l->softmax = !c->cfg->logistic_classes;
    l->warmup_seen = c->cfg->warmup_seen;
    l->warmup_scale = c->cfg->warmup_scale;
    dn_alloc(l);
    dn_forward(l, c->pred, c->truth, c->seen);
}

/* The same tensor in NHWC (docs/loss.md's layouts), for the layout variant. */
static int64_t nhwc_off(const rl_config *cfg, int64_t n, int64_t i, int64_t j, int64_t b,
                        int64_t k)
{
    return (((n * cfg->H + i) * cfg->W + j) * cfg->B + b) * (5 + cfg->C) + k;
}

static void fail(dn_cmp *m, const char *fmt, double got, double want)
{
    if (m->bad++ < 8)
        cr_expect_fail("%s: %s: got %.17g, darknet %.17g", m->what, fmt, got, want);
}

void dn_compare_reference(const dn_batch *c, const dn_region *l, rl_layout layout, dn_cmp *m)
{
    rl_config cfg = *c->cfg;
    cfg.layout = layout;
    const size_t count = dn_count(&cfg, c->N);
    float *pred = malloc(count * sizeof *pred);
    double *g = malloc(count * sizeof *g);
    cr_assert(pred && g);
    for (int n = 0; n < c->N; n++)
        for (int i = 0; i < cfg.H; i++)
            for (int j = 0; j < cfg.W; j++)
                for (int b = 0; b < cfg.B; b++)
                    for (int k = 0; k < 5 + cfg.C; k++)
                        pred[layout == RL_LAYOUT_NCHW ? dn_off(&cfg, n, i, j, b, k)
                                                      : nhwc_off(&cfg, n, i, j, b, k)] =
                            c->pred[dn_off(&cfg, n, i, j, b, k)];
    const rl_batch batch = {.n_images = c->N, .pred = pred, .truths = c->boxes,
                            .truth_offsets = c->off, .seen = c->seen};
    rl_result r;
    dn_reference_grad(&cfg, &batch, g, &r);
    const double div = cfg.norm == RL_NORM_IMAGES ? c->N : 1;

    for (int n = 0; n < c->N; n++)
        for (int i = 0; i < cfg.H; i++)
            for (int j = 0; j < cfg.W; j++)
                for (int b = 0; b < cfg.B; b++)
                    for (int k = 0; k < 5 + cfg.C; k++) {
                        const int64_t at = layout == RL_LAYOUT_NCHW
                                               ? dn_off(&cfg, n, i, j, b, k)
                                               : nhwc_off(&cfg, n, i, j, b, k);
                        const double want = l->delta[dn_entry(l, n, b, i, j, k)];
                        const double got = dn_delta_from_grad(
                            &cfg, k, c->pred[dn_off(&cfg, n, i, j, b, k)], g[at], div);
                        const int ok = want == 0 ? g[at] == 0
                                                 : fabs(got - want) <= DN_DELTA_REL * fabs(want);
                        if (!ok) {
                            char where[96];
                            snprintf(where, sizeof where, "l.delta (n %d, i %d, j %d, b %d, k %d)",
                                     n, i, j, b, k);
                            fail(m, where, got, want);
                        }
                    }

    const struct {
        const char *name;
        double got, want;
    } line[] = {
        {"cost", r.darknet.cost, l->cost},
        {"Avg IOU", r.darknet.avg_iou, l->line.avg_iou},
        {"Class", r.darknet.avg_cls, l->line.avg_cat},
        {"Obj", r.darknet.avg_obj, l->line.avg_obj},
        {"No Obj", r.darknet.avg_anyobj, l->line.avg_anyobj},
        {"Avg Recall", r.darknet.recall, l->line.recall},
        {"recall75", r.darknet.recall75, l->line.recall75},
    };
    for (size_t q = 0; q < sizeof line / sizeof line[0]; q++)
        if (!(fabs(line[q].got - line[q].want) <= DN_DELTA_REL * fabs(line[q].want)))
            fail(m, line[q].name, line[q].got, line[q].want);
    if (r.darknet.count != l->line.count)
        fail(m, "count", (double)r.darknet.count, l->line.count);
    free(pred);
    free(g);
}

static int near(double a, double b) { return fabs(a - b) <= RL_TOL_THRESH; }

void dn_compare_variant(const dn_batch *c, const dn_region *l, const char *variant, dn_cmp *m)
{
    rl_config cfg = *c->cfg;
    cfg.variant = variant;
    rl_plan *plan;
    cr_assert(rl_plan_create(&cfg, &plan) == RL_OK, "%s", rl_last_error());
    const size_t count = dn_count(&cfg, c->N);
    float *g = malloc(count * sizeof *g);
    cr_assert(g);
    const rl_batch batch = {.n_images = c->N, .pred = c->pred, .truths = c->boxes,
                            .truth_offsets = c->off, .seen = c->seen};
    rl_result r;
    cr_assert(rl_compute(plan, &batch, &r, g) == RL_OK, "%s: %s", variant, rl_last_error());
    const double div = cfg.norm == RL_NORM_IMAGES ? c->N : 1;
    const double warm = c->seen < cfg.warmup_seen ? cfg.warmup_scale : 0;
    const double wk[3] = {fmax(2 * cfg.lambda_coord, warm) / div,
                          fmax(cfg.lambda_obj, cfg.lambda_noobj) / div, cfg.lambda_class / div};
    int decision_near = 0;
    for (int n = 0; n < c->N; n++)
        for (int i = 0; i < cfg.H; i++)
            for (int j = 0; j < cfg.W; j++)
                for (int b = 0; b < cfg.B; b++) {
                    const double best = l->best_iou[((n * cfg.B + b) * cfg.H + i) * cfg.W + j];
                    const int near_thresh = near(best, cfg.thresh);
                    decision_near |= near_thresh;
                    for (int k = 0; k < 5 + cfg.C; k++) {
                        if (k == 4 && near_thresh)
                            continue;
                        const int64_t at = dn_off(&cfg, n, i, j, b, k);
                        const double t = c->pred[at];
                        const int logistic = k == 0 || k == 1 || k == 4 ||
                                             (k >= 5 && cfg.logistic_classes);
                        /* the gradient darknet's delta stands for */
                        const double d = l->delta[dn_entry(l, n, b, i, j, k)];
                        const double want = -d * (logistic ? dn_slope(t) : 1.0) / div;
                        const double w = wk[k < 4 ? 0 : k == 4 ? 1 : 2];
                        const int ok = d == 0 ? g[at] == 0
                                              : fabs(g[at] - want) <= RL_TOL_REL * fabs(want) +
                                                                          RL_TOL_ABS * w +
                                                                          RL_TOL_FLOOR;
                        if (!ok) {
                            char where[128];
                            snprintf(where, sizeof where, "%s: gradient (n %d, i %d, j %d, b %d, k %d)",
                                     variant, n, i, j, b, k);
                            fail(m, where, g[at], want);
                        }
                    }
                }
    for (int q = 0; q < c->N * c->max_boxes; q++)
        decision_near |= near(l->truth_iou[q], 0.5) || near(l->truth_iou[q], 0.75);
    const struct {
        const char *name;
        double got, want, scale;
    } line[] = {
        {"cost", r.darknet.cost, l->cost, 0},
        {"Avg IOU", r.darknet.avg_iou, l->line.avg_iou, 1},
        {"Class", r.darknet.avg_cls, l->line.avg_cat, 1},
        {"Obj", r.darknet.avg_obj, l->line.avg_obj, 1},
        {"No Obj", r.darknet.avg_anyobj, l->line.avg_anyobj, 1},
        {"Avg Recall", r.darknet.recall, l->line.recall, 0},
        {"recall75", r.darknet.recall75, l->line.recall75, 0},
    };
    for (size_t q = 0; q < sizeof line / sizeof line[0]; q++) {
        if (decision_near && (q == 0 || q >= 5))
            continue; /* a flipped decision moves these by a whole term */
        if (!(fabs(line[q].got - line[q].want) <=
              RL_TOL_REL * fabs(line[q].want) + RL_TOL_ABS * line[q].scale + RL_TOL_FLOOR)) {
            char where[64];
            snprintf(where, sizeof where, "%s: %s", variant, line[q].name);
            fail(m, where, line[q].got, line[q].want);
        }
    }
    if (r.darknet.count != l->line.count)
        fail(m, "count", (double)r.darknet.count, l->line.count);
    free(g);
    rl_plan_destroy(plan);
}

