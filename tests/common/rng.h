/* The seeded generator of the random cases (randcase.c, yolo_randcase.c):
 * splitmix64, the same stream on every machine. */
#ifndef RL_TEST_RNG_H
#define RL_TEST_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s;
} rng;

static inline uint64_t next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline double unif(rng *r) { return (double)(next(r) >> 11) / 9007199254740992.0; }
static inline int32_t range(rng *r, int32_t lo, int32_t hi)
{
    return lo + (int32_t)(next(r) % (uint64_t)(hi - lo + 1));
}

/* A raw network output: mostly moderate, with (when wide) tiny values and
 * the saturated +-60 the kernels must survive. */
static inline float logit(rng *r, int wide)
{
    const double u = unif(r);
    if (!wide || u < 0.6)
        return (float)((unif(r) - 0.5) * 6.0);
    if (u < 0.75)
        return (float)((unif(r) - 0.5) * 1e-6); /* tiny */
    if (u < 0.9)
        return (float)((unif(r) - 0.5) * 120.0); /* up to +-60 */
    return unif(r) < 0.5 ? 60.0f : -60.0f;
}

#endif
