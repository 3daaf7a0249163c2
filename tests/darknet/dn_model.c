/* Darknet's region layer restated (see dn_model.h for what differs from its
 * C and why).  Boxes are in darknet's normalised image coordinates, as
 * get_region_box makes them, so the IoUs come out of a different
 * computation than the library's grid-unit ones. */
#include "dn_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct nbox {
    double x, y, w, h; /* centre and size, normalised to the image */
} nbox;

static double logistic(double z) { return 1.0 / (1.0 + exp(-z)); }

int dn_entry(const dn_region *l, int b, int n, int j, int i, int entry)
{
    const int plane = l->w * l->h;
    return b * l->outputs + (n * (l->classes + 5) + entry) * plane + j * l->w + i;
}

void dn_alloc(dn_region *l)
{
    l->outputs = l->h * l->w * l->n * (l->classes + 5);
    const size_t all = (size_t)l->batch * (size_t)l->outputs;
    l->output = calloc(all, sizeof *l->output);
    l->delta = calloc(all, sizeof *l->delta);
    l->best_iou = calloc((size_t)l->batch * l->n * l->h * l->w, sizeof *l->best_iou);
    l->truth_iou = calloc((size_t)l->batch * l->max_boxes, sizeof *l->truth_iou);
}

void dn_free(dn_region *l)
{
    free(l->output);
    free(l->delta);
    free(l->best_iou);
    free(l->truth_iou);
    l->output = l->delta = l->best_iou = l->truth_iou = NULL;
}

/* Length of the overlap of two centred intervals (negative when apart). */
static double overlap(double c1, double len1, double c2, double len2)
{
    double lo = fmax(c1 - len1 / 2, c2 - len2 / 2);
    double hi = fmin(c1 + len1 / 2, c2 + len2 / 2);
    return hi - lo;
}

static double iou(nbox a, nbox b)
{
    double ow = overlap(a.x, a.w, b.x, b.w), oh = overlap(a.y, a.h, b.y, b.h);
    double inter = ow < 0 || oh < 0 ? 0 : ow * oh;
    double uni = a.w * a.h + b.w * b.h - inter;
    return uni > 0 ? inter / uni : 0;
}

/* Anchor n's size normalised to the image, in double (float / int would
 * round to float in C). */
static double anchor_w(const dn_region *l, int n) { return (double)l->biases[2 * n] / l->w; }
static double anchor_h(const dn_region *l, int n) { return (double)l->biases[2 * n + 1] / l->h; }

/* The predicted box of anchor n at column i, row j, from the activated
 * output: x, y already through the logistic, w, h still raw. */
static nbox region_box(const dn_region *l, int b, int n, int j, int i)
{
    nbox p;
    p.x = (i + l->output[dn_entry(l, b, n, j, i, 0)]) / l->w;
    p.y = (j + l->output[dn_entry(l, b, n, j, i, 1)]) / l->h;
    p.w = exp(l->output[dn_entry(l, b, n, j, i, 2)]) * anchor_w(l, n);
    p.h = exp(l->output[dn_entry(l, b, n, j, i, 3)]) * anchor_h(l, n);
    return p;
}

/* delta_region_box: the truth in the output's own space (offset in the
 * cell for x, y; log size over the anchor for w, h), delta = scale *
 * (target - output); returns the prediction's IoU with the truth. */
static double box_delta(dn_region *l, nbox truth, int b, int n, int j, int i, double scale)
{
    const double IoU = iou(region_box(l, b, n, j, i), truth);
    const double target[4] = {
        truth.x * l->w - i,
        truth.y * l->h - j,
        log(truth.w * l->w / (double)l->biases[2 * n]),
        log(truth.h * l->h / (double)l->biases[2 * n + 1]),
    };
    for (int e = 0; e < 4; e++) {
        const int at = dn_entry(l, b, n, j, i, e);
        l->delta[at] = scale * (target[e] - l->output[at]);
    }
    return IoU;
}

/* delta_region_class: every class of the slot gets scale * ([c == cls] -
 * output), and the Class statistic adds the true class's output. */
static void class_delta(dn_region *l, int b, int n, int j, int i, int cls, double *avg_cat)
{
    for (int c = 0; c < l->classes; c++) {
        const int at = dn_entry(l, b, n, j, i, 5 + c);
        l->delta[at] = l->class_scale * ((c == cls ? 1.0 : 0.0) - l->output[at]);
        if (c == cls)
            *avg_cat += l->output[at];
    }
}

static void activate(dn_region *l, const float *input)
{
    const size_t all = (size_t)l->batch * (size_t)l->outputs;
    for (size_t q = 0; q < all; q++)
        l->output[q] = input[q];
    for (int b = 0; b < l->batch; b++)
        for (int n = 0; n < l->n; n++)
            for (int j = 0; j < l->h; j++)
                for (int i = 0; i < l->w; i++) {
                    for (int e = 0; e < 5; e++)
                        if (e != 2 && e != 3) /* x, y, objectness */
                            l->output[dn_entry(l, b, n, j, i, e)] =
                                logistic(l->output[dn_entry(l, b, n, j, i, e)]);
                    if (!l->softmax) {
                        for (int c = 0; c < l->classes; c++) {
                            const int at = dn_entry(l, b, n, j, i, 5 + c);
                            l->output[at] = logistic(l->output[at]);
                        }
                        continue;
                    }
                    double largest = -INFINITY, sum = 0;
                    for (int c = 0; c < l->classes; c++)
                        largest = fmax(largest, l->output[dn_entry(l, b, n, j, i, 5 + c)]);
                    for (int c = 0; c < l->classes; c++) {
                        const int at = dn_entry(l, b, n, j, i, 5 + c);
                        l->output[at] = exp(l->output[at] - largest);
                        sum += l->output[at];
                    }
                    for (int c = 0; c < l->classes; c++)
                        l->output[dn_entry(l, b, n, j, i, 5 + c)] /= sum;
                }
}

static nbox truth_box(const float *f)
{
    nbox t = {f[0], f[1], f[2], f[3]};
    return t;
}

void dn_forward(dn_region *l, const float *input, const float *truth, int64_t seen)
{
    const int truths_per_image = 5 * l->max_boxes;
    double avg_iou = 0, recall = 0, recall75 = 0, avg_cat = 0, avg_obj = 0, avg_anyobj = 0;
    int count = 0;

    activate(l, input);
    memset(l->delta, 0, (size_t)l->batch * (size_t)l->outputs * sizeof *l->delta);
    memset(l->truth_iou, 0, (size_t)l->batch * l->max_boxes * sizeof *l->truth_iou);

    for (int b = 0; b < l->batch; b++) {
        const float *tb = truth + b * truths_per_image;
        /* Every slot: pushed to objectness 0 unless it already overlaps a
         * truth by more than thresh; during warm-up pulled to its prior. */
        for (int j = 0; j < l->h; j++)
            for (int i = 0; i < l->w; i++)
                for (int n = 0; n < l->n; n++) {
                    const nbox pred = region_box(l, b, n, j, i);
                    double best = 0;
                    for (int t = 0; t < l->max_boxes; t++) {
                        if (!tb[5 * t]) /* x == 0 ends the list */
                            break;
                        const double v = iou(pred, truth_box(tb + 5 * t));
                        if (v > best)
                            best = v;
                    }
                    l->best_iou[((b * l->n + n) * l->h + j) * l->w + i] = best;
                    const int obj = dn_entry(l, b, n, j, i, 4);
                    avg_anyobj += l->output[obj];
                    l->delta[obj] = l->noobject_scale * (0 - l->output[obj]);
                    if (best > l->thresh)
                        l->delta[obj] = 0;
                    if (seen < l->warmup_seen) {
                        /* the anchor itself, centred in the cell */
                        const nbox prior = {(i + .5) / l->w, (j + .5) / l->h,
                                            anchor_w(l, n), anchor_h(l, n)};
                        box_delta(l, prior, b, n, j, i, l->warmup_scale);
                    }
                }
        /* Every truth, in order: its slot's box, objectness and classes,
         * overwriting whatever the loop above or an earlier truth wrote. */
        for (int t = 0; t < l->max_boxes; t++) {
            const nbox g = truth_box(tb + 5 * t);
            if (!g.x)
                break;
            int i = (int)(g.x * l->w), j = (int)(g.y * l->h);
            if (i > l->w - 1)
                i = l->w - 1;
            if (j > l->h - 1)
                j = l->h - 1;
            /* bias_match: the anchor whose shape, centred on the truth's,
             * overlaps it most; the first of equals wins */
            int best_n = 0;
            double best_shape = 0;
            for (int n = 0; n < l->n; n++) {
                const nbox a = {0, 0, anchor_w(l, n), anchor_h(l, n)};
                const nbox s = {0, 0, g.w, g.h};
                const double v = iou(a, s);
                if (v > best_shape) {
                    best_shape = v;
                    best_n = n;
                }
            }
            const double v = box_delta(l, g, b, best_n, j, i, l->coord_scale * (2 - g.w * g.h));
            l->truth_iou[b * l->max_boxes + t] = v;
            recall += v > .5;
            recall75 += v > .75;
            avg_iou += v;
            const int obj = dn_entry(l, b, best_n, j, i, 4);
            avg_obj += l->output[obj];
            l->delta[obj] = l->object_scale * ((l->rescore ? v : 1.0) - l->output[obj]);
            class_delta(l, b, best_n, j, i, (int)tb[5 * t + 4], &avg_cat);
            count++;
        }
    }

    l->cost = 0;
    for (size_t q = 0; q < (size_t)l->batch * (size_t)l->outputs; q++)
        l->cost += l->delta[q] * l->delta[q];
    /* darknet divides by count even when it is 0 (and prints nan); the
     * library reports 0 there */
    l->line.count = count;
    l->line.avg_iou = count ? avg_iou / count : 0;
    l->line.avg_cat = count ? avg_cat / count : 0;
    l->line.avg_obj = count ? avg_obj / count : 0;
    l->line.recall = count ? recall / count : 0;
    l->line.recall75 = count ? recall75 / count : 0;
    l->line.avg_anyobj = avg_anyobj / (l->w * l->h * l->n * l->batch);
}
