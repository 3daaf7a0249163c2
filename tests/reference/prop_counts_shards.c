/* Counts and sharded normalisation (docs/loss.md, rl_count and
 * rl_batch.global_counts): rl_count returns exactly the counts rl_compute
 * reports; and when a batch is split into shards, each computed with the
 * whole batch's counts, the shards' parts add up to the whole batch's and
 * each shard's gradient is the whole gradient's slice, bit for bit (the
 * weights lambda/N_obj, lambda/N_conf or lambda/N are the same numbers on
 * both sides, and each entry depends only on its own slot). */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>

#define CASES 60

static void check_counts(rcase *rc, const char *what)
{
    rl_plan *plan = ref_plan(&rc->cfg);
    rl_batch batch = rcase_batch(rc);
    rl_counts cnt;
    memset(&cnt, 0x5A, sizeof cnt);
    cr_assert_eq(rl_count(plan, &batch, &cnt), RL_OK, "%s", rl_last_error());
    rl_result r;
    compute_ok(plan, &batch, &r, NULL);
    cr_assert_eq(cnt.n_obj, r.n_obj, "%s seed %llu", what, (unsigned long long)rc->seed);
    cr_assert_eq(cnt.n_noobj, r.n_noobj);
    cr_assert_eq(cnt.n_conf, r.n_conf);
    cr_assert_eq(cnt.n_conf, cnt.n_obj + cnt.n_noobj);
    cr_assert_eq(cnt.n_images, rc->N);
    rl_plan_destroy(plan);
}

Test(prop_counts_shards, rl_count_matches_rl_compute)
{
    const uint64_t base = test_seed(91000);
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        check_counts(&rc, "spec");
        rcase_darknet(&rc, 1, 0, RL_NORM_SUM, (int)(s % 2));
        check_counts(&rc, "darknet");
        rcase_free(&rc);
    }
}

/* Shards [0, cut) and [cut, N), each normalised by the whole batch's counts. */
static void check_shards(rcase *rc, int32_t cut, const char *what)
{
    const rl_config *c = &rc->cfg;
    rl_plan *plan = ref_plan(c);
    rl_batch whole = rcase_batch(rc);
    rl_counts global;
    cr_assert_eq(rl_count(plan, &whole, &global), RL_OK);
    float *gw = malloc(rc->count * sizeof *gw), *gs = malloc(rc->count * sizeof *gs);
    rl_result rw;
    compute_ok(plan, &whole, &rw, gw);
    const size_t per_image = cfg_count(c, 1);
    const unsigned long long seed = rc->seed;

    double coord = 0, cls = 0, obj = 0, noobj = 0, warm = 0;
    int64_t n_obj = 0, n_noobj = 0;
    const int32_t lo[2] = {0, cut}, hi[2] = {cut, rc->N};
    for (int sh = 0; sh < 2; sh++) {
        int64_t off[RC_MAX_N + 1];
        for (int32_t n = lo[sh]; n <= hi[sh]; n++)
            off[n - lo[sh]] = rc->off[n] - rc->off[lo[sh]];
        rl_batch part = whole;
        part.n_images = hi[sh] - lo[sh];
        part.pred = rc->pred + lo[sh] * per_image;
        part.truths = off[part.n_images] > 0 ? rc->truths + rc->off[lo[sh]] : NULL;
        part.truth_offsets = off;
        part.global_counts = &global;
        rl_result r;
        compute_ok(plan, &part, &r, gs + lo[sh] * per_image);
        coord += r.coord, cls += r.cls, obj += r.obj, noobj += r.noobj, warm += r.warmup;
        n_obj += r.n_obj, n_noobj += r.n_noobj;
    }
    cr_assert(memcmp(gw, gs, rc->count * sizeof *gw) == 0,
              "%s seed %llu cut %d: shard gradients differ from the whole batch's", what, seed,
              cut);
    assert_close(coord, rw.coord, DOUBLE_REL, 1e-300, "%s seed %llu coord", what, seed);
    assert_close(cls, rw.cls, DOUBLE_REL, 1e-300, "%s seed %llu cls", what, seed);
    assert_close(obj, rw.obj, DOUBLE_REL, 1e-300, "%s seed %llu obj", what, seed);
    assert_close(noobj, rw.noobj, DOUBLE_REL, 1e-300, "%s seed %llu noobj", what, seed);
    assert_close(warm, rw.warmup, DOUBLE_REL, 1e-300, "%s seed %llu warmup", what, seed);
    /* the shards report their own counts, which add up */
    cr_assert_eq(n_obj, rw.n_obj);
    cr_assert_eq(n_noobj, rw.n_noobj);
    free(gw);
    free(gs);
    rl_plan_destroy(plan);
}

Test(prop_counts_shards, global_counts_reproduce_the_batch)
{
    const uint64_t base = test_seed(92000);
    int64_t done = 0;
    for (uint64_t s = 0; s < 4 * CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, s % 2 ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW);
        if (rc.N >= 2) {
            rc.cfg.norm = s % 3 == 0 ? RL_NORM_IMAGES : RL_NORM_COUNTS;
            for (int32_t cut = 1; cut < rc.N; cut++)
                check_shards(&rc, cut, "spec");
            rcase_darknet(&rc, 1, (int)(s % 2), RL_NORM_IMAGES, (int)(s / 2 % 2));
            check_shards(&rc, 1, "darknet images");
            done++;
        }
        rcase_free(&rc);
    }
    cr_assert_gt(done, CASES);
}

/* Without the override a shard normalises by its own counts, which is
 * different whenever the shards' counts differ from the batch's: the test
 * above is not passing by accident. */
Test(prop_counts_shards, without_override_shards_differ)
{
    const uint64_t base = test_seed(93000);
    int64_t differed = 0;
    for (uint64_t s = 0; s < CASES; s++) {
        rcase rc;
        rcase_random(&rc, base + s, RL_LAYOUT_NCHW);
        if (rc.N >= 2) {
            rl_plan *plan = ref_plan(&rc.cfg);
            rl_batch whole = rcase_batch(&rc), first = whole;
            rl_counts global;
            cr_assert_eq(rl_count(plan, &whole, &global), RL_OK);
            first.n_images = 1;
            rl_result a, b;
            compute_ok(plan, &first, &a, NULL);
            first.global_counts = &global;
            compute_ok(plan, &first, &b, NULL);
            differed += a.noobj != b.noobj;
            rl_plan_destroy(plan);
        }
        rcase_free(&rc);
    }
    cr_assert_gt(differed, 0);
}

/* Sum mode ignores global_counts: nothing to normalise. */
Test(prop_counts_shards, sum_mode_ignores_global_counts)
{
    rcase rc;
    rcase_random(&rc, test_seed(94000), RL_LAYOUT_NHWC);
    rc.cfg.norm = RL_NORM_SUM;
    rl_plan *plan = ref_plan(&rc.cfg);
    rl_batch batch = rcase_batch(&rc);
    const rl_counts odd = {3, 4, 7, 9};
    rl_result a, b;
    compute_ok(plan, &batch, &a, NULL);
    batch.global_counts = &odd;
    compute_ok(plan, &batch, &b, NULL);
    assert_results_identical(&a, &b, "sum mode with global_counts");
    rl_plan_destroy(plan);
    rcase_free(&rc);
}
