/* loss and golden: compute once, then write the outputs.  Every output file
 * is staged first and renamed only when all of them were written, so a
 * failure leaves no partial file behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "compute.h"
#include "npy.h"
#include "outfile.h"
#include "report.h"
#include "yolo.h"

/* The most files one command writes: a golden JSON and a gradient per head. */
#define MAX_OUT_FILES (1 + TOOL_MAX_HEADS)

static int stage_or_fail(staged_file *s, const char *path, const void *data, size_t len)
{
    char err[512];
    if (stage_file(s, path, data, len, err, sizeof err)) {
        fprintf(stderr, "regionloss: %s: %s\n", path, err);
        return EXIT_ERROR;
    }
    return 0;
}

/* The gradient in its own type: '<f4', '<f2', or bfloat16 as '<u2' bits. */
static int stage_grad(staged_file *s, const char *path, const tool_inputs *in, const void *grad)
{
    uint8_t *bytes;
    size_t len;
    char err[512];
    const npy_dtype t = in->grad_dtype == RL_DTYPE_F16    ? NPY_F16
                        : in->grad_dtype == RL_DTYPE_BF16 ? NPY_U16
                                                          : NPY_F32;
    if (npy_encode(grad, t, in->shape, in->ndim, &bytes, &len, err, sizeof err)) {
        fprintf(stderr, "regionloss: %s: %s\n", path, err);
        return EXIT_ERROR;
    }
    int rc = stage_or_fail(s, path, bytes, len);
    free(bytes);
    return rc;
}

/* Commits the staged files in order; when one fails, the ones already
 * renamed are removed, because they belong to an incomplete set. */
static int commit_all(staged_file *files, int n)
{
    char err[512];
    char *done[MAX_OUT_FILES] = {NULL};
    int rc = 0;
    for (int k = 0; k < n && k < MAX_OUT_FILES; k++) {
        done[k] = strdup(files[k].path);
        if (!done[k] || commit_file(&files[k], err, sizeof err)) {
            fprintf(stderr, "regionloss: %s: %s\n", done[k] ? done[k] : "?",
                    done[k] ? err : "out of memory");
            for (int d = 0; d < k; d++)
                unlink(done[d]);
            for (int d = k; d < n; d++)
                discard_file(&files[d]);
            rc = EXIT_ERROR;
            break;
        }
    }
    for (int k = 0; k < MAX_OUT_FILES; k++)
        free(done[k]);
    return rc;
}

/* Stages the gradient of every head (paths[h] for head h), then commits them
 * with *json_file first when it is staged: all files or none. */
static int write_all(staged_file *json_file, const char *const *paths, const yolo_inputs *in,
                     void *const *grads)
{
    staged_file files[MAX_OUT_FILES];
    memset(files, 0, sizeof files);
    int n = 0, rc = 0;
    if (json_file && json_file->tmp)
        files[n++] = *json_file;
    for (int h = 0; paths && h < in->n_heads && !rc; h++)
        if (!(rc = stage_grad(&files[n], paths[h], &in->heads[h], grads[h])))
            n++;
    if (!rc)
        return commit_all(files, n);
    for (int k = 0; k < n; k++)
        discard_file(&files[k]);
    return rc;
}

/* Prints a result's JSON text (NULL: out of memory) and frees it. */
static int print_json(char *text)
{
    int rc = 0;
    if (text)
        fputs(text, stdout);
    else
        rc = EXIT_ERROR;
    free(text);
    return rc;
}

/* A golden's JSON text, or the message that memory ran out. */
static int need_text(const char *text)
{
    if (text)
        return 0;
    fprintf(stderr, "regionloss: out of memory\n");
    return EXIT_ERROR;
}

static void print_yolo(const yolo_inputs *in, const rl_result *total, const rl_result *heads)
{
    fprintf(stdout, "variant    %s\n", total->variant ? total->variant : "?");
    fprintf(stdout, "network    %d head%s, %d images, %d classes, %lld truths\n", in->n_heads,
            in->n_heads == 1 ? "" : "s", (int)in->N, (int)in->C,
            (long long)in->offsets[in->N]);
    result_print_parts(stdout, total, REPORT_YOLO);
    for (int h = 0; h < in->n_heads; h++) {
        char summary[256];
        yolo_head_summary(in, h, summary, sizeof summary);
        fprintf(stdout, "\nhead %d     %s: %s\n", h, in->paths[h], summary);
        result_print_parts(stdout, &heads[h], REPORT_YOLO);
    }
}

/* What loss and golden compute for a network: the inputs, the total and
 * every head, and a gradient per head when --grad-out is given. */
typedef struct yolo_run {
    yolo_inputs in;
    rl_result total, heads[TOOL_MAX_HEADS];
    void *grads[TOOL_MAX_HEADS];
    int want_grad;
} yolo_run;

/* On failure nothing is left to free. */
static int yolo_run_compute(const tool_opts *o, yolo_run *r)
{
    memset(r->grads, 0, sizeof r->grads);
    r->want_grad = o->yolo.n_grad_out > 0;
    return yolo_compute_from_files(o, &r->in, &r->total, r->heads,
                                   r->want_grad ? r->grads : NULL);
}

static void yolo_run_free(yolo_run *r)
{
    for (int h = 0; h < r->in.n_heads; h++)
        free(r->grads[h]);
    yolo_free(&r->in);
}

static int yolo_loss(const tool_opts *o)
{
    yolo_run run;
    int rc = yolo_run_compute(o, &run);
    if (rc)
        return rc;
    if (run.want_grad)
        rc = write_all(NULL, o->yolo.grad_outs, &run.in, run.grads);
    if (!rc) {
        if (o->json)
            rc = print_json(yolo_result_json(&run.total, run.heads, run.in.n_heads));
        else
            print_yolo(&run.in, &run.total, run.heads);
    }
    yolo_run_free(&run);
    return rc;
}

static int yolo_golden(const tool_opts *o)
{
    yolo_run run;
    int rc = yolo_run_compute(o, &run);
    if (rc)
        return rc;
    const yolo_inputs *in = &run.in;
    char *text = yolo_result_json(&run.total, run.heads, in->n_heads);
    staged_file json_file = {NULL, NULL};
    rc = need_text(text);
    if (!rc)
        rc = stage_or_fail(&json_file, o->out, text, strlen(text));
    if (!rc)
        rc = write_all(&json_file, run.want_grad ? o->yolo.grad_outs : NULL, in, run.grads);
    if (!rc)
        printf("regionloss: wrote %s%s (%d head%s; variant %s, loss %.17g)\n", o->out,
               run.want_grad ? " and a gradient per head" : "", in->n_heads,
               in->n_heads == 1 ? "" : "s", run.total.variant, run.total.loss);
    free(text);
    yolo_run_free(&run);
    return rc;
}

int cmd_loss(const tool_opts *o)
{
    if (o->layer == LAYER_YOLO)
        return yolo_loss(o);
    tool_inputs in;
    rl_result res;
    void *grad = NULL;
    int rc = compute_from_files(o, &in, &res, o->grad_out ? &grad : NULL);
    if (rc)
        return rc;
    staged_file g = {NULL, NULL};
    if (o->grad_out) {
        rc = stage_grad(&g, o->grad_out, &in, grad);
        if (!rc)
            rc = commit_all(&g, 1);
    }
    if (!rc) {
        if (o->json)
            rc = print_json(result_json(&res, report_kind_of(o->cfg.mode)));
        else
            result_print(stdout, &res, report_kind_of(o->cfg.mode));
    }
    free(grad);
    inputs_free(&in);
    return rc;
}

int cmd_golden(const tool_opts *o)
{
    if (o->layer == LAYER_YOLO)
        return yolo_golden(o);
    tool_inputs in;
    rl_result res;
    void *grad = NULL;
    int rc = compute_from_files(o, &in, &res, o->grad_out ? &grad : NULL);
    if (rc)
        return rc;
    staged_file files[2] = {{NULL, NULL}, {NULL, NULL}};
    int n = 0;
    char *text = result_json(&res, report_kind_of(o->cfg.mode));
    rc = need_text(text);
    if (!rc && !(rc = stage_or_fail(&files[0], o->out, text, strlen(text))))
        n = 1;
    if (!rc && o->grad_out && !(rc = stage_grad(&files[1], o->grad_out, &in, grad)))
        n = 2;
    if (!rc)
        rc = commit_all(files, n);
    else
        for (int k = 0; k < n; k++)
            discard_file(&files[k]);
    if (!rc)
        printf("regionloss: wrote %s%s%s (variant %s, loss %.17g)\n", o->out,
               o->grad_out ? " and " : "", o->grad_out ? o->grad_out : "", res.variant, res.loss);
    free(text);
    free(grad);
    inputs_free(&in);
    return rc;
}
