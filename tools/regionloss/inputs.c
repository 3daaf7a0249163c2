/* Files to a batch.  The .npy and label parsers know nothing about the loss;
 * the checks that tie them together (rank and shape against the anchors and
 * the layout, image indices against N, classes against C) live here. */
#include "inputs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "labels.h"

int read_file(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            snprintf(err, errlen, "out of memory after %zu bytes", n);
            return -1;
        }
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *bigger = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
        if (!bigger)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    int bad = ferror(f);
    int saved = errno;
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "cannot read: %s", strerror(saved));
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

int file_error(const char *path, const char *msg)
{
    fprintf(stderr, "regionloss: %s: %s\n", path, msg);
    return EXIT_ERROR;
}

void format_shape(const npy_array *a, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < a->ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, d ? ", %llu" : "%llu",
                              (unsigned long long)a->shape[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, ")");
}

/* N, H, W, C from the shape, given B (b_origin: where it came from) and the
 * layout; with ex, the dimensions it knows (0 for those it does not) too. */
static int check_shape(const char *path, const npy_array *a, rl_layout layout,
                       const char *b_origin, const shape_expect *ex, tool_inputs *in)
{
    static const char *const nchw_names[4] = {"N", "B*(5+C)", "H", "W"};
    static const char *const nhwc_names[5] = {"N", "H", "W", "B", "5+C"};
    const int rank = layout == RL_LAYOUT_NCHW ? 4 : 5;
    const char *const *names = layout == RL_LAYOUT_NCHW ? nchw_names : nhwc_names;
    char st[256], msg[2048];
    format_shape(a, st, sizeof st);
    if (a->ndim != rank) {
        snprintf(msg, sizeof msg, "shape %s has rank %d; layout %s needs rank %d %s", st,
                 a->ndim, layout == RL_LAYOUT_NCHW ? "nchw" : "nhwc", rank,
                 layout == RL_LAYOUT_NCHW ? "[N, B*(5+C), H, W]" : "[N, H, W, B, 5+C]");
        return file_error(path, msg);
    }
    for (int d = 0; d < rank; d++)
        if (a->shape[d] == 0 || a->shape[d] > INT32_MAX) {
            snprintf(msg, sizeof msg, "shape %s: dimension %d (%s) = %llu is not in [1, %d]",
                     st, d, names[d], (unsigned long long)a->shape[d], INT32_MAX);
            return file_error(path, msg);
        }
    if (ex) {
        int differs = 0;
        uint64_t want[5];
        for (int d = 0; d < rank; d++) {
            want[d] = ex->dims[d] ? ex->dims[d] : a->shape[d];
            differs |= want[d] != a->shape[d];
        }
        if (differs) {
            npy_array w = *a;
            memcpy(w.shape, want, sizeof want[0] * (size_t)rank);
            char ws[256];
            format_shape(&w, ws, sizeof ws);
            snprintf(msg, sizeof msg, "shape %s is not %s, the shape %s (%s)", st, ws, ex->whose,
                     ex->why);
            return file_error(path, msg);
        }
    }
    const uint64_t B = (uint64_t)in->B;
    uint64_t K;
    if (layout == RL_LAYOUT_NCHW) {
        if (a->shape[1] % B || a->shape[1] / B < 6) {
            snprintf(msg, sizeof msg,
                     "shape %s: dimension 1 = %llu is not B*(5+C) with B = %llu (%s) and C >= 1: "
                     "expected (%llu, %llu*(5+C), %llu, %llu)",
                     st, (unsigned long long)a->shape[1], (unsigned long long)B, b_origin,
                     (unsigned long long)a->shape[0], (unsigned long long)B,
                     (unsigned long long)a->shape[2], (unsigned long long)a->shape[3]);
            return file_error(path, msg);
        }
        K = a->shape[1] / B;
        in->H = (int32_t)a->shape[2];
        in->W = (int32_t)a->shape[3];
    } else {
        if (a->shape[3] != B) {
            snprintf(msg, sizeof msg,
                     "shape %s: dimension 3 = %llu is not B = %llu (%s): expected (%llu, %llu, "
                     "%llu, %llu, 5+C)",
                     st, (unsigned long long)a->shape[3], (unsigned long long)B, b_origin,
                     (unsigned long long)a->shape[0], (unsigned long long)a->shape[1],
                     (unsigned long long)a->shape[2], (unsigned long long)B);
            return file_error(path, msg);
        }
        if (a->shape[4] < 6) {
            snprintf(msg, sizeof msg, "shape %s: dimension 4 = %llu is not 5+C with C >= 1", st,
                     (unsigned long long)a->shape[4]);
            return file_error(path, msg);
        }
        K = a->shape[4];
        in->H = (int32_t)a->shape[1];
        in->W = (int32_t)a->shape[2];
    }
    in->N = (int32_t)a->shape[0];
    in->C = (int32_t)(K - 5);
    in->ndim = rank;
    memcpy(in->shape, a->shape, (size_t)rank * sizeof a->shape[0]);
    return 0;
}

const char *dtype_option_name(int dtype)
{
    return dtype == RL_DTYPE_F16 ? "f16" : dtype == RL_DTYPE_BF16 ? "bf16" : "f32";
}

const char *dtype_long_name(int dtype)
{
    return dtype == RL_DTYPE_F16 ? "float16" : dtype == RL_DTYPE_BF16 ? "bfloat16" : "float32";
}

float elem_to_f32(const void *values, rl_dtype dtype, size_t k)
{
    if (dtype == RL_DTYPE_F32)
        return ((const float *)values)[k];
    const uint16_t h = ((const uint16_t *)values)[k];
    return dtype == RL_DTYPE_F16 ? npy_f16_to_f32(h) : npy_bf16_to_f32(h);
}

/* The element type the predictions are read as: the file's, checked against
 * --dtype (want, -1 when not given).  '<u2' has no meaning of its own, so it
 * needs --dtype bf16. */
static int pred_dtype_of(const char *path, const npy_array *a, int want, rl_dtype *out)
{
    char msg[512];
    rl_dtype have;
    switch (a->dtype) {
    case NPY_F32:
    case NPY_F64:
        have = RL_DTYPE_F32;
        break;
    case NPY_F16:
        have = RL_DTYPE_F16;
        break;
    case NPY_U16:
        if (want != RL_DTYPE_BF16) {
            snprintf(msg, sizeof msg,
                     "dtype '<u2' (uint16) is read only as bfloat16 bit patterns, with "
                     "--dtype bf16%s",
                     want == RL_DTYPE_F16 ? " (float16 is '<f2')"
                                          : want == RL_DTYPE_F32 ? " (float32 is '<f4')" : "");
            return file_error(path, msg);
        }
        have = RL_DTYPE_BF16;
        break;
    default:
        return file_error(path, "unknown dtype");
    }
    if (want >= 0 && (int)have != want) {
        snprintf(msg, sizeof msg, "dtype '%s' (%s) does not match --dtype %s%s", npy_descr(a->dtype),
                 npy_type_name(a->dtype), dtype_option_name(want),
                 want == RL_DTYPE_BF16 ? " (which reads '<u2' bfloat16 bit patterns)"
                 : want == RL_DTYPE_F16 ? " (which reads '<f2')"
                                        : " (which reads '<f4' or '<f8')");
        return file_error(path, msg);
    }
    *out = have;
    return 0;
}

int inputs_load_pred(const char *path, rl_layout layout, int dtype, int grad_dtype,
                     const char *b_origin, const shape_expect *ex, tool_inputs *in)
{
    uint8_t *data;
    size_t len;
    char err[512];
    npy_array a;
    if (read_file(path, &data, &len, err, sizeof err))
        return file_error(path, err);
    if (npy_parse(data, len, &a, err, sizeof err)) {
        free(data);
        return file_error(path, err);
    }
    if (pred_dtype_of(path, &a, dtype, &in->dtype) ||
        check_shape(path, &a, layout, b_origin, ex, in)) {
        free(data);
        return EXIT_ERROR;
    }
    in->grad_dtype = grad_dtype < 0 ? in->dtype : (rl_dtype)grad_dtype;
    if (in->grad_dtype != RL_DTYPE_F32 && in->grad_dtype != in->dtype) {
        free(data);
        snprintf(err, sizeof err, "--grad-dtype %s: the gradient is f32 or the predictions' "
                                  "type, %s (%s, dtype '%s')",
                 dtype_option_name(grad_dtype), dtype_option_name(in->dtype),
                 dtype_long_name(in->dtype), npy_descr(a.dtype));
        return file_error(path, err);
    }
    const size_t item = in->dtype == RL_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t);
    in->pred = malloc((a.count ? a.count : 1) * item);
    if (!in->pred) {
        free(data);
        return file_error(path, "out of memory for the predictions");
    }
    /* Half types go to the library as the file holds them: no conversion. */
    if (in->dtype == RL_DTYPE_F32)
        npy_to_f32(&a, in->pred);
    else
        npy_to_u16(&a, in->pred);
    in->count = (size_t)a.count;
    free(data);
    return 0;
}

int inputs_load_labels(const char *path, int32_t n_images, int32_t n_classes, rl_box **truths,
                       int64_t **offsets)
{
    uint8_t *data;
    size_t len;
    char err[512];
    label_list list;
    if (read_file(path, &data, &len, err, sizeof err))
        return file_error(path, err);
    int rc = labels_parse((const char *)data, len, &list, err, sizeof err);
    free(data);
    if (rc)
        return file_error(path, err);
    rc = labels_to_truths(&list, n_images, n_classes, truths, offsets, err, sizeof err);
    labels_free(&list);
    if (rc)
        return file_error(path, err);
    return 0;
}

int inputs_load(const char *pred_path, const char *labels_path, const char *anchors_text,
                const char *anchors_origin, rl_layout layout, int dtype, int grad_dtype,
                tool_inputs *in)
{
    memset(in, 0, sizeof *in);
    int rc = cli_parse_anchors(anchors_text, anchors_origin, &in->anchors, &in->B);
    if (!rc)
        rc = inputs_load_pred(pred_path, layout, dtype, grad_dtype, "from the anchors", NULL, in);
    if (!rc)
        rc = inputs_load_labels(labels_path, in->N, in->C, &in->truths, &in->offsets);
    if (rc)
        inputs_free(in);
    return rc;
}

void inputs_free(tool_inputs *in)
{
    free(in->pred);
    free(in->anchors);
    free(in->truths);
    free(in->offsets);
    memset(in, 0, sizeof *in);
}

void inputs_configure(const tool_inputs *in, rl_config *cfg)
{
    cfg->H = in->H;
    cfg->W = in->W;
    cfg->B = in->B;
    cfg->C = in->C;
    cfg->anchors = in->anchors;
    cfg->pred_dtype = (int16_t)in->dtype;
    cfg->grad_dtype = (int16_t)in->grad_dtype;
}

rl_batch inputs_batch(const tool_inputs *in, int64_t seen)
{
    rl_batch b;
    memset(&b, 0, sizeof b);
    b.n_images = in->N;
    b.pred = in->pred;
    b.truths = in->truths;
    b.truth_offsets = in->offsets;
    b.seen = seen;
    return b;
}

int library_error(rl_status st, const char *context)
{
    fprintf(stderr, "regionloss: %s%s%s: %s\n", context ? context : "", context ? ": " : "",
            rl_status_name(st), rl_last_error());
    return EXIT_ERROR;
}
