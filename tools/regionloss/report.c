/* Results as a field table, JSON text and human-readable text. */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

size_t result_fields(const rl_result *r, report_kind kind, result_field *out)
{
    size_t n = 0;
    const int darknet = kind == REPORT_DARKNET || kind == REPORT_YOLO;
#define F(k, v) out[n++] = (result_field){k, (double)(v), 0}
#define I(k, v) out[n++] = (result_field){k, (double)(v), 1}
    F("loss", r->loss);
    F("coord", r->coord);
    F("class", r->cls);
    F("obj", r->obj);
    F("noobj", r->noobj);
    if (kind == REPORT_DARKNET)
        F("warmup", r->warmup);
    I("n_obj", r->n_obj);
    I("n_noobj", r->n_noobj);
    I("n_conf", r->n_conf);
    F("avg_iou", r->avg_iou);
    F("recall50", r->recall50);
    F("recall75", r->recall75);
    F("avg_obj", r->avg_obj);
    F("avg_noobj", r->avg_noobj);
    F("avg_cls", r->avg_cls);
    if (darknet) {
        const rl_darknet_stats *d = &r->darknet;
        F("darknet.avg_iou", d->avg_iou);
        F("darknet.recall", d->recall);
        F("darknet.recall75", d->recall75);
        F("darknet.avg_cls", d->avg_cls);
        F("darknet.avg_obj", d->avg_obj);
        F("darknet.avg_anyobj", d->avg_anyobj);
        I("darknet.count", d->count);
        F("darknet.cost", d->cost);
    }
#undef F
#undef I
    return n;
}

size_t yolo_result_fields(const rl_result *total, const rl_result *heads, int n_heads,
                          result_field *out, char (*keys)[RESULT_KEY_MAX])
{
    size_t n = result_fields(total, REPORT_YOLO, out);
    for (int h = 0; h < n_heads; h++) {
        size_t m = result_fields(&heads[h], REPORT_YOLO, out + n);
        for (size_t k = n; k < n + m; k++) {
            snprintf(keys[k], RESULT_KEY_MAX, "heads.%d.%s", h, out[k].key);
            out[k].key = keys[k];
        }
        n += m;
    }
    return n;
}

/* A growing text buffer; oom once an allocation failed. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = 2 * b->cap + (size_t)n;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

/* JSON has no NaN or infinity; the library promises finite results for
 * finite inputs, so null only marks a broken promise (and fails a check). */
static void put_value(sbuf *b, const result_field *f)
{
    if (!isfinite(f->value))
        sb_printf(b, "null");
    else if (f->is_count)
        sb_printf(b, "%lld", (long long)f->value);
    else
        sb_printf(b, "%.17g", f->value);
}

/* The members of one object at indentation ind; "outer.inner" keys become
 * a nested object.  more: a member follows the last one (a comma). */
static void put_members(sbuf *b, const result_field *fields, size_t n, const char *ind, int more)
{
    int nested = 0;
    for (size_t k = 0; k < n; k++) {
        const char *dot = strchr(fields[k].key, '.');
        if (dot && !nested) {
            sb_printf(b, "%s\"%.*s\": {\n", ind, (int)(dot - fields[k].key), fields[k].key);
            nested = 1;
        }
        const char *name = dot ? dot + 1 : fields[k].key;
        sb_printf(b, "%s%s\"%s\": ", ind, nested ? "  " : "", name);
        put_value(b, &fields[k]);
        const int last = k + 1 == n;
        const int last_nested = nested && (last || !strchr(fields[k + 1].key, '.'));
        if (last_nested) {
            sb_printf(b, "\n%s}%s\n", ind, last && !more ? "" : ",");
            nested = 0;
        } else {
            sb_printf(b, "%s\n", last && !more ? "" : ",");
        }
    }
}

static char *sb_finish(sbuf *b)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

static int sb_init(sbuf *b, size_t cap)
{
    b->len = 0;
    b->cap = cap;
    b->oom = 0;
    b->p = malloc(cap);
    if (!b->p)
        return -1;
    b->p[0] = '\0';
    return 0;
}

char *result_json(const rl_result *r, report_kind kind)
{
    result_field fields[RESULT_FIELDS_MAX];
    size_t n = result_fields(r, kind, fields);
    sbuf b;
    if (sb_init(&b, 256 + n * 80))
        return NULL;
    sb_printf(&b, "{\n");
    put_members(&b, fields, n, "  ", 1);
    sb_printf(&b, "  \"variant\": \"%s\"\n}\n", r->variant ? r->variant : "");
    return sb_finish(&b);
}

char *yolo_result_json(const rl_result *total, const rl_result *heads, int n_heads)
{
    result_field fields[RESULT_FIELDS_MAX];
    sbuf b;
    if (sb_init(&b, (size_t)(1 + n_heads) * RESULT_FIELDS_MAX * 80 + 256))
        return NULL;
    sb_printf(&b, "{\n");
    size_t n = result_fields(total, REPORT_YOLO, fields);
    put_members(&b, fields, n, "  ", 1);
    sb_printf(&b, "  \"heads\": [\n");
    for (int h = 0; h < n_heads; h++) {
        n = result_fields(&heads[h], REPORT_YOLO, fields);
        sb_printf(&b, "    {\n");
        put_members(&b, fields, n, "      ", 0);
        sb_printf(&b, "    }%s\n", h + 1 < n_heads ? "," : "");
    }
    sb_printf(&b, "  ],\n");
    sb_printf(&b, "  \"variant\": \"%s\"\n}\n", total->variant ? total->variant : "");
    return sb_finish(&b);
}

void result_print_parts(FILE *f, const rl_result *r, report_kind kind)
{
    fprintf(f, "loss       %.10g\n", r->loss);
    fprintf(f, "  coord    %.10g\n", r->coord);
    fprintf(f, "  class    %.10g\n", r->cls);
    fprintf(f, "  obj      %.10g\n", r->obj);
    fprintf(f, "  noobj    %.10g\n", r->noobj);
    if (kind == REPORT_DARKNET)
        fprintf(f, "  warmup   %.10g\n", r->warmup);
    fprintf(f, "slots      n_obj %lld, n_noobj %lld, n_conf %lld\n", (long long)r->n_obj,
            (long long)r->n_noobj, (long long)r->n_conf);
    fprintf(f, "avg_iou    %.6f (recall50 %.6f, recall75 %.6f)\n", r->avg_iou, r->recall50,
            r->recall75);
    fprintf(f, "avg_obj    %.6f, avg_noobj %.6f, avg_cls %.6f\n", r->avg_obj, r->avg_noobj,
            r->avg_cls);
    const rl_darknet_stats *d = &r->darknet;
    if (kind == REPORT_DARKNET) {
        /* The fields of darknet's own training line, in its order. */
        fprintf(f, "darknet    Avg IOU: %f, Class: %f, Obj: %f, No Obj: %f, Avg Recall: %f, "
                   "count: %lld\n",
                d->avg_iou, d->avg_cls, d->avg_obj, d->avg_anyobj, d->recall,
                (long long)d->count);
        fprintf(f, "           recall75 %f, cost %.10g\n", d->recall75, d->cost);
    } else if (kind == REPORT_YOLO) {
        /* forward_yolo_layer's line, in its order. */
        fprintf(f, "darknet    Avg IOU: %f, Class: %f, Obj: %f, No Obj: %f, .5R: %f, .75R: %f, "
                   "count: %lld\n",
                d->avg_iou, d->avg_cls, d->avg_obj, d->avg_anyobj, d->recall, d->recall75,
                (long long)d->count);
        fprintf(f, "           cost %.10g\n", d->cost);
    }
}

void result_print(FILE *f, const rl_result *r, report_kind kind)
{
    fprintf(f, "variant    %s\n", r->variant ? r->variant : "?");
    result_print_parts(f, r, kind);
}
