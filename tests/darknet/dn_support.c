/* See dn_support.h. */
#include "dn_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffcheck.h"
#include "internal.h"
#include "scalar/reference.h"
#include "tolerance.h"

void dn_expect_init(dn_expect *e, const rl_config *cfg, int32_t n_images)
{
    memset(e, 0, sizeof *e);
    e->grad = calloc(dn_count(cfg, n_images), sizeof *e->grad);
    cr_assert(e->grad);
}

void dn_expect_free(dn_expect *e)
{
    free(e->grad);
    e->grad = NULL;
}

void dn_expect_total(dn_expect *e) { e->loss = e->coord + e->cls + e->obj + e->noobj + e->warmup; }

static rl_plan *plan_for(const rl_config *cfg, const char *variant)
{
    rl_config c = *cfg;
    c.variant = variant;
    rl_plan *plan = NULL;
    rl_status st = rl_plan_create(&c, &plan);
    cr_assert(st == RL_OK, "rl_plan_create(%s): %s: %s", variant, rl_status_name(st),
              rl_last_error());
    cr_assert(strcmp(rl_plan_variant(plan), variant) == 0);
    return plan;
}

void dn_reference_grad(const rl_config *cfg, const rl_batch *batch, double *grad,
                       rl_result *res)
{
    rl_plan *plan = plan_for(cfg, "reference");
    rl_result r;
    /* the public call first: it validates the batch the internal one trusts */
    rl_status st = rl_compute(plan, batch, &r, NULL);
    cr_assert(st == RL_OK, "rl_compute: %s: %s", rl_status_name(st), rl_last_error());
    rl_ref_out out = {grad, NULL, NULL, NULL, NULL};
    st = rl_reference_compute(&plan->p, batch, NULL, &r, &out);
    cr_assert(st == RL_OK, "rl_reference_compute: %s", rl_last_error());
    if (res)
        *res = r;
    rl_plan_destroy(plan);
}

double dn_delta_from_grad(const rl_config *cfg, int64_t k, double t, double g, double divisor)
{
    const int logistic_output = k == 0 || k == 1 || k == 4 || (k >= 5 && cfg->logistic_classes);
    const double d = -g * divisor;
    return logistic_output ? d / dn_slope(t) : d;
}

void dn_diffcheck_all(const rl_config *cfg, const rl_batch *batch, const char *what)
{
    int compared = 0;
    for (const char *const *v = rl_variant_list(); *v; v++) {
        if (strcmp(*v, "reference") == 0)
            continue;
        rl_diffcheck_only(*v);
        rl_diffcheck_report rep;
        int bad = rl_diffcheck(cfg, batch, what, stdout, &rep);
        fflush(stdout);
        cr_expect_eq(bad, 0, "%s: variant %s disagrees with the reference (details above)",
                     what, *v);
        compared += rep.variants_checked;
    }
    rl_diffcheck_only(NULL);
    (void)compared; /* a build with the reference alone compares nothing */
}

/* ---- hand expectations ------------------------------------------------- */

static int near_rel(double got, double want, double rel)
{
    return fabs(got - want) <= rel * fabs(want);
}

/* tolerance.h: |v - r| <= REL |r| + ABS S + FLOOR */
static int near_tol(double got, double want, double scale)
{
    return !isnan(got) &&
           fabs(got - want) <= RL_TOL_REL * fabs(want) + RL_TOL_ABS * scale + RL_TOL_FLOOR;
}

typedef struct named {
    const char *name;
    double got, want, scale;
} named;

static double divisor_of(const rl_config *cfg, const rl_batch *batch)
{
    return cfg->norm == RL_NORM_IMAGES ? (double)batch->n_images : 1.0;
}

/* The weight in front of entry k's term (for the absolute part of the
 * float bound): darknet's coordinate scale reaches 2 * coord_scale. */
static double entry_weight(const rl_config *cfg, const rl_batch *batch, int64_t k)
{
    const double div = divisor_of(cfg, batch);
    const double warm = batch->seen < cfg->warmup_seen ? cfg->warmup_scale : 0.0;
    if (k < 4)
        return fmax(2 * cfg->lambda_coord, warm) / div;
    if (k == 4)
        return fmax(cfg->lambda_obj, cfg->lambda_noobj) / div;
    return cfg->lambda_class / div;
}

static void check_one(const rl_config *cfg, const rl_batch *batch, const dn_expect *e,
                      const char *what, const char *variant)
{
    const int is_ref = strcmp(variant, "reference") == 0;
    rl_plan *plan = plan_for(cfg, variant);
    const size_t count = dn_count(cfg, batch->n_images);
    float *grad = malloc(count * sizeof *grad);
    cr_assert(grad);
    for (size_t x = 0; x < count; x++)
        grad[x] = NAN; /* overwrite mode must write every entry */
    rl_result r;
    rl_status st = rl_compute(plan, batch, &r, grad);
    cr_assert(st == RL_OK, "%s: %s: rl_compute: %s: %s", what, variant, rl_status_name(st),
              rl_last_error());

    cr_expect_eq(r.n_obj, e->n_obj, "%s: %s: n_obj %lld, expected %lld", what, variant,
                 (long long)r.n_obj, (long long)e->n_obj);
    cr_expect_eq(r.n_noobj, e->n_noobj, "%s: %s: n_noobj %lld, expected %lld", what, variant,
                 (long long)r.n_noobj, (long long)e->n_noobj);
    cr_expect_eq(r.n_conf, e->n_obj + e->n_noobj, "%s: %s: n_conf", what, variant);
    cr_expect_eq(r.n_truths, e->n_truths, "%s: %s: n_truths", what, variant);
    cr_expect_eq(r.darknet.count, e->dn.count, "%s: %s: darknet count %lld, expected %lld",
                 what, variant, (long long)r.darknet.count, (long long)e->dn.count);
    cr_expect_eq(r.n_recall50, e->n_recall50, "%s: %s: n_recall50", what, variant);
    cr_expect_eq(r.n_recall75, e->n_recall75, "%s: %s: n_recall75", what, variant);

    const double div = divisor_of(cfg, batch);
    const double no = (double)e->n_obj, nn = (double)e->n_noobj;
    const double slots = (double)batch->n_images * cfg->H * cfg->W * cfg->B;
    const double warm = batch->seen < cfg->warmup_seen ? cfg->warmup_scale : 0.0;
    const named vals[] = {
        {"coord", r.coord, e->coord, 2 * cfg->lambda_coord / div * no},
        {"cls", r.cls, e->cls, cfg->lambda_class / div * no},
        {"obj", r.obj, e->obj, cfg->lambda_obj / div * no},
        {"noobj", r.noobj, e->noobj, cfg->lambda_noobj / div * nn},
        {"warmup", r.warmup, e->warmup, warm / div * slots},
        {"loss", r.loss, e->loss,
         (2 * cfg->lambda_coord + cfg->lambda_class + cfg->lambda_obj) / div * no +
             cfg->lambda_noobj / div * nn + warm / div * slots},
        {"avg_iou", r.avg_iou, e->avg_iou, 1},
        {"avg_obj", r.avg_obj, e->avg_obj, 1},
        {"avg_cls", r.avg_cls, e->avg_cls, 1},
        {"avg_noobj", r.avg_noobj, e->avg_noobj, 1},
        {"darknet.avg_iou", r.darknet.avg_iou, e->dn.avg_iou, 1},
        {"darknet.recall", r.darknet.recall, e->dn.recall, 0},
        {"darknet.recall75", r.darknet.recall75, e->dn.recall75, 0},
        {"darknet.avg_cls", r.darknet.avg_cls, e->dn.avg_cls, 1},
        {"darknet.avg_obj", r.darknet.avg_obj, e->dn.avg_obj, 1},
        {"darknet.avg_anyobj", r.darknet.avg_anyobj, e->dn.avg_anyobj, 1},
        {"darknet.cost", r.darknet.cost, e->dn.cost, 0},
    };
    for (size_t q = 0; q < sizeof vals / sizeof vals[0]; q++) {
        const named *v = &vals[q];
        const int ok = is_ref ? near_rel(v->got, v->want, DN_REF_REL)
                              : near_tol(v->got, v->want, v->scale);
        cr_expect(ok, "%s: %s: %s = %.17g, derived %.17g (diff %.3g)", what, variant, v->name,
                  v->got, v->want, v->got - v->want);
    }

    /* Every entry, zeros included: a zero must be an exact +0. */
    int bad = 0;
    for (size_t x = 0; x < count && bad < 10; x++) {
        const int64_t k = (int64_t)(x / ((size_t)cfg->H * cfg->W)) % (5 + cfg->C);
        const double want = e->grad[x];
        int ok;
        if (want == 0)
            ok = grad[x] == 0.0f && !signbit(grad[x]);
        else if (is_ref) /* the double value rounded once to float */
            ok = near_rel(grad[x], want, 0x1p-23);
        else
            ok = near_tol(grad[x], want, entry_weight(cfg, batch, k));
        if (!ok) {
            cr_expect_fail("%s: %s: gradient entry %zu (channel %lld) = %.9g, derived %.17g",
                           what, variant, x, (long long)k, (double)grad[x], want);
            bad++;
        }
    }

    if (is_ref) {
        double *g = malloc(count * sizeof *g);
        cr_assert(g);
        dn_reference_grad(cfg, batch, g, NULL);
        bad = 0;
        for (size_t x = 0; x < count && bad < 10; x++)
            if (!(e->grad[x] == 0 ? g[x] == 0 : near_rel(g[x], e->grad[x], DN_REF_REL))) {
                cr_expect_fail("%s: reference double gradient entry %zu = %.17g, derived %.17g",
                               what, x, g[x], e->grad[x]);
                bad++;
            }
        free(g);
    } else {
        rl_diffcheck_only(variant);
        rl_diffcheck_report rep;
        const int disagree = rl_diffcheck(cfg, batch, what, stdout, &rep);
        fflush(stdout);
        rl_diffcheck_only(NULL);
        cr_expect_eq(disagree, 0, "%s: variant %s disagrees with the reference (details above)",
                     what, variant);
        cr_expect_eq(rep.variants_checked, 1, "%s: rl_diffcheck did not compare %s", what,
                     variant);
    }
    free(grad);
    rl_plan_destroy(plan);
}

void dn_expect_check(const rl_config *cfg, const rl_batch *batch, const dn_expect *e,
                     const char *what)
{
    int saw_reference = 0;
    for (const char *const *v = rl_variant_list(); *v; v++) {
        saw_reference |= strcmp(*v, "reference") == 0;
        check_one(cfg, batch, e, what, *v);
    }
    cr_assert(saw_reference, "rl_variant_list() lacks the reference");
}
