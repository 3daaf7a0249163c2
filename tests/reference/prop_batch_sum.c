/* Without normalisation (sum mode) the loss is a sum over slots, so a
 * batch's result is the sum of its images' results, and each image's slice
 * of the batch gradient is the gradient of that image alone (docs/loss.md,
 * "sum" norm).  The slices are compared bit for bit (every
 * weight is lambda/1 on both sides and each entry is computed from its own
 * slot); the parts are sums of non-negative terms regrouped, so they agree
 * to ~n*eps relative: DOUBLE_REL (1e-13) is ample.  With per-image
 * normalisation the batch is the mean of its images instead. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>

#define CASES 60

typedef struct totals {
    double coord, cls, obj, noobj, warmup, sum_iou, sum_obj, sum_noobj, sum_cls;
    int64_t n_obj, n_noobj, n_conf, n_truths, n_recall50, n_recall75;
    double dk_iou, dk_recall, dk_recall75, dk_cls, dk_obj, dk_anyobj, dk_cost;
    int64_t dk_count;
} totals;

static void add(totals *t, const rl_result *r, int64_t slots)
{
    t->coord += r->coord, t->cls += r->cls, t->obj += r->obj, t->noobj += r->noobj;
    t->warmup += r->warmup;
    t->sum_iou += r->sum_iou, t->sum_obj += r->sum_obj, t->sum_noobj += r->sum_noobj;
    t->sum_cls += r->sum_cls;
    t->n_obj += r->n_obj, t->n_noobj += r->n_noobj, t->n_conf += r->n_conf;
    t->n_truths += r->n_truths, t->n_recall50 += r->n_recall50, t->n_recall75 += r->n_recall75;
    /* darknet's averages, turned back into sums */
    const double cnt = (double)r->darknet.count;
    t->dk_iou += r->darknet.avg_iou * cnt, t->dk_recall += r->darknet.recall * cnt;
    t->dk_recall75 += r->darknet.recall75 * cnt, t->dk_cls += r->darknet.avg_cls * cnt;
    t->dk_obj += r->darknet.avg_obj * cnt, t->dk_cost += r->darknet.cost;
    t->dk_anyobj += r->darknet.avg_anyobj * (double)slots;
    t->dk_count += r->darknet.count;
}

static void check_sum(rcase *rc, const char *what)
{
    const rl_config *c = &rc->cfg;
    rl_plan *plan = ref_plan(c);
    const size_t per_image = cfg_count(c, 1);
    const int64_t slots = (int64_t)c->H * c->W * c->B;
    float *gb = malloc(rc->count * sizeof *gb), *gi = malloc(per_image * sizeof *gi);
    rl_batch batch = rcase_batch(rc);
    rl_result whole;
    compute_ok(plan, &batch, &whole, gb);
    const double div = c->norm == RL_NORM_IMAGES ? rc->N : 1.0;
    const unsigned long long seed = rc->seed;

    totals t = {0};
    for (int32_t n = 0; n < rc->N; n++) {
        const int64_t off[2] = {0, rc->off[n + 1] - rc->off[n]};
        rl_batch one = batch;
        one.n_images = 1;
        one.pred = rc->pred + n * per_image;
        one.truths = off[1] > 0 ? rc->truths + rc->off[n] : NULL;
        one.truth_offsets = off;
        rl_result r;
        compute_ok(plan, &one, &r, gi);
        add(&t, &r, slots);
        for (size_t x = 0; x < per_image; x++) {
            const float a = gb[n * per_image + x];
            if (div == 1.0)
                cr_assert(memcmp(&a, &gi[x], sizeof a) == 0,
                          "%s seed %llu: image %d entry %zu: batch %a, alone %a", what, seed, n,
                          x, (double)a, (double)gi[x]);
            else /* lambda/N times g vs (lambda times g)/N: two float roundings */
                assert_close(a, gi[x] / div, 0x1p-22, 0, "%s seed %llu: image %d entry %zu",
                             what, seed, n, x);
        }
    }
#define SUMS(f, tf) assert_close(whole.f, (t.tf) / div, DOUBLE_REL, 1e-300, "%s seed %llu: " #f, what, seed)
    SUMS(coord, coord);
    SUMS(cls, cls);
    SUMS(obj, obj);
    SUMS(noobj, noobj);
    SUMS(warmup, warmup);
    SUMS(loss, coord + t.cls + t.obj + t.noobj + t.warmup);
#undef SUMS
#define RAW(f, tf) assert_close(whole.f, t.tf, DOUBLE_REL, 1e-300, "%s seed %llu: " #f, what, seed)
    RAW(sum_iou, sum_iou);
    RAW(sum_obj, sum_obj);
    RAW(sum_noobj, sum_noobj);
    RAW(sum_cls, sum_cls);
    RAW(darknet.cost, dk_cost);
#undef RAW
    cr_assert_eq(whole.n_obj, t.n_obj);
    cr_assert_eq(whole.n_noobj, t.n_noobj);
    cr_assert_eq(whole.n_conf, t.n_conf);
    cr_assert_eq(whole.n_truths, t.n_truths);
    cr_assert_eq(whole.n_recall50, t.n_recall50);
    cr_assert_eq(whole.n_recall75, t.n_recall75);
    cr_assert_eq(whole.darknet.count, t.dk_count);
    const double cnt = (double)t.dk_count;
    if (t.dk_count > 0) {
        assert_close(whole.darknet.avg_iou * cnt, t.dk_iou, DOUBLE_REL, 1e-300, "dk avg_iou");
        assert_close(whole.darknet.recall * cnt, t.dk_recall, DOUBLE_REL, 1e-300, "dk recall");
        assert_close(whole.darknet.recall75 * cnt, t.dk_recall75, DOUBLE_REL, 1e-300, "dk r75");
        assert_close(whole.darknet.avg_cls * cnt, t.dk_cls, DOUBLE_REL, 1e-300, "dk avg_cls");
        assert_close(whole.darknet.avg_obj * cnt, t.dk_obj, DOUBLE_REL, 1e-300, "dk avg_obj");
    }
    assert_close(whole.darknet.avg_anyobj * (double)(slots * rc->N), t.dk_anyobj, DOUBLE_REL,
                 1e-300, "dk avg_anyobj");
    free(gb);
    free(gi);
    rl_plan_destroy(plan);
}

Test(prop_batch_sum, spec_sum_mode)
{
    const uint64_t base = test_seed(51000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rc.cfg.norm = RL_NORM_SUM;
        check_sum(&rc, "spec sum");
        rcase_free(&rc);
    }
}

Test(prop_batch_sum, spec_images_mode_is_the_mean)
{
    const uint64_t base = test_seed(52000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rc.cfg.norm = RL_NORM_IMAGES;
        check_sum(&rc, "spec images");
        rcase_free(&rc);
    }
}

Test(prop_batch_sum, darknet_sum_mode)
{
    const uint64_t base = test_seed(53000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rcase_darknet(&rc, (int)(s / 2 % 2), (int)(s / 4 % 2), RL_NORM_SUM, (int)(s / 8 % 2));
        check_sum(&rc, "darknet sum");
        rcase_free(&rc);
    }
}
