/* The README's example as a complete program: one 13x13 image with two
 * truths, loss and gradient with the variant chosen for this CPU. */
#include <regionloss.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    static const float anchors[10] = {1.3221f, 1.73145f, 3.19275f, 4.00944f, 5.05587f,
                                      8.09892f, 9.47112f, 4.84053f, 11.2364f, 10.0071f};
    rl_config cfg;
    rl_config_init(&cfg);
    cfg.H = 13;
    cfg.W = 13;
    cfg.B = 5;
    cfg.C = 20;
    cfg.anchors = anchors;

    rl_plan *plan;
    if (rl_plan_create(&cfg, &plan) != RL_OK) {
        fprintf(stderr, "%s\n", rl_last_error());
        return 1;
    }

    const int32_t n_images = 1;
    size_t count;
    rl_plan_tensor_size(plan, n_images, &count);
    float *pred = malloc(count * sizeof *pred), *grad = malloc(count * sizeof *grad);
    if (!pred || !grad)
        return 1;
    unsigned s = 12345; /* plausible small logits, reproducibly */
    for (size_t x = 0; x < count; x++) {
        s = s * 1103515245u + 12345u;
        pred[x] = ((float)(s >> 16 & 0x7fff) / 32768.0f - 0.5f) * 4.0f;
    }
    const rl_box truths[2] = {{0.48f, 0.52f, 0.30f, 0.45f, 14}, {0.20f, 0.75f, 0.10f, 0.12f, 6}};
    const int64_t offsets[2] = {0, 2};

    rl_batch batch = {.n_images = n_images, .pred = pred, .truths = truths,
                      .truth_offsets = offsets};
    rl_result res;
    rl_status st = rl_compute(plan, &batch, &res, grad);
    if (st != RL_OK) {
        fprintf(stderr, "%s: %s\n", rl_status_name(st), rl_last_error());
        return 1;
    }
    printf("loss %g = coord %g + class %g + obj %g + noobj %g (%s)\n", res.loss, res.coord,
           res.cls, res.obj, res.noobj, res.variant);
    printf("n_obj %lld, n_noobj %lld, avg_iou %g, recall50 %g\n", (long long)res.n_obj,
           (long long)res.n_noobj, res.avg_iou, res.recall50);
    free(pred);
    free(grad);
    rl_plan_destroy(plan);
    return 0;
}
