/* --darknet-cfg FILE --section N: the options a darknet cfg section stands
 * for, read by the library's parser (rl_darknet_cfg_parse) and written as
 * the command line would give them, so that a cfg and the equivalent
 * explicit options run the very same code. */
#ifndef RL_TOOL_DNCFG_H
#define RL_TOOL_DNCFG_H

#include <stdint.h>

#include "regionloss.h"

/* AlexeyAB's [yolo] options of dncfg_options, in the order of the tool's
 * table that gives them (cli.c). */
enum {
    DN_IOU_NORMALIZER, DN_CLS_NORMALIZER, DN_OBJ_NORMALIZER, DN_SCALE_X_Y, DN_IOU_THRESH,
    DN_LABEL_SMOOTH_EPS, DN_MAX_DELTA, DN_N_REALS
};
enum {
    DN_FOCAL_LOSS, DN_NEW_COORDS, DN_OBJECTNESS_SMOOTH, DN_SHOW_DETAILS, DN_MAX_BOXES, DN_N_INTS
};

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
    /* The sections' flavour (rl_flavour and rl_yolo_flavour share the
     * values); with flavour alexeyab its options, as the tool's options take
     * them: [yolo] every one (the cfg's or darknet's default), [region]
     * classfix and focal_loss. */
    int flavour;
    const char *iou_loss, *iou_thresh_kind; /* darknet's names */
    char ab_real[DN_N_REALS][32];
    char ab_int[DN_N_INTS][16];
    char *counters;                         /* "n1,n2,...", or NULL */
    char classfix[16], focal_loss[4];
} dncfg_options;

/* Reads `path` and the sections sections[0 .. n) (texts from --section),
 * each as flavour `flavour` (RL_DARKNET_CFG_AUTO: as its options say).
 * Several sections must all be [yolo] and agree on what the heads of one
 * call share (classes, anchors, [net]'s size, the thresholds, the flavour
 * and AlexeyAB's options: one plan has one of each).  Returns 0 (the caller
 * calls dncfg_free), or EXIT_ERROR after printing what is wrong with
 * nothing left to free. */
int dncfg_read(const char *path, const char *const *sections, int n, int flavour,
               dncfg_options *out);
void dncfg_free(dncfg_options *o);

#endif
