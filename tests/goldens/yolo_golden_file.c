/* Reader of the [yolo] golden format.  As for golden_file.c, every number is
 * written so that strtof (inputs) or strtod (expected values) gives back
 * exactly the value the generator used, so parsing adds no error. */
#include "yolo_golden_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_reader.h"


static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long len = ftell(f);
    rewind(f);
    char *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[len] = '\0';
    fclose(f);
    return buf;
}

/* Whether the next token is `word`, without consuming it (token() writes
 * into the text, so a look-ahead cannot read and put back). */
static int next_is(const reader *r, const char *word)
{
    const char *p = r->pos;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    const size_t n = strlen(word);
    return !r->failed && strncmp(p, word, n) == 0 &&
           (p[n] == ' ' || p[n] == '\t' || p[n] == '\n' || p[n] == '\r' || p[n] == '\0');
}

static const struct {
    const char *name;
    rl_box_loss kind;
} box_losses[] = {{"mse", RL_BOX_MSE},
                  {"iou", RL_BOX_IOU},
                  {"giou", RL_BOX_GIOU},
                  {"diou", RL_BOX_DIOU},
                  {"ciou", RL_BOX_CIOU}};

static void read_result(reader *r, yolo_golden_result *g)
{
    key(r, "parts");
    g->loss = read_f64(r);
    g->coord = read_f64(r);
    g->cls = read_f64(r);
    g->obj = read_f64(r);
    g->noobj = read_f64(r);
    g->warmup = read_f64(r);
    key(r, "counts");
    g->n_obj = read_i64(r);
    g->n_noobj = read_i64(r);
    g->n_conf = read_i64(r);
    g->n_truths = read_i64(r);
    key(r, "diag");
    g->avg_iou = read_f64(r);
    g->recall50 = read_f64(r);
    g->recall75 = read_f64(r);
    g->avg_obj = read_f64(r);
    g->avg_noobj = read_f64(r);
    g->avg_cls = read_f64(r);
    key(r, "sums");
    g->sum_iou = read_f64(r);
    g->sum_obj = read_f64(r);
    g->sum_noobj = read_f64(r);
    g->sum_cls = read_f64(r);
    g->n_recall50 = read_i64(r);
    g->n_recall75 = read_i64(r);
    key(r, "darknet");
    golden_darknet *d = &g->darknet;
    d->avg_iou = read_f64(r);
    d->recall = read_f64(r);
    d->recall75 = read_f64(r);
    d->avg_cls = read_f64(r);
    d->avg_obj = read_f64(r);
    d->avg_anyobj = read_f64(r);
    d->cost = read_f64(r);
    d->count = read_i64(r);
}

int yolo_golden_load(const char *path, yolo_golden *g, char *err, size_t err_size)
{
    memset(g, 0, sizeof *g);
    reader r = {path, NULL, NULL, 1, err, err_size, 0};
    r.text = slurp(path);
    if (!r.text) {
        snprintf(err, err_size, "%s: cannot read", path);
        return -1;
    }
    r.pos = r.text;
    rl_yolo_config *c = &g->cfg;
    rl_yolo_config_init(c);

    key(&r, "regionloss-yolo-golden");
    if (read_i64(&r) != 1)
        fail(&r, "format version is not 1");
    key(&r, "name");
    snprintf(g->name, sizeof g->name, "%s", read_word(&r));
    key(&r, "layout");
    const char *layout = read_word(&r);
    if (strcmp(layout, "nchw") == 0)
        c->layout = RL_LAYOUT_NCHW;
    else if (strcmp(layout, "nhwc") == 0)
        c->layout = RL_LAYOUT_NHWC;
    else
        fail(&r, "layout '%s' is unknown", layout);
    key(&r, "classes");
    c->C = (int32_t)read_i64(&r);
    key(&r, "net");
    c->net_w = (int32_t)read_i64(&r);
    c->net_h = (int32_t)read_i64(&r);
    key(&r, "anchors");
    c->n_anchors = (int32_t)read_i64(&r);
    if (!r.failed && (c->n_anchors <= 0 || c->n_anchors > 1000))
        fail(&r, "anchor count out of range");
    if (r.failed)
        goto out;
    g->anchors = malloc(2 * (size_t)c->n_anchors * sizeof *g->anchors);
    if (!g->anchors) {
        fail(&r, "out of memory");
        goto out;
    }
    for (int32_t a = 0; a < 2 * c->n_anchors; a++)
        g->anchors[a] = read_f32(&r);
    c->anchors = g->anchors;
    key(&r, "lambdas");
    c->lambda_coord = read_f64(&r);
    c->lambda_class = read_f64(&r);
    c->lambda_obj = read_f64(&r);
    c->lambda_noobj = read_f64(&r);
    key(&r, "ignore_thresh");
    c->ignore_thresh = read_f64(&r);
    key(&r, "truth_thresh");
    c->truth_thresh = read_f64(&r);
    /* optional: files without it are the default box term's */
    if (next_is(&r, "box_loss")) {
        key(&r, "box_loss");
        const char *kind = read_word(&r);
        size_t k = 0;
        while (k < sizeof box_losses / sizeof *box_losses && strcmp(kind, box_losses[k].name) != 0)
            k++;
        if (k == sizeof box_losses / sizeof *box_losses)
            fail(&r, "box_loss '%s' is unknown", kind);
        else
            c->box_loss = box_losses[k].kind;
    }
    key(&r, "norm");
    const char *norm = read_word(&r);
    if (strcmp(norm, "sum") == 0)
        c->norm = RL_NORM_SUM;
    else if (strcmp(norm, "images") == 0)
        c->norm = RL_NORM_IMAGES;
    else
        fail(&r, "norm '%s' is unknown", norm);
    key(&r, "global_images");
    g->global_images = read_i64(&r);
    key(&r, "n_images");
    g->n_images = (int32_t)read_i64(&r);
    if (!r.failed && (g->n_images <= 0 || g->n_images > 1000))
        fail(&r, "n_images out of range");
    if (r.failed)
        goto out;
    g->offsets = malloc(((size_t)g->n_images + 1) * sizeof *g->offsets);
    if (!g->offsets) {
        fail(&r, "out of memory");
        goto out;
    }
    key(&r, "offsets");
    for (int32_t n = 0; n <= g->n_images; n++)
        g->offsets[n] = read_i64(&r);
    key(&r, "truths");
    g->n_truths = read_i64(&r);
    if (!r.failed && (g->n_truths < 0 || g->n_truths != g->offsets[g->n_images]))
        fail(&r, "truth count does not match the offsets");
    if (r.failed)
        goto out;
    g->truths = calloc((size_t)g->n_truths + 1, sizeof *g->truths);
    if (!g->truths) {
        fail(&r, "out of memory");
        goto out;
    }
    for (int64_t t = 0; t < g->n_truths; t++) {
        g->truths[t].cx = read_f32(&r);
        g->truths[t].cy = read_f32(&r);
        g->truths[t].w = read_f32(&r);
        g->truths[t].h = read_f32(&r);
        g->truths[t].cls = (int32_t)read_i64(&r);
    }

    key(&r, "heads");
    c->n_heads = (int32_t)read_i64(&r);
    if (!r.failed && (c->n_heads < 1 || c->n_heads > RL_YOLO_MAX_HEADS))
        fail(&r, "head count out of range");
    c->heads = g->heads;
    for (int32_t h = 0; h < c->n_heads && !r.failed; h++) {
        key(&r, "head");
        if (read_i64(&r) != h)
            fail(&r, "heads out of order");
        rl_yolo_head *hd = &g->heads[h];
        hd->H = (int32_t)read_i64(&r);
        hd->W = (int32_t)read_i64(&r);
        hd->B = (int32_t)read_i64(&r);
        if (!r.failed && (hd->H <= 0 || hd->W <= 0 || hd->B <= 0 || hd->B > 64))
            fail(&r, "head %d: sizes out of range", (int)h);
        for (int32_t b = 0; b < hd->B && !r.failed; b++)
            g->masks[h][b] = (int32_t)read_i64(&r);
        hd->mask = g->masks[h];
        key(&r, "pred");
        g->n_pred[h] = read_i64(&r);
        const int64_t want = (int64_t)g->n_images * hd->B * (5 + c->C) * hd->H * hd->W;
        if (!r.failed && g->n_pred[h] != want)
            fail(&r, "head %d: pred has %lld entries, the grid needs %lld", (int)h,
                 (long long)g->n_pred[h], (long long)want);
        if (r.failed)
            goto out;
        g->pred[h] = malloc((size_t)g->n_pred[h] * sizeof *g->pred[h]);
        g->grad[h] = calloc((size_t)g->n_pred[h], sizeof *g->grad[h]);
        if (!g->pred[h] || !g->grad[h]) {
            fail(&r, "out of memory");
            goto out;
        }
        for (int64_t x = 0; x < g->n_pred[h]; x++)
            g->pred[h][x] = read_f32(&r);
    }

    key(&r, "total");
    read_result(&r, &g->total);
    for (int32_t h = 0; h < c->n_heads && !r.failed; h++) {
        key(&r, "result");
        if (read_i64(&r) != h)
            fail(&r, "results out of order");
        read_result(&r, &g->head[h]);
        key(&r, "grad");
        if (read_i64(&r) != g->n_pred[h] && !r.failed)
            fail(&r, "head %d: grad size differs from pred size", (int)h);
        const int64_t nonzero = read_i64(&r);
        for (int64_t e = 0; e < nonzero && !r.failed; e++) {
            const int64_t x = read_i64(&r);
            const double v = read_f64(&r);
            if (!r.failed && (x < 0 || x >= g->n_pred[h]))
                fail(&r, "head %d: gradient index %lld out of range", (int)h, (long long)x);
            else if (!r.failed)
                g->grad[h][x] = v;
        }
    }
    key(&r, "end");
out:
    free(r.text);
    if (r.failed) {
        yolo_golden_free(g);
        return -1;
    }
    return 0;
}

void yolo_golden_free(yolo_golden *g)
{
    free(g->anchors);
    free(g->offsets);
    free(g->truths);
    g->anchors = NULL;
    g->offsets = NULL;
    g->truths = NULL;
    for (int h = 0; h < RL_YOLO_MAX_HEADS; h++) {
        free(g->pred[h]);
        free(g->grad[h]);
        g->pred[h] = NULL;
        g->grad[h] = NULL;
    }
}
