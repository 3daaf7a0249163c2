/* Fuzz harness for the tool's .npy reader (tools/regionloss/npy.h).
 *
 * The input is a whole file.  It is copied into a buffer of exactly its
 * size, so that AddressSanitizer sees any read past the end (AFL++'s own
 * buffer is larger).  Properties, any violation aborts:
 *  - npy_parse returns 0 or -1; -1 comes with a message;
 *  - an accepted file describes itself: a known dtype, 0..NPY_MAX_DIMS
 *    dimensions, count = the product of the shape, and the data is exactly
 *    the file's last count * itemsize bytes (trailing bytes are an error);
 *  - npy_to_f32 converts the data (ASan watches the reads);
 *  - what npy_encode_f32 writes from it parses back to the same shape and
 *    the same float bits;
 *  - a 16-bit array written back in its own dtype (npy_encode) parses back
 *    to the same bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_driver.h"
#include "npy.h"

/* Beyond this many elements the round trip is skipped: the input itself
 * cannot be larger than AFL++'s 1 MB limit, but a float64 file converts to
 * half as many bytes, an empty shape to none; the cap only bounds memory. */
#define ROUND_TRIP_MAX ((uint64_t)1 << 22)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *file = malloc(size ? size : 1);
    FUZZ_CHECK(file, "out of memory");
    memcpy(file, data, size);

    npy_array a;
    char err[256];
    memset(err, 0, sizeof err);
    int rc = npy_parse(file, size, &a, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "npy_parse returned %d", rc);
    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0', "npy_parse failed without a message");
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL, "message not terminated");
        free(file);
        return 0;
    }

    FUZZ_CHECK(a.dtype == NPY_F32 || a.dtype == NPY_F64 || a.dtype == NPY_F16 ||
                   a.dtype == NPY_U16,
               "dtype %d", (int)a.dtype);
    FUZZ_CHECK(a.ndim >= 0 && a.ndim <= NPY_MAX_DIMS, "ndim %d", a.ndim);
    /* The product with overflow detection: an accepted shape must not wrap. */
    unsigned __int128 prod = 1;
    for (int d = 0; d < a.ndim; d++) {
        prod *= a.shape[d];
        if (prod > ((unsigned __int128)1 << 64))
            prod = (unsigned __int128)1 << 64;
    }
    FUZZ_CHECK(prod == a.count, "count %llu but the shape's product is %s",
               (unsigned long long)a.count, prod >> 64 ? "at least 2^64" : "different");
    const unsigned __int128 bytes = (unsigned __int128)a.count * npy_itemsize(a.dtype);
    FUZZ_CHECK(a.data >= file && a.data <= file + size, "data pointer outside the file");
    FUZZ_CHECK(bytes == (unsigned __int128)(size_t)(file + size - a.data),
               "data is %llu bytes, the file has %zu after the header",
               (unsigned long long)bytes, (size_t)(file + size - a.data));

    float *values = malloc((size_t)a.count * sizeof *values + 1);
    FUZZ_CHECK(values, "out of memory for %llu floats", (unsigned long long)a.count);
    npy_to_f32(&a, values);

    if (a.count <= ROUND_TRIP_MAX) {
        uint8_t *enc = NULL;
        size_t enc_len = 0;
        char eerr[256] = "";
        int erc = npy_encode_f32(values, a.shape, a.ndim, &enc, &enc_len, eerr, sizeof eerr);
        FUZZ_CHECK(erc == 0, "npy_encode_f32 failed on a parsed shape: %s", eerr);
        npy_array b;
        char perr[256] = "";
        FUZZ_CHECK(npy_parse(enc, enc_len, &b, perr, sizeof perr) == 0,
                   "our own encoding does not parse: %s", perr);
        FUZZ_CHECK(b.dtype == NPY_F32 && b.ndim == a.ndim && b.count == a.count,
                   "round trip changed dtype/rank/count");
        FUZZ_CHECK(memcmp(b.shape, a.shape, (size_t)a.ndim * sizeof a.shape[0]) == 0,
                   "round trip changed the shape");
        float *back = malloc((size_t)b.count * sizeof *back + 1);
        FUZZ_CHECK(back, "out of memory");
        npy_to_f32(&b, back);
        FUZZ_CHECK(memcmp(back, values, (size_t)a.count * sizeof *back) == 0,
                   "round trip changed float bits");
        free(back);
        free(enc);
        if (npy_itemsize(a.dtype) == 2) {
            uint16_t *bits = malloc((size_t)a.count * sizeof *bits + 1);
            uint16_t *again = malloc((size_t)a.count * sizeof *again + 1);
            FUZZ_CHECK(bits && again, "out of memory");
            npy_to_u16(&a, bits);
            FUZZ_CHECK(npy_encode(bits, a.dtype, a.shape, a.ndim, &enc, &enc_len, eerr,
                                  sizeof eerr) == 0,
                       "npy_encode failed on a parsed 16-bit shape: %s", eerr);
            FUZZ_CHECK(npy_parse(enc, enc_len, &b, perr, sizeof perr) == 0 && b.dtype == a.dtype &&
                           b.count == a.count,
                       "our own 16-bit encoding does not parse back: %s", perr);
            npy_to_u16(&b, again);
            FUZZ_CHECK(memcmp(bits, again, (size_t)a.count * sizeof *bits) == 0,
                       "16-bit round trip changed bits");
            free(again);
            free(bits);
            free(enc);
        }
    }
    free(values);
    free(file);
    return 0;
}
