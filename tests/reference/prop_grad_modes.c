/* Gradient modes (issue 2 point 2): overwrite writes every entry;
 * accumulate adds the gradient into the caller's buffer and touches only the
 * entries the loss has a term for.
 *
 * "The entries the loss has a term for" is derived here from the slot kinds
 * alone (docs/loss.md, issue 5 point 6): every entry of an obj slot,
 * the objectness entry of a noobj slot, and in darknet mode during warm-up
 * the four box entries of every slot that is not obj.  The reference's
 * touched mask must be exactly that, and the API must leave every other
 * entry's bits alone (NaN payloads, infinities and -0 included, which no
 * addition would preserve). */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CASES 40

static int expected_touched(int kind, int32_t k, int warmup)
{
    if (kind == RL_SLOT_OBJ)
        return 1;
    if (k == 4)
        return kind == RL_SLOT_NOOBJ;
    return k < 4 && warmup;
}

static float special(rng *r)
{
    static const uint32_t bits[6] = {0x7fc12345u, 0xffa00001u, 0x7f800000u,
                                     0x80000000u, 0x00000001u, 0xdeadbeefu};
    uint32_t b = bits[rng_int(r, 0, 5)];
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static void run(rcase *rc, int warmup, const char *what)
{
    const rl_config *c = &rc->cfg;
    rl_config co = *c, ca = *c;
    co.grad_mode = RL_GRAD_OVERWRITE;
    ca.grad_mode = RL_GRAD_ACCUMULATE;
    rl_plan *po = ref_plan(&co), *pa = ref_plan(&ca);
    rl_batch batch = rcase_batch(rc);
    const size_t count = rc->count;
    const unsigned long long seed = rc->seed;

    ref_bufs rb;
    ref_bufs_alloc(&rb, po, rc->N);
    rl_result r0, r;
    compute_ok(po, &batch, &r0, NULL);
    ref_run(po, &batch, NULL, &r0, &rb);

    /* The touched mask is exactly the set the formulas name. */
    int64_t n_touched = 0;
    for (int32_t n = 0; n < rc->N; n++)
        for (int32_t i = 0; i < c->H; i++)
            for (int32_t j = 0; j < c->W; j++)
                for (int32_t b = 0; b < c->B; b++) {
                    const int kind = rb.out.slot_kind[((n * c->H + i) * c->W + j) * c->B + b];
                    for (int32_t k = 0; k < 5 + c->C; k++) {
                        const int64_t x = cfg_offset(c, n, i, j, b, k);
                        cr_assert_eq(rb.out.touched[x], expected_touched(kind, k, warmup),
                                     "%s seed %llu: touched (n=%d i=%d j=%d b=%d k=%d)", what,
                                     seed, n, i, j, b, k);
                        if (!rb.out.touched[x])
                            cr_assert(rb.out.grad[x] == 0.0);
                        n_touched += rb.out.touched[x];
                    }
                }

    /* Overwrite: every entry written; untouched ones are +0.0, touched ones
     * the double gradient rounded once. */
    float *go = malloc(count * sizeof *go);
    fill_guard(go, count * sizeof *go, 0xA5);
    compute_ok(po, &batch, &r, go);
    assert_results_identical(&r, &r0, what);
    for (size_t x = 0; x < count; x++) {
        const float want = rb.out.touched[x] ? (float)rb.out.grad[x] : 0.0f;
        cr_assert(memcmp(&go[x], &want, sizeof want) == 0,
                  "%s seed %llu: overwrite entry %zu: %a, want %a", what, seed, x,
                  (double)go[x], (double)want);
    }

    /* Accumulate into a pre-filled buffer. */
    rng g = {rc->seed * 3 + 1};
    float *prior = malloc(count * sizeof *prior), *ga = malloc(count * sizeof *ga);
    for (size_t x = 0; x < count; x++)
        prior[x] = rb.out.touched[x] ? rng_grid(&g, -4.0, 4.0, 20) : special(&g);
    memcpy(ga, prior, count * sizeof *ga);
    compute_ok(pa, &batch, &r, ga);
    assert_results_identical(&r, &r0, what);
    for (size_t x = 0; x < count; x++) {
        if (!rb.out.touched[x]) {
            cr_assert(memcmp(&ga[x], &prior[x], sizeof *ga) == 0,
                      "%s seed %llu: accumulate wrote untouched entry %zu: %a -> %a", what,
                      seed, x, (double)prior[x], (double)ga[x]);
            continue;
        }
        /* prior + g rounded once to float: within half an ulp, 2^-24 relative */
        const double exact = (double)prior[x] + rb.out.grad[x];
        assert_close(ga[x], exact, 0x1p-24, 0, "%s seed %llu: accumulate entry %zu (prior %a)",
                     what, seed, x, (double)prior[x]);
    }

    /* Accumulating into zeros is overwriting, on the touched entries. */
    memset(ga, 0, count * sizeof *ga);
    compute_ok(pa, &batch, &r, ga);
    for (size_t x = 0; x < count; x++)
        cr_assert(rb.out.touched[x] ? ga[x] == go[x] : ga[x] == 0.0f,
                  "%s seed %llu: entry %zu", what, seed, x);

    cr_assert_gt(n_touched, 0);
    free(go);
    free(prior);
    free(ga);
    ref_bufs_free(&rb);
    rl_plan_destroy(po);
    rl_plan_destroy(pa);
}

Test(prop_grad_modes, spec_mode)
{
    const uint64_t base = test_seed(71000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        rc.cfg.norm = (rl_norm)(s % 3);
        run(&rc, 0, "spec");
        rcase_free(&rc);
    }
}

Test(prop_grad_modes, darknet_mode)
{
    const uint64_t base = test_seed(72000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        const int warmup = (int)(s / 2 % 2);
        rcase_darknet(&rc, (int)(s / 4 % 2), (int)(s / 8 % 2), s % 3 ? RL_NORM_SUM :
                      RL_NORM_IMAGES, warmup);
        run(&rc, warmup, "darknet");
        rcase_free(&rc);
    }
}
