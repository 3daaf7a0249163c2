/* regionloss_half_bench: the VOC and COCO rows in float32, bfloat16 and
 * binary16 (predictions and gradient in the same type) in one run, beside the
 * memory roofline of float32 and of a 16-bit tensor (issue 17).
 *
 * Samples are interleaved (both rooflines, then each type, then again), so
 * that a burst of someone else's load on this shared machine lands on every
 * contender alike and the ratios stay meaningful.  The half inputs are the
 * float ones rounded to nearest even (setup, not timed).  Targets checked
 * and printed: bfloat16 accumulate at most 0.6x the float32 time on the
 * C = 80 rows; bfloat16 overwrite within 1.3x the 16-bit roofline on the
 * COCO rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elem.h"
#include "internal.h"
#include "stats.h"
#include "workloads.h"

enum { T_F32, T_BF16, T_F16, N_TYPES };
static const char *const type_names[N_TYPES] = {"f32", "bf16", "f16"};
static const int type_codes[N_TYPES] = {RL_DTYPE_F32, RL_DTYPE_BF16, RL_DTYPE_F16};

typedef struct half_row {
    const bench_row *row;
    bench_input in;
    uint16_t *pred16[N_TYPES]; /* bf16, f16 copies (index by type) */
    void *grad[N_TYPES];
    uint8_t *noobj;            /* plane order (n*B + b)*HW + q, from the float call's decisions */
    void *ws;
    size_t ws_size;
} half_row;

/* The unavoidable traffic, as in roofline.c, for an element of `esz` bytes:
 * read channels 0..4 of every slot; overwrite writes the whole gradient;
 * accumulate rewrites the objectness entry of every noobj slot (and, a
 * small share, the responsible slots', left out here as in the float
 * yardstick's noobj loop it dominates). */
static uint32_t roof(const half_row *x, int esz, int accumulate, void *grad)
{
    const bench_row *r = x->row;
    const int64_t HW = (int64_t)r->H * r->W, K = 5 + (int64_t)r->C, plane = K * HW;
    uint32_t acc = 0;
    const char *pred = esz == 4 ? (const char *)x->in.pred : (const char *)x->pred16[T_BF16];
    for (int64_t n = 0; n < r->N; n++) {
        for (int32_t b = 0; b < r->B; b++) {
            const int64_t base = (n * r->B + b) * plane;
            if (esz == 4) {
                const uint32_t *p = (const uint32_t *)pred + base;
                for (int64_t q = 0; q < 5 * HW; q++)
                    acc ^= p[q];
            } else {
                const uint16_t *p = (const uint16_t *)pred + base;
                for (int64_t q = 0; q < 5 * HW; q++)
                    acc ^= p[q];
            }
            if (accumulate) {
                const uint8_t *m = x->noobj + (n * r->B + b) * HW;
                if (esz == 4) {
                    uint32_t *g = (uint32_t *)grad + base + 4 * HW;
                    for (int64_t q = 0; q < HW; q++)
                        g[q] ^= m[q] ? 1u : 0u;
                } else {
                    uint16_t *g = (uint16_t *)grad + base + 4 * HW;
                    for (int64_t q = 0; q < HW; q++)
                        g[q] ^= m[q] ? 1u : 0u;
                }
            }
        }
        if (!accumulate)
            memset((char *)grad + n * r->B * plane * esz, 0, (size_t)(r->B * plane * esz));
    }
    return acc;
}

static rl_plan *make_plan(const bench_row *row, int type, int accumulate, const char *variant)
{
    rl_config cfg;
    bench_row_config(row, accumulate, &cfg);
    cfg.variant = variant;
    cfg.pred_dtype = cfg.grad_dtype = (int16_t)type_codes[type];
    rl_plan *p = NULL;
    return rl_plan_create(&cfg, &p) == RL_OK ? p : NULL;
}

static int setup(const bench_row *row, half_row *x)
{
    memset(x, 0, sizeof *x);
    x->row = row;
    if (bench_input_make(row, &x->in) != 0)
        return -1;
    const size_t n = x->in.count;
    for (int t = T_BF16; t <= T_F16; t++) {
        x->pred16[t] = malloc(n * sizeof(uint16_t));
        if (!x->pred16[t])
            return -1;
        for (size_t e = 0; e < n; e++)
            x->pred16[t][e] = t == T_BF16 ? rl_f32_to_bf16(x->in.pred[e]) : rl_f32_to_f16(x->in.pred[e]);
    }
    for (int t = 0; t < N_TYPES; t++) {
        x->grad[t] = bench_alloc_floats(n); /* 4 bytes an entry: room for any type */
        if (!x->grad[t])
            return -1;
    }
    const int64_t slots = (int64_t)row->N * row->H * row->W * row->B;
    x->noobj = calloc((size_t)slots, 1);
    return x->noobj ? 0 : -1;
}

static void release(half_row *x)
{
    bench_input_free(&x->in);
    for (int t = 0; t < N_TYPES; t++) {
        free(x->pred16[t]);
        free(x->grad[t]);
    }
    free(x->noobj);
    free(x->ws);
}

static double call(half_row *x, rl_plan *plan, int t, int *failed)
{
    rl_batch b;
    memset(&b, 0, sizeof b);
    b.n_images = x->row->N;
    b.pred = t == T_F32 ? (const void *)x->in.pred : (const void *)x->pred16[t];
    b.truths = x->in.truths;
    b.truth_offsets = x->in.offsets;
    b.workspace = x->ws;
    b.workspace_size = x->ws_size;
    rl_result r;
    const double t0 = bench_now_ns();
    const rl_status st = rl_compute(plan, &b, &r, x->grad[t]);
    const double dt = bench_now_ns() - t0;
    if (st != RL_OK) {
        fprintf(stderr, "half_bench: %s %s: %s\n", x->row->name, type_names[t], rl_last_error());
        *failed = 1;
    }
    return dt;
}

/* noobj slots as the float plan decides them (the reference would take
 * seconds on these rows; the yardstick only needs which objectness
 * entries accumulate mode rewrites, and the driver's decisions are those
 * of the reference but within rounding of thresh). */
static int mark_noobj(half_row *x)
{
    const bench_row *r = x->row;
    const int64_t HW = (int64_t)r->H * r->W;
    rl_config cfg;
    bench_row_config(r, 0, &cfg);
    cfg.variant = "generic";
    rl_plan *p = NULL;
    if (rl_plan_create(&cfg, &p) != RL_OK)
        return -1;
    /* objectness gradient is non-zero exactly at noobj and responsible slots
     * (c^ s'(tc) > 0 for finite tc); responsible ones are few, count them in */
    rl_batch b;
    memset(&b, 0, sizeof b);
    b.n_images = r->N;
    b.pred = x->in.pred;
    b.truths = x->in.truths;
    b.truth_offsets = x->in.offsets;
    rl_result res;
    float *g = x->grad[T_F32];
    const rl_status st = rl_compute(p, &b, &res, g);
    rl_plan_destroy(p);
    if (st != RL_OK)
        return -1;
    const int64_t K = 5 + (int64_t)r->C;
    for (int64_t n = 0; n < r->N; n++)
        for (int32_t bb = 0; bb < r->B; bb++)
            for (int64_t q = 0; q < HW; q++)
                x->noobj[(n * r->B + bb) * HW + q] = g[((n * r->B + bb) * K + 4) * HW + q] != 0.0f;
    return 0;
}

int main(int argc, char **argv)
{
    int reps = 11;
    const char *filter = "voc-2,voc-8,voc-30,voc-avg,coco*";
    const char *variant = NULL;
    int only = -1; /* --only TYPE: time that type alone (profiling) */
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--reps") == 0 && a + 1 < argc)
            reps = atoi(argv[++a]);
        else if (strcmp(argv[a], "--filter") == 0 && a + 1 < argc)
            filter = argv[++a];
        else if (strcmp(argv[a], "--variant") == 0 && a + 1 < argc)
            variant = argv[++a];
        else if (strcmp(argv[a], "--only") == 0 && a + 1 < argc) {
            ++a;
            for (int t = 0; t < N_TYPES; t++)
                if (strcmp(argv[a], type_names[t]) == 0)
                    only = t;
        }
        else {
            fprintf(stderr, "usage: regionloss_half_bench [--reps R] [--filter ROW[,ROW...]] "
                            "[--variant NAME] [--only f32|bf16|f16]\n  ROW: a glob over the rows of regionloss_bench "
                            "--list (default %s)\n",
                    filter);
            return strcmp(argv[a], "--help") == 0 ? 0 : 2;
        }
    }
    if (reps < 1)
        reps = 1;
    bench_machine m;
    bench_machine_read(&m);
    printf("regionloss_half_bench: %s, %d CPUs, load %.2f %.2f %.2f; %d reps, median ms\n", m.cpu,
           m.cpus, m.load[0], m.load[1], m.load[2], reps);
    printf("%-12s %-10s %-9s %9s %9s %9s %8s %8s %9s %9s %8s %8s\n", "row", "mode", "variant",
           "f32", "bf16", "f16", "bf16/f32", "f16/f32", "roof32", "roof16", "f32/r32",
           "bf16/r16");
    int failed = 0, rows = 0, missed = 0;
    double *s = calloc((size_t)reps * 5, sizeof *s);
    for (int i = 0; i < bench_n_rows; i++) {
        const bench_row *row = &bench_rows[i];
        /* region rows only: the yolo rows are regionloss_bench's */
        if (!bench_row_matches(row, filter) || row->yolo)
            continue;
        half_row x;
        if (setup(row, &x) != 0 || mark_noobj(&x) != 0) {
            fprintf(stderr, "half_bench: %s: setup failed\n", row->name);
            release(&x);
            failed = 1;
            continue;
        }
        rows++;
        for (int acc = 0; acc < 2; acc++) {
            rl_plan *plans[N_TYPES];
            size_t need = 0;
            for (int t = 0; t < N_TYPES; t++) {
                plans[t] = make_plan(row, t, acc, variant);
                size_t w = 0;
                if (!plans[t] || rl_workspace_size(plans[t], row->N, x.in.n_truths, &w) != RL_OK) {
                    fprintf(stderr, "half_bench: %s: plan: %s\n", row->name, rl_last_error());
                    return 1;
                }
                need = w > need ? w : need;
            }
            if (need > x.ws_size) {
                free(x.ws);
                x.ws = calloc(1, need);
                x.ws_size = need;
            }
            uint32_t sink = 0;
            for (int t = 0; t < N_TYPES; t++) /* warm-up */
                (void)call(&x, plans[t], t, &failed);
            for (int r = 0; r < reps; r++) {
                double t0 = bench_now_ns();
                sink ^= roof(&x, 4, acc, x.grad[T_F32]);
                s[0 * reps + r] = bench_now_ns() - t0;
                t0 = bench_now_ns();
                sink ^= roof(&x, 2, acc, x.grad[T_BF16]);
                s[1 * reps + r] = bench_now_ns() - t0;
                for (int t = 0; t < N_TYPES; t++)
                    s[(2 + t) * reps + r] = only < 0 || only == t ? call(&x, plans[t], t, &failed) : 1;
            }
            const double r32 = bench_min(s, reps) / 1e6, r16 = bench_min(s + reps, reps) / 1e6;
            double med[N_TYPES];
            for (int t = 0; t < N_TYPES; t++)
                med[t] = bench_median(s + (2 + t) * reps, reps) / 1e6;
            const double q16 = med[T_BF16] / med[T_F32];
            const double qroof = med[T_BF16] / r16;
            char note[64] = "";
            if (acc && row->C == 80) {
                const int ok = q16 <= 0.6;
                missed += !ok;
                snprintf(note, sizeof note, "  target bf16/f32 <= 0.6: %s", ok ? "met" : "missed");
            } else if (!acc && strncmp(row->name, "coco", 4) == 0) {
                const int ok = qroof <= 1.3;
                missed += !ok;
                snprintf(note, sizeof note, "  target bf16/r16 <= 1.3: %s", ok ? "met" : "missed");
            }
            printf("%-12s %-10s %-9s %9.3f %9.3f %9.3f %8.2f %8.2f %9.3f %9.3f %8.2f %8.2f%s%s\n",
                   row->name, acc ? "accumulate" : "overwrite", rl_plan_variant(plans[0]),
                   med[T_F32], med[T_BF16], med[T_F16], q16, med[T_F16] / med[T_F32], r32, r16,
                   med[T_F32] / r32, qroof, note, sink == 0xdeadbeef ? " " : "");
            for (int t = 0; t < N_TYPES; t++)
                rl_plan_destroy(plans[t]);
        }
        release(&x);
    }
    free(s);
    printf("%d rows; %d target(s) missed\n", rows, missed);
    if (!rows)
        fprintf(stderr, "half_bench: no row matches \"%s\"\n", filter);
    return failed || !rows ? 1 : 0;
}
