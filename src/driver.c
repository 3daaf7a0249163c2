/* The optimised driver shared by every SIMD variant: layout handling, target
 * assignment, the per-object terms (in double: there are few objects),
 * reductions, normalisation and diagnostics, over a small per-ISA kernel
 * table for the per-slot hot loops.
 *
 * A call runs in three steps so that nothing is written before everything
 * the loss reads has been checked, and so that the batch-wide counts are
 * known before any gradient entry is scaled by them:
 *   assign   (serial, cheap)     each truth's slot; N_obj; truth edges
 *   phase 1  (parallel, images)  masks, finiteness, the per-slot sums
 *   phase 2  (parallel, images)  gradient and the per-object terms
 * Phase 1 takes one of two paths.  The dense one decodes every slot and
 * computes its best IoU (the mask kernel over whole planes).  The sparse one,
 * for thresh > 1/2, decodes only the slots a truth can reach and runs one
 * streaming pass over every slot for the rest (see sparse_phase1).
 * Per-image partial sums are combined in image order, so the result does not
 * depend on the number of threads. */
#include "driver.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "driver_call.h"
#include "elem.h"
#include "pool.h"

/* In NCHW a slot's class logits lie H*W floats apart, one cache line each.
 * Phase 1 must read them all (the finiteness check) and phase 2 reads them
 * again after the other images' phase 1 has evicted them: for C = 80 that
 * is 80 cache misses per truth, twice.  So phase 1 copies them into the
 * workspace as it checks them, and the softmax reads the contiguous copy;
 * its gradient goes through a contiguous row that phase 2 scatters into
 * place with the same float addition the kernels use, so every bit of the
 * result is as before.  The copies are bounded to keep the workspace small
 * (16 MiB); past that the kernels read the tensor. */
#define COPY_MAX_FLOATS ((int64_t)1 << 22)

static int copies_logits(const rl_params *p, int64_t N, int64_t nt)
{
    return p->layout == RL_LAYOUT_NCHW && p->HW > 1 && nt > 0 && nt <= COPY_MAX_FLOATS &&
           (nt + N) * (int64_t)p->C <= COPY_MAX_FLOATS;
}

/* The softmax kernels read and write float.  Half predictions reach them as
 * float rows: the copies above, or else one slot's logits widened into a row
 * of C floats per image (class_in) just before its softmax. */
static int widens_logits(const rl_params *p, int64_t N, int64_t nt)
{
    return p->pred_type != RL_DTYPE_F32 && !copies_logits(p, N, nt);
}

static size_t ws_bytes(const rl_params *p, int64_t N, int64_t nt)
{
    const int64_t slots = p->HW * p->B;
    const size_t copies = copies_logits(p, N, nt)
                              ? align_up((size_t)nt * p->C * sizeof(float)) +
                                    align_up((size_t)N * p->C * sizeof(float))
                          : widens_logits(p, N, nt) ? 2 * align_up((size_t)N * p->C * sizeof(float))
                                                    : 0;
    return align_up((size_t)(N * slots)) + align_up((size_t)nt * sizeof(obj_entry)) +
           align_up((size_t)N * sizeof(int64_t)) + 2 * align_up((size_t)nt * 5 * sizeof(float)) +
           align_up((size_t)nt * sizeof(rl_box)) + align_up((size_t)nt * 4 * sizeof(int32_t)) +
           align_up((size_t)(N * slots) * sizeof(float)) +
           align_up((size_t)(N * (p->H + 1)) * sizeof(int32_t)) +
           align_up((size_t)N * sizeof(image_sums)) + copies +
           (p->mode == RL_MODE_YOLO ? rl_yolo_ws_extra(p, N, nt) : 0) + ALIGN;
}

size_t rl_call_ws_bytes(const rl_params *p, int64_t N, int64_t nt) { return ws_bytes(p, N, nt); }

size_t rl_driver_workspace(const rl_params *p, int64_t n_images, int64_t n_truths)
{
    return ws_bytes(p, n_images, n_truths);
}

static void ws_carve(const rl_params *p, int64_t N, int64_t nt, void *base, workspace *w)
{
    const int64_t slots = p->HW * p->B;
    uintptr_t a = ((uintptr_t)base + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    w->kind = (uint8_t *)a;
    a += align_up((size_t)(N * slots));
    w->entries = (obj_entry *)a;
    a += align_up((size_t)nt * sizeof(obj_entry));
    w->n_entries = (int64_t *)a;
    a += align_up((size_t)N * sizeof(int64_t));
    w->edges = (float *)a;
    a += align_up((size_t)nt * 5 * sizeof(float));
    w->row_edges = (float *)a;
    a += align_up((size_t)nt * 5 * sizeof(float));
    w->row_boxes = (rl_box *)a;
    a += align_up((size_t)nt * sizeof(rl_box));
    w->reach = (int32_t *)a;
    a += align_up((size_t)nt * 4 * sizeof(int32_t));
    w->cslope = (float *)a;
    a += align_up((size_t)(N * slots) * sizeof(float));
    w->rowcov = (int32_t *)a;
    a += align_up((size_t)(N * (p->H + 1)) * sizeof(int32_t));
    w->sums = (image_sums *)a;
    a += align_up((size_t)N * sizeof(image_sums));
    w->logits = w->class_in = w->class_grad = NULL;
    if (copies_logits(p, N, nt)) {
        w->logits = (float *)a;
        a += align_up((size_t)nt * p->C * sizeof(float));
        w->class_grad = (float *)a;
        a += align_up((size_t)N * p->C * sizeof(float));
    } else if (widens_logits(p, N, nt)) {
        w->class_in = (float *)a;
        a += align_up((size_t)N * p->C * sizeof(float));
        w->class_grad = (float *)a;
        a += align_up((size_t)N * p->C * sizeof(float));
    }
    w->tkidx = NULL;
    w->ylabel = NULL;
    w->tt_kidx = w->tt_truth = NULL;
    w->ab_rec = NULL;
    w->ab_nrec = NULL;
    w->ab_delta = w->ab_scratch = NULL;
    if (p->mode == RL_MODE_YOLO)
        rl_yolo_ws_carve(p, N, nt, &a, w);
}

/* docs/loss.md, "Responsible slots", in double exactly as the reference
 * decides it. */
static void assign(const rl_params *p, const rl_box *t, int32_t *ci, int32_t *cj, int32_t *cb)
{
    const double X = (double)t->cx * p->W, Y = (double)t->cy * p->H;
    const double Wg = (double)t->w * p->W, Hg = (double)t->h * p->H;
    const double fj = floor(X), fi = floor(Y);
    *cj = fj > p->W - 1 ? p->W - 1 : (int32_t)fj;
    *ci = fi > p->H - 1 ? p->H - 1 : (int32_t)fi;
    double best = -1.0;
    *cb = 0;
    for (int32_t b = 0; b < p->B; b++) {
        const double aw = p->anchors[2 * b], ah = p->anchors[2 * b + 1];
        const double inter = fmin(Wg, aw) * fmin(Hg, ah);
        const double iou = inter / (Wg * Hg + aw * ah - inter);
        if (iou > best) {
            best = iou;
            *cb = b;
        }
    }
}

/* Marks responsible slots (the last truth on a slot wins, so walk backwards
 * and keep the first seen) and prepares the truths' float edges. */
static int64_t assign_image(const call *c, int64_t n)
{
    const rl_params *p = c->p;
    const int64_t lo = c->batch->truth_offsets[n], hi = c->batch->truth_offsets[n + 1];
    uint8_t *kind = c->w.kind + n * c->slots;
    /* the sparse path decides only the slots some truth can reach: every
     * other one is noobj */
    memset(kind, c->sparse ? RL_KIND_NOOBJ : RL_KIND_IGNORED, (size_t)c->slots);
    int64_t cnt = 0;
    const int yolo = p->mode == RL_MODE_YOLO;
    for (int64_t t = hi - 1; t >= lo; t--) {
        int32_t i, j, b;
        if (!yolo) {
            assign(p, &c->batch->truths[t], &i, &j, &b);
        } else if (!rl_yolo_match(p, c->best_anchor[t], &c->batch->truths[t], &i, &j, &b)) {
            c->w.tkidx[t] = -1; /* its anchor is another head's */
            continue;
        }
        const int32_t kidx = (b * p->H + i) * p->W + j;
        if (yolo)
            c->w.tkidx[t] = kidx;
        if (kind[kidx] == RL_KIND_OBJ)
            continue;
        kind[kidx] = RL_KIND_OBJ;
        c->w.entries[lo + cnt++] = (obj_entry){kidx, (int32_t)(t - lo), i, j, b, -1, 0.0, 0.0};
    }
    c->w.n_entries[n] = cnt;
    /* Image n's edges: five columns of hi - lo floats from edges + 5*lo. */
    const int64_t nt = hi - lo;
    float *e = c->w.edges + 5 * lo;
    for (int64_t t = 0; t < nt; t++) {
        const rl_box *bx = &c->batch->truths[lo + t];
        const double X = (double)bx->cx * p->W, Y = (double)bx->cy * p->H;
        const double Wg = (double)bx->w * p->W, Hg = (double)bx->h * p->H;
        e[t] = (float)(X - Wg / 2);
        e[nt + t] = (float)(X + Wg / 2);
        e[2 * nt + t] = (float)(Y - Hg / 2);
        e[3 * nt + t] = (float)(Y + Hg / 2);
        e[4 * nt + t] = (float)(Wg * Hg);
    }
    if (p->ab)
        rl_yolo_ab_mark(c, n);
    return cnt;
}

static rl_run make_run(const call *c, int64_t n, int32_t b)
{
    const rl_params *p = c->p;
    const int64_t off = rl_index(p, n, 0, 0, b, 0);
    rl_run r;
    r.t = rl_elem_at(c->batch->pred, off, p->pred_type);
    r.grad = c->grad ? rl_elem_at_mut(c->grad, off, p->grad_type) : NULL;
    r.t_type = p->pred_type;
    r.g_type = p->grad_type;
    r.slot_stride = p->layout == RL_LAYOUT_NCHW ? 1 : (int64_t)p->B * p->K;
    r.ch_stride = p->layout == RL_LAYOUT_NCHW ? p->HW : 1;
    r.count = (int32_t)p->HW;
    r.W = p->W;
    r.q0 = 0;
    r.aw = p->anchors[2 * b];
    r.ah = p->anchors[2 * b + 1];
    r.aw_d = p->mode == RL_MODE_YOLO ? p->anchors_d[2 * b] : r.aw;
    r.ah_d = p->mode == RL_MODE_YOLO ? p->anchors_d[2 * b + 1] : r.ah;
    return r;
}

/* The sparse path.  A slot's decoded centre (j + s(tx), i + s(ty)) lies in
 * its cell's closed square, and a box whose centre lies outside a truth's
 * box (or on its edge) has IoU at most 1/2 with it: with the centre at or
 * left of the truth's left edge, the overlap is at most half the box wide, so
 * inter <= area / 2 and IoU <= inter / area <= 1/2; likewise on every side.
 * So when thresh > 1/2 a truth can make a slot's best IoU reach thresh only
 * if the truth's box meets the slot's cell, under both decision rules (spec:
 * noobj iff best < thresh; darknet: iff best <= thresh), and a slot whose
 * cell no truth box meets is noobj without being decoded.  Each truth
 * reaches the cells its box meets, closed squares against its closed box.
 *
 * The bound holds for the reference's double IoU up to its rounding, a few
 * units of 2^-53: thresh must clear 1/2 by more than that, and
 * SPARSE_THRESH_MIN asks 2^-30.  Cell j meets the truth's box [x0, x1] when
 * j <= x1 and j + 1 >= x0; REACH_EPS widens that by far more than the
 * rounding of the edges (a few units of 2^-53 W), so a cell that only
 * touches the box on its border is always visited. */
#define SPARSE_THRESH_MIN (0.5 + 0x1p-30)
#define REACH_EPS 0x1p-20

static int use_sparse(double thresh) { return thresh > SPARSE_THRESH_MIN; }

/* v (a whole number) as a cell index in [0, hi] */
static int32_t clamp_cell(double v, int32_t hi)
{
    if (!(v > 0)) /* NaN cannot occur (truths are checked); negative edges do */
        return 0;
    return v >= hi ? hi : (int32_t)v;
}

/* The cells [r[0], r[1]] along one axis (of `cells` cells) that a truth of
 * relative centre `centre` and size `size` reaches: those whose closed
 * extent meets the truth's, widened by REACH_EPS; edges in double, as the
 * reference has them. */
static void reach_axis(float centre, float size, int32_t cells, int32_t *r)
{
    const double X = (double)centre * cells, Wg = (double)size * cells;
    r[0] = clamp_cell(ceil(X - Wg / 2 - 1.0 - REACH_EPS), cells - 1);
    r[1] = clamp_cell(floor(X + Wg / 2 + REACH_EPS), cells - 1);
}

/* Anchor b's run of cells [q0, q0 + count) of image n, for phase 1's
 * kernels (which write no gradient). */
static rl_run cells_run(const call *c, int64_t n, int32_t b, int32_t q0, int32_t count)
{
    rl_run r = make_run(c, n, b);
    r.t = rl_elem_at(r.t, q0 * r.slot_stride, r.t_type);
    r.grad = NULL;
    r.q0 = q0;
    r.count = count;
    return r;
}

/* The mask kernel over cells [q0, q0 + count) of every anchor's plane, with
 * truths T; its sums go to *sums. */
static void mask_cells(const call *c, int64_t n, const rl_truth_soa *T, uint8_t *kind, float *best,
                       int32_t q0, int32_t count, rl_mask_sums *sums)
{
    const rl_params *p = c->p;
    for (int32_t b = 0; b < p->B; b++) {
        const int64_t k0 = (int64_t)b * p->HW + q0;
        rl_mask_args a = {cells_run(c, n, b, q0, count),
                          T,
                          kind + k0,
                          (float)c->kthresh,
                          c->kthresh,
                          p->mode != RL_MODE_SPEC, /* darknet, [yolo]: noobj iff best <= thresh */
                          c->warmup,
                          best ? best + k0 : NULL,
                          c->w.cslope ? c->w.cslope + n * c->slots + k0 : NULL,
                          0.0f, 0.0f, 0.0f,
                          p->mode == RL_MODE_YOLO};
        rl_mask_doubt(&a, p->H, p->W);
        c->k->mask(&a, sums);
    }
}

static void mask_rows(const call *c, int64_t n, const rl_truth_soa *T, uint8_t *kind, float *best,
                      int32_t r0, int32_t r1, rl_mask_sums *sums)
{
    mask_cells(c, n, T, kind, best, r0 * c->p->W, (r1 - r0 + 1) * c->p->W, sums);
}

/* The stream kernel over rows [r0, r1] of every anchor's plane, whose slots
 * are decided. */
static void stream_rows(const call *c, int64_t n, const uint8_t *kind, int32_t r0, int32_t r1,
                        rl_mask_sums *sums)
{
    const rl_params *p = c->p;
    const int32_t q0 = r0 * p->W;
    for (int32_t b = 0; b < p->B; b++) {
        const int64_t k0 = (int64_t)b * p->HW + q0;
        rl_stream_args a = {cells_run(c, n, b, q0, (r1 - r0 + 1) * p->W), kind + k0, c->warmup,
                            c->w.cslope ? c->w.cslope + n * c->slots + k0 : NULL,
                            p->mode == RL_MODE_YOLO};
        c->k->stream(&a, sums);
    }
}

/* Copies the truths that reach some row of [r0, r1] into the columns of
 * `re` (stride nt) and `rb`, and returns how many. */
static int32_t gather_truths(const rl_truth_soa *all, const int32_t *reach, int32_t r0, int32_t r1,
                             float *re, rl_box *rb)
{
    const int64_t nt = all->n;
    int32_t m = 0;
    for (int64_t t = 0; t < nt; t++) {
        if (reach[4 * t + 1] < r0 || reach[4 * t] > r1)
            continue;
        re[m] = all->x0[t];
        re[nt + m] = all->x1[t];
        re[2 * nt + m] = all->y0[t];
        re[3 * nt + m] = all->y1[t];
        re[4 * nt + m] = all->area[t];
        rb[m] = all->boxes[t];
        m++;
    }
    return m;
}

/* The columns [*c0, *c1] that the truths reaching row i reach ([W, -1]
 * when none does). */
static void row_columns(const int32_t *reach, int64_t nt, int32_t i, int32_t W, int32_t *c0,
                        int32_t *c1)
{
    *c0 = W;
    *c1 = -1;
    for (int64_t t = 0; t < nt; t++) {
        if (reach[4 * t + 1] < i || reach[4 * t] > i)
            continue;
        *c0 = reach[4 * t + 2] < *c0 ? reach[4 * t + 2] : *c0;
        *c1 = reach[4 * t + 3] > *c1 ? reach[4 * t + 3] : *c1;
    }
}

/* Whether band [r0, r1] costs fewer vector steps row by row, each row over
 * the columns its truths reach, than over its whole rows.  With SIMD a
 * row's span costs a step more than its cells (a kernel call's setup and its last,
 * partial vector: measured, callgrind, on 13-wide rows the spans lost at 8
 * and 16 lanes without it), and the stream kernel then reads the whole band
 * at about a third of a mask step per cell (one exp instead of four, no
 * IoU).  Scalar code (one lane) gains the most: it pays per cell. */
static int by_spans(const call *c, const int32_t *reach, int64_t nt, int32_t r0, int32_t r1)
{
    const rl_params *p = c->p;
    const int64_t L = c->k->lanes > 0 ? c->k->lanes : 1;
    const int64_t band = (int64_t)(r1 - r0 + 1) * p->W;
    const int64_t whole = (band + L - 1) / L;
    int64_t spans = (band + L - 1) / L / 3;
    for (int32_t i = r0; i <= r1 && spans < whole; i++) {
        int32_t c0, c1;
        row_columns(reach, nt, i, p->W, &c0, &c1);
        spans += (c1 - c0 + L) / L + (L > 1);
    }
    return spans < whole;
}

/* Phase 1's sparse path for image n.  The rows some truth reaches go
 * through the mask kernel as on the dense path (whole rows, so that runs are
 * long and vectors full), each maximal band of them with just the truths
 * that reach it: a truth that reaches no cell of the band cannot change a
 * decision there.  Every other row is noobj but for its responsible slots,
 * and only the stream kernel reads it: no box is decoded there. */
static void sparse_phase1(const call *c, int64_t n, const rl_truth_soa *all, uint8_t *kind,
                          float *best, rl_mask_sums *sums)
{
    const rl_params *p = c->p;
    const int64_t lo = c->batch->truth_offsets[n], nt = all->n;
    int32_t *reach = c->w.reach + 4 * lo;
    /* cov[i]: how many truths reach row i, from a difference array */
    int32_t *cov = c->w.rowcov + n * (p->H + 1);
    memset(cov, 0, (size_t)(p->H + 1) * sizeof *cov);
    for (int64_t t = 0; t < nt; t++) {
        const rl_box *bx = &all->boxes[t];
        reach_axis(bx->cy, bx->h, p->H, reach + 4 * t);     /* rows */
        reach_axis(bx->cx, bx->w, p->W, reach + 4 * t + 2); /* columns */
        cov[reach[4 * t]]++;
        cov[reach[4 * t + 1] + 1]--;
    }
    for (int32_t i = 1; i < p->H; i++)
        cov[i] += cov[i - 1];
    float *re = c->w.row_edges + 5 * lo;
    rl_box *rb = c->w.row_boxes + lo;
    rl_truth_soa soa = *all;
    soa.x0 = re;
    soa.x1 = re + nt;
    soa.y0 = re + 2 * nt;
    soa.y1 = re + 3 * nt;
    soa.area = re + 4 * nt;
    soa.boxes = rb;
    int32_t r0 = 0;
    while (r0 < p->H) {
        /* the band of rows from r0 that are all reached, or all not */
        const int reached = cov[r0] > 0;
        int32_t r1 = r0;
        while (r1 + 1 < p->H && (cov[r1 + 1] > 0) == reached)
            r1++;
        if (!reached) {
            stream_rows(c, n, kind, r0, r1, sums);
        } else if (!by_spans(c, reach, nt, r0, r1)) {
            if (r0 == 0 && r1 == p->H - 1) {
                mask_rows(c, n, all, kind, best, r0, r1, sums); /* every row: every truth */
            } else {
                soa.n = gather_truths(all, reach, r0, r1, re, rb);
                mask_rows(c, n, &soa, kind, best, r0, r1, sums);
            }
        } else {
            /* Row by row, the span of columns the row's truths reach, with
             * those truths; then the stream kernel adds up the whole band
             * (the mask kernel's sums over the spans are not kept). */
            rl_mask_sums unused;
            for (int32_t i = r0; i <= r1; i++) {
                int32_t c0, c1;
                row_columns(reach, nt, i, p->W, &c0, &c1);
                soa.n = gather_truths(all, reach, i, i, re, rb);
                mask_cells(c, n, &soa, kind, best, i * p->W + c0, c1 - c0 + 1, &unused);
            }
            stream_rows(c, n, kind, r0, r1, sums);
        }
        r0 = r1 + 1;
    }
}

/* Whether any of the C logits from element x0 (stride cs) is NaN or
 * infinite, copying them widened (exactly) into `copy` when given.  One loop
 * per type: these strided reads miss the cache one by one, and a loop
 * without a per-element type switch keeps more of them in flight. */
#define GATHER_CHUNK 256

static uint32_t check_logits(const void *pred, int64_t x0, int64_t cs, int32_t C, int type,
                             float *copy)
{
    uint32_t bad = 0;
    if (type == RL_DTYPE_F32) {
        const float *x = (const float *)pred + x0;
        for (int32_t cc = 0; cc < C; cc++) {
            const uint32_t bits = rl_f32_bits(x[cc * cs]);
            bad |= (bits & 0x7f800000u) == 0x7f800000u; /* NaN or infinity */
            if (copy)
                copy[cc] = rl_bits_f32(bits);
        }
    } else {
        /* gathered first, converted after: the conversion's instructions
         * would otherwise crowd the misses out of the reorder window */
        const uint16_t *x = (const uint16_t *)pred + x0;
        const uint16_t expo = type == RL_DTYPE_BF16 ? 0x7f80u : 0x7c00u;
        uint16_t raw[GATHER_CHUNK];
        for (int32_t c0 = 0; c0 < C; c0 += GATHER_CHUNK) {
            const int32_t m = C - c0 < GATHER_CHUNK ? C - c0 : GATHER_CHUNK;
            for (int32_t k = 0; k < m; k++)
                raw[k] = x[(int64_t)(c0 + k) * cs];
            for (int32_t k = 0; k < m; k++) {
                bad |= (raw[k] & expo) == expo;
                if (copy)
                    copy[c0 + k] = type == RL_DTYPE_BF16 ? rl_bf16_to_f32(raw[k])
                                                         : rl_f16_to_f32(raw[k]);
            }
        }
    }
    return bad;
}

void rl_call_phase1(void *arg, int64_t n)
{
    call *c = arg;
    const rl_params *p = c->p;
    const int64_t lo = c->batch->truth_offsets[n], hi = c->batch->truth_offsets[n + 1];
    const int64_t nt = hi - lo;
    image_sums *s = &c->w.sums[n];
    memset(s, 0, sizeof *s);

    const float *e = c->w.edges + 5 * lo;
    rl_truth_soa soa;
    soa.x0 = e;
    soa.x1 = e + nt;
    soa.y0 = e + 2 * nt;
    soa.y1 = e + 3 * nt;
    soa.area = e + 4 * nt;
    soa.n = (int32_t)nt;
    soa.boxes = nt > 0 ? c->batch->truths + lo : NULL; /* truths may be NULL: no offset on it */
    soa.H = p->H;
    soa.W = p->W;

    uint8_t *kind = c->w.kind + n * c->slots;
    float *best = c->probe && c->probe->best ? c->probe->best + n * c->slots : NULL;
    if (p->ab && !rl_yolo_ab_standard(p)) {
        /* the kernels decode another box than the flavour's */
        rl_yolo_ab_phase1(c, n);
        return;
    }
    if (c->sparse) {
        if (best) /* what the probe reports for the slots no truth reaches */
            for (int64_t q = 0; q < c->slots; q++)
                best[q] = kind[q] == RL_KIND_OBJ ? -1.0f : 0.0f;
        sparse_phase1(c, n, &soa, kind, best, &s->m);
    } else {
        mask_rows(c, n, &soa, kind, best, 0, p->H - 1, &s->m);
    }

    /* Class logits are read only at responsible slots; check them here,
     * before phase 2 writes anything (and copy them: see copies_logits). */
    const obj_entry *en = c->w.entries + lo;
    const int64_t cs = p->layout == RL_LAYOUT_NCHW ? p->HW : 1;
    uint32_t bad = 0;
    for (int64_t q = 0; q < c->w.n_entries[n]; q++) {
        const int64_t x0 = rl_index(p, n, en[q].i, en[q].j, en[q].b, 5);
        float *copy = c->w.logits ? c->w.logits + (lo + q) * p->C : NULL;
        bad |= check_logits(c->batch->pred, x0, cs, p->C, p->pred_type, copy);
    }
    s->nonfinite_class = bad != 0;
    if (p->flavour == RL_FLAVOUR_ALEXEYAB)
        rl_ab_phase1(c, n);
    if (p->ab)
        rl_yolo_ab_phase1(c, n);
    else if (p->mode == RL_MODE_YOLO && p->truth_thresh < 1.0)
        rl_yolo_truth_thresh(c, n, &soa);
}

void rl_call_assign_one(const rl_params *p, const rl_box *t, int32_t *i, int32_t *j, int32_t *b)
{
    assign(p, t, i, j, b);
}

uint32_t rl_call_check_logits(const void *pred, int64_t x0, int64_t cs, int32_t C, int type,
                              float *copy)
{
    return check_logits(pred, x0, cs, C, type, copy);
}

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }
static double slope(double z) { return sigmoid(z) * sigmoid(-z); }

static double iou_d(double px, double py, double pw, double ph, const rl_box *t,
                    const rl_params *p)
{
    const double X = (double)t->cx * p->W, Y = (double)t->cy * p->H;
    const double Wg = (double)t->w * p->W, Hg = (double)t->h * p->H;
    const double ap = pw * ph, at = Wg * Hg;
    if (!(ap > 0) || isinf(ap) || !(at > 0) || isinf(at))
        return 0.0;
    const double ox = fmin(px + pw / 2, X + Wg / 2) - fmax(px - pw / 2, X - Wg / 2);
    const double oy = fmin(py + ph / 2, Y + Hg / 2) - fmax(py - ph / 2, Y - Hg / 2);
    const double inter = fmax(0.0, ox) * fmax(0.0, oy);
    const double u = ap + at - inter;
    return u > 0 ? inter / u : 0.0;
}

/* k * v where a zero weight switches the term off even when v overflowed:
 * finite inputs never give NaN (docs/loss.md). */
static double mul0(double k, double v) { return k == 0.0 ? 0.0 : k * v; }

/* Gradient entry idx of a responsible slot: v rounded once to the type
 * (nearest even), as the reference stores it.  Accumulating, a float
 * gradient adds v's float into it (as the kernels do); a half one rounds the
 * double sum once. */
static void put(void *g, int type, int64_t idx, double v, int accumulate)
{
    if (type == RL_DTYPE_F32) {
        float *f = g;
        f[idx] = accumulate ? f[idx] + (float)v : (float)v;
    } else {
        rl_store_f64(g, idx, type, accumulate ? (double)rl_load(g, idx, type) + v : v);
    }
}

double rl_call_sigmoid(double z) { return sigmoid(z); }
double rl_call_iou(const rl_params *p, double px, double py, double pw, double ph,
                   const rl_box *t)
{
    return iou_d(px, py, pw, ph, t, p);
}
double rl_call_mul0(double k, double v) { return mul0(k, v); }
void rl_call_put(void *g, int type, int64_t idx, double v, int accumulate)
{
    put(g, type, idx, v, accumulate);
}

/* Entry idx of the predictions, exactly, as a double. */
static double pred_at(const call *c, int64_t idx)
{
    return rl_load(c->batch->pred, idx, c->p->pred_type);
}

/* Logistic classes (darknet softmax=0): rare, so plain double code. */
static void logistic_classes(const call *c, int64_t n, const obj_entry *e, int32_t cls,
                             double *loss, double *p_true, double *cost, int accumulate)
{
    const rl_params *p = c->p;
    *loss = 0;
    for (int32_t cc = 0; cc < p->C; cc++) {
        const int64_t idx = rl_index(p, n, e->i, e->j, e->b, 5 + cc);
        const double t = pred_at(c, idx), s = sigmoid(t), y = cc == cls ? 1.0 : 0.0;
        *loss += 0.5 * (s - y) * (s - y);
        *cost += p->lambda_class * p->lambda_class * (y - s) * (y - s);
        if (c->grad)
            put(c->grad, p->grad_type, idx,
                mul0(c->gkp, p->class_update ? s - y : (s - y) * slope(t)), accumulate);
        if (cc == cls)
            *p_true = s;
    }
}

void rl_call_phase2(void *arg, int64_t n)
{
    call *c = arg;
    const rl_params *p = c->p;
    const int accumulate = p->grad_mode == RL_GRAD_ACCUMULATE;
    const int darknet = p->mode == RL_MODE_DARKNET;
    const int64_t lo = c->batch->truth_offsets[n];
    image_sums *s = &c->w.sums[n];
    const uint8_t *kind = c->w.kind + n * c->slots;
    const int gt = p->grad_type;
    const int64_t esz = rl_elem_size(gt);

    if (c->grad) {
        /* Overwrite mode stores each entry once: the grad kernel writes
         * channels 0..4 of every slot, and the class channels are zeroed
         * here (in NCHW one block of C*H*W floats per anchor; in NHWC they
         * interleave with the rest, so the whole image is zeroed first). */
        const int nchw = p->layout == RL_LAYOUT_NCHW;
        if (!accumulate && !nchw) /* all-zero bits are +0 in every type */
            memset(rl_elem_at_mut(c->grad, n * p->per_image, gt), 0, (size_t)(p->per_image * esz));
        /* spec: k_n * 2 c^ s'(tc); darknet: k_n c^ s'(tc); [yolo]: k_n c^ (cslope
         * holds c^ s'(tc), or c^) */
        const float k_noobj = (float)(p->mode != RL_MODE_SPEC ? c->gkn : 2.0 * c->gkn);
        const float k_warm = c->warmup ? (float)c->gkw : 0.0f;
        for (int32_t b = 0; b < p->B; b++) {
            rl_grad_args a = {make_run(c, n, b), kind + (int64_t)b * p->HW, k_noobj, k_warm,
                              accumulate, c->w.cslope + n * c->slots + (int64_t)b * p->HW};
            c->k->grad(&a);
            if (!accumulate && nchw)
                memset(rl_elem_at_mut(c->grad, rl_index(p, n, 0, 0, b, 5), gt), 0,
                       (size_t)(p->C * p->HW * esz));
        }
    }

    if (p->mode == RL_MODE_YOLO) {
        if (p->ab)
            rl_yolo_ab_objects(c, n);
        else
            rl_yolo_objects(c, n);
        return;
    }
    if (p->flavour == RL_FLAVOUR_ALEXEYAB) {
        rl_ab_objects(c, n);
        return;
    }
    obj_entry *en = c->w.entries + lo;
    for (int64_t q = 0; q < c->w.n_entries[n]; q++) {
        obj_entry *e = &en[q];
        const rl_box *t = &c->batch->truths[lo + e->truth];
        const int64_t i0 = rl_index(p, n, e->i, e->j, e->b, 0);
        const int64_t cs = p->layout == RL_LAYOUT_NCHW ? p->HW : 1;
        const double tx = pred_at(c, i0), ty = pred_at(c, i0 + cs), tw = pred_at(c, i0 + 2 * cs),
                     th = pred_at(c, i0 + 3 * cs), tc = pred_at(c, i0 + 4 * cs);
        const double aw = p->anchors[2 * e->b], ah = p->anchors[2 * e->b + 1];
        const double sx = sigmoid(tx), sy = sigmoid(ty), cc = sigmoid(tc);
        const double px = e->j + sx, py = e->i + sy, pw = aw * exp(tw), ph = ah * exp(th);
        const double X = (double)t->cx * p->W, Y = (double)t->cy * p->H;
        const double Wg = (double)t->w * p->W, Hg = (double)t->h * p->H;
        const double iou = iou_d(px, py, pw, ph, t, p);
        double g[5];
        if (!darknet) {
            s->coord += (X - px) * (X - px) + (Y - py) * (Y - py) + (Wg - pw) * (Wg - pw) +
                        (Hg - ph) * (Hg - ph);
            g[0] = mul0(c->gkc, 2 * (px - X) * slope(tx));
            g[1] = mul0(c->gkc, 2 * (py - Y) * slope(ty));
            g[2] = mul0(c->gkc, 2 * (pw - Wg) * pw);
            g[3] = mul0(c->gkc, 2 * (ph - Hg) * ph);
            s->obj += (iou - cc) * (iou - cc);
            g[4] = mul0(c->gko, 2 * (cc - iou) * slope(tc));
        } else {
            const double sc = 2.0 - (double)t->w * (double)t->h;
            const double gx = X - e->j, gy = Y - e->i, gw = log(Wg / aw), gh = log(Hg / ah);
            const double sq = (sx - gx) * (sx - gx) + (sy - gy) * (sy - gy) +
                              (tw - gw) * (tw - gw) + (th - gh) * (th - gh);
            s->coord += sc * 0.5 * sq;
            g[0] = mul0(c->gkc, sc * (sx - gx) * slope(tx));
            g[1] = mul0(c->gkc, sc * (sy - gy) * slope(ty));
            g[2] = mul0(c->gkc, sc * (tw - gw));
            g[3] = mul0(c->gkc, sc * (th - gh));
            const double target = p->rescore ? iou : 1.0;
            s->obj += 0.5 * (cc - target) * (cc - target);
            g[4] = mul0(c->gko, (cc - target) * slope(tc));
            const double dsc = p->lambda_coord * sc;
            s->cost_obj += mul0(dsc * dsc, sq) +
                           p->lambda_obj * p->lambda_obj * (target - cc) * (target - cc);
        }
        if (c->grad)
            for (int k = 0; k < 5; k++)
                put(c->grad, gt, i0 + k * cs, g[k], accumulate);

        double p_true = 0.0;
        if (darknet && p->logistic_classes) {
            double loss;
            logistic_classes(c, n, e, t->cls, &loss, &p_true, &s->cost_obj, accumulate);
            s->cls += loss;
        } else {
            rl_softmax_out so;
            const int64_t l0 = i0 + 5 * cs;
            if (c->w.logits || c->w.class_in) {
                const float *in = c->w.logits ? c->w.logits + (lo + q) * p->C
                                              : c->w.class_in + n * p->C;
                if (!c->w.logits)
                    for (int32_t cc = 0; cc < p->C; cc++)
                        c->w.class_in[n * p->C + cc] =
                            rl_load(c->batch->pred, l0 + cc * cs, p->pred_type);
                float *row = c->grad ? c->w.class_grad + n * p->C : NULL;
                c->k->softmax(in, 1, p->C, t->cls, c->gkp, row, 0, &so);
                if (row && gt == RL_DTYPE_F32) {
                    for (int32_t cc = 0; cc < p->C; cc++) {
                        float *g = (float *)c->grad + l0 + cc * cs;
                        *g = accumulate ? *g + row[cc] : row[cc];
                    }
                } else if (row) { /* the float sum, then one rounding (as the kernels) */
                    uint16_t *g = (uint16_t *)c->grad + l0;
                    const int bf = gt == RL_DTYPE_BF16;
                    uint16_t old[GATHER_CHUNK]; /* gathered first, as in check_logits */
                    for (int32_t c0 = 0; c0 < p->C; c0 += GATHER_CHUNK) {
                        const int32_t m = p->C - c0 < GATHER_CHUNK ? p->C - c0 : GATHER_CHUNK;
                        if (accumulate)
                            for (int32_t k = 0; k < m; k++)
                                old[k] = g[(c0 + k) * cs];
                        for (int32_t k = 0; k < m; k++) {
                            float v = row[c0 + k];
                            if (accumulate)
                                v += bf ? rl_bf16_to_f32(old[k]) : rl_f16_to_f32(old[k]);
                            g[(c0 + k) * cs] = bf ? rl_f32_to_bf16(v) : rl_f32_to_f16(v);
                        }
                    }
                }
            } else { /* float predictions and gradient */
                float *g = c->grad ? (float *)c->grad + l0 : NULL;
                c->k->softmax((const float *)c->batch->pred + l0, cs, p->C, t->cls, c->gkp, g,
                              accumulate, &so);
            }
            e->max = so.max;
            e->log_sum = so.log_sum;
            s->cls += so.neg_log_p;
            p_true = so.p_cls;
            if (darknet) /* sum_c (class_scale([c == cls] - p_c))^2 */
                s->cost_obj += p->lambda_class * p->lambda_class *
                               (so.sum_p2 - 2 * so.p_cls + 1.0);
        }
        s->sum_iou += iou;
        s->n_r50 += iou > 0.5;
        s->n_r75 += iou > 0.75;
        s->sum_obj += cc;
        s->sum_cls += p_true;
    }

    if (!darknet)
        return;
    /* Darknet's per-truth statistics: every truth, replaced ones included,
     * against the prediction of the slot it was assigned to. */
    const int64_t hi = c->batch->truth_offsets[n + 1];
    for (int64_t tt = lo; tt < hi; tt++) {
        const rl_box *t = &c->batch->truths[tt];
        int32_t i, j, b;
        assign(p, t, &i, &j, &b);
        const int64_t i0 = rl_index(p, n, i, j, b, 0);
        const int64_t cs = p->layout == RL_LAYOUT_NCHW ? p->HW : 1;
        const double px = j + sigmoid(pred_at(c, i0)), py = i + sigmoid(pred_at(c, i0 + cs));
        const double pw = p->anchors[2 * b] * exp(pred_at(c, i0 + 2 * cs));
        const double ph = p->anchors[2 * b + 1] * exp(pred_at(c, i0 + 3 * cs));
        const double iou = iou_d(px, py, pw, ph, t, p);
        s->dn_iou += iou;
        s->dn_r50 += iou > 0.5;
        s->dn_r75 += iou > 0.75;
        s->dn_obj += sigmoid(pred_at(c, i0 + 4 * cs));
        const double tcl = pred_at(c, i0 + (5 + t->cls) * cs);
        if (p->logistic_classes) {
            s->dn_cls += sigmoid(tcl);
        } else {
            const int32_t kidx = (b * p->H + i) * p->W + j;
            const obj_entry *slot = NULL;
            for (int64_t q = 0; q < c->w.n_entries[n]; q++)
                if (en[q].kidx == kidx)
                    slot = &en[q];
            s->dn_cls += exp((tcl - slot->max) - slot->log_sum);
        }
    }
}

static double weight(double lambda, double divisor) { return divisor > 0 ? lambda / divisor : 0.0; }

void rl_call_init(call *c, const rl_plan *plan, const rl_kernels *k, const rl_batch *batch,
                  void *grad, int counts_only, void *mem, const int32_t *best_anchor,
                  const rl_driver_probe *probe)
{
    const rl_params *p = &plan->p;
    const int64_t N = batch->n_images, nt = batch->truth_offsets[N];
    memset(c, 0, sizeof *c);
    c->p = p;
    c->k = k;
    c->batch = batch;
    c->grad = counts_only ? NULL : grad;
    c->slots = p->HW * p->B;
    c->probe = probe;
    c->best_anchor = best_anchor;
    c->warmup = p->mode == RL_MODE_DARKNET && batch->seen < p->warmup_seen;
    /* truth_thresh below ignore_thresh: the kernels leave every slot above
     * it undecided, and rl_yolo_truth_thresh decides those */
    c->kthresh = p->mode == RL_MODE_YOLO && p->truth_thresh < p->thresh ? p->truth_thresh
                                                                         : p->thresh;
    /* A [yolo] head's IoU is at most 1 (docs/loss.md): at ignore_thresh 1
     * every slot that is not a positive is a negative, even where rounding
     * puts an IoU at 1 + 2^-13 */
    if (p->mode == RL_MODE_YOLO && c->kthresh >= 1.0)
        c->kthresh = INFINITY;
    /* Flavour alexeyab decides every slot the kernels leave in double, in
     * image units (driver_yolo_ab.c): the kernels' negatives must be
     * negatives there too, so they stop a little below the threshold, where
     * grid and image units cannot disagree (a box that only touches a truth
     * has IoU 0 in one and 1e-17 in the other; at threshold 0 every slot is
     * then decided in double). */
    else if (p->ab)
        c->kthresh -= 0x1p-30;
    c->sparse = use_sparse(c->kthresh) && !(probe && probe->dense);
    ws_carve(p, N, nt, mem, &c->w);
    if (counts_only) /* no softmax will read the copies, no grad kernel the slopes */
        c->w.logits = c->w.class_in = c->w.class_grad = NULL;
    if (counts_only || !grad)
        c->w.cslope = NULL;
}

int64_t rl_call_assign(call *c)
{
    int64_t n_obj = 0;
    for (int64_t n = 0; n < c->batch->n_images; n++)
        n_obj += assign_image(c, n);
    return n_obj;
}

int rl_call_counts(const call *c, int64_t n_obj, rl_counts *own)
{
    const int64_t N = c->batch->n_images;
    *own = (rl_counts){n_obj, 0, 0, N};
    int nonfinite = 0;
    for (int64_t n = 0; n < N; n++) {
        own->n_obj += c->w.sums[n].n_tt;
        own->n_noobj += c->w.sums[n].m.n_noobj;
        nonfinite |= c->w.sums[n].m.nonfinite | c->w.sums[n].nonfinite_class;
    }
    own->n_conf = own->n_obj + own->n_noobj;
    if (c->probe && c->probe->kind)
        memcpy(c->probe->kind, c->w.kind, (size_t)(N * c->slots));
    return nonfinite;
}

/* Every weight from the counts the call normalises by. */
void rl_call_set_weights(call *c, const rl_counts *nc)
{
    const rl_params *p = c->p;
    double div_obj = 1.0, div_conf = 1.0;
    if (p->norm == RL_NORM_COUNTS) {
        div_obj = (double)nc->n_obj;
        div_conf = (double)nc->n_conf;
    } else if (p->norm == RL_NORM_IMAGES) {
        div_obj = div_conf = (double)nc->n_images;
    }
    if (p->mode == RL_MODE_SPEC) {
        c->kc = weight(p->lambda_coord, div_obj);
        c->kp = weight(p->lambda_class, div_obj);
        c->ko = weight(p->lambda_obj, div_conf);
        c->kn = weight(p->lambda_noobj, div_conf);
    } else { /* darknet and [yolo]: one divisor */
        c->kc = weight(p->lambda_coord, div_obj);
        c->kp = weight(p->lambda_class, div_obj);
        c->ko = weight(p->lambda_obj, div_obj);
        /* flavour alexeyab: a negative's delta is obj_normalizer (0 - c^) */
        c->kn = weight(p->ab ? p->ab->obj_normalizer : p->lambda_noobj, div_obj);
        c->kw = weight(p->warmup_scale, div_obj);
    }
    /* A zero weight stays +0, so that a switched-off term writes +0. */
    c->gkc = mul0(c->kc, p->grad_scale);
    c->gkp = mul0(c->kp, p->grad_scale);
    c->gko = mul0(c->ko, p->grad_scale);
    c->gkn = mul0(c->kn, p->grad_scale);
    c->gkw = mul0(c->kw, p->grad_scale);
}

static rl_status driver_run(const rl_plan *plan, const rl_kernels *k, const rl_batch *batch,
                           rl_result *res, rl_counts *counts_only, void *grad,
                           const rl_driver_probe *probe);

rl_status rl_driver_run(const rl_plan *plan, const rl_kernels *k, const rl_batch *batch,
                        rl_result *res, rl_counts *counts_only, void *grad,
                        const rl_driver_probe *probe)
{
    rl_batch kept; /* without the truths AlexeyAB's flavour skips */
    void *owned;
    rl_status st = rl_flavour_batch(&plan->p, batch, &kept, &owned);
    if (st == RL_OK)
        st = driver_run(plan, k, &kept, res, counts_only, grad, probe);
    free(owned);
    return st;
}

static rl_status driver_run(const rl_plan *plan, const rl_kernels *k, const rl_batch *batch,
                           rl_result *res, rl_counts *counts_only, void *grad,
                           const rl_driver_probe *probe)
{
    const rl_params *p = &plan->p;
    const int64_t N = batch->n_images, nt = batch->truth_offsets[N];
    void *mem = batch->workspace, *owned = NULL;
    if (!mem) {
        owned = mem = malloc(ws_bytes(p, N, nt));
        if (!mem)
            return rl_fail(RL_ERR_NO_MEMORY, "workspace: out of memory for %zu bytes",
                           ws_bytes(p, N, nt));
    }
    call c;
    rl_call_init(&c, plan, k, batch, grad, counts_only != NULL, mem, NULL, probe);
    const int64_t n_obj = rl_call_assign(&c);
    rl_pool_run(plan->pool, N, rl_call_phase1, &c);

    rl_counts own;
    if (rl_call_counts(&c, n_obj, &own)) {
        /* The scalar validator finds and names the entry. */
        free(owned);
        rl_status st = rl_validate_preds(p, batch);
        return st != RL_OK ? st
                           : rl_fail(RL_ERR_NONFINITE_PRED, "a prediction is not finite");
    }
    if (counts_only) {
        *counts_only = own;
        free(owned);
        return RL_OK;
    }

    rl_call_set_weights(&c, batch->global_counts ? batch->global_counts : &own);
    rl_pool_run(plan->pool, N, rl_call_phase2, &c);

    /* Fixed order: image by image. */
    rl_result r;
    memset(&r, 0, sizeof r);
    double coord = 0, cls = 0, obj = 0, c2 = 0, warm = 0, c_all = 0, cost = 0, ab_cost = 0;
    int64_t class_slots = 0;
    for (int64_t n = 0; n < N; n++) {
        const image_sums *s = &c.w.sums[n];
        coord += s->coord;
        cls += s->cls;
        obj += s->obj;
        c2 += s->m.c2_noobj;
        warm += s->m.warm;
        c_all += s->m.c_all;
        r.sum_iou += s->sum_iou;
        r.sum_obj += s->sum_obj;
        r.sum_cls += s->sum_cls;
        r.sum_noobj += s->m.c_noobj;
        r.n_recall50 += s->n_r50;
        r.n_recall75 += s->n_r75;
        cost += s->cost_obj;
        ab_cost += s->ab_cost;
        class_slots += s->ab_class_slots;
        r.darknet.avg_iou += s->dn_iou;
        r.darknet.avg_obj += s->dn_obj;
        r.darknet.avg_cls += s->dn_cls;
        r.darknet.recall += (double)s->dn_r50;
        r.darknet.recall75 += (double)s->dn_r75;
    }
    r.n_obj = own.n_obj;
    r.n_noobj = own.n_noobj;
    r.n_conf = own.n_conf;
    r.n_truths = nt;
    if (p->mode == RL_MODE_SPEC) {
        r.coord = mul0(c.kc, coord);
        r.cls = mul0(c.kp, cls);
        r.obj = mul0(c.ko, obj);
        r.noobj = mul0(c.kn, c2);
        memset(&r.darknet, 0, sizeof r.darknet);
    } else {
        r.coord = mul0(c.kc, coord);
        r.cls = mul0(c.kp, cls);
        r.obj = mul0(c.ko, obj);
        r.noobj = mul0(c.kn, 0.5 * c2);
        r.warmup = c.warmup ? mul0(c.kw, 0.5 * warm) : 0.0;
        r.darknet.count = nt;
        if (nt > 0) {
            r.darknet.avg_iou /= (double)nt;
            r.darknet.avg_obj /= (double)nt;
            r.darknet.recall /= (double)nt;
            r.darknet.recall75 /= (double)nt;
        }
        if (nt + class_slots > 0) /* AlexeyAB's Class also averages classfix's terms */
            r.darknet.avg_cls /= (double)(nt + class_slots);
        r.darknet.avg_anyobj = c_all / (double)(N * c.slots);
        r.darknet.cost = p->flavour == RL_FLAVOUR_ALEXEYAB
                             ? cost + ab_cost
                             : cost + p->lambda_noobj * p->lambda_noobj * c2 +
                                   (c.warmup ? mul0(p->warmup_scale * p->warmup_scale, warm)
                                             : 0.0);
    }
    r.loss = r.coord + r.cls + r.obj + r.noobj + r.warmup;
    rl_finish_diagnostics(&r);
    free(owned);
    *res = r;
    return RL_OK;
}

