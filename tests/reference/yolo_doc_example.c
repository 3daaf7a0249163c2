/* docs/loss.md's worked example of the [yolo] head, number by number, on
 * every variant: the page and the library cannot drift apart.  The
 * reference owes 1e-12; the float variants docs/numerics.md's bound (here
 * 1e-5 relative covers it: every value is O(1)). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "regionloss.h"

static void check(const char *variant, double got, double want, const char *what)
{
    const double rel = strcmp(variant, "reference") == 0 ? 1e-12 : 1e-5;
    cr_expect(fabs(got - want) <= rel * fabs(want) + 1e-12,
              "%s: %s = %.17g, docs/loss.md says %.17g", variant, what, got, want);
}

Test(yolo_doc_example, every_number_on_every_variant)
{
    const double ln2 = log(2.0);
    static const float anchors[2] = {100, 100};
    static const int32_t mask[1] = {0};
    const rl_yolo_head head = {2, 2, 1, mask};
    const rl_box truth = {0.375f, 0.375f, 0.5f, 0.5f, 0};
    const int64_t offsets[2] = {0, 1};
    float pred[4 * 6], grad[4 * 6];
    memset(pred, 0, sizeof pred);
    const void *preds[1] = {pred};
    void *grads[1] = {grad};
    const rl_yolo_batch batch = {1, preds, &truth, offsets, NULL, NULL, 0};
    int variants = 0;
    for (const char *const *v = rl_variant_list(); *v; v++, variants++) {
        rl_yolo_config cfg;
        rl_yolo_config_init(&cfg);
        cfg.n_heads = 1;
        cfg.heads = &head;
        cfg.C = 1;
        cfg.n_anchors = 1;
        cfg.anchors = anchors;
        cfg.net_w = cfg.net_h = 200;
        cfg.norm = RL_NORM_SUM;
        cfg.variant = *v;
        rl_yolo_plan *plan;
        cr_assert_eq(rl_yolo_plan_create(&cfg, &plan), RL_OK, "%s: %s", *v, rl_last_error());
        rl_result r;
        cr_assert_eq(rl_yolo_compute(plan, &batch, &r, NULL, grads), RL_OK, "%s: %s", *v,
                     rl_last_error());
        check(*v, r.coord, 1.75 * 2 * ln2, "L_box");
        check(*v, r.obj, ln2, "L_obj");
        check(*v, r.cls, ln2, "L_cls");
        check(*v, r.noobj, 3 * ln2, "L_noobj");
        check(*v, r.loss, 8.5 * ln2, "loss");
        check(*v, r.darknet.cost, 1.6328125, "darknet.cost");
        check(*v, r.avg_iou, 9.0 / 23.0, "avg_iou");
        cr_expect_eq(r.n_obj, 1, "%s: n_obj %lld", *v, (long long)r.n_obj);
        cr_expect_eq(r.n_noobj, 3, "%s: n_noobj %lld", *v, (long long)r.n_noobj);
        /* NCHW, 2x2 grid: entry k of cell q at k*4 + q; the positive is cell 0 */
        const double want[6] = {-0.4375, -0.4375, 0, 0, -0.5, -0.5};
        for (int k = 0; k < 6; k++)
            for (int q = 0; q < 4; q++) {
                const double w = q == 0 ? want[k] : k == 4 ? 0.5 : 0.0;
                const double got = grad[k * 4 + q];
                cr_expect(fabs(got - w) <= 1e-6 * fabs(w) + (w == 0 ? 0 : 1e-9),
                          "%s: gradient entry %d of cell %d = %.9g, docs/loss.md says %.9g", *v,
                          k, q, got, w);
            }
        rl_yolo_plan_destroy(plan);
    }
    cr_assert_gt(variants, 1);
}
