/* .npy reading and writing.  The header is a Python dict literal; rather
 * than a general evaluator this accepts exactly the three keys NumPy writes,
 * in any order, each once, with the value types NumPy requires. */
#include "npy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

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

/* A cursor over the header text; every read checks the end first. */
typedef struct cursor {
    const uint8_t *p, *end;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int peek(const cursor *c) { return c->p < c->end ? *c->p : -1; }

/* A quoted Python string without escapes (NumPy never writes any here). */
static int read_string(cursor *c, char *buf, size_t cap, const char *what, char *err,
                       size_t errlen)
{
    int q = peek(c);
    if (q != '\'' && q != '"')
        return fail(err, errlen, "header: expected a quoted string for %s", what);
    c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        uint8_t ch = *c->p;
        if (ch == '\\' || ch < 0x20 || ch > 0x7e)
            return fail(err, errlen, "header: unsupported character 0x%02x in %s", ch, what);
        if (n + 1 >= cap)
            return fail(err, errlen, "header: %s is longer than %zu characters", what, cap - 1);
        buf[n++] = (char)ch;
        c->p++;
    }
    if (c->p >= c->end)
        return fail(err, errlen, "header: unterminated string in %s", what);
    c->p++;
    buf[n] = '\0';
    return 0;
}

static int read_bool(cursor *c, int *out, char *err, size_t errlen)
{
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        c->p += 4;
        *out = 1;
        return 0;
    }
    if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        c->p += 5;
        *out = 0;
        return 0;
    }
    return fail(err, errlen, "header: 'fortran_order' is not True or False");
}

/* Dimensions above 2^62 cannot describe a file anyway; stopping there keeps
 * every later product check simple. */
#define NPY_DIM_LIMIT ((uint64_t)1 << 62)

static int read_dim(cursor *c, uint64_t *out, char *err, size_t errlen)
{
    int ch = peek(c);
    if (ch < '0' || ch > '9')
        return fail(err, errlen, "header: 'shape' holds something other than a non-negative "
                                 "integer");
    uint64_t v = 0;
    while ((ch = peek(c)) >= '0' && ch <= '9') {
        v = v * 10 + (uint64_t)(ch - '0');
        if (v > NPY_DIM_LIMIT)
            return fail(err, errlen, "header: a 'shape' dimension is larger than 2^62");
        c->p++;
    }
    *out = v;
    return 0;
}

static int read_shape(cursor *c, npy_array *a, char *err, size_t errlen)
{
    if (peek(c) != '(')
        return fail(err, errlen, "header: 'shape' is not a tuple");
    c->p++;
    int n = 0, commas = 0;
    skip_ws(c);
    while (peek(c) != ')') {
        if (n == NPY_MAX_DIMS)
            return fail(err, errlen, "header: 'shape' has more than %d dimensions", NPY_MAX_DIMS);
        if (read_dim(c, &a->shape[n], err, errlen))
            return -1;
        n++;
        skip_ws(c);
        if (peek(c) == ',') {
            c->p++;
            commas++;
            skip_ws(c);
        } else if (peek(c) != ')') {
            return fail(err, errlen, "header: 'shape' tuple is malformed");
        }
    }
    c->p++;
    /* "(5)" is the integer 5 in Python, not a tuple; NumPy rejects it too. */
    if (n == 1 && commas == 0)
        return fail(err, errlen, "header: 'shape' (%llu) is not a tuple (a 1-tuple is (n,))",
                    (unsigned long long)a->shape[0]);
    a->ndim = n;
    return 0;
}

static const struct {
    const char *descr, *name;
    npy_dtype dtype;
} npy_types[] = {
    {"<f4", "float32", NPY_F32},
    {"<f8", "float64", NPY_F64},
    {"<f2", "float16", NPY_F16},
    {"<u2", "uint16", NPY_U16},
};
#define NPY_TYPES (sizeof npy_types / sizeof npy_types[0])

const char *npy_descr(npy_dtype t)
{
    for (size_t k = 0; k < NPY_TYPES; k++)
        if (npy_types[k].dtype == t)
            return npy_types[k].descr;
    return "?";
}

const char *npy_type_name(npy_dtype t)
{
    for (size_t k = 0; k < NPY_TYPES; k++)
        if (npy_types[k].dtype == t)
            return npy_types[k].name;
    return "?";
}

static int parse_dtype(const char *descr, npy_array *a, char *err, size_t errlen)
{
    for (size_t k = 0; k < NPY_TYPES; k++)
        if (strcmp(descr, npy_types[k].descr) == 0) {
            a->dtype = npy_types[k].dtype;
            return 0;
        }
    /* NumPy writes a one-byte-wide or native type with '|' or '=', never a
     * 16-bit one on a little-endian machine; '>' is big-endian. */
    for (size_t k = 0; k < NPY_TYPES; k++)
        if (descr[0] == '>' && strcmp(descr + 1, npy_types[k].descr + 1) == 0)
            return fail(err, errlen, "header: dtype '%s' is big-endian; only little-endian "
                                     "'<f4', '<f8', '<f2' or '<u2' is read",
                        descr);
    return fail(err, errlen, "header: dtype '%s' is not float32, float64, float16 or uint16 "
                             "(bfloat16 bits): '<f4', '<f8', '<f2' or '<u2'",
                descr);
}

static int parse_header(const uint8_t *h, size_t hlen, npy_array *a, char *err, size_t errlen)
{
    cursor c = {h, h + hlen};
    enum { K_DESCR = 1, K_FORTRAN = 2, K_SHAPE = 4 };
    int seen = 0, fortran = 0;
    char key[32], descr[32];
    skip_ws(&c);
    if (peek(&c) != '{')
        return fail(err, errlen, "header: does not start with '{'");
    c.p++;
    for (;;) {
        skip_ws(&c);
        if (peek(&c) == '}')
            break;
        if (read_string(&c, key, sizeof key, "a key", err, errlen))
            return -1;
        int k = strcmp(key, "descr") == 0           ? K_DESCR
                : strcmp(key, "fortran_order") == 0 ? K_FORTRAN
                : strcmp(key, "shape") == 0         ? K_SHAPE
                                                    : 0;
        if (!k)
            return fail(err, errlen, "header: unexpected key '%s'", key);
        if (seen & k)
            return fail(err, errlen, "header: key '%s' appears twice", key);
        seen |= k;
        skip_ws(&c);
        if (peek(&c) != ':')
            return fail(err, errlen, "header: expected ':' after '%s'", key);
        c.p++;
        skip_ws(&c);
        int rc = k == K_DESCR     ? read_string(&c, descr, sizeof descr, "'descr'", err, errlen)
                 : k == K_FORTRAN ? read_bool(&c, &fortran, err, errlen)
                                  : read_shape(&c, a, err, errlen);
        if (rc)
            return -1;
        skip_ws(&c);
        if (peek(&c) == ',') {
            c.p++;
        } else if (peek(&c) != '}') {
            return fail(err, errlen, "header: expected ',' or '}' after '%s'", key);
        }
    }
    c.p++;
    skip_ws(&c);
    if (c.p != c.end)
        return fail(err, errlen, "header: unexpected text after the closing '}'");
    const char *missing = !(seen & K_DESCR)     ? "descr"
                          : !(seen & K_FORTRAN) ? "fortran_order"
                          : !(seen & K_SHAPE)   ? "shape"
                                                : NULL;
    if (missing)
        return fail(err, errlen, "header: key '%s' is missing", missing);
    if (parse_dtype(descr, a, err, errlen))
        return -1;
    if (fortran)
        return fail(err, errlen, "header: 'fortran_order' is True; only C-order arrays are read "
                                 "(save np.ascontiguousarray(x))");
    return 0;
}

static void shape_text(const npy_array *a, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < a->ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, d ? ", %llu" : "%llu",
                              (unsigned long long)a->shape[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, a->ndim == 1 ? ",)" : ")");
}

int npy_parse(const uint8_t *data, size_t len, npy_array *out, char *err, size_t errlen)
{
    npy_array a;
    memset(&a, 0, sizeof a);
    *out = a; /* zeroed on every failure */
    if (!data && len)
        return fail(err, errlen, "no data");
    if (len < sizeof npy_magic || memcmp(data, npy_magic, sizeof npy_magic) != 0)
        return fail(err, errlen, "magic: not a .npy file (it does not start with \\x93NUMPY)");
    if (len < 8)
        return fail(err, errlen, "version: file ends inside the version bytes");
    unsigned major = data[6], minor = data[7];
    if (major < 1 || major > 3 || minor != 0)
        return fail(err, errlen, "version: %u.%u is not a .npy version (1.0, 2.0 or 3.0)", major,
                    minor);
    size_t pre = major == 1 ? 10 : 12;
    if (len < pre)
        return fail(err, errlen, "header length: file ends inside the header length field");
    uint64_t hlen = (uint64_t)data[8] | (uint64_t)data[9] << 8;
    if (major > 1)
        hlen |= (uint64_t)data[10] << 16 | (uint64_t)data[11] << 24;
    if (hlen > len - pre)
        return fail(err, errlen, "header length: %llu bytes, but only %zu follow",
                    (unsigned long long)hlen, len - pre);
    if (parse_header(data + pre, (size_t)hlen, &a, err, errlen))
        return -1;

    uint64_t count = 1;
    for (int d = 0; d < a.ndim; d++) {
        if (a.shape[d] && count > UINT64_MAX / 8 / a.shape[d])
            return fail(err, errlen, "shape: the product of the dimensions overflows");
        count *= a.shape[d];
    }
    a.count = count;
    char st[256];
    uint64_t need = count * npy_itemsize(a.dtype), have = len - pre - hlen;
    if (have < need) {
        shape_text(&a, st, sizeof st);
        return fail(err, errlen, "data: shape %s of %s needs %llu bytes, the file has %llu "
                                 "(truncated?)",
                    st, npy_type_name(a.dtype), (unsigned long long)need,
                    (unsigned long long)have);
    }
    if (have > need) {
        shape_text(&a, st, sizeof st);
        return fail(err, errlen, "data: %llu bytes follow the %llu of shape %s",
                    (unsigned long long)(have - need), (unsigned long long)need, st);
    }
    a.data = data + pre + hlen;
    *out = a;
    return 0;
}

float npy_f16_to_f32(uint16_t h)
{
    /* 1 sign, 5 exponent (bias 15), 10 mantissa bits */
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    uint32_t bits;
    float f;
    if (e == 0x1f) {
        bits = sign | 0x7f800000u | (m << 13); /* inf, or NaN with its payload */
    } else if (e == 0) {
        f = (float)m * 0x1p-24f; /* zero or subnormal: exact */
        return sign ? -f : f;
    } else {
        bits = sign | ((e + 112) << 23) | (m << 13);
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}

float npy_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint16_t u16_at(const uint8_t *p, uint64_t k)
{
    return (uint16_t)(p[2 * k] | p[2 * k + 1] << 8);
}

void npy_to_u16(const npy_array *a, uint16_t *out)
{
    if (npy_itemsize(a->dtype) != 2)
        return;
    for (uint64_t k = 0; k < a->count; k++)
        out[k] = u16_at(a->data, k);
}

void npy_to_f32(const npy_array *a, float *out)
{
    const uint8_t *p = a->data;
    for (uint64_t k = 0; k < a->count; k++) {
        if (a->dtype == NPY_F32) {
            uint32_t bits = 0;
            for (int b = 0; b < 4; b++)
                bits |= (uint32_t)p[4 * k + b] << (8 * b);
            memcpy(&out[k], &bits, sizeof bits);
        } else if (a->dtype == NPY_F64) {
            uint64_t bits = 0;
            double v;
            for (int b = 0; b < 8; b++)
                bits |= (uint64_t)p[8 * k + b] << (8 * b);
            memcpy(&v, &bits, sizeof bits);
            out[k] = (float)v;
        } else if (a->dtype == NPY_F16) {
            out[k] = npy_f16_to_f32(u16_at(p, k));
        } else {
            out[k] = npy_bf16_to_f32(u16_at(p, k));
        }
    }
}

int npy_encode_f32(const float *values, const uint64_t *shape, int ndim, uint8_t **out,
                   size_t *out_len, char *err, size_t errlen)
{
    return npy_encode(values, NPY_F32, shape, ndim, out, out_len, err, errlen);
}

int npy_encode(const void *values, npy_dtype dtype, const uint64_t *shape, int ndim,
               uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
    if (dtype != NPY_F32 && dtype != NPY_F16 && dtype != NPY_U16)
        return fail(err, errlen, "dtype %s is not written (float32, float16 or uint16)",
                    npy_type_name(dtype));
    const size_t item = npy_itemsize(dtype);
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return fail(err, errlen, "rank %d is not in [0, %d]", ndim, NPY_MAX_DIMS);
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] > NPY_DIM_LIMIT || (shape[d] && count > UINT64_MAX / 8 / shape[d]))
            return fail(err, errlen, "shape: the product of the dimensions overflows");
        count *= shape[d];
    }
    char dims[NPY_MAX_DIMS * 22 + 4] = "";
    size_t n = 0;
    for (int d = 0; d < ndim; d++)
        n += (size_t)snprintf(dims + n, sizeof dims - n, d ? ", %llu" : "%llu",
                              (unsigned long long)shape[d]);
    if (ndim == 1)
        snprintf(dims + n, sizeof dims - n, ",");
    char dict[sizeof dims + 64];
    int dlen = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, "
                                           "'shape': (%s), }",
                        npy_descr(dtype), dims);
    /* NumPy pads the header with spaces and a final newline so that the data
     * starts on a 64-byte boundary. */
    size_t pre = 10, hlen = (size_t)dlen + 1;
    if (pre + hlen > 65535 + 10)
        pre = 12;
    hlen += (64 - (pre + hlen) % 64) % 64;
    if (count > (SIZE_MAX - pre - hlen) / item)
        return fail(err, errlen, "data: %llu values do not fit in memory",
                    (unsigned long long)count);
    size_t total = pre + hlen + (size_t)count * item;
    uint8_t *buf = malloc(total);
    if (!buf)
        return fail(err, errlen, "out of memory for %zu bytes", total);
    memcpy(buf, npy_magic, sizeof npy_magic);
    buf[6] = pre == 10 ? 1 : 2;
    buf[7] = 0;
    for (size_t b = 0; b < pre - 8; b++)
        buf[8 + b] = (uint8_t)(hlen >> (8 * b));
    memcpy(buf + pre, dict, (size_t)dlen);
    memset(buf + pre + dlen, ' ', hlen - (size_t)dlen - 1);
    buf[pre + hlen - 1] = '\n';
    uint8_t *d = buf + pre + hlen;
    for (uint64_t k = 0; k < count; k++) {
        uint32_t bits;
        if (item == 4) {
            memcpy(&bits, (const float *)values + k, sizeof bits);
        } else {
            bits = ((const uint16_t *)values)[k];
        }
        for (size_t b = 0; b < item; b++)
            d[item * k + b] = (uint8_t)(bits >> (8 * b));
    }
    *out = buf;
    *out_len = total;
    return 0;
}
