/* AlexeyAB's [region] flavour (docs/darknet.md, "AlexeyAB's [region]
 * flavour") term by term, derived by hand on hand_terms.c's scenario A
 * (its comment has the geometry: truth T0, responsible slot R, slot Q, the
 * six slots at logits 0 and their best IoUs).  What AlexeyAB's
 * forward_region_layer does differently from pjreddie's:
 *   coordinates  coord_scale/2 sum (o - target)^2, no (2 - w h) factor;
 *   cost         the squares of its deltas, which carry s'(t) on x, y and
 *                objectness (delta = scale (target - o) s'(t)): the gradient
 *                itself, up to sign, where pjreddie's cost divides s' out;
 *   classfix -1  every slot but the responsible ones is a negative with
 *                target its best IoU: noobject_scale/2 (c - best)^2;
 *   classfix 1,2 a slot whose best IoU > thresh learns its best truth's
 *                class, weight class_scale (times c, held constant, for 2);
 *   focal_loss   softmax classes weighted alpha (1 - p)^2 (-log p), alpha
 *                1/2, whose gradient alpha g(p) (p_c - [c == cls]) with
 *                g(p) = -(1 - p)(2 p log p + p - 1) is darknet's delta;
 *   softmax=0    (logistic_classes) no activation: 1/2 (t - y)^2 on raw t;
 *   truths       of a class >= C are skipped.
 * Every number is checked on every variant of rl_variant_list() (the
 * reference to 1e-12, float variants within tests/common/tolerance.h and
 * through rl_diffcheck; dn_support.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_support.h"

static const float anchors_A[4] = {1.0f, 1.0f, 2.0f, 2.0f};
static const rl_box T0 = {0.375f, 0.625f, 0.5f, 0.25f, 1};

static void config_ab(rl_config *cfg)
{
    rl_config_init_darknet(cfg);
    cfg->flavour = RL_FLAVOUR_ALEXEYAB;
    cfg->H = cfg->W = 2;
    cfg->B = 2;
    cfg->C = 2;
    cfg->anchors = anchors_A;
}

static void logits_A(const rl_config *cfg, float *pred)
{
    pred[dn_off(cfg, 0, 1, 0, 0, 3)] = -0.5f; /* R: th */
    pred[dn_off(cfg, 0, 1, 0, 0, 5)] = 0.5f;  /* R: class logits */
    pred[dn_off(cfg, 0, 1, 0, 0, 6)] = -0.5f;
    const float q[5] = {2.0f, -1.0f, 0.5f, -0.25f, 1.0f};
    for (int k = 0; k < 5; k++)
        pred[dn_off(cfg, 0, 0, 0, 0, k)] = q[k];
}

/* The six slots at logits 0, as (i, j, b), and their best IoU with T0. */
static const int six[6][3] = {{0, 0, 1}, {0, 1, 0}, {0, 1, 1}, {1, 0, 1}, {1, 1, 0}, {1, 1, 1}};
static const double six_iou[6] = {1.0 / 8, 0.0, 1.0 / 11, 1.0 / 8, 1.0 / 11, 1.0 / 11};

/* Scenario A in the flavour, warm-up on (seen 12799) or off.  The
 * responsible slot R's class term (softmax, focal or raw) is added by the
 * caller through class_R; the negatives by negatives(). */
static void expect_R(const rl_config *cfg, dn_expect *e)
{
    const double co = cfg->lambda_coord, ob = cfg->lambda_obj;
    const double h = exp(-0.5), iou = 3 * h / (4 + 5 * h), ln2 = log(2.0);
    const double target = cfg->rescore ? iou : 1.0;
    double *g = e->grad;
    /* (o - target) = (-1/4, 1/4, 0, ln 2 - 1/2); s' = 1/4 on x and y */
    e->coord += co / 2 * (1.0 / 8 + (ln2 - 0.5) * (ln2 - 0.5));
    g[dn_off(cfg, 0, 1, 0, 0, 0)] = co * -1.0 / 16;
    g[dn_off(cfg, 0, 1, 0, 0, 1)] = co * 1.0 / 16;
    g[dn_off(cfg, 0, 1, 0, 0, 3)] = co * (ln2 - 0.5);
    e->obj += ob / 2 * (0.5 - target) * (0.5 - target);
    g[dn_off(cfg, 0, 1, 0, 0, 4)] = ob * (0.5 - target) / 4;
    e->dn.cost += co * co * (2.0 / 256 + (ln2 - 0.5) * (ln2 - 0.5)) +
                  ob * ob * (target - 0.5) * (target - 0.5) / 16;
    e->n_obj += 1;
    e->n_truths += 1;
    e->avg_iou = iou;
    e->avg_obj = 0.5;
    e->dn.count += 1;
    e->dn.avg_iou = iou;
    e->dn.avg_obj = 0.5;
}

/* R's classes: logits (1/2, -1/2), class 1.  Returns the probability (or
 * raw output) of class 1, darknet's Class. */
static double class_R(const rl_config *cfg, dn_expect *e)
{
    const double cl = cfg->lambda_class, E = exp(1.0);
    double *g = e->grad;
    const int64_t c0 = dn_off(cfg, 0, 1, 0, 0, 5), c1 = dn_off(cfg, 0, 1, 0, 0, 6);
    if (cfg->logistic_classes) { /* raw: 1/2 ((1/2)^2 + (3/2)^2) = 5/4 */
        e->cls += cl * 5.0 / 4;
        g[c0] = cl * 0.5;
        g[c1] = cl * -1.5;
        e->dn.cost += cl * cl * 5.0 / 2;
        return -0.5;
    }
    const double p0 = E / (1 + E), p1 = 1 / (1 + E), lp = -log(1 + E);
    /* focal: alpha g(p1), alpha = 1/2 */
    const double f = cfg->focal_loss ? 0.5 * -(1 - p1) * (2 * p1 * lp + p1 - 1) : 1.0;
    e->cls += cl * (cfg->focal_loss ? 0.5 * (1 - p1) * (1 - p1) * -lp : -lp);
    g[c0] = cl * f * p0;
    g[c1] = cl * f * (p1 - 1);
    e->dn.cost += cl * cl * f * f * 2 * p0 * p0;
    return p1;
}

/* Q = (0, 0, 0): tx 2, ty -1, tw 1/2, th -1/4, tc 1, best IoU 0. */
static void warmup_Q(const rl_config *cfg, dn_expect *e)
{
    const double ws = cfg->warmup_scale;
    const double ex = dn_sig(2.0) - 0.5, ey = dn_sig(-1.0) - 0.5;
    e->warmup += ws / 2 * (ex * ex + ey * ey + 0.25 + 0.0625);
    double *g = e->grad;
    g[dn_off(cfg, 0, 0, 0, 0, 0)] = ws * ex * dn_slope(2.0);
    g[dn_off(cfg, 0, 0, 0, 0, 1)] = ws * ey * dn_slope(-1.0);
    g[dn_off(cfg, 0, 0, 0, 0, 2)] = ws * 0.5;
    g[dn_off(cfg, 0, 0, 0, 0, 3)] = ws * -0.25;
    const double dx = ex * dn_slope(2.0), dy = ey * dn_slope(-1.0);
    e->dn.cost += ws * ws * (dx * dx + dy * dy + 0.25 + 0.0625);
}

/* The negatives of scenario A: slot q of `six` is a negative with target z
 * (0, or its best IoU under classfix -1) unless ignored[q]; Q is one with
 * target 0. */
static void negatives(const rl_config *cfg, dn_expect *e, const int ignored[6])
{
    const double nb = cfg->lambda_noobj, s1 = dn_sig(1.0);
    int n = 0;
    double csum = 0;
    for (int q = 0; q < 6; q++) {
        if (ignored[q])
            continue;
        const double z = cfg->classfix == -1 ? six_iou[q] : 0.0;
        e->noobj += nb / 2 * (0.5 - z) * (0.5 - z);
        e->grad[dn_off(cfg, 0, six[q][0], six[q][1], six[q][2], 4)] = nb * (0.5 - z) / 4;
        e->dn.cost += nb * nb * (0.5 - z) * (0.5 - z) / 16;
        n++;
        csum += 0.5;
    }
    e->noobj += nb / 2 * s1 * s1;
    e->grad[dn_off(cfg, 0, 0, 0, 0, 4)] = nb * s1 * dn_slope(1.0);
    e->dn.cost += nb * nb * s1 * s1 * dn_slope(1.0) * dn_slope(1.0);
    e->n_noobj += n + 1;
    e->avg_noobj = (csum + s1) / (n + 1);
    e->dn.avg_anyobj = (3.5 + s1) / 8;
}

typedef struct ab_run {
    rl_config cfg;
    float pred[2 * 2 * 2 * 7];
    rl_box truths[3];
    int64_t off[2];
    rl_batch batch;
    dn_expect e;
} ab_run;

static void setup(ab_run *r, int64_t seen)
{
    memset(r->pred, 0, sizeof r->pred);
    logits_A(&r->cfg, r->pred);
    r->truths[0] = T0;
    r->off[0] = 0;
    r->off[1] = 1;
    r->batch = (rl_batch){.n_images = 1, .pred = r->pred, .truths = r->truths,
                          .truth_offsets = r->off, .seen = seen};
    dn_expect_init(&r->e, &r->cfg, 1);
}

/* Scenario A with every slot decided as pjreddie's flavour decides it. */
static void plain_A(ab_run *r, int64_t seen)
{
    setup(r, seen);
    expect_R(&r->cfg, &r->e);
    const double p = class_R(&r->cfg, &r->e);
    r->e.avg_cls = r->e.dn.avg_cls = p;
    static const int none[6] = {0};
    negatives(&r->cfg, &r->e, none);
    if (seen < r->cfg.warmup_seen)
        warmup_Q(&r->cfg, &r->e);
    dn_expect_total(&r->e);
}

/* The flavour's defaults, warm-up on: against pjreddie's (hand_terms.c),
 * R's coordinate entries lose the 15/8 and the cost carries s'. */
Test(ab_region_terms, softmax_warmup_on)
{
    ab_run r;
    config_ab(&r.cfg);
    plain_A(&r, 12799);
    dn_expect_check(&r.cfg, &r.batch, &r.e, "AB A, seen 12799");
    dn_expect_free(&r.e);
}

/* Other scales, rescore 0, warm-up off. */
Test(ab_region_terms, scales_rescore_off)
{
    ab_run r;
    config_ab(&r.cfg);
    r.cfg.lambda_coord = 2;
    r.cfg.lambda_class = 3;
    r.cfg.lambda_obj = 4;
    r.cfg.lambda_noobj = 0.5;
    r.cfg.rescore = 0;
    plain_A(&r, 20000);
    dn_expect_check(&r.cfg, &r.batch, &r.e, "AB A, scales 2/3/4/.5, rescore 0");
    dn_expect_free(&r.e);
}

/* softmax=0: AlexeyAB leaves the class outputs raw. */
Test(ab_region_terms, softmax0_raw_classes)
{
    ab_run r;
    config_ab(&r.cfg);
    r.cfg.logistic_classes = 1;
    plain_A(&r, 64);
    dn_expect_check(&r.cfg, &r.batch, &r.e, "AB A, softmax=0");
    dn_expect_free(&r.e);
}

/* focal_loss = 1 at R (p1 = 1/(1 + e)). */
Test(ab_region_terms, focal_loss)
{
    ab_run r;
    config_ab(&r.cfg);
    r.cfg.focal_loss = 1;
    r.cfg.lambda_class = 2;
    plain_A(&r, 12799);
    dn_expect_check(&r.cfg, &r.batch, &r.e, "AB A, focal");
    dn_expect_free(&r.e);
}

/* classfix -1: the seven negatives' targets are their best IoUs (1/8, 0,
 * 1/11, 1/8, 1/11, 1/11, and 0 for Q); with thresh .1 nothing is ignored
 * either, although two best IoUs exceed it. */
Test(ab_region_terms, classfix_minus_one)
{
    ab_run r;
    config_ab(&r.cfg);
    r.cfg.classfix = -1;
    r.cfg.thresh = 0.1;
    r.cfg.lambda_noobj = 3;
    plain_A(&r, 20000);
    dn_expect_check(&r.cfg, &r.batch, &r.e, "AB A, classfix -1");
    dn_expect_free(&r.e);
}

/* classfix 1 and 2 with thresh .1: slots (0,0,1) and (1,0,1) (best IoU 1/8
 * with T0) are ignored and learn T0's class 1 at logits 0: p = (1/2, 1/2),
 * -log p1 = ln 2, gradient w (1/2, -1/2), cost w^2 / 2, with w = class_scale
 * (classfix 1) or class_scale * c = class_scale / 2 (classfix 2).  Darknet's
 * Class averages them with R's truth term and with the classfix term darknet
 * computes at R too (R's best IoU, ~.2587 with T0, is past .1; T0's class
 * term then overwrites its deltas, not the count): (2 p1 + 1/2 + 1/2) / 4. */
static void classfix_pos(int classfix, int focal)
{
    ab_run r;
    config_ab(&r.cfg);
    r.cfg.classfix = classfix;
    r.cfg.focal_loss = focal;
    r.cfg.thresh = 0.1;
    r.cfg.lambda_class = 3;
    setup(&r, 20000);
    expect_R(&r.cfg, &r.e);
    const double p = class_R(&r.cfg, &r.e);
    r.e.avg_cls = p;
    r.e.dn.avg_cls = (2 * p + 1.0) / 4;
    const int ignored[6] = {1, 0, 0, 1, 0, 0};
    negatives(&r.cfg, &r.e, ignored);
    const double w = r.cfg.lambda_class * (classfix == 2 ? 0.5 : 1.0);
    /* focal at p = 1/2: alpha g = 1/2 * -(1/2)(-ln 2 + 1/2 - 1) */
    const double f = focal ? 0.5 * -0.5 * (-log(2.0) - 0.5) : 1.0;
    const double L = focal ? 0.5 * 0.25 * log(2.0) : log(2.0);
    for (int q = 0; q < 6; q++) {
        if (!ignored[q])
            continue;
        r.e.cls += w * L;
        r.e.grad[dn_off(&r.cfg, 0, six[q][0], six[q][1], six[q][2], 5)] = w * f * 0.5;
        r.e.grad[dn_off(&r.cfg, 0, six[q][0], six[q][1], six[q][2], 6)] = w * f * -0.5;
        r.e.dn.cost += w * w * f * f / 2;
    }
    dn_expect_total(&r.e);
    char what[64];
    snprintf(what, sizeof what, "AB A, classfix %d, focal %d, thresh .1", classfix, focal);
    dn_expect_check(&r.cfg, &r.batch, &r.e, what);
    dn_expect_free(&r.e);
}

Test(ab_region_terms, classfix_one) { classfix_pos(1, 0); }
Test(ab_region_terms, classfix_two) { classfix_pos(2, 0); }
Test(ab_region_terms, classfix_two_focal) { classfix_pos(2, 1); }

/* Truths of class 2 and 7 (C = 2), before and after T0, are skipped: the
 * numbers are scenario A's.  pjreddie's flavour refuses the batch. */
Test(ab_region_terms, truths_of_a_class_past_c_are_skipped)
{
    ab_run r;
    config_ab(&r.cfg);
    plain_A(&r, 12799);
    r.truths[0] = (rl_box){0.5f, 0.5f, 1.0f, 1.0f, 2};
    r.truths[1] = T0;
    r.truths[2] = (rl_box){NAN, 0.5f, 0.0f, 1.0f, 7}; /* never read */
    r.off[1] = 3;
    dn_expect_check(&r.cfg, &r.batch, &r.e, "AB A with two truths of class >= C");

    rl_config pj = r.cfg;
    pj.flavour = RL_FLAVOUR_PJREDDIE;
    rl_plan *plan;
    cr_assert(rl_plan_create(&pj, &plan) == RL_OK);
    rl_result res;
    cr_assert(rl_compute(plan, &r.batch, &res, NULL) == RL_ERR_BAD_TRUTH);
    cr_assert(strstr(rl_last_error(), "class 2 is not in [0, 2)"), "%s", rl_last_error());
    rl_plan_destroy(plan);
    dn_expect_free(&r.e);
}

/* A negative class is still an error: darknet would index before the
 * slot's class entries. */
Test(ab_region_terms, negative_class_is_refused)
{
    ab_run r;
    config_ab(&r.cfg);
    setup(&r, 20000);
    r.truths[0].cls = -1;
    rl_plan *plan;
    cr_assert(rl_plan_create(&r.cfg, &plan) == RL_OK);
    float grad[56];
    for (int x = 0; x < 56; x++)
        grad[x] = 7.0f;
    rl_result res;
    cr_assert(rl_compute(plan, &r.batch, &res, grad) == RL_ERR_BAD_TRUTH);
    cr_assert(strstr(rl_last_error(), "class -1"), "%s", rl_last_error());
    for (int x = 0; x < 56; x++)
        cr_assert(grad[x] == 7.0f, "entry %d written", x);
    rl_plan_destroy(plan);
    dn_expect_free(&r.e);
}

/* classfix 1, 2 may read any slot's class logits: a NaN at a slot far from
 * every truth is refused on every variant, naming it, nothing written. */
Test(ab_region_terms, classfix_nan_class_logit_is_refused)
{
    const char *const *v = rl_variant_list();
    for (int k = 0; v[k]; k++) {
        ab_run r;
        config_ab(&r.cfg);
        r.cfg.classfix = 1;
        r.cfg.variant = v[k];
        setup(&r, 20000);
        r.pred[dn_off(&r.cfg, 0, 1, 1, 1, 6)] = NAN;
        rl_plan *plan;
        cr_assert(rl_plan_create(&r.cfg, &plan) == RL_OK);
        float grad[56];
        for (int x = 0; x < 56; x++)
            grad[x] = 7.0f;
        rl_result res;
        cr_assert(rl_compute(plan, &r.batch, &res, grad) == RL_ERR_NONFINITE_PRED, "%s", v[k]);
        cr_assert(strstr(rl_last_error(), "class 1 logit"), "%s: %s", v[k], rl_last_error());
        for (int x = 0; x < 56; x++)
            cr_assert(grad[x] == 7.0f, "%s: entry %d written", v[k], x);
        rl_plan_destroy(plan);
        /* classfix 0 never reads it */
        r.cfg.classfix = 0;
        cr_assert(rl_plan_create(&r.cfg, &plan) == RL_OK);
        cr_assert(rl_compute(plan, &r.batch, &res, grad) == RL_OK, "%s: %s", v[k],
                  rl_last_error());
        rl_plan_destroy(plan);
        dn_expect_free(&r.e);
    }
}

/* Bad options: named, and no plan made. */
static void refused(const rl_config *cfg, const char *needle)
{
    rl_plan *plan = (rl_plan *)&plan; /* must stay as it is */
    rl_plan *const before = plan;
    const rl_status st = rl_plan_create(cfg, &plan);
    cr_assert(st != RL_OK, "accepted: %s", needle);
    cr_assert(plan == before);
    cr_assert(strstr(rl_last_error(), needle), "%s: %s", needle, rl_last_error());
}

Test(ab_region_terms, bad_options)
{
    rl_config cfg;
    config_ab(&cfg);
    cfg.flavour = 2;
    refused(&cfg, "flavour = 2");
    config_ab(&cfg);
    cfg.classfix = 3;
    refused(&cfg, "classfix = 3");
    config_ab(&cfg);
    cfg.focal_loss = 2;
    refused(&cfg, "focal_loss = 2");
    config_ab(&cfg);
    cfg.focal_loss = 1;
    cfg.logistic_classes = 1;
    refused(&cfg, "focal_loss = 1 needs softmax classes");
    config_ab(&cfg);
    cfg.flavour = RL_FLAVOUR_PJREDDIE;
    cfg.classfix = 1;
    refused(&cfg, "classfix = 1 is AlexeyAB's option");
    config_ab(&cfg);
    cfg.flavour = RL_FLAVOUR_PJREDDIE;
    cfg.focal_loss = 1;
    refused(&cfg, "focal_loss = 1 is AlexeyAB's option");
    config_ab(&cfg);
    cfg.mode = RL_MODE_SPEC;
    cfg.norm = RL_NORM_COUNTS;
    refused(&cfg, "needs darknet mode");
}
