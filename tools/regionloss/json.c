/* The strict JSON subset of json.h, as a recursive-descent parser with a
 * fixed depth: the top object, its objects and arrays of objects, and one
 * object inside each of those. */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *start, *p, *end;
    json_object obj;
    size_t cap;
    char *err;
    size_t errlen;
} parser;

static int fail(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(parser *ps, const char *fmt, ...)
{
    if (!ps->err || !ps->errlen)
        return -1;
    int line = 1, col = 1;
    for (const char *q = ps->start; q < ps->p; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    int n = snprintf(ps->err, ps->errlen, "line %d, column %d: ", line, col);
    if (n >= 0 && (size_t)n < ps->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int peek(const parser *ps) { return ps->p < ps->end ? (unsigned char)*ps->p : -1; }

static int expect(parser *ps, char c)
{
    skip_ws(ps);
    if (peek(ps) != c)
        return fail(ps, "expected '%c'", c);
    ps->p++;
    return 0;
}

static int read_string(parser *ps, char *buf, size_t cap)
{
    if (peek(ps) != '"')
        return fail(ps, "expected a string");
    ps->p++;
    size_t n = 0;
    while (peek(ps) != '"') {
        int c = peek(ps);
        if (c < 0)
            return fail(ps, "unterminated string");
        if (c == '\\' || c < 0x20 || c > 0x7e)
            return fail(ps, "unsupported character 0x%02x in a string", (unsigned)c);
        if (n + 1 >= cap)
            return fail(ps, "string longer than %zu characters", cap - 1);
        buf[n++] = (char)c;
        ps->p++;
    }
    ps->p++;
    buf[n] = '\0';
    return 0;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* JSON's number grammar exactly (no leading '+', no leading zeros, no bare
 * '.'), then strtod on a NUL-terminated copy. */
static int read_number(parser *ps, double *out)
{
    const char *s = ps->p;
    if (peek(ps) == '-')
        ps->p++;
    if (peek(ps) == '0') {
        ps->p++;
    } else if (is_digit(peek(ps))) {
        while (is_digit(peek(ps)))
            ps->p++;
    } else {
        return fail(ps, "expected a number");
    }
    if (peek(ps) == '.') {
        ps->p++;
        if (!is_digit(peek(ps)))
            return fail(ps, "expected a digit after '.'");
        while (is_digit(peek(ps)))
            ps->p++;
    }
    if (peek(ps) == 'e' || peek(ps) == 'E') {
        ps->p++;
        if (peek(ps) == '+' || peek(ps) == '-')
            ps->p++;
        if (!is_digit(peek(ps)))
            return fail(ps, "expected a digit in the exponent");
        while (is_digit(peek(ps)))
            ps->p++;
    }
    char buf[64];
    size_t n = (size_t)(ps->p - s);
    if (n >= sizeof buf)
        return fail(ps, "number longer than %zu characters", sizeof buf - 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    if (!isfinite(*out))
        return fail(ps, "number %s is outside the range of a double", buf);
    return 0;
}

static int add_field(parser *ps, const json_field *f)
{
    for (size_t k = 0; k < ps->obj.count; k++)
        if (strcmp(ps->obj.fields[k].key, f->key) == 0)
            return fail(ps, "key \"%s\" appears twice", f->key);
    if (ps->obj.count == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 32;
        json_field *fields = realloc(ps->obj.fields, cap * sizeof *fields);
        if (!fields)
            return fail(ps, "out of memory");
        ps->obj.fields = fields;
        ps->cap = cap;
    }
    ps->obj.fields[ps->obj.count++] = *f;
    return 0;
}

static int read_object(parser *ps, const char *prefix, int nest, int arrays);

/* An array of objects (a [yolo] network's heads): element k's members come
 * out as "key.k.member". */
static int read_array(parser *ps, const char *key)
{
    ps->p++; /* '[' */
    skip_ws(ps);
    if (peek(ps) != '{')
        return fail(ps, "an array holds objects only");
    for (int k = 0;; k++) {
        char inner[JSON_KEY_MAX + 16];
        snprintf(inner, sizeof inner, "%s.%d.", key, k);
        if (read_object(ps, inner, 1, 0))
            return -1;
        skip_ws(ps);
        if (peek(ps) == ',') {
            ps->p++;
            skip_ws(ps);
            continue;
        }
        return expect(ps, ']');
    }
}

/* An object's members; prefix is "" at the top and "outer." one level in.
 * nest: how many levels of objects may still open inside it; arrays:
 * whether a member may be an array (at the top only). */
static int read_object(parser *ps, const char *prefix, int nest, int arrays)
{
    if (expect(ps, '{'))
        return -1;
    skip_ws(ps);
    if (peek(ps) == '}') {
        ps->p++;
        return 0;
    }
    for (;;) {
        char name[JSON_KEY_MAX];
        skip_ws(ps);
        if (read_string(ps, name, sizeof name))
            return -1;
        json_field f;
        memset(&f, 0, sizeof f);
        if ((size_t)snprintf(f.key, sizeof f.key, "%s%s", prefix, name) >= sizeof f.key)
            return fail(ps, "key \"%s%s\" is too long", prefix, name);
        if (expect(ps, ':'))
            return -1;
        skip_ws(ps);
        int c = peek(ps);
        if (c == '{') {
            if (nest <= 0)
                return fail(ps, "objects nest only one level deep");
            char inner[JSON_KEY_MAX + 1];
            snprintf(inner, sizeof inner, "%s.", f.key);
            if (read_object(ps, inner, nest - 1, 0))
                return -1;
        } else if (c == '[') {
            if (!arrays)
                return fail(ps, "arrays are allowed only at the top level");
            if (read_array(ps, f.key))
                return -1;
        } else {
            if (c == '"') {
                f.is_string = 1;
                if (read_string(ps, f.string, sizeof f.string))
                    return -1;
            } else if (read_number(ps, &f.number)) {
                return -1;
            }
            if (add_field(ps, &f))
                return -1;
        }
        skip_ws(ps);
        if (peek(ps) == ',') {
            ps->p++;
            continue;
        }
        return expect(ps, '}');
    }
}

int json_parse(const char *text, size_t len, json_object *out, char *err, size_t errlen)
{
    parser ps;
    memset(&ps, 0, sizeof ps);
    *out = ps.obj; /* empty on every failure */
    ps.start = ps.p = text;
    ps.end = text ? text + len : text;
    ps.err = err;
    ps.errlen = errlen;
    int rc = read_object(&ps, "", 1, 1);
    if (rc == 0) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            rc = fail(&ps, "unexpected text after the object");
    }
    if (rc) {
        json_free(&ps.obj);
        return -1;
    }
    *out = ps.obj;
    return 0;
}

const json_field *json_get(const json_object *obj, const char *key)
{
    for (size_t k = 0; k < obj->count; k++)
        if (strcmp(obj->fields[k].key, key) == 0)
            return &obj->fields[k];
    return NULL;
}

void json_free(json_object *obj)
{
    if (!obj)
        return;
    free(obj->fields);
    obj->fields = NULL;
    obj->count = 0;
}
