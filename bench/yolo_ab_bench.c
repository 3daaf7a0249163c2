/* regionloss_yolo_ab_bench: what AlexeyAB's [yolo] flavour costs next to
 * the default flavour, on the [yolo] rows of the benchmark, one variant,
 * one thread, float32, gradient written, norm sum:
 *
 *   P    flavour pjreddie (darknet's YOLOv3 layer)
 *   A    flavour alexeyab at parse_yolo's defaults (mse, iou_normalizer .75)
 *   V4   yolov4.cfg's options on every head: ciou, iou_normalizer .07,
 *        iou_thresh .213, max_delta 5, scale_x_y 1
 *   V4s  the same with scale_x_y 1.05 (yolov4.cfg's last head): the box is
 *        decoded otherwise, so the kernels' negative test does not apply
 *   V7   yolov7.cfg's: new_coords, scale_x_y 2, objectness_smooth,
 *        iou_normalizer .05, cls_normalizer .5, max_delta 2, iou_thresh .2,
 *        on outputs already in (0, 1) as new_coords expects
 *
 * The figures to read are the ratios to P, measured in the same run with
 * the samples interleaved (P A V4 V4s V7, then again), so that someone
 * else's load on the shared machine lands on every contender alike.
 *
 * Before timing, every contender's loss on the variant is checked against
 * the reference variant's on the same call (relative 1e-4: a guard that
 * the bench times a working computation; the differential suites hold the
 * variants to the reference properly); a failure makes the exit status
 * non-zero. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regionloss.h"
#include "stats.h"
#include "workloads.h"

enum { K_P, K_A, K_V4, K_V4S, K_V7, N_K };
static const char *const k_names[N_K] = {"P", "A", "V4", "V4s", "V7"};

static void options(int k, rl_yolo_config *c)
{
    c->norm = RL_NORM_SUM;
    if (k == K_P)
        return;
    c->flavour = RL_YOLO_FLAVOUR_ALEXEYAB;
    if (k == K_V4 || k == K_V4S) {
        c->iou_loss = RL_BOX_CIOU;
        c->iou_normalizer = 0.07;
        c->iou_thresh = 0.213;
        c->max_delta = 5;
        c->scale_x_y = k == K_V4S ? 1.05 : 1.0;
    } else if (k == K_V7) {
        c->new_coords = 1;
        c->scale_x_y = 2;
        c->objectness_smooth = 1;
        c->iou_normalizer = 0.05;
        c->cls_normalizer = 0.5;
        c->max_delta = 2;
        c->iou_thresh = 0.2;
    }
}

typedef struct ab_row {
    bench_input in;
    float *activated; /* V7's input: the logistic of the row's outputs */
    float *grad;
    rl_yolo_plan *plan[N_K], *ref[N_K];
    void *ws;
    size_t ws_size;
} ab_row;

static void release(ab_row *x)
{
    for (int k = 0; k < N_K; k++) {
        rl_yolo_plan_destroy(x->plan[k]);
        rl_yolo_plan_destroy(x->ref[k]);
    }
    free(x->activated);
    free(x->grad);
    free(x->ws);
    bench_input_free(&x->in);
}

static int setup(const bench_row *row, const char *variant, ab_row *x)
{
    memset(x, 0, sizeof *x);
    if (bench_input_make(row, &x->in) != 0)
        return 1;
    x->activated = bench_alloc_floats(x->in.count);
    x->grad = bench_alloc_floats(x->in.count);
    if (!x->activated || !x->grad)
        return 1;
    for (size_t e = 0; e < x->in.count; e++)
        x->activated[e] = 1.0f / (1.0f + expf(-x->in.pred[e]));
    size_t need = 0;
    for (int k = 0; k < N_K; k++)
        for (int ref = 0; ref < 2; ref++) {
            rl_yolo_config c;
            rl_yolo_head heads[RL_YOLO_MAX_HEADS];
            bench_yolo_config(row, 0, &c, heads);
            options(k, &c);
            c.variant = ref ? "reference" : variant;
            rl_yolo_plan **p = ref ? &x->ref[k] : &x->plan[k];
            size_t ws = 0;
            if (rl_yolo_plan_create(&c, p) != RL_OK ||
                rl_yolo_workspace_size(*p, row->N, x->in.n_truths, &ws) != RL_OK)
                return 1;
            if (ws > need)
                need = ws;
        }
    x->ws_size = need;
    x->ws = malloc(need ? need : 1);
    return x->ws ? 0 : 1;
}

static rl_status run(ab_row *x, const bench_row *row, int k, int ref, rl_result *res)
{
    const float *base = k == K_V7 ? x->activated : x->in.pred;
    const void *preds[RL_YOLO_MAX_HEADS];
    void *grads[RL_YOLO_MAX_HEADS];
    for (int32_t h = 0; h < x->in.n_heads; h++) {
        preds[h] = base + x->in.head_off[h];
        grads[h] = x->grad + x->in.head_off[h];
    }
    const rl_yolo_batch b = {.n_images = row->N, .preds = preds, .truths = x->in.truths,
                             .truth_offsets = x->in.offsets, .workspace = x->ws,
                             .workspace_size = x->ws_size};
    return rl_yolo_compute(ref ? x->ref[k] : x->plan[k], &b, res, NULL, grads);
}

int main(int argc, char **argv)
{
    int reps = 7, cpu_time = 0;
    const char *filter = "yolo416-8,yolo608-8,yolo608-60";
    const char *variant = NULL;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--reps") == 0 && a + 1 < argc)
            reps = atoi(argv[++a]);
        else if (strcmp(argv[a], "--filter") == 0 && a + 1 < argc)
            filter = argv[++a];
        else if (strcmp(argv[a], "--variant") == 0 && a + 1 < argc)
            variant = argv[++a];
        else if (strcmp(argv[a], "--cpu-time") == 0)
            cpu_time = 1;
        else {
            fprintf(stderr, "usage: regionloss_yolo_ab_bench [--reps R] [--filter ROW[,ROW...]] "
                            "[--variant NAME] [--cpu-time]\n  ROW: a glob over the [yolo] rows "
                            "of regionloss_bench --list (default %s)\n",
                    filter);
            return strcmp(argv[a], "--help") == 0 ? 0 : 2;
        }
    }
    if (reps < 1)
        reps = 1;
    if (variant && rl_variant_check(variant) != RL_OK) {
        fprintf(stderr, "yolo_ab_bench: %s\n", rl_last_error());
        return 2;
    }
    bench_use_thread_cpu_time(cpu_time);
    bench_machine m;
    bench_machine_read(&m);
    printf("regionloss_yolo_ab_bench: %s, %d CPUs, load %.2f %.2f %.2f; %d reps, median ms, "
           "1 thread, float32, %s\ncommand:",
           m.cpu, m.cpus, m.load[0], m.load[1], m.load[2], reps,
           cpu_time ? "thread CPU time" : "wall clock");
    for (int a = 0; a < argc; a++)
        printf(" %s", argv[a]);
    printf("\nP pjreddie; A alexeyab defaults; V4 yolov4.cfg's options, scale_x_y 1; V4s the "
           "same, scale_x_y 1.05;\nV7 yolov7.cfg's (new_coords, scale_x_y 2)\n");

    int failed = 0, rows = 0;
    double *s = calloc((size_t)reps * N_K, sizeof *s);
    if (!s)
        return 1;
    for (int i = 0; i < bench_n_rows; i++) {
        const bench_row *row = &bench_rows[i];
        if (!row->yolo || !bench_row_matches(row, filter))
            continue;
        ab_row x;
        if (setup(row, variant, &x) != 0) {
            fprintf(stderr, "yolo_ab_bench: %s: setup failed: %s\n", row->name, rl_last_error());
            release(&x);
            failed = 1;
            continue;
        }
        rows++;
        double worst = 0;
        const char *used = "?";
        for (int k = 0; k < N_K; k++) {
            rl_result got, want;
            if (run(&x, row, k, 0, &got) != RL_OK || run(&x, row, k, 1, &want) != RL_OK) {
                fprintf(stderr, "yolo_ab_bench: %s %s: %s\n", row->name, k_names[k],
                        rl_last_error());
                failed = 1;
                continue;
            }
            used = got.variant;
            const double rel = fabs(got.loss - want.loss) / fmax(fabs(want.loss), DBL_MIN);
            if (!(rel <= 1e-4)) {
                fprintf(stderr, "yolo_ab_bench: %s %s: loss %.9g, the reference's %.9g\n",
                        row->name, k_names[k], got.loss, want.loss);
                failed = 1;
            }
            worst = fmax(worst, rel);
        }
        for (int r = 0; r < reps; r++)
            for (int k = 0; k < N_K; k++) {
                rl_result res;
                const double t0 = bench_now_ns();
                const rl_status st = run(&x, row, k, 0, &res);
                s[k * reps + r] = bench_now_ns() - t0;
                if (st != RL_OK) {
                    fprintf(stderr, "yolo_ab_bench: %s %s: %s\n", row->name, k_names[k],
                            rl_last_error());
                    failed = 1;
                }
            }
        double med[N_K];
        for (int k = 0; k < N_K; k++)
            med[k] = bench_median(s + k * reps, reps) / 1e6;
        printf("%s (%s): %d images, %d truths; %s; losses within %.1e of the reference's\n",
               row->name, row->what, (int)row->N, (int)x.in.n_truths, used, worst);
        printf("  ms     ");
        for (int k = 0; k < N_K; k++)
            printf("  %s %8.2f", k_names[k], med[k]);
        printf("\n  ratio  ");
        for (int k = 1; k < N_K; k++)
            printf("  %s/P %5.2f", k_names[k], med[k] / med[K_P]);
        printf("\n");
        fflush(stdout);
        release(&x);
    }
    free(s);
    bench_machine_read(&m);
    printf("%d rows; load %.2f %.2f %.2f at end\n", rows, m.load[0], m.load[1], m.load[2]);
    if (!rows)
        fprintf(stderr, "yolo_ab_bench: no [yolo] row matches \"%s\"\n", filter);
    return failed || !rows ? 1 : 0;
}
