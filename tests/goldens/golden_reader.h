/* The tokenizer both golden readers use (golden_file.c for the region
 * loss, yolo_golden_file.c for the [yolo] head): whitespace-separated
 * tokens of a text held in memory, with the file and line of the first
 * error.  Header-only, static: each reader keeps its own copy private. */
#ifndef RL_GOLDEN_READER_H
#define RL_GOLDEN_READER_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
    const char *path;
    char *text;
    char *pos;
    int line;
    char *err;
    size_t err_size;
    int failed;
} reader;

static __attribute__((format(printf, 2, 3))) void fail(reader *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = 1;
    int used = snprintf(r->err, r->err_size, "%s:%d: ", r->path, r->line);
    if (used < 0 || (size_t)used >= r->err_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + used, r->err_size - (size_t)used, fmt, ap);
    va_end(ap);
}

/* Next whitespace-separated token, NUL-terminated in place; NULL at the end. */
static __attribute__((unused)) char *token(reader *r)
{
    if (r->failed)
        return NULL;
    while (*r->pos == ' ' || *r->pos == '\t' || *r->pos == '\n' || *r->pos == '\r') {
        if (*r->pos == '\n')
            r->line++;
        r->pos++;
    }
    if (!*r->pos) {
        fail(r, "unexpected end of file");
        return NULL;
    }
    char *start = r->pos;
    while (*r->pos && *r->pos != ' ' && *r->pos != '\t' && *r->pos != '\n' && *r->pos != '\r')
        r->pos++;
    if (*r->pos) {
        if (*r->pos == '\n')
            r->line++;
        *r->pos++ = '\0';
    }
    return start;
}

static __attribute__((unused)) void key(reader *r, const char *want)
{
    char *t = token(r);
    if (t && strcmp(t, want) != 0)
        fail(r, "expected '%s', found '%s'", want, t);
}

static __attribute__((unused)) int64_t read_i64(reader *r)
{
    char *t = token(r), *end;
    if (!t)
        return 0;
    errno = 0;
    long long v = strtoll(t, &end, 10);
    if (*end || errno)
        fail(r, "'%s' is not an integer", t);
    return (int64_t)v;
}

static __attribute__((unused)) double read_f64(reader *r)
{
    char *t = token(r), *end;
    if (!t)
        return 0;
    double v = strtod(t, &end);
    if (*end)
        fail(r, "'%s' is not a number", t);
    return v;
}

static __attribute__((unused)) float read_f32(reader *r)
{
    char *t = token(r), *end;
    if (!t)
        return 0;
    float v = strtof(t, &end);
    if (*end)
        fail(r, "'%s' is not a number", t);
    return v;
}

static __attribute__((unused)) const char *read_word(reader *r)
{
    const char *t = token(r);
    return t ? t : "";
}

#endif
