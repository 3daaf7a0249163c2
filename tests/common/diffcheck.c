/* The differential oracle: every variant against the reference on one case,
 * within the bounds of tolerance.h (reasoning in docs/numerics.md). */
#include "diffcheck.h"
#include "diffcheck_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "elem.h"
#include "scalar/reference.h"
#include "tolerance.h"
#include "variants.h"

static const char *only_variant;

void rl_diffcheck_only(const char *name) { only_variant = name; }

/* Where entry e of the tensor sits, for messages. */
void rl_dc_entry_coords(const rl_params *p, int64_t e, int64_t *n, int64_t *i, int64_t *j,
                         int64_t *b, int64_t *k)
{
    *n = e / p->per_image;
    int64_t r = e % p->per_image;
    if (p->layout == RL_LAYOUT_NCHW) {
        int64_t ch = r / p->HW, cell = r % p->HW;
        *b = ch / p->K;
        *k = ch % p->K;
        *i = cell / p->W;
        *j = cell % p->W;
    } else {
        *k = r % p->K;
        r /= p->K;
        *b = r % p->B;
        r /= p->B;
        *j = r % p->W;
        *i = r / p->W;
    }
}


/* The weight that multiplies entry k of a slot, for the absolute part of
 * the gradient bound. */
double rl_dc_entry_weight(const rl_dc_weights *w, int64_t k)
{
    if (k < 4)
        return fmax(w->kc, w->kw);
    if (k == 4)
        return fmax(w->ko, w->kn);
    return w->kp;
}

rl_dc_weights rl_dc_weights_of(const rl_params *p, const rl_batch *batch, const rl_result *r)
{
    const rl_counts own = {r->n_obj, r->n_noobj, r->n_conf, batch->n_images};
    const rl_counts *c = batch->global_counts ? batch->global_counts : &own;
    double dobj = 1, dconf = 1;
    if (p->norm == RL_NORM_COUNTS) {
        dobj = (double)c->n_obj;
        dconf = (double)c->n_conf;
    } else if (p->norm == RL_NORM_IMAGES) {
        dobj = dconf = (double)c->n_images;
    }
    if (p->mode != RL_MODE_SPEC) /* darknet, [yolo]: one divisor */
        dconf = dobj;
    rl_dc_weights w;
    w.kc = dobj > 0 ? p->lambda_coord / dobj : 0;
    w.kp = dobj > 0 ? p->lambda_class / dobj : 0;
    w.ko = dconf > 0 ? p->lambda_obj / dconf : 0;
    w.kn = dconf > 0 ? p->lambda_noobj / dconf : 0;
    w.kw = p->mode == RL_MODE_DARKNET && batch->seen < p->warmup_seen && dobj > 0
               ? p->warmup_scale / dobj
               : 0;
    /* darknet's coordinate scale, and the [yolo] head's, reach 2 * coord_scale */
    if (p->mode != RL_MODE_SPEC)
        w.kc *= 2;
    else /* the spec's factor 2 of the squared errors */
        w.kc *= 2, w.ko *= 2, w.kn *= 2;
    return w;
}

int rl_dc_close_enough(double got, double ref, double abs_scale)
{
    if (isnan(got) || isnan(ref))
        return 0;
    if (isinf(ref) || isinf(got))
        return got == ref;
    return fabs(got - ref) <= RL_TOL_REL * fabs(ref) + RL_TOL_ABS * abs_scale + RL_TOL_FLOOR;
}

typedef struct part {
    const char *name;
    double got, ref, scale;
} part;

int rl_dc_compare_results(const char *variant, const char *what, FILE *log,
                           const rl_result *g, const rl_result *r, const rl_dc_weights *w,
                           int64_t recall50_slack, int64_t recall75_slack, double all_slots,
                           const rl_params *p)
{
    double cost_scale = 0;
    if (p->mode != RL_MODE_SPEC) {
        const double lmax = fmax(fmax(2 * p->lambda_coord, p->lambda_class),
                                 fmax(fmax(p->lambda_obj, p->lambda_noobj), p->warmup_scale));
        const double entries = (double)r->n_obj * p->K + (double)r->n_noobj + 4 * all_slots;
        cost_scale = lmax * lmax * entries;
    }
    int bad = 0;
    /* Absolute scale of each part: its weight times its number of terms. */
    const double no = (double)r->n_obj, nn = (double)r->n_noobj;
    const part parts[] = {
        {"coord", g->coord, r->coord, w->kc * no},
        {"class", g->cls, r->cls, w->kp * no},
        {"obj", g->obj, r->obj, w->ko * no},
        {"noobj", g->noobj, r->noobj, w->kn * nn},
        {"warmup", g->warmup, r->warmup, w->kw * all_slots},
        {"loss", g->loss, r->loss, w->kc * no + w->kp * no + w->ko * no + w->kn * nn + w->kw * all_slots},
        {"avg_iou", g->avg_iou, r->avg_iou, 1},
        {"avg_obj", g->avg_obj, r->avg_obj, 1},
        {"avg_noobj", g->avg_noobj, r->avg_noobj, 1},
        {"avg_cls", g->avg_cls, r->avg_cls, 1},
        {"darknet.avg_iou", g->darknet.avg_iou, r->darknet.avg_iou, 1},
        {"darknet.avg_obj", g->darknet.avg_obj, r->darknet.avg_obj, 1},
        {"darknet.avg_cls", g->darknet.avg_cls, r->darknet.avg_cls, 1},
        {"darknet.avg_anyobj", g->darknet.avg_anyobj, r->darknet.avg_anyobj, 1},
        /* darknet's cost sums squared deltas; a delta formed from a float
         * probability or objectness carries RL_TOL_ABS * scale of absolute
         * error, so the sum gets that per delta entry (weights squared) */
        {"darknet.cost", g->darknet.cost, r->darknet.cost, cost_scale},
    };
    for (size_t q = 0; q < sizeof parts / sizeof parts[0]; q++)
        if (!rl_dc_close_enough(parts[q].got, parts[q].ref, parts[q].scale)) {
            fprintf(log, "%s: variant %s: %s = %.17g, reference %.17g (bound %.3g)\n", what,
                    variant, parts[q].name, parts[q].got, parts[q].ref,
                    RL_TOL_REL * fabs(parts[q].ref) + RL_TOL_ABS * parts[q].scale + RL_TOL_FLOOR);
            bad++;
        }
    if (g->n_obj != r->n_obj || g->n_noobj != r->n_noobj || g->n_conf != r->n_conf ||
        g->n_truths != r->n_truths) {
        fprintf(log, "%s: variant %s: counts obj/noobj/conf/truths %lld/%lld/%lld/%lld, "
                     "reference %lld/%lld/%lld/%lld\n",
                what, variant, (long long)g->n_obj, (long long)g->n_noobj, (long long)g->n_conf,
                (long long)g->n_truths, (long long)r->n_obj, (long long)r->n_noobj,
                (long long)r->n_conf, (long long)r->n_truths);
        bad++;
    }
    if (llabs(g->n_recall50 - r->n_recall50) > recall50_slack ||
        llabs(g->n_recall75 - r->n_recall75) > recall75_slack) {
        fprintf(log, "%s: variant %s: recall counts %lld/%lld, reference %lld/%lld\n", what,
                variant, (long long)g->n_recall50, (long long)g->n_recall75,
                (long long)r->n_recall50, (long long)r->n_recall75);
        bad++;
    }
    return bad;
}

/* Guard pattern for overwrite mode: a NaN payload no kernel produces (its
 * upper half, 0x7fa5, is a signalling bfloat16 NaN; binary16 gets 0x7d5a). */
static const uint32_t GUARD = 0x7fa5a5a5u;

void rl_dc_put_guard(void *g, int64_t x, int type)
{
    if (type == RL_DTYPE_F32)
        memcpy((float *)g + x, &GUARD, 4);
    else
        ((uint16_t *)g)[x] = type == RL_DTYPE_BF16 ? 0x7fa5u : 0x7d5au;
}

int rl_dc_same_bits(const void *a, const void *b, int64_t x, int type)
{
    const int64_t sz = rl_elem_size(type);
    return memcmp((const char *)a + x * sz, (const char *)b + x * sz, (size_t)sz) == 0;
}

uint32_t rl_dc_elem_bits(const void *g, int64_t x, int type)
{
    if (type == RL_DTYPE_F32)
        return rl_f32_bits(((const float *)g)[x]);
    return ((const uint16_t *)g)[x];
}

static double round_to(int type, double v)
{
    return type == RL_DTYPE_BF16 ? rl_bf16_to_f32(rl_f64_to_bf16(v))
                                 : rl_f16_to_f32(rl_f64_to_f16(v));
}

/* A half-precision gradient entry.  The reference stores want rounded once
 * to nearest even; a variant computes a float within the float bound of
 * want and rounds that to nearest even, so its value must be the rounding of
 * some point of [want - fbound, want + fbound]: rounding is monotonic, so
 * it lies between the roundings of the ends.  That is at most one unit of
 * the type from the reference's value where fbound is below half a unit
 * (nearly everywhere: docs/numerics.md), and it fails a kernel that
 * truncates instead of rounding about half the time. */
int rl_dc_half_close(int type, double got, double want, double fbound, double *bound)
{
    if (!isfinite(want)) { /* the reference overflowed double: the same infinity */
        *bound = 0;
        return got == want;
    }
    const double lo = round_to(type, want - fbound), hi = round_to(type, want + fbound);
    *bound = fmax(want - lo, hi - want);
    return !isnan(got) && got >= lo && got <= hi;
}

/* Every gradient entry of a variant (grad, written over `prior`) against
 * the reference's (rgrad, touched): the bound of tolerance.h, the half rule,
 * untouched entries +0 or their prior bits.  Returns bad plus the entries
 * that failed (it stops reporting at 8). */
int rl_dc_compare_grad(const char *label, const char *what, FILE *log, const rl_params *p,
                       const void *grad, const void *prior, const double *rgrad,
                       const uint8_t *touched, const rl_dc_weights *wp, size_t count, int bad)
{
    const rl_dc_weights w = *wp;
    const int gt = p->grad_type, accumulate = p->grad_mode == RL_GRAD_ACCUMULATE;
    for (size_t x = 0; x < count && bad < 8; x++) {
        int64_t n, i, j, b, k;
        double want;
        double slack = 0;
        const float gx = rl_load(grad, (int64_t)x, gt), px = rl_load(prior, (int64_t)x, gt);
        if (!touched[x]) {
            /* Untouched: overwrite writes 0, accumulate leaves the bits. */
            if (accumulate ? rl_dc_same_bits(grad, prior, (int64_t)x, gt) : gx == 0.0f && !signbit(gx))
                continue;
            rl_dc_entry_coords(p, (int64_t)x, &n, &i, &j, &b, &k);
            fprintf(log, "%s: variant %s: entry %zu (n=%lld, i=%lld, j=%lld, b=%lld, k=%lld) "
                         "has no loss term but is %.9g (bits %08x), expected %s\n",
                    what, label, x, (long long)n, (long long)i, (long long)j, (long long)b,
                    (long long)k, (double)gx, (unsigned)rl_dc_elem_bits(grad, (int64_t)x, gt),
                    accumulate ? "its prior bits" : "+0");
            bad++;
            continue;
        }
        want = rgrad[x];
        if (accumulate) {
            want += px;
            /* one float rounding of the sum */
            slack = ldexp(fabs(want) + fabs(px), -23);
        }
        rl_dc_entry_coords(p, (int64_t)x, &n, &i, &j, &b, &k);
        const double abs_scale = rl_dc_entry_weight(&w, k);
        double bound = RL_TOL_REL * fabs(want) + RL_TOL_ABS * abs_scale + slack + RL_TOL_FLOOR;
        if (gt != RL_DTYPE_F32) {
            if (rl_dc_half_close(gt, gx, want, bound, &bound))
                continue;
        } else if (isinf((float)want) || isinf(gx)) {
            /* beyond float range: both must overflow the same way */
            if ((float)want == gx)
                continue;
        } else if (!isnan(gx) && fabs(gx - want) <= bound) {
            continue;
        }
        fprintf(log, "%s: variant %s: gradient entry %zu (n=%lld, i=%lld, j=%lld, b=%lld, "
                     "k=%lld): got %.9g (bits %08x), reference %.17g (bound %.3g)\n",
                what, label, x, (long long)n, (long long)i, (long long)j, (long long)b,
                (long long)k, (double)gx, (unsigned)rl_dc_elem_bits(grad, (int64_t)x, gt), want, bound);
        bad++;
    }
    return bad;
}

/* Accumulate mode adds into a buffer of varied values; overwrite mode
 * must replace a guard pattern everywhere. */
void rl_dc_fill_prior(void *prior, size_t count, int gt, int accumulate)
{
    uint32_t seed = 0x9e3779b9u ^ (uint32_t)count;
    for (size_t x = 0; x < count; x++) {
        if (accumulate) {
            seed = seed * 1664525u + 1013904223u;
            rl_store_f32(prior, (int64_t)x, gt, ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.1f);
        } else {
            rl_dc_put_guard(prior, (int64_t)x, gt);
        }
    }
}

/* dense: force the driver's dense mask path, which otherwise serves only
 * thresh <= 1/2 (src/driver.c, use_sparse); the sparse path decides the
 * slots no truth reaches without decoding them, so both are checked. */
static int run_variant(const rl_config *cfg0, const rl_variant_desc *v, int dense,
                       const rl_batch *batch, const rl_batch *wide, const char *what, FILE *log,
                       const rl_plan *refplan, const rl_result *ref_res_in, const double *best,
                       const int8_t *ref_kind, const double *obj_iou)
{
    rl_config cfg = *cfg0;
    cfg.variant = v->name;
    rl_plan *plan;
    if (rl_plan_create(&cfg, &plan) != RL_OK) {
        fprintf(log, "%s: variant %s: plan creation failed: %s\n", what, v->name,
                rl_last_error());
        return 1;
    }
    const rl_params *p = &plan->p;
    const int64_t N = batch->n_images, slots = p->HW * p->B;
    const size_t count = (size_t)N * (size_t)p->per_image;
    const int accumulate = p->grad_mode == RL_GRAD_ACCUMULATE;
    /* Half the cases write through a gradient pointer that is not 32-byte
     * aligned (one element in), as a caller's sub-buffer may be. */
    const int gt = p->grad_type;
    const size_t esz = (size_t)rl_elem_size(gt);
    char *grad_base = malloc((count + 1) * esz);
    void *grad = grad_base + (count & 1) * esz, *prior = malloc(count * esz);
    rl_driver_probe probe = {malloc((size_t)(N * slots) * sizeof(float)),
                             malloc((size_t)(N * slots)), dense};
    char label[96];
    snprintf(label, sizeof label, "%s%s", v->name, dense ? " (dense path)" : "");
    int8_t *forced = malloc((size_t)(N * slots));
    double *rgrad = malloc(count * sizeof *rgrad);
    uint8_t *touched = malloc(count);
    int bad = 0;
    rl_dc_fill_prior(prior, count, gt, accumulate);
    memcpy(grad, prior, count * esz);

    rl_result got;
    rl_status st = rl_driver_run(plan, &plan->kernels, batch, &got, NULL, grad, &probe);
    if (st != RL_OK) {
        fprintf(log, "%s: variant %s failed on a valid batch: %s\n", what, label,
                rl_last_error());
        bad = 1;
        goto out;
    }

    /* Decisions: a different one is accepted only within RL_TOL_THRESH of
     * thresh, and then the reference is rerun with the variant's decision. */
    int differs = 0;
    int64_t r50 = 0, r75 = 0;
    for (int64_t n = 0; n < N; n++)
        for (int32_t i = 0; i < p->H; i++)
            for (int32_t j = 0; j < p->W; j++)
                for (int32_t b = 0; b < p->B; b++) {
                    const int64_t rs = n * slots + ((int64_t)i * p->W + j) * p->B + b;
                    const int64_t ds = n * slots + ((int64_t)b * p->H + i) * p->W + j;
                    const int vk = probe.kind[ds], rk = ref_kind[rs];
                    forced[rs] = -1;
                    if (rk == RL_SLOT_OBJ) {
                        r50 += fabs(obj_iou[rs] - 0.5) <= RL_TOL_THRESH;
                        r75 += fabs(obj_iou[rs] - 0.75) <= RL_TOL_THRESH;
                    }
                    if (vk == rk)
                        continue;
                    if (rk == RL_SLOT_OBJ || vk == RL_KIND_OBJ ||
                        fabs(best[rs] - p->thresh) > RL_TOL_THRESH) {
                        fprintf(log,
                                "%s: variant %s: slot (n=%lld, i=%d, j=%d, b=%d) decided %d, "
                                "reference %d (reference best IoU %.17g, variant %.9g, thresh "
                                "%.17g)\n",
                                what, label, (long long)n, i, j, b, vk, rk, best[rs],
                                (double)probe.best[ds], p->thresh);
                        bad++;
                    }
                    forced[rs] = (int8_t)vk;
                    differs = 1;
                }
    if (bad)
        goto out;

    rl_result ref = *ref_res_in;
    rl_ref_out rout = {rgrad, touched, NULL, NULL, NULL};
    if (rl_reference_compute_forced(&refplan->p, wide, NULL, differs ? forced : NULL, &ref,
                                     &rout) != RL_OK) {
        fprintf(log, "%s: reference rerun failed: %s\n", what, rl_last_error());
        bad = 1;
        goto out;
    }
    const rl_dc_weights w = rl_dc_weights_of(p, batch, &ref);
    bad += rl_dc_compare_results(label, what, log, &got, &ref, &w, r50, r75, (double)slots * N, p);

    bad = rl_dc_compare_grad(label, what, log, p, grad, prior, rgrad, touched, &w, count, bad);
out:
    free(grad_base);
    free(prior);
    free(probe.best);
    free(probe.kind);
    free(forced);
    free(rgrad);
    free(touched);
    rl_plan_destroy(plan);
    return bad;
}

/* An invalid batch: every variant must fail with the reference's status and
 * write nothing. */
static int check_rejection(const rl_config *cfg0, const rl_variant_desc *v,
                           const rl_batch *batch, rl_status want, const char *what, FILE *log,
                           size_t count)
{
    rl_config cfg = *cfg0;
    cfg.variant = v->name;
    rl_plan *plan;
    if (rl_plan_create(&cfg, &plan) != RL_OK)
        return 1;
    const int gt = plan->p.grad_type;
    void *grad = malloc((count ? count : 1) * (size_t)rl_elem_size(gt));
    for (size_t x = 0; x < count; x++)
        rl_dc_put_guard(grad, (int64_t)x, gt);
    rl_result res;
    memset(&res, 0x5a, sizeof res);
    rl_result res0 = res;
    rl_status st = rl_compute(plan, batch, &res, count ? grad : NULL);
    int bad = 0;
    if (st != want) {
        fprintf(log, "%s: variant %s returned %s, reference %s\n", what, v->name,
                rl_status_name(st), rl_status_name(want));
        bad++;
    }
    void *guard = malloc((size_t)rl_elem_size(gt));
    rl_dc_put_guard(guard, 0, gt);
    for (size_t x = 0; x < count && !bad; x++) {
        if (rl_dc_elem_bits(grad, (int64_t)x, gt) != rl_dc_elem_bits(guard, 0, gt)) {
            fprintf(log, "%s: variant %s wrote gradient entry %zu of a rejected batch\n", what,
                    v->name, x);
            bad++;
        }
    }
    if (memcmp(&res, &res0, sizeof res) != 0) {
        fprintf(log, "%s: variant %s wrote the result of a rejected batch\n", what, v->name);
        bad++;
    }
    free(guard);
    free(grad);
    rl_plan_destroy(plan);
    return bad;
}

int rl_diffcheck(const rl_config *cfg0, const rl_batch *batch, const char *what, FILE *log,
                 rl_diffcheck_report *report)
{
    rl_diffcheck_report rep = {0, 0};
    rl_config cfg = *cfg0;
    rl_plan *typed; /* the plan as configured: validation with the batch's type */
    cfg.variant = "reference";
    if (rl_plan_create(&cfg, &typed) != RL_OK) {
        if (report)
            *report = rep;
        return 0; /* plan validation is shared by all variants */
    }
    /* The reference's internals read float predictions: a half batch is
     * compared through its exact widening, which is what the reference
     * variant computes on (src/scalar/reference_variant.c). */
    rl_config fcfg = cfg;
    fcfg.pred_dtype = fcfg.grad_dtype = RL_DTYPE_F32;
    rl_plan *refplan;
    if (rl_plan_create(&fcfg, &refplan) != RL_OK) {
        rl_plan_destroy(typed);
        if (report)
            *report = rep;
        return 0;
    }
    const rl_params *p = &refplan->p;
    rl_batch wide = *batch;
    float *wide_pred = NULL;
    if (typed->p.pred_type != RL_DTYPE_F32 && rl_validate_batch_shape(p, batch) == RL_OK) {
        const size_t n = (size_t)batch->n_images * (size_t)p->per_image;
        wide_pred = malloc(n * sizeof *wide_pred);
        for (size_t x = 0; x < n; x++)
            wide_pred[x] = rl_load(batch->pred, (int64_t)x, typed->p.pred_type);
        wide.pred = wide_pred;
    }
    rl_status st = rl_validate_batch(&typed->p, batch);
    if (st == RL_OK)
        st = rl_validate_preds(&typed->p, batch);
    size_t count = 0;
    if (rl_validate_batch_shape(p, batch) == RL_OK)
        count = (size_t)batch->n_images * (size_t)p->per_image;
    if (st != RL_OK) {
        for (int v = 0; rl_all_variants[v]; v++) {
            const rl_variant_desc *d = rl_all_variants[v];
            if (d == &rl_variant_reference || !d->available() ||
                (only_variant && strcmp(only_variant, d->name) != 0))
                continue;
            rep.variants_checked++;
            rep.mismatches += check_rejection(&cfg, d, batch, st, what, log, count) != 0;
        }
        rl_plan_destroy(refplan);
        rl_plan_destroy(typed);
        free(wide_pred);
        if (report)
            *report = rep;
        return rep.mismatches;
    }

    const int64_t slots = (int64_t)batch->n_images * p->HW * p->B;
    double *best = malloc((size_t)slots * sizeof *best);
    double *obj_iou = malloc((size_t)slots * sizeof *obj_iou);
    int8_t *kind = malloc((size_t)slots);
    rl_ref_out out = {NULL, NULL, best, kind, obj_iou};
    rl_result ref;
    if (rl_reference_compute(p, &wide, NULL, &ref, &out) != RL_OK) {
        fprintf(log, "%s: reference failed: %s\n", what, rl_last_error());
        rep.mismatches++;
    } else {
        for (int v = 0; rl_all_variants[v]; v++) {
            const rl_variant_desc *d = rl_all_variants[v];
            if (d == &rl_variant_reference || !d->available() ||
                (only_variant && strcmp(only_variant, d->name) != 0))
                continue;
            rep.variants_checked++;
            rep.mismatches += run_variant(&cfg, d, 0, batch, &wide, what, log, refplan, &ref, best,
                                          kind, obj_iou) != 0;
            if (p->thresh > 0.5) /* the default was the sparse path: the dense one too */
                rep.mismatches += run_variant(&cfg, d, 1, batch, &wide, what, log, refplan, &ref,
                                              best, kind, obj_iou) != 0;
        }
    }
    free(best);
    free(obj_iou);
    free(kind);
    free(wide_pred);
    rl_plan_destroy(refplan);
    rl_plan_destroy(typed);
    if (report)
        *report = rep;
    return rep.mismatches;
}
