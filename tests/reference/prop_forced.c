/* rl_reference_compute_forced (scalar/reference.h), which the differential
 * tests use to accept a variant's other decision near thresh, changes the
 * decision of exactly the slots it is told to, in the image it is told to,
 * and nothing else:
 *   - all -1 ("keep"): the same result as rl_reference_compute, bit for bit;
 *   - one non-responsible slot of one image flipped (noobj <-> ignored): that
 *     slot's kind flips, every other slot of every image keeps its kind,
 *     N_noobj moves by one, and in spec mode the noobj term is (docs/loss.md)
 *     lambda_noobj / N_conf' * (S +- c^2) where S is the sum of
 *     c^2 over the unforced noobj slots and c = s(tc) of the flipped slot;
 *   - a responsible slot cannot be forced: it stays L_obj.
 * Found by tools/mutate.py (docs/testing.md): no reference suite called the
 * forced path, so a wrong image or slot offset in it survived. */
#include "support.h"

#include <stdlib.h>

static int check_case(rcase *rc)
{
    rl_plan *plan = ref_plan(&rc->cfg);
    const rl_params *p = &plan->p;
    const rl_batch batch = rcase_batch(rc);
    const size_t slots = (size_t)rc->N * (size_t)(p->HW * p->B);
    const int64_t per = p->HW * p->B;

    ref_bufs base, rb;
    ref_bufs_alloc(&base, plan, rc->N);
    ref_bufs_alloc(&rb, plan, rc->N);
    rl_result r0, r;
    ref_run(plan, &batch, NULL, &r0, &base);

    int8_t *forced = malloc(slots);
    cr_assert(forced);
    memset(forced, -1, slots);
    cr_assert(rl_reference_compute_forced(p, &batch, NULL, forced, &r, &rb.out) == RL_OK);
    assert_results_identical(&r, &r0, "all slots kept");

    /* The unforced noobj sum S (spec mode) from the unforced result. */
    const double S = r0.n_conf > 0 ? r0.noobj * (double)r0.n_conf / p->lambda_noobj : 0.0;
    int flipped = 0;
    for (size_t s = 0; s < slots; s++) {
        const int8_t k0 = base.out.slot_kind[s];
        memset(forced, -1, slots);
        forced[s] = k0 == RL_SLOT_NOOBJ ? RL_SLOT_IGNORED : RL_SLOT_NOOBJ;
        cr_assert(rl_reference_compute_forced(p, &batch, NULL, forced, &r, &rb.out) == RL_OK);
        for (size_t u = 0; u < slots; u++) {
            int8_t want = base.out.slot_kind[u];
            if (u == s && k0 != RL_SLOT_OBJ)
                want = forced[s];
            cr_assert_eq(rb.out.slot_kind[u], want,
                         "seed %llu: slot %zu forced to %d: slot %zu is %d, expected %d",
                         (unsigned long long)rc->seed, s, forced[s], u, rb.out.slot_kind[u],
                         want);
        }
        if (k0 == RL_SLOT_OBJ) {
            assert_results_identical(&r, &r0, "a responsible slot forced");
            continue;
        }
        flipped++;
        const int64_t dn = k0 == RL_SLOT_NOOBJ ? -1 : 1;
        cr_assert_eq(r.n_noobj, r0.n_noobj + dn, "seed %llu slot %zu",
                     (unsigned long long)rc->seed, s);
        cr_assert_eq(r.n_conf, r0.n_conf + dn);
        cr_assert_eq(r.n_obj, r0.n_obj);
        if (p->mode == RL_MODE_SPEC && p->norm == RL_NORM_COUNTS) {
            /* slot s = (n, i, j, b) with s - n*per = (i*W + j)*B + b */
            const int64_t n = (int64_t)s / per, rest = (int64_t)s % per;
            const int64_t b = rest % p->B, ij = rest / p->B;
            const double c = sig(rc->pred[cfg_offset(&rc->cfg, n, ij / p->W, ij % p->W, b, 4)]);
            const double conf = (double)(r0.n_conf + dn);
            const double want = conf > 0 ? p->lambda_noobj / conf * (S + (double)dn * c * c) : 0;
            assert_close(r.noobj, want, 1e-12, 1e-15, "seed %llu slot %zu: noobj",
                         (unsigned long long)rc->seed, s);
        }
    }
    free(forced);
    ref_bufs_free(&base);
    ref_bufs_free(&rb);
    rl_plan_destroy(plan);
    return flipped;
}

Test(prop_forced, spec_every_slot_of_every_image)
{
    int multi = 0, flipped = 0;
    for (uint64_t seed = test_seed(7100); seed < 7100 + 24; seed++) {
        rcase rc;
        rcase_random(&rc, seed, (seed & 1) ? RL_LAYOUT_NCHW : RL_LAYOUT_NHWC);
        multi += rc.N > 1;
        flipped += check_case(&rc);
        rcase_free(&rc);
    }
    cr_assert_gt(multi, 4, "too few cases with more than one image");
    cr_assert_gt(flipped, 100, "only %d slots flipped", flipped);
}

Test(prop_forced, darknet_every_slot_of_every_image)
{
    int flipped = 0;
    for (uint64_t seed = test_seed(7200); seed < 7200 + 12; seed++) {
        rcase rc;
        rcase_random(&rc, seed, (seed & 1) ? RL_LAYOUT_NCHW : RL_LAYOUT_NHWC);
        rcase_darknet(&rc, (int)(seed >> 1 & 1), 0, RL_NORM_SUM, (int)(seed >> 2 & 1));
        flipped += check_case(&rc);
        rcase_free(&rc);
    }
    cr_assert_gt(flipped, 50, "only %d slots flipped", flipped);
}
