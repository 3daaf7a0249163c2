/* rl_truths_from_darknet (issue 5 point 10) feeding rl_compute: darknet's
 * net.truth of 30 boxes x {x, y, w, h, class} per image, each image's list
 * ending at the first box whose x is 0, converted and computed on every
 * variant, must give what darknet's region layer (dn_model.c) computes
 * from the raw buffer itself.  yolo-voc's layer: 13 x 13, its five anchors,
 * 20 classes, default scales, warm-up on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_compare.h"
#include "dn_support.h"

#define IMAGES 3
#define BOXES 30
#define CLASSES 20

static const float voc_anchors[10] = {1.3221f, 1.73145f, 3.19275f, 4.00944f, 5.05587f,
                                      8.09892f, 9.47112f, 4.84053f, 11.2364f, 10.0071f};

/* A deterministic box in (0, 1] x [0, 1], sizes in [.05, .95]. */
static void some_box(uint32_t *s, float *f, int cls)
{
    for (int q = 0; q < 4; q++) {
        *s = *s * 1664525u + 1013904223u;
        const float u = (float)(*s >> 8) / 16777216.0f;
        f[q] = q < 2 ? (q == 0 ? 0.01f + 0.99f * u : u) : 0.05f + 0.9f * u;
    }
    f[4] = (float)cls;
}

/* image 0: three boxes (the third at x = 1, the last column), then a
 *          terminator whose other fields are not 0, then boxes darknet never
 *          reads (one with a class out of range);
 * image 1: all 30 boxes, no terminator;
 * image 2: the terminator first (no truth), garbage after it. */
static void build(float *buf, float garbage)
{
    uint32_t s = 12345;
    memset(buf, 0, sizeof(float) * IMAGES * BOXES * 5);
    float *im0 = buf, *im1 = buf + BOXES * 5, *im2 = buf + 2 * BOXES * 5;
    some_box(&s, im0, 14);
    some_box(&s, im0 + 5, 0);
    some_box(&s, im0 + 10, 19);
    im0[10] = 1.0f;
    const float term[5] = {0.0f, 0.5f, 0.25f, 0.25f, 3.0f};
    memcpy(im0 + 15, term, sizeof term);
    some_box(&s, im0 + 20, 5);
    some_box(&s, im0 + 25, 99);
    im0[20] = im0[25] = garbage;
    for (int t = 0; t < BOXES; t++)
        some_box(&s, im1 + 5 * t, (t * 7) % CLASSES);
    memcpy(im2, term, sizeof term);
    some_box(&s, im2 + 5, 250);
    im2[5] = garbage;
}

static void voc_config(rl_config *cfg)
{
    rl_config_init_darknet(cfg);
    cfg->H = cfg->W = 13;
    cfg->B = 5;
    cfg->C = CLASSES;
    cfg->anchors = voc_anchors;
}

Test(truth_buffer, conversion)
{
    float buf[IMAGES * BOXES * 5];
    build(buf, 0.5f);
    rl_box boxes[IMAGES * BOXES];
    int64_t off[IMAGES + 1];
    cr_assert_eq(rl_truths_from_darknet(buf, IMAGES, BOXES, CLASSES, boxes, off), RL_OK, "%s",
                 rl_last_error());
    cr_assert_eq(off[0], 0);
    cr_assert_eq(off[1], 3, "image 0 ends at its terminator: %lld", (long long)off[1]);
    cr_assert_eq(off[2], 33, "image 1 holds all 30 boxes: %lld", (long long)off[2]);
    cr_assert_eq(off[3], 33, "image 2 is empty: %lld", (long long)off[3]);
    for (int t = 0; t < 33; t++) {
        const float *f = buf + (t < 3 ? 5 * t : 5 * BOXES + 5 * (t - 3));
        cr_assert(boxes[t].cx == f[0] && boxes[t].cy == f[1] && boxes[t].w == f[2] &&
                      boxes[t].h == f[3] && boxes[t].cls == (int32_t)f[4],
                  "box %d", t);
    }
}

/* The converted truths give darknet's l.delta, cost and line, on every
 * variant. */
Test(truth_buffer, compute_matches_darknet)
{
    rl_config cfg;
    voc_config(&cfg);
    const size_t count = dn_count(&cfg, IMAGES);
    float *pred = malloc(count * sizeof *pred);
    cr_assert(pred);
    uint32_t s = 777;
    for (size_t x = 0; x < count; x++) {
        s = s * 1664525u + 1013904223u;
        pred[x] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 6.0f;
    }
    float buf[IMAGES * BOXES * 5];
    build(buf, 0.5f);
    rl_box boxes[IMAGES * BOXES];
    int64_t off[IMAGES + 1];
    cr_assert_eq(rl_truths_from_darknet(buf, IMAGES, BOXES, CLASSES, boxes, off), RL_OK);
    const int64_t seen = 640; /* warm-up on */

    const dn_batch db = {&cfg, IMAGES, pred, buf, BOXES, boxes, off, seen};
    dn_region l;
    dn_model_run(&db, &l);
    cr_assert_eq(l.line.count, 33, "the model read %d truths", l.line.count);
    dn_cmp m = {0, "yolo-voc 13x13, darknet truth buffer"};
    dn_compare_reference(&db, &l, RL_LAYOUT_NCHW, &m);
    for (const char *const *v = rl_variant_list(); *v; v++)
        if (strcmp(*v, "reference") != 0)
            dn_compare_variant(&db, &l, *v, &m);
    cr_assert_eq(m.bad, 0, "%d mismatches with darknet (details above)", m.bad);
    const rl_batch batch = {.n_images = IMAGES, .pred = pred, .truths = boxes,
                            .truth_offsets = off, .seen = seen};
    dn_diffcheck_all(&cfg, &batch, m.what);

    /* other garbage after the terminators converts to the same truths */
    float buf2[IMAGES * BOXES * 5];
    build(buf2, 0.875f);
    rl_box boxes2[IMAGES * BOXES];
    int64_t off2[IMAGES + 1];
    cr_assert_eq(rl_truths_from_darknet(buf2, IMAGES, BOXES, CLASSES, boxes2, off2), RL_OK);
    cr_assert(memcmp(off, off2, sizeof off) == 0);
    cr_assert(memcmp(boxes, boxes2, (size_t)off[IMAGES] * sizeof *boxes) == 0);
    dn_free(&l);
    free(pred);
}
