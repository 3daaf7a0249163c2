/* --darknet-cfg FILE --section N: the options a darknet cfg section stands
 * for, read by the library's parser (rl_darknet_cfg_parse) and written as
 * the command line would give them, so that a cfg and the equivalent
 * explicit options run the very same code. */
#ifndef RL_TOOL_DNCFG_H
#define RL_TOOL_DNCFG_H

#include <stdint.h>

#include "regionloss.h"

typedef struct dncfg_options {
    int yolo;        /* [yolo] sections (one per head), or one [region] */
    int n_heads;
    char *anchors;   /* "w1,h1,...", every float written so it reads back the same */
    char *masks[RL_YOLO_MAX_HEADS];
    int32_t classes;
    char classes_text[16];
    char net_size[32];            /* "WxH" */
    char ignore_thresh[32], truth_thresh[32];
    char lambda[4][32];           /* [region]: coord, class, object, noobject scales */
    char thresh[32];
    int rescore, logistic_classes;
} dncfg_options;

/* Reads `path` and the sections sections[0 .. n) (texts from --section).
 * Several sections must all be [yolo] and agree on what the heads of one
 * call share (classes, anchors, [net]'s size, the thresholds).  Returns 0
 * (the caller calls dncfg_free), or EXIT_ERROR after printing what is wrong
 * with nothing left to free. */
int dncfg_read(const char *path, const char *const *sections, int n, dncfg_options *out);
void dncfg_free(dncfg_options *o);

#endif
