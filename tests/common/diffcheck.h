/* The differential oracle shared by the differential tests and the fuzzers:
 * run one case through the reference and through every other variant
 * available here, and compare within the tolerance of docs/numerics.md.
 * Near the noobj threshold or an anchor tie either decision is accepted,
 * and only there. */
#ifndef RL_DIFFCHECK_H
#define RL_DIFFCHECK_H

#include <stdio.h>

#include "regionloss.h"

typedef struct rl_diffcheck_report {
    int variants_checked;  /* variants compared with the reference */
    int mismatches;        /* 0 when every variant agreed */
} rl_diffcheck_report;

/* cfg->variant is ignored (each variant is forced in turn).  When the
 * reference rejects the batch, every variant must reject it with the same
 * status and leave a guard-filled gradient untouched.  `what` names the case
 * in messages (e.g. "seed 1234 case 17"); failures are printed to `log`
 * with the variant, the first differing entry as (n, i, j, b, k), both
 * values and the bound.  Returns 0 when everything agreed. */
int rl_diffcheck(const rl_config *cfg, const rl_batch *batch, const char *what, FILE *log,
                 rl_diffcheck_report *report);

/* Restrict the variants compared (NULL: all available); for reruns. */
void rl_diffcheck_only(const char *variant_name);

/* Restrict the mask paths each variant is compared on: 0 both (the
 * default: the default path, and the dense one too where the sparse path
 * is the default), 1 the default path only, 2 the dense path only (which
 * is the default where the sparse one does not apply).  The fuzzer picks
 * one per input; the differential suite keeps 0. */
void rl_diffcheck_paths(int which);

#endif
