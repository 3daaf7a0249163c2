/* Each part is linear in its own weight and independent of the others
 * (docs/loss.md; issue 5 for darknet's scales and the warm-up scale):
 * multiplying one lambda by f multiplies that part, and exactly the
 * gradient entries that part owns, by f, and leaves every other number bit
 * for bit unchanged.  The masks do not depend on any lambda.
 *
 * Which entries a part owns (reference slot kinds, k = channel):
 *   obj slot: k 0..3 coord, k 4 obj, k >= 5 class;  noobj slot: k 4 noobj;
 *   darknet with warm-up, any slot that is not obj: k 0..3 warm-up.
 * f*(lambda/N) and (f*lambda)/N differ by rounding: relative 4 ulp (1e-15)
 * covers the two roundings on each side. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>

#define CASES 30
#define LIN_REL 1e-15

enum { P_COORD, P_CLASS, P_OBJ, P_NOOBJ, P_WARMUP, P_COUNT };
static const char *const part_names[P_COUNT] = {"coord", "cls", "obj", "noobj", "warmup"};

static double *lambda_of(rl_config *c, int part)
{
    switch (part) {
    case P_COORD: return &c->lambda_coord;
    case P_CLASS: return &c->lambda_class;
    case P_OBJ: return &c->lambda_obj;
    case P_NOOBJ: return &c->lambda_noobj;
    default: return &c->warmup_scale;
    }
}

static double part_of(const rl_result *r, int part)
{
    const double v[P_COUNT] = {r->coord, r->cls, r->obj, r->noobj, r->warmup};
    return v[part];
}

/* The part that owns entry k of a slot of kind `kind` (-1: none). */
static int owner_part(int kind, int32_t k, int darknet_warmup)
{
    if (kind == RL_SLOT_OBJ)
        return k < 4 ? P_COORD : k == 4 ? P_OBJ : P_CLASS;
    if (k == 4)
        return kind == RL_SLOT_NOOBJ ? P_NOOBJ : -1;
    return k < 4 && darknet_warmup ? P_WARMUP : -1;
}

/* Returns how many gradient entries the part owns in this case. */
static int64_t check_scaling(const rcase *rc, int part, double f, int warmup)
{
    rl_config base = rc->cfg, scaled = rc->cfg;
    *lambda_of(&scaled, part) *= f;
    rl_plan *p0 = ref_plan(&base), *p1 = ref_plan(&scaled);
    rl_batch batch = rcase_batch(rc);
    rl_result r0, r1;
    compute_ok(p0, &batch, &r0, NULL); /* validation */
    ref_bufs b0, b1;
    ref_bufs_alloc(&b0, p0, rc->N);
    ref_bufs_alloc(&b1, p1, rc->N);
    ref_run(p0, &batch, NULL, &r0, &b0);
    ref_run(p1, &batch, NULL, &r1, &b1);
    const char *name = part_names[part];
    const unsigned long long seed = rc->seed;

    for (int q = 0; q < P_COUNT; q++) {
        if (q == part)
            assert_close(part_of(&r1, q), f * part_of(&r0, q), LIN_REL, 0,
                         "seed %llu: %s scaled by %g", seed, name, f);
        else
            cr_assert(part_of(&r1, q) == part_of(&r0, q),
                      "seed %llu: scaling %s changed %s (%.17g -> %.17g)", seed, name,
                      part_names[q], part_of(&r0, q), part_of(&r1, q));
    }
    cr_assert(memcmp(b0.out.slot_kind, b1.out.slot_kind, b0.slots) == 0);

    const rl_config *c = &rc->cfg;
    int64_t owned = 0;
    for (int32_t n = 0; n < rc->N; n++)
        for (int32_t i = 0; i < c->H; i++)
            for (int32_t j = 0; j < c->W; j++)
                for (int32_t b = 0; b < c->B; b++) {
                    const int kind = b0.out.slot_kind[((n * c->H + i) * c->W + j) * c->B + b];
                    for (int32_t k = 0; k < 5 + c->C; k++) {
                        const int64_t x = cfg_offset(c, n, i, j, b, k);
                        const double g0 = b0.out.grad[x], g1 = b1.out.grad[x];
                        if (owner_part(kind, k, warmup) == part) {
                            owned++;
                            assert_close(g1, f * g0, LIN_REL, 0,
                                         "seed %llu: %s x %g, entry %lld", seed, name, f,
                                         (long long)x);
                        } else {
                            cr_assert(g1 == g0,
                                      "seed %llu: scaling %s changed entry %lld (%.17g -> %.17g)",
                                      seed, name, (long long)x, g0, g1);
                        }
                    }
                }
    /* Zero weight: the part and its entries vanish, nothing else moves. */
    if (f == 0.0)
        cr_assert_eq(part_of(&r1, part), 0.0);
    ref_bufs_free(&b0);
    ref_bufs_free(&b1);
    rl_plan_destroy(p0);
    rl_plan_destroy(p1);
    return owned;
}

/* Not vacuous: every part owned some entries somewhere. */
static void assert_all_parts_seen(const int64_t owned[P_COUNT], int parts)
{
    for (int q = 0; q < parts; q++)
        cr_assert_gt(owned[q], 0, "no case exercised %s", part_names[q]);
}

Test(prop_lambda, spec_parts_scale_with_their_lambda)
{
    const uint64_t base = test_seed(41000);
    static const double factors[3] = {3.0, 0.3, 0.0};
    int64_t owned[P_COUNT] = {0};
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rc.cfg.norm = (rl_norm)(s % 3);
        for (int part = P_COORD; part <= P_NOOBJ; part++)
            for (int f = 0; f < 3; f++)
                owned[part] += check_scaling(&rc, part, factors[f], 0);
        rcase_free(&rc);
    }
    assert_all_parts_seen(owned, P_NOOBJ + 1);
}

Test(prop_lambda, darknet_scales_and_warmup)
{
    const uint64_t base = test_seed(42000);
    static const double factors[3] = {3.0, 0.3, 0.0};
    int64_t owned[P_COUNT] = {0};
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        const int warmup = (int)(s % 2);
        rcase_darknet(&rc, (int)(s / 2 % 2), (int)(s / 4 % 2),
                      s % 3 ? RL_NORM_SUM : RL_NORM_IMAGES, warmup);
        for (int part = P_COORD; part <= P_WARMUP; part++)
            for (int f = 0; f < 3; f++)
                owned[part] += check_scaling(&rc, part, factors[f], warmup);
        rcase_free(&rc);
    }
    assert_all_parts_seen(owned, P_COUNT);
}
