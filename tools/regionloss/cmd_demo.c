/* demo: the bundled sample batch through every variant this machine runs,
 * with the time per call and the distance from the reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "compute.h"
#include "report.h"

#ifndef RL_SAMPLE_DIR
#define RL_SAMPLE_DIR "data/sample"
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int has_sample(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/pred.npy", dir);
    return access(path, R_OK) == 0;
}

/* --data, else the source tree this binary was built from, else the
 * installed copy. */
static const char *sample_dir(const tool_opts *o)
{
    if (o->data_dir)
        return o->data_dir;
    if (has_sample(RL_SAMPLE_DIR))
        return RL_SAMPLE_DIR;
#ifdef RL_SAMPLE_INSTALL_DIR
    if (has_sample(RL_SAMPLE_INSTALL_DIR))
        return RL_SAMPLE_INSTALL_DIR;
#endif
    return RL_SAMPLE_DIR;
}

/* anchors.txt: "w1,h1,..." possibly over several lines, '#' comments. */
static int read_anchors(const char *path, char **text)
{
    uint8_t *data;
    size_t len;
    char err[512];
    if (read_file(path, &data, &len, err, sizeof err)) {
        fprintf(stderr, "regionloss: %s: %s\n", path, err);
        return EXIT_ERROR;
    }
    char *out = malloc(len + 1);
    size_t n = 0;
    int comment = 0;
    for (size_t k = 0; out && k < len; k++) {
        char c = (char)data[k];
        if (c == '#')
            comment = 1;
        else if (c == '\n')
            comment = 0;
        else if (!comment && c != ' ' && c != '\t' && c != '\r')
            out[n++] = c;
    }
    free(data);
    if (!out) {
        fprintf(stderr, "regionloss: %s: out of memory\n", path);
        return EXIT_ERROR;
    }
    out[n] = '\0';
    *text = out;
    return 0;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t k = 0; k < n; k++) {
        double d = fabs((double)a[k] - (double)b[k]);
        if (d > m)
            m = d;
    }
    return m;
}

/* Repeats the call until a quarter of a second has passed (at least three
 * calls), so that the time per call is not one noisy sample. */
static int time_variant(const tool_inputs *in, const rl_config *base, int64_t seen,
                        const char *pred_path, rl_result *res, float *grad, double *per_call,
                        long *calls)
{
    rl_config cfg = *base;
    inputs_configure(in, &cfg);
    rl_plan *plan = NULL;
    rl_status st = rl_plan_create(&cfg, &plan);
    if (st != RL_OK)
        return library_error(st, cfg.variant);
    rl_batch batch = inputs_batch(in, seen);
    long n = 0;
    double start = now(), elapsed = 0;
    do {
        st = rl_compute(plan, &batch, res, grad);
        n++;
        elapsed = now() - start;
    } while (st == RL_OK && (n < 3 || elapsed < 0.25));
    rl_plan_destroy(plan);
    if (st != RL_OK)
        return library_error(st, pred_path);
    *per_call = elapsed / (double)n;
    *calls = n;
    return 0;
}

/* ---- the [yolo] example ----
 *
 * A COCO network of three heads as yolov3.cfg has them: net 416x416, grids
 * 13, 26 and 52, the nine anchors, masks 6,7,8 / 3,4,5 / 0,1,2, 80
 * classes; two images whose seven truths are of every size, so that every
 * head has positives; predictions from a fixed hash, in ranges a network
 * in training gives (objectness mostly low).  Synthesized, not read, so
 * that the demo needs no file of 7 MB. */

enum { YD_HEADS = 3, YD_N = 2, YD_B = 3, YD_C = 80, YD_K = 5 + YD_C, YD_NET = 416 };

static const float yd_anchors[18] = {10, 13, 16, 30, 33, 23, 30, 61, 62, 45,
                                     59, 119, 116, 90, 156, 198, 373, 326};
static const int32_t yd_masks[YD_HEADS][YD_B] = {{6, 7, 8}, {3, 4, 5}, {0, 1, 2}};
static const int32_t yd_grids[YD_HEADS] = {13, 26, 52};

/* image, then a truth; classes are COCO's (person 0, car 2, truck 7,
 * traffic light 9, dog 16, sports ball 32). */
static const rl_box yd_truths[] = {
    {0.50f, 0.55f, 0.40f, 0.80f, 0},  {0.30f, 0.70f, 0.20f, 0.15f, 16},
    {0.72f, 0.30f, 0.03f, 0.03f, 32}, {0.25f, 0.40f, 0.12f, 0.08f, 2},
    {0.60f, 0.45f, 0.05f, 0.04f, 2},  {0.55f, 0.60f, 0.85f, 0.60f, 7},
    {0.10f, 0.20f, 0.02f, 0.06f, 9},
};
static const int64_t yd_offsets[YD_N + 1] = {0, 3, 7};

static float yd_value(uint64_t x, int k)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    const double u = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
    if (k < 2)
        return (float)(3.0 * u - 1.5);  /* tx, ty */
    if (k < 4)
        return (float)(1.4 * u - 0.7);  /* tw, th */
    if (k == 4)
        return (float)(5.0 * u - 6.5);  /* tc: c^ mostly below 0.2 */
    return (float)(5.0 * u - 7.0);      /* class logits */
}

typedef struct yolo_demo_data {
    float *pred[YD_HEADS];
    size_t count[YD_HEADS];
    rl_yolo_head heads[YD_HEADS];
} yolo_demo_data;

static int yd_make(yolo_demo_data *d)
{
    memset(d, 0, sizeof *d);
    for (int h = 0; h < YD_HEADS; h++) {
        const size_t G = (size_t)yd_grids[h];
        d->count[h] = (size_t)YD_N * YD_B * YD_K * G * G;
        d->pred[h] = malloc(d->count[h] * sizeof(float));
        if (!d->pred[h])
            return -1;
        /* NCHW: the index is the logical (n, b, k, i, j) itself */
        for (size_t x = 0; x < d->count[h]; x++) {
            const int k = (int)(x / (G * G) % YD_K);
            d->pred[h][x] = yd_value(((uint64_t)h << 40) + x, k);
        }
        d->heads[h].H = d->heads[h].W = yd_grids[h];
        d->heads[h].B = YD_B;
        d->heads[h].mask = yd_masks[h];
    }
    return 0;
}

static void yd_free(yolo_demo_data *d)
{
    for (int h = 0; h < YD_HEADS; h++)
        free(d->pred[h]);
}

/* One variant: plan, then calls until a quarter of a second has passed (at
 * least three).  With time NULL a single call (the reference). */
static rl_status yd_run(const yolo_demo_data *d, const char *variant, int32_t threads,
                        rl_result *total, rl_result *heads, float *const *grads, double *per_call,
                        long *calls)
{
    rl_yolo_config cfg;
    rl_yolo_config_init(&cfg);
    cfg.n_heads = YD_HEADS;
    cfg.heads = d->heads;
    cfg.C = YD_C;
    cfg.n_anchors = 9;
    cfg.anchors = yd_anchors;
    cfg.net_w = cfg.net_h = YD_NET;
    cfg.variant = variant;
    cfg.threads = threads;
    rl_yolo_plan *plan = NULL;
    rl_status st = rl_yolo_plan_create(&cfg, &plan);
    if (st != RL_OK)
        return st;
    const void *preds[YD_HEADS];
    for (int h = 0; h < YD_HEADS; h++)
        preds[h] = d->pred[h];
    rl_yolo_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.n_images = YD_N;
    batch.preds = preds;
    batch.truths = yd_truths;
    batch.truth_offsets = yd_offsets;
    long n = 0;
    double start = now(), elapsed = 0;
    do {
        st = rl_yolo_compute(plan, &batch, total, heads, (void *const *)grads);
        n++;
        elapsed = now() - start;
    } while (st == RL_OK && per_call && (n < 3 || elapsed < 0.25));
    rl_yolo_plan_destroy(plan);
    if (per_call) {
        *per_call = elapsed / (double)n;
        *calls = n;
    }
    return st;
}

static void yd_print(const rl_result *total, const rl_result *heads)
{
    result_print(stdout, total, REPORT_YOLO);
    for (int h = 0; h < YD_HEADS; h++) {
        const rl_result *r = &heads[h];
        printf("head %d     %dx%d, mask %d,%d,%d: loss %.6g (coord %.4g, class %.4g, obj %.4g, "
               "noobj %.4g), n_obj %lld, Avg IOU %.4f, count %lld\n",
               h, (int)yd_grids[h], (int)yd_grids[h], (int)yd_masks[h][0], (int)yd_masks[h][1],
               (int)yd_masks[h][2], r->loss, r->coord, r->cls, r->obj, r->noobj,
               (long long)r->n_obj, r->darknet.avg_iou, (long long)r->darknet.count);
    }
}

static int yolo_demo(const tool_opts *o)
{
    yolo_demo_data d;
    float *grads[YD_HEADS] = {NULL}, *ref_grads[YD_HEADS] = {NULL};
    int rc = 0;
    if (yd_make(&d))
        rc = EXIT_ERROR;
    for (int h = 0; !rc && h < YD_HEADS; h++)
        if (!(grads[h] = malloc(d.count[h] * sizeof(float))) ||
            !(ref_grads[h] = malloc(d.count[h] * sizeof(float))))
            rc = EXIT_ERROR;
    if (rc) {
        fprintf(stderr, "regionloss: out of memory for the [yolo] demo\n");
        goto done;
    }
    printf("\n[yolo] demo: 3 heads (13x13, 26x26, 52x52 at 416x416, masks 6,7,8 / 3,4,5 / "
           "0,1,2), %d images, %d classes, %d truths, YOLOv3's 9 COCO anchors; defaults "
           "(ignore_thresh 0.7, norm images), synthesized\n",
           YD_N, YD_C, (int)yd_offsets[YD_N]);
    rl_result ref, ref_heads[YD_HEADS];
    char ref_error[512] = "";
    rl_status st = yd_run(&d, "reference", o->cfg.threads, &ref, ref_heads, ref_grads, NULL, NULL);
    if (st != RL_OK)
        snprintf(ref_error, sizeof ref_error, "%s: %s", rl_status_name(st), rl_last_error());
    for (const char *const *v = rl_variant_list(); *v; v++) {
        const int is_ref = strcmp(*v, "reference") == 0;
        if (is_ref && ref_error[0]) {
            printf("\n== %s: unavailable for [yolo] (%s)\n", *v, ref_error);
            continue;
        }
        rl_result res, heads[YD_HEADS];
        double per_call = 0;
        long calls = 0;
        st = yd_run(&d, *v, o->cfg.threads, &res, heads, grads, &per_call, &calls);
        if (st != RL_OK) {
            rc = library_error(st, *v);
            break;
        }
        printf("\n== %s: %.3f ms per call with the gradient of every head (%ld calls, %d "
               "thread%s)\n",
               *v, per_call * 1e3, calls, (int)o->cfg.threads, o->cfg.threads == 1 ? "" : "s");
        yd_print(&res, heads);
        if (is_ref)
            continue;
        if (ref_error[0]) {
            printf("vs reference: not available\n");
            continue;
        }
        double gd = 0;
        for (int h = 0; h < YD_HEADS; h++) {
            const double m = max_abs_diff(grads[h], ref_grads[h], d.count[h]);
            gd = m > gd ? m : gd;
        }
        printf("vs reference: |loss - reference| = %.3g, max |grad - reference| = %.3g\n",
               fabs(res.loss - ref.loss), gd);
    }
done:
    for (int h = 0; h < YD_HEADS; h++) {
        free(grads[h]);
        free(ref_grads[h]);
    }
    yd_free(&d);
    return rc;
}

int cmd_demo(const tool_opts *o)
{
    const char *dir = sample_dir(o);
    char pred[4096], labels[4096], anchors_path[4096];
    snprintf(pred, sizeof pred, "%s/pred.npy", dir);
    snprintf(labels, sizeof labels, "%s/labels.txt", dir);
    snprintf(anchors_path, sizeof anchors_path, "%s/anchors.txt", dir);
    char *anchors;
    int rc = read_anchors(anchors_path, &anchors);
    if (rc)
        return rc;
    tool_inputs in;
    rc = inputs_load(pred, labels, anchors, anchors_path, RL_LAYOUT_NCHW, RL_DTYPE_F32,
                     RL_DTYPE_F32, &in);
    free(anchors);
    if (rc)
        return rc;

    printf("regionloss %s demo: %s\n", rl_version(), dir);
    printf("batch: %d images, %dx%d grid, %d anchors, %d classes, %lld truths; %s mode\n",
           (int)in.N, (int)in.H, (int)in.W, (int)in.B, (int)in.C,
           (long long)in.offsets[in.N], o->cfg.mode == RL_MODE_DARKNET ? "darknet" : "spec");

    void *ref_grad = NULL;
    rl_result ref;
    int have_ref = rl_variant_check("reference") == RL_OK;
    if (have_ref) {
        rl_config cfg = o->cfg;
        cfg.variant = "reference";
        if ((rc = compute_inputs(&in, &cfg, o->seen, pred, &ref, &ref_grad))) {
            inputs_free(&in);
            return rc;
        }
    }
    float *grad = malloc(in.count * sizeof *grad);
    if (!grad) {
        fprintf(stderr, "regionloss: out of memory for the gradient\n");
        rc = EXIT_ERROR;
    }
    for (const char *const *v = rl_variant_list(); !rc && *v; v++) {
        rl_config cfg = o->cfg;
        cfg.variant = *v;
        rl_result res;
        double per_call = 0;
        long calls = 0;
        rc = time_variant(&in, &cfg, o->seen, pred, &res, grad, &per_call, &calls);
        if (rc)
            break;
        printf("\n== %s: %.3f ms per call with the gradient (%ld calls, %d thread%s)\n", *v,
               per_call * 1e3, calls, (int)cfg.threads, cfg.threads == 1 ? "" : "s");
        result_print(stdout, &res, report_kind_of(o->cfg.mode));
        if (have_ref && strcmp(*v, "reference") != 0)
            printf("vs reference: |loss - reference| = %.3g, max |grad - reference| = %.3g\n",
                   fabs(res.loss - ref.loss), max_abs_diff(grad, ref_grad, in.count));
    }
    free(grad);
    free(ref_grad);
    inputs_free(&in);
    if (!rc)
        rc = yolo_demo(o);
    return rc;
}

int cmd_variants(void)
{
    /* Which variant "auto" picks (REGIONLOSS_VARIANT included): ask a plan. */
    const float anchor[2] = {1.0f, 1.0f};
    rl_config cfg;
    rl_config_init(&cfg);
    cfg.H = cfg.W = cfg.B = cfg.C = 1;
    cfg.anchors = anchor;
    rl_plan *plan = NULL;
    rl_status st = rl_plan_create(&cfg, &plan);
    if (st != RL_OK)
        return library_error(st, NULL);
    const char *chosen = rl_plan_variant(plan);
    for (const char *const *v = rl_variant_list(); *v; v++)
        printf("%s%s\n", *v, strcmp(*v, chosen) == 0 ? "  (auto)" : "");
    rl_plan_destroy(plan);
    return EXIT_OK;
}
