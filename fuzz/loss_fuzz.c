/* Fuzz harness for rl_plan_create / rl_compute / rl_count.
 *
 * The input bytes decode (loss_input.h documents the format) into a config,
 * a batch and a few call options, including invalid values of every kind
 * the API promises to reject.  Properties checked, any violation aborts:
 *
 *  (a) rejection: when the decoder put an invalid value in, every variant
 *      rejects the config or the call with one of the statuses that value
 *      calls for, names the status, leaves a message, and writes nothing:
 *      the guard-filled gradient, result and counts are byte-for-byte
 *      untouched.  Conversely a config and batch made only of valid values
 *      are accepted.
 *  (b) agreement: a valid case goes through rl_diffcheck (the differential
 *      oracle shared with tests/differential), which compares every variant
 *      with the reference within docs/numerics.md's tolerance.
 *  (c) finite inputs give no NaN: every accepted call, by every variant,
 *      returns a result and a gradient without NaN.  (A non-finite
 *      prediction the loss does not read is allowed through; one it reads
 *      must be rejected, and would surface here as a NaN otherwise.)
 *  Plus consistency a caller relies on: rl_count agrees with rl_compute's
 *  counts, n_conf = n_obj + n_noobj, n_truths is the number of truths, and
 *  every variant of a config returns the same status.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "elem.h"
#include "fuzz_driver.h"
#include "loss_input.h"
#include "regionloss.h"

#ifdef RL_HAVE_DIFFCHECK
#include "diffcheck.h"
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
        FUZZ_CHECK(res.n_truths == c->n_truths, "variant %s: n_truths %lld, the batch has %lld",
                   variant, (long long)res.n_truths, (long long)c->n_truths);
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

/* Runs once, before AFL++'s fork server starts (fuzz_driver.c).  The
 * library builds some state on first use: the variant list and the Highway
 * target table (pthread_once), the CPU flags, Highway's chosen target; and
 * this harness caches RL_FUZZ_VERBOSE.  Built on a fork-server child's first
 * input, these are edges that input's repeats do not take, so AFL++ counted
 * them unstable.  The empty input is a valid case (every field reads as 0)
 * that plans and computes with every variant, which builds all of it. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    verbose = getenv("RL_FUZZ_VERBOSE") != NULL;
    static const uint8_t empty[1] = {0};
    const int was_verbose = verbose;
    verbose = 0;
    LLVMFuzzerTestOneInput(empty, 0);
    verbose = was_verbose;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    loss_case c;
    loss_expect cfg_expect, call_expect;
    if (loss_decode(data, size, &c, &cfg_expect, &call_expect) != 0)
        return 0;
    if (verbose < 0)
        verbose = getenv("RL_FUZZ_VERBOSE") != NULL;
    if (verbose) {
        loss_case_print(stderr, &c);
        fprintf(stderr, "expect: config %s (%s), call %s (%s)\n",
                cfg_expect.must_fail ? "rejected" : "accepted", cfg_expect.why,
                call_expect.must_fail ? "rejected" : "accepted", call_expect.why);
    }

    /* The reference first: every other variant must answer as it does. */
    rl_status ref_st = run_variant(&c, "reference", &cfg_expect, &call_expect);
    for (const char *const *v = rl_variant_list(); *v; v++) {
        if (strcmp(*v, "reference") == 0)
            continue;
        rl_status st = run_variant(&c, *v, &cfg_expect, &call_expect);
        /* A workspace one byte short fails only where a variant needs one
         * (the reference needs none); run_variant checked that case. */
        if (c.use_workspace && c.workspace_short &&
            (st == RL_ERR_WORKSPACE || ref_st == RL_OK))
            continue;
        FUZZ_CHECK(st == ref_st, "variant %s returned %s where the reference returned %s", *v,
                   rl_status_name(st), rl_status_name(ref_st));
    }

#ifdef RL_HAVE_DIFFCHECK
    /* (b) every variant against the reference, within the documented
     * tolerance; invalid batches too (same status, nothing written).  The
     * workspace is left out: its size is per variant. */
    if (!cfg_expect.must_fail && c.computable && !c.null_result) {
        rl_batch b = c.batch;
        b.workspace = NULL;
        b.workspace_size = 0;
        rl_diffcheck_report rep;
        int bad = rl_diffcheck(&c.cfg, &b, rl_fuzz_input_name, stderr, &rep);
        FUZZ_CHECK(bad == 0, "rl_diffcheck: %d of %d variants disagree with the reference",
                   rep.mismatches, rep.variants_checked);
    }
#endif
    loss_case_free(&c);
    return 0;
}
