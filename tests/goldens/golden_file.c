/* Reader of the golden text format.  Every number is written so that strtof
 * (inputs) or strtod (expected values) gives back exactly the value the
 * generator used, so parsing adds no error of its own. */
#include "golden_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_reader.h"


static int pick(reader *r, const char *what, const char *word, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(word, names[i]) == 0)
            return i;
    fail(r, "%s '%s' is unknown", what, word);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = 2 * cap + 65536 + 1;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

int golden_load(const char *path, golden *g, char *err, size_t err_size)
{
    memset(g, 0, sizeof *g);
    reader r = {path, NULL, NULL, 1, err, err_size, 0};
    r.text = slurp(path);
    if (!r.text) {
        snprintf(err, err_size, "%s: cannot read", path);
        return -1;
    }
    r.pos = r.text;

    key(&r, "regionloss-golden");
    if (read_i64(&r) != 1)
        fail(&r, "format version is not 1");
    key(&r, "name");
    snprintf(g->name, sizeof g->name, "%s", read_word(&r));

    static const char *const modes[] = {"spec", "darknet"};
    static const char *const layouts[] = {"nchw", "nhwc"};
    static const char *const norms[] = {"counts", "sum", "images"};
    key(&r, "mode");
    const int mode = pick(&r, "mode", read_word(&r), modes, 2);
    rl_config *c = &g->cfg;
    if (mode == 1)
        rl_config_init_darknet(c);
    else
        rl_config_init(c);
    key(&r, "layout");
    c->layout = (rl_layout)pick(&r, "layout", read_word(&r), layouts, 2);
    key(&r, "grid");
    c->H = (int32_t)read_i64(&r);
    c->W = (int32_t)read_i64(&r);
    c->B = (int32_t)read_i64(&r);
    c->C = (int32_t)read_i64(&r);
    if (!r.failed && (c->H <= 0 || c->W <= 0 || c->B <= 0 || c->C <= 0 || c->B > 1000))
        fail(&r, "grid sizes out of range");
    if (r.failed)
        goto out;
    g->anchors = malloc(2 * (size_t)c->B * sizeof *g->anchors);
    key(&r, "anchors");
    for (int32_t a = 0; a < 2 * c->B && g->anchors; a++)
        g->anchors[a] = read_f32(&r);
    c->anchors = g->anchors;
    key(&r, "lambdas");
    c->lambda_coord = read_f64(&r);
    c->lambda_class = read_f64(&r);
    c->lambda_obj = read_f64(&r);
    c->lambda_noobj = read_f64(&r);
    key(&r, "thresh");
    c->thresh = read_f64(&r);
    key(&r, "norm");
    c->norm = (rl_norm)pick(&r, "norm", read_word(&r), norms, 3);
    key(&r, "rescore");
    c->rescore = (int32_t)read_i64(&r);
    key(&r, "logistic");
    c->logistic_classes = (int32_t)read_i64(&r);
    key(&r, "warmup_seen");
    c->warmup_seen = read_i64(&r);
    key(&r, "warmup_scale");
    c->warmup_scale = read_f64(&r);
    key(&r, "seen");
    g->seen = read_i64(&r);
    key(&r, "n_images");
    g->n_images = (int32_t)read_i64(&r);
    if (!r.failed && (g->n_images <= 0 || g->n_images > 1000))
        fail(&r, "n_images out of range");
    if (r.failed)
        goto out;
    g->offsets = malloc(((size_t)g->n_images + 1) * sizeof *g->offsets);
    key(&r, "offsets");
    for (int32_t n = 0; n <= g->n_images && g->offsets; n++)
        g->offsets[n] = read_i64(&r);
    key(&r, "truths");
    g->n_truths = read_i64(&r);
    if (!r.failed && (g->n_truths < 0 || g->n_truths != g->offsets[g->n_images]))
        fail(&r, "truth count does not match the offsets");
    if (r.failed)
        goto out;
    g->truths = calloc((size_t)g->n_truths + 1, sizeof *g->truths);
    for (int64_t t = 0; t < g->n_truths && g->truths; t++) {
        g->truths[t].cx = read_f32(&r);
        g->truths[t].cy = read_f32(&r);
        g->truths[t].w = read_f32(&r);
        g->truths[t].h = read_f32(&r);
        g->truths[t].cls = (int32_t)read_i64(&r);
    }
    key(&r, "pred");
    g->n_pred = read_i64(&r);
    const int64_t want = (int64_t)g->n_images * c->B * (5 + c->C) * c->H * c->W;
    if (!r.failed && g->n_pred != want)
        fail(&r, "pred has %lld entries, the grid needs %lld", (long long)g->n_pred,
             (long long)want);
    if (r.failed)
        goto out;
    g->pred = malloc((size_t)g->n_pred * sizeof *g->pred);
    g->grad = calloc((size_t)g->n_pred, sizeof *g->grad);
    if (!g->anchors || !g->offsets || !g->truths || !g->pred || !g->grad) {
        fail(&r, "out of memory");
        goto out;
    }
    for (int64_t x = 0; x < g->n_pred; x++)
        g->pred[x] = read_f32(&r);

    key(&r, "parts");
    g->loss = read_f64(&r);
    g->coord = read_f64(&r);
    g->cls = read_f64(&r);
    g->obj = read_f64(&r);
    g->noobj = read_f64(&r);
    g->warmup = read_f64(&r);
    key(&r, "counts");
    g->n_obj = read_i64(&r);
    g->n_noobj = read_i64(&r);
    g->n_conf = read_i64(&r);
    g->n_truths_expected = read_i64(&r);
    key(&r, "diag");
    g->avg_iou = read_f64(&r);
    g->recall50 = read_f64(&r);
    g->recall75 = read_f64(&r);
    g->avg_obj = read_f64(&r);
    g->avg_noobj = read_f64(&r);
    g->avg_cls = read_f64(&r);
    key(&r, "sums");
    g->sum_iou = read_f64(&r);
    g->sum_obj = read_f64(&r);
    g->sum_noobj = read_f64(&r);
    g->sum_cls = read_f64(&r);
    g->n_recall50 = read_i64(&r);
    g->n_recall75 = read_i64(&r);
    key(&r, "darknet");
    golden_darknet *d = &g->darknet;
    d->avg_iou = read_f64(&r);
    d->recall = read_f64(&r);
    d->recall75 = read_f64(&r);
    d->avg_cls = read_f64(&r);
    d->avg_obj = read_f64(&r);
    d->avg_anyobj = read_f64(&r);
    d->cost = read_f64(&r);
    d->count = read_i64(&r);
    key(&r, "grad");
    if (read_i64(&r) != g->n_pred && !r.failed)
        fail(&r, "grad size differs from pred size");
    const int64_t nonzero = read_i64(&r);
    for (int64_t e = 0; e < nonzero && !r.failed; e++) {
        const int64_t x = read_i64(&r);
        const double v = read_f64(&r);
        if (!r.failed && (x < 0 || x >= g->n_pred))
            fail(&r, "gradient index %lld out of range", (long long)x);
        else if (!r.failed)
            g->grad[x] = v;
    }
    key(&r, "end");
out:
    free(r.text);
    if (r.failed) {
        golden_free(g);
        return -1;
    }
    return 0;
}

void golden_free(golden *g)
{
    free(g->anchors);
    free(g->offsets);
    free(g->truths);
    free(g->pred);
    free(g->grad);
    g->anchors = NULL;
    g->offsets = NULL;
    g->truths = NULL;
    g->pred = NULL;
    g->grad = NULL;
}
