/* Fuzz harness for rl_plan_create / rl_compute / rl_count, and for the
 * [yolo] head's rl_yolo_plan_create / rl_yolo_workspace_size /
 * rl_yolo_compute.
 *
 * The input bytes decode (loss_input.h documents the format; yolo_input.h
 * the [yolo] one, chosen by bit 7 of byte 3) into a config, a batch and a
 * few call options, including invalid values of every kind the API
 * promises to reject.  Properties checked, any violation aborts:
 *
 *  (a) rejection: when the decoder put an invalid value in, every variant
 *      run rejects the config or the call with one of the statuses that
 *      value calls for, names the status, leaves a message, and writes
 *      nothing: the guard-filled gradients, results and counts are
 *      byte-for-byte untouched.  Conversely a config and batch made only of
 *      valid values are accepted.
 *  (b) agreement: a valid case goes through rl_diffcheck (rl_yolo_diffcheck
 *      for a network of heads), the differential oracles shared with
 *      tests/differential, which compare a variant with the reference
 *      within docs/numerics.md's tolerance.
 *  (c) finite inputs give no NaN: every accepted call returns results and
 *      gradients without NaN.  (A non-finite prediction the loss does not
 *      read is allowed through; one it reads must be rejected, and would
 *      surface here as a NaN otherwise.)
 *  Plus consistency a caller relies on: rl_count agrees with rl_compute's
 *  counts, n_conf = n_obj + n_noobj, n_truths is the number of truths, a
 *  network's total is the sum of its heads, and every variant run returns
 *  the reference's status.
 *
 * Which variants: the reference and one other, picked by a hash of the
 * input among those this machine runs, on one mask path (the default, or
 * the dense one where the sparse path is the default), also from the hash;
 * every variant when bit 6 of byte 3 is set (on the hash's path), every
 * variant on both paths when RL_FUZZ_ALL is in the environment (the replay
 * under meson test sets it).  Every
 * variant on every input cost a factor of five in executions a second
 * (issue 22); the differential suite keeps the full cross product.
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "elem.h"
#include "fuzz_driver.h"
#include "loss_input.h"
#include "regionloss.h"

#include "yolo_input.h"

#ifdef RL_HAVE_DIFFCHECK
#include "diffcheck.h"
#include "yolo_diffcheck.h"
#endif

/* RL_FUZZ_VERBOSE set: describe the case and each variant's answer. */
static int verbose = -1;

/* Bytes the harness writes before a call that must not write anything. */
#define GUARD_BYTE 0xA7

static bool status_in(rl_status st, const loss_expect *e)
{
    for (int k = 0; k < e->n_allowed; k++)
        if (e->allowed[k] == st)
            return true;
    return false;
}

static void check_failure_reported(rl_status st, const char *what, const char *variant)
{
    FUZZ_CHECK(strcmp(rl_status_name(st), "RL_UNKNOWN_STATUS") != 0,
               "%s with variant %s returned status %d, which has no name", what, variant,
               (int)st);
    const char *msg = rl_last_error();
    FUZZ_CHECK(msg && msg[0] != '\0', "%s with variant %s failed with %s but left no message",
               what, variant, rl_status_name(st));
}

static void check_result_not_nan(const rl_result *r, const char *variant)
{
    const struct {
        const char *name;
        double v;
    } f[] = {
        {"loss", r->loss},          {"coord", r->coord},
        {"cls", r->cls},            {"obj", r->obj},
        {"noobj", r->noobj},        {"warmup", r->warmup},
        {"avg_iou", r->avg_iou},    {"recall50", r->recall50},
        {"recall75", r->recall75},  {"avg_obj", r->avg_obj},
        {"avg_noobj", r->avg_noobj}, {"avg_cls", r->avg_cls},
        {"sum_iou", r->sum_iou},    {"sum_obj", r->sum_obj},
        {"sum_noobj", r->sum_noobj}, {"sum_cls", r->sum_cls},
        {"darknet.avg_iou", r->darknet.avg_iou},
        {"darknet.recall", r->darknet.recall},
        {"darknet.recall75", r->darknet.recall75},
        {"darknet.avg_cls", r->darknet.avg_cls},
        {"darknet.avg_obj", r->darknet.avg_obj},
        {"darknet.avg_anyobj", r->darknet.avg_anyobj},
        {"darknet.cost", r->darknet.cost},
    };
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
        FUZZ_CHECK(!isnan(f[k].v), "variant %s: result.%s is NaN for finite inputs "
                   "(loss %g coord %g cls %g obj %g noobj %g warmup %g)",
                   variant, f[k].name, r->loss, r->coord, r->cls, r->obj, r->noobj,
                   r->warmup);
}

static void check_grad_not_nan(const void *g, int type, size_t count, const char *variant)
{
    for (size_t x = 0; x < count; x++)
        FUZZ_CHECK(!isnan(rl_load(g, (int64_t)x, type)),
                   "variant %s: gradient entry %zu is NaN for finite inputs", variant, x);
}

/* One variant: plan, compute and count, with properties (a) and (c). */
static rl_status run_variant(loss_case *c, const char *variant, const loss_expect *cfg_expect,
                             const loss_expect *call_expect)
{
    rl_config cfg = c->cfg;
    cfg.variant = variant;
    rl_plan *plan = NULL;
    rl_status st = rl_plan_create(&cfg, &plan);
    if (cfg_expect->must_fail) {
        FUZZ_CHECK(st != RL_OK, "variant %s accepted an invalid config (%s)", variant,
                   cfg_expect->why);
    }
    if (st != RL_OK) {
        FUZZ_CHECK(status_in(st, cfg_expect),
                   "variant %s rejected the config with %s (\"%s\"), which the input does not "
                   "call for (%s)",
                   variant, rl_status_name(st), rl_last_error(),
                   cfg_expect->why[0] ? cfg_expect->why : "the config is valid");
        check_failure_reported(st, "rl_plan_create", variant);
        FUZZ_CHECK(plan == NULL, "variant %s: failed rl_plan_create wrote the plan pointer",
                   variant);
        return st;
    }
    FUZZ_CHECK(plan != NULL, "variant %s: rl_plan_create returned RL_OK without a plan",
               variant);
    if (!c->computable) {
        /* Valid but larger than the harness allocates: creation is all. */
        rl_plan_destroy(plan);
        return st;
    }

    const size_t count = c->tensor_count;
    /* The gradient: guard bytes when the call must write nothing, otherwise
     * the accumulate start values the decoder chose (finite). */
    const size_t esz = c->grad_elem;
    char *grad_storage = NULL, *grad_copy = NULL;
    void *grad = NULL;
    if (c->with_grad) {
        /* One spare entry so that the buffer can start off the vector
         * alignment malloc gives. */
        grad_storage = malloc((count + 1) * esz);
        grad_copy = malloc((count + 1) * esz);
        FUZZ_CHECK(grad_storage && grad_copy, "out of memory for %zu entries", count);
        grad = grad_storage + (c->misaligned ? esz : 0);
        if (call_expect->must_fail)
            memset(grad, GUARD_BYTE, count * esz);
        else
            memcpy(grad, c->grad_init, count * esz);
        memcpy(grad_copy, grad, count * esz);
    }

    rl_batch batch = c->batch;
    uint8_t *ws = NULL;
    size_t short_of = 0; /* the size a too-short workspace falls short of */
    if (c->use_workspace) {
        size_t need = 0;
        rl_status wst = rl_workspace_size(plan, c->n_images_alloc, c->n_truths, &need);
        FUZZ_CHECK(wst == RL_OK, "variant %s: rl_workspace_size failed: %s", variant,
                   rl_last_error());
        /* One spare byte so the workspace can start unaligned. */
        ws = malloc(need + 1);
        FUZZ_CHECK(ws, "out of memory for a %zu byte workspace", need);
        batch.workspace = ws + (c->misaligned ? 1 : 0);
        batch.workspace_size = need;
        if (c->workspace_short && need > 0) {
            batch.workspace_size = need - 1;
            short_of = need;
        }
    }

    rl_result res, res_copy;
    memset(&res, GUARD_BYTE, sizeof res);
    memcpy(&res_copy, &res, sizeof res);
    rl_status cst = rl_compute(plan, &batch, c->null_result ? NULL : &res, grad);

    if (verbose) {
        fprintf(stderr, "variant %s: %s", variant, rl_status_name(cst));
        if (cst == RL_OK && !c->null_result)
            fprintf(stderr, ": loss %.17g coord %.17g cls %.17g obj %.17g noobj %.17g "
                            "warmup %.17g; n_obj %lld n_noobj %lld",
                    res.loss, res.coord, res.cls, res.obj, res.noobj, res.warmup,
                    (long long)res.n_obj, (long long)res.n_noobj);
        else if (cst != RL_OK)
            fprintf(stderr, " (%s)", rl_last_error());
        fputc('\n', stderr);
    }

    loss_expect ce = *call_expect;
    if (ws && batch.workspace_size < short_of)
        loss_expect_fail(&ce, RL_ERR_WORKSPACE, "workspace of %zu bytes, %zu needed",
                         batch.workspace_size, short_of);
    if (ce.must_fail)
        FUZZ_CHECK(cst != RL_OK, "variant %s accepted an invalid call (%s)", variant, ce.why);
    if (cst != RL_OK) {
        FUZZ_CHECK(status_in(cst, &ce),
                   "variant %s rejected the call with %s (\"%s\"), which the input does not "
                   "call for (%s)",
                   variant, rl_status_name(cst), rl_last_error(),
                   ce.why[0] ? ce.why : "the input is valid");
        check_failure_reported(cst, "rl_compute", variant);
        if (grad)
            FUZZ_CHECK(memcmp(grad, grad_copy, count * esz) == 0,
                       "variant %s: rl_compute failed with %s but wrote the gradient", variant,
                       rl_status_name(cst));
        FUZZ_CHECK(memcmp(&res, &res_copy, sizeof res) == 0,
                   "variant %s: rl_compute failed with %s but wrote the result", variant,
                   rl_status_name(cst));
    } else {
        check_result_not_nan(&res, variant);
        if (grad)
            check_grad_not_nan(grad, c->cfg.grad_dtype, count, variant);
        FUZZ_CHECK(res.n_conf == res.n_obj + res.n_noobj,
                   "variant %s: n_conf %lld != n_obj %lld + n_noobj %lld", variant,
                   (long long)res.n_conf, (long long)res.n_obj, (long long)res.n_noobj);
        FUZZ_CHECK(res.n_truths == c->n_truths - c->n_skipped,
                   "variant %s: n_truths %lld, the batch has %lld of which %lld skipped",
                   variant, (long long)res.n_truths, (long long)c->n_truths,
                   (long long)c->n_skipped);
        FUZZ_CHECK(res.n_obj <= c->n_truths, "variant %s: n_obj %lld exceeds %lld truths",
                   variant, (long long)res.n_obj, (long long)c->n_truths);
    }

    /* rl_count validates the same way and decides the same masks. */
    rl_counts cnt, cnt_copy;
    memset(&cnt, GUARD_BYTE, sizeof cnt);
    memcpy(&cnt_copy, &cnt, sizeof cnt);
    batch.workspace = NULL;
    batch.workspace_size = 0;
    rl_status kst = rl_count(plan, &batch, &cnt);
    if (c->null_result) {
        /* rl_compute was refused for its NULL result; rl_count has its own. */
    } else if (cst == RL_OK) {
        FUZZ_CHECK(kst == RL_OK, "variant %s: rl_compute succeeded but rl_count failed: %s",
                   variant, rl_last_error());
    } else if (cst == RL_ERR_WORKSPACE) {
        /* The workspace may be checked before the batch; rl_count, which
         * takes none, then meets the batch's own fault, if it has one. */
        FUZZ_CHECK(call_expect->must_fail ? kst != RL_OK && status_in(kst, call_expect)
                                          : kst == RL_OK || status_in(kst, call_expect),
                   "variant %s: rl_count answered %s (\"%s\"), the input calls for %s",
                   variant, rl_status_name(kst), rl_last_error(),
                   call_expect->must_fail ? call_expect->why : "success");
    } else {
        FUZZ_CHECK(kst == cst, "variant %s: rl_compute failed with %s, rl_count with %s",
                   variant, rl_status_name(cst), rl_status_name(kst));
    }
    if (kst != RL_OK) {
        FUZZ_CHECK(memcmp(&cnt, &cnt_copy, sizeof cnt) == 0,
                   "variant %s: rl_count failed with %s but wrote its output", variant,
                   rl_status_name(kst));
    } else if (cst == RL_OK && !c->null_result) {
        FUZZ_CHECK(cnt.n_obj == res.n_obj && cnt.n_noobj == res.n_noobj &&
                       cnt.n_conf == res.n_conf,
                   "variant %s: rl_count says obj %lld noobj %lld conf %lld, rl_compute "
                   "%lld %lld %lld",
                   variant, (long long)cnt.n_obj, (long long)cnt.n_noobj, (long long)cnt.n_conf,
                   (long long)res.n_obj, (long long)res.n_noobj, (long long)res.n_conf);
    }

    free(ws);
    free(grad_storage);
    free(grad_copy);
    rl_plan_destroy(plan);
    return c->null_result ? kst : cst;
}

/* --- the [yolo] head --------------------------------------------------- */

/* |got - want| within the rounding of a different summation order of the
 * same double terms (the total may sum image by image across heads). */
static bool sum_close(double got, double want, double abs_sum)
{
    if (isinf(got) || isinf(want))
        return got == want;
    return fabs(got - want) <= 1e-12 * abs_sum;
}

/* avg_* of a result are its raw sums over its counts (0 without a count):
 * regionloss.h's "raw sums behind the diagnostics". */
static void check_averages(const rl_result *r, const char *label)
{
    const double no = (double)r->n_obj, nn = (double)r->n_noobj;
    const struct {
        const char *name;
        double avg, want;
    } a[6] = {
        {"avg_iou", r->avg_iou, r->n_obj ? r->sum_iou / no : 0},
        {"recall50", r->recall50, r->n_obj ? (double)r->n_recall50 / no : 0},
        {"recall75", r->recall75, r->n_obj ? (double)r->n_recall75 / no : 0},
        {"avg_obj", r->avg_obj, r->n_obj ? r->sum_obj / no : 0},
        {"avg_cls", r->avg_cls, r->n_obj ? r->sum_cls / no : 0},
        {"avg_noobj", r->avg_noobj, r->n_noobj ? r->sum_noobj / nn : 0},
    };
    for (int k = 0; k < 6; k++)
        FUZZ_CHECK(fabs(a[k].avg - a[k].want) <= 4 * DBL_EPSILON * fabs(a[k].want),
                   "%s: %s = %.17g, its sum over its count %.17g", label, a[k].name, a[k].avg,
                   a[k].want);
    FUZZ_CHECK(r->n_recall75 <= r->n_recall50 && r->n_recall50 <= r->n_obj,
               "%s: n_recall75 %lld, n_recall50 %lld, n_obj %lld", label,
               (long long)r->n_recall75, (long long)r->n_recall50, (long long)r->n_obj);
}

/* The total of a network against the sum of its heads (rl_yolo_compute's
 * contract: parts and counts summed, darknet's line averaged over every
 * head's truths and avg_anyobj over every head's slots), and each head's
 * own counts and averages. */
static void check_yolo_results(const yolo_case *c, const rl_result *tot, const rl_result *heads,
                               const char *variant)
{
    const int32_t H = c->cfg.n_heads;
    char label[96];
    snprintf(label, sizeof label, "%s, total", variant);
    check_result_not_nan(tot, label);
    FUZZ_CHECK(tot->n_conf == tot->n_obj + tot->n_noobj,
               "variant %s: total n_conf %lld != n_obj %lld + n_noobj %lld", variant,
               (long long)tot->n_conf, (long long)tot->n_obj, (long long)tot->n_noobj);
    FUZZ_CHECK(tot->n_truths == c->n_truths, "variant %s: total n_truths %lld, the batch has %lld",
               variant, (long long)tot->n_truths, (long long)c->n_truths);
    FUZZ_CHECK(tot->warmup == 0, "variant %s: total warmup %.17g, a [yolo] head has none", variant,
               tot->warmup);
    FUZZ_CHECK(tot->variant && strcmp(tot->variant, variant) == 0,
               "variant %s: the total names variant %s", variant,
               tot->variant ? tot->variant : "(NULL)");
    check_averages(tot, label);
    if (!heads)
        return;
    /* darknet's line: count-weighted over the heads (avg_anyobj: slots) */
    double dk_sum[5] = {0}, any_sum = 0, all_slots = 0;
    int64_t n_obj = 0, n_noobj = 0, n_conf = 0, r50 = 0, r75 = 0, count = 0;
    struct {
        const char *name;
        double sum, abs;
    } part[10] = {{"coord", 0, 0},   {"cls", 0, 0},     {"obj", 0, 0},
                  {"noobj", 0, 0},   {"loss", 0, 0},    {"sum_iou", 0, 0},
                  {"sum_obj", 0, 0}, {"sum_noobj", 0, 0}, {"sum_cls", 0, 0},
                  {"darknet.cost", 0, 0}};
    for (int32_t h = 0; h < H; h++) {
        const rl_result *r = &heads[h];
        snprintf(label, sizeof label, "%s, head %d", variant, (int)h);
        check_result_not_nan(r, label);
        const int64_t slots = (int64_t)c->batch.n_images * c->heads[h].H * c->heads[h].W *
                              c->heads[h].B;
        FUZZ_CHECK(r->n_conf == r->n_obj + r->n_noobj,
                   "%s: n_conf %lld != n_obj %lld + n_noobj %lld", label, (long long)r->n_conf,
                   (long long)r->n_obj, (long long)r->n_noobj);
        FUZZ_CHECK(r->n_obj >= 0 && r->n_noobj >= 0 && r->n_conf <= slots,
                   "%s: n_obj %lld n_noobj %lld, the head has %lld slots", label,
                   (long long)r->n_obj, (long long)r->n_noobj, (long long)slots);
        FUZZ_CHECK(r->n_truths == c->n_truths, "%s: n_truths %lld, the batch has %lld", label,
                   (long long)r->n_truths, (long long)c->n_truths);
        FUZZ_CHECK(r->warmup == 0, "%s: warmup %.17g", label, r->warmup);
        /* flavour alexeyab counts iou_thresh's extra positives too: at most
         * one per truth and anchor of the head */
        const int64_t max_count = c->cfg.flavour == RL_YOLO_FLAVOUR_ALEXEYAB
                                      ? c->n_truths * c->heads[h].B
                                      : c->n_truths;
        FUZZ_CHECK(r->darknet.count >= 0 && r->darknet.count <= max_count,
                   "%s: darknet.count %lld of %lld truths", label, (long long)r->darknet.count,
                   (long long)c->n_truths);
        FUZZ_CHECK(r->variant && strcmp(r->variant, variant) == 0,
                   "%s: per_head names variant %s", label, r->variant ? r->variant : "(NULL)");
        check_averages(r, label);
        const double dk[5] = {r->darknet.avg_iou, r->darknet.recall, r->darknet.recall75,
                              r->darknet.avg_obj, r->darknet.avg_cls};
        for (int k = 0; k < 5; k++)
            dk_sum[k] += (double)r->darknet.count * dk[k];
        any_sum += (double)slots * r->darknet.avg_anyobj;
        all_slots += (double)slots;
        n_obj += r->n_obj;
        n_noobj += r->n_noobj;
        n_conf += r->n_conf;
        r50 += r->n_recall50;
        r75 += r->n_recall75;
        count += r->darknet.count;
        const double v[10] = {r->coord,   r->cls,     r->obj,       r->noobj,
                              r->loss,    r->sum_iou, r->sum_obj,   r->sum_noobj,
                              r->sum_cls, r->darknet.cost};
        for (int k = 0; k < 10; k++) {
            part[k].sum += v[k];
            part[k].abs += fabs(v[k]);
        }
    }
    FUZZ_CHECK(tot->n_obj == n_obj && tot->n_noobj == n_noobj && tot->n_conf == n_conf &&
                   tot->n_recall50 == r50 && tot->n_recall75 == r75 &&
                   tot->darknet.count == count,
               "variant %s: total counts obj/noobj/conf/recall50/recall75/darknet %lld/%lld/%lld/"
               "%lld/%lld/%lld, the heads' sums %lld/%lld/%lld/%lld/%lld/%lld",
               variant, (long long)tot->n_obj, (long long)tot->n_noobj, (long long)tot->n_conf,
               (long long)tot->n_recall50, (long long)tot->n_recall75,
               (long long)tot->darknet.count, (long long)n_obj, (long long)n_noobj,
               (long long)n_conf, (long long)r50, (long long)r75, (long long)count);
    const double t[10] = {tot->coord,   tot->cls,     tot->obj,       tot->noobj,
                          tot->loss,    tot->sum_iou, tot->sum_obj,   tot->sum_noobj,
                          tot->sum_cls, tot->darknet.cost};
    for (int k = 0; k < 10; k++)
        FUZZ_CHECK(sum_close(t[k], part[k].sum, part[k].abs),
                   "variant %s: total %s = %.17g, the heads sum to %.17g", variant, part[k].name,
                   t[k], part[k].sum);
    /* Means of values in [0, 1]: within a few roundings, absolutely. */
    static const char *const dk_names[5] = {"avg_iou", "recall", "recall75", "avg_obj",
                                            "avg_cls"};
    const double dk_tot[5] = {tot->darknet.avg_iou, tot->darknet.recall, tot->darknet.recall75,
                              tot->darknet.avg_obj, tot->darknet.avg_cls};
    for (int k = 0; k < 5; k++) {
        const double want = count ? dk_sum[k] / (double)count : 0;
        FUZZ_CHECK(fabs(dk_tot[k] - want) <= 1e-12,
                   "variant %s: total darknet.%s = %.17g, the heads' count-weighted mean %.17g",
                   variant, dk_names[k], dk_tot[k], want);
    }
    const double any = all_slots > 0 ? any_sum / all_slots : 0;
    FUZZ_CHECK(fabs(tot->darknet.avg_anyobj - any) <= 1e-12,
               "variant %s: total darknet.avg_anyobj = %.17g, the heads' slot-weighted mean %.17g",
               variant, tot->darknet.avg_anyobj, any);
}

/* One variant on a network: plan, workspace size, compute, with
 * properties (a) and (c). */
static rl_status run_yolo_variant(yolo_case *c, const char *variant, const loss_expect *cfg_expect,
                                  const loss_expect *call_expect)
{
    rl_yolo_config cfg = c->cfg;
    cfg.variant = variant;
    rl_yolo_plan *plan = NULL;
    rl_status st = rl_yolo_plan_create(&cfg, &plan);
    if (verbose && st != RL_OK)
        fprintf(stderr, "variant %s: rl_yolo_plan_create: %s (%s)\n", variant,
                rl_status_name(st), rl_last_error());
    if (cfg_expect->must_fail)
        FUZZ_CHECK(st != RL_OK, "variant %s accepted an invalid [yolo] config (%s)", variant,
                   cfg_expect->why);
    if (st != RL_OK) {
        FUZZ_CHECK(status_in(st, cfg_expect),
                   "variant %s rejected the [yolo] config with %s (\"%s\"), which the input "
                   "does not call for (%s)",
                   variant, rl_status_name(st), rl_last_error(),
                   cfg_expect->why[0] ? cfg_expect->why : "the config is valid");
        check_failure_reported(st, "rl_yolo_plan_create", variant);
        FUZZ_CHECK(plan == NULL, "variant %s: failed rl_yolo_plan_create wrote the plan pointer",
                   variant);
        return st;
    }
    FUZZ_CHECK(plan != NULL, "variant %s: rl_yolo_plan_create returned RL_OK without a plan",
               variant);
    FUZZ_CHECK(strcmp(rl_yolo_plan_variant(plan), variant) == 0,
               "variant %s: the plan runs variant %s", variant, rl_yolo_plan_variant(plan));
    if (!c->computable) {
        rl_yolo_plan_destroy(plan);
        return st;
    }

    const int32_t H = c->cfg.n_heads;
    for (int32_t h = 0; h < H; h++) {
        size_t n = 0;
        const rl_status tst = rl_yolo_tensor_size(plan, h, c->n_images_alloc, &n);
        FUZZ_CHECK(tst == RL_OK && n == c->count[h],
                   "variant %s: rl_yolo_tensor_size of head %d gives %s, %zu entries; the "
                   "head's shape makes %zu",
                   variant, (int)h, rl_status_name(tst), n, c->count[h]);
    }

    /* Gradients: guard bytes when the call must write nothing, otherwise
     * the decoder's accumulate start values; one spare entry each so that
     * a buffer can start off malloc's alignment. */
    const size_t esz = c->grad_elem;
    void *grads[RL_YOLO_MAX_HEADS] = {0};
    char *storage[RL_YOLO_MAX_HEADS] = {0}, *copy[RL_YOLO_MAX_HEADS] = {0};
    if (c->with_grad)
        for (int32_t h = 0; h < H; h++) {
            if (c->null_last_grad && h == H - 1)
                continue; /* grads[h] NULL: no gradient for that head */
            const size_t count = c->count[h];
            storage[h] = malloc((count + 1) * esz);
            copy[h] = malloc((count + 1) * esz);
            FUZZ_CHECK(storage[h] && copy[h], "out of memory for %zu entries", count);
            grads[h] = storage[h] + (c->misaligned ? esz : 0);
            if (call_expect->must_fail)
                memset(grads[h], GUARD_BYTE, count * esz);
            else
                memcpy(grads[h], c->grad_init[h], count * esz);
            memcpy(copy[h], grads[h], count * esz);
        }

    rl_yolo_batch batch = c->batch;
    uint8_t *ws = NULL;
    size_t short_of = 0;
    if (c->use_workspace) {
        size_t need = 0;
        const rl_status wst = rl_yolo_workspace_size(plan, c->n_images_alloc, c->n_truths, &need);
        FUZZ_CHECK(wst == RL_OK, "variant %s: rl_yolo_workspace_size failed: %s", variant,
                   rl_last_error());
        ws = malloc(need + 1);
        FUZZ_CHECK(ws, "out of memory for a %zu byte workspace", need);
        batch.workspace = ws + (c->misaligned ? 1 : 0);
        batch.workspace_size = need;
        if (c->workspace_short && need > 0) {
            batch.workspace_size = need - 1;
            short_of = need;
        }
    }

    /* per_head holds exactly n_heads results (ASan sees a write past it). */
    rl_result tot, tot_copy;
    rl_result *heads = c->null_per_head ? NULL : malloc((size_t)H * sizeof *heads);
    rl_result *heads_copy = malloc((size_t)H * sizeof *heads_copy);
    FUZZ_CHECK(heads_copy && (heads || c->null_per_head), "out of memory for %d results", (int)H);
    memset(&tot, GUARD_BYTE, sizeof tot);
    memcpy(&tot_copy, &tot, sizeof tot);
    memset(heads_copy, GUARD_BYTE, (size_t)H * sizeof *heads_copy);
    if (heads)
        memcpy(heads, heads_copy, (size_t)H * sizeof *heads);
    const rl_status cst = rl_yolo_compute(plan, &batch, c->null_total ? NULL : &tot, heads,
                                          c->with_grad ? grads : NULL);

    if (verbose) {
        fprintf(stderr, "variant %s: %s", variant, rl_status_name(cst));
        if (cst == RL_OK && !c->null_total)
            fprintf(stderr, ": loss %.17g coord %.17g cls %.17g obj %.17g noobj %.17g; n_obj "
                            "%lld n_noobj %lld",
                    tot.loss, tot.coord, tot.cls, tot.obj, tot.noobj, (long long)tot.n_obj,
                    (long long)tot.n_noobj);
        else if (cst != RL_OK)
            fprintf(stderr, " (%s)", rl_last_error());
        fputc('\n', stderr);
        for (int32_t h = 0; cst == RL_OK && heads && h < H; h++)
            fprintf(stderr, "  head %d: loss %.17g coord %.17g cls %.17g obj %.17g noobj %.17g; "
                            "n_obj %lld n_noobj %lld\n",
                    (int)h, heads[h].loss, heads[h].coord, heads[h].cls, heads[h].obj,
                    heads[h].noobj, (long long)heads[h].n_obj, (long long)heads[h].n_noobj);
    }

    loss_expect ce = *call_expect;
    if (ws && batch.workspace_size < short_of)
        loss_expect_fail(&ce, RL_ERR_WORKSPACE, "workspace of %zu bytes, %zu needed",
                         batch.workspace_size, short_of);
    if (ce.must_fail)
        FUZZ_CHECK(cst != RL_OK, "variant %s accepted an invalid [yolo] call (%s)", variant,
                   ce.why);
    if (cst != RL_OK) {
        FUZZ_CHECK(status_in(cst, &ce),
                   "variant %s rejected the [yolo] call with %s (\"%s\"), which the input does "
                   "not call for (%s)",
                   variant, rl_status_name(cst), rl_last_error(),
                   ce.why[0] ? ce.why : "the input is valid");
        check_failure_reported(cst, "rl_yolo_compute", variant);
        for (int32_t h = 0; h < H; h++)
            if (grads[h])
                FUZZ_CHECK(memcmp(grads[h], copy[h], c->count[h] * esz) == 0,
                           "variant %s: rl_yolo_compute failed with %s but wrote head %d's "
                           "gradient",
                           variant, rl_status_name(cst), (int)h);
        FUZZ_CHECK(memcmp(&tot, &tot_copy, sizeof tot) == 0,
                   "variant %s: rl_yolo_compute failed with %s but wrote the total", variant,
                   rl_status_name(cst));
        if (heads)
            FUZZ_CHECK(memcmp(heads, heads_copy, (size_t)H * sizeof *heads) == 0,
                       "variant %s: rl_yolo_compute failed with %s but wrote per_head", variant,
                       rl_status_name(cst));
    } else {
        check_yolo_results(c, &tot, heads, variant);
        for (int32_t h = 0; h < H; h++)
            if (grads[h]) {
                char label[96];
                snprintf(label, sizeof label, "%s, head %d", variant, (int)h);
                check_grad_not_nan(grads[h], c->cfg.grad_dtype, c->count[h], label);
            }
    }

    free(ws);
    for (int32_t h = 0; h < H; h++) {
        free(storage[h]);
        free(copy[h]);
    }
    free(heads);
    free(heads_copy);
    rl_yolo_plan_destroy(plan);
    return cst;
}

/* --- which variants and paths an input runs ---------------------------- */

/* RL_FUZZ_ALL set (the replay under meson test): every variant, both
 * paths, for every input, whatever bit 6 of byte 3 says. */
static bool fuzz_all;
/* The variants other than the reference that run here (rl_variant_list). */
static const char *others[64];
static int n_others;

typedef struct selection {
    const char *variant; /* NULL: every one of others[] */
    int paths;           /* rl_diffcheck_paths: 0 both, 1 default, 2 dense */
} selection;

/* FNV-1a over the whole input: any change to it may move it to another
 * variant, and every input always runs the same one. */
static uint32_t input_hash(const uint8_t *data, size_t size)
{
    uint32_t h = 2166136261u;
    for (size_t k = 0; k < size; k++)
        h = (h ^ data[k]) * 16777619u;
    return h;
}

static selection select_variants(const uint8_t *data, size_t size)
{
    selection s = {NULL, 0};
    if (fuzz_all || n_others == 0)
        return s;
    const uint32_t h = input_hash(data, size);
    s.paths = 1 + (int)((h >> 16) & 1);
    /* Bit 6 of byte 3: every variant, on the path the hash gives. */
    if (!(size > 3 && (data[3] & 64)))
        s.variant = others[h % (uint32_t)n_others];
    return s;
}

/* The variants other than the reference an input runs, in turn. */
static const char *const *variants_of(const selection *s, const char **one)
{
    if (!s->variant)
        return others;
    one[0] = s->variant;
    one[1] = NULL;
    return one;
}

/* What the decoder expects of the config and of the call, in words. */
static void print_expect(const loss_expect *cfg_expect, const loss_expect *call_expect)
{
    fprintf(stderr, "expect: config %s (%s), call %s (%s)\n",
            cfg_expect->must_fail ? "rejected" : "accepted", cfg_expect->why,
            call_expect->must_fail ? "rejected" : "accepted", call_expect->why);
}

/* Every variant answers as the reference does.  A workspace one byte short
 * fails only where a variant needs one (the reference needs none); the
 * variant's run checked that case. */
static void check_same_status(const char *variant, rl_status st, rl_status ref_st,
                              int short_workspace)
{
    if (short_workspace && (st == RL_ERR_WORKSPACE || ref_st == RL_OK))
        return;
    FUZZ_CHECK(st == ref_st, "variant %s returned %s where the reference returned %s", variant,
               rl_status_name(st), rl_status_name(ref_st));
}

static void fuzz_region(const uint8_t *data, size_t size, const selection *sel)
{
    loss_case c;
    loss_expect cfg_expect, call_expect;
    if (loss_decode(data, size, &c, &cfg_expect, &call_expect) != 0)
        return;
    if (verbose) {
        loss_case_print(stderr, &c);
        print_expect(&cfg_expect, &call_expect);
    }

    /* The reference first: every other variant must answer as it does. */
    const rl_status ref_st = run_variant(&c, "reference", &cfg_expect, &call_expect);
    const char *one[2];
    for (const char *const *v = variants_of(sel, one); *v; v++) {
        const rl_status st = run_variant(&c, *v, &cfg_expect, &call_expect);
        check_same_status(*v, st, ref_st, c.use_workspace && c.workspace_short);
    }

#ifdef RL_HAVE_DIFFCHECK
    /* (b) the variants against the reference, within the documented
     * tolerance; invalid batches too (same status, nothing written).  The
     * workspace is left out: its size is per variant. */
    if (!cfg_expect.must_fail && c.computable && !c.null_result) {
        rl_batch b = c.batch;
        b.workspace = NULL;
        b.workspace_size = 0;
        rl_diffcheck_only(sel->variant);
        rl_diffcheck_paths(sel->paths);
        rl_diffcheck_report rep;
        const int bad = rl_diffcheck(&c.cfg, &b, rl_fuzz_input_name, stderr, &rep);
        FUZZ_CHECK(bad == 0, "rl_diffcheck: %d of %d variants disagree with the reference",
                   rep.mismatches, rep.variants_checked);
    }
#endif
    loss_case_free(&c);
}

static void fuzz_yolo(const uint8_t *data, size_t size, const selection *sel)
{
    yolo_case c;
    loss_expect cfg_expect, call_expect;
    if (yolo_decode(data, size, &c, &cfg_expect, &call_expect) != 0)
        return;
    if (verbose) {
        yolo_case_print(stderr, &c);
        print_expect(&cfg_expect, &call_expect);
    }
    const rl_status ref_st = run_yolo_variant(&c, "reference", &cfg_expect, &call_expect);
    const char *one[2];
    for (const char *const *v = variants_of(sel, one); *v; v++) {
        const rl_status st = run_yolo_variant(&c, *v, &cfg_expect, &call_expect);
        check_same_status(*v, st, ref_st, c.use_workspace && c.workspace_short);
    }
#ifdef RL_HAVE_DIFFCHECK
    if (!cfg_expect.must_fail && c.computable && !c.null_total) {
        rl_yolo_batch b = c.batch;
        b.workspace = NULL;
        b.workspace_size = 0;
        rl_yolo_diffcheck_only(sel->variant);
        rl_yolo_diffcheck_paths(sel->paths);
        rl_diffcheck_report rep;
        const int bad = rl_yolo_diffcheck(&c.cfg, &b, rl_fuzz_input_name, stderr, &rep);
        FUZZ_CHECK(bad == 0, "rl_yolo_diffcheck: %d of %d variant runs disagree with the "
                             "reference",
                   rep.mismatches, rep.variants_checked);
    }
#endif
    yolo_case_free(&c);
}

/* Runs once, before AFL++'s fork server starts (fuzz_driver.c).  The
 * library builds some state on first use: the variant list and the Highway
 * target table (pthread_once), the CPU flags, Highway's chosen target; and
 * this harness reads RL_FUZZ_VERBOSE and RL_FUZZ_ALL and lists the
 * variants.  Built on a fork-server child's first input, these are edges
 * that input's repeats do not take, so AFL++ counted them unstable.  The
 * empty input is a valid region case (every field reads as 0), and the
 * four bytes 0 0 0 0x80 a valid one-head network; each runs every variant
 * here, which builds all of it. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const bool want_verbose = getenv("RL_FUZZ_VERBOSE") != NULL;
    fuzz_all = getenv("RL_FUZZ_ALL") != NULL;
    for (const char *const *v = rl_variant_list(); *v; v++)
        if (strcmp(*v, "reference") != 0 && n_others < (int)(sizeof others / sizeof others[0]) - 1)
            others[n_others++] = *v;
    others[n_others] = NULL;
    verbose = 0;
    const bool was_all = fuzz_all;
    fuzz_all = true;
    static const uint8_t empty[1] = {0}, one_head[4] = {0, 0, 0, 0x80};
    LLVMFuzzerTestOneInput(empty, 0);
    LLVMFuzzerTestOneInput(one_head, sizeof one_head);
    fuzz_all = was_all;
    verbose = want_verbose;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (verbose < 0) /* a driver without LLVMFuzzerInitialize */
        verbose = getenv("RL_FUZZ_VERBOSE") != NULL;
    const selection sel = select_variants(data, size);
    if (verbose)
        fprintf(stderr, "variants: reference and %s; paths: %s\n",
                sel.variant ? sel.variant : "every other one",
                sel.paths == 0 ? "both" : sel.paths == 1 ? "default" : "dense");
    if (size > 3 && (data[3] & 0x80))
        fuzz_yolo(data, size, &sel);
    else
        fuzz_region(data, size, &sel);
    return 0;
}
