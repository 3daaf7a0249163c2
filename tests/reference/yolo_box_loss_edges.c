/* The IoU-family box losses (docs/loss.md, "IoU-family box losses") at
 * their degenerate cases, worked out by hand: boxes that do not meet, equal
 * boxes, one box inside the other, huge and tiny boxes (exp(tw) past float's
 * range), sizes past the clamp.  Each case runs on the reference (its
 * double gradient, its float gradient through the public API) and on every
 * variant this machine has, "auto" included; all must give the hand values
 * and nothing that is not finite.
 *
 * The setting of every case: one head of 1 x 1 cell, one anchor of a x a
 * pixels (the whole list), net 64 x 64, C = 1, N = 1, one truth, norm sum,
 * lambdas 1; so the only slot is the positive (D = 1) and its box term is
 * k (1 - XIoU), k = 2 - w h of the truth.  tx = ty = 0 everywhere: the
 * centre is (1/2, 1/2) and dx/dtx = dy/dty = s(0) s(0) / 1 = 1/4; the size
 * is w = exp(tw) a / 64, dw/dtw = w (0 where the size is clamped).
 *
 * The hand values are dL/dx, dL/dy, dL/dw, dL/dh (L = 1 - XIoU) from the
 * definitions, times the chain factors; CIoU adds alpha v with
 *     A = atan(gw/gh) - atan(w/h),  v = 4 A^2 / pi^2,  alpha = v / ((1 - IoU) + v),
 *     dv/dw = -8 A h / (pi^2 (w^2 + h^2)),  dv/dh = 8 A w / (pi^2 (w^2 + h^2)),
 * so its tw, th entries gain -/+ alpha 8 A / pi^2 * w h / (w^2 + h^2).
 *
 * Tolerance: DOUBLE_REL relative (support.h), plus DOUBLE_REL * k absolute.
 * Every entry of the box term is made of O(1) quantities, each rounded a few
 * times, so its absolute error is a few ulps of k; where the hand value is
 * far below that (1e-88 for a tiny box, 2^-503 past the clamp) the library
 * may give the rounding noise or 0, and a wrong formula still gives an error
 * of order k.  A float gradient entry is that double rounded once
 * (FLOAT_REL).  Entries that must be exactly 0 (no overlap for IoU, a
 * clamped size) are checked for exactly 0. */
#include "yolo_support.h"

static const double PI = 3.14159265358979323846;

enum { KINDS = 4 };
static const int32_t kinds[KINDS] = {RL_BOX_IOU, RL_BOX_GIOU, RL_BOX_DIOU, RL_BOX_CIOU};
static const char *const kind_names[KINDS] = {"iou", "giou", "diou", "ciou"};

typedef struct edge_case {
    const char *name;
    float anchor;      /* pixels, square */
    float t[4];        /* tx, ty, tw, th */
    rl_box truth;
    double k;
    double L[KINDS];   /* 1 - XIoU */
    double g[KINDS][4]; /* dL/dtx .. dL/dth */
    int zero[KINDS][4]; /* entries that must be exactly 0 */
} edge_case;

/* CIoU = DIoU (slot 2) + alpha v; `wh` = w h / (w^2 + h^2) of the decoded
 * box, 0 where the sizes are clamped (their chain factor is 0). */
static void add_ciou(edge_case *c, double A, double one_minus_iou, double wh)
{
    const double v = 4 * A * A / (PI * PI);
    const double alpha = v == 0 ? 0 : v / (one_minus_iou + v);
    c->L[3] = c->L[2] + alpha * v;
    c->g[3][0] = c->g[2][0];
    c->g[3][1] = c->g[2][1];
    c->g[3][2] = c->g[2][2] - alpha * 8 * A / (PI * PI) * wh;
    c->g[3][3] = c->g[2][3] + alpha * 8 * A / (PI * PI) * wh;
}

static void set_g(edge_case *c, int kind, double gx, double gy, double gw, double gh)
{
    c->g[kind][0] = gx;
    c->g[kind][1] = gy;
    c->g[kind][2] = gw;
    c->g[kind][3] = gh;
}

/* ---- the cases ------------------------------------------------------------ */

/* Apart.  Box (1/2, 1/2, 1/4, 1/4) = [3/8, 5/8]^2 (anchor 16, tw = th = 0);
 * truth (7/8, 1/2, 1/8, 1/2) = [13/16, 15/16] x [1/4, 3/4]: a gap of 3/16
 * in x.  k = 2 - 1/16 = 31/16.  I = 0, U = 1/16 + 1/16 = 1/8.
 *   IoU: L = 1; I and its gradient are 0, dU does not enter (IoU = 0/U):
 *        every entry exactly 0.
 *   GIoU: enclosing [3/8, 15/16] x [1/4, 3/4]: ew = 9/16 (d/dx = -1: the
 *        box's left edge; d/dw = 1/2), eh = 1/2 (the truth's edges: 0).
 *        E = 9/32.  L = 1 + (E - U)/E = 1 + 5/9 = 14/9.
 *        dL = -(dU E - U dE)/E^2 with dU = (0, 0, h, w) = (0, 0, 1/4, 1/4),
 *        dE = (-1/2, 0, 1/4, 0):  dL/dx = -(1/8)(1/2)/(81/1024) = -64/81,
 *        dL/dw = -(1/4)(E - U)/E^2 = -40/81, dL/dh = -(1/4)/E = -8/9.
 *        Chain (1/4, 1/4, 1/4, 1/4): (-16/81, 0, -10/81, -2/9).
 *   DIoU: rho^2 = (3/8)^2 = 9/64, c^2 = (9/16)^2 + (1/2)^2 = 145/256.
 *        L = 1 + 36/145 = 181/145.  d rho^2 = (-3/4, 0, 0, 0),
 *        d c^2 = (2 ew (-1), 0, 2 ew (1/2), 0) = (-9/8, 0, 9/16, 0):
 *        dL/dx = (-3/4 c^2 + 9/64 * 9/8)/c^4 = -17472/21025,
 *        dL/dw = -(9/64)(9/16)/c^4 = -5184/21025.  Chain: x 1/4, w 1/4.
 *   CIoU: A = atan(1/4) - atan(1), 1 - IoU = 1, w h/(w^2 + h^2) = 1/2. */
static edge_case apart(void)
{
    edge_case c = {.name = "apart", .anchor = 16, .t = {0, 0, 0, 0},
                   .truth = {0.875f, 0.5f, 0.125f, 0.5f, 0}, .k = 31.0 / 16};
    c.L[0] = 1;
    c.L[1] = 14.0 / 9;
    c.L[2] = 181.0 / 145;
    set_g(&c, 0, 0, 0, 0, 0);
    set_g(&c, 1, -16.0 / 81, 0, -10.0 / 81, -2.0 / 9);
    set_g(&c, 2, -17472.0 / 21025 / 4, 0, -5184.0 / 21025 / 4, 0);
    add_ciou(&c, atan(0.25) - atan(1.0), 1.0, 0.5);
    for (int e = 0; e < 4; e++)
        c.zero[0][e] = 1;
    return c;
}

/* Identical.  Box and truth (1/2, 1/2, 1/4, 1/4): every edge of the box is
 * on the truth's, and at such a tie each side takes half, so in I and in E
 * the box's edges have weight 1/2: dI = dE = (0, 0, h/2, w/2) and dU = dI.
 * k = 31/16, L = 0 for every kind (IoU 1, E = U, rho = 0, v = 0 so
 * alpha = 0), and the gradient is 0 for every kind:
 *   IoU: dL = -(dI U - I dU) / U^2 = -(dI - dU) / U = 0.
 *   GIoU: adds -(dU - (U/E) dE) / E = 0.
 *   DIoU, CIoU: rho^2 and v add nothing (rho = 0, A = 0). */
static edge_case identical(void)
{
    edge_case c = {.name = "identical", .anchor = 16, .t = {0, 0, 0, 0},
                   .truth = {0.5f, 0.5f, 0.25f, 0.25f, 0}, .k = 31.0 / 16};
    for (int q = 0; q < 3; q++)
        c.L[q] = 0;
    for (int q = 0; q < 3; q++)
        set_g(&c, q, 0, 0, 0, 0);
    add_ciou(&c, 0.0, 0.0, 0.5);
    return c;
}

/* The box inside the truth.  Box [3/8, 5/8]^2; truth (5/8, 1/2, 3/4, 1/2) =
 * [1/4, 1] x [1/4, 3/4].  k = 2 - 3/8 = 13/8.  I = wh = 1/16, dI = (0, 0,
 * h, w); U = 3/8, dU = 0.  IoU = 1/6.
 *   IoU: L = 5/6, dL = -dI/U = (0, 0, -2/3, -2/3); chain: (0, 0, -1/6, -1/6).
 *   GIoU: E = U (the truth encloses), dE = 0: the same.
 *   DIoU: rho^2 = 1/64, c^2 = 9/16 + 1/4 = 13/16, L = 5/6 + 1/52 = 133/156;
 *        dL/dx = 2 (-1/8) / c^2 = -4/13 (chain: -1/13).
 *   CIoU: A = atan(3/2) - atan(1), 1 - IoU = 5/6, wh/(w^2 + h^2) = 1/2. */
static edge_case inside(void)
{
    edge_case c = {.name = "inside", .anchor = 16, .t = {0, 0, 0, 0},
                   .truth = {0.625f, 0.5f, 0.75f, 0.5f, 0}, .k = 13.0 / 8};
    c.L[0] = c.L[1] = 5.0 / 6;
    c.L[2] = 133.0 / 156;
    set_g(&c, 0, 0, 0, -1.0 / 6, -1.0 / 6);
    set_g(&c, 1, 0, 0, -1.0 / 6, -1.0 / 6);
    set_g(&c, 2, -1.0 / 13, 0, -1.0 / 6, -1.0 / 6);
    add_ciou(&c, atan(1.5) - atan(1.0), 5.0 / 6, 0.5);
    return c;
}

/* The truth inside the box.  Anchor 48: box (1/2, 1/2, 3/4, 3/4) =
 * [1/8, 7/8]^2; truth (9/16, 1/2, 1/4, 1/8) = [7/16, 11/16] x [7/16, 9/16].
 * k = 2 - 1/32 = 63/32.  I = 1/32, dI = 0; U = 9/16, dU = (0, 0, 3/4, 3/4).
 *   IoU = 1/18: L = 17/18, dL = I dU/U^2 = (0, 0, 2/27, 2/27);
 *        chain 3/4: (0, 0, 1/18, 1/18).
 *   GIoU: E = U, dE = dU: the same.
 *   DIoU: rho^2 = 1/256, c^2 = 9/8, d c^2 = (0, 0, 3/2, 3/2);
 *        L = 17/18 + 1/288 = 91/96; dL/dx = (-1/8)/c^2 = -1/9 (chain -1/36),
 *        dL/dw = 2/27 - (1/256)(3/2)/(81/64) = 2/27 - 1/216 = 5/72
 *        (chain: 5/96).
 *   CIoU: A = atan(2) - atan(1), 1 - IoU = 17/18, wh/(w^2 + h^2) = 1/2. */
static edge_case contains(void)
{
    edge_case c = {.name = "contains", .anchor = 48, .t = {0, 0, 0, 0},
                   .truth = {0.5625f, 0.5f, 0.25f, 0.125f, 0}, .k = 63.0 / 32};
    c.L[0] = c.L[1] = 17.0 / 18;
    c.L[2] = 91.0 / 96;
    set_g(&c, 0, 0, 0, 1.0 / 18, 1.0 / 18);
    set_g(&c, 1, 0, 0, 1.0 / 18, 1.0 / 18);
    set_g(&c, 2, -1.0 / 36, 0, 5.0 / 96, 5.0 / 96);
    add_ciou(&c, atan(2.0) - atan(1.0), 17.0 / 18, 0.5);
    return c;
}

/* A huge box: tw = th = 100, exp(100) = 2.7e43 is past float's range, the
 * size W0 = e^100 / 4 = 6.7e42 is a plain double.  Truth as in `contains`
 * (G = 1/32), inside the box.  IoU = G / W0^2 = 7e-88: L = 1 for IoU, GIoU
 * (E = U) and DIoU (rho^2/c^2 = 1/(512 W0^2)); every entry is below 1e-87
 * (0 at this tolerance).  CIoU's v does not shrink with the box: A =
 * atan(2) - atan(1), alpha = v / (1 + v) (1 - IoU = 1 in double), and its tw,
 * th entries are -/+ alpha 4 A / pi^2 = -/+ 0.00525: a huge box is still
 * pulled to the truth's aspect ratio. */
static edge_case huge(void)
{
    edge_case c = {.name = "huge", .anchor = 16, .t = {0, 0, 100, 100},
                   .truth = {0.5625f, 0.5f, 0.25f, 0.125f, 0}, .k = 63.0 / 32};
    for (int q = 0; q < 3; q++) {
        c.L[q] = 1;
        set_g(&c, q, 0, 0, 0, 0);
    }
    add_ciou(&c, atan(2.0) - atan(1.0), 1.0, 0.5);
    return c;
}

/* An enormous box: tw = th = 250, W0 = e^250 / 4 = 2^358.7, inside the
 * clamp.  The same hand values as `huge`; here the products of GIoU's
 * quotient rule, dU E and U dE (about W0^3), pass double's range (2^1024),
 * so the derivative of U/E must be formed as (dU - (U/E) dE) / E. */
static edge_case enormous(void)
{
    edge_case c = huge();
    c.name = "enormous";
    c.t[2] = c.t[3] = 250;
    return c;
}

/* A tiny box: tw = th = -100, T0 = e^-100 / 4 = 9e-45 (a float denormal's
 * size), inside the truth of `inside` (G = 3/8).  Its edges round to its
 * centre in double, so I = 0 there (the exact I = T0^2 = 9e-89, IoU 2e-88:
 * the same to double precision).  L = 1 for IoU and GIoU (E = U), tw and
 * th entries of order T0^2 (0 here).  DIoU: L = 1 + (1/64)/(13/16) = 53/52
 * and the centre is still pulled: dL/dx = -4/13, chain -1/13 (a sum of
 * edge derivatives of order 1/T0 would lose it).  CIoU: A = atan(3/2) -
 * atan(1), alpha = v / (1 + v), tw, th entries -/+ alpha 4 A / pi^2. */
static edge_case tiny(void)
{
    edge_case c = {.name = "tiny", .anchor = 16, .t = {0, 0, -100, -100},
                   .truth = {0.625f, 0.5f, 0.75f, 0.5f, 0}, .k = 13.0 / 8};
    c.L[0] = c.L[1] = 1;
    c.L[2] = 53.0 / 52;
    set_g(&c, 0, 0, 0, 0, 0);
    set_g(&c, 1, 0, 0, 0, 0);
    set_g(&c, 2, -1.0 / 13, 0, 0, 0);
    add_ciou(&c, atan(1.5) - atan(1.0), 1.0, 0.5);
    return c;
}

/* Past the clamp, above: tw = th = 400, exp(400) = 5e173 > 2^500, so w =
 * h = 2^500 and the tw, th entries are exactly 0 for every kind (without
 * the clamp, CIoU's would be -/+ alpha 4 A / pi^2, of order 0.01).  Truth
 * as in `contains` (G = 1/32), inside the box.  I = G, U = E = 2^1000:
 * L = 1 for IoU, GIoU and DIoU (rho^2/c^2 = 2^-8 / 2^1001), every entry
 * below 2^-1000 (tx, ty of IoU exactly 0).  CIoU: A = atan(2) - atan(1),
 * 1 - IoU = 1.  Squares such as U^2 = 2^2000 overflow here; the quotients
 * they divide are still 0, not NaN. */
static edge_case clamped_above(void)
{
    edge_case c = {.name = "clamped above", .anchor = 16, .t = {0, 0, 400, 400},
                   .truth = {0.5625f, 0.5f, 0.25f, 0.125f, 0}, .k = 63.0 / 32};
    for (int q = 0; q < 3; q++) {
        c.L[q] = 1;
        set_g(&c, q, 0, 0, 0, 0);
    }
    add_ciou(&c, atan(2.0) - atan(1.0), 1.0, 0.0);
    for (int q = 0; q < KINDS; q++)
        c.zero[q][2] = c.zero[q][3] = 1;
    c.zero[0][0] = c.zero[0][1] = 1;
    return c;
}

/* Past the clamp, below: tw = th = -400, exp(-400) = 2e-174 < 2^-500, so w =
 * h = 2^-500: the tw, th entries are exactly 0.  Otherwise as `tiny`: L = 1
 * for IoU and GIoU, DIoU 53/52 with its tx entry -1/13, CIoU A = atan(3/2) -
 * atan(1), 1 - IoU = 1. */
static edge_case clamped_below(void)
{
    edge_case c = {.name = "clamped below", .anchor = 16, .t = {0, 0, -400, -400},
                   .truth = {0.625f, 0.5f, 0.75f, 0.5f, 0}, .k = 13.0 / 8};
    c.L[0] = c.L[1] = 1;
    c.L[2] = 53.0 / 52;
    set_g(&c, 0, 0, 0, 0, 0);
    set_g(&c, 1, 0, 0, 0, 0);
    set_g(&c, 2, -1.0 / 13, 0, 0, 0);
    add_ciou(&c, atan(1.5) - atan(1.0), 1.0, 0.0);
    for (int q = 0; q < KINDS; q++)
        c.zero[q][2] = c.zero[q][3] = 1;
    c.zero[0][0] = c.zero[0][1] = 1;
    return c;
}

/* ---- running one case ------------------------------------------------------ */

#define EC_K 6 /* 5 + C entries of the one slot */

typedef struct ec_setup {
    float anchors[2];
    int32_t mask[1];
    rl_yolo_head head;
    rl_yolo_config cfg;
    float pred[EC_K];
    int64_t off[2];
} ec_setup;

static void setup(ec_setup *s, const edge_case *c, int kind, const char *variant)
{
    s->anchors[0] = s->anchors[1] = c->anchor;
    s->mask[0] = 0;
    s->head = (rl_yolo_head){1, 1, 1, s->mask};
    rl_yolo_config_init(&s->cfg);
    s->cfg.n_heads = 1;
    s->cfg.heads = &s->head;
    s->cfg.C = 1;
    s->cfg.n_anchors = 1;
    s->cfg.anchors = s->anchors;
    s->cfg.net_w = s->cfg.net_h = 64;
    s->cfg.norm = RL_NORM_SUM;
    s->cfg.box_loss = kinds[kind];
    s->cfg.variant = variant;
    for (int e = 0; e < 4; e++)
        s->pred[e] = c->t[e];
    s->pred[4] = 0.5f; /* objectness and class logits: any finite values */
    s->pred[5] = -0.25f;
    s->off[0] = 0;
    s->off[1] = 1;
}

static void expect_finite(const rl_result *r, const char *what)
{
    const double v[] = {r->loss,     r->coord,     r->cls,          r->obj,
                        r->noobj,    r->avg_iou,   r->sum_iou,      r->darknet.avg_iou,
                        r->avg_obj,  r->avg_cls,   r->darknet.cost, r->darknet.avg_anyobj};
    for (size_t q = 0; q < sizeof v / sizeof *v; q++)
        cr_expect(isfinite(v[q]), "%s: result field %zu is %g", what, q, v[q]);
}

static void check_entry(const edge_case *c, int kind, int e, double got, double rel,
                        const char *what)
{
    const double want = c->k * c->g[kind][e];
    if (c->zero[kind][e])
        cr_expect(got == 0.0, "%s: entry %d must be exactly 0, got %.17g", what, e, got);
    else
        cr_expect(fabs(got - want) <= rel * fabs(want) + DOUBLE_REL * c->k,
                  "%s: entry %d = %.17g, by hand %.17g (diff %.3g)", what, e, got, want,
                  got - want);
}

/* The hand values on the reference: its double gradient and the API's float
 * one; returns the float gradient for the variants' comparison. */
static void on_reference(const edge_case *c, int kind, float fgrad[EC_K])
{
    ec_setup s;
    setup(&s, c, kind, "reference");
    rl_yolo_plan *plan = yolo_ref_plan(&s.cfg);
    char what[96];
    snprintf(what, sizeof what, "%s %s reference", c->name, kind_names[kind]);

    const void *preds[1] = {s.pred};
    void *grads[1] = {fgrad};
    rl_yolo_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.n_images = 1;
    batch.preds = preds;
    batch.truths = &c->truth;
    batch.truth_offsets = s.off;
    rl_result api;
    rl_status st = rl_yolo_compute(plan, &batch, &api, NULL, grads);
    cr_assert(st == RL_OK, "%s: rl_yolo_compute: %s", what, rl_last_error());

    double grad[EC_K];
    uint8_t touched[EC_K];
    rl_yolo_ref_out out;
    memset(&out, 0, sizeof out);
    out.head[0].grad = grad;
    out.head[0].touched = touched;
    const float *fp[1] = {s.pred};
    rl_result r;
    yolo_ref_run(plan, 1, fp, NULL, &c->truth, s.off, NULL, &r, NULL, &out);

    cr_expect_eq(r.n_obj, 1, "%s: n_obj %lld", what, (long long)r.n_obj);
    expect_finite(&r, what);
    const double want = c->k * c->L[kind];
    cr_expect(fabs(r.coord - want) <= DOUBLE_REL * fabs(want) + DOUBLE_REL * c->k,
              "%s: coord = %.17g, by hand k L = %.17g", what, r.coord, want);
    cr_expect(r.coord == api.coord && r.loss == api.loss, "%s: the API's result differs", what);
    for (int e = 0; e < EC_K; e++) {
        cr_expect(isfinite(grad[e]) && isfinite(fgrad[e]), "%s: entry %d not finite", what, e);
        cr_expect(fgrad[e] == (float)grad[e], "%s: float entry %d is not the double rounded",
                  what, e);
    }
    for (int e = 0; e < 4; e++)
        check_entry(c, kind, e, grad[e], DOUBLE_REL, what);
    rl_yolo_plan_destroy(plan);
}

/* Every variant (and auto): the positives are computed in double by the
 * driver, so the same hand values hold, at FLOAT_REL for the float
 * gradient; coord is a double sum. */
static int on_variants(const edge_case *c, int kind, const float ref_grad[EC_K])
{
    const char *names[64];
    int n = 0;
    for (const char *const *v = rl_variant_list(); *v && n < 63; v++)
        names[n++] = *v;
    names[n++] = NULL; /* auto */
    for (int q = 0; q < n; q++) {
        ec_setup s;
        setup(&s, c, kind, names[q]);
        rl_yolo_plan *plan = NULL;
        rl_status st = rl_yolo_plan_create(&s.cfg, &plan);
        cr_assert(st == RL_OK, "%s: rl_yolo_plan_create: %s", names[q] ? names[q] : "auto",
                  rl_last_error());
        char what[96];
        snprintf(what, sizeof what, "%s %s %s%s", c->name, kind_names[kind],
                 names[q] ? "" : "auto = ", rl_yolo_plan_variant(plan));
        const void *preds[1] = {s.pred};
        float fgrad[EC_K];
        void *grads[1] = {fgrad};
        rl_yolo_batch batch;
        memset(&batch, 0, sizeof batch);
        batch.n_images = 1;
        batch.preds = preds;
        batch.truths = &c->truth;
        batch.truth_offsets = s.off;
        rl_result r;
        st = rl_yolo_compute(plan, &batch, &r, NULL, grads);
        cr_assert(st == RL_OK, "%s: rl_yolo_compute: %s", what, rl_last_error());
        expect_finite(&r, what);
        const double want = c->k * c->L[kind];
        cr_expect(fabs(r.coord - want) <= DOUBLE_REL * fabs(want) + DOUBLE_REL * c->k,
                  "%s: coord = %.17g, by hand k L = %.17g", what, r.coord, want);
        for (int e = 0; e < EC_K; e++)
            cr_expect(isfinite(fgrad[e]), "%s: entry %d = %g", what, e, (double)fgrad[e]);
        for (int e = 0; e < 4; e++) {
            check_entry(c, kind, e, fgrad[e], FLOAT_REL, what);
            cr_expect(fabs(fgrad[e] - ref_grad[e]) <=
                          FLOAT_REL * fabs(ref_grad[e]) + DOUBLE_REL * c->k,
                      "%s: entry %d = %.9g, the reference's %.9g", what, e, (double)fgrad[e],
                      (double)ref_grad[e]);
        }
        if (kind == 0)
            cr_log_info("%s", what);
        rl_yolo_plan_destroy(plan);
    }
    return n;
}

static void run(edge_case c)
{
    for (int kind = 0; kind < KINDS; kind++) {
        float ref_grad[EC_K];
        on_reference(&c, kind, ref_grad);
        cr_expect_geq(on_variants(&c, kind, ref_grad), 3, "reference, another variant, auto");
    }
}

Test(yolo_box_loss_edges, apart) { run(apart()); }
Test(yolo_box_loss_edges, identical) { run(identical()); }
Test(yolo_box_loss_edges, box_inside_truth) { run(inside()); }
Test(yolo_box_loss_edges, truth_inside_box) { run(contains()); }
Test(yolo_box_loss_edges, huge_box_exp_past_float) { run(huge()); }
Test(yolo_box_loss_edges, enormous_box) { run(enormous()); }
Test(yolo_box_loss_edges, tiny_box) { run(tiny()); }
Test(yolo_box_loss_edges, sizes_past_the_clamp_above) { run(clamped_above()); }
Test(yolo_box_loss_edges, sizes_past_the_clamp_below) { run(clamped_below()); }
