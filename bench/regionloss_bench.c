/* regionloss_bench: times every variant on the issue 7 workloads and the
 * issue 22 [yolo] networks against a memory roofline measured in the same
 * run, and the thread scaling of the N = 64 rows and of the [yolo] rows.
 *
 * Samples are interleaved (roofline, then each variant, then again) rather
 * than taken variant after variant: the machine is shared, and a burst of
 * someone else's load then lands on every contender alike, so the ratios
 * stay meaningful even when the absolute times move. */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breakdown.h"
#include "internal.h"
#include "pool.h"
#include "report.h"
#include "roofline.h"
#include "scalar/reference.h"
#include "scalar/yolo_reference.h"
#include "stats.h"
#include "workloads.h"

typedef struct options {
    int reps, ref_reps, threads, json, scaling, max_threads, breakdown, cpu_time;
    const char *filter;   /* comma-separated globs over row names */
    const char *variants; /* comma-separated names; NULL: all available */
    int modes;            /* bit 0 overwrite, bit 1 accumulate */
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: regionloss_bench [--reps R] [--ref-reps R] [--filter ROW[,ROW...]]\n"
            "                        [--threads T] [--variant NAME[,NAME...]]\n"
            "                        [--mode overwrite|accumulate|both] [--max-threads P]\n"
            "                        [--no-scaling] [--json] [--list] [--breakdown] [--cpu-time]\n"
            "  ROW is a glob over the row names (--list shows them).\n"
            "  --reps: timed calls per variant after one warm-up (default 11);\n"
            "  --ref-reps: of those, how many the slow reference gets (default 3);\n"
            "  --threads: threads of the main table (default 1);\n"
            "  --max-threads: thread scaling goes 1..P (default: online CPUs), on the\n"
            "    N = 64 rows and the yolo rows, for the default variant or every one\n"
            "    --variant names;\n"
            "  --cpu-time: on a loaded machine, time by CPU time instead of the wall\n"
            "    clock: the calling thread's for 1 thread, the busiest thread's for the\n"
            "    scaling pass (what the call would take with its threads running at once);\n"
            "  --breakdown: instead of the table, time each kernel of every selected\n"
            "    driver variant alone (1 thread) and show where a call's time goes\n"
            "    (yolo rows: the call's parts through the API, head by head).\n");
}

static int parse_int(const char *s, int lo, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > 1000000)
        return -1;
    *out = (int)v;
    return 0;
}

static int in_list(const char *list, const char *name, int glob)
{
    if (!list)
        return 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (glob ? fnmatch(tok, name, 0) == 0 : strcmp(tok, name) == 0)
            return 1;
    return 0;
}

/* A plan of either loss: a region row's rl_plan, or a [yolo] row's
 * network (every head in one plan, one call). */
typedef struct bplan {
    rl_plan *r;
    rl_yolo_plan *y;
} bplan;

static int plan_ok(bplan p) { return p.r || p.y; }

static const char *plan_variant(bplan p)
{
    return p.y ? rl_yolo_plan_variant(p.y) : rl_plan_variant(p.r);
}

static void plan_destroy(bplan p)
{
    rl_plan_destroy(p.r);
    rl_yolo_plan_destroy(p.y);
}

static bplan make_plan(const bench_row *row, int accumulate, const char *variant, int threads)
{
    bplan plan = {NULL, NULL};
    rl_status st;
    if (row->yolo) {
        rl_yolo_config cfg;
        rl_yolo_head heads[RL_YOLO_MAX_HEADS];
        bench_yolo_config(row, accumulate, &cfg, heads); /* NCHW, as bench_input_make writes */
        cfg.variant = variant;
        cfg.threads = threads;
        st = rl_yolo_plan_create(&cfg, &plan.y);
    } else {
        rl_config cfg;
        bench_row_config(row, accumulate, &cfg);
        cfg.variant = variant;
        cfg.threads = threads;
        st = rl_plan_create(&cfg, &plan.r);
    }
    if (st != RL_OK)
        fprintf(stderr, "bench: %s %s threads %d: %s\n", row->name, variant, threads,
                rl_last_error());
    return plan;
}

/* Everything one row needs: its batch, a gradient, a workspace, the
 * reference's decisions (for the accumulate roofline and as the check).
 * Per tensor (a region row has one, a [yolo] row one per head): its
 * roofline and the slot lists behind it, each array head after head. */
typedef struct row_ctx {
    const bench_row *row;
    bench_input in;
    rl_batch batch;
    rl_yolo_batch ybatch;
    const void *ypreds[RL_YOLO_MAX_HEADS];
    void *ygrads[RL_YOLO_MAX_HEADS];
    float *grad;
    void *ws;
    size_t ws_size;
    rl_result ref; /* the reference's result, against which every call is checked */
    int n_heads;
    uint8_t *noobj;
    uint8_t *objkind; /* 1 at responsible slots, plane order (breakdown.h) */
    int64_t *obj_base, *obj_off;
    uint32_t *sink;
    roofline rf[RL_YOLO_MAX_HEADS];
} row_ctx;

static void row_free(row_ctx *x)
{
    bench_input_free(&x->in);
    free(x->grad);
    free(x->ws);
    free(x->noobj);
    free(x->objkind);
    free(x->obj_base);
    free(x->obj_off);
    free(x->sink);
}

/* Grid of tensor h: the row's, or the head's. */
static int64_t row_hw(const bench_row *row, int h)
{
    return row->yolo ? (int64_t)row->yolo->grid[h] * row->yolo->grid[h]
                     : (int64_t)row->H * row->W;
}

static int32_t row_b(const bench_row *row) { return row->yolo ? row->yolo->B : row->B; }

/* The oracle's result and slot decisions (kind: per tensor, head after
 * head, in the reference's slot order ((n*H + i)*W + j)*B + b). */
static rl_status reference_decisions(row_ctx *x, int8_t *kind)
{
    const bench_row *row = x->row;
    bplan ref = make_plan(row, 0, "reference", 1);
    if (!plan_ok(ref))
        return RL_ERR_BAD_ARGUMENT;
    rl_status st;
    if (row->yolo) {
        rl_yolo_ref_out out;
        memset(&out, 0, sizeof out);
        const float *preds[RL_YOLO_MAX_HEADS];
        int64_t at = 0;
        for (int h = 0; h < x->n_heads; h++) {
            out.head[h].slot_kind = kind + at;
            preds[h] = x->in.pred + x->in.head_off[h];
            at += row->N * row_hw(row, h) * row_b(row);
        }
        st = rl_yolo_reference_compute(ref.y, row->N, preds, NULL, x->in.truths, x->in.offsets,
                                       NULL, NULL, &x->ref, NULL, &out);
    } else {
        rl_ref_out out;
        memset(&out, 0, sizeof out);
        out.slot_kind = kind;
        st = rl_validate_batch(&ref.r->p, &x->batch);
        if (st == RL_OK)
            st = rl_reference_compute(&ref.r->p, &x->batch, NULL, &x->ref, &out);
    }
    plan_destroy(ref);
    return st;
}

static int row_setup(const bench_row *row, row_ctx *x)
{
    memset(x, 0, sizeof *x);
    x->row = row;
    if (bench_input_make(row, &x->in) != 0)
        return -1;
    x->n_heads = x->in.n_heads;
    x->grad = bench_alloc_floats(x->in.count);
    const int64_t N = row->N, K = 5 + (int64_t)row->C, H = x->n_heads;
    const int32_t B = row_b(row);
    int64_t slots = 0;
    for (int h = 0; h < H; h++)
        slots += N * row_hw(row, h) * B;
    x->noobj = calloc((size_t)slots, 1);
    x->objkind = calloc((size_t)slots, 1);
    /* at most one responsible slot per truth and tensor (truth_thresh is 1) */
    x->obj_base = malloc((size_t)(H * (x->in.n_truths + 1)) * sizeof(int64_t));
    x->obj_off = malloc((size_t)(H * (N + 1)) * sizeof(int64_t));
    x->sink = calloc((size_t)(H * N), sizeof(uint32_t));
    int8_t *kind = malloc((size_t)slots);
    if (!x->grad || !x->noobj || !x->objkind || !x->obj_base || !x->obj_off || !x->sink || !kind) {
        free(kind);
        return -1;
    }
    x->batch.n_images = row->N;
    x->batch.pred = x->in.pred;
    x->batch.truths = x->in.truths;
    x->batch.truth_offsets = x->in.offsets;
    for (int h = 0; h < H; h++) {
        x->ypreds[h] = x->in.pred + x->in.head_off[h];
        x->ygrads[h] = x->grad + x->in.head_off[h];
    }
    x->ybatch.n_images = row->N;
    x->ybatch.preds = x->ypreds;
    x->ybatch.truths = x->in.truths;
    x->ybatch.truth_offsets = x->in.offsets;

    /* The oracle's slot decisions, straight from the reference (setup, not
     * timed): which entries accumulate mode cannot avoid touching. */
    const rl_status st = reference_decisions(x, kind);
    if (st != RL_OK) {
        fprintf(stderr, "bench: %s: reference: %s\n", row->name, rl_last_error());
        free(kind);
        return -1;
    }
    int64_t at = 0; /* first slot of tensor h */
    for (int h = 0; h < H; h++) {
        const int64_t HW = row_hw(row, h);
        uint8_t *noobj = x->noobj + at, *objkind = x->objkind + at;
        int64_t *obj_base = x->obj_base + h * (x->in.n_truths + 1);
        int64_t *obj_off = x->obj_off + h * (N + 1);
        const int8_t *kh = kind + at;
        int64_t n_obj = 0;
        for (int64_t n = 0; n < N; n++) {
            obj_off[n] = n_obj;
            for (int32_t b = 0; b < B; b++)
                for (int64_t q = 0; q < HW; q++) {
                    const int8_t k = kh[(n * HW + q) * B + b];
                    noobj[(n * B + b) * HW + q] = k == RL_SLOT_NOOBJ;
                    objkind[(n * B + b) * HW + q] = k == RL_SLOT_OBJ ? RL_KIND_OBJ : 0;
                    if (k == RL_SLOT_OBJ)
                        obj_base[n_obj++] = (n * B + b) * K * HW + q;
                }
        }
        obj_off[N] = n_obj;
        x->rf[h] = (roofline){x->in.pred + x->in.head_off[h],
                              x->grad + x->in.head_off[h],
                              row->N,
                              B,
                              HW,
                              K,
                              noobj,
                              obj_base,
                              obj_off,
                              x->sink + h * N,
                              1e-30f};
        at += N * HW * B;
    }
    free(kind);
    return 0;
}

/* Workspace big enough for every driver plan of this row (the reference
 * asks for none and allocates its own: it is the oracle, not a fast path). */
static int row_workspace(row_ctx *x, const bplan *plans, int n_plans)
{
    size_t need = 0;
    for (int v = 0; v < n_plans; v++) {
        size_t s = 0;
        const rl_status st =
            plans[v].y ? rl_yolo_workspace_size(plans[v].y, x->row->N, x->in.n_truths, &s)
                       : rl_workspace_size(plans[v].r, x->row->N, x->in.n_truths, &s);
        if (st != RL_OK)
            return -1;
        need = s > need ? s : need;
    }
    if (need > x->ws_size) {
        free(x->ws);
        x->ws = calloc(1, need);
        if (!x->ws)
            return -1;
        x->ws_size = need;
    }
    x->batch.workspace = x->ybatch.workspace = x->ws;
    x->batch.workspace_size = x->ybatch.workspace_size = x->ws_size;
    return 0;
}

/* How a sample is timed: the clock (wall or the calling thread's CPU time),
 * or with `span` the busiest thread's CPU time (pooled calls, --cpu-time). */
typedef struct tmark {
    double t;
    bench_cpu_snap s;
} tmark;

static int span_timing;
static double last_sum; /* all threads' CPU time of the last span-timed sample */

static void mark(tmark *m)
{
    if (span_timing)
        bench_cpu_snap_take(&m->s);
    else
        m->t = bench_now_ns();
}

static double since(const tmark *a)
{
    tmark b;
    mark(&b);
    return span_timing ? bench_cpu_span(&a->s, &b.s, &last_sum) : b.t - a->t;
}

static double time_call(row_ctx *x, bplan plan, bench_report *rep, int check)
{
    rl_result r;
    tmark t0;
    mark(&t0);
    const rl_status st = plan.y ? rl_yolo_compute(plan.y, &x->ybatch, &r, NULL, x->ygrads)
                                : rl_compute(plan.r, &x->batch, &r, x->grad);
    const double dt = since(&t0);
    if (st != RL_OK) {
        fprintf(stderr, "bench: %s %s: %s\n", x->row->name, plan_variant(plan),
                rl_last_error());
        rep->failures++;
        return dt;
    }
    if (check) { /* a sanity check that this is the loss, not a differential test */
        const double tol = 1e-3 * (x->ref.loss > 1 ? x->ref.loss : 1);
        if (r.n_obj != x->ref.n_obj || !(r.loss - x->ref.loss <= tol && x->ref.loss - r.loss <= tol)) {
            fprintf(stderr, "bench: %s %s: loss %.9g n_obj %lld, reference %.9g n_obj %lld\n",
                    x->row->name, plan_variant(plan), r.loss, (long long)r.n_obj, x->ref.loss,
                    (long long)x->ref.n_obj);
            rep->failures++;
        }
    }
    return dt;
}

static double time_roofline(row_ctx *x, int accumulate, rl_pool *pool)
{
    tmark t0;
    mark(&t0);
    if (accumulate)
        roofline_accumulate_many(x->rf, x->n_heads, pool);
    else
        roofline_overwrite_many(x->rf, x->n_heads, pool);
    return since(&t0);
}

/* One pass: plans[v] (with plan_threads[v]) against the roofline run by
 * roof_pool[v]'s thread count.  The reference, if present, gets ref_reps
 * samples; everything else `reps`. */
static int measure(row_ctx *x, int accumulate, const bplan *plans, const int *threads,
                   rl_pool *const *pools, int n, const options *o, int scaling, bench_report *rep)
{
    const int reps = o->reps;
    /* Pooled calls run on several threads: the calling thread's clock does
     * not see them, the busiest thread's CPU time does. */
    bench_use_thread_cpu_time(o->cpu_time && !scaling);
    span_timing = o->cpu_time && scaling;
    double *samples = calloc((size_t)n * (size_t)reps, sizeof(double));
    double *roof = calloc((size_t)n * (size_t)reps, sizeof(double));
    double *sums = calloc((size_t)n * (size_t)reps, sizeof(double));
    if (!samples || !roof || !sums || row_workspace(x, plans, n) != 0) {
        free(samples);
        free(roof);
        free(sums);
        return -1;
    }
    memset(x->grad, 0, x->in.count * sizeof(float));
    for (int v = 0; v < n; v++) { /* warm-up and check */
        time_roofline(x, accumulate, pools[v]);
        time_call(x, plans[v], rep, 1);
    }
    for (int r = 0; r < reps; r++)
        for (int v = 0; v < n; v++) {
            const int is_ref = strcmp(plan_variant(plans[v]), "reference") == 0;
            roof[v * reps + r] = time_roofline(x, accumulate, pools[v]);
            if (!is_ref || r < o->ref_reps) {
                samples[v * reps + r] = time_call(x, plans[v], rep, 0);
                sums[v * reps + r] = span_timing ? last_sum : samples[v * reps + r];
            }
        }
    double ref_ns = 0;
    for (int v = 0; v < n; v++)
        if (strcmp(plan_variant(plans[v]), "reference") == 0)
            ref_ns = bench_median(samples + v * reps, o->ref_reps < reps ? o->ref_reps : reps);
    for (int v = 0; v < n; v++) {
        const int is_ref = strcmp(plan_variant(plans[v]), "reference") == 0;
        const int k = is_ref && o->ref_reps < reps ? o->ref_reps : reps;
        bench_meas m = {x->row,
                        accumulate,
                        plan_variant(plans[v]),
                        threads[v],
                        scaling,
                        bench_median(samples + v * reps, k),
                        bench_min(samples + v * reps, k),
                        bench_median(sums + v * reps, k),
                        k,
                        /* main pass: one roofline for all; scaling: one per thread count */
                        scaling ? bench_min(roof + v * reps, reps) : bench_min(roof, n * reps),
                        ref_ns};
        bench_report_add(rep, &m);
    }
    free(samples);
    free(roof);
    free(sums);
    return 0;
}

int main(int argc, char **argv)
{
    options o = {11, 3, 1, 0, 1, 0, 0, 0, NULL, NULL, 3};
    for (int a = 1; a < argc; a++) {
        const char *s = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        int bad = 0;
        if (strcmp(s, "--json") == 0)
            o.json = 1;
        else if (strcmp(s, "--no-scaling") == 0)
            o.scaling = 0;
        else if (strcmp(s, "--breakdown") == 0)
            o.breakdown = 1;
        else if (strcmp(s, "--cpu-time") == 0)
            o.cpu_time = 1;
        else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(s, "--list") == 0) {
            for (int r = 0; r < bench_n_rows; r++)
                printf("%-10s N=%-3d %s\n", bench_rows[r].name, (int)bench_rows[r].N,
                       bench_rows[r].what);
            return 0;
        } else if (!v)
            bad = 1;
        else if (strcmp(s, "--reps") == 0)
            bad = parse_int(v, 1, &o.reps), a++;
        else if (strcmp(s, "--ref-reps") == 0)
            bad = parse_int(v, 1, &o.ref_reps), a++;
        else if (strcmp(s, "--threads") == 0)
            bad = parse_int(v, 1, &o.threads), a++;
        else if (strcmp(s, "--max-threads") == 0)
            bad = parse_int(v, 1, &o.max_threads), a++;
        else if (strcmp(s, "--filter") == 0)
            o.filter = v, a++;
        else if (strcmp(s, "--variant") == 0)
            o.variants = v, a++;
        else if (strcmp(s, "--mode") == 0) {
            o.modes = strcmp(v, "overwrite") == 0 ? 1 : strcmp(v, "accumulate") == 0 ? 2
                      : strcmp(v, "both") == 0     ? 3
                                                   : 0;
            bad = o.modes == 0;
            a++;
        } else
            bad = 1;
        if (bad) {
            fprintf(stderr, "regionloss_bench: bad argument \"%s\"\n", s);
            usage(stderr);
            return 2;
        }
    }

    if (o.cpu_time && o.threads != 1) {
        fprintf(stderr, "regionloss_bench: --cpu-time: the main table runs 1 thread (the "
                        "scaling pass covers more)\n");
        return 2;
    }
    bench_report rep;
    memset(&rep, 0, sizeof rep);
    rep.cpu_time = o.cpu_time;
    bench_machine_read(&rep.start);
    rep.reps = o.reps;
    rep.ref_reps = o.ref_reps < o.reps ? o.ref_reps : o.reps;
    rep.threads = o.threads;
    if (o.max_threads == 0)
        o.max_threads = rep.start.cpus > 0 ? rep.start.cpus : 1;
    const int max_t = o.max_threads > o.threads ? o.max_threads : o.threads;

    const char *const *avail = rl_variant_list();
    const char *names[16];
    int n_names = 0;
    for (int v = 0; avail[v] && n_names < 16; v++)
        if (in_list(o.variants, avail[v], 0))
            names[n_names++] = avail[v];
    if (n_names == 0) {
        fprintf(stderr, "regionloss_bench: no available variant matches \"%s\"\n", o.variants);
        return 2;
    }

    /* Roofline pools, one per thread count (NULL: the calling thread). */
    rl_pool **pools = calloc((size_t)max_t + 1, sizeof *pools);
    for (int t = 2; pools && t <= max_t; t++)
        if (rl_pool_create(t, &pools[t]) != RL_OK) {
            fprintf(stderr, "regionloss_bench: %s\n", rl_last_error());
            return 1;
        }

    int selected = 0;
    for (int ri = 0; ri < bench_n_rows; ri++) {
        const bench_row *row = &bench_rows[ri];
        if (!in_list(o.filter, row->name, 1))
            continue;
        selected++;
        fprintf(stderr, "bench: %s ...\n", row->name);
        row_ctx x;
        if (row_setup(row, &x) != 0) {
            fprintf(stderr, "regionloss_bench: %s: setup failed (out of memory?)\n", row->name);
            row_free(&x);
            return 1;
        }
        if (o.breakdown) {
            bench_use_thread_cpu_time(o.cpu_time);
            const breakdown_input bi = {row,       &x.in,  x.objkind, x.obj_base,
                                        x.obj_off, x.grad, x.rf};
            for (int v = 0; v < n_names; v++)
                if (strcmp(names[v], "reference") != 0 &&
                    (row->yolo ? bench_yolo_breakdown(&bi, names[v], o.reps, stdout)
                               : bench_breakdown(&bi, names[v], o.reps, stdout)) != 0)
                    return 1;
            fflush(stdout);
            row_free(&x);
            continue;
        }
        for (int acc = 0; acc < 2; acc++) {
            if (!((o.modes >> acc) & 1))
                continue;
            bplan plans[16];
            int threads[16];
            rl_pool *pp[16];
            for (int v = 0; v < n_names; v++) {
                plans[v] = make_plan(row, acc, names[v], o.threads);
                threads[v] = o.threads;
                pp[v] = pools[o.threads];
                if (!plan_ok(plans[v]))
                    return 1;
            }
            if (measure(&x, acc, plans, threads, pp, n_names, &o, 0, &rep) != 0)
                return 1;
            for (int v = 0; v < n_names; v++)
                plan_destroy(plans[v]);

            /* Thread scaling of the batch-of-64 rows and the [yolo] rows:
             * the variant a default plan runs (the list's first), or every
             * one named by --variant. */
            if (!o.scaling || (row->N != 64 && !row->yolo))
                continue;
            for (int v = 0; v < n_names; v++) {
                if (strcmp(names[v], "reference") == 0 || (!o.variants && v > 0))
                    continue;
                bplan sp[16];
                int st[16];
                rl_pool *spp[16];
                int ns = 0;
                for (int t = 1; t <= o.max_threads && ns < 16; t++, ns++) {
                    sp[ns] = make_plan(row, acc, names[v], t);
                    st[ns] = t;
                    spp[ns] = pools[t];
                    if (!plan_ok(sp[ns]))
                        return 1;
                }
                if (measure(&x, acc, sp, st, spp, ns, &o, 1, &rep) != 0)
                    return 1;
                for (int s = 0; s < ns; s++)
                    plan_destroy(sp[s]);
            }
        }
        row_free(&x);
    }
    for (int t = 2; t <= max_t; t++)
        rl_pool_destroy(pools[t]);
    free(pools);
    if (selected == 0) {
        fprintf(stderr, "regionloss_bench: no row matches \"%s\" (--list shows them)\n", o.filter);
        return 2;
    }
    bench_machine_read(&rep.end);
    if (o.breakdown) {
        char l0[64], l1[64];
        snprintf(l0, sizeof l0, "%.2f %.2f %.2f", rep.start.load[0], rep.start.load[1], rep.start.load[2]);
        snprintf(l1, sizeof l1, "%.2f %.2f %.2f", rep.end.load[0], rep.end.load[1], rep.end.load[2]);
        printf("\nload average %s at start, %s at end\n", l0, l1);
    } else if (o.json)
        bench_report_json(&rep, stdout);
    else
        bench_report_table(&rep, stdout);
    if (rep.failures)
        fprintf(stderr, "regionloss_bench: %d call(s) failed or disagreed with the reference\n",
                rep.failures);
    free(rep.m);
    return rep.failures ? 1 : 0;
}
