/* The darknet adapter (include/regionloss_darknet.h) driven the way a
 * darknet layer drives it: buffers laid out as darknet's (l.delta of
 * batch * outputs floats, net.truth of max_boxes rows of 5 or 6 floats),
 * one state per layer kept across calls.
 *
 *   - delta = -gradient, bit for bit, against rl_compute / rl_yolo_compute
 *     given the config a reader of docs/darknet.md would write from the
 *     same fields (every variant; a zero's sign aside);
 *   - adding into a buffer that holds other deltas (net.delta);
 *   - a resize between calls, and the same fields again (no new plan);
 *   - a [region] and a [yolo] layer, each with its state, interleaved;
 *   - 5- and 6-float truth rows;
 *   - logistic classes with darknet's update, against dn_model.c;
 *   - AlexeyAB's [region] and [yolo] (the flavours) against their plans,
 *     with the truth rows each passes over, darknet's IOU_LOSS numbering
 *     and the field macros;
 *   - bad fields and options: a message naming the field, nothing written,
 *     the state still usable. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_model.h"
#include "regionloss_darknet.h"
#include "rng.h"

#define GUARD_BITS 0x7fc0deadu /* a NaN no computation produces */

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static float guard(void)
{
    const uint32_t u = GUARD_BITS;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* A random layer of `type` with its truth buffer and raw input. */
typedef struct dcase {
    rl_darknet_layer l;
    float biases[2 * 9];
    int32_t mask[9];
    float *input, *truth;
    size_t count; /* entries of input and delta */
} dcase;

static void random_truths(rng *r, dcase *c)
{
    const rl_darknet_layer *l = &c->l;
    const size_t rows = (size_t)l->batch * l->max_boxes;
    c->truth = calloc(rows * l->truth_floats, sizeof *c->truth);
    for (int32_t b = 0; b < l->batch; b++) {
        const int32_t n = range(r, 0, l->max_boxes < 6 ? l->max_boxes : 6);
        for (int32_t t = 0; t < n; t++) {
            float *f = c->truth + ((size_t)b * l->max_boxes + t) * l->truth_floats;
            f[0] = (float)(0.001 + 0.999 * unif(r)); /* x = 0 would end the list */
            f[1] = (float)unif(r);
            f[2] = (float)(0.02 + 0.9 * unif(r));
            f[3] = (float)(0.02 + 0.9 * unif(r));
            f[4] = (float)range(r, 0, l->classes - 1);
            if (l->truth_floats == 6)
                f[5] = (float)range(r, 0, 1000); /* AlexeyAB's track id: not read */
        }
    }
}

static void random_case(rng *r, int type, int truth_floats, dcase *c)
{
    memset(c, 0, sizeof *c);
    rl_darknet_layer *l = &c->l;
    rl_darknet_layer_init(l, (rl_darknet_type)type);
    l->batch = range(r, 1, 3);
    l->h = range(r, 2, 7);
    l->w = range(r, 2, 7);
    l->classes = range(r, 1, 6);
    l->truth_floats = truth_floats;
    l->max_boxes = range(r, 3, 12);
    if (type == RL_DARKNET_REGION) {
        l->n = range(r, 1, 5);
        for (int32_t k = 0; k < 2 * l->n; k++)
            c->biases[k] = (float)(0.3 + 4.0 * unif(r));
        l->coord_scale = (float)(0.5 + unif(r));
        l->class_scale = (float)(0.5 + unif(r));
        l->object_scale = (float)(1 + 5 * unif(r));
        l->noobject_scale = (float)(0.5 + unif(r));
        l->thresh = (float)(0.3 + 0.5 * unif(r));
        l->rescore = range(r, 0, 1);
        l->softmax = range(r, 0, 1);
    } else {
        l->total = range(r, 3, 9);
        l->n = range(r, 1, l->total < 3 ? l->total : 3);
        for (int32_t k = 0; k < 2 * l->total; k++)
            c->biases[k] = (float)(8 + 200 * unif(r));
        for (int32_t k = 0; k < l->n; k++) { /* distinct indices */
            int32_t m;
            int dup;
            do {
                m = range(r, 0, l->total - 1);
                dup = 0;
                for (int32_t q = 0; q < k; q++)
                    dup |= c->mask[q] == m;
            } while (dup);
            c->mask[k] = m;
        }
        l->mask = c->mask;
        l->net_w = 32 * l->w;
        l->net_h = 32 * l->h;
        l->ignore_thresh = (float)(0.3 + 0.5 * unif(r));
        l->truth_thresh = unif(r) < 0.3 ? (float)(0.6 + 0.4 * unif(r)) : 1.0f;
    }
    l->biases = c->biases;
    c->count = (size_t)l->batch * l->h * l->w * l->n * (5 + l->classes);
    c->input = malloc(c->count * sizeof *c->input);
    for (size_t e = 0; e < c->count; e++)
        c->input[e] = logit(r, 1);
    random_truths(r, c);
}

static void free_case(dcase *c)
{
    free(c->input);
    free(c->truth);
}

/* The library's plain API on the same layer, as docs/darknet.md maps the
 * fields: the gradient (overwrite or accumulate into grad) and the result. */
static void direct(const dcase *c, const char *variant, rl_grad_mode mode, int64_t seen,
                   float *grad, rl_result *res)
{
    const rl_darknet_layer *l = &c->l;
    /* the truths through the public conversion (5 floats a row) */
    const size_t rows = (size_t)l->batch * l->max_boxes;
    float *five = calloc(rows * 5, sizeof *five);
    for (size_t t = 0; t < rows; t++)
        memcpy(five + 5 * t, c->truth + t * l->truth_floats, 5 * sizeof *five);
    rl_box *boxes = malloc(rows * sizeof *boxes);
    int64_t *off = malloc(((size_t)l->batch + 1) * sizeof *off);
    cr_assert_eq(rl_truths_from_darknet(five, l->batch, l->max_boxes, l->classes, boxes, off),
                 RL_OK, "%s", rl_last_error());
    if (l->type == RL_DARKNET_REGION) {
        rl_config cfg;
        rl_config_init_darknet(&cfg);
        cfg.H = l->h;
        cfg.W = l->w;
        cfg.B = l->n;
        cfg.C = l->classes;
        cfg.anchors = l->biases;
        cfg.lambda_coord = l->coord_scale;
        cfg.lambda_class = l->class_scale;
        cfg.lambda_obj = l->object_scale;
        cfg.lambda_noobj = l->noobject_scale;
        cfg.thresh = l->thresh;
        cfg.rescore = l->rescore;
        cfg.logistic_classes = !l->softmax;
        cfg.grad_mode = mode;
        cfg.variant = variant;
        rl_plan *plan;
        cr_assert_eq(rl_plan_create(&cfg, &plan), RL_OK, "%s", rl_last_error());
        const rl_batch batch = {.n_images = l->batch, .pred = c->input, .truths = boxes,
                                .truth_offsets = off, .seen = seen};
        cr_assert_eq(rl_compute(plan, &batch, res, grad), RL_OK, "%s", rl_last_error());
        rl_plan_destroy(plan);
    } else {
        const rl_yolo_head head = {l->h, l->w, l->n, l->mask};
        rl_yolo_config cfg;
        rl_yolo_config_init(&cfg);
        cfg.n_heads = 1;
        cfg.heads = &head;
        cfg.C = l->classes;
        cfg.n_anchors = l->total;
        cfg.anchors = l->biases;
        cfg.net_w = l->net_w;
        cfg.net_h = l->net_h;
        cfg.ignore_thresh = l->ignore_thresh;
        cfg.truth_thresh = l->truth_thresh;
        cfg.norm = RL_NORM_SUM;
        cfg.grad_mode = mode;
        cfg.variant = variant;
        rl_yolo_plan *plan;
        cr_assert_eq(rl_yolo_plan_create(&cfg, &plan), RL_OK, "%s", rl_last_error());
        const void *preds[1] = {c->input};
        void *grads[1] = {grad};
        const rl_yolo_batch batch = {.n_images = l->batch, .preds = preds, .truths = boxes,
                                     .truth_offsets = off};
        cr_assert_eq(rl_yolo_compute(plan, &batch, res, NULL, grads), RL_OK, "%s",
                     rl_last_error());
        rl_yolo_plan_destroy(plan);
    }
    free(five);
    free(boxes);
    free(off);
}

static rl_darknet *state_for(const char *variant, rl_grad_mode mode, double scale)
{
    rl_darknet_options o;
    rl_darknet_options_init(&o);
    o.variant = variant;
    o.delta_mode = mode;
    o.delta_scale = scale;
    rl_darknet *s;
    cr_assert_eq(rl_darknet_create(&o, &s), RL_OK, "%s", rl_last_error());
    return s;
}

/* delta[e] is -g[e]: the same bits, or both zero. */
static void assert_negated(const float *delta, const float *g, size_t count, const char *what)
{
    for (size_t e = 0; e < count; e++) {
        const int ok = bits(delta[e]) == bits(-g[e]) || (delta[e] == 0.0f && g[e] == 0.0f);
        cr_assert(ok, "%s: entry %zu: delta %a, gradient %a", what, e, (double)delta[e],
                  (double)g[e]);
    }
}

static void assert_same_result(const rl_darknet_result *a, const rl_result *r, const char *what)
{
    cr_assert(a->cost == r->darknet.cost, "%s: cost %.17g, rl_compute's %.17g", what, a->cost,
              r->darknet.cost);
    cr_assert(a->loss == r->loss, "%s: loss %.17g, rl_compute's %.17g", what, a->loss, r->loss);
    cr_assert(memcmp(&a->stats, &r->darknet, sizeof a->stats) == 0,
              "%s: the training line's values differ (IoU %.17g vs %.17g, count %lld vs %lld)",
              what, a->stats.avg_iou, r->darknet.avg_iou, (long long)a->stats.count,
              (long long)r->darknet.count);
    cr_assert_str_eq(a->variant, r->variant, "%s", what);
}

/* Random layers of both types on every variant: the adapter's delta is the
 * gradient negated, its result rl_compute's. */
static void negated_on_every_variant(int type, uint64_t seed, int cases)
{
    rng r = {seed};
    for (int k = 0; k < cases; k++) {
        dcase c;
        random_case(&r, type, range(&r, 5, 6), &c);
        const int64_t seen = range(&r, 0, 1) ? 0 : 20000; /* warm-up on and off */
        for (const char *const *v = rl_variant_list(); *v; v++) {
            char what[160];
            snprintf(what, sizeof what, "%s case %d (seed %llu) on %s",
                     type == RL_DARKNET_REGION ? "[region]" : "[yolo]", k,
                     (unsigned long long)seed, *v);
            float *g = malloc(c.count * sizeof *g), *delta = malloc(c.count * sizeof *delta);
            for (size_t e = 0; e < c.count; e++)
                delta[e] = guard();
            rl_result res;
            direct(&c, *v, RL_GRAD_OVERWRITE, seen, g, &res);
            rl_darknet *s = state_for(*v, RL_GRAD_OVERWRITE, -1.0);
            rl_darknet_result out;
            cr_assert_eq(rl_darknet_forward(s, &c.l, c.input, c.truth, seen, delta, &out), RL_OK,
                         "%s: %s", what, rl_last_error());
            cr_assert_eq(out.replanned, 1, "%s: the first call builds the plan", what);
            assert_negated(delta, g, c.count, what);
            assert_same_result(&out, &res, what);
            rl_darknet_destroy(s);
            free(g);
            free(delta);
        }
        free_case(&c);
    }
}

Test(adapter, region_delta_is_minus_gradient) { negated_on_every_variant(RL_DARKNET_REGION, 11, 12); }

Test(adapter, yolo_delta_is_minus_gradient) { negated_on_every_variant(RL_DARKNET_YOLO, 12, 12); }

/* Accumulating into net.delta: the adapter adds -g into `base` exactly as
 * rl_compute adds g into -base (rounding to nearest is symmetric), so the
 * two buffers are each other's negation, entry for entry. */
Test(adapter, adds_into_net_delta)
{
    rng r = {21};
    for (int k = 0; k < 16; k++) {
        dcase c;
        const int type = k % 2 ? RL_DARKNET_YOLO : RL_DARKNET_REGION;
        random_case(&r, type, 5, &c);
        for (const char *const *v = rl_variant_list(); *v; v++) {
            char what[128];
            snprintf(what, sizeof what, "case %d (%s) on %s", k,
                     type == RL_DARKNET_REGION ? "[region]" : "[yolo]", *v);
            float *a = malloc(c.count * sizeof *a), *b = malloc(c.count * sizeof *b);
            for (size_t e = 0; e < c.count; e++) {
                a[e] = (float)((unif(&r) - 0.5) * 4.0);
                b[e] = -a[e];
            }
            rl_result res;
            direct(&c, *v, RL_GRAD_ACCUMULATE, 0, b, &res);
            rl_darknet *s = state_for(*v, RL_GRAD_ACCUMULATE, -1.0);
            rl_darknet_result out;
            cr_assert_eq(rl_darknet_forward(s, &c.l, c.input, c.truth, 0, a, &out), RL_OK,
                         "%s: %s", what, rl_last_error());
            for (size_t e = 0; e < c.count; e++)
                cr_assert_eq(bits(a[e]), bits(-b[e]), "%s: entry %zu: %a, expected %a", what, e,
                             (double)a[e], (double)-b[e]);
            assert_same_result(&out, &res, what);
            rl_darknet_destroy(s);
            free(a);
            free(b);
        }
        free_case(&c);
    }
}

/* Another scale: the gradient times it, within a float rounding. */
Test(adapter, other_delta_scale)
{
    rng r = {31};
    dcase c;
    random_case(&r, RL_DARKNET_REGION, 5, &c);
    float *g = malloc(c.count * sizeof *g), *delta = malloc(c.count * sizeof *delta);
    rl_result res;
    direct(&c, NULL, RL_GRAD_OVERWRITE, 0, g, &res);
    rl_darknet *s = state_for(NULL, RL_GRAD_OVERWRITE, 0.375);
    rl_darknet_result out;
    cr_assert_eq(rl_darknet_forward(s, &c.l, c.input, c.truth, 0, delta, &out), RL_OK, "%s",
                 rl_last_error());
    for (size_t e = 0; e < c.count; e++)
        cr_assert(fabsf(delta[e] - 0.375f * g[e]) <= 2e-7f * fabsf(g[e]) + 1e-37f,
                  "entry %zu: %a, gradient %a", e, (double)delta[e], (double)g[e]);
    cr_assert(out.cost == res.darknet.cost, "the cost is darknet's, whatever the scale");
    rl_darknet_destroy(s);
    free(g);
    free(delta);
    free_case(&c);
}

/* One state across darknet's random=1 resizes: a new plan whenever a field
 * changes, none when nothing does, and each call equal to a fresh one. */
Test(adapter, resize_between_calls)
{
    rng r = {41};
    dcase base;
    random_case(&r, RL_DARKNET_REGION, 5, &base);
    rl_darknet *s = state_for(NULL, RL_GRAD_OVERWRITE, -1.0);
    const int32_t sizes[][3] = {{5, 5, 2}, {5, 5, 2}, {7, 6, 2}, {3, 4, 1}, {3, 4, 1}, {5, 5, 2}};
    const int expect_plan[] = {1, 0, 1, 1, 0, 1};
    for (int k = 0; k < 6; k++) {
        dcase c = base;
        c.l.h = sizes[k][0];
        c.l.w = sizes[k][1];
        c.l.batch = sizes[k][2];
        c.count = (size_t)c.l.batch * c.l.h * c.l.w * c.l.n * (5 + c.l.classes);
        c.input = malloc(c.count * sizeof *c.input);
        for (size_t e = 0; e < c.count; e++)
            c.input[e] = logit(&r, 0);
        random_truths(&r, &c);
        float *g = malloc(c.count * sizeof *g), *delta = malloc(c.count * sizeof *delta);
        rl_result res;
        direct(&c, NULL, RL_GRAD_OVERWRITE, 0, g, &res);
        rl_darknet_result out;
        cr_assert_eq(rl_darknet_forward(s, &c.l, c.input, c.truth, 0, delta, &out), RL_OK,
                     "call %d: %s", k, rl_last_error());
        cr_assert_eq(out.replanned, expect_plan[k], "call %d (%dx%d, batch %d): replanned %d", k,
                     c.l.h, c.l.w, c.l.batch, out.replanned);
        char what[32];
        snprintf(what, sizeof what, "call %d", k);
        assert_negated(delta, g, c.count, what);
        assert_same_result(&out, &res, what);
        free(g);
        free(delta);
        free_case(&c);
    }
    /* a changed scale or anchor is a new plan too */
    dcase c = base;
    c.l.thresh = base.l.thresh * 0.5f;
    float *delta = malloc(c.count * sizeof *delta);
    rl_darknet_result out;
    cr_assert_eq(rl_darknet_forward(s, &c.l, c.input, c.truth, 0, delta, &out), RL_OK, "%s",
                 rl_last_error());
    cr_assert_eq(out.replanned, 1, "a changed thresh builds a new plan");
    c.l.biases = c.biases; /* the copy's own anchors */
    c.biases[0] *= 1.5f;
    cr_assert_eq(rl_darknet_forward(s, &c.l, c.input, c.truth, 0, delta, &out), RL_OK, "%s",
                 rl_last_error());
    cr_assert_eq(out.replanned, 1, "a changed anchor builds a new plan");
    free(delta);
    rl_darknet_destroy(s);
    free_case(&base);
}

/* A [region] and a [yolo] layer of different shapes in one process, each
 * with its state, called in turn over several batches. */
Test(adapter, two_layers_in_one_process)
{
    rng r = {51};
    rl_darknet *sr = state_for(NULL, RL_GRAD_OVERWRITE, -1.0);
    rl_darknet *sy = state_for(NULL, RL_GRAD_OVERWRITE, -1.0);
    dcase cr_, cy;
    random_case(&r, RL_DARKNET_REGION, 5, &cr_);
    random_case(&r, RL_DARKNET_YOLO, 5, &cy);
    for (int it = 0; it < 4; it++) {
        dcase *cs[2] = {&cr_, &cy};
        rl_darknet *ss[2] = {sr, sy};
        for (int q = 0; q < 2; q++) {
            dcase *c = cs[q];
            for (size_t e = 0; e < c->count; e++)
                c->input[e] = logit(&r, 0);
            float *g = malloc(c->count * sizeof *g), *delta = malloc(c->count * sizeof *delta);
            rl_result res;
            direct(c, NULL, RL_GRAD_OVERWRITE, 0, g, &res);
            rl_darknet_result out;
            cr_assert_eq(rl_darknet_forward(ss[q], &c->l, c->input, c->truth, 0, delta, &out),
                         RL_OK, "%s", rl_last_error());
            cr_assert_eq(out.replanned, it == 0, "layer %d, batch %d: replanned %d", q, it,
                         out.replanned);
            char what[48];
            snprintf(what, sizeof what, "layer %d, batch %d", q, it);
            assert_negated(delta, g, c->count, what);
            assert_same_result(&out, &res, what);
            free(g);
            free(delta);
        }
    }
    rl_darknet_destroy(sr);
    rl_darknet_destroy(sy);
    free_case(&cr_);
    free_case(&cy);
}

/* pjreddie's 5-float rows and AlexeyAB's 6-float rows (a track id after
 * the class) holding the same boxes give the same delta and result. */
Test(adapter, truth_rows_of_5_and_6_floats)
{
    rng r = {61};
    for (int type = 0; type < 2; type++) {
        dcase c;
        random_case(&r, type, 6, &c);
        const rl_darknet_layer l6 = c.l;
        rl_darknet_layer l5 = c.l;
        l5.truth_floats = 5;
        const size_t rows = (size_t)c.l.batch * c.l.max_boxes;
        float *t5 = calloc(rows * 5, sizeof *t5);
        for (size_t t = 0; t < rows; t++)
            memcpy(t5 + 5 * t, c.truth + 6 * t, 5 * sizeof *t5);
        float *d5 = malloc(c.count * sizeof *d5), *d6 = malloc(c.count * sizeof *d6);
        rl_darknet *s5 = state_for(NULL, RL_GRAD_OVERWRITE, -1.0);
        rl_darknet *s6 = state_for(NULL, RL_GRAD_OVERWRITE, -1.0);
        rl_darknet_result o5, o6;
        cr_assert_eq(rl_darknet_forward(s5, &l5, c.input, t5, 0, d5, &o5), RL_OK, "%s",
                     rl_last_error());
        cr_assert_eq(rl_darknet_forward(s6, &l6, c.input, c.truth, 0, d6, &o6), RL_OK, "%s",
                     rl_last_error());
        cr_assert(memcmp(d5, d6, c.count * sizeof *d5) == 0, "type %d: the deltas differ", type);
        cr_assert(o5.cost == o6.cost && o5.loss == o6.loss && o5.stats.count == o6.stats.count,
                  "type %d: cost %.17g vs %.17g, count %lld vs %lld", type, o5.cost, o6.cost,
                  (long long)o5.stats.count, (long long)o6.stats.count);
        rl_darknet_destroy(s5);
        rl_darknet_destroy(s6);
        free(t5);
        free(d5);
        free(d6);
        free_case(&c);
    }
}

/* Logistic classes with darknet_class_update: the class entries of a
 * responsible slot are darknet's class_scale ([c == class] - s(t)), as the
 * independent model of darknet's layer (dn_model.c) writes them; every other
 * entry is still minus the gradient of the loss. */
Test(adapter, logistic_classes_darknet_update)
{
    rng r = {71};
    int checked = 0;
    for (int k = 0; k < 10; k++) {
        dcase c;
        random_case(&r, RL_DARKNET_REGION, 5, &c);
        c.l.softmax = 0;
        rl_darknet_options o;
        rl_darknet_options_init(&o);
        o.darknet_class_update = 1;
        rl_darknet *s;
        cr_assert_eq(rl_darknet_create(&o, &s), RL_OK, "%s", rl_last_error());
        float *delta = malloc(c.count * sizeof *delta), *g = malloc(c.count * sizeof *g);
        rl_darknet_result out;
        cr_assert_eq(rl_darknet_forward(s, &c.l, c.input, c.truth, 20000, delta, &out), RL_OK,
                     "%s", rl_last_error());
        rl_result res;
        direct(&c, NULL, RL_GRAD_OVERWRITE, 20000, g, &res);
        cr_assert(out.cost == res.darknet.cost, "case %d: darknet's cost does not change", k);

        dn_region m = {.batch = c.l.batch, .w = c.l.w, .h = c.l.h, .n = c.l.n,
                       .classes = c.l.classes, .max_boxes = c.l.max_boxes,
                       .biases = c.l.biases, .coord_scale = c.l.coord_scale,
                       .class_scale = c.l.class_scale, .object_scale = c.l.object_scale,
                       .noobject_scale = c.l.noobject_scale, .thresh = c.l.thresh,
                       .rescore = c.l.rescore, .softmax = 0, .warmup_seen = 12800,
                       .warmup_scale = 0.01};
        dn_alloc(&m);
        dn_forward(&m, c.input, c.truth, 20000);
        const int64_t hw = (int64_t)c.l.h * c.l.w;
        for (size_t e = 0; e < c.count; e++) {
            const int64_t ch = ((int64_t)e / hw) % (5 + c.l.classes);
            /* (a class gradient can underflow to 0 where darknet's update does not) */
            if (ch < 5 || m.delta[e] == 0.0) {
                const int ok = bits(delta[e]) == bits(-g[e]) ||
                               (delta[e] == 0.0f && g[e] == 0.0f);
                cr_assert(ok, "case %d entry %zu (channel %lld): %a, gradient %a", k, e,
                          (long long)ch, (double)delta[e], (double)g[e]);
            } else {
                const double want = m.delta[e];
                cr_assert(fabs(delta[e] - want) <= 1e-6 * fabs(c.l.class_scale) + 1e-30,
                          "case %d entry %zu (class %lld): %.9g, darknet's %.9g", k, e,
                          (long long)(ch - 5), (double)delta[e], want);
                checked++;
            }
        }
        dn_free(&m);
        rl_darknet_destroy(s);
        free(delta);
        free(g);
        free_case(&c);
    }
    cr_assert_gt(checked, 20, "only %d class entries checked", checked);
}

/* Edits that each make one field of a good layer bad. */
#define EDIT(name, body) \
    static void name(rl_darknet_layer *l, float *truth, float *input) \
    { \
        (void)l; \
        (void)truth; \
        (void)input; \
        body; \
    }
EDIT(coords5, l->coords = 5)
EDIT(floats7, l->truth_floats = 7)
EDIT(batch0, l->batch = 0)
EDIT(tree1, l->tree = 1)
EDIT(background1, l->background = 1)
EDIT(bias_match0, l->bias_match = 0)
EDIT(softmax2, l->softmax = 2)
EDIT(thresh15, l->thresh = 1.5f)
EDIT(negative_scale, l->object_scale = -1.0f)
EDIT(nan_scale, l->coord_scale = NAN)
EDIT(no_biases, l->biases = NULL)
EDIT(zero_anchor, ((float *)l->biases)[1] = 0.0f)
EDIT(no_mask, l->mask = NULL)
EDIT(mask_out, ((int32_t *)l->mask)[0] = l->total)
EDIT(net0, l->net_w = 0)
EDIT(ignore2, l->ignore_thresh = 2.0f)
EDIT(truth_class, truth[4] = (float)l->classes; truth[0] = 0.5f)
EDIT(input_nan, input[0] = NAN)
EDIT(total0, l->total = 0)

/* A bad field or option: an error naming it, the delta and *out untouched,
 * the state's plan kept (the next good call needs no new one). */
Test(adapter, bad_fields_write_nothing)
{
    rng r = {81};
    dcase reg, yol;
    random_case(&r, RL_DARKNET_REGION, 5, &reg);
    random_case(&r, RL_DARKNET_YOLO, 5, &yol);
    rl_darknet *s = state_for(NULL, RL_GRAD_OVERWRITE, -1.0);
    float *delta = malloc((reg.count > yol.count ? reg.count : yol.count) * sizeof *delta);
    rl_darknet_result out;
    cr_assert_eq(rl_darknet_forward(s, &reg.l, reg.input, reg.truth, 0, delta, &out), RL_OK, "%s",
                 rl_last_error());

    struct bad {
        const char *field; /* the message must hold it */
        int yolo;
        void (*edit)(rl_darknet_layer *l, float *truth, float *input);
    };
    const struct bad bads[] = {
        {"coords", 0, coords5},        {"truth_floats", 0, floats7},
        {"batch", 0, batch0},          {"tree", 0, tree1},
        {"background", 0, background1}, {"bias_match", 0, bias_match0},
        {"softmax", 0, softmax2},      {"thresh", 0, thresh15},
        {"object_scale", 0, negative_scale}, {"coord_scale", 0, nan_scale},
        {"biases", 0, no_biases},      {"anchor", 0, zero_anchor},
        {"mask", 1, no_mask},          {"mask", 1, mask_out},
        {"net_w", 1, net0},            {"ignore_thresh", 1, ignore2},
        {"class", 0, truth_class},     {"class", 1, truth_class},
        {"not finite", 0, input_nan},  {"total", 1, total0},
    };
    for (size_t k = 0; k < sizeof bads / sizeof *bads; k++) {
        dcase c = bads[k].yolo ? yol : reg;
        float biases[18], *truth = malloc(c.l.batch * c.l.max_boxes * 5 * sizeof *truth);
        float *input = malloc(c.count * sizeof *input);
        int32_t mask[9];
        memcpy(biases, c.biases, sizeof biases);
        memcpy(mask, c.mask, sizeof mask);
        memcpy(truth, c.truth, c.l.batch * c.l.max_boxes * 5 * sizeof *truth);
        memcpy(input, c.input, c.count * sizeof *input);
        c.l.biases = biases;
        c.l.mask = bads[k].yolo ? mask : NULL;
        bads[k].edit(&c.l, truth, input);
        for (size_t e = 0; e < c.count; e++)
            delta[e] = guard();
        rl_darknet_result o;
        memset(&o, 0xa5, sizeof o);
        const rl_status st = rl_darknet_forward(s, &c.l, input, truth, 0, delta, &o);
        cr_assert_neq(st, RL_OK, "bad %s was accepted", bads[k].field);
        cr_assert(strstr(rl_last_error(), bads[k].field) != NULL,
                  "bad %s: the message does not name it: %s", bads[k].field, rl_last_error());
        for (size_t e = 0; e < c.count; e++)
            cr_assert_eq(bits(delta[e]), GUARD_BITS, "bad %s: delta entry %zu written",
                         bads[k].field, e);
        const unsigned char *ob = (const unsigned char *)&o;
        for (size_t q = 0; q < sizeof o; q++)
            cr_assert_eq(ob[q], 0xa5, "bad %s: *out written", bads[k].field);
        free(truth);
        free(input);
    }
    /* the plan built by the first call is still there */
    cr_assert_eq(rl_darknet_forward(s, &reg.l, reg.input, reg.truth, 0, delta, &out), RL_OK, "%s",
                 rl_last_error());
    cr_assert_eq(out.replanned, 0, "a failed call dropped the state's plan");
    cr_assert_eq(rl_darknet_forward(s, NULL, reg.input, reg.truth, 0, delta, &out),
                 RL_ERR_NULL_POINTER);
    cr_assert(strstr(rl_last_error(), "layer"), "%s", rl_last_error());
    cr_assert_eq(rl_darknet_forward(s, &reg.l, reg.input, reg.truth, 0, NULL, &out),
                 RL_ERR_NULL_POINTER);
    cr_assert(strstr(rl_last_error(), "delta"), "%s", rl_last_error());
    rl_darknet_destroy(s);
    free(delta);
    free_case(&reg);
    free_case(&yol);
}

Test(adapter, bad_options)
{
    struct {
        const char *field;
        rl_darknet_options o;
    } bads[4];
    for (int k = 0; k < 4; k++)
        rl_darknet_options_init(&bads[k].o);
    bads[0].field = "delta_scale";
    bads[0].o.delta_scale = NAN;
    bads[1].field = "delta_mode";
    bads[1].o.delta_mode = (rl_grad_mode)5;
    bads[2].field = "darknet_class_update";
    bads[2].o.darknet_class_update = 2;
    bads[3].field = "variant";
    bads[3].o.variant = "no-such-variant";
    for (int k = 0; k < 4; k++) {
        rl_darknet *s = (rl_darknet *)&bads; /* must stay as it is */
        cr_assert_neq(rl_darknet_create(&bads[k].o, &s), RL_OK, "bad %s accepted", bads[k].field);
        cr_assert(strstr(rl_last_error(), bads[k].field), "bad %s: %s", bads[k].field,
                  rl_last_error());
        cr_assert(s == (rl_darknet *)&bads, "bad %s: the state pointer was written",
                  bads[k].field);
    }
    /* the plan's own checks name the option too, on the first call */
    rl_darknet_options o;
    rl_darknet_options_init(&o);
    o.threads = -3;
    rl_darknet *s;
    cr_assert_eq(rl_darknet_create(&o, &s), RL_OK);
    rng r = {91};
    dcase c;
    random_case(&r, RL_DARKNET_REGION, 5, &c);
    float *delta = malloc(c.count * sizeof *delta);
    cr_assert_neq(rl_darknet_forward(s, &c.l, c.input, c.truth, 0, delta, NULL), RL_OK);
    cr_assert(strstr(rl_last_error(), "threads"), "%s", rl_last_error());
    rl_darknet_destroy(s);
    free(delta);
    free_case(&c);
}

/* The field-by-name macros against a stand-in with darknet's field names
 * and types (int sizes, float scales, int *mask, a tree pointer). */
typedef enum { FAKE_IOU, FAKE_GIOU, FAKE_MSE, FAKE_DIOU, FAKE_CIOU } fake_iou_loss;
typedef struct fake_layer {
    int batch, h, w, n, classes, coords, total, max_boxes, truth_size;
    int rescore, softmax, bias_match, background, classfix, focal_loss;
    float coord_scale, class_scale, object_scale, noobject_scale, thresh;
    float ignore_thresh, truth_thresh;
    float *biases;
    int *mask;
    void *softmax_tree;
    int *map;
    /* AlexeyAB's [yolo] */
    fake_iou_loss iou_loss, iou_thresh_kind;
    int new_coords, objectness_smooth, show_details;
    float iou_normalizer, cls_normalizer, obj_normalizer, scale_x_y, iou_thresh;
    float label_smooth_eps, max_delta;
    float *classes_multipliers;
} fake_layer;
typedef struct fake_net {
    int w, h;
} fake_net;

Test(adapter, darknet_field_macros)
{
    float biases[4] = {1, 2, 3, 4};
    int mask[2] = {1, 0};
    float mult[7] = {1, 2, 3, 4, 5, 6, 7};
    const fake_layer l = {.batch = 2, .h = 3, .w = 4, .n = 2, .classes = 7, .coords = 4,
                          .total = 2, .max_boxes = 11, .truth_size = 6, .rescore = 0,
                          .softmax = 1, .bias_match = 1, .background = 0,
                          .coord_scale = 1.5f, .class_scale = 2.5f, .object_scale = 3.5f,
                          .noobject_scale = 0.5f, .thresh = 0.25f, .ignore_thresh = 0.7f,
                          .truth_thresh = 0.9f, .biases = biases, .mask = mask,
                          .softmax_tree = NULL, .classfix = 2, .focal_loss = 1, .map = NULL,
                          .iou_loss = FAKE_CIOU, .iou_thresh_kind = FAKE_GIOU,
                          .new_coords = 1, .objectness_smooth = 1, .show_details = 0,
                          .iou_normalizer = 0.07f, .cls_normalizer = 0.5f,
                          .obj_normalizer = 4.0f, .scale_x_y = 1.05f, .iou_thresh = 0.213f,
                          .label_smooth_eps = 0.1f, .max_delta = 5.0f,
                          .classes_multipliers = mult};
    const fake_net net = {416, 320};
    const rl_darknet_layer pr = RL_DARKNET_PJREDDIE_REGION(l);
    cr_assert(pr.type == RL_DARKNET_REGION && pr.batch == 2 && pr.h == 3 && pr.w == 4 &&
              pr.n == 2 && pr.classes == 7 && pr.coords == 4 && pr.max_boxes == 30 &&
              pr.truth_floats == 5 && pr.rescore == 0 && pr.softmax == 1 &&
              pr.bias_match == 1 && pr.tree == 0 && pr.biases == biases);
    cr_assert(pr.coord_scale == 1.5f && pr.class_scale == 2.5f && pr.object_scale == 3.5f &&
              pr.noobject_scale == 0.5f && pr.thresh == 0.25f);
    const rl_darknet_layer ar = RL_DARKNET_ALEXEYAB_REGION(l);
    cr_assert(ar.max_boxes == 11 && ar.truth_floats == 6 && ar.n == 2);
    cr_assert(ar.flavour == RL_FLAVOUR_ALEXEYAB && ar.classfix == 2 && ar.focal_loss == 1 &&
              ar.map == 0);
    cr_assert(pr.flavour == RL_FLAVOUR_PJREDDIE && pr.classfix == 0 && pr.focal_loss == 0,
              "pjreddie's layer has neither option");
    const rl_darknet_layer py = RL_DARKNET_PJREDDIE_YOLO(l, net);
    cr_assert(py.type == RL_DARKNET_YOLO && py.total == 2 && py.mask == mask &&
              py.net_w == 416 && py.net_h == 320 && py.max_boxes == 11 &&
              py.truth_floats == 5 && py.ignore_thresh == 0.7f && py.truth_thresh == 0.9f);
    cr_assert(py.flavour == RL_YOLO_FLAVOUR_PJREDDIE && py.focal_loss == 0 &&
                  py.classes_multipliers == NULL,
              "pjreddie's [yolo] reads none of AlexeyAB's options");
    const rl_darknet_layer ay = RL_DARKNET_ALEXEYAB_YOLO(l, net);
    cr_assert(ay.truth_floats == 6 && ay.max_boxes == 11 && ay.net_w == 416);
    cr_assert(ay.flavour == RL_YOLO_FLAVOUR_ALEXEYAB && ay.focal_loss == 1 && ay.map == 0 &&
              ay.iou_loss == 4 && ay.iou_thresh_kind == 1 && ay.new_coords == 1 &&
              ay.objectness_smooth == 1 && ay.show_details == 0);
    cr_assert(ay.iou_normalizer == 0.07f && ay.cls_normalizer == 0.5f &&
              ay.obj_normalizer == 4.0f && ay.scale_x_y == 1.05f && ay.iou_thresh == 0.213f &&
              ay.label_smooth_eps == 0.1f && ay.max_delta == 5.0f &&
              ay.classes_multipliers == mult);
    fake_layer t = l;
    int dummy;
    t.softmax_tree = &dummy;
    cr_assert_eq(RL_DARKNET_PJREDDIE_REGION(t).tree, 1, "a softmax tree is flagged");
    t.map = &dummy;
    cr_assert_eq(RL_DARKNET_ALEXEYAB_REGION(t).map, 1, "a class map is flagged");
    cr_assert_eq(RL_DARKNET_ALEXEYAB_YOLO(t, net).map, 1, "a class map is flagged");
}

/* Layer l (case c's shape) is refused with a message holding `needle`,
 * and no delta entry is written. */
static void assert_refused(const dcase *c, const rl_darknet_layer *l, const char *needle)
{
    float *delta = malloc(c->count * sizeof *delta);
    for (size_t e = 0; e < c->count; e++)
        delta[e] = guard();
    rl_darknet *s = state_for(NULL, RL_GRAD_OVERWRITE, -1.0);
    cr_assert_neq(rl_darknet_forward(s, l, c->input, c->truth, 0, delta, NULL), RL_OK,
                  "%s accepted", needle);
    cr_assert(strstr(rl_last_error(), needle), "%s: %s", needle, rl_last_error());
    for (size_t e = 0; e < c->count; e++)
        cr_assert(bits(delta[e]) == GUARD_BITS, "%s: entry %zu written", needle, e);
    rl_darknet_destroy(s);
    free(delta);
}

/* AlexeyAB's [region] through the adapter: the flavour's plan on the same
 * truths (rows of a class >= C passed over, before or after the others,
 * without ending the list), every classfix and focal setting, on every
 * variant; and the options it refuses. */
Test(adapter, alexeyab_region_flavour)
{
    rng r = {31};
    for (int k = 0; k < 8; k++) {
        dcase c;
        random_case(&r, RL_DARKNET_REGION, 6, &c);
        c.l.flavour = RL_FLAVOUR_ALEXEYAB;
        c.l.classfix = k % 4 - 1;
        c.l.focal_loss = c.l.softmax && k >= 4;
        const int32_t C = c.l.classes;
        /* row 0 of image 0 a class past C; the kept rows follow it */
        float *row0 = c.truth;
        const size_t rf = (size_t)c.l.truth_floats;
        memmove(row0 + rf, row0, ((size_t)c.l.max_boxes - 1) * rf * sizeof *row0);
        row0[0] = 0.0f; /* x = 0: would end the list, but the class is read first */
        row0[4] = (float)(C + 3);
        const int64_t seen = k % 2 ? 0 : 20000;
        /* the plain API's truths: the rows AlexeyAB keeps */
        const size_t rows = (size_t)c.l.batch * c.l.max_boxes;
        rl_box *boxes = malloc(rows * sizeof *boxes);
        int64_t *off = malloc(((size_t)c.l.batch + 1) * sizeof *off);
        int64_t nb = 0;
        off[0] = 0;
        for (int32_t b = 0; b < c.l.batch; b++) {
            for (int32_t t = 0; t < c.l.max_boxes; t++) {
                const float *f = c.truth + ((size_t)b * c.l.max_boxes + t) * rf;
                if (f[4] >= (float)C)
                    continue;
                if (f[0] == 0.0f)
                    break;
                boxes[nb++] = (rl_box){f[0], f[1], f[2], f[3], (int32_t)f[4]};
            }
            off[b + 1] = nb;
        }
        for (const char *const *v = rl_variant_list(); *v; v++) {
            char what[160];
            snprintf(what, sizeof what, "AlexeyAB [region] case %d (classfix %d, focal %d) on %s",
                     k, (int)c.l.classfix, (int)c.l.focal_loss, *v);
            rl_config cfg;
            rl_config_init_darknet(&cfg);
            cfg.H = c.l.h;
            cfg.W = c.l.w;
            cfg.B = c.l.n;
            cfg.C = C;
            cfg.anchors = c.l.biases;
            cfg.lambda_coord = c.l.coord_scale;
            cfg.lambda_class = c.l.class_scale;
            cfg.lambda_obj = c.l.object_scale;
            cfg.lambda_noobj = c.l.noobject_scale;
            cfg.thresh = c.l.thresh;
            cfg.rescore = c.l.rescore;
            cfg.logistic_classes = !c.l.softmax;
            cfg.flavour = RL_FLAVOUR_ALEXEYAB;
            cfg.classfix = c.l.classfix;
            cfg.focal_loss = c.l.focal_loss;
            cfg.variant = *v;
            rl_plan *plan;
            cr_assert_eq(rl_plan_create(&cfg, &plan), RL_OK, "%s", rl_last_error());
            float *g = malloc(c.count * sizeof *g), *delta = malloc(c.count * sizeof *delta);
            const rl_batch batch = {.n_images = c.l.batch, .pred = c.input, .truths = boxes,
                                    .truth_offsets = off, .seen = seen};
            rl_result res;
            cr_assert_eq(rl_compute(plan, &batch, &res, g), RL_OK, "%s: %s", what,
                         rl_last_error());
            rl_darknet *s = state_for(*v, RL_GRAD_OVERWRITE, -1.0);
            rl_darknet_result out;
            cr_assert_eq(rl_darknet_forward(s, &c.l, c.input, c.truth, seen, delta, &out), RL_OK,
                         "%s: %s", what, rl_last_error());
            assert_negated(delta, g, c.count, what);
            assert_same_result(&out, &res, what);
            /* the flavour's cost is the squares of the delta written */
            double sq = 0;
            for (size_t e = 0; e < c.count; e++)
                sq += (double)delta[e] * delta[e];
            cr_assert(fabs(sq - out.cost) <= 1e-5 * fmax(sq, 1e-30), "%s: cost %.9g, squares %.9g",
                      what, out.cost, sq);
            rl_darknet_destroy(s);
            rl_plan_destroy(plan);
            free(g);
            free(delta);
        }
        free(boxes);
        free(off);
        free_case(&c);
    }

    /* refused: nothing written */
    rng r2 = {32};
    dcase c;
    random_case(&r2, RL_DARKNET_REGION, 6, &c);
    const struct { int flavour, classfix, focal, softmax, map; const char *needle; } bad[] = {
        {2, 0, 0, 1, 0, "flavour = 2"},
        {1, 3, 0, 1, 0, "classfix = 3"},
        {1, 0, 2, 1, 0, "focal_loss = 2"},
        {0, 1, 0, 1, 0, "classfix = 1 is AlexeyAB's"},
        {0, 0, 1, 1, 0, "focal_loss = 1 is AlexeyAB's"},
        {1, 0, 1, 0, 0, "focal_loss = 1 with softmax = 0"},
        {1, 0, 0, 1, 1, "map is set"},
    };
    for (size_t q = 0; q < sizeof bad / sizeof *bad; q++) {
        rl_darknet_layer l = c.l;
        l.flavour = bad[q].flavour;
        l.classfix = bad[q].classfix;
        l.focal_loss = bad[q].focal;
        l.softmax = bad[q].softmax;
        l.map = bad[q].map;
        assert_refused(&c, &l, bad[q].needle);
    }
    free_case(&c);
}

/* AlexeyAB's IOU_LOSS numbering (its include/darknet.h: IOU, GIOU, MSE,
 * DIOU, CIOU) and the box loss each names, written here from darknet's
 * header, apart from the adapter's own table. */
static const int32_t dn_iou_loss_is[5] = {RL_BOX_IOU, RL_BOX_GIOU, RL_BOX_MSE, RL_BOX_DIOU,
                                          RL_BOX_CIOU};

/* A random set of AlexeyAB's [yolo] options on layer c, the multipliers in
 * `mult` (used when the draw says so). */
static void random_ab_yolo_options(rng *r, int k, dcase *c, float *mult)
{
    rl_darknet_layer *l = &c->l;
    l->flavour = RL_YOLO_FLAVOUR_ALEXEYAB;
    l->iou_loss = k % 5; /* every darknet value in turn */
    static const int32_t kinds[4] = {0, 1, 3, 4};
    l->iou_thresh_kind = kinds[range(r, 0, 3)];
    l->focal_loss = range(r, 0, 3) == 0;
    l->new_coords = range(r, 0, 3) == 0;
    l->objectness_smooth = range(r, 0, 2) == 0;
    l->show_details = range(r, 0, 1);
    l->iou_normalizer = (float)(0.05 + unif(r));
    l->cls_normalizer = (float)(0.5 + unif(r));
    l->obj_normalizer = (float)(0.5 + 2 * unif(r));
    l->scale_x_y = range(r, 0, 1) ? 1.0f : (float)(1.0 + 0.2 * unif(r));
    l->iou_thresh = range(r, 0, 1) ? 1.0f : (float)(0.1 + 0.4 * unif(r));
    l->label_smooth_eps = range(r, 0, 2) ? 0.0f : (float)(0.2 * unif(r));
    l->max_delta = range(r, 0, 1) ? FLT_MAX : (float)(1.5 + 5 * unif(r));
    l->classes_multipliers = NULL;
    if (range(r, 0, 1)) {
        for (int32_t q = 0; q < l->classes; q++)
            mult[q] = (float)(1.0 + 3.0 * unif(r));
        l->classes_multipliers = mult;
    }
}

/* AlexeyAB's [yolo] through the adapter: the flavour's plan (its config
 * written from the same fields, darknet's numbering translated by the
 * table above) on the truths darknet reads (a row of x 0 ends the list; a
 * row of a class outside [0, C) is passed over after that test), on every
 * variant, bit for bit. */
Test(adapter, alexeyab_yolo_flavour)
{
    rng r = {33};
    for (int k = 0; k < 10; k++) {
        dcase c;
        random_case(&r, RL_DARKNET_YOLO, 6, &c);
        float mult[8];
        random_ab_yolo_options(&r, k, &c, mult);
        const int32_t C = c.l.classes;
        /* the truths again, with the rows darknet passes over */
        free(c.truth);
        c.l.max_boxes = 12;
        const size_t rf = 6, rows = (size_t)c.l.batch * c.l.max_boxes;
        c.truth = calloc(rows * rf, sizeof *c.truth);
        for (int32_t b = 0; b < c.l.batch; b++) {
            float *f = c.truth + (size_t)b * c.l.max_boxes * rf;
            const int32_t n = range(&r, 1, 6);
            for (int32_t t = 0; t < n + 4; t++, f += rf) {
                f[0] = (float)(0.001 + 0.999 * unif(&r));
                f[1] = (float)unif(&r);
                f[2] = (float)(0.02 + 0.9 * unif(&r));
                f[3] = (float)(0.02 + 0.9 * unif(&r));
                f[4] = (float)range(&r, 0, C - 1);
                if (t == 0)
                    f[4] = (float)(C + 2);  /* passed over */
                if (t == 1)
                    f[4] = -1.0f;           /* passed over */
                if (t == n + 2) {
                    f[0] = 0.0f;            /* ends the list, whatever its class */
                    f[4] = (float)(C + 1);
                }
            }
        }
        rl_box *boxes = malloc(rows * sizeof *boxes);
        int64_t *off = malloc(((size_t)c.l.batch + 1) * sizeof *off);
        int64_t nb = 0;
        off[0] = 0;
        for (int32_t b = 0; b < c.l.batch; b++) {
            for (int32_t t = 0; t < c.l.max_boxes; t++) {
                const float *f = c.truth + ((size_t)b * c.l.max_boxes + t) * rf;
                if (f[0] == 0.0f)
                    break;
                if (f[4] >= (float)C || f[4] < 0.0f)
                    continue;
                boxes[nb++] = (rl_box){f[0], f[1], f[2], f[3], (int32_t)f[4]};
            }
            off[b + 1] = nb;
        }
        cr_assert(nb >= c.l.batch, "every image keeps a truth");
        const rl_yolo_head head = {c.l.h, c.l.w, c.l.n, c.l.mask};
        for (const char *const *v = rl_variant_list(); *v; v++) {
            char what[200];
            snprintf(what, sizeof what, "AlexeyAB [yolo] case %d (iou_loss %d, kind %d, "
                     "new_coords %d, scale_x_y %g) on %s", k, (int)c.l.iou_loss,
                     (int)c.l.iou_thresh_kind, (int)c.l.new_coords, (double)c.l.scale_x_y, *v);
            rl_yolo_config cfg;
            rl_yolo_config_init(&cfg);
            cfg.n_heads = 1;
            cfg.heads = &head;
            cfg.C = C;
            cfg.n_anchors = c.l.total;
            cfg.anchors = c.l.biases;
            cfg.net_w = c.l.net_w;
            cfg.net_h = c.l.net_h;
            cfg.ignore_thresh = c.l.ignore_thresh;
            cfg.truth_thresh = c.l.truth_thresh;
            cfg.norm = RL_NORM_SUM;
            cfg.variant = *v;
            cfg.flavour = RL_YOLO_FLAVOUR_ALEXEYAB;
            cfg.iou_loss = dn_iou_loss_is[c.l.iou_loss];
            cfg.iou_thresh_kind = dn_iou_loss_is[c.l.iou_thresh_kind];
            cfg.focal_loss = c.l.focal_loss;
            cfg.new_coords = c.l.new_coords;
            cfg.objectness_smooth = c.l.objectness_smooth;
            cfg.max_boxes = c.l.max_boxes;
            cfg.show_details = c.l.show_details;
            cfg.iou_normalizer = c.l.iou_normalizer;
            cfg.cls_normalizer = c.l.cls_normalizer;
            cfg.obj_normalizer = c.l.obj_normalizer;
            cfg.scale_x_y = c.l.scale_x_y;
            cfg.iou_thresh = c.l.iou_thresh;
            cfg.label_smooth_eps = c.l.label_smooth_eps;
            cfg.max_delta = c.l.max_delta;
            cfg.classes_multipliers = c.l.classes_multipliers;
            rl_yolo_plan *plan;
            cr_assert_eq(rl_yolo_plan_create(&cfg, &plan), RL_OK, "%s: %s", what,
                         rl_last_error());
            float *g = malloc(c.count * sizeof *g), *delta = malloc(c.count * sizeof *delta);
            for (size_t e = 0; e < c.count; e++)
                delta[e] = guard();
            const void *preds[1] = {c.input};
            void *grads[1] = {g};
            const rl_yolo_batch batch = {.n_images = c.l.batch, .preds = preds, .truths = boxes,
                                         .truth_offsets = off};
            rl_result res;
            cr_assert_eq(rl_yolo_compute(plan, &batch, &res, NULL, grads), RL_OK, "%s: %s", what,
                         rl_last_error());
            rl_darknet *s = state_for(*v, RL_GRAD_OVERWRITE, -1.0);
            rl_darknet_result out;
            cr_assert_eq(rl_darknet_forward(s, &c.l, c.input, c.truth, 0, delta, &out), RL_OK,
                         "%s: %s", what, rl_last_error());
            assert_negated(delta, g, c.count, what);
            assert_same_result(&out, &res, what);
            rl_darknet_destroy(s);
            rl_yolo_plan_destroy(plan);

            /* another delta_scale: the gradient times it, within a rounding */
            s = state_for(*v, RL_GRAD_OVERWRITE, 0.375);
            cr_assert_eq(rl_darknet_forward(s, &c.l, c.input, c.truth, 0, delta, &out), RL_OK,
                         "%s (scale): %s", what, rl_last_error());
            for (size_t e = 0; e < c.count; e++)
                cr_assert(fabsf(delta[e] - 0.375f * g[e]) <= 2e-7f * fabsf(g[e]) + 1e-37f,
                          "%s (scale .375): entry %zu: %a, gradient %a", what, e,
                          (double)delta[e], (double)g[e]);
            rl_darknet_destroy(s);

            /* adding into net.delta: the plan accumulating into -S gives
             * the negation of the adapter accumulating into S */
            cfg.grad_mode = RL_GRAD_ACCUMULATE;
            cr_assert_eq(rl_yolo_plan_create(&cfg, &plan), RL_OK, "%s: %s", what,
                         rl_last_error());
            for (size_t e = 0; e < c.count; e++) {
                delta[e] = (float)((unif(&r) - 0.5) * 4.0);
                g[e] = -delta[e];
            }
            cr_assert_eq(rl_yolo_compute(plan, &batch, &res, NULL, grads), RL_OK, "%s: %s", what,
                         rl_last_error());
            s = state_for(*v, RL_GRAD_ACCUMULATE, -1.0);
            cr_assert_eq(rl_darknet_forward(s, &c.l, c.input, c.truth, 0, delta, &out), RL_OK,
                         "%s (accumulate): %s", what, rl_last_error());
            for (size_t e = 0; e < c.count; e++)
                cr_assert_eq(bits(delta[e]), bits(-g[e]),
                             "%s (accumulate): entry %zu: %a, expected %a", what, e,
                             (double)delta[e], (double)-g[e]);
            assert_same_result(&out, &res, what);
            rl_darknet_destroy(s);
            rl_yolo_plan_destroy(plan);
            free(g);
            free(delta);
        }
        free(boxes);
        free(off);
        free_case(&c);
    }
}

/* rl_darknet_layer_init's AlexeyAB defaults are parse_yolo's, which are
 * rl_yolo_config_init's: the flavour switched on with nothing else set
 * gives what the plan's defaults give. */
Test(adapter, alexeyab_yolo_defaults)
{
    rl_darknet_layer l;
    rl_darknet_layer_init(&l, RL_DARKNET_YOLO);
    rl_yolo_config d;
    rl_yolo_config_init(&d);
    cr_assert_eq(l.flavour, RL_YOLO_FLAVOUR_PJREDDIE);
    cr_assert_eq(dn_iou_loss_is[l.iou_loss], d.iou_loss);
    cr_assert_eq(dn_iou_loss_is[l.iou_thresh_kind], d.iou_thresh_kind);
    cr_assert(l.focal_loss == d.focal_loss && l.new_coords == d.new_coords &&
              l.objectness_smooth == d.objectness_smooth && l.show_details == d.show_details);
    cr_assert((double)l.iou_normalizer == d.iou_normalizer &&
              (double)l.cls_normalizer == d.cls_normalizer &&
              (double)l.obj_normalizer == d.obj_normalizer &&
              (double)l.scale_x_y == d.scale_x_y && (double)l.iou_thresh == d.iou_thresh &&
              (double)l.label_smooth_eps == d.label_smooth_eps &&
              (double)l.max_delta == d.max_delta && l.classes_multipliers == NULL);
}

/* A changed AlexeyAB option or multiplier is a new plan; the same fields
 * again are not.  Refused fields name themselves and write nothing. */
Test(adapter, alexeyab_yolo_replan_and_refusals)
{
    rng r = {34};
    dcase c;
    random_case(&r, RL_DARKNET_YOLO, 6, &c);
    float mult[8];
    for (int32_t q = 0; q < c.l.classes; q++)
        mult[q] = (float)(q + 1);
    c.l.flavour = RL_YOLO_FLAVOUR_ALEXEYAB;
    c.l.classes_multipliers = mult;
    float *delta = malloc(c.count * sizeof *delta);
    rl_darknet *s = state_for(NULL, RL_GRAD_OVERWRITE, -1.0);
    rl_darknet_result out;
    struct step {
        const char *what;
        int replan;
    };
    const struct step steps[] = {{"first call", 1},      {"same fields", 0},
                                 {"iou_normalizer", 1},  {"same again", 0},
                                 {"a multiplier", 1},    {"iou_loss", 1},
                                 {"multipliers off", 1}, {"flavour pjreddie", 1}};
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        if (k == 2)
            c.l.iou_normalizer = 0.5f;
        if (k == 4)
            mult[0] = 7.0f; /* the same pointer, another value */
        if (k == 5)
            c.l.iou_loss = 4;
        if (k == 6)
            c.l.classes_multipliers = NULL;
        if (k == 7)
            c.l.flavour = RL_YOLO_FLAVOUR_PJREDDIE;
        cr_assert_eq(rl_darknet_forward(s, &c.l, c.input, c.truth, 0, delta, &out), RL_OK,
                     "%s: %s", steps[k].what, rl_last_error());
        cr_assert_eq(out.replanned, steps[k].replan, "%s: replanned %d", steps[k].what,
                     out.replanned);
    }
    rl_darknet_destroy(s);

    c.l.flavour = RL_YOLO_FLAVOUR_ALEXEYAB;
    c.l.iou_loss = 2;
    for (int32_t q = 0; q < c.l.classes; q++)
        mult[q] = 1.0f;
    float zero_mult[8] = {0};
    const struct {
        const char *needle;
        int flavour, iou_loss, kind, map;
        float scale_x_y, norm;
        const float *mult;
    } bad[] = {
        {"flavour = 2", 2, 2, 0, 0, 1.0f, 0.75f, NULL},
        {"iou_loss = 5", 1, 5, 0, 0, 1.0f, 0.75f, NULL},
        {"iou_loss = -1", 1, -1, 0, 0, 1.0f, 0.75f, NULL},
        {"iou_thresh_kind = 2", 1, 2, 2, 0, 1.0f, 0.75f, NULL},
        {"map is set", 1, 2, 0, 1, 1.0f, 0.75f, NULL},
        {"scale_x_y", 1, 2, 0, 0, 0.0f, 0.75f, NULL},
        {"iou_normalizer", 1, 2, 0, 0, 1.0f, -1.0f, NULL},
        {"classes_multipliers[0]", 1, 2, 0, 0, 1.0f, 0.75f, zero_mult},
    };
    for (size_t q = 0; q < sizeof bad / sizeof *bad; q++) {
        rl_darknet_layer l = c.l;
        l.flavour = bad[q].flavour;
        l.iou_loss = bad[q].iou_loss;
        l.iou_thresh_kind = bad[q].kind;
        l.map = bad[q].map;
        l.scale_x_y = bad[q].scale_x_y;
        l.iou_normalizer = bad[q].norm;
        l.classes_multipliers = bad[q].mult;
        assert_refused(&c, &l, bad[q].needle);
    }
    free(delta);
    free_case(&c);
}
