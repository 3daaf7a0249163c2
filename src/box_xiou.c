/* The IoU-family box term, for the driver: axis by axis (overlap and
 * enclosure of each axis with their derivatives, then the products), where
 * the reference writes each quantity out for the whole box.  Where an edge
 * of the box meets one of the truth's (a kink of min and max), each side
 * takes half: the mean of the one-sided derivatives, the reference's
 * convention. */
#include "box_xiou.h"
#include "driver_call.h"

#include <math.h>

static const double PI = 3.14159265358979323846;

static double clamp_size(double v, double *scale)
{
    if (v < RL_XIOU_SIZE_MIN || v > RL_XIOU_SIZE_MAX) {
        *scale = 0.0;
        return v < RL_XIOU_SIZE_MIN ? RL_XIOU_SIZE_MIN : RL_XIOU_SIZE_MAX;
    }
    *scale = 1.0;
    return v;
}

rl_xiou_box rl_xiou_decode(double tx, double ty, double tw, double th, int32_t i, int32_t j,
                           int32_t W, int32_t H, double aw, double ah, int32_t net_w,
                           int32_t net_h)
{
    rl_xiou_box b;
    double kw, kh;
    const double x = (j + rl_call_sigmoid(tx)) / W, y = (i + rl_call_sigmoid(ty)) / H;
    const double w = clamp_size(exp(tw) * aw / net_w, &kw);
    const double h = clamp_size(exp(th) * ah / net_h, &kh);
    b.w = w;
    b.h = h;
    b.x0 = x - w / 2;
    b.x1 = x + w / 2;
    b.y0 = y - h / 2;
    b.y1 = y + h / 2;
    b.dx = rl_call_sigmoid(tx) * rl_call_sigmoid(-tx) / W;
    b.dy = rl_call_sigmoid(ty) * rl_call_sigmoid(-ty) / H;
    b.dw = w * kw;
    b.dh = h * kh;
    return b;
}

/* One axis of the two boxes: the overlap o, the enclosing extent e, and
 * their derivatives w.r.t. the box's centre (_c) and size (_s) on that
 * axis.  Taken per axis on centre and size, not summed over the two
 * edges: a tiny or huge box's edges would cancel to nothing. */
typedef struct axis {
    double o, o_c, o_s;
    double e, e_c, e_s;
} axis;

static axis axis_of(double b0, double b1, double g0, double g1)
{
    axis a;
    /* how much the box's edge bounds the overlap (in) and the enclosure
     * (out): 1 or 0, and 1/2 each at a tie */
    const double in1 = b1 < g1 ? 1.0 : b1 == g1 ? 0.5 : 0.0;
    const double in0 = b0 > g0 ? 1.0 : b0 == g0 ? 0.5 : 0.0;
    const double out1 = 1.0 - in1, out0 = 1.0 - in0;
    a.o = fmin(b1, g1) - fmax(b0, g0);
    a.o_c = in1 - in0;
    a.o_s = (in1 + in0) / 2;
    a.e = fmax(b1, g1) - fmin(b0, g0);
    a.e_c = out1 - out0;
    a.e_s = (out1 + out0) / 2;
    return a;
}

double rl_xiou_term(int32_t kind, const rl_xiou_box *b, const rl_box *t, double g[4])
{
    const axis ax = axis_of(b->x0, b->x1, t->cx - t->w / 2.0, t->cx + t->w / 2.0);
    const axis ay = axis_of(b->y0, b->y1, t->cy - t->h / 2.0, t->cy + t->h / 2.0);
    const double w = b->w, h = b->h;
    /* every derivative below is w.r.t. (x, y, w, h), in that order */
    const int meets = ax.o > 0 && ay.o > 0;
    const double I = meets ? ax.o * ay.o : 0.0;
    const double dI[4] = {meets ? ax.o_c * ay.o : 0.0, meets ? ay.o_c * ax.o : 0.0,
                          meets ? ax.o_s * ay.o : 0.0, meets ? ay.o_s * ax.o : 0.0};
    const double U = w * h + (double)t->w * t->h - I;
    const double dU[4] = {-dI[0], -dI[1], h - dI[2], w - dI[3]};
    const double iou = I / U;
    double d[4]; /* of 1 - XIoU */
    for (int e = 0; e < 4; e++)
        d[e] = (iou * dU[e] - dI[e]) / U;
    double value = 1.0 - iou;

    if (kind != RL_BOX_IOU) {
        const double dex[4] = {ax.e_c, 0.0, ax.e_s, 0.0}, dey[4] = {0.0, ay.e_c, 0.0, ay.e_s};
        if (kind == RL_BOX_GIOU) {
            /* + 1 - U / E */
            const double E = ax.e * ay.e, ue = U / E;
            value += 1.0 - ue;
            for (int e = 0; e < 4; e++)
                d[e] += (ue * (dex[e] * ay.e + ax.e * dey[e]) - dU[e]) / E;
        } else {
            /* + rho^2 / c^2 */
            const double rx = (b->x0 + b->x1) / 2 - t->cx, ry = (b->y0 + b->y1) / 2 - t->cy;
            const double c2 = ax.e * ax.e + ay.e * ay.e, r = (rx * rx + ry * ry) / c2;
            const double drho2[4] = {2 * rx, 2 * ry, 0.0, 0.0};
            value += r;
            for (int e = 0; e < 4; e++)
                d[e] += (drho2[e] - r * 2 * (ax.e * dex[e] + ay.e * dey[e])) / c2;
            if (kind == RL_BOX_CIOU) {
                /* + alpha v, alpha held constant */
                const double A = atan((double)t->w / t->h) - atan(w / h);
                const double v = 4.0 / (PI * PI) * A * A;
                const double alpha = v == 0.0 ? 0.0 : v / ((1.0 - fmin(iou, 1.0)) + v);
                const double k = alpha * 8.0 / (PI * PI) * A / (w * w + h * h);
                value += alpha * v;
                d[2] -= k * h;
                d[3] += k * w;
            }
        }
    }
    g[0] = d[0] * b->dx;
    g[1] = d[1] * b->dy;
    g[2] = d[2] * b->dw;
    g[3] = d[3] * b->dh;
    return value;
}
