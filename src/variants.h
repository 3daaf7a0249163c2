/* The variants a plan can run: one descriptor each, listed best first. */
#ifndef RL_VARIANTS_H
#define RL_VARIANTS_H

#include "internal.h"

typedef struct rl_variant_desc {
    const char *name;
    /* Non-zero when this build and this CPU can run it. */
    int (*available)(void);
    /* The batch is validated; write *res and grad (as the plan's grad_mode
     * says) or fail with nothing written. */
    rl_status (*compute)(const rl_plan *plan, const rl_batch *batch, rl_result *res,
                         void *grad);
    rl_status (*count)(const rl_plan *plan, const rl_batch *batch, rl_counts *out);
    /* Bytes of workspace compute() uses for n images holding n_truths. */
    size_t (*workspace)(const rl_params *p, int64_t n_images, int64_t n_truths);
    /* Driver variants: fills the plan's kernel table (NULL for the reference). */
    void (*init_kernels)(rl_kernels *k);
} rl_variant_desc;

/* NULL-terminated, best first. */
RL_HIDDEN extern const rl_variant_desc *const rl_all_variants[];

RL_HIDDEN extern const rl_variant_desc rl_variant_reference;
RL_HIDDEN extern const rl_variant_desc rl_variant_generic;
RL_HIDDEN extern const rl_variant_desc rl_variant_avx2;
RL_HIDDEN extern const rl_variant_desc rl_variant_avx2_bf16;
RL_HIDDEN extern const rl_variant_desc rl_variant_neon;
RL_HIDDEN extern const rl_variant_desc rl_variant_neon_bf16;

/* The variant "auto" resolves to on this CPU. */
RL_HIDDEN const rl_variant_desc *rl_auto_variant(void);
RL_HIDDEN const rl_variant_desc *rl_find_variant(const char *name);

/* plan.c: the checks of every rl_config field, and the variant a config
 * names (its name, then REGIONLOSS_VARIANT, then the CPU's best).  The yolo
 * plan (yolo_plan.c) runs both on each head's region-shaped config. */
RL_HIDDEN rl_status rl_check_config(const rl_config *cfg);
RL_HIDDEN rl_status rl_choose_variant(const char *variant, const rl_variant_desc **out);
/* The arguments every workspace-size call checks (plan.c); clears the error. */
RL_HIDDEN rl_status rl_check_workspace_args(const void *plan, int32_t n_images, int64_t n_truths,
                                            const size_t *out_bytes);
RL_HIDDEN void rl_params_from_config(const rl_config *cfg, const float *anchors, rl_params *p);

#endif
