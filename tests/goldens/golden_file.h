/* One golden case as written by tools/goldens/make_goldens.py (format in
 * tools/goldens/README.md): the configuration, the inputs, and what an
 * independent float64 autograd implementation computed from them. */
#ifndef RL_GOLDEN_FILE_H
#define RL_GOLDEN_FILE_H

#include <stdint.h>

#include "regionloss.h"

typedef struct golden_darknet {
    double avg_iou, recall, recall75, avg_cls, avg_obj, avg_anyobj, cost;
    int64_t count;
} golden_darknet;

typedef struct golden {
    char name[128];
    rl_config cfg;      /* variant left NULL: the test chooses */
    float *anchors;     /* 2*B, referenced by cfg.anchors */
    int32_t n_images;
    int64_t *offsets;   /* n_images + 1 */
    int64_t n_truths;
    rl_box *truths;
    int64_t seen;
    int64_t n_pred;
    float *pred;
    /* Expected results. */
    double loss, coord, cls, obj, noobj, warmup;
    int64_t n_obj, n_noobj, n_conf, n_truths_expected;
    double avg_iou, recall50, recall75, avg_obj, avg_noobj, avg_cls;
    double sum_iou, sum_obj, sum_noobj, sum_cls;
    int64_t n_recall50, n_recall75;
    golden_darknet darknet;
    double *grad;       /* n_pred entries, dense (the file lists the nonzero ones) */
} golden;

/* Parse `path` into *g.  Returns 0 on success; otherwise writes a message
 * naming the file, line and what was expected into err and returns -1. */
int golden_load(const char *path, golden *g, char *err, size_t err_size);
void golden_free(golden *g);

#endif
