/* A darknet cfg's sections to the tool's options (dncfg.h). */
#include "dncfg.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "inputs.h"
#include "regionloss_darknet.h"

void dncfg_free(dncfg_options *o)
{
    free(o->anchors);
    free(o->counters);
    for (int h = 0; h < TOOL_MAX_HEADS; h++)
        free(o->masks[h]);
    memset(o, 0, sizeof *o);
}

/* %.17g reads back as the same double, %.9g as the same float: what the
 * explicit options would have parsed to. */
static void put_double(char *dst, size_t cap, double v) { snprintf(dst, cap, "%.17g", v); }

static char *float_list(const float *v, int32_t n)
{
    char *s = malloc((size_t)n * 18 + 1);
    if (!s)
        return NULL;
    size_t len = 0;
    s[0] = '\0';
    for (int32_t k = 0; k < n; k++)
        len += (size_t)sprintf(s + len, k ? ",%.9g" : "%.9g", (double)v[k]);
    return s;
}

static char *int_list(const int32_t *v, int32_t n)
{
    char *s = malloc((size_t)n * 13 + 1);
    if (!s)
        return NULL;
    size_t len = 0;
    s[0] = '\0';
    for (int32_t k = 0; k < n; k++)
        len += (size_t)sprintf(s + len, k ? ",%d" : "%d", (int)v[k]);
    return s;
}

static int parse_section(const char *path, const char *text, int32_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno || v < 0 || v > INT32_MAX) {
        fprintf(stderr, "regionloss: --section %s: not a layer index (darknet numbers the "
                        "sections of %s after [net] from 0)\n",
                text, path);
        return EXIT_ERROR;
    }
    *out = (int32_t)v;
    return 0;
}

static int no_memory(void)
{
    fprintf(stderr, "regionloss: out of memory\n");
    return EXIT_ERROR;
}

static const char *const flavour_names[] = {"pjreddie", "alexeyab"};
static const char *const kind_names[] = {"mse", "iou", "giou", "diou", "ciou"};

/* The numbers of rl_yolo_config a plan holds one of, for all its heads. */
#define YD(f) {#f, offsetof(rl_yolo_config, f)}
static const struct {
    const char *name;
    size_t offset;
} shared_doubles[] = {YD(ignore_thresh),  YD(truth_thresh), YD(iou_normalizer),
                      YD(cls_normalizer), YD(obj_normalizer), YD(scale_x_y),
                      YD(iou_thresh),     YD(label_smooth_eps), YD(max_delta)},
  shared_ints[] = {YD(iou_loss),          YD(iou_thresh_kind), YD(focal_loss),
                   YD(new_coords),        YD(objectness_smooth), YD(max_boxes),
                   YD(show_details)};
#undef YD

static double field_double(const rl_yolo_config *y, size_t off)
{
    double v;
    memcpy(&v, (const char *)y + off, sizeof v);
    return v;
}

static int32_t field_int(const rl_yolo_config *y, size_t off)
{
    int32_t v;
    memcpy(&v, (const char *)y + off, sizeof v);
    return v;
}

static int same_counters(const rl_yolo_config *a, const rl_yolo_config *b)
{
    if (!a->counters_per_class || !b->counters_per_class)
        return !a->counters_per_class && !b->counters_per_class;
    return memcmp(a->counters_per_class, b->counters_per_class,
                  (size_t)a->C * sizeof *a->counters_per_class) == 0;
}

/* Head h's section against head 0's: one call's heads share these (one
 * plan, one configuration; yolov4.cfg's scale_x_y differs by layer). */
static int same_as_first(const char *path, const int32_t *layers, int h,
                         const rl_yolo_config *first, const rl_yolo_config *y)
{
    const char *what = NULL, *hint = "";
    char a[64] = "", b[64] = "";
    if (y->flavour != first->flavour) {
        what = "flavour";
        snprintf(a, sizeof a, "%s", flavour_names[y->flavour]);
        snprintf(b, sizeof b, "%s", flavour_names[first->flavour]);
        hint = " (a section with an AlexeyAB option is AlexeyAB's; --flavour reads every "
               "section as one flavour)";
    } else if (y->C != first->C) {
        what = "classes";
        snprintf(a, sizeof a, "%d", (int)y->C);
        snprintf(b, sizeof b, "%d", (int)first->C);
    } else if (y->n_anchors != first->n_anchors ||
               memcmp(y->anchors, first->anchors, 2 * (size_t)y->n_anchors * sizeof(float))) {
        what = "anchors";
        snprintf(a, sizeof a, "(%d anchors)", (int)y->n_anchors);
        snprintf(b, sizeof b, "another list (%d anchors)", (int)first->n_anchors);
    } else if (!same_counters(y, first)) {
        what = "counters_per_class";
        snprintf(a, sizeof a, "%s", y->counters_per_class ? "a list" : "none");
        snprintf(b, sizeof b, "%s", first->counters_per_class ? "another list" : "none");
    }
    for (size_t k = 0; !what && k < sizeof shared_doubles / sizeof *shared_doubles; k++) {
        const double u = field_double(y, shared_doubles[k].offset),
                     v = field_double(first, shared_doubles[k].offset);
        if (u != v) {
            what = shared_doubles[k].name;
            snprintf(a, sizeof a, "%g", u);
            snprintf(b, sizeof b, "%g", v);
        }
    }
    for (size_t k = 0; !what && k < sizeof shared_ints / sizeof *shared_ints; k++) {
        const int32_t u = field_int(y, shared_ints[k].offset),
                      v = field_int(first, shared_ints[k].offset);
        if (u != v) {
            what = shared_ints[k].name;
            if (k < 2) { /* iou_loss, iou_thresh_kind: by darknet's names */
                snprintf(a, sizeof a, "%s", kind_names[u]);
                snprintf(b, sizeof b, "%s", kind_names[v]);
            } else {
                snprintf(a, sizeof a, "%d", (int)u);
                snprintf(b, sizeof b, "%d", (int)v);
            }
        }
    }
    if (!what)
        return 0;
    fprintf(stderr,
            "regionloss: %s: section %d has %s = %s, section %d (the first --section) %s: "
            "the heads of one call share it%s; compute them in separate calls, one plan per "
            "layer\n",
            path, (int)layers[h], what, a, (int)layers[0], b, hint);
    return EXIT_ERROR;
}

/* AlexeyAB's [yolo] options of y as the tool's options write them. */
static int alexeyab_yolo(const rl_yolo_config *y, dncfg_options *out)
{
    out->iou_loss = kind_names[y->iou_loss];
    out->iou_thresh_kind = kind_names[y->iou_thresh_kind];
    const double reals[DN_N_REALS] = {
        [DN_IOU_NORMALIZER] = y->iou_normalizer, [DN_CLS_NORMALIZER] = y->cls_normalizer,
        [DN_OBJ_NORMALIZER] = y->obj_normalizer, [DN_SCALE_X_Y] = y->scale_x_y,
        [DN_IOU_THRESH] = y->iou_thresh,         [DN_LABEL_SMOOTH_EPS] = y->label_smooth_eps,
        [DN_MAX_DELTA] = y->max_delta};
    for (int k = 0; k < DN_N_REALS; k++)
        put_double(out->ab_real[k], sizeof out->ab_real[k], reals[k]);
    const int32_t ints[DN_N_INTS] = {
        [DN_FOCAL_LOSS] = y->focal_loss, [DN_NEW_COORDS] = y->new_coords,
        [DN_OBJECTNESS_SMOOTH] = y->objectness_smooth, [DN_SHOW_DETAILS] = y->show_details,
        [DN_MAX_BOXES] = y->max_boxes};
    for (int k = 0; k < DN_N_INTS; k++)
        snprintf(out->ab_int[k], sizeof out->ab_int[k], "%d", (int)ints[k]);
    if (y->counters_per_class && !(out->counters = int_list(y->counters_per_class, y->C)))
        return no_memory();
    return 0;
}

int dncfg_read(const char *path, const char *const *sections, int n, int flavour,
               dncfg_options *out)
{
    memset(out, 0, sizeof *out);
    int32_t layers[TOOL_MAX_HEADS];
    for (int h = 0; h < n; h++) {
        if (parse_section(path, sections[h], &layers[h]))
            return EXIT_ERROR;
        for (int e = 0; e < h; e++)
            if (layers[e] == layers[h]) {
                fprintf(stderr, "regionloss: --section %d given twice: each head is one "
                                "section\n",
                        (int)layers[h]);
                return EXIT_ERROR;
            }
    }
    uint8_t *text;
    size_t len;
    char err[512];
    if (read_file(path, &text, &len, err, sizeof err))
        return file_error(path, err);
    rl_darknet_cfg *cfgs[TOOL_MAX_HEADS] = {NULL};
    int rc = 0;
    for (int h = 0; h < n && !rc; h++) {
        rl_status st = rl_darknet_cfg_parse_flavour((const char *)text, len, layers[h], flavour,
                                                    &cfgs[h]);
        if (st != RL_OK)
            rc = file_error(path, rl_last_error());
    }
    free(text);
    rl_yolo_config first;
    rl_yolo_config_init(&first);
    for (int h = 0; h < n && !rc; h++) {
        const int yolo = rl_darknet_cfg_type(cfgs[h]) == RL_DARKNET_YOLO;
        if (h == 0)
            out->yolo = yolo;
        if (n > 1 && !yolo) {
            fprintf(stderr, "regionloss: %s: section %d is a [region] layer: a network has one "
                            "[region] layer, give one --section\n",
                    path, (int)layers[h]);
            rc = EXIT_ERROR;
            break;
        }
        if (!yolo) {
            rl_config r;
            rl_darknet_cfg_region(cfgs[h], &r);
            if (!(out->anchors = float_list(r.anchors, 2 * r.B))) {
                rc = no_memory();
                break;
            }
            out->classes = r.C;
            const double l[4] = {r.lambda_coord, r.lambda_class, r.lambda_obj, r.lambda_noobj};
            for (int k = 0; k < 4; k++)
                put_double(out->lambda[k], sizeof out->lambda[k], l[k]);
            put_double(out->thresh, sizeof out->thresh, r.thresh);
            out->rescore = r.rescore;
            out->logistic_classes = r.logistic_classes;
            out->flavour = r.flavour;
            snprintf(out->classfix, sizeof out->classfix, "%d", (int)r.classfix);
            snprintf(out->focal_loss, sizeof out->focal_loss, "%d", (int)r.focal_loss);
            continue;
        }
        rl_yolo_config y;
        rl_yolo_head head;
        rl_darknet_cfg_yolo(cfgs[h], &y, &head);
        if (h > 0 && (rc = same_as_first(path, layers, h, &first, &y)))
            break;
        if (!(out->masks[h] = int_list(head.mask, head.B))) {
            rc = no_memory();
            break;
        }
        if (h > 0)
            continue;
        first = y;
        if (!(out->anchors = float_list(y.anchors, 2 * y.n_anchors))) {
            rc = no_memory();
            break;
        }
        out->classes = y.C;
        snprintf(out->net_size, sizeof out->net_size, "%dx%d", (int)y.net_w, (int)y.net_h);
        put_double(out->ignore_thresh, sizeof out->ignore_thresh, y.ignore_thresh);
        put_double(out->truth_thresh, sizeof out->truth_thresh, y.truth_thresh);
        out->flavour = y.flavour;
        if (y.flavour == RL_YOLO_FLAVOUR_ALEXEYAB && (rc = alexeyab_yolo(&y, out)))
            break;
    }
    /* first's anchors and counters point into cfgs[0]: compared above, freed only now */
    for (int h = 0; h < n; h++)
        rl_darknet_cfg_destroy(cfgs[h]);
    if (rc) {
        dncfg_free(out);
        return rc;
    }
    out->n_heads = n;
    snprintf(out->classes_text, sizeof out->classes_text, "%d", (int)out->classes);
    return 0;
}
