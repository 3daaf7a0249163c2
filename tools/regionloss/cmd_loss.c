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
    char *done[2] = {NULL, NULL};
    int rc = 0;
    for (int k = 0; k < n && k < 2; k++) {
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
    for (int k = 0; k < 2; k++)
        free(done[k]);
    return rc;
}

int cmd_loss(const tool_opts *o)
{
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
        if (o->json) {
            char *text = result_json(&res, report_kind_of(o->cfg.mode));
            if (text)
                fputs(text, stdout);
            else
                rc = EXIT_ERROR;
            free(text);
        } else {
            result_print(stdout, &res, report_kind_of(o->cfg.mode));
        }
    }
    free(grad);
    inputs_free(&in);
    return rc;
}

int cmd_golden(const tool_opts *o)
{
    tool_inputs in;
    rl_result res;
    void *grad = NULL;
    int rc = compute_from_files(o, &in, &res, o->grad_out ? &grad : NULL);
    if (rc)
        return rc;
    staged_file files[2] = {{NULL, NULL}, {NULL, NULL}};
    int n = 0;
    char *text = result_json(&res, report_kind_of(o->cfg.mode));
    if (!text) {
        fprintf(stderr, "regionloss: out of memory\n");
        rc = EXIT_ERROR;
    }
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
