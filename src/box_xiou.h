/* The IoU-family box term of a [yolo] positive for the optimised driver
 * (docs/loss.md, "IoU-family box losses").  The reference has its own. */
#ifndef RL_BOX_XIOU_H
#define RL_BOX_XIOU_H

#include "internal.h"

/* A decoded box in image units as its four edges, and each edge's
 * derivative w.r.t. the raw outputs it depends on. */
typedef struct rl_xiou_box {
    double x0, x1, y0, y1;
    double w, h;   /* the size itself: x1 - x0 loses a tiny w next to x */
    double dx;     /* d centre x / d tx = s(tx) s(-tx) / W (the same for y with H) */
    double dy;
    double dw, dh; /* d w / d tw = w, 0 where the size was clamped */
} rl_xiou_box;

/* Sizes are clamped to [RL_XIOU_SIZE_MIN, RL_XIOU_SIZE_MAX] (docs/numerics.md). */
#define RL_XIOU_SIZE_MIN 0x1p-500
#define RL_XIOU_SIZE_MAX 0x1p+500

/* The box of raw outputs tx..th at cell (i, j) of a W x H grid, with an
 * anchor of aw x ah pixels in a net_w x net_h network. */
RL_HIDDEN rl_xiou_box rl_xiou_decode(double tx, double ty, double tw, double th, int32_t i,
                                     int32_t j, int32_t W, int32_t H, double aw, double ah,
                                     int32_t net_w, int32_t net_h);

/* 1 - XIoU(box, truth) for kind (rl_box_loss, not RL_BOX_MSE), and in g[0..3]
 * its derivative w.r.t. tx, ty, tw, th; CIoU's alpha is computed from the
 * same box and held constant. */
RL_HIDDEN double rl_xiou_term(int32_t kind, const rl_xiou_box *b, const rl_box *t, double g[4]);

#endif
