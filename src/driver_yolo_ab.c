/* Flavour alexeyab of the [yolo] head in the optimised driver: what
 * AlexeyAB's forward_yolo_layer writes into l.delta and *l.cost, as
 * docs/darknet.md ("AlexeyAB's [yolo] layer") states it.  driver.c runs the
 * shared phases; this file adds the flavour's decisions and its per-positive
 * deltas, in double.  It is written from the documentation, apart from the
 * reference (src/scalar/yolo_reference_ab.c), so that the differential
 * tests compare two implementations.
 *
 * Phase 1 (per image):
 *   - standard decoding (scale_x_y = 1, new_coords = 0): the mask kernel
 *     decides by min(ignore_thresh, truth_thresh) over *every* truth of the
 *     image, inclusively.  Its negatives are the flavour's: a slot's best
 *     matched IoU is at most its best IoU over the truths darknet reads, at
 *     most its best over all.  Every other slot is decided again here in
 *     double (the 0.25 class rule, the truths darknet reads, truth_thresh);
 *     there are few.
 *   - other decoding: the kernels decode another box, so every slot is
 *     decided here in double (slower: a double pass over every slot).
 *   Pass 2's slots (each read truth's best anchor and its iou_thresh
 *   anchors) are marked positive before the kernels run (rl_yolo_ab_mark).
 * Phase 2: the grad kernel writes the negatives' objectness gradient
 * (obj_normalizer c^ / D, from cslope); here every other slot with a delta:
 * ignored slots under objectness_smooth, truth_thresh positives, then pass
 * 2 in truth order on its slots, the iou_thresh averaging, the writes. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "driver_call.h"
#include "elem.h"

/* ---- sizes and the workspace ---- */

static int64_t max_p2(const rl_params *p, int64_t nt) { return nt * p->B; }

size_t rl_yolo_ab_ws_extra(const rl_params *p, int64_t N, int64_t nt)
{
    const int64_t m = max_p2(p, nt);
    return align_up((size_t)m * sizeof(ab_rec)) + align_up((size_t)N * sizeof(int64_t)) +
           align_up((size_t)(m * p->K) * sizeof(double)) +
           align_up((size_t)(N * p->K) * sizeof(double));
}

void rl_yolo_ab_ws_carve(const rl_params *p, int64_t N, int64_t nt, uintptr_t *a, workspace *w)
{
    const int64_t m = max_p2(p, nt);
    w->ab_rec = (ab_rec *)*a;
    *a += align_up((size_t)m * sizeof(ab_rec));
    w->ab_nrec = (int64_t *)*a;
    *a += align_up((size_t)N * sizeof(int64_t));
    w->ab_delta = (double *)*a;
    *a += align_up((size_t)(m * p->K) * sizeof(double));
    w->ab_scratch = (double *)*a;
    *a += align_up((size_t)(N * p->K) * sizeof(double));
}

int rl_yolo_ab_standard(const rl_params *p)
{
    return p->ab->scale_x_y == 1.0 && !p->ab->new_coords;
}

/* ---- reading the outputs as darknet's activated copy ---- */

static double raw(const call *c, int64_t n, int32_t i, int32_t j, int32_t b, int32_t k)
{
    return rl_load(c->batch->pred, rl_index(c->p, n, i, j, b, k), c->p->pred_type);
}

/* Entry k, of raw value t, as darknet's l.output holds it ("Activated
 * outputs"). */
static double act_of(const rl_yolo_ab *ab, int32_t k, double t)
{
    if (k == 2 || k == 3)
        return t;
    const double o = ab->new_coords ? t : rl_call_sigmoid(t);
    return k < 2 ? ab->scale_x_y * o - (ab->scale_x_y - 1) / 2 : o;
}

static double act(const call *c, int64_t n, int32_t i, int32_t j, int32_t b, int32_t k)
{
    return act_of(c->p->ab, k, raw(c, n, i, j, b, k));
}

/* The slot's box and objectness entries, raw, loaded once: pass 1 reads
 * each of them, for every slot when the box is decoded otherwise than the
 * kernels do. */
static void load5(const call *c, int64_t n, int32_t i, int32_t j, int32_t b, double t[5])
{
    const rl_params *p = c->p;
    const int64_t x0 = rl_index(p, n, i, j, b, 0), cs = p->layout == RL_LAYOUT_NCHW ? p->HW : 1;
    for (int k = 0; k < 5; k++)
        t[k] = rl_load(c->batch->pred, x0 + k * cs, p->pred_type);
}

typedef struct bx {
    double x, y, w, h;
} bx;

static bx truth_box(const rl_box *t) { return (bx){t->cx, t->cy, t->w, t->h}; }

/* The decoded box in image units of slot (i, j, b), raw entries t. */
static bx decoded_of(const rl_params *p, int32_t i, int32_t j, int32_t b, const double t[5])
{
    const int32_t a = p->mask[b];
    const double sw = p->ab->new_coords ? 4 * t[2] * t[2] : exp(t[2]);
    const double sh = p->ab->new_coords ? 4 * t[3] * t[3] : exp(t[3]);
    return (bx){(j + act_of(p->ab, 0, t[0])) / p->W, (i + act_of(p->ab, 1, t[1])) / p->H,
                sw * p->yolo_anchors[2 * a] / p->net_w, sh * p->yolo_anchors[2 * a + 1] / p->net_h};
}

static bx decoded(const call *c, int64_t n, int32_t i, int32_t j, int32_t b)
{
    double t[5];
    load5(c, n, i, j, b, t);
    return decoded_of(c->p, i, j, b, t);
}

/* ---- IoU and its kinds ---- */

/* overlap of [a0, a1] and [b0, b1], negative when apart */
static double overlap(double a0, double a1, double b0, double b1)
{
    /* Compares, not fmin and fmax (library calls, a third of pass 1's time
     * on 60 truths): an edge here is finite or infinite, never NaN (a NaN
     * prediction fails the call whatever is computed), so they agree. */
    return (a1 < b1 ? a1 : b1) - (a0 > b0 ? a0 : b0);
}

/* the intersection: 0 once an axis does not overlap */
static double isect(bx a, bx b)
{
    /* x first: most truths miss a slot's box, and then y is not needed */
    const double ox = overlap(a.x - a.w / 2, a.x + a.w / 2, b.x - b.w / 2, b.x + b.w / 2);
    if (ox < 0)
        return 0.0;
    const double oy = overlap(a.y - a.h / 2, a.y + a.h / 2, b.y - b.h / 2, b.y + b.h / 2);
    return oy < 0 ? 0.0 : ox * oy;
}

/* darknet's box_iou: 0 when the intersection or the union is 0; 0 too where
 * an overflowed size would make it NaN ("NaN and infinity") */
static double iou(bx a, bx b)
{
    const double in = isect(a, b);
    if (in == 0.0)
        return 0.0;
    const double un = a.w * a.h + b.w * b.h - in;
    if (un == 0.0)
        return 0.0;
    const double v = in / un;
    return v == v ? v : 0.0;
}

/* the enclosing box's width and height */
static void hull(bx a, bx b, double *w, double *h)
{
    *w = fmax(a.x + a.w / 2, b.x + b.w / 2) - fmin(a.x - a.w / 2, b.x - b.w / 2);
    *h = fmax(a.y + a.h / 2, b.y + b.h / 2) - fmin(a.y - a.h / 2, b.y - b.h / 2);
}

static double giou(bx a, bx b)
{
    double w, h;
    hull(a, b, &w, &h);
    const double v = iou(a, b), area = w * h;
    if (area == 0.0)
        return v;
    const double un = a.w * a.h + b.w * b.h - isect(a, b);
    const double g = v - (area - un) / area;
    return g == g ? g : v;
}

static double aspect_term(bx pred, bx truth)
{
    const double d = atan(truth.w / truth.h) - atan(pred.w / pred.h);
    return 4 / (M_PI * M_PI) * d * d;
}

/* IoU of kind `kind` of two boxes at the same centre (anchor shapes): the
 * centre distance is 0, so DIoU is the IoU and CIoU subtracts only the
 * aspect term. */
static double shape_kind(bx anchor, bx truth, int32_t kind)
{
    const double v = iou(anchor, truth);
    if (kind == RL_BOX_GIOU)
        return giou(anchor, truth);
    if (kind == RL_BOX_CIOU) {
        double w, h;
        hull(anchor, truth, &w, &h);
        if (w * w + h * h == 0.0)
            return v;
        const double ar = aspect_term(anchor, truth);
        return v - ar / (1 - v + ar + 0.000001) * ar;
    }
    return v;
}

/* One axis of darknet's dx_box_iou: the prediction's edges lo < hi against
 * the truth's tlo, thi, with `other` the prediction's extent along the
 * other axis and `io` the intersection's.  d_lo, d_hi: the derivatives of
 * the union (du), of the intersection (di) and of the hull's area along
 * this axis (dc, hull extent `ce` on the other axis) with respect to each
 * edge. */
typedef struct edge_d {
    double di, du, dc;
} edge_d;

static void axis_d(double lo, double hi, double tlo, double thi, double other, double io,
                   double ce, edge_d *dlo, edge_d *dhi)
{
    dlo->di = lo > tlo ? -io : 0.0;
    dhi->di = hi < thi ? io : 0.0;
    dlo->du = -other - dlo->di;
    dhi->du = other - dhi->di;
    dlo->dc = lo < tlo ? -ce : 0.0;
    dhi->dc = hi > thi ? ce : 0.0;
}

/* "Box delta", the IoU kinds: darknet's derivative (x, y, w, h) of the
 * kind's IoU with respect to the decoded box p, truth t, in image units. */
static void iou_slope(bx p, bx t, int32_t kind, double out[4])
{
    const double l = p.x - p.w / 2, r = p.x + p.w / 2, tp = p.y - p.h / 2, bt = p.y + p.h / 2;
    const double tl = t.x - t.w / 2, tr = t.x + t.w / 2, tt = t.y - t.h / 2, tb = t.y + t.h / 2;
    const double iw = overlap(l, r, tl, tr), ih = overlap(tp, bt, tt, tb);
    const double in = iw * ih;
    const double un = (r - l) * (bt - tp) + (tr - tl) * (tb - tt) - in;
    const double cw = fmax(r, tr) - fmin(l, tl), ch = fmax(bt, tb) - fmin(tp, tt);
    const double carea = cw * ch;
    edge_d e[4]; /* left, right, top, bottom */
    axis_d(l, r, tl, tr, bt - tp, ih, ch, &e[0], &e[1]);
    axis_d(tp, bt, tt, tb, r - l, iw, cw, &e[2], &e[3]);
    double g[4] = {0, 0, 0, 0}; /* d IoU / d edge */
    const int apart = iw <= 0 || ih <= 0;
    for (int k = 0; k < 4; k++)
        if (un > 0)
            g[k] = (un * e[k].di - in * e[k].du) / (un * un);
    /* A size below the centre's rounding puts both edges at one value:
     * darknet then gives the low edge the high edge's derivative. */
    if (!(l < r))
        g[0] = g[1];
    if (!(tp < bt))
        g[2] = g[3];
    for (int k = 0; k < 4; k++) {
        if (kind == RL_BOX_GIOU) {
            /* the hull term, added; alone when the boxes are apart */
            const double hterm = (carea * e[k].du - un * e[k].dc) / (carea * carea);
            if (apart)
                g[k] = hterm;
            else if (carea > 0)
                g[k] += hterm;
        }
    }
    /* x moves both horizontal edges, w pulls them apart (not halved) */
    double d[4] = {g[0] + g[1], g[2] + g[3], g[1] - g[0], g[3] - g[2]};
    if (kind == RL_BOX_DIOU || kind == RL_BOX_CIOU) {
        /* centre-distance term S / C, C the hull's squared diagonal */
        const double S = (p.x - t.x) * (p.x - t.x) + (p.y - t.y) * (p.y - t.y);
        const double C = cw * cw + ch * ch, C2 = C * C;
        const double gl = l < tl, gr = r > tr, gt = tp < tt, gb = bt > tb;
        double c[4] = {(2 * (t.x - p.x) * C - 2 * cw * (gr - gl) * S) / C2,
                       (2 * (t.y - p.y) * C - 2 * ch * (gb - gt) * S) / C2,
                       2 * cw * (gr + gl) / 2 * S / C2, 2 * ch * (gb + gt) / 2 * S / C2};
        if (kind == RL_BOX_CIOU) {
            const double da = atan(t.w / t.h) - atan(p.w / p.h);
            const double ar = 4 / (M_PI * M_PI) * da * da;
            const double alpha = ar / (1 - in / un + ar + 0.000001);
            c[2] += alpha * (8 / (M_PI * M_PI) * da * p.h);
            c[3] += alpha * (-8 / (M_PI * M_PI) * da * p.w);
        }
        for (int k = 0; k < 4; k++) {
            if (apart)
                d[k] = c[k];
            else if (C > 0)
                d[k] += c[k];
        }
    }
    memcpy(out, d, sizeof d);
}

/* ---- the truths darknet reads, and pass 2's slots ---- */

/* The end of image n's truths as darknet reads them: at most max, up to the
 * first whose x is 0 ("max and the truth list"). */
static int64_t read_end(const call *c, int64_t n)
{
    const int64_t lo = c->batch->truth_offsets[n], hi = c->batch->truth_offsets[n + 1];
    int64_t t = lo;
    for (; t < hi && t - lo < c->p->ab->max_boxes; t++)
        if (c->batch->truths[t].cx == 0.0f)
            break;
    return t;
}

static bx anchor_shape(const rl_params *p, int32_t a)
{
    return (bx){0, 0, (double)p->yolo_anchors[2 * a] / p->net_w,
                (double)p->yolo_anchors[2 * a + 1] / p->net_h};
}

/* Truth t's cell in pass 2: darknet's float product, truncated, kept on
 * the grid; and its best anchor of the whole list (pjreddie's shape IoU,
 * ties to the smaller index). */
static int32_t truth_cell(const rl_params *p, const rl_box *t, int32_t *ci, int32_t *cj)
{
    const int32_t j = (int32_t)(t->cx * (float)p->W), i = (int32_t)(t->cy * (float)p->H);
    *cj = j < p->W ? j : p->W - 1;
    *ci = i < p->H ? i : p->H - 1;
    const bx shape = {0, 0, t->w, t->h};
    double best = 0.0;
    int32_t ba = 0;
    for (int32_t a = 0; a < p->n_anchors; a++) {
        const double v = iou(anchor_shape(p, a), shape);
        if (v > best) {
            best = v;
            ba = a;
        }
    }
    return ba;
}

/* The slots truth t takes in pass 2, in darknet's order: x = -1 is its best
 * anchor ba, x = 0 .. n_anchors - 1 the list's others whose shape IoU of
 * iou_thresh_kind exceeds iou_thresh.  Returns the head's anchor index of
 * step x, or -1 when the step takes no slot of this head. */
static int32_t truth_step(const rl_params *p, const rl_box *t, int32_t ba, int32_t x)
{
    const int32_t a = x < 0 ? ba : x;
    if (x >= 0 && (a == ba || !(p->ab->iou_thresh < 1.0)))
        return -1;
    int32_t b = 0;
    while (b < p->B && p->mask[b] != a)
        b++;
    if (b == p->B)
        return -1;
    if (x >= 0 && !(shape_kind(anchor_shape(p, a), (bx){0, 0, t->w, t->h},
                               p->ab->iou_thresh_kind) > p->ab->iou_thresh))
        return -1;
    return b;
}

static int64_t find_rec(const ab_rec *r, int64_t m, int32_t kidx)
{
    int64_t lo = 0, hi = m;
    while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        if (r[mid].kidx < kidx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m && r[lo].kidx == kidx ? lo : -1;
}

void rl_yolo_ab_mark(const call *c, int64_t n)
{
    const rl_params *p = c->p;
    const int64_t lo = c->batch->truth_offsets[n], end = read_end(c, n);
    ab_rec *rec = c->w.ab_rec + lo * p->B;
    uint8_t *kind = c->w.kind + n * c->slots;
    int64_t m = 0;
    for (int64_t t = lo; t < end; t++) {
        int32_t i, j;
        const rl_box *tr = &c->batch->truths[t];
        const int32_t ba = truth_cell(p, tr, &i, &j);
        for (int32_t x = -1; x < p->n_anchors; x++) {
            const int32_t b = truth_step(p, tr, ba, x);
            if (b < 0)
                continue;
            const int32_t kidx = (b * p->H + i) * p->W + j;
            if (find_rec(rec, m, kidx) >= 0)
                continue;
            int64_t at = m++; /* insertion, kept sorted */
            for (; at > 0 && rec[at - 1].kidx > kidx; at--)
                rec[at] = rec[at - 1];
            rec[at] = (ab_rec){-1, kidx};
            kind[kidx] = RL_KIND_OBJ; /* not for the kernels to decide */
        }
    }
    c->w.ab_nrec[n] = m;
}

/* ---- pass 1 ---- */

typedef struct p1 {
    double best;       /* best IoU over the truths read */
    double best_match; /* the same over the truths the 0.25 class rule keeps */
    int64_t best_t;    /* the first truth reaching `best` (the first one when none does) */
    double oc;         /* objectness output */
    int kind;          /* RL_KIND_*, as pass 1 leaves it */
} p1;

/* "Pass 1, every slot": the decision of slot (i, j, b), raw entries ent. */
static p1 pass1_of(const call *c, int64_t n, int64_t end, int32_t i, int32_t j, int32_t b,
                   const double ent[5])
{
    const rl_params *p = c->p;
    const int64_t lo = c->batch->truth_offsets[n];
    p1 r = {0.0, 0.0, lo, act_of(p->ab, 4, ent[4]), RL_KIND_NOOBJ};
    if (end == lo)
        return r;
    const bx d = decoded_of(p, i, j, b, ent);
    for (int64_t t = lo; t < end; t++) {
        const double v = iou(d, truth_box(&c->batch->truths[t]));
        if (v > r.best) {
            r.best = v;
            r.best_t = t;
        }
    }
    /* best_match is read only where best passes a threshold (the ignore
     * test, or a positive's smoothed objectness): elsewhere the C class
     * activations of compare_yolo_class are not worth computing. */
    if (r.best > p->thresh || fmin(r.best, 1.0) > p->truth_thresh) {
        int confident = 0; /* compare_yolo_class: any class, not the truth's */
        for (int32_t q = 0; q < p->C && !confident; q++)
            confident = act(c, n, i, j, b, 5 + q) > 0.25;
        r.best_match = confident ? r.best : 0.0;
    }
    if (r.best_match > p->thresh)
        r.kind = RL_KIND_IGNORED;
    if (fmin(r.best, 1.0) > p->truth_thresh)
        r.kind = RL_KIND_OBJ;
    return r;
}

static p1 pass1(const call *c, int64_t n, int64_t end, int32_t i, int32_t j, int32_t b)
{
    double t[5];
    load5(c, n, i, j, b, t);
    return pass1_of(c, n, end, i, j, b, t);
}

/* The objectness delta pass 1 leaves on a slot that is not its positive. */
static double pass1_obj(const rl_yolo_ab *ab, const p1 *s)
{
    const double neg = ab->obj_normalizer * (0 - s->oc);
    if (s->kind == RL_KIND_NOOBJ)
        return neg;
    if (!ab->objectness_smooth)
        return 0.0;
    const double sm = ab->obj_normalizer * (s->best_match - s->oc);
    return sm > neg ? sm : neg;
}

/* A slot pass 1 leaves negative: the sums the kernels add for theirs, in
 * float as they do (docs/numerics.md, [yolo]: negatives are float). */
static void add_negative(const call *c, image_sums *s, double tc_raw, int64_t slot)
{
    const float tc = (float)tc_raw;
    const float o = c->p->ab->new_coords ? tc : 1.0f / (1.0f + expf(-tc));
    s->m.n_noobj++;
    s->m.c_noobj += o;
    s->m.c2_noobj += (double)o * o;
    if (c->w.cslope)
        c->w.cslope[slot] = o;
}

static uint32_t check_classes(const call *c, int64_t n)
{
    const rl_params *p = c->p;
    if (c->batch->truth_offsets[n + 1] == c->batch->truth_offsets[n])
        return 0; /* no truth: no class is read */
    uint32_t bad = 0;
    if (p->layout == RL_LAYOUT_NCHW) { /* one contiguous plane per class */
        for (int32_t b = 0; b < p->B; b++)
            for (int32_t q = 0; q < p->C; q++)
                bad |= rl_call_check_logits(c->batch->pred, rl_index(p, n, 0, 0, b, 5 + q), 1,
                                            (int32_t)p->HW, p->pred_type, NULL);
    } else {
        for (int64_t q = 0; q < p->HW * p->B; q++)
            bad |= rl_call_check_logits(c->batch->pred, n * p->per_image + q * p->K + 5, 1, p->C,
                                        p->pred_type, NULL);
    }
    return bad;
}

void rl_yolo_ab_phase1(const call *c, int64_t n)
{
    const rl_params *p = c->p;
    image_sums *s = &c->w.sums[n];
    uint8_t *kind = c->w.kind + n * c->slots;
    const int64_t end = read_end(c, n), m = c->w.ab_nrec[n];
    const ab_rec *rec = c->w.ab_rec + c->batch->truth_offsets[n] * p->B;
    const int standard = rl_yolo_ab_standard(p);
    s->nonfinite_class |= check_classes(c, n) != 0;
    for (int64_t kidx = 0; kidx < c->slots; kidx++) {
        const int32_t b = (int32_t)(kidx / p->HW), q = (int32_t)(kidx % p->HW);
        const int32_t i = q / p->W, j = q % p->W;
        float *cs_slot = c->w.cslope ? c->w.cslope + n * c->slots + kidx : NULL;
        double t[5];
        if (!standard) {
            /* every slot here: its finiteness, Avg Any Obj, its slope */
            load5(c, n, i, j, b, t);
            for (int k = 0; k < 5; k++)
                s->m.nonfinite |= !isfinite(t[k]);
            const float tc = (float)t[4];
            const float o = p->ab->new_coords ? tc : 1.0f / (1.0f + expf(-tc));
            s->m.c_all += o;
            if (cs_slot)
                *cs_slot = o;
        } else if (kind[kidx] == RL_KIND_NOOBJ) {
            continue; /* the kernels' negative: final */
        } else {
            load5(c, n, i, j, b, t);
        }
        if (m > 0 && kind[kidx] == RL_KIND_OBJ && find_rec(rec, m, (int32_t)kidx) >= 0)
            continue; /* pass 2's: positive whatever pass 1 says */
        const p1 d = pass1_of(c, n, end, i, j, b, t);
        kind[kidx] = (uint8_t)d.kind;
        if (d.kind == RL_KIND_NOOBJ)
            add_negative(c, s, t[4], n * c->slots + kidx);
    }
}

/* ---- the deltas of a positive slot ---- */

static double mult(const rl_yolo_ab *ab, int32_t cls)
{
    return ab->class_mult ? (double)ab->class_mult[cls] : 1.0;
}

static double target(const rl_yolo_ab *ab, int on)
{
    const double y = on ? 1.0 : 0.0;
    return ab->label_smooth_eps != 0.0
               ? y * (1 - ab->label_smooth_eps) + 0.5 * ab->label_smooth_eps
               : y;
}

/* "Class deltas" of class cls into the slot's deltas dl (K entries). */
static void class_deltas(const call *c, int64_t n, int32_t i, int32_t j, int32_t b, int32_t cls,
                         double *dl)
{
    const rl_params *p = c->p;
    const rl_yolo_ab *ab = p->ab;
    double *dc = dl + 5;
    if (dc[cls] != 0.0) { /* a second truth of this class: its entry alone */
        const double v = target(ab, 1) - act(c, n, i, j, b, 5 + cls);
        if (isfinite(v))
            dc[cls] = v;
        if (ab->class_mult)
            dc[cls] *= mult(ab, cls);
        return;
    }
    if (ab->focal_loss) {
        const double pt = act(c, n, i, j, b, 5 + cls) + 0.000000000000001;
        double g = -(1 - pt) * (2 * pt * log(pt) + pt - 1);
        if (g != g)
            g = 0.0; /* an output <= 0 (new_coords): no update */
        for (int32_t q = 0; q < p->C; q++)
            dc[q] = ((q == cls) - act(c, n, i, j, b, 5 + q)) * (0.5 * g);
        return;
    }
    for (int32_t q = 0; q < p->C; q++) {
        const double v = target(ab, q == cls) - act(c, n, i, j, b, 5 + q);
        if (isfinite(v))
            dc[q] = v;
    }
    if (ab->class_mult)
        dc[cls] *= mult(ab, cls) * ab->cls_normalizer;
}

/* "Box delta" of truth t with weight k, added into dl[0..3]; *v_iou and
 * *v_giou: the decoded box's IoU and GIoU with t. */
static void box_deltas(const call *c, int64_t n, int32_t i, int32_t j, int32_t b, const rl_box *t,
                       double k, double *dl, double *v_iou, double *v_giou)
{
    const rl_params *p = c->p;
    const rl_yolo_ab *ab = p->ab;
    bx d = decoded(c, n, i, j, b);
    const bx tb = truth_box(t);
    *v_iou = iou(d, tb);
    *v_giou = giou(d, tb);
    const double tw = raw(c, n, i, j, b, 2), th = raw(c, n, i, j, b, 3);
    const double aw = p->yolo_anchors[2 * p->mask[b]], ah = p->yolo_anchors[2 * p->mask[b] + 1];
    if (ab->iou_loss == RL_BOX_MSE) {
        const double sc = (2 - (double)t->w * t->h) * k;
        const double ww = (double)t->w * p->net_w, hh = (double)t->h * p->net_h;
        const double TW = ab->new_coords ? sqrt(ww / (4 * aw)) : log(ww / aw);
        const double TH = ab->new_coords ? sqrt(hh / (4 * ah)) : log(hh / ah);
        dl[0] += sc * ((double)t->cx * p->W - j - act(c, n, i, j, b, 0));
        dl[1] += sc * ((double)t->cy * p->H - i - act(c, n, i, j, b, 1));
        dl[2] += sc * (TW - tw);
        dl[3] += sc * (TH - th);
        return;
    }
    if (d.w == 0) /* darknet's guard against a zero size, for the slope only */
        d.w = 1.0;
    if (d.h == 0)
        d.h = 1.0;
    double g[4];
    iou_slope(d, tb, ab->iou_loss, g);
    if (!ab->new_coords) {
        g[2] *= exp(tw);
        g[3] *= exp(th);
    }
    for (int e = 0; e < 4; e++) {
        double v = g[e] * k;
        if (!isfinite(v))
            v = 0.0;
        if (ab->max_delta != FLT_MAX)
            v = v > ab->max_delta ? ab->max_delta : v < -ab->max_delta ? -ab->max_delta : v;
        dl[e] += v;
    }
}

/* The slot's deltas as pass 1 leaves them (dl zeroed by the caller);
 * returns its decision. */
static p1 pass1_deltas(const call *c, int64_t n, int64_t end, int32_t i, int32_t j, int32_t b,
                       double *dl)
{
    const rl_yolo_ab *ab = c->p->ab;
    const p1 s = pass1(c, n, end, i, j, b);
    if (s.kind != RL_KIND_OBJ) {
        dl[4] = pass1_obj(ab, &s);
        return s;
    }
    /* a truth_thresh positive of its best truth */
    const rl_box *t = &c->batch->truths[s.best_t];
    const double sq = s.best * s.best, cm = mult(ab, t->cls);
    dl[4] = ab->obj_normalizer * ((ab->objectness_smooth ? sq : 1.0) - s.oc);
    class_deltas(c, n, i, j, b, t->cls, dl);
    if (ab->objectness_smooth)
        dl[5 + t->cls] = cm * (sq - act(c, n, i, j, b, 5 + t->cls));
    double v, g;
    box_deltas(c, n, i, j, b, t, ab->iou_normalizer * cm, dl, &v, &g);
    return s;
}

/* After every truth, with iou_thresh < 1: a slot with an objectness delta
 * has its box deltas divided by its number of positive class deltas. */
static void average(const call *c, double *dl)
{
    if (!(c->p->ab->iou_thresh < 1.0) || dl[4] == 0.0)
        return;
    int32_t k = 0;
    for (int32_t q = 0; q < c->p->C; q++)
        k += dl[5 + q] > 0;
    if (k > 0)
        for (int e = 0; e < 4; e++)
            dl[e] /= k;
}

/* A positive slot's deltas into the gradient and the sums; `last` the
 * truth it is measured against. */
static void finish_positive(call *c, int64_t n, int32_t i, int32_t j, int32_t b,
                            const double *dl, int64_t last, image_sums *s)
{
    const rl_params *p = c->p;
    const int accumulate = p->grad_mode == RL_GRAD_ACCUMULATE;
    for (int32_t e = 0; e < p->K; e++) {
        const double v = dl[e];
        if (e < 4)
            s->ab.box2 += v * v;
        else if (e == 4)
            s->ab.obj2 += v * v;
        else
            s->ab.cls2 += v * v;
        if (c->grad && v != 0.0)
            rl_call_put(c->grad, p->grad_type, rl_index(p, n, i, j, b, e),
                        rl_call_mul0(c->gkc, -v), accumulate);
    }
    const rl_box *t = &c->batch->truths[last];
    const double v = iou(decoded(c, n, i, j, b), truth_box(t));
    s->ab.n_pos++;
    s->sum_iou += v;
    s->n_r50 += v > 0.5;
    s->n_r75 += v > 0.75;
    s->sum_obj += act(c, n, i, j, b, 4);
    s->sum_cls += act(c, n, i, j, b, 5 + t->cls);
}

/* One positive of pass 2 (a truth's best anchor or an iou_thresh one). */
static void pass2_positive(const call *c, int64_t n, int32_t i, int32_t j, int32_t b,
                           const rl_box *t, double *dl, image_sums *s)
{
    const rl_yolo_ab *ab = c->p->ab;
    const double cm = mult(ab, t->cls), oc = act(c, n, i, j, b, 4);
    double v, g;
    box_deltas(c, n, i, j, b, t, ab->iou_normalizer * cm, dl, &v, &g);
    s->ab.tot_iou += v;
    s->ab.loss_iou += 1 - v;
    s->ab.loss_giou += 1 - g;
    s->ab.avg_obj += oc;
    if (!ab->objectness_smooth || dl[4] == 0.0)
        dl[4] = cm * ab->obj_normalizer * (1 - oc);
    s->ab.avg_cat += act(c, n, i, j, b, 5 + t->cls);
    class_deltas(c, n, i, j, b, t->cls, dl);
    s->ab.count++;
    s->ab.recall50 += v > 0.5;
    s->ab.recall75 += v > 0.75;
}

void rl_yolo_ab_objects(call *c, int64_t n)
{
    const rl_params *p = c->p;
    const rl_yolo_ab *ab = p->ab;
    const int accumulate = p->grad_mode == RL_GRAD_ACCUMULATE;
    image_sums *s = &c->w.sums[n];
    const uint8_t *kind = c->w.kind + n * c->slots;
    const int64_t lo = c->batch->truth_offsets[n], end = read_end(c, n), m = c->w.ab_nrec[n];
    ab_rec *rec = c->w.ab_rec + lo * p->B;
    double *dl0 = c->w.ab_delta + lo * p->B * p->K, *tmp = c->w.ab_scratch + n * p->K;
    /* slots outside pass 2 with a delta of their own */
    for (int64_t kidx = 0; kidx < c->slots; kidx++) {
        if (kind[kidx] == RL_KIND_NOOBJ)
            continue;
        if (m > 0 && find_rec(rec, m, (int32_t)kidx) >= 0)
            continue;
        const int32_t b = (int32_t)(kidx / p->HW), q = (int32_t)(kidx % p->HW);
        const int32_t i = q / p->W, j = q % p->W;
        if (kind[kidx] == RL_KIND_IGNORED) {
            if (!ab->objectness_smooth)
                continue; /* its objectness delta is 0 */
            const p1 d = pass1(c, n, end, i, j, b);
            const double v = pass1_obj(ab, &d);
            s->ab.noobj2 += v * v;
            if (c->grad && v != 0.0)
                rl_call_put(c->grad, p->grad_type, rl_index(p, n, i, j, b, 4),
                            rl_call_mul0(c->gkc, -v), accumulate);
            continue;
        }
        memset(tmp, 0, (size_t)p->K * sizeof *tmp);
        const p1 d = pass1_deltas(c, n, end, i, j, b, tmp);
        average(c, tmp);
        finish_positive(c, n, i, j, b, tmp, d.best_t, s);
    }
    /* pass 2's slots: pass 1, then every truth in order */
    for (int64_t r = 0; r < m; r++) {
        const int32_t b = rec[r].kidx / (int32_t)p->HW, q = rec[r].kidx % (int32_t)p->HW;
        double *dl = dl0 + r * p->K;
        memset(dl, 0, (size_t)p->K * sizeof *dl);
        const p1 d = pass1_deltas(c, n, end, q / p->W, q % p->W, b, dl);
        rec[r].last = d.kind == RL_KIND_OBJ ? d.best_t : -1;
    }
    for (int64_t t = lo; t < end; t++) {
        const rl_box *tr = &c->batch->truths[t];
        int32_t i, j;
        const int32_t ba = truth_cell(p, tr, &i, &j);
        for (int32_t x = -1; x < p->n_anchors; x++) {
            const int32_t b = truth_step(p, tr, ba, x);
            if (b < 0)
                continue;
            const int64_t r = find_rec(rec, m, (b * p->H + i) * p->W + j);
            pass2_positive(c, n, i, j, b, tr, dl0 + r * p->K, s);
            rec[r].last = t;
        }
    }
    for (int64_t r = 0; r < m; r++) {
        const int32_t b = rec[r].kidx / (int32_t)p->HW, q = rec[r].kidx % (int32_t)p->HW;
        double *dl = dl0 + r * p->K;
        average(c, dl);
        finish_positive(c, n, q / p->W, q % p->W, b, dl, rec[r].last, s);
    }
}

void rl_yolo_ab_reduce(const call *c, rl_result *r)
{
    const rl_params *p = c->p;
    const rl_yolo_ab *ab = p->ab;
    const int64_t N = c->batch->n_images;
    double box2 = 0, cls2 = 0, obj2 = 0, c2 = 0, extra2 = 0, c_all = 0;
    double tot_iou = 0, l_iou = 0, l_giou = 0, avg_obj = 0, avg_cat = 0;
    int64_t count = 0, r50 = 0, r75 = 0;
    memset(r, 0, sizeof *r);
    for (int64_t n = 0; n < N; n++) { /* image by image, for determinism */
        const image_sums *s = &c->w.sums[n];
        box2 += s->ab.box2;
        cls2 += s->ab.cls2;
        obj2 += s->ab.obj2;
        c2 += s->m.c2_noobj;
        extra2 += s->ab.noobj2;
        c_all += s->m.c_all;
        tot_iou += s->ab.tot_iou;
        l_iou += s->ab.loss_iou;
        l_giou += s->ab.loss_giou;
        avg_obj += s->ab.avg_obj;
        avg_cat += s->ab.avg_cat;
        count += s->ab.count;
        r50 += s->ab.recall50;
        r75 += s->ab.recall75;
        r->n_obj += s->ab.n_pos;
        r->n_noobj += s->m.n_noobj;
        r->sum_noobj += s->m.c_noobj;
        r->sum_obj += s->sum_obj;
        r->sum_iou += s->sum_iou;
        r->sum_cls += s->sum_cls;
        r->n_recall50 += s->n_r50;
        r->n_recall75 += s->n_r75;
    }
    const double noobj2 = ab->obj_normalizer * ab->obj_normalizer * c2 + extra2;
    double cost = box2 + cls2 + obj2 + noobj2;
    if (ab->show_details && ab->iou_loss != RL_BOX_MSE) {
        const double L = ab->iou_loss == RL_BOX_GIOU ? l_giou : l_iou;
        cost = ab->iou_normalizer * (L / (count > 0 ? (double)count : 1.0)) +
               ab->obj_normalizer * (cls2 + obj2 + noobj2);
    }
    /* every lambda is 1: kc is 1 / D */
    r->coord = rl_call_mul0(c->kc, box2);
    r->cls = rl_call_mul0(c->kc, cls2);
    r->obj = rl_call_mul0(c->kc, obj2);
    r->noobj = rl_call_mul0(c->kc, noobj2);
    r->loss = rl_call_mul0(c->kc, cost);
    r->n_conf = r->n_obj + r->n_noobj;
    r->n_truths = c->batch->truth_offsets[N];
    r->darknet.cost = cost;
    r->darknet.count = count;
    if (count > 0) {
        const double k = (double)count;
        r->darknet.avg_iou = tot_iou / k;
        r->darknet.recall = (double)r50 / k;
        r->darknet.recall75 = (double)r75 / k;
        r->darknet.avg_obj = avg_obj / k;
        r->darknet.avg_cls = avg_cat / k;
    }
    r->darknet.avg_anyobj = c_all / (double)(N * c->slots);
    rl_finish_diagnostics(r);
}
