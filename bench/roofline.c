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

typedef struct many {
    const roofline *rf;
    int64_t N;
} many;

static void overwrite_task(void *arg, int64_t t)
{
    const many *m = arg;
    overwrite_image((void *)&m->rf[t / m->N], t % m->N);
}

static void accumulate_task(void *arg, int64_t t)
{
    const many *m = arg;
    accumulate_image((void *)&m->rf[t / m->N], t % m->N);
}

void roofline_overwrite_many(const roofline *rf, int n, rl_pool *pool)
{
    many m = {rf, rf->N};
    rl_pool_run(pool, n * (int64_t)rf->N, overwrite_task, &m);
}

void roofline_accumulate_many(const roofline *rf, int n, rl_pool *pool)
{
    many m = {rf, rf->N};
    rl_pool_run(pool, n * (int64_t)rf->N, accumulate_task, &m);
}

void roofline_overwrite(const roofline *rf, rl_pool *pool) { roofline_overwrite_many(rf, 1, pool); }

void roofline_accumulate(const roofline *rf, rl_pool *pool)
{
    roofline_accumulate_many(rf, 1, pool);
}
