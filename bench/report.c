/* Table, JSON and targets.  The targets are the issue's, evaluated on the
 * numbers just measured, so a reader never has to redo the arithmetic. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

int bench_report_add(bench_report *r, const bench_meas *m)
{
    if (r->n == r->cap) {
        const int cap = r->cap ? 2 * r->cap : 64;
        bench_meas *p = realloc(r->m, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        r->m = p;
        r->cap = cap;
    }
    r->m[r->n++] = *m;
    return 0;
}

static const char *mode_name(int accumulate) { return accumulate ? "accumulate" : "overwrite"; }
static double per_image(const bench_meas *m, double ns) { return ns / m->row->N; }

static const bench_meas *find(const bench_report *r, const char *row, int acc, const char *variant,
                              int threads, int scaling)
{
    for (int k = 0; k < r->n; k++) {
        const bench_meas *m = &r->m[k];
        if (strcmp(m->row->name, row) == 0 && m->accumulate == acc &&
            strcmp(m->variant, variant) == 0 && m->threads == threads && m->scaling == scaling)
            return m;
    }
    return NULL;
}

/* The variant the targets speak of: avx2 here, else the first fast one. */
static const char *target_variant(const bench_report *r)
{
    const char *first = NULL;
    for (int k = 0; k < r->n; k++) {
        if (strcmp(r->m[k].variant, "avx2") == 0)
            return "avx2";
        if (!first && strcmp(r->m[k].variant, "reference") != 0)
            first = r->m[k].variant;
    }
    return first;
}

static void load_str(const bench_machine *m, char *buf, size_t n)
{
    if (m->load[0] < 0)
        snprintf(buf, n, "unknown");
    else
        snprintf(buf, n, "%.2f %.2f %.2f", m->load[0], m->load[1], m->load[2]);
}

typedef void (*target_fn)(void *ctx, const char *target, const char *row, const char *what,
                          double value, double bound, int at_least);

/* Issue 22's targets that this program measures (the ratios to darknet's
 * layer and to PyTorch come from programs that run those beside the
 * library: docs/performance.md). */
static void yolo_targets(const bench_report *r, const char *v, target_fn fn, void *ctx)
{
    char what[96];
    for (int k = 0; k < r->n; k++) {
        const bench_meas *m = &r->m[k];
        if (!m->row->yolo || strcmp(m->variant, v) != 0)
            continue;
        if (!m->scaling && !m->accumulate && m->threads == 1) {
            snprintf(what, sizeof what, "%s overwrite / roofline", v);
            fn(ctx, "[yolo] 1 thread overwrite within 1.5x of the roofline", m->row->name, what,
               m->ns / m->roof_ns, 1.5, 0);
        }
        if (m->scaling && m->threads == 2) {
            const bench_meas *one = find(r, m->row->name, m->accumulate, v, 1, 1);
            if (one) {
                snprintf(what, sizeof what, "%s %s: 1 thread / 2 threads", v,
                         mode_name(m->accumulate));
                fn(ctx, "[yolo] 2 threads at least 1.7x faster than 1", m->row->name, what,
                   one->ns / m->ns, 1.7, 1);
            }
        }
    }
}

/* Calls fn once per (target, row) that this run measured. */
static void each_target(const bench_report *r, target_fn fn, void *ctx)
{
    const char *v = target_variant(r);
    if (!v)
        return;
    char what[96];
    for (int k = 0; k < r->n; k++) {
        const bench_meas *m = &r->m[k];
        if (m->scaling || strcmp(m->variant, v) != 0 || m->threads != r->threads || m->row->yolo)
            continue;
        const char *name = m->row->name;
        if (!m->accumulate && strncmp(name, "coco", 4) == 0) {
            snprintf(what, sizeof what, "%s overwrite / roofline", v);
            fn(ctx, "overwrite within 1.5x of the roofline (COCO)", name, what,
               m->ns / m->roof_ns, 1.5, 0);
        }
        if (strcmp(name, "voc-30") == 0 && m->ref_ns > 0) {
            snprintf(what, sizeof what, "reference / %s (%s)", v, mode_name(m->accumulate));
            fn(ctx, "at least 8x the reference (VOC, 30 truths)", name, what, m->ref_ns / m->ns,
               8.0, 1);
        }
        if (m->accumulate && m->row->C == 80) {
            const bench_meas *o = find(r, name, 0, v, m->threads, 0);
            if (o) {
                snprintf(what, sizeof what, "%s overwrite / accumulate", v);
                fn(ctx, "accumulate at least 2.5x faster than overwrite (C = 80)", name, what,
                   o->ns / m->ns, 2.5, 1);
            }
        }
    }
    for (int k = 0; k < r->n; k++) {
        const bench_meas *m = &r->m[k];
        if (!m->scaling || m->threads != 2 || strcmp(m->variant, v) != 0 || m->row->N != 64)
            continue;
        const bench_meas *one = find(r, m->row->name, m->accumulate, v, 1, 1);
        if (one) {
            snprintf(what, sizeof what, "%s %s: 1 thread / 2 threads", v,
                     mode_name(m->accumulate));
            fn(ctx, "2 threads at least 1.8x faster than 1 (N = 64)", m->row->name, what,
               one->ns / m->ns, 1.8, 1);
        }
    }
    yolo_targets(r, v, fn, ctx);
}

static void print_target(void *ctx, const char *target, const char *row, const char *what,
                         double value, double bound, int at_least)
{
    FILE *out = ctx;
    const int ok = at_least ? value >= bound : value <= bound;
    fprintf(out, "  %-4s %-56s %-10s %-40s %6.2f (%s %.1f)\n", ok ? "met" : "MISS", target, row,
            what, value, at_least ? ">=" : "<=", bound);
}

void bench_report_table(const bench_report *r, FILE *out)
{
    char l0[64], l1[64];
    load_str(&r->start, l0, sizeof l0);
    load_str(&r->end, l1, sizeof l1);
    fprintf(out, "regionloss_bench %s: NCHW, spec mode (yolo rows: the [yolo] heads' defaults); "
                 "median of %d calls after a warm-up (reference: %d); roofline: best of the same "
                 "run\n",
            rl_version(), r->reps, r->ref_reps);
    fprintf(out, "machine: %s, %d CPUs; load average %s at start, %s at end\n", r->start.cpu,
            r->start.cpus, l0, l1);
    fprintf(out, "clock: %s\n\n",
            r->cpu_time ? "CPU time of the calling thread; thread scaling: CPU time of the "
                          "busiest thread (the wall time on an idle machine, less wake-ups)"
                        : "wall clock");

    fprintf(out, "threads = %d; ns/image is the median, best the fastest call; x roofline is\n"
                 "median / roofline, (best) is best / roofline\n",
            r->threads);
    fprintf(out, "%-10s %-10s %-10s %10s %10s %12s %11s %8s\n", "row", "mode", "variant",
            "ns/image", "best", "x reference", "x roofline", "(best)");
    const bench_row *last_row = NULL;
    int last_acc = -1;
    for (int k = 0; k < r->n; k++) {
        const bench_meas *m = &r->m[k];
        if (m->scaling)
            continue;
        if (m->row != last_row || m->accumulate != last_acc) {
            if (m->row != last_row && last_row)
                fprintf(out, "\n");
            fprintf(out, "%-10s %-10s %-10s %10s %10.0f %12s %11s %8s\n", m->row->name,
                    mode_name(m->accumulate), "roofline", "", per_image(m, m->roof_ns), "", "",
                    "1.00");
            last_row = m->row;
            last_acc = m->accumulate;
        }
        char xref[32] = "";
        if (m->ref_ns > 0 && strcmp(m->variant, "reference") != 0)
            snprintf(xref, sizeof xref, "%.1f", m->ref_ns / m->ns);
        fprintf(out, "%-10s %-10s %-10s %10.0f %10.0f %12s %11.2f %8.2f\n", "", "", m->variant,
                per_image(m, m->ns), per_image(m, m->best_ns), xref, m->ns / m->roof_ns,
                m->best_ns / m->roof_ns);
    }

    int any = 0;
    for (int k = 0; k < r->n; k++) {
        const bench_meas *m = &r->m[k];
        if (!m->scaling || m->threads != 1)
            continue;
        if (!any) {
            fprintf(out, "\nthread scaling: ns/image at T threads (speedup over T = 1; the "
                         "roofline's own speedup)%s\n",
                    r->cpu_time ? ";\n  cpu: all threads' CPU time over T = 1's (work added by "
                                  "threading; T / it bounds the speedup on an idle machine)"
                                : "");
            any = 1;
        }
        fprintf(out, "%-10s %-10s %-8s T=1 %9.0f", m->row->name, mode_name(m->accumulate),
                m->variant, per_image(m, m->ns));
        for (int t = 2;; t++) {
            const bench_meas *s = find(r, m->row->name, m->accumulate, m->variant, t, 1);
            if (!s)
                break;
            fprintf(out, "  T=%d %9.0f (%.2fx; roofline %.2fx", t, per_image(s, s->ns),
                    m->ns / s->ns, m->roof_ns / s->roof_ns);
            if (r->cpu_time)
                fprintf(out, "; cpu %.2fx", s->cpu_ns / m->cpu_ns);
            fprintf(out, ")");
        }
        fprintf(out, "\n");
    }

    fprintf(out, "\ntargets (issue 7; yolo rows: issue 22), from this run:\n");
    each_target(r, print_target, out);
}

typedef struct json_ctx {
    FILE *out;
    int first;
} json_ctx;

static void json_target(void *vctx, const char *target, const char *row, const char *what,
                        double value, double bound, int at_least)
{
    json_ctx *c = vctx;
    const int ok = at_least ? value >= bound : value <= bound;
    fprintf(c->out,
            "%s\n    {\"target\": \"%s\", \"row\": \"%s\", \"ratio\": \"%s\", \"value\": %.4f, "
            "\"bound\": %.2f, \"at_least\": %s, \"met\": %s}",
            c->first ? "" : ",", target, row, what, value, bound, at_least ? "true" : "false",
            ok ? "true" : "false");
    c->first = 0;
}

static void json_machine(FILE *out, const char *key, const bench_machine *m)
{
    fprintf(out, "  \"%s\": {\"cpu\": \"%s\", \"cpus\": %d, \"load\": [%.2f, %.2f, %.2f]}", key,
            m->cpu, m->cpus, m->load[0], m->load[1], m->load[2]);
}

void bench_report_json(const bench_report *r, FILE *out)
{
    fprintf(out, "{\n  \"version\": \"%s\",\n  \"layout\": \"NCHW\",\n  \"mode\": \"spec\",\n",
            rl_version());
    fprintf(out, "  \"reps\": %d,\n  \"reference_reps\": %d,\n  \"threads\": %d,\n", r->reps,
            r->ref_reps, r->threads);
    fprintf(out, "  \"clock\": \"%s\",\n", r->cpu_time ? "thread_cpu" : "wall");
    json_machine(out, "machine_start", &r->start);
    fprintf(out, ",\n");
    json_machine(out, "machine_end", &r->end);
    fprintf(out, ",\n  \"results\": [");
    for (int k = 0; k < r->n; k++) {
        const bench_meas *m = &r->m[k];
        const bench_yolo *y = m->row->yolo;
        char shape[96]; /* a [yolo] row: the network's input size and each head's grid */
        if (y)
            snprintf(shape, sizeof shape, "\"net\": %d, \"grids\": [%d, %d, %d]", (int)y->net,
                     (int)y->grid[0], (int)y->grid[1], (int)y->grid[2]);
        else
            snprintf(shape, sizeof shape, "\"H\": %d, \"W\": %d", (int)m->row->H, (int)m->row->W);
        fprintf(out,
                "%s\n    {\"row\": \"%s\", \"N\": %d, %s, \"B\": %d, \"C\": %d, "
                "\"truths\": %d, \"grad_mode\": \"%s\", \"variant\": \"%s\", \"threads\": %d, "
                "\"scaling\": %s, \"samples\": %d, \"ns_per_call\": %.0f, \"ns_per_image\": %.1f, "
                "\"best_ns_per_image\": %.1f, \"cpu_ns_per_image\": %.1f, "
                "\"roofline_ns_per_image\": %.1f, "
                "\"ratio_to_roofline\": %.4f, ",
                k ? "," : "", m->row->name, (int)m->row->N, shape, (int)m->row->B, (int)m->row->C,
                (int)m->row->truths, mode_name(m->accumulate),
                m->variant, m->threads, m->scaling ? "true" : "false", m->reps, m->ns,
                per_image(m, m->ns), per_image(m, m->best_ns), per_image(m, m->cpu_ns),
                per_image(m, m->roof_ns),
                m->ns / m->roof_ns);
        if (m->ref_ns > 0)
            fprintf(out, "\"speedup_over_reference\": %.4f}", m->ref_ns / m->ns);
        else
            fprintf(out, "\"speedup_over_reference\": null}");
    }
    fprintf(out, "\n  ],\n  \"targets\": [");
    json_ctx c = {out, 1};
    each_target(r, json_target, &c);
    fprintf(out, "\n  ]\n}\n");
}
