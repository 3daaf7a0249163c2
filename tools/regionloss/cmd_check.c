/* check: recompute and compare with what golden recorded.  An entry passes
 * when |got - expected| <= atol + rtol*|expected|; the report ranks the
 * failures by how many times over that bound they are. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "compute.h"
#include "json.h"
#include "npy.h"
#include "report.h"
#include "yolo.h"

#define WORST_MAX 10

typedef struct diff {
    char field[JSON_KEY_MAX];
    char index[128];
    double expected, got, score;
    const char *note; /* instead of numbers, for a field only one side has */
} diff;

typedef struct tally {
    diff worst[WORST_MAX];
    int n_worst;
    long long bad_fields, bad_grad, fields, grad;
    diff best_pass; /* the largest score among passing entries */
    int have_pass;
} tally;

static void keep_worst(tally *t, const diff *d)
{
    int pos = t->n_worst;
    while (pos > 0 && t->worst[pos - 1].score < d->score)
        pos--;
    if (pos >= WORST_MAX)
        return;
    int last = t->n_worst < WORST_MAX ? t->n_worst : WORST_MAX - 1;
    memmove(&t->worst[pos + 1], &t->worst[pos], (size_t)(last - pos) * sizeof *d);
    t->worst[pos] = *d;
    if (t->n_worst < WORST_MAX)
        t->n_worst++;
}

/* Returns 1 when the entry fails. */
static int compare(tally *t, const char *field, const char *index, double expected, double got,
                   double rtol, double atol)
{
    double d = fabs(got - expected), tol = atol + rtol * fabs(expected);
    int bad = !(d <= tol);
    diff e;
    snprintf(e.field, sizeof e.field, "%s", field);
    snprintf(e.index, sizeof e.index, "%s", index);
    e.expected = expected;
    e.got = got;
    e.note = NULL;
    e.score = tol > 0 ? d / tol : (d > 0 ? INFINITY : 0.0);
    if (isnan(e.score))
        e.score = INFINITY;
    if (bad)
        keep_worst(t, &e);
    else if (!t->have_pass || e.score > t->best_pass.score) {
        t->best_pass = e;
        t->have_pass = 1;
    }
    return bad;
}

static void missing(tally *t, const char *field, const char *note)
{
    diff e;
    memset(&e, 0, sizeof e);
    snprintf(e.field, sizeof e.field, "%s", field);
    snprintf(e.index, sizeof e.index, "-");
    e.score = INFINITY;
    e.note = note;
    keep_worst(t, &e);
    t->bad_fields++;
}

/* Every field computed against the golden file, and every number of the
 * golden file against the fields computed. */
static void compare_field_list(tally *t, const json_object *golden, const result_field *f,
                               size_t n, double rtol, double atol)
{
    for (size_t k = 0; k < n; k++) {
        const json_field *g = json_get(golden, f[k].key);
        t->fields++;
        if (!g || g->is_string)
            missing(t, f[k].key, g ? "a string in the golden file" : "absent from the golden file");
        else
            t->bad_fields += compare(t, f[k].key, "-", g->number, f[k].value, rtol, atol);
    }
    for (size_t k = 0; k < golden->count; k++) {
        const json_field *g = &golden->fields[k];
        if (g->is_string && strcmp(g->key, "variant") == 0)
            continue;
        int known = 0;
        for (size_t j = 0; j < n && !known; j++)
            known = strcmp(f[j].key, g->key) == 0;
        if (!known)
            missing(t, g->key,
                    "in the golden file, not computed by this run (other mode, layer or heads?)");
    }
}

static void compare_fields(tally *t, const json_object *golden, const rl_result *res,
                           report_kind kind, double rtol, double atol)
{
    result_field f[RESULT_FIELDS_MAX];
    size_t n = result_fields(res, kind, f);
    compare_field_list(t, golden, f, n, rtol, atol);
}

static void unravel(const uint64_t *shape, int ndim, uint64_t k, char *buf, size_t cap)
{
    uint64_t idx[NPY_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = shape[d] ? k % shape[d] : 0;
        k = shape[d] ? k / shape[d] : 0;
    }
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, d ? ", %llu" : "%llu",
                              (unsigned long long)idx[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

static int shapes_equal(const npy_array *a, const tool_inputs *in)
{
    if (a->ndim != in->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != in->shape[d])
            return 0;
    return 1;
}

/* grad: the run's gradient, in->count elements of in->grad_dtype; field
 * names it in the report ("grad", "heads.1.grad"). */
static void compare_grad(tally *t, const char *field, const npy_array *golden,
                         const float *expected, const tool_inputs *in, const void *grad,
                         double rtol, double atol)
{
    if (!shapes_equal(golden, in)) {
        missing(t, field, "the golden gradient's shape differs from the predictions'");
        return;
    }
    for (size_t k = 0; k < in->count; k++) {
        t->grad++;
        double e = expected[k], g = elem_to_f32(grad, in->grad_dtype, k);
        double d = fabs(g - e);
        /* Most entries pass; format the index only for those that are kept. */
        if (d <= atol + rtol * fabs(e) && t->have_pass &&
            d / (atol + rtol * fabs(e)) <= t->best_pass.score)
            continue;
        char index[128];
        unravel(in->shape, in->ndim, k, index, sizeof index);
        char full[160];
        snprintf(full, sizeof full, "%zu %s", k, index);
        t->bad_grad += compare(t, field, full, e, g, rtol, atol);
    }
}

static void print_report(const tally *t, const tool_opts *o, int have_grad,
                         const char *golden_variant, const char *variant)
{
    int failed = t->n_worst > 0;
    printf("check %s: %s (golden variant %s, this run %s; pass when |got - expected| <= %g + "
           "%g*|expected|)\n",
           failed ? "FAILED" : "passed", o->golden, golden_variant, variant, o->atol, o->rtol);
    printf("  result fields: %lld of %lld differ\n", t->bad_fields, t->fields);
    if (have_grad)
        printf("  gradient entries: %lld of %lld differ\n", t->bad_grad, t->grad);
    if (!failed) {
        if (t->have_pass)
            printf("  closest to the bound: %s %s, expected %.17g, got %.17g (%.3g of the "
                   "bound)\n",
                   t->best_pass.field, t->best_pass.index, t->best_pass.expected,
                   t->best_pass.got, t->best_pass.score);
        return;
    }
    printf("  worst differences:\n");
    printf("  %-20s %-28s %-25s %-25s %s\n", "field", "index", "expected", "got",
           "|got - expected|");
    for (int k = 0; k < t->n_worst; k++) {
        const diff *d = &t->worst[k];
        if (d->note)
            printf("  %-20s %-28s %s\n", d->field, d->index, d->note);
        else
            printf("  %-20s %-28s %-25.17g %-25.17g %.3g\n", d->field, d->index, d->expected,
                   d->got, fabs(d->got - d->expected));
    }
}

static int load_golden(const char *path, json_object *obj)
{
    uint8_t *data;
    size_t len;
    char err[512];
    if (read_file(path, &data, &len, err, sizeof err)) {
        fprintf(stderr, "regionloss: %s: %s\n", path, err);
        return EXIT_ERROR;
    }
    int rc = json_parse((const char *)data, len, obj, err, sizeof err);
    free(data);
    if (rc) {
        fprintf(stderr, "regionloss: %s: %s\n", path, err);
        return EXIT_ERROR;
    }
    return 0;
}

/* Any dtype the tool reads, widened to float; '<u2' (bfloat16 bits, what
 * golden writes for bfloat16 predictions) only with --dtype bf16. */
static int load_grad_golden(const char *path, int dtype, npy_array *a, float **values)
{
    uint8_t *data;
    size_t len;
    char err[512];
    if (read_file(path, &data, &len, err, sizeof err)) {
        fprintf(stderr, "regionloss: %s: %s\n", path, err);
        return EXIT_ERROR;
    }
    if (npy_parse(data, len, a, err, sizeof err)) {
        free(data);
        fprintf(stderr, "regionloss: %s: %s\n", path, err);
        return EXIT_ERROR;
    }
    if (a->dtype == NPY_U16 && dtype != RL_DTYPE_BF16) {
        free(data);
        fprintf(stderr, "regionloss: %s: dtype '<u2' (uint16) is read only as bfloat16 bit "
                        "patterns, with --dtype bf16\n", path);
        return EXIT_ERROR;
    }
    *values = malloc((a->count ? a->count : 1) * sizeof **values);
    if (!*values) {
        free(data);
        fprintf(stderr, "regionloss: %s: out of memory\n", path);
        return EXIT_ERROR;
    }
    npy_to_f32(a, *values);
    a->data = NULL; /* the bytes go; shape and count stay */
    free(data);
    return 0;
}

/* --layer yolo: the total's fields and every head's ("heads.h.<key>"), and
 * with --grad-golden one gradient file per head. */
static int yolo_check(const tool_opts *o)
{
    const yolo_opts *y = &o->yolo;
    json_object golden = {NULL, 0};
    npy_array ga[TOOL_MAX_HEADS];
    float *gvalues[TOOL_MAX_HEADS] = {NULL};
    void *grads[TOOL_MAX_HEADS] = {NULL};
    int rc = load_golden(o->golden, &golden);
    for (int h = 0; !rc && h < y->n_grad_golden; h++)
        rc = load_grad_golden(y->grad_goldens[h], o->dtype, &ga[h], &gvalues[h]);
    yolo_inputs in;
    rl_result total, heads[TOOL_MAX_HEADS];
    if (!rc)
        rc = yolo_compute_from_files(o, &in, &total, heads, y->n_grad_golden ? grads : NULL);
    if (rc) {
        json_free(&golden);
        for (int h = 0; h < TOOL_MAX_HEADS; h++)
            free(gvalues[h]);
        return rc;
    }
    tally t;
    memset(&t, 0, sizeof t);
    static result_field f[YOLO_FIELDS_MAX];
    static char keys[YOLO_FIELDS_MAX][RESULT_KEY_MAX];
    size_t n = yolo_result_fields(&total, heads, in.n_heads, f, keys);
    compare_field_list(&t, &golden, f, n, o->rtol, o->atol);
    for (int h = 0; h < y->n_grad_golden; h++) {
        char field[32];
        snprintf(field, sizeof field, "heads.%d.grad", h);
        compare_grad(&t, field, &ga[h], gvalues[h], &in.heads[h], grads[h], o->rtol, o->atol);
    }
    const json_field *gv = json_get(&golden, "variant");
    print_report(&t, o, y->n_grad_golden > 0, gv && gv->is_string ? gv->string : "?",
                 total.variant);
    json_free(&golden);
    for (int h = 0; h < in.n_heads; h++) {
        free(gvalues[h]);
        free(grads[h]);
    }
    yolo_free(&in);
    return t.n_worst ? EXIT_CHECK_FAILED : EXIT_OK;
}

int cmd_check(const tool_opts *o)
{
    if (o->layer == LAYER_YOLO)
        return yolo_check(o);
    json_object golden = {NULL, 0};
    npy_array ga;
    float *gvalues = NULL;
    void *grad = NULL;
    int rc = load_golden(o->golden, &golden);
    if (!rc && o->grad_golden)
        rc = load_grad_golden(o->grad_golden, o->dtype, &ga, &gvalues);
    tool_inputs in;
    rl_result res;
    if (!rc)
        rc = compute_from_files(o, &in, &res, o->grad_golden ? &grad : NULL);
    if (rc) {
        json_free(&golden);
        free(gvalues);
        return rc;
    }
    tally t;
    memset(&t, 0, sizeof t);
    compare_fields(&t, &golden, &res, report_kind_of(o->cfg.mode), o->rtol, o->atol);
    if (o->grad_golden)
        compare_grad(&t, "grad", &ga, gvalues, &in, grad, o->rtol, o->atol);
    const json_field *gv = json_get(&golden, "variant");
    print_report(&t, o, o->grad_golden != NULL, gv && gv->is_string ? gv->string : "?",
                 res.variant);
    json_free(&golden);
    free(gvalues);
    free(grad);
    inputs_free(&in);
    return t.n_worst ? EXIT_CHECK_FAILED : EXIT_OK;
}
