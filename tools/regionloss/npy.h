/* The subset of NumPy's .npy format the tool reads and writes: little-endian
 * float32 or float64, C order, any rank up to NPY_MAX_DIMS.
 *
 * Both directions work on byte buffers, not files, so that a fuzz harness can
 * feed npy_parse arbitrary bytes: it never reads outside [data, data + len)
 * and rejects shapes whose byte count would overflow. */
#ifndef RL_TOOL_NPY_H
#define RL_TOOL_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIMS 16

typedef enum npy_dtype {
    NPY_F32 = 4, /* '<f4'; the value is the item size */
    NPY_F64 = 8  /* '<f8' */
} npy_dtype;

typedef struct npy_array {
    npy_dtype dtype;
    int ndim;
    uint64_t shape[NPY_MAX_DIMS];
    uint64_t count;      /* product of shape (1 for rank 0) */
    const uint8_t *data; /* points into the parsed buffer: count * dtype bytes */
} npy_array;

/* Parses a whole .npy file held in data[0 .. len).  Returns 0, or -1 with a
 * message in err naming the part that is wrong ("header: 'fortran_order' is
 * True ...") and *out zeroed.  Bytes after the array data are an error: they mean the shape
 * does not describe the file. */
int npy_parse(const uint8_t *data, size_t len, npy_array *out, char *err, size_t errlen);

/* Converts the parsed data to count native floats (float64 is rounded). */
void npy_to_f32(const npy_array *a, float *out);

/* Encodes count = prod(shape) floats as a version 1.0 (2.0 when the header
 * needs it) '<f4' C-order file.  On success *out is malloc'ed and the caller
 * frees it.  Returns 0, or -1 with a message (bad rank, size overflow, no
 * memory). */
int npy_encode_f32(const float *values, const uint64_t *shape, int ndim, uint8_t **out,
                   size_t *out_len, char *err, size_t errlen);

#endif
