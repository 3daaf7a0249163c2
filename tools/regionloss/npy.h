/* The subset of NumPy's .npy format the tool reads and writes: little-endian
 * float32, float64, float16 or uint16 (bfloat16 bit patterns: NumPy has no
 * bfloat16 dtype), C order, any rank up to NPY_MAX_DIMS.
 *
 * Both directions work on byte buffers, not files, so that a fuzz harness can
 * feed npy_parse arbitrary bytes: it never reads outside [data, data + len)
 * and rejects shapes whose byte count would overflow. */
#ifndef RL_TOOL_NPY_H
#define RL_TOOL_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIMS 16

/* The low byte of a value is the item size (npy_itemsize). */
typedef enum npy_dtype {
    NPY_F16 = 2,     /* '<f2', IEEE binary16 */
    NPY_F32 = 4,     /* '<f4' */
    NPY_F64 = 8,     /* '<f8' */
    NPY_U16 = 0x102  /* '<u2': to the tool, bfloat16 bit patterns */
} npy_dtype;

/* Bytes per element: 2, 4 or 8. */
static inline unsigned npy_itemsize(npy_dtype t) { return (unsigned)t & 0xffu; }

/* The descr NumPy writes for it ("<f4"), and a name for messages ("float32";
 * "uint16" for '<u2'). */
const char *npy_descr(npy_dtype t);
const char *npy_type_name(npy_dtype t);

/* Exact widening of the 16-bit formats to float (every value is a float;
 * a NaN stays a NaN). */
float npy_f16_to_f32(uint16_t h);
float npy_bf16_to_f32(uint16_t h);

typedef struct npy_array {
    npy_dtype dtype;
    int ndim;
    uint64_t shape[NPY_MAX_DIMS];
    uint64_t count;      /* product of shape (1 for rank 0) */
    const uint8_t *data; /* points into the parsed buffer: count * itemsize bytes */
} npy_array;

/* Parses a whole .npy file held in data[0 .. len).  Returns 0, or -1 with a
 * message in err naming the part that is wrong ("header: 'fortran_order' is
 * True ...") and *out zeroed.  Bytes after the array data are an error: they mean the shape
 * does not describe the file. */
int npy_parse(const uint8_t *data, size_t len, npy_array *out, char *err, size_t errlen);

/* Converts the parsed data to count native floats: float64 is rounded to
 * nearest, float16 widened exactly, and uint16 read as bfloat16 bit patterns
 * (widened exactly), the only meaning the tool gives '<u2'. */
void npy_to_f32(const npy_array *a, float *out);

/* The count 16-bit elements of a '<f2' or '<u2' array, as native uint16
 * bit patterns (byte order of the file undone; no conversion). */
void npy_to_u16(const npy_array *a, uint16_t *out);

/* Encodes count = prod(shape) floats as a version 1.0 (2.0 when the header
 * needs it) '<f4' C-order file.  On success *out is malloc'ed and the caller
 * frees it.  Returns 0, or -1 with a message (bad rank, size overflow, no
 * memory). */
int npy_encode_f32(const float *values, const uint64_t *shape, int ndim, uint8_t **out,
                   size_t *out_len, char *err, size_t errlen);

/* The same for any dtype but float64: values holds count native elements of
 * it (float, or uint16 bit patterns for '<f2' and '<u2'), written as they
 * are.  NPY_F64 is refused (the tool never writes it). */
int npy_encode(const void *values, npy_dtype dtype, const uint64_t *shape, int ndim,
               uint8_t **out, size_t *out_len, char *err, size_t errlen);

#endif
