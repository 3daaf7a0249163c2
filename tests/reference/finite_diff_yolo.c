/* Finite differences of the [yolo] reference: central differences of the
 * total loss of rl_yolo_reference_compute against its analytic double
 * gradient, every entry of every head, on random multi-head batches
 * (yolo_support.h: 1 to 3 heads, masks partitioning an anchor list in
 * pixels, multi-label slots, planted boxes that make truth_thresh positives
 * and ignored slots), both layouts, both norms, unequal lambdas, and a
 * global image count.
 *
 * The function differentiated is docs/loss.md's "The loss": the decisions (the
 * anchor match, each slot's best IoU, the truth_thresh matches and the ignore
 * rule) are constants, taken from `frozen` = the unperturbed predictions
 * while the loss is evaluated on the perturbed copy.  Step, exactness and
 * bound as fd_common.h: predictions are multiples of 2^-12 with |t| <= 3,
 * so t +- 2^-10 and t +- 2^-11 are exact in float; Richardson's estimate
 * R = (4 D(h/2) - D(h))/3 leaves -h^4 L^(5)/480, and the bound
 *     |R - g| <= 1e-9 * (1 + S + |g|),  S = the sum of |parts|,
 * is far above both that and the rounding of L (the BCE terms' fifth
 * derivatives are below 1, the squares' vanish) and far below any wrong
 * formula.  An entry the loss does not read (box entries of a negative or
 * ignored slot, everything but tc of a negative, every entry of an ignored
 * slot) must have g = 0, not be touched, and leave the loss bit for bit.
 *
 * Each run also checks darknet.cost against the gradient: the cost is the
 * squared norm of the gradient computed with D = 1, i.e. sum (D g)^2. */
#include "yolo_support.h"

#define FD_H 0x1p-10
#define CASES 40

typedef struct fd_stats {
    double worst_ratio;
    int64_t entries, read_entries;
    int64_t tt_only, multi_label, ignored, cross; /* what the cases exercised */
    int64_t kinks; /* box entries skipped: a step crosses a kink of the XIoU */
} fd_stats;

static double fd_loss(const rl_yolo_plan *plan, const ycase *yc, const float *const *work,
                      const rl_counts *gc)
{
    rl_result r;
    yolo_ref_run(plan, yc->N, work, (const float *const *)yc->pred, yc->truths, yc->off, gc, &r,
                 NULL, NULL);
    return r.loss;
}

/* What the case exercises, counted from docs/loss.md's rule written in the
 * test (yolo_spec_slot) and the reference's slot kinds. */
static void coverage(const ycase *yc, const rl_yolo_ref_out *out, fd_stats *st)
{
    const rl_yolo_config *cfg = &yc->cfg;
    for (int32_t h = 0; h < cfg->n_heads; h++) {
        const rl_yolo_head *hd = &cfg->heads[h];
        const int64_t slots = (int64_t)hd->H * hd->W * hd->B;
        uint8_t *is93 = calloc((size_t)(yc->N * slots), 1);
        int32_t *cls93 = malloc((size_t)(yc->N * slots) * sizeof *cls93);
        cr_assert(is93 && cls93);
        for (int32_t n = 0; n < yc->N; n++)
            for (int64_t t = yc->off[n]; t < yc->off[n + 1]; t++) {
                int32_t i, j, b;
                if (!yolo_spec_slot(cfg, h, &yc->truths[t], &i, &j, &b)) {
                    st->cross++;
                    continue;
                }
                const int64_t s = n * slots + ((int64_t)i * hd->W + j) * hd->B + b;
                if (is93[s] && cls93[s] != yc->truths[t].cls)
                    st->multi_label++;
                is93[s] = 1;
                cls93[s] = yc->truths[t].cls;
            }
        for (int64_t s = 0; s < yc->N * slots; s++) {
            st->tt_only += out->head[h].slot_kind[s] == RL_SLOT_OBJ && !is93[s];
            st->ignored += out->head[h].slot_kind[s] == RL_SLOT_IGNORED;
            cr_assert(!is93[s] || out->head[h].slot_kind[s] == RL_SLOT_OBJ,
                      "seed %llu: head %d slot %lld holds a matched truth but is not positive",
                      (unsigned long long)yc->seed, (int)h, (long long)s);
        }
        free(is93);
        free(cls93);
    }
}

/* With an IoU-family box loss, the loss has kinks where an edge of a
 * positive's decoded box crosses an edge of its truth, or where the boxes
 * start to overlap: a central difference across one measures no
 * derivative.  The signature of a box against its truth is every edge
 * comparison the XIoU's min and max make; an entry whose steps change it
 * is skipped (and counted).  The box target is the last matched truth on
 * the slot (the cases here have no truth_thresh positives). */
static unsigned kink_signature(const rl_yolo_config *cfg, int32_t h, int32_t i, int32_t j,
                               int32_t b, const float t4[4], const rl_box *g)
{
    const rl_yolo_head *hd = &cfg->heads[h];
    const double aw = cfg->anchors[2 * hd->mask[b]], ah = cfg->anchors[2 * hd->mask[b] + 1];
    const double x = (j + 1 / (1 + exp(-(double)t4[0]))) / hd->W;
    const double y = (i + 1 / (1 + exp(-(double)t4[1]))) / hd->H;
    const double w = exp((double)t4[2]) * aw / cfg->net_w, hh = exp((double)t4[3]) * ah / cfg->net_h;
    const double e[8] = {x - w / 2, x + w / 2, y - hh / 2, y + hh / 2,
                         g->cx - g->w / 2, g->cx + g->w / 2, g->cy - g->h / 2, g->cy + g->h / 2};
    unsigned sig = 0, bit = 0;
    for (int a = 0; a < 2; a++)     /* x edges, then y edges */
        for (int u = 0; u < 2; u++) /* the box's lower, upper edge */
            for (int v = 0; v < 2; v++, bit++) /* the truth's */
                sig |= (unsigned)(e[2 * a + u] < e[4 + 2 * a + v]) << bit;
    return sig;
}

/* The truth whose box the positive slot x (entry index of head h) takes, or
 * NULL when x is not a box entry of a matched positive. */
static const rl_box *box_target(const ycase *yc, int32_t h, size_t x, int32_t *pi, int32_t *pj,
                                int32_t *pb, int *pk)
{
    const rl_yolo_config *cfg = &yc->cfg;
    const rl_yolo_head *hd = &cfg->heads[h];
    const int64_t K = 5 + cfg->C, HW = (int64_t)hd->H * hd->W;
    int64_t n, i, j, b, k;
    if (cfg->layout == RL_LAYOUT_NCHW) {
        const int64_t q = (int64_t)x % HW;
        int64_t r = (int64_t)x / HW;
        k = r % K;
        r /= K;
        b = r % hd->B;
        n = r / hd->B;
        i = q / hd->W;
        j = q % hd->W;
    } else {
        int64_t r = (int64_t)x;
        k = r % K;
        r /= K;
        b = r % hd->B;
        r /= hd->B;
        j = r % hd->W;
        r /= hd->W;
        i = r % hd->H;
        n = r / hd->H;
    }
    if (k > 3)
        return NULL;
    const rl_box *target = NULL;
    for (int64_t t = yc->off[n]; t < yc->off[n + 1]; t++) {
        int32_t ti, tj, tb;
        if (yolo_spec_slot(cfg, h, &yc->truths[t], &ti, &tj, &tb) && ti == i && tj == j && tb == b)
            target = &yc->truths[t];
    }
    *pi = (int32_t)i;
    *pj = (int32_t)j;
    *pb = (int32_t)b;
    *pk = (int)k;
    return target;
}

/* Whether stepping entry x (value v) of head h by +-FD_H crosses a kink. */
static int crosses_kink(const ycase *yc, int32_t h, size_t x)
{
    if (yc->cfg.box_loss == RL_BOX_MSE)
        return 0;
    int32_t i, j, b;
    int k;
    const rl_box *g = box_target(yc, h, x, &i, &j, &b, &k);
    if (!g)
        return 0;
    const rl_yolo_config *cfg = &yc->cfg;
    const rl_yolo_head *hd = &cfg->heads[h];
    const int64_t K = 5 + cfg->C, HW = (int64_t)hd->H * hd->W;
    /* the slot's four box entries, found from entry x's offset */
    const int64_t step = cfg->layout == RL_LAYOUT_NCHW ? HW : 1;
    const float *base = yc->pred[h] + x - (size_t)(k * step);
    (void)K;
    float t4[4];
    for (int e = 0; e < 4; e++)
        t4[e] = base[e * step];
    const unsigned s0 = kink_signature(cfg, h, i, j, b, t4, g);
    const float v = t4[k];
    const float steps[4] = {(float)(v + FD_H), (float)(v - FD_H), (float)(v + FD_H / 2),
                            (float)(v - FD_H / 2)};
    for (int e = 0; e < 4; e++) {
        t4[k] = steps[e];
        if (kink_signature(cfg, h, i, j, b, t4, g) != s0)
            return 1;
    }
    return 0;
}

static void fd_check_case(ycase *yc, const rl_counts *gc, const char *what, fd_stats *st)
{
    const rl_yolo_config *cfg = &yc->cfg;
    rl_yolo_plan *plan = yolo_ref_plan(cfg);
    rl_result r0, heads[YC_MAX_HEADS];
    ycase_accepted(plan, yc, &r0);
    rl_yolo_ref_out out;
    memset(&out, 0, sizeof out);
    for (int32_t h = 0; h < cfg->n_heads; h++) {
        const size_t slots = yc->count[h] / (size_t)(5 + cfg->C);
        out.head[h].grad = malloc(yc->count[h] * sizeof(double));
        out.head[h].touched = malloc(yc->count[h]);
        out.head[h].slot_kind = malloc(slots);
        cr_assert(out.head[h].grad && out.head[h].touched && out.head[h].slot_kind);
    }
    yolo_ref_run(plan, yc->N, (const float *const *)yc->pred, NULL, yc->truths, yc->off, gc,
                 &r0, heads, &out);
    coverage(yc, &out, st);
    const double S = fabs(r0.coord) + fabs(r0.cls) + fabs(r0.obj) + fabs(r0.noobj);

    /* darknet.cost = sum over the head's entries of (D g)^2 */
    const double D = cfg->norm == RL_NORM_SUM ? 1.0 : gc ? (double)gc->n_images : (double)yc->N;
    double cost_sum = 0;
    for (int32_t h = 0; h < cfg->n_heads; h++) {
        double sq = 0;
        for (size_t x = 0; x < yc->count[h]; x++)
            sq += (D * out.head[h].grad[x]) * (D * out.head[h].grad[x]);
        assert_close(heads[h].darknet.cost, sq, 1e-12, 0.0,
                     "%s seed %llu head %d: darknet.cost is not the squared gradient with D = 1",
                     what, (unsigned long long)yc->seed, (int)h);
        cost_sum += heads[h].darknet.cost;
    }
    assert_close(r0.darknet.cost, cost_sum, 1e-15, 0.0, "total cost is the heads' sum");

    float *work[YC_MAX_HEADS] = {0};
    for (int32_t h = 0; h < cfg->n_heads; h++) {
        work[h] = malloc(yc->count[h] * sizeof(float));
        cr_assert(work[h]);
        memcpy(work[h], yc->pred[h], yc->count[h] * sizeof(float));
    }
    for (int32_t h = 0; h < cfg->n_heads; h++)
        for (size_t x = 0; x < yc->count[h]; x++) {
            const float v = yc->pred[h][x];
            cr_assert((float)(v + FD_H) - FD_H == v, "step not exact at %a", (double)v);
            double l[4];
            const float steps[4] = {(float)(v + FD_H), (float)(v - FD_H), (float)(v + FD_H / 2),
                                    (float)(v - FD_H / 2)};
            for (int e = 0; e < 4; e++) {
                work[h][x] = steps[e];
                l[e] = fd_loss(plan, yc, (const float *const *)work, gc);
            }
            work[h][x] = v;
            const double d1 = (l[0] - l[1]) / (2 * FD_H), d2 = (l[2] - l[3]) / FD_H;
            const double rich = (4 * d2 - d1) / 3;
            const double g = out.head[h].grad[x];
            st->entries++;
            if (!out.head[h].touched[x]) {
                cr_assert(g == 0.0 && l[0] == r0.loss && l[1] == r0.loss && l[2] == r0.loss &&
                              l[3] == r0.loss,
                          "%s seed %llu: head %d entry %zu is not read by the loss, yet g = "
                          "%.17g and the loss moves (%.17g, %.17g vs %.17g)",
                          what, (unsigned long long)yc->seed, (int)h, x, g, l[0], l[1], r0.loss);
                continue;
            }
            st->read_entries++;
            if (crosses_kink(yc, h, x)) {
                st->kinks++;
                continue;
            }
            const double bound = 1e-9 * (1 + S + fabs(g));
            const double err = fabs(rich - g);
            if (err / bound > st->worst_ratio)
                st->worst_ratio = err / bound;
            cr_assert(err <= bound,
                      "%s seed %llu (replay with REGIONLOSS_TEST_SEED=%llu): head %d entry %zu: "
                      "analytic %.17g, finite difference %.17g (D(h) %.17g), |diff| %.3g > "
                      "bound %.3g",
                      what, (unsigned long long)yc->seed, (unsigned long long)yc->seed, (int)h,
                      x, g, rich, d1, err, bound);
        }
    for (int32_t h = 0; h < cfg->n_heads; h++) {
        free(work[h]);
        free(out.head[h].grad);
        free(out.head[h].touched);
        free(out.head[h].slot_kind);
    }
    rl_yolo_plan_destroy(plan);
}

typedef enum variant_kind { PLAIN, LAMBDAS, TRUTH_THRESH } variant_kind;

static void run_box(rl_layout layout, rl_norm norm, variant_kind kind, uint64_t salt,
                    int32_t box_loss)
{
    const uint64_t base = test_seed(9000 + salt);
    fd_stats st = {0};
    for (uint64_t s = 0; s < CASES; s++) {
        ycase yc;
        ycase_random(&yc, base + s, layout, norm);
        yc.cfg.box_loss = box_loss;
        if (box_loss != RL_BOX_MSE) /* box targets of matched truths only (crosses_kink) */
            yc.cfg.truth_thresh = 1.0;
        rl_counts gc = {0, 0, 0, 7};
        const rl_counts *g = NULL;
        if (kind == LAMBDAS) {
            yc.cfg.lambda_coord = 0.75;
            yc.cfg.lambda_class = 2.5;
            yc.cfg.lambda_obj = 3.25;
            yc.cfg.lambda_noobj = 0.375;
            g = norm == RL_NORM_IMAGES ? &gc : NULL; /* D = 7, not N */
        } else if (kind == TRUTH_THRESH) {
            yc.cfg.truth_thresh = 0.45;
            yc.cfg.ignore_thresh = 0.7;
        }
        char what[96];
        snprintf(what, sizeof what, "yolo layout %d norm %d kind %d box_loss %d", (int)layout,
                 (int)norm, (int)kind, (int)box_loss);
        fd_check_case(&yc, g, what, &st);
        ycase_free(&yc);
    }
    cr_assert_gt(st.read_entries, 1000, "too few entries exercised: %lld",
                 (long long)st.read_entries);
    cr_assert_gt(st.multi_label, 0, "no multi-label slot in %d cases", CASES);
    if (kind != TRUTH_THRESH) /* there best > ignore_thresh implies best > truth_thresh */
        cr_assert_gt(st.ignored, 0, "no ignored slot in %d cases", CASES);
    cr_assert_gt(st.cross, 0, "no truth without a positive in some head in %d cases", CASES);
    if (kind == TRUTH_THRESH)
        cr_assert_gt(st.tt_only, 10, "only %lld truth_thresh positives in %d cases",
                     (long long)st.tt_only, CASES);
    /* kinks are rare: a step of 2^-10 meets one only near an edge */
    cr_assert_lt(st.kinks * 50, st.read_entries, "%lld of %lld entries skipped at kinks",
                 (long long)st.kinks, (long long)st.read_entries);
    cr_log_info("box_loss %d, %lld entries skipped at kinks", (int)box_loss, (long long)st.kinks);
    cr_log_info("layout %d norm %d kind %d: %lld entries (%lld read), %lld truth_thresh-only "
                "positives, %lld multi-label slots, %lld ignored, worst error/bound %.3g",
                (int)layout, (int)norm, (int)kind, (long long)st.entries,
                (long long)st.read_entries, (long long)st.tt_only, (long long)st.multi_label,
                (long long)st.ignored, st.worst_ratio);
}

static void run(rl_layout layout, rl_norm norm, variant_kind kind, uint64_t salt)
{
    run_box(layout, norm, kind, salt, RL_BOX_MSE);
}

Test(finite_diff_yolo, nchw_images) { run(RL_LAYOUT_NCHW, RL_NORM_IMAGES, PLAIN, 0); }
Test(finite_diff_yolo, nhwc_images) { run(RL_LAYOUT_NHWC, RL_NORM_IMAGES, PLAIN, 100); }
Test(finite_diff_yolo, nchw_sum) { run(RL_LAYOUT_NCHW, RL_NORM_SUM, PLAIN, 200); }
Test(finite_diff_yolo, nhwc_sum) { run(RL_LAYOUT_NHWC, RL_NORM_SUM, PLAIN, 300); }
/* Unequal lambdas, so that each weight's place in the gradient shows; with
 * norm images the divisor is global_counts->n_images = 7. */
Test(finite_diff_yolo, lambdas_global_images) { run(RL_LAYOUT_NCHW, RL_NORM_IMAGES, LAMBDAS, 400); }
Test(finite_diff_yolo, lambdas_sum) { run(RL_LAYOUT_NHWC, RL_NORM_SUM, LAMBDAS, 500); }
/* truth_thresh 0.45 < ignore_thresh 0.7: many positives of the second kind. */
Test(finite_diff_yolo, truth_thresh_images) { run(RL_LAYOUT_NHWC, RL_NORM_IMAGES, TRUTH_THRESH, 600); }
Test(finite_diff_yolo, truth_thresh_sum) { run(RL_LAYOUT_NCHW, RL_NORM_SUM, TRUTH_THRESH, 700); }
/* The IoU-family box losses (docs/loss.md, "IoU-family box losses"): the
 * gradient exact through the decoding, CIoU's alpha a constant (taken from
 * the frozen predictions, so the finite differences hold it too). */
Test(finite_diff_yolo, box_iou) { run_box(RL_LAYOUT_NCHW, RL_NORM_IMAGES, PLAIN, 800, RL_BOX_IOU); }
Test(finite_diff_yolo, box_giou) { run_box(RL_LAYOUT_NHWC, RL_NORM_SUM, PLAIN, 900, RL_BOX_GIOU); }
Test(finite_diff_yolo, box_diou) { run_box(RL_LAYOUT_NCHW, RL_NORM_SUM, LAMBDAS, 1000, RL_BOX_DIOU); }
Test(finite_diff_yolo, box_ciou) { run_box(RL_LAYOUT_NHWC, RL_NORM_IMAGES, PLAIN, 1100, RL_BOX_CIOU); }
Test(finite_diff_yolo, box_ciou_lambdas) { run_box(RL_LAYOUT_NCHW, RL_NORM_IMAGES, LAMBDAS, 1200, RL_BOX_CIOU); }
