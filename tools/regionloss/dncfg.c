/* A darknet cfg's sections to the tool's options (dncfg.h). */
#include "dncfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "inputs.h"
#include "regionloss_darknet.h"

void dncfg_free(dncfg_options *o)
{
    free(o->anchors);
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

/* Head h's section against head 0's: one call's heads share these. */
static int same_as_first(const char *path, const int32_t *layers, int h,
                         const rl_yolo_config *first, const rl_yolo_config *y)
{
    const char *what = NULL;
    char a[64] = "", b[64] = "";
    if (y->C != first->C) {
        what = "classes";
        snprintf(a, sizeof a, "%d", (int)y->C);
        snprintf(b, sizeof b, "%d", (int)first->C);
    } else if (y->n_anchors != first->n_anchors ||
               memcmp(y->anchors, first->anchors, 2 * (size_t)y->n_anchors * sizeof(float))) {
        what = "anchors";
        snprintf(a, sizeof a, "(%d anchors)", (int)y->n_anchors);
        snprintf(b, sizeof b, "another list (%d anchors)", (int)first->n_anchors);
    } else if (y->ignore_thresh != first->ignore_thresh) {
        what = "ignore_thresh";
        snprintf(a, sizeof a, "%g", y->ignore_thresh);
        snprintf(b, sizeof b, "%g", first->ignore_thresh);
    } else if (y->truth_thresh != first->truth_thresh) {
        what = "truth_thresh";
        snprintf(a, sizeof a, "%g", y->truth_thresh);
        snprintf(b, sizeof b, "%g", first->truth_thresh);
    }
    if (!what)
        return 0;
    fprintf(stderr,
            "regionloss: %s: section %d has %s = %s, section %d (the first --section) %s: "
            "the heads of one call share it; compute them in separate calls\n",
            path, (int)layers[h], what, a, (int)layers[0], b);
    return EXIT_ERROR;
}

int dncfg_read(const char *path, const char *const *sections, int n, dncfg_options *out)
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
        rl_status st = rl_darknet_cfg_parse((const char *)text, len, layers[h], &cfgs[h]);
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
    }
    /* first's anchors point into cfgs[0]: compared above, freed only now */
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
