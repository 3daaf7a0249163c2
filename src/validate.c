/* Validation of a batch before anything is computed or written.  Every
 * message names the field and where it is, in the user's own indices. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elem.h"
#include "internal.h"

static const char *const entry_names[5] = {"tx", "ty", "tw", "th", "tc"};

rl_status rl_validate_batch_shape(const rl_params *p, const rl_batch *batch)
{
    if (!batch)
        return rl_fail(RL_ERR_NULL_POINTER, "batch is NULL");
    if (batch->n_images <= 0)
        return rl_fail(RL_ERR_BAD_SIZE, "batch: n_images = %d is not positive",
                       (int)batch->n_images);
    if ((int64_t)batch->n_images > INT64_MAX / 8 / p->per_image ||
        (uint64_t)batch->n_images * (uint64_t)p->per_image > SIZE_MAX / sizeof(float))
        return rl_fail(RL_ERR_BAD_SIZE,
                       "batch: %d images of %lld floats each overflow the address space",
                       (int)batch->n_images, (long long)p->per_image);
    if (!batch->pred)
        return rl_fail(RL_ERR_NULL_POINTER, "batch: pred is NULL");
    if (!batch->truth_offsets)
        return rl_fail(RL_ERR_NULL_POINTER, "batch: truth_offsets is NULL");
    const int64_t *off = batch->truth_offsets;
    if (off[0] != 0)
        return rl_fail(RL_ERR_BAD_OFFSETS, "batch: truth_offsets[0] = %lld, must be 0",
                       (long long)off[0]);
    for (int32_t n = 0; n < batch->n_images; n++)
        if (off[n + 1] < off[n])
            return rl_fail(RL_ERR_BAD_OFFSETS,
                           "batch: truth_offsets[%d] = %lld is less than truth_offsets[%d] = %lld",
                           (int)n + 1, (long long)off[n + 1], (int)n, (long long)off[n]);
    if (off[batch->n_images] > 0 && !batch->truths)
        return rl_fail(RL_ERR_NULL_POINTER, "batch: truths is NULL but truth_offsets count %lld",
                       (long long)off[batch->n_images]);
    if (p->mode == RL_MODE_DARKNET && batch->seen < 0)
        return rl_fail(RL_ERR_BAD_ARGUMENT, "batch: seen = %lld is negative",
                       (long long)batch->seen);
    if (batch->global_counts) {
        const rl_counts *g = batch->global_counts;
        if (g->n_obj < 0 || g->n_noobj < 0 || g->n_conf < 0 || g->n_images < 0 ||
            g->n_conf != g->n_obj + g->n_noobj)
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "batch: global_counts (n_obj %lld, n_noobj %lld, n_conf %lld, "
                           "n_images %lld) are negative or n_conf != n_obj + n_noobj",
                           (long long)g->n_obj, (long long)g->n_noobj, (long long)g->n_conf,
                           (long long)g->n_images);
    }
    return RL_OK;
}

/* The shortest decimal that reads back as the same float: "1e+30" for
 * 1e30f, "1.00000012" for the float just above 1, so a value just outside a
 * bound never prints as the bound itself. */
static const char *float_str(float v, char buf[32])
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, 32, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v || v != v)
            break;
    }
    return buf;
}

static rl_status check_truth(const rl_params *p, const rl_box *t, int32_t n, int64_t k)
{
    const float v[4] = {t->cx, t->cy, t->w, t->h};
    static const char *const names[4] = {"cx", "cy", "w", "h"};
    char buf[32];
    for (int f = 0; f < 4; f++)
        if (!isfinite(v[f]))
            return rl_fail(RL_ERR_BAD_TRUTH, "truth %lld of image %d: %s = %s is not finite",
                           (long long)k, (int)n, names[f], float_str(v[f], buf));
    for (int f = 0; f < 2; f++)
        if (!(v[f] >= 0.0f && v[f] <= 1.0f))
            return rl_fail(RL_ERR_BAD_TRUTH, "truth %lld of image %d: %s = %s is not in [0, 1]",
                           (long long)k, (int)n, names[f], float_str(v[f], buf));
    for (int f = 2; f < 4; f++)
        if (!(v[f] > 0.0f && v[f] <= 1.0f))
            return rl_fail(RL_ERR_BAD_TRUTH, "truth %lld of image %d: %s = %s is not in (0, 1]",
                           (long long)k, (int)n, names[f], float_str(v[f], buf));
    if (t->cls < 0 || t->cls >= p->C)
        return rl_fail(RL_ERR_BAD_TRUTH, "truth %lld of image %d: class %d is not in [0, %d)",
                       (long long)k, (int)n, (int)t->cls, (int)p->C);
    return RL_OK;
}

static rl_status nonfinite_pred(const rl_params *p, const void *pred, int32_t n, int64_t i,
                                int64_t j, int64_t b, int64_t k, float v)
{
    char entry[32];
    if (k < 5)
        snprintf(entry, sizeof entry, "%s", entry_names[k]);
    else
        snprintf(entry, sizeof entry, "class %lld logit", (long long)(k - 5));
    char buf[32], bits[40] = "";
    const int64_t off = rl_index(p, n, i, j, b, k);
    if (p->pred_type != RL_DTYPE_F32) /* a half NaN's payload is in its bits */
        snprintf(bits, sizeof bits, " (%s 0x%04x)",
                 p->pred_type == RL_DTYPE_BF16 ? "bfloat16" : "binary16",
                 (unsigned)((const uint16_t *)pred)[off]);
    return rl_fail(RL_ERR_NONFINITE_PRED,
                   "prediction of image %d, cell (i=%lld, j=%lld), anchor %lld, entry %lld "
                   "(%s, offset %lld): %s%s is not finite",
                   (int)n, (long long)i, (long long)j, (long long)b, (long long)k, entry,
                   (long long)off, float_str(v, buf), bits);
}

/* The assignment rule of docs/loss.md ("Responsible slots"), needed here only
 * to know which slots' class logits the loss will read. */
static void responsible_slot(const rl_params *p, const rl_box *t, int64_t *i, int64_t *j,
                             int64_t *b)
{
    double X = (double)t->cx * p->W, Y = (double)t->cy * p->H;
    double Wg = (double)t->w * p->W, Hg = (double)t->h * p->H;
    double fj = floor(X), fi = floor(Y);
    *j = fj > p->W - 1 ? p->W - 1 : (int64_t)fj;
    *i = fi > p->H - 1 ? p->H - 1 : (int64_t)fi;
    double best = -1.0;
    *b = 0;
    for (int32_t a = 0; a < p->B; a++) {
        double aw = p->anchors[2 * a], ah = p->anchors[2 * a + 1];
        double inter = fmin(Wg, aw) * fmin(Hg, ah);
        double iou = inter / (Wg * Hg + aw * ah - inter);
        if (iou > best) {
            best = iou;
            *b = a;
        }
    }
}

/* Branch-free so that the compiler vectorises it: an exponent of all ones
 * is an infinity or a NaN. */
/* Whether the len entries of type `type` from element `off` are all finite
 * (a half type's NaN or infinity widens to a float NaN or infinity). */
static int all_finite(const void *v, int64_t off, int64_t len, int type)
{
    uint32_t bad = 0;
    for (int64_t x = 0; x < len; x++)
        bad |= (rl_f32_bits(rl_load(v, off + x, type)) & 0x7f800000u) == 0x7f800000u;
    return !bad;
}

rl_status rl_validate_batch(const rl_params *p, const rl_batch *batch)
{
    rl_status st = rl_validate_batch_shape(p, batch);
    if (st != RL_OK)
        return st;
    const int64_t *off = batch->truth_offsets;
    for (int32_t n = 0; n < batch->n_images; n++)
        for (int64_t t = off[n]; t < off[n + 1]; t++)
            if (!rl_flavour_skips(p, &batch->truths[t]) && (st = check_truth(p, &batch->truths[t], n, t - off[n])) != RL_OK)
                return st;

    return RL_OK;
}

rl_status rl_validate_class_logits(const rl_params *p, const void *pred, int64_t n, int64_t i,
                                   int64_t j, int64_t b)
{
    for (int64_t k = 5; k < p->K; k++) {
        float v = rl_load(pred, rl_index(p, n, i, j, b, k), p->pred_type);
        if (!isfinite(v))
            return nonfinite_pred(p, pred, (int32_t)n, i, j, b, k, v);
    }
    return RL_OK;
}

rl_status rl_validate_preds(const rl_params *p, const rl_batch *batch)
{
    const int64_t *off = batch->truth_offsets;
    const void *pred = batch->pred;
    const int type = p->pred_type;
    for (int32_t n = 0; n < batch->n_images; n++) {
        /* Box and objectness channels of every slot: decoding every slot is
         * part of the loss (best IoU and the noobj mask).  They form B runs of
         * 5*H*W floats in NCHW and H*W*B runs of 5 in NHWC; scan the runs
         * cheaply and locate the culprit only when one fails. */
        const int64_t runs = p->layout == RL_LAYOUT_NCHW ? p->B : p->HW * p->B;
        const int64_t len = p->layout == RL_LAYOUT_NCHW ? 5 * p->HW : 5;
        const int64_t stride = p->layout == RL_LAYOUT_NCHW ? p->K * p->HW : p->K;
        int bad = 0;
        for (int64_t r = 0; r < runs && !bad; r++)
            bad = !all_finite(pred, n * p->per_image + r * stride, len, type);
        if (bad)
            for (int64_t i = 0; i < p->H; i++)
                for (int64_t j = 0; j < p->W; j++)
                    for (int64_t b = 0; b < p->B; b++)
                        for (int64_t k = 0; k < 5; k++) {
                            float v = rl_load(pred, rl_index(p, n, i, j, b, k), type);
                            if (!isfinite(v))
                                return nonfinite_pred(p, pred, n, i, j, b, k, v);
                        }
        /* Every class of every slot: AlexeyAB's [yolo] on an image with a
         * truth (its 0.25 rule of the ignore test), and classfix > 0 (any
         * slot past thresh may get a class term).  Elsewhere class logits
         * are read only at responsible slots (a [yolo] head's truth_thresh
         * positives, decided by the predictions, are checked by
         * rl_validate_class_logits once they are known). */
        if ((p->ab && off[n + 1] > off[n]) || p->classfix > 0) {
            for (int64_t i = 0; i < p->H; i++)
                for (int64_t j = 0; j < p->W; j++)
                    for (int64_t b = 0; b < p->B; b++) {
                        rl_status st = rl_validate_class_logits(p, pred, n, i, j, b);
                        if (st != RL_OK)
                            return st;
                    }
            continue;
        }
        for (int64_t t = off[n]; t < off[n + 1]; t++) {
            int64_t i, j, b;
            if (rl_flavour_skips(p, &batch->truths[t]))
                continue;
            if (p->mode == RL_MODE_YOLO) {
                int32_t yi, yj, yb;
                const rl_box *bx = &batch->truths[t];
                if (!rl_yolo_match(p, rl_yolo_best_anchor(p, bx), bx, &yi, &yj, &yb))
                    continue;
                i = yi, j = yj, b = yb;
            } else {
                responsible_slot(p, &batch->truths[t], &i, &j, &b);
            }
            rl_status st = rl_validate_class_logits(p, pred, n, i, j, b);
            if (st != RL_OK)
                return st;
        }
    }
    return RL_OK;
}
