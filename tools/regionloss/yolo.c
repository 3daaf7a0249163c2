/* Files to a network of [yolo] heads, and the call.  Each head's file goes
 * through the region tool's reader (element type, rank, B*(5+C)); what ties
 * the heads together is checked here: one N, one C, one element type, one
 * --mask per file with indices into --anchors. */
#include "yolo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

void yolo_free(yolo_inputs *in)
{
    for (int h = 0; h < TOOL_MAX_HEADS; h++) {
        inputs_free(&in->heads[h]);
        free(in->masks[h]);
    }
    free(in->anchors);
    free(in->truths);
    free(in->offsets);
    memset(in, 0, sizeof *in);
}

static const char *ordinal_suffix(int k)
{
    if (k % 100 >= 11 && k % 100 <= 13)
        return "th";
    return k % 10 == 1 ? "st" : k % 10 == 2 ? "nd" : k % 10 == 3 ? "rd" : "th";
}

/* Head h's file, its shape checked against what the heads before it (and
 * --classes) fixed. */
static int load_head(const tool_opts *o, yolo_inputs *in, int h)
{
    const yolo_opts *y = &o->yolo;
    tool_inputs *t = &in->heads[h]; /* t->B is the mask's length */
    const rl_layout layout = y->cfg.layout;
    char b_origin[160];
    snprintf(b_origin, sizeof b_origin, "from --mask %s of head %d", y->masks[h], h);
    /* N from head 0; C from --classes or head 0; H and W are the file's. */
    const int know_n = h > 0, know_c = h > 0 || y->classes > 0;
    const uint64_t N = know_n ? (uint64_t)in->N : 0;
    const uint64_t C = know_c ? (uint64_t)(h > 0 ? in->C : y->classes) : 0;
    const uint64_t B = (uint64_t)t->B;
    shape_expect ex;
    memset(&ex, 0, sizeof ex);
    char whose[64], why[768];
    snprintf(whose, sizeof whose, "head %d needs", h);
    size_t len = 0;
    if (know_n)
        len += (size_t)snprintf(why + len, sizeof why - len, "N = %llu images as head 0's %s",
                                (unsigned long long)N, in->paths[0]);
    if (know_c)
        len += (size_t)snprintf(
            why + len, sizeof why - len, "%s%s = %llu with B = %llu (--mask %s) and C = %llu %s",
            len ? ", " : "", layout == RL_LAYOUT_NCHW ? "B*(5+C)" : "B, 5+C",
            layout == RL_LAYOUT_NCHW ? (unsigned long long)(B * (5 + C))
                                     : (unsigned long long)(5 + C),
            (unsigned long long)B, y->masks[h], (unsigned long long)C,
            h > 0 ? "as head 0's" : "(--classes)");
    if (know_c && h > 0)
        snprintf(why + len, sizeof why - len, " %s", in->paths[0]);
    ex.whose = whose;
    ex.why = why;
    ex.dims[0] = N;
    if (know_c) {
        if (layout == RL_LAYOUT_NCHW) {
            ex.dims[1] = B * (5 + C);
        } else {
            ex.dims[3] = B;
            ex.dims[4] = 5 + C;
        }
    }
    const int have_ex = know_n || know_c;
    if (inputs_load_pred(y->preds[h], layout, o->dtype, o->grad_dtype, b_origin,
                         have_ex ? &ex : NULL, t))
        return EXIT_ERROR;
    if (h == 0) {
        in->N = t->N;
        in->C = t->C;
        in->dtype = t->dtype;
        in->grad_dtype = t->grad_dtype;
    } else if (t->dtype != in->dtype) {
        /* Only without --dtype: with it every file was checked against it. */
        char msg[512];
        snprintf(msg, sizeof msg,
                 "its type is %s (--dtype %s), head 0's %s is %s: every head of a network has "
                 "one element type",
                 dtype_long_name(t->dtype), dtype_option_name(t->dtype), in->paths[0],
                 dtype_long_name(in->dtype));
        return file_error(y->preds[h], msg);
    }
    return 0;
}

int yolo_load(const tool_opts *o, yolo_inputs *in)
{
    const yolo_opts *y = &o->yolo;
    memset(in, 0, sizeof *in);
    in->n_heads = y->n_heads;
    int32_t B_all = 0;
    int rc = cli_parse_anchors(o->anchors, "--anchors", &in->anchors, &B_all);
    in->n_anchors = B_all;
    for (int h = 0; !rc && h < y->n_heads; h++) {
        char origin[160];
        snprintf(origin, sizeof origin, "--mask %s (head %d, the %d%s --mask)", y->masks[h], h,
                 h + 1, ordinal_suffix(h + 1));
        in->paths[h] = y->preds[h];
        rc = cli_parse_mask(y->masks[h], origin, in->n_anchors, &in->masks[h],
                            &in->heads[h].B);
    }
    for (int h = 0; !rc && h < y->n_heads; h++)
        rc = load_head(o, in, h);
    if (!rc)
        rc = inputs_load_labels(o->labels, in->N, in->C, &in->truths, &in->offsets);
    if (rc)
        yolo_free(in);
    return rc;
}

void yolo_head_summary(const yolo_inputs *in, int h, char *buf, size_t cap)
{
    const tool_inputs *t = &in->heads[h];
    size_t n = (size_t)snprintf(buf, cap, "%dx%d grid, mask ", (int)t->H, (int)t->W);
    for (int b = 0; b < t->B && n < cap; b++)
        n += (size_t)snprintf(buf + n, cap - n, b ? ",%d" : "%d", (int)in->masks[h][b]);
}

/* The head a library message is about: "head 2: ..." when the plan has
 * several, head 0 when it has one; -1 when the message names none. */
static int head_of_message(const char *msg, int n_heads)
{
    if (n_heads == 1)
        return 0;
    int h = -1;
    if (sscanf(msg, "head %d:", &h) == 1 && h >= 0 && h < n_heads)
        return h;
    return -1;
}

int yolo_compute(const yolo_inputs *in, const rl_yolo_config *base, rl_result *total,
                 rl_result *per_head, void **grads)
{
    rl_yolo_config cfg = *base;
    rl_yolo_head heads[TOOL_MAX_HEADS];
    for (int h = 0; h < in->n_heads; h++) {
        heads[h].H = in->heads[h].H;
        heads[h].W = in->heads[h].W;
        heads[h].B = in->heads[h].B;
        heads[h].mask = in->masks[h];
    }
    cfg.n_heads = in->n_heads;
    cfg.heads = heads;
    cfg.C = in->C;
    cfg.n_anchors = in->n_anchors;
    cfg.anchors = in->anchors;
    cfg.pred_dtype = (int16_t)in->dtype;
    cfg.grad_dtype = (int16_t)in->grad_dtype;
    rl_yolo_plan *plan = NULL;
    rl_status st = rl_yolo_plan_create(&cfg, &plan);
    if (st != RL_OK) /* the message names the head, if any ("config: head 1: ...") */
        return library_error(st, NULL);
    void *g[TOOL_MAX_HEADS] = {NULL};
    const size_t item = in->grad_dtype == RL_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t);
    for (int h = 0; h < in->n_heads; h++) {
        size_t count = 0;
        st = rl_yolo_tensor_size(plan, h, in->N, &count);
        if (st != RL_OK || count != in->heads[h].count) {
            /* The shape checks make this impossible; say so if it happens. */
            if (st != RL_OK)
                library_error(st, in->paths[h]);
            else
                fprintf(stderr, "regionloss: %s: %zu values, the plan expects %zu for head %d\n",
                        in->paths[h], in->heads[h].count, count, h);
            st = RL_ERR_BAD_SIZE;
        } else if (grads && !(g[h] = malloc((count ? count : 1) * item))) {
            fprintf(stderr, "regionloss: out of memory for head %d's gradient\n", h);
            st = RL_ERR_NO_MEMORY;
        }
        if (st != RL_OK) {
            for (int k = 0; k <= h; k++)
                free(g[k]);
            rl_yolo_plan_destroy(plan);
            return EXIT_ERROR;
        }
    }
    const void *preds[TOOL_MAX_HEADS];
    for (int h = 0; h < in->n_heads; h++)
        preds[h] = in->heads[h].pred;
    rl_yolo_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.n_images = in->N;
    batch.preds = preds;
    batch.truths = in->truths;
    batch.truth_offsets = in->offsets;
    st = rl_yolo_compute(plan, &batch, total, per_head, grads ? g : NULL);
    rl_yolo_plan_destroy(plan);
    if (st != RL_OK) {
        for (int h = 0; h < in->n_heads; h++)
            free(g[h]);
        /* A non-finite prediction is a property of a head's file. */
        const int h = st == RL_ERR_NONFINITE_PRED ? head_of_message(rl_last_error(), in->n_heads)
                                                  : -1;
        return library_error(st, h >= 0 ? in->paths[h] : NULL);
    }
    if (grads)
        for (int h = 0; h < in->n_heads; h++)
            grads[h] = g[h];
    return 0;
}

int yolo_compute_from_files(const tool_opts *o, yolo_inputs *in, rl_result *total,
                            rl_result *per_head, void **grads)
{
    int rc = yolo_load(o, in);
    if (rc)
        return rc;
    rl_yolo_config cfg = o->yolo.cfg;
    if (o->yolo.n_counters) {
        if (o->yolo.n_counters != in->C) {
            fprintf(stderr,
                    "regionloss: --counters-per-class: %d counts for %d classes: give one "
                    "per class\n",
                    (int)o->yolo.n_counters, (int)in->C);
            yolo_free(in);
            return EXIT_ERROR;
        }
        cfg.counters_per_class = o->yolo.counters;
    }
    rc = yolo_compute(in, &cfg, total, per_head, grads);
    if (rc)
        yolo_free(in);
    return rc;
}
