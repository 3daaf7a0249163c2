/* Reading a fuzz input as a stream of fields.  Past the end every read
 * gives zero bytes, so any input, even an empty one, decodes to something. */
#ifndef RL_FUZZ_BYTES_H
#define RL_FUZZ_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct fuzz_bytes {
    const uint8_t *data;
    size_t len, pos;
} fuzz_bytes;

static inline uint8_t fb_u8(fuzz_bytes *b)
{
    return b->pos < b->len ? b->data[b->pos++] : 0;
}

static inline void fb_raw(fuzz_bytes *b, void *out, size_t n)
{
    uint8_t *o = out;
    for (size_t k = 0; k < n; k++)
        o[k] = fb_u8(b);
}

static inline uint32_t fb_u32(fuzz_bytes *b)
{
    uint32_t v;
    fb_raw(b, &v, sizeof v);
    return v;
}

/* Raw bit patterns: every float and double, NaNs and infinities included. */
static inline float fb_f32_bits(fuzz_bytes *b)
{
    float v;
    fb_raw(b, &v, sizeof v);
    return v;
}

static inline double fb_f64_bits(fuzz_bytes *b)
{
    double v;
    fb_raw(b, &v, sizeof v);
    return v;
}

/* The bytes not consumed yet. */
static inline const uint8_t *fb_rest(const fuzz_bytes *b, size_t *len)
{
    *len = b->len - b->pos;
    return b->data + b->pos;
}

#endif
