/* Label text to truth boxes.  Each field is copied into a small NUL-terminated
 * buffer before conversion, because strtod and strtoll would otherwise read
 * past a line (or the buffer) that is not NUL-terminated. */
#include "labels.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_MAX 64

static const char *const field_names[6] = {"image_index", "class", "cx", "cy", "w", "h"};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int is_sep(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end)
        return -1;
    *out = (float)v;
    return 0;
}

static int push(label_list *l, const label_entry *e)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        label_entry *items = realloc(l->items, cap * sizeof *items);
        if (!items)
            return -1;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->count++] = *e;
    return 0;
}

/* One line without its newline.  Returns 0 with *has_box set when the line
 * held a box, or -1 with a message. */
static int parse_line(const char *s, size_t n, int64_t line, label_entry *e, int *has_box,
                      char *err, size_t errlen)
{
    const char *hash = memchr(s, '#', n);
    if (hash)
        n = (size_t)(hash - s);
    if (memchr(s, '\0', n))
        return fail(err, errlen, "line %lld: contains a NUL byte", (long long)line);
    char fields[6][FIELD_MAX];
    int nf = 0;
    size_t k = 0;
    while (k < n) {
        while (k < n && is_sep(s[k]))
            k++;
        if (k == n)
            break;
        size_t start = k;
        while (k < n && !is_sep(s[k]))
            k++;
        if (nf == 6)
            return fail(err, errlen, "line %lld: more than 6 fields (expected image_index class "
                                     "cx cy w h)",
                        (long long)line);
        if (k - start >= FIELD_MAX)
            return fail(err, errlen, "line %lld: field %s is longer than %d characters",
                        (long long)line, field_names[nf], FIELD_MAX - 1);
        memcpy(fields[nf], s + start, k - start);
        fields[nf][k - start] = '\0';
        nf++;
    }
    *has_box = nf > 0;
    if (nf == 0)
        return 0;
    if (nf < 6)
        return fail(err, errlen, "line %lld: %d field%s, expected 6 (image_index class cx cy w h)",
                    (long long)line, nf, nf == 1 ? "" : "s");
    if (parse_int(fields[0], &e->image))
        return fail(err, errlen, "line %lld: image_index '%s' is not an integer", (long long)line,
                    fields[0]);
    if (parse_int(fields[1], &e->cls))
        return fail(err, errlen, "line %lld: class '%s' is not an integer", (long long)line,
                    fields[1]);
    if (e->image < 0 || e->cls < 0)
        return fail(err, errlen, "line %lld: %s %lld is negative", (long long)line,
                    e->image < 0 ? "image_index" : "class",
                    (long long)(e->image < 0 ? e->image : e->cls));
    float *v[4] = {&e->cx, &e->cy, &e->w, &e->h};
    for (int f = 0; f < 4; f++) {
        const char *name = field_names[2 + f];
        if (parse_float(fields[2 + f], v[f]))
            return fail(err, errlen, "line %lld: %s '%s' is not a number", (long long)line, name,
                        fields[2 + f]);
        if (!isfinite(*v[f]))
            return fail(err, errlen, "line %lld: %s = %s is not finite (as float32)",
                        (long long)line, name, fields[2 + f]);
        int ok = f < 2 ? (*v[f] >= 0.0f && *v[f] <= 1.0f) : (*v[f] > 0.0f && *v[f] <= 1.0f);
        if (!ok)
            return fail(err, errlen, "line %lld: %s = %s is not in %s", (long long)line, name,
                        fields[2 + f], f < 2 ? "[0, 1]" : "(0, 1]");
    }
    e->line = line;
    return 0;
}

int labels_parse(const char *text, size_t len, label_list *out, char *err, size_t errlen)
{
    label_list l = {NULL, 0, 0};
    int64_t line = 0;
    size_t pos = 0;
    /* Empty from the start, so every failure below leaves it empty. */
    *out = l;
    if (!text && len)
        return fail(err, errlen, "no text");
    while (pos < len) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl != NULL);
        line++;
        label_entry e;
        int has_box = 0;
        if (parse_line(s, n, line, &e, &has_box, err, errlen)) {
            labels_free(&l);
            return -1;
        }
        if (has_box && push(&l, &e)) {
            labels_free(&l);
            return fail(err, errlen, "line %lld: out of memory", (long long)line);
        }
    }
    *out = l;
    return 0;
}

void labels_free(label_list *list)
{
    if (!list)
        return;
    free(list->items);
    list->items = NULL;
    list->count = list->cap = 0;
}

int labels_to_truths(const label_list *list, int32_t n_images, int32_t n_classes,
                     rl_box **truths, int64_t **offsets, char *err, size_t errlen)
{
    if (n_images <= 0)
        return fail(err, errlen, "the batch has %d images", (int)n_images);
    for (size_t t = 0; t < list->count; t++) {
        const label_entry *e = &list->items[t];
        if (e->image < 0 || e->image >= n_images)
            return fail(err, errlen, "line %lld: image_index %lld is not in [0, %d) (the "
                                     "predictions hold %d image%s)",
                        (long long)e->line, (long long)e->image, (int)n_images, (int)n_images,
                        n_images == 1 ? "" : "s");
        if (e->cls < 0 || e->cls >= n_classes)
            return fail(err, errlen, "line %lld: class %lld is not in [0, %d) (C = %d from the "
                                     "predictions' shape)",
                        (long long)e->line, (long long)e->cls, (int)n_classes, (int)n_classes);
    }
    int64_t *off = calloc((size_t)n_images + 1, sizeof *off);
    rl_box *boxes = malloc((list->count ? list->count : 1) * sizeof *boxes);
    if (!off || !boxes) {
        free(off);
        free(boxes);
        return fail(err, errlen, "out of memory for %zu truths", list->count);
    }
    /* Counting sort by image: stable, so each image keeps the file's order. */
    for (size_t t = 0; t < list->count; t++)
        off[list->items[t].image + 1]++;
    for (int32_t n = 0; n < n_images; n++)
        off[n + 1] += off[n];
    int64_t *next = malloc((size_t)n_images * sizeof *next);
    if (!next) {
        free(off);
        free(boxes);
        return fail(err, errlen, "out of memory for %d images", (int)n_images);
    }
    memcpy(next, off, (size_t)n_images * sizeof *next);
    for (size_t t = 0; t < list->count; t++) {
        const label_entry *e = &list->items[t];
        rl_box *b = &boxes[next[e->image]++];
        b->cx = e->cx;
        b->cy = e->cy;
        b->w = e->w;
        b->h = e->h;
        b->cls = (int32_t)e->cls;
    }
    free(next);
    *truths = boxes;
    *offsets = off;
    return 0;
}
