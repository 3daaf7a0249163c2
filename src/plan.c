/* Configuration defaults, plan creation (where every config field is
 * validated once) and the public entry points that run a plan. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "variants.h"

void rl_config_init(rl_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->layout = RL_LAYOUT_NCHW;
    cfg->mode = RL_MODE_SPEC;
    cfg->lambda_coord = 1.0;
    cfg->lambda_class = 1.0;
    cfg->lambda_obj = 5.0;
    cfg->lambda_noobj = 1.0;
    cfg->thresh = 0.6;
    cfg->norm = RL_NORM_COUNTS;
    cfg->grad_mode = RL_GRAD_OVERWRITE;
    cfg->variant = NULL;
    cfg->threads = 1;
    cfg->rescore = 1;
    cfg->logistic_classes = 0;
    cfg->warmup_seen = 12800;
    cfg->warmup_scale = 0.01;
}

void rl_config_init_darknet(rl_config *cfg)
{
    if (!cfg)
        return;
    rl_config_init(cfg);
    cfg->mode = RL_MODE_DARKNET;
    cfg->norm = RL_NORM_SUM;
}

/* Weights are bounded above so that a weight times a float-sized term stays
 * within float range in the SIMD kernels (docs/numerics.md). */
static rl_status check_lambda(const char *name, double v)
{
    if (!(v >= 0 && v <= RL_LAMBDA_MAX))
        return rl_fail(RL_ERR_BAD_LAMBDA, "config: %s = %.17g is not in [0, %g]", name, v,
                       RL_LAMBDA_MAX);
    return RL_OK;
}

rl_status rl_check_config(const rl_config *cfg)
{
    rl_status st;
    const struct {
        const char *name;
        int32_t v;
    } sizes[4] = {{"H", cfg->H}, {"W", cfg->W}, {"B", cfg->B}, {"C", cfg->C}};
    for (int s = 0; s < 4; s++)
        if (sizes[s].v <= 0)
            return rl_fail(RL_ERR_BAD_SIZE, "config: %s = %d is not positive", sizes[s].name,
                           (int)sizes[s].v);
    if (cfg->C > RL_MAX_CLASSES)
        return rl_fail(RL_ERR_BAD_SIZE,
                       "config: C = %d exceeds the limit of %d classes (the per-image size "
                       "would overflow the index arithmetic)",
                       (int)cfg->C, RL_MAX_CLASSES);
    /* B*(5+C)*H*W floats per image, with room for a batch index and bytes. */
    const int64_t K = 5 + (int64_t)cfg->C;
    if ((int64_t)cfg->H * cfg->W > INT64_MAX / 16 / K / cfg->B)
        return rl_fail(RL_ERR_BAD_SIZE,
                       "config: H*W*B*(5+C) = %d*%d*%d*%lld overflows", (int)cfg->H,
                       (int)cfg->W, (int)cfg->B, (long long)K);
    /* Slot indices within an image are 32-bit in the optimised driver. */
    if ((int64_t)cfg->H * cfg->W * cfg->B > (1 << 30))
        return rl_fail(RL_ERR_BAD_SIZE, "config: H*W*B = %d*%d*%d exceeds 2^30 slots per image",
                       (int)cfg->H, (int)cfg->W, (int)cfg->B);
    if (!cfg->anchors)
        return rl_fail(RL_ERR_NULL_POINTER, "config: anchors is NULL");
    for (int32_t b = 0; b < cfg->B; b++)
        for (int d = 0; d < 2; d++) {
            float v = cfg->anchors[2 * b + d];
            if (!isfinite(v) || !(v > 0))
                return rl_fail(RL_ERR_BAD_ANCHOR, "config: anchor %d: %s = %.9g is not finite and > 0",
                               (int)b, d ? "h" : "w", (double)v);
        }
    if (cfg->layout != RL_LAYOUT_NCHW && cfg->layout != RL_LAYOUT_NHWC)
        return rl_fail(RL_ERR_BAD_ENUM, "config: layout = %d is neither NCHW (0) nor NHWC (1)",
                       (int)cfg->layout);
    if (cfg->mode != RL_MODE_SPEC && cfg->mode != RL_MODE_DARKNET)
        return rl_fail(RL_ERR_BAD_ENUM, "config: mode = %d is neither spec (0) nor darknet (1)",
                       (int)cfg->mode);
    if (cfg->norm != RL_NORM_COUNTS && cfg->norm != RL_NORM_SUM && cfg->norm != RL_NORM_IMAGES)
        return rl_fail(RL_ERR_BAD_ENUM,
                       "config: norm = %d is not counts (0), sum (1) or images (2)",
                       (int)cfg->norm);
    if (cfg->mode == RL_MODE_DARKNET && cfg->norm == RL_NORM_COUNTS)
        return rl_fail(RL_ERR_BAD_ENUM,
                       "config: darknet mode sums (norm sum) or divides by images (norm "
                       "images); count normalisation is the spec mode's");
    if (cfg->grad_mode != RL_GRAD_OVERWRITE && cfg->grad_mode != RL_GRAD_ACCUMULATE)
        return rl_fail(RL_ERR_BAD_ENUM,
                       "config: grad_mode = %d is neither overwrite (0) nor accumulate (1)",
                       (int)cfg->grad_mode);
    if ((st = check_lambda("lambda_coord", cfg->lambda_coord)) ||
        (st = check_lambda("lambda_class", cfg->lambda_class)) ||
        (st = check_lambda("lambda_obj", cfg->lambda_obj)) ||
        (st = check_lambda("lambda_noobj", cfg->lambda_noobj)))
        return st;
    if (!(cfg->thresh >= 0.0 && cfg->thresh <= 1.0))
        return rl_fail(RL_ERR_BAD_THRESH, "config: thresh = %.17g is not in [0, 1]", cfg->thresh);
    if (cfg->mode == RL_MODE_DARKNET) {
        if ((st = check_lambda("warmup_scale", cfg->warmup_scale)))
            return st;
        if (cfg->rescore != 0 && cfg->rescore != 1)
            return rl_fail(RL_ERR_BAD_ARGUMENT, "config: rescore = %d is not 0 or 1",
                           (int)cfg->rescore);
        if (cfg->logistic_classes != 0 && cfg->logistic_classes != 1)
            return rl_fail(RL_ERR_BAD_ARGUMENT, "config: logistic_classes = %d is not 0 or 1",
                           (int)cfg->logistic_classes);
    }
    if ((st = rl_check_flavour(cfg)))
        return st;
    if (cfg->pred_dtype != RL_DTYPE_F32 && cfg->pred_dtype != RL_DTYPE_BF16 &&
        cfg->pred_dtype != RL_DTYPE_F16)
        return rl_fail(RL_ERR_BAD_ENUM,
                       "config: pred_dtype = %d is not float32 (0), bfloat16 (1) or float16 (2)",
                       (int)cfg->pred_dtype);
    if (cfg->grad_dtype != RL_DTYPE_F32 && cfg->grad_dtype != cfg->pred_dtype)
        return rl_fail(RL_ERR_BAD_ENUM,
                       "config: grad_dtype = %d is neither float32 (0) nor pred_dtype (%d)",
                       (int)cfg->grad_dtype, (int)cfg->pred_dtype);
    if (cfg->threads < 1 || cfg->threads > RL_MAX_THREADS)
        return rl_fail(RL_ERR_THREADS, "config: threads = %d is not in [1, %d]",
                       (int)cfg->threads, RL_MAX_THREADS);
    return RL_OK;
}

/* Explicit config name, then REGIONLOSS_VARIANT, then the CPU's best. */
rl_status rl_choose_variant(const char *variant, const rl_variant_desc **out)
{
    const char *name = variant;
    const char *origin = "config: variant";
    if (!name || !*name || strcmp(name, "auto") == 0) {
        name = getenv("REGIONLOSS_VARIANT");
        origin = "environment: REGIONLOSS_VARIANT";
    }
    if (!name || !*name || strcmp(name, "auto") == 0) {
        *out = rl_auto_variant();
        return RL_OK;
    }
    rl_status st = rl_variant_check(name);
    if (st != RL_OK) {
        char inner[400]; /* rl_fail writes the buffer rl_last_error reads */
        snprintf(inner, sizeof inner, "%s", rl_last_error());
        return rl_fail(st, "%s: %s", origin, inner);
    }
    *out = rl_find_variant(name);
    return RL_OK;
}

/* The plan's numbers from a checked config; `anchors` is the plan's copy. */
void rl_params_from_config(const rl_config *cfg, const float *anchors, rl_params *p)
{
    memset(p, 0, sizeof *p);
    p->H = cfg->H;
    p->W = cfg->W;
    p->B = cfg->B;
    p->C = cfg->C;
    p->K = 5 + cfg->C;
    p->HW = (int64_t)cfg->H * cfg->W;
    p->per_image = p->HW * cfg->B * p->K;
    p->anchors = anchors;
    p->layout = cfg->layout;
    p->mode = cfg->mode;
    p->lambda_coord = cfg->lambda_coord;
    p->lambda_class = cfg->lambda_class;
    p->lambda_obj = cfg->lambda_obj;
    p->lambda_noobj = cfg->lambda_noobj;
    p->thresh = cfg->thresh;
    p->norm = cfg->norm;
    p->grad_mode = cfg->grad_mode;
    p->pred_type = cfg->pred_dtype;
    p->grad_type = cfg->grad_dtype;
    p->rescore = cfg->mode == RL_MODE_DARKNET ? cfg->rescore : 1;
    p->logistic_classes = cfg->mode == RL_MODE_DARKNET ? cfg->logistic_classes : 0;
    p->warmup_seen = cfg->warmup_seen;
    p->warmup_scale = cfg->mode == RL_MODE_DARKNET ? cfg->warmup_scale : 0.0;
    p->flavour = cfg->mode == RL_MODE_DARKNET ? cfg->flavour : RL_FLAVOUR_PJREDDIE;
    p->classfix = p->flavour == RL_FLAVOUR_ALEXEYAB ? cfg->classfix : 0;
    p->focal_loss = p->flavour == RL_FLAVOUR_ALEXEYAB ? cfg->focal_loss : 0;
    p->grad_scale = 1.0;
}

rl_status rl_plan_create(const rl_config *cfg, rl_plan **out_plan)
{
    rl_clear_error();
    if (!out_plan)
        return rl_fail(RL_ERR_NULL_POINTER, "out_plan is NULL");
    if (!cfg)
        return rl_fail(RL_ERR_NULL_POINTER, "config is NULL");
    rl_status st = rl_check_config(cfg);
    const rl_variant_desc *variant = NULL;
    if (st == RL_OK)
        st = rl_choose_variant(cfg->variant, &variant);
    if (st != RL_OK)
        return st;

    rl_plan *plan = calloc(1, sizeof *plan);
    float *anchors = malloc(2 * (size_t)cfg->B * sizeof *anchors);
    if (!plan || !anchors) {
        free(plan);
        free(anchors);
        return rl_fail(RL_ERR_NO_MEMORY, "plan: out of memory");
    }
    memcpy(anchors, cfg->anchors, 2 * (size_t)cfg->B * sizeof *anchors);
    rl_params_from_config(cfg, anchors, &plan->p);
    plan->anchors_storage = anchors;
    plan->variant = variant;
    if (variant->init_kernels)
        variant->init_kernels(&plan->kernels);
    plan->threads = cfg->threads;
    if (cfg->threads > 1) {
        st = rl_pool_create(cfg->threads, &plan->pool);
        if (st != RL_OK) {
            free(anchors);
            free(plan);
            return st;
        }
    }
    *out_plan = plan;
    return RL_OK;
}

void rl_plan_destroy(rl_plan *plan)
{
    if (!plan)
        return;
    rl_pool_destroy(plan->pool);
    free(plan->anchors_storage);
    free(plan);
}

const char *rl_plan_variant(const rl_plan *plan)
{
    return plan ? plan->variant->name : NULL;
}

rl_status rl_plan_tensor_size(const rl_plan *plan, int32_t n_images, size_t *out_count)
{
    rl_clear_error();
    if (!plan || !out_count)
        return rl_fail(RL_ERR_NULL_POINTER, "%s is NULL", plan ? "out_count" : "plan");
    if (n_images <= 0)
        return rl_fail(RL_ERR_BAD_SIZE, "n_images = %d is not positive", (int)n_images);
    if ((uint64_t)n_images * (uint64_t)plan->p.per_image > SIZE_MAX / sizeof(float))
        return rl_fail(RL_ERR_BAD_SIZE, "%d images of %lld floats overflow", (int)n_images,
                       (long long)plan->p.per_image);
    *out_count = (size_t)n_images * (size_t)plan->p.per_image;
    return RL_OK;
}

static rl_status check_call(const rl_plan *plan, const rl_batch *batch, const void *out,
                            const char *out_name)
{
    if (!plan)
        return rl_fail(RL_ERR_NULL_POINTER, "plan is NULL");
    if (!batch)
        return rl_fail(RL_ERR_NULL_POINTER, "batch is NULL");
    if (!out)
        return rl_fail(RL_ERR_NULL_POINTER, "%s is NULL", out_name);
    return rl_validate_batch(&plan->p, batch);
}

rl_status rl_compute(const rl_plan *plan, const rl_batch *batch, rl_result *result, void *grad)
{
    rl_clear_error();
    rl_status st = check_call(plan, batch, result, "result");
    if (st != RL_OK)
        return st;
    if (batch->workspace) {
        size_t need;
        st = rl_workspace_size(plan, batch->n_images, batch->truth_offsets[batch->n_images],
                               &need);
        if (st != RL_OK)
            return st;
        if (batch->workspace_size < need)
            return rl_fail(RL_ERR_WORKSPACE, "batch: workspace_size = %zu, this batch needs %zu",
                           batch->workspace_size, need);
    }
    rl_result r;
    st = plan->variant->compute(plan, batch, &r, grad);
    if (st != RL_OK)
        return st;
    r.variant = plan->variant->name;
    *result = r;
    return RL_OK;
}

rl_status rl_count(const rl_plan *plan, const rl_batch *batch, rl_counts *out)
{
    rl_clear_error();
    rl_status st = check_call(plan, batch, out, "out");
    if (st != RL_OK)
        return st;
    rl_counts c;
    st = plan->variant->count(plan, batch, &c);
    if (st == RL_OK)
        *out = c;
    return st;
}

rl_status rl_workspace_size(const rl_plan *plan, int32_t n_images, int64_t n_truths,
                            size_t *out_bytes)
{
    rl_status st = rl_check_workspace_args(plan, n_images, n_truths, out_bytes);
    if (st == RL_OK)
        *out_bytes = plan->variant->workspace(&plan->p, n_images, n_truths) +
                     rl_flavour_ws(&plan->p, n_images, n_truths);
    return st;
}

rl_status rl_check_workspace_args(const void *plan, int32_t n_images, int64_t n_truths,
                                  const size_t *out_bytes)
{
    rl_clear_error();
    if (!plan || !out_bytes)
        return rl_fail(RL_ERR_NULL_POINTER, "%s is NULL", plan ? "out_bytes" : "plan");
    if (n_images <= 0 || n_truths < 0)
        return rl_fail(RL_ERR_BAD_SIZE, "n_images = %d must be positive, n_truths = %lld >= 0",
                       (int)n_images, (long long)n_truths);
    /* Past this a truth array outgrows any address space and the byte count
     * would wrap size_t. */
    if (n_truths > RL_MAX_TRUTHS)
        return rl_fail(RL_ERR_BAD_SIZE, "n_truths = %lld is more than RL_MAX_TRUTHS = 2^40",
                       (long long)n_truths);
    return RL_OK;
}

void rl_finish_diagnostics(rl_result *r)
{
    double no = (double)r->n_obj, nn = (double)r->n_noobj;
    r->avg_iou = r->n_obj ? r->sum_iou / no : 0.0;
    r->recall50 = r->n_obj ? (double)r->n_recall50 / no : 0.0;
    r->recall75 = r->n_obj ? (double)r->n_recall75 / no : 0.0;
    r->avg_obj = r->n_obj ? r->sum_obj / no : 0.0;
    r->avg_cls = r->n_obj ? r->sum_cls / no : 0.0;
    r->avg_noobj = r->n_noobj ? r->sum_noobj / nn : 0.0;
}
