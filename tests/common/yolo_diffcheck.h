/* The differential oracle of the [yolo] head (yolo_diffcheck.c): one
 * network's batch through the reference and through every other variant,
 * compared head by head and for the whole call within the bounds of
 * docs/numerics.md.  Near ignore_thresh or truth_thresh either decision is
 * accepted, and only there. */
#ifndef RL_YOLO_DIFFCHECK_H
#define RL_YOLO_DIFFCHECK_H

#include <stdio.h>

#include "diffcheck.h"
#include "regionloss.h"

/* As rl_diffcheck: cfg->variant is ignored; when the reference rejects the
 * batch every variant must reject it with the same status and write
 * nothing.  Returns 0 when everything agreed. */
int rl_yolo_diffcheck(const rl_yolo_config *cfg, const rl_yolo_batch *batch, const char *what,
                      FILE *log, rl_diffcheck_report *report);

/* Restrict the variants compared (NULL: all available). */
void rl_yolo_diffcheck_only(const char *variant_name);

#endif
