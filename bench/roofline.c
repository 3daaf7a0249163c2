/* One image per task, like the library's driver, so that the yardstick and
 * the thing measured split the work the same way over threads.  The reads
 * are folded with XOR on the bits (not summed as floats) so the compiler may
 * vectorise them without changing a result anyone looks at. */
#include "roofline.h"

#include <string.h>

static uint32_t read_box_channels(const float *plane, int64_t HW)
{
    uint32_t acc = 0;
    for (int k = 0; k < 5; k++) {
        const float *ch = plane + k * HW;
        for (int64_t q = 0; q < HW; q++) {
            uint32_t bits;
            memcpy(&bits, &ch[q], sizeof bits);
            acc ^= bits;
        }
    }
    return acc;
}

static void overwrite_image(void *arg, int64_t n)
{
    const roofline *rf = arg;
    const int64_t plane = rf->K * rf->HW, per_image = rf->B * plane;
    uint32_t acc = 0;
    for (int32_t b = 0; b < rf->B; b++)
        acc ^= read_box_channels(rf->pred + n * per_image + b * plane, rf->HW);
    memset(rf->grad + n * per_image, 0, (size_t)per_image * sizeof(float));
    rf->sink[n] = acc;
}

static void accumulate_image(void *arg, int64_t n)
{
    const roofline *rf = arg;
    const int64_t plane = rf->K * rf->HW, per_image = rf->B * plane;
    const float eps = rf->eps;
    uint32_t acc = 0;
    for (int32_t b = 0; b < rf->B; b++) {
        const int64_t base = n * per_image + b * plane;
        acc ^= read_box_channels(rf->pred + base, rf->HW);
        float *g4 = rf->grad + base + 4 * rf->HW;
        const uint8_t *m = rf->noobj + (n * rf->B + b) * rf->HW;
        /* Branch-free over the whole objectness row: in NCHW nearly every
         * cache line of it holds a noobj slot, so this moves no more lines
         * than touching the noobj entries one by one would. */
        for (int64_t q = 0; q < rf->HW; q++)
            g4[q] += m[q] ? eps : 0.0f;
    }
    for (int64_t o = rf->obj_off[n]; o < rf->obj_off[n + 1]; o++) {
        float *g = rf->grad + rf->obj_base[o];
        for (int64_t k = 0; k < rf->K; k++)
            g[k * rf->HW] += eps;
    }
    rf->sink[n] = acc;
}

void roofline_overwrite(const roofline *rf, rl_pool *pool)
{
    rl_pool_run(pool, rf->N, overwrite_image, (void *)rf);
}

void roofline_accumulate(const roofline *rf, rl_pool *pool)
{
    rl_pool_run(pool, rf->N, accumulate_image, (void *)rf);
}
