/* The reference's per-slot outputs (rl_ref_out in scalar/reference.h),
 * which the differential tests compare every variant against, recomputed
 * here from docs/loss.md alone on random cases of both modes:
 *   best_iou[slot]   max over the image's truths of IoU(decoded box, truth)
 *                    (background slots), 0 for an image without truths;
 *   slot_kind[slot]  OBJ at the responsible slots (the later
 *                    truth on a slot wins), else NOOBJ iff best < thresh
 *                    (spec) or best <= thresh (darknet), else IGNORED;
 *   obj_iou[slot]    at a responsible slot, the IoU of its box with its
 *                    (winning) truth; 0 elsewhere.
 * Slot order: ((n*H + i)*W + j)*B + b.  IoUs here are written again from
 * docs/loss.md in double; they must match the reference's to 1e-12 relative.
 * Found by tools/mutate.py (docs/testing.md): a wrong obj_iou offset
 * survived the reference suites. */
#include "support.h"

#include <stdlib.h>

static double iou_spec(double ax, double ay, double aw, double ah, double bx, double by,
                       double bw, double bh)
{
    const double a1 = aw * ah, a2 = bw * bh;
    if (!(a1 > 0) || isinf(a1) || !(a2 > 0) || isinf(a2))
        return 0.0;
    const double ox = fmin(ax + aw / 2, bx + bw / 2) - fmax(ax - aw / 2, bx - bw / 2);
    const double oy = fmin(ay + ah / 2, by + bh / 2) - fmax(ay - ah / 2, by - bh / 2);
    const double inter = (ox > 0 ? ox : 0) * (oy > 0 ? oy : 0);
    return inter / (a1 + a2 - inter);
}

static void check_case(rcase *rc)
{
    const rl_config *c = &rc->cfg;
    rl_plan *plan = ref_plan(c);
    const rl_batch batch = rcase_batch(rc);
    ref_bufs rb;
    ref_bufs_alloc(&rb, plan, rc->N);
    double *obj_iou = malloc(rb.slots * sizeof *obj_iou);
    cr_assert(obj_iou);
    rb.out.obj_iou = obj_iou;
    rl_result r;
    ref_run(plan, &batch, NULL, &r, &rb);

    const int darknet = c->mode == RL_MODE_DARKNET;
    int64_t s = 0, n_obj = 0;
    for (int32_t n = 0; n < rc->N; n++) {
        const int64_t lo = rc->off[n], hi = rc->off[n + 1];
        for (int32_t i = 0; i < c->H; i++)
            for (int32_t j = 0; j < c->W; j++)
                for (int32_t b = 0; b < c->B; b++, s++) {
                    const float *t = rc->pred;
                    const double px = j + sig(t[cfg_offset(c, n, i, j, b, 0)]);
                    const double py = i + sig(t[cfg_offset(c, n, i, j, b, 1)]);
                    const double pw = c->anchors[2 * b] * exp(t[cfg_offset(c, n, i, j, b, 2)]);
                    const double ph =
                        c->anchors[2 * b + 1] * exp(t[cfg_offset(c, n, i, j, b, 3)]);
                    double best = 0.0;
                    int64_t owner = -1;
                    for (int64_t q = lo; q < hi; q++) {
                        const rl_box *g = &rc->truths[q];
                        const double v = iou_spec(px, py, pw, ph, (double)g->cx * c->W,
                                                  (double)g->cy * c->H, (double)g->w * c->W,
                                                  (double)g->h * c->H);
                        best = v > best ? v : best;
                        int32_t ti, tj, tb;
                        spec_responsible(c, g, &ti, &tj, &tb);
                        if (ti == i && tj == j && tb == b)
                            owner = q; /* the later truth wins */
                    }
                    const char *what = darknet ? "darknet" : "spec";
                    assert_close(rb.out.best_iou[s], best, 1e-12, 1e-300,
                                 "%s seed %llu slot %lld: best IoU", what,
                                 (unsigned long long)rc->seed, (long long)s);
                    int kind;
                    double want_obj = 0.0;
                    if (owner >= 0) {
                        kind = RL_SLOT_OBJ;
                        n_obj++;
                        const rl_box *g = &rc->truths[owner];
                        want_obj = iou_spec(px, py, pw, ph, (double)g->cx * c->W,
                                            (double)g->cy * c->H, (double)g->w * c->W,
                                            (double)g->h * c->H);
                    } else if (darknet ? best <= c->thresh : best < c->thresh) {
                        kind = RL_SLOT_NOOBJ;
                    } else {
                        kind = RL_SLOT_IGNORED;
                    }
                    cr_assert_eq(rb.out.slot_kind[s], kind, "%s seed %llu slot %lld: kind",
                                 what, (unsigned long long)rc->seed, (long long)s);
                    assert_close(obj_iou[s], want_obj, 1e-12, 1e-300,
                                 "%s seed %llu slot %lld: obj_iou", what,
                                 (unsigned long long)rc->seed, (long long)s);
                }
    }
    cr_assert_eq(r.n_obj, n_obj);
    free(obj_iou);
    rb.out.obj_iou = NULL;
    ref_bufs_free(&rb);
    rl_plan_destroy(plan);
}

Test(prop_ref_outputs, spec_and_darknet)
{
    int objs = 0;
    for (uint64_t seed = test_seed(7300); seed < 7300 + 40; seed++) {
        rcase rc;
        rcase_random(&rc, seed, (seed & 1) ? RL_LAYOUT_NCHW : RL_LAYOUT_NHWC);
        check_case(&rc);
        objs += rc.off[rc.N] > 0;
        rcase_darknet(&rc, (int)(seed >> 1 & 1), (int)(seed >> 2 & 1), RL_NORM_SUM,
                      (int)(seed >> 3 & 1));
        check_case(&rc);
        rcase_free(&rc);
    }
    cr_assert_gt(objs, 20);
}
