/* A user's program built only from what pkg-config says about an installed
 * regionloss (check_pkgconfig.sh): it must compile with the installed
 * header, link and run one loss.  Small on purpose: a link or load failure
 * is what this catches; the loss itself is checked by the other suites. */
#include <regionloss.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    /* A header from one install and a library from another would pass
     * every other check here. */
    if (strcmp(rl_version(), RL_VERSION_STRING) != 0) {
        fprintf(stderr, "library %s, header %s\n", rl_version(), RL_VERSION_STRING);
        return 1;
    }

    static const float anchors[4] = {1.0f, 1.5f, 2.5f, 2.0f};
    rl_config cfg;
    rl_config_init(&cfg);
    cfg.H = 4;
    cfg.W = 4;
    cfg.B = 2;
    cfg.C = 3;
    cfg.anchors = anchors;

    rl_plan *plan;
    rl_status st = rl_plan_create(&cfg, &plan);
    if (st != RL_OK) {
        fprintf(stderr, "rl_plan_create: %s: %s\n", rl_status_name(st), rl_last_error());
        return 1;
    }

    size_t count = 0;
    st = rl_plan_tensor_size(plan, 1, &count);
    enum { N = 1 * 2 * (5 + 3) * 4 * 4 };
    if (st != RL_OK || count != N) {
        fprintf(stderr, "rl_plan_tensor_size: %s, %zu entries, expected %d\n",
                rl_status_name(st), count, N);
        rl_plan_destroy(plan);
        return 1;
    }
    float pred[N], grad[N];
    for (int i = 0; i < N; i++)
        pred[i] = (float)(i % 7 - 3) * 0.25f;
    const rl_box truths[1] = {{0.40f, 0.60f, 0.30f, 0.45f, 2}};
    const int64_t offsets[2] = {0, 1};
    const rl_batch batch = {.n_images = 1, .pred = pred, .truths = truths,
                            .truth_offsets = offsets};

    rl_result res;
    st = rl_compute(plan, &batch, &res, grad);
    rl_plan_destroy(plan);
    if (st != RL_OK) {
        fprintf(stderr, "rl_compute: %s: %s\n", rl_status_name(st), rl_last_error());
        return 1;
    }
    if (!isfinite(res.loss) || res.loss <= 0) {
        fprintf(stderr, "rl_compute: loss %g, expected finite and > 0\n", res.loss);
        return 1;
    }
    for (int i = 0; i < N; i++)
        if (!isfinite(grad[i])) {
            fprintf(stderr, "rl_compute: gradient entry %d is %g\n", i, grad[i]);
            return 1;
        }
    printf("regionloss %s: loss %g (%s)\n", rl_version(), res.loss, res.variant);
    return 0;
}
