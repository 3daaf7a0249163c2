/* The parsers of rl_toolio on byte buffers, as the fuzzers will call them:
 * valid forms NumPy and the tool write, every strict prefix of a valid input
 * rejected (each in a heap block of exactly its size, so a read past the end
 * is an out-of-bounds read under a sanitizer or valgrind), and the overflow
 * and strictness cases. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "labels.h"
#include "npy.h"
#include "support.h"

static uint8_t *exact_copy(const void *data, size_t len)
{
    uint8_t *b = malloc(len ? len : 1);
    cr_assert(b);
    if (len)
        memcpy(b, data, len);
    return b;
}

static int parse_npy_copy(const void *data, size_t len, npy_array *a, char *err, size_t errlen)
{
    uint8_t *b = exact_copy(data, len);
    int rc = npy_parse(b, len, a, err, errlen);
    /* a->data would dangle; the callers only look at the header. */
    free(b);
    return rc;
}

/* ---- .npy ---- */

Test(toolio_npy, reads_numpy_headers_in_every_version_and_spelling)
{
    const float values[6] = {1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-30f};
    const char *dicts[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        "{\"shape\": (2, 3), \"descr\": \"<f4\", \"fortran_order\": False}",
        "{ 'fortran_order' : False , 'shape' : ( 2 , 3 , ) , 'descr' : '<f4' }",
    };
    for (int v = 1; v <= 3; v++)
        for (size_t d = 0; d < sizeof dicts / sizeof dicts[0]; d++) {
            size_t len;
            uint8_t *bytes = npy_bytes(dicts[d], v, values, sizeof values, &len);
            npy_array a;
            char err[256];
            cr_assert_eq(npy_parse(bytes, len, &a, err, sizeof err), 0, "v%d %s: %s", v,
                         dicts[d], err);
            cr_expect_eq(a.dtype, NPY_F32);
            cr_expect_eq(a.ndim, 2);
            cr_expect(a.shape[0] == 2 && a.shape[1] == 3 && a.count == 6);
            float out[6];
            npy_to_f32(&a, out);
            cr_expect(memcmp(out, values, sizeof out) == 0);
            free(bytes);
        }
}

Test(toolio_npy, float64_is_rounded_to_nearest_float)
{
    const double values[3] = {0.1, -1e300, 1.0 + 1e-12};
    size_t len;
    uint8_t *bytes = npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 1,
                               values, sizeof values, &len);
    npy_array a;
    char err[256];
    cr_assert_eq(npy_parse(bytes, len, &a, err, sizeof err), 0, "%s", err);
    cr_expect_eq(a.dtype, NPY_F64);
    float out[3];
    npy_to_f32(&a, out);
    cr_expect_eq(out[0], 0.1f);
    cr_expect(isinf(out[1]) && out[1] < 0);
    cr_expect_eq(out[2], 1.0f);
    free(bytes);
}

Test(toolio_npy, scalar_and_empty_arrays)
{
    npy_array a;
    char err[256];
    float one = 7.0f;
    size_t len;
    uint8_t *b = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 1, &one,
                           4, &len);
    cr_assert_eq(npy_parse(b, len, &a, err, sizeof err), 0, "%s", err);
    cr_expect(a.ndim == 0 && a.count == 1);
    free(b);
    b = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", 1, NULL, 0,
                  &len);
    cr_assert_eq(npy_parse(b, len, &a, err, sizeof err), 0, "%s", err);
    cr_expect(a.ndim == 2 && a.count == 0);
    free(b);
}

Test(toolio_npy, every_prefix_of_a_valid_file_is_rejected)
{
    float values[12];
    for (int k = 0; k < 12; k++)
        values[k] = (float)k;
    size_t len;
    uint8_t *full = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 2,
                              values, sizeof values, &len);
    for (size_t n = 0; n < len; n++) {
        npy_array a;
        char err[256] = "";
        cr_expect_eq(parse_npy_copy(full, n, &a, err, sizeof err), -1, "prefix %zu accepted", n);
        cr_expect(err[0], "prefix %zu: no message", n);
    }
    npy_array a;
    char err[256];
    cr_expect_eq(parse_npy_copy(full, len, &a, err, sizeof err), 0, "%s", err);
    free(full);
}

Test(toolio_npy, strictness_and_overflow)
{
    const struct {
        const char *dict;
        const char *want;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615, 2), }",
         "2^62"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 2), }",
         "overflows"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, 2147483648, 4), }",
         "overflows"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }", "non-negative"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1), "
         "}",
         "more than 16"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", "malformed"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }", "not a tuple"},
        {"{'descr': '<f4', 'fortran_order': false, 'shape': (2,), }", "True or False"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "twice"},
        {"{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", "'<i2'"},
        {"{'descr': '>f2', 'fortran_order': False, 'shape': (2,), }", "big-endian"},
        {"{'descr': '>u2', 'fortran_order': False, 'shape': (2,), }", "big-endian"},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (5,), }", "truncated"},
        {"{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", "big-endian"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", "after the closing"},
        {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", "header"},
        {"'descr': '<f4'", "'{'"},
    };
    float data[4] = {0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len;
        uint8_t *b = npy_bytes(cases[c].dict, 1, data, 8, &len);
        npy_array a;
        memset(&a, 0xA5, sizeof a);
        char err[256] = "";
        cr_expect_eq(parse_npy_copy(b, len, &a, err, sizeof err), -1, "accepted: %s",
                     cases[c].dict);
        cr_expect(strstr(err, cases[c].want), "%s: message '%s' lacks '%s'", cases[c].dict, err,
                  cases[c].want);
        cr_expect(a.data == NULL && a.count == 0 && a.ndim == 0, "%s: *out not zeroed",
                  cases[c].dict);
        free(b);
    }
}

Test(toolio_npy, encode_round_trips_and_aligns_like_numpy)
{
    float values[2 * 3 * 4];
    for (int k = 0; k < 24; k++)
        values[k] = (float)k * 0.5f - 3.0f;
    const uint64_t shapes[][4] = {{2, 3, 4, 0}, {24, 0, 0, 0}};
    const int ranks[] = {3, 1};
    for (int s = 0; s < 2; s++) {
        uint8_t *bytes;
        size_t len;
        char err[256];
        cr_assert_eq(npy_encode_f32(values, shapes[s], ranks[s], &bytes, &len, err, sizeof err), 0,
                     "%s", err);
        size_t hlen = (size_t)bytes[8] | (size_t)bytes[9] << 8;
        cr_expect_eq((10 + hlen) % 64, 0, "data not 64-byte aligned");
        cr_expect_eq(bytes[10 + hlen - 1], '\n');
        cr_expect_eq(len, 10 + hlen + sizeof values);
        npy_array a;
        cr_assert_eq(npy_parse(bytes, len, &a, err, sizeof err), 0, "%s", err);
        cr_expect_eq(a.ndim, ranks[s]);
        for (int d = 0; d < ranks[s]; d++)
            cr_expect_eq(a.shape[d], shapes[s][d]);
        float out[24];
        npy_to_f32(&a, out);
        cr_expect(memcmp(out, values, sizeof out) == 0);
        if (ranks[s] == 1)
            cr_expect(memmem(bytes, len, "(24,)", 5), "a 1-tuple is written (n,)");
        free(bytes);
    }
}

/* float16 and bfloat16 (as '<u2' bits): every kind of value widens exactly,
 * the bits come out as the file holds them, and both encode back. */
Test(toolio_npy, half_types_read_exactly_and_round_trip)
{
    const uint16_t f16[8] = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0x7c00, 0xfc00, 0x8000};
    const float f16_want[8] = {1.0f, -2.0f, 0x1p-24f, 0x3ffp-24f, 65504.0f, INFINITY, -INFINITY,
                               -0.0f};
    const uint16_t bf16[8] = {0x3f80, 0xc000, 0x0001, 0x7f7f, 0x7f80, 0xff80, 0x8000, 0x3eab};
    const float bf16_want[8] = {1.0f, -2.0f, 0x1p-133f, 0x1.fep127f, INFINITY, -INFINITY, -0.0f,
                                0x1.56p-2f};
    const struct {
        const char *dict;
        const uint16_t *bits;
        const float *want;
        npy_dtype type;
    } cases[] = {
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (2, 4), }", f16, f16_want, NPY_F16},
        {"{'descr': '<u2', 'fortran_order': False, 'shape': (2, 4), }", bf16, bf16_want,
         NPY_U16},
    };
    for (int c = 0; c < 2; c++) {
        uint8_t le[16];
        for (int k = 0; k < 8; k++) {
            le[2 * k] = (uint8_t)(cases[c].bits[k] & 0xff);
            le[2 * k + 1] = (uint8_t)(cases[c].bits[k] >> 8);
        }
        size_t len;
        uint8_t *bytes = npy_bytes(cases[c].dict, 1, le, sizeof le, &len);
        npy_array a;
        char err[256];
        cr_assert_eq(npy_parse(bytes, len, &a, err, sizeof err), 0, "%s", err);
        cr_expect_eq(a.dtype, cases[c].type);
        cr_expect_eq(npy_itemsize(a.dtype), 2);
        cr_expect(a.ndim == 2 && a.count == 8);
        float out[8];
        uint16_t bits[8];
        npy_to_f32(&a, out);
        npy_to_u16(&a, bits);
        for (int k = 0; k < 8; k++) {
            cr_expect(memcmp(&out[k], &cases[c].want[k], sizeof(float)) == 0,
                      "%s entry %d: %a, want %a", npy_descr(cases[c].type), k, (double)out[k],
                      (double)cases[c].want[k]);
            cr_expect_eq(bits[k], cases[c].bits[k]);
        }
        uint8_t *enc;
        size_t enc_len;
        cr_assert_eq(npy_encode(bits, cases[c].type, a.shape, a.ndim, &enc, &enc_len, err,
                                sizeof err),
                     0, "%s", err);
        cr_expect_eq(enc_len, len, "NumPy's padding, 2 bytes an element");
        cr_expect(memcmp(enc, bytes, len) == 0, "%s: encoding differs from NumPy's",
                  npy_descr(cases[c].type));
        free(enc);
        free(bytes);
    }
    /* NaN keeps its payload bits (and stays a NaN). */
    cr_expect(isnan(npy_f16_to_f32(0x7e01)) && isnan(npy_bf16_to_f32(0xff81)));
    uint8_t *enc;
    size_t enc_len;
    char err[256];
    const uint64_t shape[1] = {1};
    cr_expect_eq(npy_encode(f16, NPY_F64, shape, 1, &enc, &enc_len, err, sizeof err), -1);
    cr_expect(strstr(err, "float64"), "%s", err);
}

/* ---- labels ---- */

static int parse_labels_copy(const char *text, size_t len, label_list *l, char *err,
                             size_t errlen)
{
    uint8_t *b = exact_copy(text, len);
    int rc = labels_parse((const char *)b, len, l, err, errlen);
    free(b);
    return rc;
}

Test(toolio_labels, groups_by_image_keeping_file_order)
{
    const char *text = "# header\n"
                       "1 0 0.5 0.5 0.1 0.1\n"
                       "   \n"
                       "0 2 0.25 0.75 0.5 1   # trailing comment\n"
                       "1\t1\t0\t1\t1\t0.2\r\n"
                       "0 1 1 0 0.3 0.4"; /* no final newline */
    label_list l;
    char err[256];
    cr_assert_eq(parse_labels_copy(text, strlen(text), &l, err, sizeof err), 0, "%s", err);
    cr_assert_eq(l.count, 4);
    cr_expect_eq(l.items[0].line, 2);
    cr_expect_eq(l.items[3].line, 6);
    rl_box *t;
    int64_t *off;
    cr_assert_eq(labels_to_truths(&l, 3, 3, &t, &off, err, sizeof err), 0, "%s", err);
    cr_expect(off[0] == 0 && off[1] == 2 && off[2] == 4 && off[3] == 4);
    const rl_box want[4] = {{0.25f, 0.75f, 0.5f, 1.0f, 2}, {1.0f, 0.0f, 0.3f, 0.4f, 1},
                            {0.5f, 0.5f, 0.1f, 0.1f, 0}, {0.0f, 1.0f, 1.0f, 0.2f, 1}};
    for (int k = 0; k < 4; k++)
        cr_expect(t[k].cx == want[k].cx && t[k].cy == want[k].cy && t[k].w == want[k].w &&
                      t[k].h == want[k].h && t[k].cls == want[k].cls,
                  "truth %d", k);
    free(t);
    free(off);
    labels_free(&l);
}

Test(toolio_labels, empty_input_has_no_truths)
{
    label_list l;
    char err[256];
    cr_assert_eq(labels_parse(NULL, 0, &l, err, sizeof err), 0);
    cr_expect_eq(l.count, 0);
    rl_box *t;
    int64_t *off;
    cr_assert_eq(labels_to_truths(&l, 2, 1, &t, &off, err, sizeof err), 0, "%s", err);
    cr_expect(off[0] == 0 && off[1] == 0 && off[2] == 0);
    free(t);
    free(off);
    labels_free(&l);
}

Test(toolio_labels, prefixes_never_read_past_the_buffer)
{
    /* Every prefix parses or fails cleanly; a prefix that cuts a number
     * short may still parse, so only the absence of overreads is checked. */
    const char *text = "0 1 0.123456 0.5 0.25 0.75\n1 2 0.5 0.5 0.5 0.5\n";
    for (size_t n = 0; n <= strlen(text); n++) {
        label_list l;
        char err[256];
        if (parse_labels_copy(text, n, &l, err, sizeof err) == 0)
            labels_free(&l);
    }
}

Test(toolio_labels, rejections)
{
    const struct {
        const char *text;
        size_t len; /* 0: strlen */
        const char *want;
    } cases[] = {
        {"0 1 0.5 0.5 0.5\x00 0.5\n", 21, "NUL"},
        {"0 1 0.5 0.5 0.5 "
         "0.50000000000000000000000000000000000000000000000000000000000000001\n",
         0, "longer than"},
        {"0 1 0.5 0.5 inf 0.5\n", 0, "w = inf is not finite"},
        {"0 1 0.5 0.5 1e39 0.5\n", 0, "not finite"},
        {"0 1 0.5 0.5 0.5 1.0000001\n", 0, "h = 1.0000001"},
        {"0 1 0.5 0.5 0.5 0.5x\n", 0, "h '0.5x'"},
        {"99999999999999999999 1 0.5 0.5 0.5 0.5\n", 0, "image_index"},
        {"0 1 -0.0001 0.5 0.5 0.5\n", 0, "cx = -0.0001"},
        {"-2 1 0.5 0.5 0.5 0.5\n", 0, "image_index -2 is negative"},
        {"0 -3 0.5 0.5 0.5 0.5\n", 0, "class -3 is negative"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len = cases[c].len ? cases[c].len : strlen(cases[c].text);
        label_list l;
        memset(&l, 0xA5, sizeof l); /* a caller's uninitialised variable */
        char err[256] = "";
        cr_expect_eq(parse_labels_copy(cases[c].text, len, &l, err, sizeof err), -1,
                     "accepted case %zu", c);
        cr_expect(l.count == 0 && l.items == NULL, "case %zu: list not empty after failure", c);
        cr_expect(strstr(err, "line 1: ") && strstr(err, cases[c].want),
                  "case %zu: '%s' lacks '%s'", c, err, cases[c].want);
    }
}

Test(toolio_labels, indices_checked_against_the_batch)
{
    label_list l;
    char err[256];
    const char *text = "0 0 0.5 0.5 0.5 0.5\n2 4 0.5 0.5 0.5 0.5\n";
    cr_assert_eq(labels_parse(text, strlen(text), &l, err, sizeof err), 0, "%s", err);
    rl_box *t;
    int64_t *off;
    cr_expect_eq(labels_to_truths(&l, 2, 5, &t, &off, err, sizeof err), -1);
    cr_expect(strstr(err, "line 2: image_index 2 is not in [0, 2)"), "%s", err);
    cr_expect_eq(labels_to_truths(&l, 3, 4, &t, &off, err, sizeof err), -1);
    cr_expect(strstr(err, "line 2: class 4 is not in [0, 4)"), "%s", err);
    cr_assert_eq(labels_to_truths(&l, 3, 5, &t, &off, err, sizeof err), 0, "%s", err);
    free(t);
    free(off);
    labels_free(&l);
}

/* ---- JSON ---- */

static int parse_json_copy(const char *text, size_t len, json_object *o, char *err,
                           size_t errlen)
{
    uint8_t *b = exact_copy(text, len);
    int rc = json_parse((const char *)b, len, o, err, errlen);
    free(b);
    return rc;
}

static const char *golden_text = "{\n"
                                 "  \"loss\": 12.745259768443217,\n"
                                 "  \"n_obj\": 10,\n"
                                 "  \"tiny\": -1.5e-300,\n"
                                 "  \"darknet\": {\n"
                                 "    \"cost\": 0.5,\n"
                                 "    \"count\": 0\n"
                                 "  },\n"
                                 "  \"variant\": \"reference\"\n"
                                 "}\n";

Test(toolio_json, reads_the_golden_form_exactly)
{
    json_object o;
    char err[256];
    cr_assert_eq(json_parse(golden_text, strlen(golden_text), &o, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(o.count, 6);
    cr_expect_eq(json_get(&o, "loss")->number, 12.745259768443217);
    cr_expect_eq(json_get(&o, "n_obj")->number, 10.0);
    cr_expect_eq(json_get(&o, "tiny")->number, -1.5e-300);
    cr_expect_eq(json_get(&o, "darknet.cost")->number, 0.5);
    cr_expect_eq(json_get(&o, "darknet.count")->number, 0.0);
    cr_expect(json_get(&o, "variant")->is_string);
    cr_expect_str_eq(json_get(&o, "variant")->string, "reference");
    cr_expect_null(json_get(&o, "cost"));
    json_free(&o);
}

/* A [yolo] network's golden file: "heads", an array of objects that hold
 * objects in turn, flattened as "heads.k.member". */
static const char *network_text = "{\n"
                                  "  \"loss\": 3,\n"
                                  "  \"darknet\": {\n"
                                  "    \"cost\": 1.5\n"
                                  "  },\n"
                                  "  \"heads\": [\n"
                                  "    {\n"
                                  "      \"loss\": 1,\n"
                                  "      \"darknet\": {\n"
                                  "        \"count\": 2\n"
                                  "      }\n"
                                  "    },\n"
                                  "    {\n"
                                  "      \"loss\": 2,\n"
                                  "      \"darknet\": {\n"
                                  "        \"count\": 0\n"
                                  "      }\n"
                                  "    }\n"
                                  "  ],\n"
                                  "  \"variant\": \"generic\"\n"
                                  "}\n";

Test(toolio_json, reads_a_network_of_heads)
{
    json_object o;
    char err[256];
    cr_assert_eq(json_parse(network_text, strlen(network_text), &o, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(o.count, 7);
    cr_expect_eq(json_get(&o, "loss")->number, 3);
    cr_expect_eq(json_get(&o, "darknet.cost")->number, 1.5);
    cr_expect_eq(json_get(&o, "heads.0.loss")->number, 1);
    cr_expect_eq(json_get(&o, "heads.0.darknet.count")->number, 2);
    cr_expect_eq(json_get(&o, "heads.1.loss")->number, 2);
    cr_expect_eq(json_get(&o, "heads.1.darknet.count")->number, 0);
    cr_expect_str_eq(json_get(&o, "variant")->string, "generic");
    cr_expect_null(json_get(&o, "heads.2.loss"));
    json_free(&o);
    size_t len = strlen(network_text);
    for (size_t n = 0; n + 1 < len; n++) {
        char e[256] = "";
        cr_expect_eq(parse_json_copy(network_text, n, &o, e, sizeof e), -1, "prefix %zu accepted",
                     n);
    }
}

Test(toolio_json, every_prefix_is_rejected)
{
    size_t len = strlen(golden_text);
    /* The last byte is a newline after the closing brace: dropping it alone
     * still leaves a complete object. */
    for (size_t n = 0; n + 1 < len; n++) {
        json_object o;
        char err[256] = "";
        cr_expect_eq(parse_json_copy(golden_text, n, &o, err, sizeof err), -1,
                     "prefix %zu accepted", n);
        cr_expect(strstr(err, "line "), "prefix %zu: message '%s'", n, err);
    }
}

Test(toolio_json, rejects_what_the_tool_never_writes)
{
    const char *cases[] = {
        "{\"a\": [1]}",          "{\"a\": true}",       "{\"a\": null}",
        "{\"a\": {\"b\": {}}}",  "{\"a\": 1, \"a\": 2}", "{\"a\": 01}",
        "{\"a\": +1}",           "{\"a\": 1.}",         "{\"a\": .5}",
        "{\"a\": 1e}",           "{\"a\": 1e999}",      "{\"a\": \"x\\ny\"}",
        "{\"a\": 1} {}",         "{\"a\" 1}",           "{\"a\": 1,}",
        "[1]",                   "",                    "{'a': 1}",
        "{\"a\": -}",            "{\"a\": 1 \"b\": 2}",
        /* arrays: of objects only, at the top only, not empty, no deeper */
        "{\"a\": []}",           "{\"a\": [{}, 1]}",   "{\"a\": [{},]}",
        "{\"a\": {\"b\": [{}]}}", "{\"a\": [{\"b\": [{}]}]}",
        "{\"a\": [{\"b\": {\"c\": {}}}]}", "{\"a\": [{\"b\": 1}, {\"b\": 1}], \"a.0.b\": 2}",
        "{\"a\": [{}}",          "{\"a\": [[{}]]}",
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        json_object o;
        memset(&o, 0xA5, sizeof o);
        char err[256] = "";
        cr_expect_eq(parse_json_copy(cases[c], strlen(cases[c]), &o, err, sizeof err), -1,
                     "accepted: %s", cases[c]);
        cr_expect(o.count == 0 && o.fields == NULL, "%s: object not empty after failure",
                  cases[c]);
        cr_expect(err[0], "no message for %s", cases[c]);
    }
}
