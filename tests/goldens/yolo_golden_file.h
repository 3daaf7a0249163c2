/* One [yolo] golden case as written by tools/goldens/make_yolo_goldens.py
 * (format in tools/goldens/README.md, "The [yolo] goldens"): the
 * configuration, the inputs, and what an independent float64 autograd
 * implementation computed from them, for the whole call and for each head. */
#ifndef RL_YOLO_GOLDEN_FILE_H
#define RL_YOLO_GOLDEN_FILE_H

#include <stdint.h>

#include "golden_file.h"
#include "regionloss.h"

/* The numbers of one rl_result (the call's total or one head's). */
typedef struct yolo_golden_result {
    double loss, coord, cls, obj, noobj, warmup;
    int64_t n_obj, n_noobj, n_conf, n_truths;
    double avg_iou, recall50, recall75, avg_obj, avg_noobj, avg_cls;
    double sum_iou, sum_obj, sum_noobj, sum_cls;
    int64_t n_recall50, n_recall75;
    golden_darknet darknet;
} yolo_golden_result;

typedef struct yolo_golden {
    char name[128];
    rl_yolo_config cfg;          /* variant left NULL: the test chooses */
    rl_yolo_head heads[RL_YOLO_MAX_HEADS];
    int32_t masks[RL_YOLO_MAX_HEADS][64];
    float *anchors;              /* 2*n_anchors pixels, referenced by cfg.anchors */
    int64_t global_images;       /* 0: no global_counts */
    int32_t n_images;
    int64_t *offsets;            /* n_images + 1 */
    int64_t n_truths;
    rl_box *truths;
    int64_t n_pred[RL_YOLO_MAX_HEADS];
    float *pred[RL_YOLO_MAX_HEADS];
    yolo_golden_result total, head[RL_YOLO_MAX_HEADS];
    double *grad[RL_YOLO_MAX_HEADS]; /* dense; the file lists the nonzero entries */
} yolo_golden;

/* Parse `path` into *g.  Returns 0 on success; otherwise writes a message
 * naming the file, line and what was expected into err and returns -1. */
int yolo_golden_load(const char *path, yolo_golden *g, char *err, size_t err_size);
void yolo_golden_free(yolo_golden *g);

#endif
