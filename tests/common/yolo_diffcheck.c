/* The differential oracle of the [yolo] head: every variant against the
 * reference on one network's batch, within the bounds of tolerance.h
 * (docs/numerics.md), head by head and for the whole call. */
#include "yolo_diffcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diffcheck_util.h"
#include "driver.h"
#include "elem.h"
#include "scalar/yolo_reference.h"
#include "scalar/yolo_reference_ab.h"
#include "tolerance.h"
#include "variants.h"

static const char *only_variant;
static int only_paths; /* rl_yolo_diffcheck_paths */

void rl_yolo_diffcheck_only(const char *name) { only_variant = name; }
void rl_yolo_diffcheck_paths(int which) { only_paths = which; }

/* Head h as a region batch with the call's global counts, for the shared
 * weights (norm images divides by global_counts->n_images). */
static rl_batch head_batch(const rl_yolo_batch *yb, int32_t h)
{
    rl_batch b = rl_yolo_head_batch(yb, h);
    b.global_counts = yb->global_counts;
    return b;
}

typedef struct ref_state {
    const rl_yolo_plan *plan;     /* float predictions */
    const float *wide[RL_YOLO_MAX_HEADS];
    double *best[RL_YOLO_MAX_HEADS];
    int8_t *kind[RL_YOLO_MAX_HEADS];
    double *obj_iou[RL_YOLO_MAX_HEADS];
    rl_result total, heads[RL_YOLO_MAX_HEADS];
} ref_state;

/* A decision a variant may take differently from the reference: only
 * within RL_TOL_THRESH of a threshold the slot is decided by. */
static int near(double best, double thresh) { return fabs(best - thresh) <= RL_TOL_THRESH; }

/* The reference of the plan's flavour on float predictions; `forced` only
 * for flavour pjreddie (the other is darknet's procedure, with no decision
 * to force: a case where a variant decides a slot near a threshold the
 * other way is not compared further). */
static rl_status reference_of(const rl_yolo_plan *plan, const rl_yolo_batch *batch,
                              const float *const *wide, const int8_t *const *forced,
                              rl_result *total, rl_result *heads, const rl_yolo_ref_out *out)
{
    if (plan->flavour == RL_YOLO_FLAVOUR_ALEXEYAB)
        return rl_yolo_reference_ab_compute(plan, (int32_t)batch->n_images, wide, batch->truths,
                                            batch->truth_offsets, batch->global_counts, total,
                                            heads, out);
    return rl_yolo_reference_compute(plan, (int32_t)batch->n_images, wide, NULL, batch->truths,
                                     batch->truth_offsets, batch->global_counts, forced, total,
                                     heads, out);
}

/* The weights behind the absolute bounds: flavour alexeyab's deltas are
 * weighed by its normalizers and class multipliers, not by the lambdas
 * (which are 1). */
static rl_dc_weights weights_of(const rl_params *p, const rl_batch *hb, const rl_result *r)
{
    rl_dc_weights w = rl_dc_weights_of(p, hb, r);
    if (!p->ab)
        return w;
    /* A compare, not an fmax reduction: aarch64 GCC 12.2's vectoriser
     * crashes (ICE in vect_transform_reduction) on fmax of widened floats
     * at -O3. The multipliers are finite, so the two agree. */
    double m = 1.0;
    if (p->ab->class_mult)
        for (int32_t c = 0; c < p->C; c++) {
            const double v = p->ab->class_mult[c];
            if (v > m)
                m = v;
        }
    const double D = w.kp > 0 ? 1.0 / w.kp : 0.0; /* lambda_class is 1 */
    const double k = D > 0 ? 1.0 / D : 0.0;
    w.kc = 2 * p->ab->iou_normalizer * m * k;
    w.kp = m * fmax(1.0, p->ab->cls_normalizer) * k;
    w.ko = w.kn = p->ab->obj_normalizer * m * k;
    return w;
}

static int run_variant(const rl_yolo_config *cfg0, const rl_variant_desc *v, int dense,
                       const rl_yolo_batch *batch, const char *what, FILE *log,
                       const ref_state *rs)
{
    rl_yolo_config cfg = *cfg0;
    cfg.variant = v->name;
    rl_yolo_plan *plan;
    if (rl_yolo_plan_create(&cfg, &plan) != RL_OK) {
        fprintf(log, "%s: variant %s: plan creation failed: %s\n", what, v->name,
                rl_last_error());
        return 1;
    }
    const int32_t H = plan->n_heads;
    const int64_t N = batch->n_images;
    char label[96];
    snprintf(label, sizeof label, "%s%s", v->name, dense ? " (dense path)" : "");
    void *grads[RL_YOLO_MAX_HEADS] = {0}, *priors[RL_YOLO_MAX_HEADS] = {0};
    char *bases[RL_YOLO_MAX_HEADS] = {0};
    rl_driver_probe probes[RL_YOLO_MAX_HEADS];
    int8_t *forced[RL_YOLO_MAX_HEADS] = {0};
    rl_yolo_ref_out rout;
    memset(&rout, 0, sizeof rout);
    memset(probes, 0, sizeof probes);
    for (int32_t h = 0; h < H; h++) {
        const rl_params *p = &plan->heads[h].p;
        const size_t count = (size_t)N * (size_t)p->per_image, slots = (size_t)(N * p->HW * p->B);
        const size_t esz = (size_t)rl_elem_size(p->grad_type);
        /* every other head writes through a pointer one element off alignment */
        bases[h] = malloc((count + 1) * esz);
        grads[h] = bases[h] + ((count + (size_t)h) & 1) * esz;
        priors[h] = malloc(count * esz);
        rl_dc_fill_prior(priors[h], count, p->grad_type, p->grad_mode == RL_GRAD_ACCUMULATE);
        memcpy(grads[h], priors[h], count * esz);
        probes[h] = (rl_driver_probe){malloc(slots * sizeof(float)), malloc(slots), dense};
        forced[h] = malloc(slots);
        rout.head[h].grad = malloc(count * sizeof(double));
        rout.head[h].touched = malloc(count);
    }
    int bad = 0;
    rl_result got, got_heads[RL_YOLO_MAX_HEADS];
    rl_yolo_batch yb = *batch;
    yb.workspace = NULL;
    if (rl_yolo_driver_run(plan, &yb, &got, got_heads, grads, probes) != RL_OK) {
        fprintf(log, "%s: variant %s failed on a valid batch: %s\n", what, label,
                rl_last_error());
        bad = 1;
        goto out;
    }
    /* Decisions, head by head. */
    int differs = 0;
    int64_t r50[RL_YOLO_MAX_HEADS] = {0}, r75[RL_YOLO_MAX_HEADS] = {0};
    for (int32_t h = 0; h < H && !bad; h++) {
        const rl_params *p = &plan->heads[h].p;
        const int64_t slots = p->HW * p->B;
        for (int64_t n = 0; n < N; n++)
            for (int32_t i = 0; i < p->H; i++)
                for (int32_t j = 0; j < p->W; j++)
                    for (int32_t b = 0; b < p->B; b++) {
                        const int64_t r = n * slots + ((int64_t)i * p->W + j) * p->B + b;
                        const int64_t d = n * slots + ((int64_t)b * p->H + i) * p->W + j;
                        const int vk = probes[h].kind[d], rk = rs->kind[h][r];
                        const double best = rs->best[h][r];
                        forced[h][r] = -1;
                        if (rk == RL_SLOT_OBJ) {
                            r50[h] += near(rs->obj_iou[h][r], 0.5);
                            r75[h] += near(rs->obj_iou[h][r], 0.75);
                        }
                        if (vk == rk)
                            continue;
                        /* ignore_thresh parts negatives from ignored slots;
                         * truth_thresh positives from the rest */
                        const int ok = (vk == RL_KIND_OBJ || rk == RL_SLOT_OBJ)
                                           ? p->truth_thresh < 1.0 && near(best, p->truth_thresh)
                                           : near(best, p->thresh);
                        if (!ok) {
                            fprintf(log,
                                    "%s: variant %s: head %d slot (n=%lld, i=%d, j=%d, b=%d) "
                                    "decided %d, reference %d (reference best IoU %.17g, variant "
                                    "%.9g, ignore_thresh %.17g, truth_thresh %.17g)\n",
                                    what, label, (int)h, (long long)n, i, j, b, vk, rk, best,
                                    (double)probes[h].best[d], p->thresh, p->truth_thresh);
                            bad++;
                        }
                        forced[h][r] = (int8_t)vk;
                        differs = 1;
                    }
    }
    if (bad)
        goto out;
    if (differs && plan->flavour == RL_YOLO_FLAVOUR_ALEXEYAB) {
        /* a decision near a threshold, taken the other way: nothing to force */
        fprintf(log, "%s: variant %s: a slot decided the other way near a threshold; values "
                     "not compared\n",
                what, label);
        goto out;
    }
    rl_result ref = rs->total, ref_heads[RL_YOLO_MAX_HEADS];
    memcpy(ref_heads, rs->heads, sizeof ref_heads);
    const int8_t *const *fp = differs ? (const int8_t *const *)forced : NULL;
    if (reference_of(rs->plan, batch, rs->wide, fp, &ref, ref_heads, &rout) != RL_OK) {
        fprintf(log, "%s: reference rerun failed: %s\n", what, rl_last_error());
        bad = 1;
        goto out;
    }
    int64_t r50_all = 0, r75_all = 0;
    double all_slots = 0;
    for (int32_t h = 0; h < H; h++) {
        const rl_params *p = &plan->heads[h].p;
        const rl_batch hb = head_batch(batch, h);
        const rl_dc_weights w = weights_of(p, &hb, &ref_heads[h]);
        char hl[128];
        snprintf(hl, sizeof hl, "%s, head %d", label, (int)h);
        bad += rl_dc_compare_results(hl, what, log, &got_heads[h], &ref_heads[h], &w, r50[h],
                                     r75[h], (double)(N * p->HW * p->B), p);
        if (got_heads[h].darknet.count != ref_heads[h].darknet.count) {
            /* no threshold decides it: the truths matched (and, for flavour
             * alexeyab, iou_thresh's anchors) */
            fprintf(log, "%s: variant %s: darknet.count %lld, reference %lld\n", what, hl,
                    (long long)got_heads[h].darknet.count,
                    (long long)ref_heads[h].darknet.count);
            bad++;
        }
        bad = rl_dc_compare_grad(hl, what, log, p, grads[h], priors[h], rout.head[h].grad,
                                 rout.head[h].touched, &w, (size_t)N * (size_t)p->per_image,
                                 bad);
        r50_all += r50[h];
        r75_all += r75[h];
        all_slots += (double)(N * p->HW * p->B);
    }
    /* The total: every head's weights are the same (one divisor). */
    const rl_batch hb0 = head_batch(batch, 0);
    const rl_dc_weights w0 = weights_of(&plan->heads[0].p, &hb0, &ref);
    char tl[128];
    snprintf(tl, sizeof tl, "%s, total", label);
    bad += rl_dc_compare_results(tl, what, log, &got, &ref, &w0, r50_all, r75_all, all_slots,
                                 &plan->heads[0].p);
out:
    for (int32_t h = 0; h < H; h++) {
        free(bases[h]);
        free(priors[h]);
        free(probes[h].best);
        free(probes[h].kind);
        free(forced[h]);
        free(rout.head[h].grad);
        free(rout.head[h].touched);
    }
    rl_yolo_plan_destroy(plan);
    return bad;
}

/* An invalid batch: every variant fails with the reference's status and
 * writes nothing, neither gradient nor result. */
static int check_rejection(const rl_yolo_config *cfg0, const rl_variant_desc *v,
                           const rl_yolo_batch *batch, rl_status want, const char *what,
                           FILE *log, const size_t *count)
{
    rl_yolo_config cfg = *cfg0;
    cfg.variant = v->name;
    rl_yolo_plan *plan;
    if (rl_yolo_plan_create(&cfg, &plan) != RL_OK)
        return 1;
    const int32_t H = plan->n_heads;
    const int gt = plan->heads[0].p.grad_type;
    void *grads[RL_YOLO_MAX_HEADS];
    for (int32_t h = 0; h < H; h++) {
        grads[h] = malloc((count[h] ? count[h] : 1) * (size_t)rl_elem_size(gt));
        for (size_t x = 0; x < count[h]; x++)
            rl_dc_put_guard(grads[h], (int64_t)x, gt);
    }
    rl_result res, heads[RL_YOLO_MAX_HEADS];
    memset(&res, 0x5a, sizeof res);
    memset(heads, 0x5a, sizeof heads);
    const rl_result res0 = res;
    rl_status st = rl_yolo_compute(plan, batch, &res, heads, grads);
    int bad = 0;
    if (st != want) {
        fprintf(log, "%s: variant %s returned %s, reference %s\n", what, v->name,
                rl_status_name(st), rl_status_name(want));
        bad++;
    }
    void *guard = malloc((size_t)rl_elem_size(gt));
    rl_dc_put_guard(guard, 0, gt);
    for (int32_t h = 0; h < H; h++)
        for (size_t x = 0; x < count[h] && !bad; x++)
            if (rl_dc_elem_bits(grads[h], (int64_t)x, gt) != rl_dc_elem_bits(guard, 0, gt)) {
                fprintf(log, "%s: variant %s wrote head %d's gradient entry %zu of a rejected "
                             "batch\n",
                        what, v->name, (int)h, x);
                bad++;
            }
    if (memcmp(&res, &res0, sizeof res) != 0) {
        fprintf(log, "%s: variant %s wrote the result of a rejected batch\n", what, v->name);
        bad++;
    }
    free(guard);
    for (int32_t h = 0; h < H; h++)
        free(grads[h]);
    rl_yolo_plan_destroy(plan);
    return bad;
}

int rl_yolo_diffcheck(const rl_yolo_config *cfg0, const rl_yolo_batch *batch, const char *what,
                      FILE *log, rl_diffcheck_report *report)
{
    rl_diffcheck_report rep = {0, 0};
    rl_yolo_config cfg = *cfg0;
    cfg.variant = "reference";
    rl_yolo_plan *typed;
    if (rl_yolo_plan_create(&cfg, &typed) != RL_OK) {
        if (report)
            *report = rep;
        return 0; /* plan validation is shared by every variant */
    }
    rl_yolo_config fcfg = cfg;
    fcfg.pred_dtype = fcfg.grad_dtype = RL_DTYPE_F32;
    rl_yolo_plan *refplan;
    rl_yolo_plan_create(&fcfg, &refplan);
    const int32_t H = typed->n_heads;
    /* The reference variant's verdict on the batch as given. */
    rl_result vres, vheads[RL_YOLO_MAX_HEADS];
    const rl_status st = rl_yolo_compute(typed, batch, &vres, vheads, NULL);
    size_t count[RL_YOLO_MAX_HEADS] = {0};
    ref_state rs;
    memset(&rs, 0, sizeof rs);
    rs.plan = refplan;
    float *wide[RL_YOLO_MAX_HEADS] = {0};
    for (int32_t h = 0; h < H; h++) {
        const rl_params *p = &typed->heads[h].p;
        if (batch->preds && batch->preds[h] && batch->n_images > 0)
            count[h] = (size_t)batch->n_images * (size_t)p->per_image;
    }
    const rl_variant_desc *const *all = rl_all_variants;
    if (st != RL_OK) {
        for (int v = 0; all[v]; v++) {
            if (all[v] == &rl_variant_reference || !all[v]->available() ||
                (only_variant && strcmp(only_variant, all[v]->name) != 0))
                continue;
            rep.variants_checked++;
            rep.mismatches += check_rejection(&cfg, all[v], batch, st, what, log, count) != 0;
        }
        goto done;
    }
    rl_yolo_ref_out out;
    memset(&out, 0, sizeof out);
    int sparse = 0;
    for (int32_t h = 0; h < H; h++) {
        const rl_params *p = &typed->heads[h].p;
        const size_t slots = (size_t)(batch->n_images * p->HW * p->B);
        wide[h] = malloc(count[h] * sizeof(float));
        for (size_t x = 0; x < count[h]; x++)
            wide[h][x] = rl_load(batch->preds[h], (int64_t)x, p->pred_type);
        rs.wide[h] = wide[h];
        rs.best[h] = out.head[h].best_iou = malloc(slots * sizeof(double));
        rs.kind[h] = out.head[h].slot_kind = malloc(slots);
        rs.obj_iou[h] = out.head[h].obj_iou = malloc(slots * sizeof(double));
        sparse |= fmin(p->thresh, p->truth_thresh) > 0.5;
    }
    if (reference_of(refplan, batch, rs.wide, NULL, &rs.total, rs.heads, &out) != RL_OK) {
        fprintf(log, "%s: reference failed: %s\n", what, rl_last_error());
        rep.mismatches++;
    } else {
        for (int v = 0; all[v]; v++) {
            if (all[v] == &rl_variant_reference || !all[v]->available() ||
                (only_variant && strcmp(only_variant, all[v]->name) != 0))
                continue;
            rep.variants_checked++;
            /* the default path; where that is the sparse one, the dense one
             * too (rl_yolo_diffcheck_paths may keep one of them) */
            if (only_paths != 2 || !sparse)
                rep.mismatches += run_variant(&cfg, all[v], 0, batch, what, log, &rs) != 0;
            if (sparse && only_paths != 1)
                rep.mismatches += run_variant(&cfg, all[v], 1, batch, what, log, &rs) != 0;
        }
    }
    for (int32_t h = 0; h < H; h++) {
        free(rs.best[h]);
        free(rs.kind[h]);
        free(rs.obj_iou[h]);
    }
done:
    for (int32_t h = 0; h < H; h++)
        free(wide[h]);
    rl_yolo_plan_destroy(refplan);
    rl_yolo_plan_destroy(typed);
    if (report)
        *report = rep;
    return rep.mismatches;
}
