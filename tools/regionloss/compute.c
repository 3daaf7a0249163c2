/* Plan, compute, destroy: the tool computes each batch once. */
#include "compute.h"

#include <stdio.h>
#include <stdlib.h>

int compute_inputs(const tool_inputs *in, const rl_config *base, int64_t seen,
                   const char *pred_path, rl_result *res, void **grad)
{
    rl_config cfg = *base;
    inputs_configure(in, &cfg);
    rl_plan *plan = NULL;
    rl_status st = rl_plan_create(&cfg, &plan);
    if (st != RL_OK)
        return library_error(st, NULL);
    size_t count = 0;
    st = rl_plan_tensor_size(plan, in->N, &count);
    if (st != RL_OK) {
        rl_plan_destroy(plan);
        return library_error(st, pred_path);
    }
    if (count != in->count) {
        /* The shape checks make this impossible; say so if it happens. */
        rl_plan_destroy(plan);
        fprintf(stderr, "regionloss: %s: %zu values, the plan expects %zu\n", pred_path,
                in->count, count);
        return EXIT_ERROR;
    }
    const size_t item = in->grad_dtype == RL_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t);
    void *g = NULL;
    if (grad && !(g = malloc((count ? count : 1) * item))) {
        rl_plan_destroy(plan);
        fprintf(stderr, "regionloss: out of memory for the gradient\n");
        return EXIT_ERROR;
    }
    rl_batch batch = inputs_batch(in, seen);
    st = rl_compute(plan, &batch, res, g);
    rl_plan_destroy(plan);
    if (st != RL_OK) {
        free(g);
        /* A non-finite prediction is a property of the file. */
        return library_error(st, st == RL_ERR_NONFINITE_PRED ? pred_path : NULL);
    }
    if (grad)
        *grad = g;
    return 0;
}

int compute_from_files(const tool_opts *o, tool_inputs *in, rl_result *res, void **grad)
{
    int rc = inputs_load(o->pred, o->labels, o->anchors, "--anchors", o->cfg.layout, o->dtype,
                         o->grad_dtype, in);
    if (rc)
        return rc;
    if (o->cfg_classes > 0 && in->C != o->cfg_classes) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "%d classes (B*(5+C) channels with B = %d anchors), the [region] section of "
                 "--darknet-cfg has classes=%d",
                 (int)in->C, (int)in->B, (int)o->cfg_classes);
        inputs_free(in);
        return file_error(o->pred, msg);
    }
    rc = compute_inputs(in, &o->cfg, o->seen, o->pred, res, grad);
    if (rc)
        inputs_free(in);
    return rc;
}
