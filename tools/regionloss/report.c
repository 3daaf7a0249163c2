/* Results as a field table, JSON text and human-readable text. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t result_fields(const rl_result *r, rl_mode mode, result_field *out)
{
    size_t n = 0;
#define F(k, v) out[n++] = (result_field){k, (double)(v), 0}
#define I(k, v) out[n++] = (result_field){k, (double)(v), 1}
    F("loss", r->loss);
    F("coord", r->coord);
    F("class", r->cls);
    F("obj", r->obj);
    F("noobj", r->noobj);
    if (mode == RL_MODE_DARKNET)
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
    if (mode == RL_MODE_DARKNET) {
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

/* JSON has no NaN or infinity; the library promises finite results for
 * finite inputs, so null only marks a broken promise (and fails a check). */
static int put_value(char *buf, size_t cap, const result_field *f)
{
    if (!isfinite(f->value))
        return snprintf(buf, cap, "null");
    if (f->is_count)
        return snprintf(buf, cap, "%lld", (long long)f->value);
    return snprintf(buf, cap, "%.17g", f->value);
}

char *result_json(const rl_result *r, rl_mode mode)
{
    result_field fields[RESULT_FIELDS_MAX];
    size_t n = result_fields(r, mode, fields);
    size_t cap = 256 + n * 80, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    int nested = 0;
    len += (size_t)snprintf(buf + len, cap - len, "{\n");
    for (size_t k = 0; k < n; k++) {
        const char *dot = strchr(fields[k].key, '.');
        if (dot && !nested) {
            len += (size_t)snprintf(buf + len, cap - len, "  \"%.*s\": {\n",
                                    (int)(dot - fields[k].key), fields[k].key);
            nested = 1;
        }
        const char *name = dot ? dot + 1 : fields[k].key;
        len += (size_t)snprintf(buf + len, cap - len, "%s\"%s\": ", nested ? "    " : "  ", name);
        len += (size_t)put_value(buf + len, cap - len, &fields[k]);
        int last_nested = nested && (k + 1 == n || !strchr(fields[k + 1].key, '.'));
        len += (size_t)snprintf(buf + len, cap - len, last_nested ? "\n  },\n" : ",\n");
        if (last_nested)
            nested = 0;
    }
    snprintf(buf + len, cap - len, "  \"variant\": \"%s\"\n}\n", r->variant ? r->variant : "");
    return buf;
}

void result_print(FILE *f, const rl_result *r, rl_mode mode)
{
    fprintf(f, "variant    %s\n", r->variant ? r->variant : "?");
    fprintf(f, "loss       %.10g\n", r->loss);
    fprintf(f, "  coord    %.10g\n", r->coord);
    fprintf(f, "  class    %.10g\n", r->cls);
    fprintf(f, "  obj      %.10g\n", r->obj);
    fprintf(f, "  noobj    %.10g\n", r->noobj);
    if (mode == RL_MODE_DARKNET)
        fprintf(f, "  warmup   %.10g\n", r->warmup);
    fprintf(f, "slots      n_obj %lld, n_noobj %lld, n_conf %lld\n", (long long)r->n_obj,
            (long long)r->n_noobj, (long long)r->n_conf);
    fprintf(f, "avg_iou    %.6f (recall50 %.6f, recall75 %.6f)\n", r->avg_iou, r->recall50,
            r->recall75);
    fprintf(f, "avg_obj    %.6f, avg_noobj %.6f, avg_cls %.6f\n", r->avg_obj, r->avg_noobj,
            r->avg_cls);
    if (mode == RL_MODE_DARKNET) {
        const rl_darknet_stats *d = &r->darknet;
        /* The fields of darknet's own training line, in its order. */
        fprintf(f, "darknet    Avg IOU: %f, Class: %f, Obj: %f, No Obj: %f, Avg Recall: %f, "
                   "count: %lld\n",
                d->avg_iou, d->avg_cls, d->avg_obj, d->avg_anyobj, d->recall,
                (long long)d->count);
        fprintf(f, "           recall75 %f, cost %.10g\n", d->recall75, d->cost);
    }
}
