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
