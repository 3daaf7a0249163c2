/* Truths on cell borders (docs/loss.md, "Responsible slots"): the cell is
 * floor(X) clamped
 * to the last column/row, so X = W (cx = 1) belongs to column W-1 and an
 * interior border X = j belongs to column j, not j-1.  All logits are 0:
 * every slot decodes to the anchor box centred in its cell, c^ = 1/2. */
#include "support.h"

#include <stdlib.h>

/* What the derivation of one case says. */
typedef struct border_case {
    int32_t H, W, C;
    rl_box truth;
    int32_t i, j;               /* the responsible cell (single anchor (1, 1)) */
    int64_t n_noobj;            /* the other slots that are noobj */
    double coord, cls, obj, noobj;
    double g_resp[5 + 4];       /* gradient of the responsible slot, k = 0 .. 4+C */
    double g_noobj_tc;          /* d tc at each noobj slot */
} border_case;

static const float unit_anchor[2] = {1.0f, 1.0f};

static void run(const border_case *e, rl_layout layout)
{
    rl_config cfg;
    config_spec(&cfg, e->H, e->W, 1, e->C, unit_anchor, layout);
    rl_plan *plan = ref_plan(&cfg);
    const size_t count = cfg_count(&cfg, 1);
    float *pred = calloc(count, sizeof *pred), *grad = calloc(count, sizeof *grad);
    const int64_t off[2] = {0, 1};
    rl_batch batch = {.n_images = 1, .pred = pred, .truths = &e->truth, .truth_offsets = off};
    rl_result r;
    compute_ok(plan, &batch, &r, grad);
    cr_assert_eq(r.n_obj, 1);
    cr_assert_eq(r.n_noobj, e->n_noobj);
    assert_close(r.coord, e->coord, DOUBLE_REL, 0, "coord");
    assert_close(r.cls, e->cls, DOUBLE_REL, 0, "cls");
    assert_close(r.obj, e->obj, DOUBLE_REL, 0, "obj");
    assert_close(r.noobj, e->noobj, DOUBLE_REL, 0, "noobj");
    for (int32_t i = 0; i < e->H; i++)
        for (int32_t j = 0; j < e->W; j++)
            for (int32_t k = 0; k < 5 + e->C; k++) {
                double want;
                if (i == e->i && j == e->j)
                    want = e->g_resp[k];
                else
                    want = k == 4 ? e->g_noobj_tc : 0.0;
                assert_close(grad[cfg_offset(&cfg, 0, i, j, 0, k)], want, FLOAT_REL, 0,
                             "layout %d grad (i=%d, j=%d, k=%d)", (int)layout, i, j, k);
            }
    free(pred);
    free(grad);
    rl_plan_destroy(plan);
}

/* H = 2, W = 3, C = 1; truth (1, 1, 0.5, 0.5, 0): X = 3, Y = 2, Wg = 1.5,
 * Hg = 1.  floor gives column 3 and row 2, clamped to j = 2, i = 1.
 * Responsible box (2.5, 1.5, 1, 1) = [2, 3] x [1, 2]; truth
 * [2.25, 3.75] x [1.5, 2.5]: inter = 0.75 * 0.5 = 3/8, union = 1 + 1.5 -
 * 3/8 = 17/8, IoU = 3/17.  The other 5 unit boxes miss the truth in x or y:
 * IoU 0, noobj.  N_obj = 1, N_conf = 6.
 *   coord = (3 - 2.5)^2 + (2 - 1.5)^2 + (1.5 - 1)^2 + 0 = 3/4
 *   cls = -log 1 = 0;  obj = 5/6 (3/17 - 1/2)^2;  noobj = 1/6 * 5/4 = 5/24
 *   d tx = 2 (2.5 - 3)/4 = -1/4;  d ty = 2 (1.5 - 2)/4 = -1/4
 *   d tw = 2 (1 - 1.5) * 1 = -1;  d th = 0
 *   d tc = 5/6 * 2 (1/2 - 3/17)/4;  d class = 1 - 1 = 0
 *   noobj d tc = 1/6 * 2 (1/2)(1/4) = 1/24 */
static border_case last_column_and_row(void)
{
    border_case e = {.H = 2, .W = 3, .C = 1, .truth = {1.0f, 1.0f, 0.5f, 0.5f, 0},
                     .i = 1, .j = 2, .n_noobj = 5};
    const double iou = 3.0 / 17;
    e.coord = 0.75;
    e.cls = 0.0;
    e.obj = 5.0 / 6 * (iou - 0.5) * (iou - 0.5);
    e.noobj = 5.0 / 24;
    e.g_resp[0] = -0.25;
    e.g_resp[1] = -0.25;
    e.g_resp[2] = -1.0;
    e.g_resp[3] = 0.0;
    e.g_resp[4] = 5.0 / 6 * 2 * (0.5 - iou) / 4;
    e.g_resp[5] = 0.0;
    e.g_noobj_tc = 1.0 / 24;
    return e;
}

Test(hand_cell_borders, x_and_y_equal_one_clamp_to_last_cell)
{
    border_case e = last_column_and_row();
    run(&e, RL_LAYOUT_NCHW);
    run(&e, RL_LAYOUT_NHWC);
}

/* H = W = 2, C = 2; truth (0.5, 0, 0.5, 0.5, 0): X = 1 exactly on the
 * border between columns 0 and 1, Y = 0 on the top edge; Wg = Hg = 1.
 * floor(1) = 1: j = 1; i = 0.  Responsible box [1, 2] x [0, 1]; truth
 * [0.5, 1.5] x [-0.5, 0.5]: inter 1/4, union 7/4, IoU 1/7.  Slot (0, 0),
 * [0, 1] x [0, 1], overlaps the truth equally (IoU 1/7 < 0.6): noobj; the
 * row-1 slots miss it: noobj.  N_obj = 1, N_conf = 4.
 *   coord = (1 - 1.5)^2 + (0 - 0.5)^2 = 1/2  (the same as column 0 would
 *           give: the gradient's sign and place are what tell them apart)
 *   cls = log 2;  obj = 5/4 (1/7 - 1/2)^2;  noobj = 1/4 * 3/4 = 3/16
 *   d tx = 2 (1.5 - 1)/4 = +1/4;  d ty = 2 (0.5 - 0)/4 = 1/4;  d tw = d th = 0
 *   d tc = 5/4 * 2 (1/2 - 1/7)/4;  d class = (1/2 - 1, 1/2) = (-1/2, 1/2)
 *   noobj d tc = 1/4 * 2 (1/2)(1/4) = 1/16 */
static border_case interior_border(void)
{
    border_case e = {.H = 2, .W = 2, .C = 2, .truth = {0.5f, 0.0f, 0.5f, 0.5f, 0},
                     .i = 0, .j = 1, .n_noobj = 3};
    const double iou = 1.0 / 7;
    e.coord = 0.5;
    e.cls = log(2.0);
    e.obj = 5.0 / 4 * (iou - 0.5) * (iou - 0.5);
    e.noobj = 3.0 / 16;
    e.g_resp[0] = 0.25;
    e.g_resp[1] = 0.25;
    e.g_resp[2] = 0.0;
    e.g_resp[3] = 0.0;
    e.g_resp[4] = 5.0 / 4 * 2 * (0.5 - iou) / 4;
    e.g_resp[5] = -0.5;
    e.g_resp[6] = 0.5;
    e.g_noobj_tc = 1.0 / 16;
    return e;
}

Test(hand_cell_borders, interior_border_belongs_to_the_right_cell)
{
    border_case e = interior_border();
    run(&e, RL_LAYOUT_NCHW);
    run(&e, RL_LAYOUT_NHWC);
}

/* cx = 0, cy = 0 on a 1 x 1 grid and cx = cy = 1 on it: both land in the
 * single cell; the truth (0, 0, 1, 1, 0) is box [-0.5, 0.5]^2 in grid
 * units, the zero-logit box [0, 1]^2: inter 1/4, union 7/4, IoU 1/7.
 *   coord = 2 (1/2)^2 = 1/2;  obj = 5/1 (1/7 - 1/2)^2;  d tx = d ty = 2 (1/2)/4 = 1/4
 * and mirrored for (1, 1): d tx = d ty = -1/4. */
Test(hand_cell_borders, corners_of_a_single_cell)
{
    for (int corner = 0; corner < 2; corner++) {
        const float v = (float)corner;
        border_case e = {.H = 1, .W = 1, .C = 1, .truth = {v, v, 1.0f, 1.0f, 0},
                         .i = 0, .j = 0, .n_noobj = 0};
        const double iou = 1.0 / 7, sign = corner ? -1.0 : 1.0;
        e.coord = 0.5;
        e.obj = 5.0 * (iou - 0.5) * (iou - 0.5);
        e.g_resp[0] = sign * 0.25;
        e.g_resp[1] = sign * 0.25;
        e.g_resp[4] = 5.0 * 2 * (0.5 - iou) / 4;
        run(&e, RL_LAYOUT_NCHW);
    }
}
