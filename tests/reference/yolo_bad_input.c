/* Bad configurations and bad batches of the [yolo] head, through the public
 * API with variant "reference": the right status, a message that names the
 * field and where (the head, the image, the cell, the entry), and nothing
 * written: *out_plan keeps its sentinel, every head's gradient buffer, the
 * total and the per-head results keep their guard bytes.
 *
 * The base network: YOLOv3's nine COCO anchors in pixels, net 416, three
 * heads with masks 6,7,8 / 3,4,5 / 0,1,2 on 2x2, 3x3 and 4x4 grids, C = 3,
 * two images (one truth, then two). */
#include "yolo_support.h"

#define GUARD_GRAD 0xC3
#define GUARD_RESULT 0x5A
#define NH 3
#define NI 2
#define BASE_C 3

static const float COCO[18] = {10, 13,  16, 30,  33,  23,  30,  61,  62,
                               45, 59, 119, 116, 90, 156, 198, 373, 326};

typedef struct base {
    rl_yolo_config cfg;
    rl_yolo_head heads[NH];
    int32_t masks[NH][3];
    float anchors[18];
    rl_box truths[3];
    int64_t off[NI + 1];
    float *pred[NH];
    size_t count[NH];
    const void *preds[NH];
    rl_yolo_batch batch;
} base;

static void base_init(base *bs, rl_layout layout)
{
    memset(bs, 0, sizeof *bs);
    memcpy(bs->anchors, COCO, sizeof COCO);
    rl_yolo_config *c = &bs->cfg;
    rl_yolo_config_init(c);
    c->n_heads = NH;
    c->C = BASE_C;
    c->n_anchors = 9;
    c->anchors = bs->anchors;
    c->net_w = c->net_h = 416;
    c->layout = layout;
    c->variant = "reference";
    for (int32_t h = 0; h < NH; h++) {
        for (int32_t b = 0; b < 3; b++)
            bs->masks[h][b] = 3 * (2 - h) + b;
        bs->heads[h] = (rl_yolo_head){h + 2, h + 2, 3, bs->masks[h]};
    }
    c->heads = bs->heads;
    const rl_box t[3] = {{0.3f, 0.3f, 0.1f, 0.1f, 0},
                         {0.6f, 0.7f, 0.5f, 0.6f, 2},
                         {0.1f, 0.9f, 0.05f, 0.04f, 1}};
    memcpy(bs->truths, t, sizeof t);
    bs->off[0] = 0, bs->off[1] = 1, bs->off[2] = 3;
    rng r = {77};
    for (int32_t h = 0; h < NH; h++) {
        bs->count[h] = yolo_count(c, h, NI);
        bs->pred[h] = malloc(bs->count[h] * sizeof(float));
        cr_assert(bs->pred[h]);
        for (size_t x = 0; x < bs->count[h]; x++)
            bs->pred[h][x] = rng_grid(&r, -1.0, 1.0, 8);
        bs->preds[h] = bs->pred[h];
    }
    bs->batch.n_images = NI;
    bs->batch.preds = bs->preds;
    bs->batch.truths = bs->truths;
    bs->batch.truth_offsets = bs->off;
}

static void base_free(base *bs)
{
    for (int32_t h = 0; h < NH; h++)
        free(bs->pred[h]);
}

static void expect_message(const char *const *frags, const char *call)
{
    const char *msg = rl_last_error();
    cr_assert(msg && *msg, "%s: empty message", call);
    for (int f = 0; frags[f]; f++)
        cr_assert(strstr(msg, frags[f]) != NULL, "%s: message \"%s\" lacks \"%s\"", call, msg,
                  frags[f]);
}

#define FRAGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void expect_plan_rejects(const rl_yolo_config *cfg, rl_status want,
                                const char *const *frags)
{
    rl_yolo_plan *const sentinel = (rl_yolo_plan *)(uintptr_t)0xDEADBEEF;
    rl_yolo_plan *plan = sentinel;
    rl_status st = rl_yolo_plan_create(cfg, &plan);
    cr_assert_eq(st, want, "rl_yolo_plan_create returned %s (%s), expected %s",
                 rl_status_name(st), rl_last_error(), rl_status_name(want));
    expect_message(frags, "rl_yolo_plan_create");
    cr_assert(plan == sentinel, "rl_yolo_plan_create wrote *out_plan on failure");
}

/* rl_yolo_compute must fail with `want`, say frags, and write nothing. */
static void expect_batch_rejects(const rl_yolo_plan *plan, const base *bs,
                                 const rl_yolo_batch *batch, rl_status want,
                                 const char *const *frags)
{
    void *grads[NH];
    for (int32_t h = 0; h < NH; h++) {
        grads[h] = malloc(bs->count[h] * sizeof(float) + 64);
        cr_assert(grads[h]);
        fill_guard(grads[h], bs->count[h] * sizeof(float) + 64, GUARD_GRAD);
    }
    rl_result total, per_head[NH];
    fill_guard(&total, sizeof total, GUARD_RESULT);
    fill_guard(per_head, sizeof per_head, GUARD_RESULT);
    rl_status st = rl_yolo_compute(plan, batch, &total, per_head, grads);
    cr_assert_eq(st, want, "rl_yolo_compute returned %s (%s), expected %s", rl_status_name(st),
                 rl_last_error(), rl_status_name(want));
    expect_message(frags, "rl_yolo_compute");
    for (int32_t h = 0; h < NH; h++) {
        cr_assert(is_guard(grads[h], bs->count[h] * sizeof(float) + 64, GUARD_GRAD),
                  "a rejected call wrote into head %d's gradient", (int)h);
        free(grads[h]);
    }
    cr_assert(is_guard(&total, sizeof total, GUARD_RESULT), "a rejected call wrote the total");
    cr_assert(is_guard(per_head, sizeof per_head, GUARD_RESULT),
              "a rejected call wrote the per-head results");
}

static void expect_accepted(const rl_yolo_plan *plan, const rl_yolo_batch *batch,
                            rl_result *total)
{
    rl_status st = rl_yolo_compute(plan, batch, total, NULL, NULL);
    cr_assert_eq(st, RL_OK, "%s: %s", rl_status_name(st), rl_last_error());
    cr_assert_str_empty(rl_last_error());
}

/* ---- configurations ------------------------------------------------------ */

Test(yolo_bad_input, base_is_accepted)
{
    base bs;
    base_init(&bs, RL_LAYOUT_NCHW);
    rl_yolo_plan *plan = yolo_ref_plan(&bs.cfg);
    rl_result r;
    expect_accepted(plan, &bs.batch, &r);
    cr_assert_eq(r.n_truths, 3);
    cr_assert_eq(r.darknet.count, 3, "each truth matched by one of the three heads");
    rl_yolo_plan_destroy(plan);
    base_free(&bs);
}

Test(yolo_bad_input, mask_index_out_of_range)
{
    base bs;
    base_init(&bs, RL_LAYOUT_NCHW);
    bs.masks[1][2] = 9;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_ARGUMENT, FRAGS("head 1", "mask[2] = 9", "9 anchors"));
    bs.masks[1][2] = 5;
    bs.masks[2][0] = -1;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_ARGUMENT, FRAGS("head 2", "mask[0] = -1"));
    base_free(&bs);
}

Test(yolo_bad_input, duplicated_mask_index)
{
    base bs;
    base_init(&bs, RL_LAYOUT_NCHW);
    bs.masks[0][2] = 6;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_ARGUMENT,
                        FRAGS("head 0", "mask[2] = 6", "repeats mask[0]"));
    /* the same index in two heads is allowed (heads share the list) */
    bs.masks[0][2] = 0;
    rl_yolo_plan *plan = yolo_ref_plan(&bs.cfg);
    rl_yolo_plan_destroy(plan);
    base_free(&bs);
}

Test(yolo_bad_input, net_size_not_positive)
{
    base bs;
    base_init(&bs, RL_LAYOUT_NCHW);
    bs.cfg.net_w = 0;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_SIZE, FRAGS("net_w", "0 x 416"));
    bs.cfg.net_w = 416;
    bs.cfg.net_h = -32;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_SIZE, FRAGS("net_h", "416 x -32"));
    base_free(&bs);
}

Test(yolo_bad_input, thresholds_outside_0_1)
{
    base bs;
    base_init(&bs, RL_LAYOUT_NCHW);
    const double bad[4] = {-0.01, 1.0000001, NAN, INFINITY};
    for (int v = 0; v < 4; v++) {
        bs.cfg.ignore_thresh = bad[v];
        expect_plan_rejects(&bs.cfg, RL_ERR_BAD_THRESH, FRAGS("ignore_thresh", "[0, 1]"));
        bs.cfg.ignore_thresh = 0.7;
        bs.cfg.truth_thresh = bad[v];
        expect_plan_rejects(&bs.cfg, RL_ERR_BAD_THRESH, FRAGS("truth_thresh", "[0, 1]"));
        bs.cfg.truth_thresh = 1.0;
    }
    /* the bounds themselves are valid */
    bs.cfg.ignore_thresh = 0.0;
    bs.cfg.truth_thresh = 0.0;
    rl_yolo_plan_destroy(yolo_ref_plan(&bs.cfg));
    bs.cfg.ignore_thresh = 1.0;
    bs.cfg.truth_thresh = 1.0;
    rl_yolo_plan_destroy(yolo_ref_plan(&bs.cfg));
    base_free(&bs);
}

Test(yolo_bad_input, other_head_fields)
{
    base bs;
    base_init(&bs, RL_LAYOUT_NCHW);
    bs.heads[1].H = 0;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_SIZE, FRAGS("head 1", "grid 0 x 3"));
    bs.heads[1].H = 3;
    bs.heads[2].B = 0;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_SIZE, FRAGS("head 2", "B = 0"));
    bs.heads[2].B = 3;
    bs.heads[1].mask = NULL;
    expect_plan_rejects(&bs.cfg, RL_ERR_NULL_POINTER, FRAGS("head 1", "mask is NULL"));
    bs.heads[1].mask = bs.masks[1];
    bs.anchors[2 * 4 + 1] = 0.0f;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_ANCHOR, FRAGS("anchor 4", "h = 0"));
    bs.anchors[2 * 4 + 1] = 45.0f;
    bs.cfg.n_heads = 0;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_SIZE, FRAGS("n_heads = 0"));
    bs.cfg.n_heads = RL_YOLO_MAX_HEADS + 1;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_SIZE, FRAGS("n_heads = 17"));
    bs.cfg.n_heads = NH;
    bs.cfg.norm = RL_NORM_COUNTS;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_ENUM, FRAGS("norm = 0"));
    bs.cfg.norm = RL_NORM_IMAGES;
    bs.cfg.lambda_obj = -1.0;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_LAMBDA, FRAGS("lambda_obj"));
    bs.cfg.lambda_obj = 1.0;
    bs.cfg.C = 0;
    expect_plan_rejects(&bs.cfg, RL_ERR_BAD_SIZE, FRAGS("C = 0"));
    base_free(&bs);
}

/* ---- batches ------------------------------------------------------------------ */

Test(yolo_bad_input, null_preds)
{
    base bs;
    base_init(&bs, RL_LAYOUT_NCHW);
    rl_yolo_plan *plan = yolo_ref_plan(&bs.cfg);
    rl_yolo_batch b = bs.batch;
    b.preds = NULL;
    expect_batch_rejects(plan, &bs, &b, RL_ERR_NULL_POINTER, FRAGS("preds is NULL"));
    for (int32_t h = 0; h < NH; h++) {
        const void *preds[NH] = {bs.pred[0], bs.pred[1], bs.pred[2]};
        preds[h] = NULL;
        b.preds = preds;
        char frag[32];
        snprintf(frag, sizeof frag, "preds[%d] (head %d)", (int)h, (int)h);
        expect_batch_rejects(plan, &bs, &b, RL_ERR_NULL_POINTER, FRAGS(frag, "NULL"));
    }
    rl_yolo_plan_destroy(plan);
    base_free(&bs);
}

static const char *const entry_names[5] = {"tx", "ty", "tw", "th", "tc"};

/* A NaN or infinity in any box or objectness entry of any slot of any
 * head: every slot is decoded (its best IoU decides it). */
static void box_entries(rl_layout layout)
{
    base bs;
    base_init(&bs, layout);
    rl_yolo_plan *plan = yolo_ref_plan(&bs.cfg);
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    int v = 0;
    for (int32_t h = 0; h < NH; h++) {
        const rl_yolo_head *hd = &bs.heads[h];
        for (int32_t n = 0; n < NI; n++)
            for (int32_t i = 0; i < hd->H; i++)
                for (int32_t j = 0; j < hd->W; j++)
                    for (int32_t b = 0; b < hd->B; b++)
                        for (int32_t k = 0; k < 5; k++, v = (v + 1) % 3) {
                            const int64_t x = yolo_offset(&bs.cfg, h, n, i, j, b, k);
                            char head[16], where[96], entry[48], off[48];
                            snprintf(head, sizeof head, "head %d: ", (int)h);
                            snprintf(where, sizeof where,
                                     "image %d, cell (i=%d, j=%d), anchor %d", n, i, j, b);
                            snprintf(entry, sizeof entry, "entry %d (%s", k, entry_names[k]);
                            snprintf(off, sizeof off, "offset %lld)", (long long)x);
                            const float keep = bs.pred[h][x];
                            bs.pred[h][x] = bad[v];
                            expect_batch_rejects(plan, &bs, &bs.batch, RL_ERR_NONFINITE_PRED,
                                                 FRAGS(head, where, entry, off, "not finite"));
                            bs.pred[h][x] = keep;
                        }
    }
    rl_yolo_plan_destroy(plan);
    base_free(&bs);
}

Test(yolo_bad_input, nonfinite_box_entry_named_with_its_head_nchw) { box_entries(RL_LAYOUT_NCHW); }
Test(yolo_bad_input, nonfinite_box_entry_named_with_its_head_nhwc) { box_entries(RL_LAYOUT_NHWC); }

/* Class logits: rejected at a matched positive (the validator knows
 * them), accepted elsewhere with the same result bit for bit (nothing reads
 * them). */
Test(yolo_bad_input, nonfinite_class_logit_of_a_matched_slot)
{
    base bs;
    base_init(&bs, RL_LAYOUT_NHWC);
    rl_yolo_plan *plan = yolo_ref_plan(&bs.cfg);
    rl_result clean, r;
    expect_accepted(plan, &bs.batch, &clean);
    int rejected = 0, accepted = 0;
    for (int32_t h = 0; h < NH; h++) {
        const rl_yolo_head *hd = &bs.heads[h];
        for (int32_t n = 0; n < NI; n++)
            for (int32_t i = 0; i < hd->H; i++)
                for (int32_t j = 0; j < hd->W; j++)
                    for (int32_t b = 0; b < hd->B; b++) {
                        int matched = 0;
                        for (int64_t t = bs.off[n]; t < bs.off[n + 1]; t++) {
                            int32_t ti, tj, tb;
                            matched |= yolo_spec_slot(&bs.cfg, h, &bs.truths[t], &ti, &tj, &tb) &&
                                       ti == i && tj == j && tb == b;
                        }
                        const int32_t c = (i + j + b) % BASE_C;
                        const int64_t x = yolo_offset(&bs.cfg, h, n, i, j, b, 5 + c);
                        const float keep = bs.pred[h][x];
                        bs.pred[h][x] = NAN;
                        if (matched) {
                            char head[16], where[96], entry[48];
                            snprintf(head, sizeof head, "head %d: ", (int)h);
                            snprintf(where, sizeof where,
                                     "image %d, cell (i=%d, j=%d), anchor %d", n, i, j, b);
                            snprintf(entry, sizeof entry, "(class %d logit", (int)c);
                            expect_batch_rejects(plan, &bs, &bs.batch, RL_ERR_NONFINITE_PRED,
                                                 FRAGS(head, where, entry, "not finite"));
                            rejected++;
                        } else {
                            expect_accepted(plan, &bs.batch, &r);
                            r.variant = clean.variant;
                            assert_results_identical(&r, &clean, "an unread NaN class logit");
                            accepted++;
                        }
                        bs.pred[h][x] = keep;
                    }
    }
    cr_assert_eq(rejected, 3, "one matched slot per truth");
    cr_assert_gt(accepted, 100);
    rl_yolo_plan_destroy(plan);
    base_free(&bs);
}

/* A truth_thresh positive's class logits: known only once the slot's best
 * IoU is, so the reference checks them itself, before writing anything.
 * Head 2 (4 x 4, anchors 0, 1, 2), image 1, slot (2, 2, anchor 0): its box
 * is set onto truth 1 of that image ((0.6, 0.7), 0.5 x 0.6, whose best
 * anchor is head 0's): IoU ~1.  truth_thresh 0.5: a positive, its NaN
 * class logit is refused naming head 2; truth_thresh 1: the slot is
 * ignored (IoU > 0.7) and the NaN is never read. */
Test(yolo_bad_input, nonfinite_class_logit_of_a_truth_thresh_positive)
{
    for (int layout = 0; layout < 2; layout++) {
        base bs;
        base_init(&bs, (rl_layout)layout);
        const rl_box *T = &bs.truths[1];
        int32_t ti, tj, tb;
        cr_assert(!yolo_spec_slot(&bs.cfg, 2, T, &ti, &tj, &tb), "truth 1 is not head 2's");
        const float tx = (float)log(0.4 / 0.6), ty = (float)log(0.8 / 0.2);
        const float tw = (float)log(0.5 * 416 / 10), th = (float)log(0.6 * 416 / 13);
        const float v[5] = {tx, ty, tw, th, 0.5f};
        for (int k = 0; k < 5; k++)
            bs.pred[2][yolo_offset(&bs.cfg, 2, 1, 2, 2, 0, k)] = v[k];
        const int64_t x = yolo_offset(&bs.cfg, 2, 1, 2, 2, 0, 5 + 1);
        bs.pred[2][x] = NAN;
        for (int tt = 0; tt < 2; tt++) {
            bs.cfg.truth_thresh = tt ? 1.0 : 0.5;
            rl_yolo_plan *plan = yolo_ref_plan(&bs.cfg);
            if (tt) {
                rl_result r, rh[NH];
                rl_status st = rl_yolo_compute(plan, &bs.batch, &r, rh, NULL);
                cr_assert_eq(st, RL_OK, "%s", rl_last_error());
                cr_assert_eq(rh[2].n_obj, 1, "head 2: truth 2's slot only");
            } else {
                char off[48];
                snprintf(off, sizeof off, "offset %lld)", (long long)x);
                expect_batch_rejects(plan, &bs, &bs.batch, RL_ERR_NONFINITE_PRED,
                                     FRAGS("head 2: ", "image 1, cell (i=2, j=2), anchor 0",
                                           "entry 6 (class 1 logit", off, "not finite"));
            }
            rl_yolo_plan_destroy(plan);
        }
        /* a finite logit there: a positive, with truth 1's class 2 */
        bs.pred[2][x] = 0.25f;
        bs.cfg.truth_thresh = 0.5;
        rl_yolo_plan *plan = yolo_ref_plan(&bs.cfg);
        rl_result r, rh[NH];
        cr_assert_eq(rl_yolo_compute(plan, &bs.batch, &r, rh, NULL), RL_OK);
        cr_assert_eq(rh[2].n_obj, 2, "head 2: truth 2's slot and the truth_thresh one");
        rl_yolo_plan_destroy(plan);
        base_free(&bs);
    }
}

Test(yolo_bad_input, bad_truths_and_shapes)
{
    base bs;
    base_init(&bs, RL_LAYOUT_NCHW);
    rl_yolo_plan *plan = yolo_ref_plan(&bs.cfg);
    bs.truths[1].w = 0.0f;
    expect_batch_rejects(plan, &bs, &bs.batch, RL_ERR_BAD_TRUTH,
                         FRAGS("truth 0 of image 1", "w = 0", "(0, 1]"));
    bs.truths[1].w = 0.5f;
    bs.truths[2].cls = BASE_C;
    expect_batch_rejects(plan, &bs, &bs.batch, RL_ERR_BAD_TRUTH,
                         FRAGS("truth 1 of image 1", "class 3"));
    bs.truths[2].cls = 1;
    bs.truths[0].cx = 1.5f;
    expect_batch_rejects(plan, &bs, &bs.batch, RL_ERR_BAD_TRUTH,
                         FRAGS("truth 0 of image 0", "cx = 1.5"));
    bs.truths[0].cx = 0.3f;
    bs.off[1] = 4;
    expect_batch_rejects(plan, &bs, &bs.batch, RL_ERR_BAD_OFFSETS, FRAGS("truth_offsets[2]"));
    bs.off[1] = 1;
    rl_yolo_batch b = bs.batch;
    b.n_images = 0;
    expect_batch_rejects(plan, &bs, &b, RL_ERR_BAD_SIZE, FRAGS("n_images = 0"));
    b = bs.batch;
    rl_counts gc = {0, 0, 0, 0};
    b.global_counts = &gc;
    expect_batch_rejects(plan, &bs, &b, RL_ERR_BAD_ARGUMENT, FRAGS("global_counts->n_images"));
    rl_result r;
    expect_accepted(plan, &bs.batch, &r);
    rl_yolo_plan_destroy(plan);
    base_free(&bs);
}

/* The same with a plan of that head alone (darknet's one layer at a time):
 * the message is the validator's, without a head in front. */
Test(yolo_bad_input, nonfinite_truth_thresh_logit_single_head_plan)
{
    base bs;
    base_init(&bs, RL_LAYOUT_NCHW);
    const float v[5] = {(float)log(0.4 / 0.6), (float)log(0.8 / 0.2), (float)log(0.5 * 416 / 10),
                        (float)log(0.6 * 416 / 13), 0.5f};
    for (int k = 0; k < 5; k++)
        bs.pred[2][yolo_offset(&bs.cfg, 2, 1, 2, 2, 0, k)] = v[k];
    bs.pred[2][yolo_offset(&bs.cfg, 2, 1, 2, 2, 0, 6)] = INFINITY;
    rl_yolo_config one = bs.cfg;
    one.n_heads = 1;
    one.heads = &bs.heads[2];
    one.truth_thresh = 0.5;
    rl_yolo_plan *plan = yolo_ref_plan(&one);
    const void *preds[1] = {bs.pred[2]};
    rl_yolo_batch b = bs.batch;
    b.preds = preds;
    float grad[4 * 4 * 3 * 8 * NI];
    fill_guard(grad, sizeof grad, GUARD_GRAD);
    void *grads[1] = {grad};
    rl_result r;
    fill_guard(&r, sizeof r, GUARD_RESULT);
    rl_status st = rl_yolo_compute(plan, &b, &r, NULL, grads);
    cr_assert_eq(st, RL_ERR_NONFINITE_PRED, "%s: %s", rl_status_name(st), rl_last_error());
    expect_message(FRAGS("prediction of image 1, cell (i=2, j=2), anchor 0, entry 6 (class 1 logit",
                         "inf is not finite"),
                   "rl_yolo_compute");
    cr_assert(strstr(rl_last_error(), "head") == NULL, "one head: no head in \"%s\"",
              rl_last_error());
    cr_assert(is_guard(grad, sizeof grad, GUARD_GRAD));
    cr_assert(is_guard(&r, sizeof r, GUARD_RESULT));
    rl_yolo_plan_destroy(plan);
    base_free(&bs);
}
