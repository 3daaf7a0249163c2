/* rl_darknet_cfg_parse: darknet's cfg text to a [yolo] or [region]
 * configuration.  The fixtures of tests/data/darknet_cfg carry the option
 * sets of darknet's own cfgs (YOLOv3's [yolo], YOLOv2-VOC's [region],
 * YOLOv4's and YOLOv7's [yolo] and an AlexeyAB [region]) with numbers of
 * their own; the flavour a section is read as, by its options or by the
 * caller's choice; every error the parser gives is made once, with its
 * message, and a failing call leaves *out as it was. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regionloss_darknet.h"

static char *read_fixture(const char *name, size_t *len)
{
    const char *data = getenv("REGIONLOSS_TEST_DATA");
    cr_assert_not_null(data, "REGIONLOSS_TEST_DATA is not set (meson test sets it)");
    char path[1024];
    snprintf(path, sizeof path, "%s/darknet_cfg/%s", data, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    cr_assert_not_null(text);
    cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return text;
}

static rl_darknet_cfg *parse_as(const char *text, int32_t layer, int32_t flavour)
{
    rl_darknet_cfg *c = NULL;
    rl_status st = rl_darknet_cfg_parse_flavour(text, strlen(text), layer, flavour, &c);
    cr_assert_eq(st, RL_OK, "layer %d, flavour %d: %s\n%s", (int)layer, (int)flavour,
                 rl_last_error(), text);
    cr_assert_not_null(c);
    return c;
}

static rl_darknet_cfg *parse_ok(const char *text, int32_t layer)
{
    return parse_as(text, layer, RL_DARKNET_CFG_AUTO);
}

/* The parse fails with RL_ERR_BAD_ARGUMENT, a message holding every
 * fragment of `want` (NULL-terminated), and *out untouched. */
static void parse_fails(const char *text, int32_t layer, int32_t flavour,
                        const char *const *want)
{
    rl_darknet_cfg *sentinel = (rl_darknet_cfg *)(uintptr_t)0x1234;
    rl_darknet_cfg *c = sentinel;
    rl_status st = rl_darknet_cfg_parse_flavour(text, strlen(text), layer, flavour, &c);
    cr_assert_eq(st, RL_ERR_BAD_ARGUMENT, "status %s for\n%s", rl_status_name(st), text);
    cr_assert_eq(c, sentinel, "*out was written on failure");
    const char *msg = rl_last_error();
    for (int k = 0; want[k]; k++)
        cr_assert(strstr(msg, want[k]), "message '%s' lacks '%s'", msg, want[k]);
}

#define FAILS(text, layer, ...)                                                               \
    do {                                                                                      \
        const char *const want_[] = {__VA_ARGS__, NULL};                                      \
        parse_fails(text, layer, RL_DARKNET_CFG_AUTO, want_);                                 \
    } while (0)

#define FAILS_AS(flavour, text, layer, ...)                                                   \
    do {                                                                                      \
        const char *const want_[] = {__VA_ARGS__, NULL};                                      \
        parse_fails(text, layer, flavour, want_);                                             \
    } while (0)

static const float three_heads_anchors[18] = {8,  10,  14,  26,  30,  20,  28,  58,  60,
                                              42, 56,  110, 110, 86,  150, 190, 300, 280};

Test(cfg_fixture, three_yolo_heads)
{
    size_t len;
    char *text = read_fixture("three_heads.cfg", &len);
    const int32_t layers[3] = {2, 6, 8};
    const int32_t lines[3] = {31, 58, 75};
    const int32_t masks[3][3] = {{6, 7, 8}, {3, 4, 5}, {0, 1, 2}};
    const double truth_thresh[3] = {1.0, 1.0, 0.9};
    for (int h = 0; h < 3; h++) {
        rl_darknet_cfg *c = NULL;
        cr_assert_eq(rl_darknet_cfg_parse(text, len, layers[h], &c), RL_OK, "%s",
                     rl_last_error());
        cr_assert_eq(rl_darknet_cfg_type(c), RL_DARKNET_YOLO);
        cr_assert_eq(rl_darknet_cfg_line(c), lines[h], "head %d: line %d", h,
                     (int)rl_darknet_cfg_line(c));
        rl_yolo_config y;
        rl_yolo_head head;
        cr_assert_eq(rl_darknet_cfg_yolo(c, &y, &head), RL_OK, "%s", rl_last_error());
        rl_yolo_config d;
        rl_yolo_config_init(&d);
        cr_assert_eq(y.n_heads, 1);
        cr_assert_eq(y.heads, &head);
        cr_assert_eq(head.H, 0);
        cr_assert_eq(head.W, 0);
        cr_assert_eq(head.B, 3);
        for (int b = 0; b < 3; b++)
            cr_assert_eq(head.mask[b], masks[h][b]);
        cr_assert_eq(y.C, 3);
        cr_assert_eq(y.n_anchors, 9);
        for (int k = 0; k < 18; k++)
            cr_assert_eq(y.anchors[k], three_heads_anchors[k]);
        cr_assert_eq(y.net_w, 320);
        cr_assert_eq(y.net_h, 256);
        cr_assert_eq(y.ignore_thresh, 0.65);
        cr_assert_eq(y.truth_thresh, truth_thresh[h]);
        /* what the cfg does not set stays the library's */
        cr_assert_eq(y.lambda_coord, d.lambda_coord);
        cr_assert_eq(y.lambda_obj, d.lambda_obj);
        cr_assert_eq(y.norm, d.norm);
        cr_assert_eq(y.layout, d.layout);
        cr_assert_eq(y.box_loss, RL_BOX_MSE);
        /* and the plan accepts it once the grid is known */
        head.H = head.W = 13;
        rl_yolo_plan *plan = NULL;
        cr_assert_eq(rl_yolo_plan_create(&y, &plan), RL_OK, "%s", rl_last_error());
        rl_yolo_plan_destroy(plan);
        rl_config r;
        cr_assert_eq(rl_darknet_cfg_region(c, &r), RL_ERR_BAD_ARGUMENT);
        cr_assert(strstr(rl_last_error(), "is a [yolo] layer"), "%s", rl_last_error());
        rl_darknet_cfg_destroy(c);
    }
    free(text);
}

Test(cfg_fixture, region)
{
    size_t len;
    char *text = read_fixture("region.cfg", &len);
    rl_darknet_cfg *c = NULL;
    cr_assert_eq(rl_darknet_cfg_parse(text, len, 3, &c), RL_OK, "%s", rl_last_error());
    cr_assert_eq(rl_darknet_cfg_type(c), RL_DARKNET_REGION);
    cr_assert_eq(rl_darknet_cfg_line(c), 31);
    rl_config r;
    cr_assert_eq(rl_darknet_cfg_region(c, &r), RL_OK, "%s", rl_last_error());
    rl_config d;
    rl_config_init_darknet(&d);
    const float anchors[8] = {1.25f, 1.5f, 3.0f, 4.25f, 5.5f, 7.75f, 9.0f, 4.5f};
    cr_assert_eq(r.mode, RL_MODE_DARKNET);
    cr_assert_eq(r.B, 4);
    cr_assert_eq(r.C, 5);
    for (int k = 0; k < 8; k++)
        cr_assert_eq(r.anchors[k], anchors[k]);
    cr_assert_eq(r.lambda_coord, 1.5);
    cr_assert_eq(r.lambda_class, 2.0);
    cr_assert_eq(r.lambda_obj, 4.0);
    cr_assert_eq(r.lambda_noobj, 0.5);
    cr_assert_eq(r.thresh, 0.55);
    cr_assert_eq(r.rescore, 1);
    cr_assert_eq(r.logistic_classes, 0);
    cr_assert_eq(r.norm, d.norm);
    cr_assert_eq(r.warmup_seen, d.warmup_seen);
    cr_assert_eq(r.warmup_scale, d.warmup_scale);
    cr_assert_eq(r.H, 0);
    cr_assert_eq(r.W, 0);
    r.H = r.W = 11;
    rl_plan *plan = NULL;
    cr_assert_eq(rl_plan_create(&r, &plan), RL_OK, "%s", rl_last_error());
    rl_plan_destroy(plan);
    rl_yolo_config y;
    rl_yolo_head head;
    cr_assert_eq(rl_darknet_cfg_yolo(c, &y, &head), RL_ERR_BAD_ARGUMENT);
    cr_assert(strstr(rl_last_error(), "is a [region] layer"), "%s", rl_last_error());
    rl_darknet_cfg_destroy(c);
    free(text);
}

/* A [yolo] section's AlexeyAB options against what the fixture says; every
 * other field is rl_yolo_config_init's (AlexeyAB's parse_yolo defaults). */
typedef struct ab_yolo_want {
    int32_t iou_loss, iou_thresh_kind, focal_loss, new_coords, objectness_smooth, max_boxes,
        show_details;
    double iou_normalizer, cls_normalizer, obj_normalizer, scale_x_y, iou_thresh,
        label_smooth_eps, max_delta, ignore_thresh;
    int32_t counters[3]; /* all 0: no counters_per_class */
} ab_yolo_want;

static void check_ab_yolo(const rl_yolo_config *y, const ab_yolo_want *w, const char *what)
{
    cr_assert_eq(y->flavour, RL_YOLO_FLAVOUR_ALEXEYAB, "%s", what);
    cr_assert_eq(y->iou_loss, w->iou_loss, "%s: iou_loss %d", what, (int)y->iou_loss);
    cr_assert_eq(y->iou_thresh_kind, w->iou_thresh_kind, "%s", what);
    cr_assert_eq(y->focal_loss, w->focal_loss, "%s", what);
    cr_assert_eq(y->new_coords, w->new_coords, "%s", what);
    cr_assert_eq(y->objectness_smooth, w->objectness_smooth, "%s", what);
    cr_assert_eq(y->max_boxes, w->max_boxes, "%s: max_boxes %d", what, (int)y->max_boxes);
    cr_assert_eq(y->show_details, w->show_details, "%s", what);
    cr_assert_eq(y->iou_normalizer, w->iou_normalizer, "%s: iou_normalizer %g", what,
                 y->iou_normalizer);
    cr_assert_eq(y->cls_normalizer, w->cls_normalizer, "%s", what);
    cr_assert_eq(y->obj_normalizer, w->obj_normalizer, "%s", what);
    cr_assert_eq(y->scale_x_y, w->scale_x_y, "%s: scale_x_y %g", what, y->scale_x_y);
    cr_assert_eq(y->iou_thresh, w->iou_thresh, "%s", what);
    cr_assert_eq(y->label_smooth_eps, w->label_smooth_eps, "%s", what);
    cr_assert_eq(y->max_delta, w->max_delta, "%s: max_delta %g", what, y->max_delta);
    cr_assert_eq(y->ignore_thresh, w->ignore_thresh, "%s", what);
    cr_assert_eq(y->truth_thresh, 1.0, "%s", what);
    if (!w->counters[0] && !w->counters[1] && !w->counters[2]) {
        cr_assert_null(y->counters_per_class, "%s", what);
    } else {
        cr_assert_not_null(y->counters_per_class, "%s", what);
        for (int c = 0; c < 3; c++)
            cr_assert_eq(y->counters_per_class[c], w->counters[c], "%s: count %d", what, c);
    }
    /* what AlexeyAB's layer has no key for stays the library's */
    rl_yolo_config d;
    rl_yolo_config_init(&d);
    cr_assert_eq(y->lambda_coord, d.lambda_coord);
    cr_assert_eq(y->lambda_noobj, d.lambda_noobj);
    cr_assert_eq(y->box_loss, RL_BOX_MSE);
    cr_assert_eq(y->norm, d.norm);
}

/* The plan accepts the parsed head once its grid is set. */
static void plan_accepts(rl_darknet_cfg *c)
{
    rl_yolo_config y;
    rl_yolo_head head;
    cr_assert_eq(rl_darknet_cfg_yolo(c, &y, &head), RL_OK, "%s", rl_last_error());
    head.H = 4;
    head.W = 5;
    rl_yolo_plan *plan = NULL;
    cr_assert_eq(rl_yolo_plan_create(&y, &plan), RL_OK, "%s", rl_last_error());
    rl_yolo_plan_destroy(plan);
}

Test(cfg_fixture, alexeyab_yolov4_head)
{
    /* YOLOv4's option set: read as AlexeyAB's layer without being asked */
    size_t len;
    char *text = read_fixture("ab_options.cfg", &len);
    rl_darknet_cfg *c = NULL;
    cr_assert_eq(rl_darknet_cfg_parse(text, len, 1, &c), RL_OK, "%s", rl_last_error());
    rl_yolo_config y;
    rl_yolo_head head;
    cr_assert_eq(rl_darknet_cfg_yolo(c, &y, &head), RL_OK);
    const ab_yolo_want w = {.iou_loss = RL_BOX_CIOU, .iou_thresh_kind = RL_BOX_IOU,
                            .max_boxes = 200, .show_details = 1, .iou_normalizer = 0.07,
                            .cls_normalizer = 1.0, .obj_normalizer = 1.0, .scale_x_y = 1.1,
                            .iou_thresh = 0.2, .max_delta = 5, .ignore_thresh = 0.7};
    check_ab_yolo(&y, &w, "ab_options.cfg");
    cr_assert_eq(y.C, 3);
    cr_assert_eq(head.B, 3);
    plan_accepts(c);
    rl_darknet_cfg_destroy(c);
    /* the same section read as pjreddie's: refused at its first AlexeyAB line */
    c = (rl_darknet_cfg *)(uintptr_t)0x99;
    cr_assert_eq(rl_darknet_cfg_parse_flavour(text, len, 1, RL_FLAVOUR_PJREDDIE, &c),
                 RL_ERR_BAD_ARGUMENT);
    cr_assert_eq(c, (rl_darknet_cfg *)(uintptr_t)0x99);
    cr_assert(strstr(rl_last_error(),
                     "line 23: scale_x_y = 1.1: an option of AlexeyAB's [yolo] layer, and the "
                     "section is read as pjreddie's (flavour pjreddie was asked for)"),
              "%s", rl_last_error());
    free(text);
}

Test(cfg_fixture, alexeyab_heads)
{
    size_t len;
    char *text = read_fixture("ab_heads.cfg", &len);
    const int32_t layers[4] = {1, 3, 5, 7};
    const int32_t masks[4] = {0, 3, 6, 0};
    const float fmax = 3.40282346638528859811704183484516925440e+38f;
    const ab_yolo_want w[4] = {
        {.iou_loss = RL_BOX_CIOU, .iou_thresh_kind = RL_BOX_IOU, .max_boxes = 200,
         .show_details = 1, .iou_normalizer = 0.05, .cls_normalizer = 1, .obj_normalizer = 1,
         .scale_x_y = 1.15, .iou_thresh = 0.25, .max_delta = 4, .ignore_thresh = 0.6},
        {.iou_loss = RL_BOX_CIOU, .iou_thresh_kind = RL_BOX_IOU, .max_boxes = 200,
         .show_details = 1, .iou_normalizer = 0.05, .cls_normalizer = 1, .obj_normalizer = 1,
         .scale_x_y = 1.08, .iou_thresh = 0.25, .max_delta = 4, .ignore_thresh = 0.6},
        {.iou_loss = RL_BOX_CIOU, .iou_thresh_kind = RL_BOX_IOU, .new_coords = 1,
         .objectness_smooth = 1, .max_boxes = 200, .show_details = 1, .iou_normalizer = 0.04,
         .cls_normalizer = 0.6, .obj_normalizer = 0.8, .scale_x_y = 2.0, .iou_thresh = 0.3,
         .max_delta = 3, .ignore_thresh = 0.65},
        {.iou_loss = RL_BOX_DIOU, .iou_thresh_kind = RL_BOX_GIOU, .focal_loss = 1,
         .max_boxes = 50, .show_details = 0, .iou_normalizer = 0.75, .cls_normalizer = 1,
         .obj_normalizer = 1, .scale_x_y = 1, .iou_thresh = 0.4, .label_smooth_eps = 0.1,
         .max_delta = fmax, .ignore_thresh = 0.5, .counters = {120, 0, 45}},
    };
    for (int h = 0; h < 4; h++) {
        char what[32];
        snprintf(what, sizeof what, "section %d", (int)layers[h]);
        rl_darknet_cfg *c = NULL;
        cr_assert_eq(rl_darknet_cfg_parse(text, len, layers[h], &c), RL_OK, "%s: %s", what,
                     rl_last_error());
        rl_yolo_config y;
        rl_yolo_head head;
        cr_assert_eq(rl_darknet_cfg_yolo(c, &y, &head), RL_OK);
        check_ab_yolo(&y, &w[h], what);
        cr_assert_eq(head.mask[0], masks[h]);
        cr_assert_eq(y.net_w, 320);
        cr_assert_eq(y.net_h, 256);
        plan_accepts(c);
        /* asking for the flavour the options say reads the same */
        rl_darknet_cfg *again = parse_as(text, layers[h], RL_FLAVOUR_ALEXEYAB);
        rl_yolo_config y2;
        rl_yolo_head head2;
        rl_darknet_cfg_yolo(again, &y2, &head2);
        check_ab_yolo(&y2, &w[h], what);
        rl_darknet_cfg_destroy(again);
        rl_darknet_cfg_destroy(c);
    }
    free(text);
}

Test(cfg_fixture, alexeyab_region)
{
    size_t len;
    char *text = read_fixture("ab_region.cfg", &len);
    rl_darknet_cfg *c = NULL;
    cr_assert_eq(rl_darknet_cfg_parse(text, len, 1, &c), RL_OK, "%s", rl_last_error());
    rl_config r;
    cr_assert_eq(rl_darknet_cfg_region(c, &r), RL_OK);
    cr_assert_eq(r.mode, RL_MODE_DARKNET);
    cr_assert_eq(r.flavour, RL_FLAVOUR_ALEXEYAB);
    cr_assert_eq(r.classfix, 2);
    cr_assert_eq(r.focal_loss, 1);
    cr_assert_eq(r.logistic_classes, 0);
    cr_assert_eq(r.rescore, 1);
    cr_assert_eq(r.B, 4);
    cr_assert_eq(r.C, 5);
    cr_assert_eq(r.lambda_coord, 1.5);
    cr_assert_eq(r.lambda_obj, 4.0);
    cr_assert_eq(r.thresh, 0.55);
    r.H = r.W = 11;
    rl_plan *plan = NULL;
    cr_assert_eq(rl_plan_create(&r, &plan), RL_OK, "%s", rl_last_error());
    rl_plan_destroy(plan);
    rl_darknet_cfg_destroy(c);
    FAILS_AS(RL_FLAVOUR_PJREDDIE, text, 1,
             "line 22: resize = 1.5: an option of AlexeyAB's [region] layer, and the section "
             "is read as pjreddie's");
    free(text);
}

Test(cfg_fixture, not_nul_terminated)
{
    /* len bounds the text: what follows it is never read */
    const char text[] = "[net]\nwidth=64\nheight=64\n[yolo]\nanchors=1,2\nclasses=2XXXX";
    rl_darknet_cfg *c = NULL;
    cr_assert_eq(rl_darknet_cfg_parse(text, sizeof text - 5, 0, &c), RL_OK, "%s",
                 rl_last_error());
    rl_yolo_config y;
    rl_yolo_head head;
    cr_assert_eq(rl_darknet_cfg_yolo(c, &y, &head), RL_OK);
    cr_assert_eq(y.C, 2);
    rl_darknet_cfg_destroy(c);
}

/* ---- darknet's defaults and syntax ------------------------------------- */

Test(cfg_syntax, yolo_defaults)
{
    /* no mask: every anchor; no thresholds: darknet's .5 and 1; no classes: 20;
     * CRLF line ends, comments after values, spaces everywhere */
    rl_darknet_cfg *c = parse_ok("; comment\r\n[network]\r\n  width = 96 # px\r\nheight=64\r\n"
                                 "\r\n[ yolo ]\r\n num = 2 \r\n anchors = 3 , 4,5,6 \r\n",
                                 0);
    rl_yolo_config y;
    rl_yolo_head head;
    cr_assert_eq(rl_darknet_cfg_yolo(c, &y, &head), RL_OK);
    cr_assert_eq(head.B, 2);
    cr_assert_eq(head.mask[0], 0);
    cr_assert_eq(head.mask[1], 1);
    cr_assert_eq(y.C, 20);
    cr_assert_eq(y.ignore_thresh, 0.5);
    cr_assert_eq(y.truth_thresh, 1.0);
    cr_assert_eq(y.net_w, 96);
    cr_assert_eq(y.net_h, 64);
    cr_assert_eq(y.anchors[2], 5.0f);
    cr_assert_eq(rl_darknet_cfg_line(c), 6);
    rl_darknet_cfg_destroy(c);
}

Test(cfg_syntax, region_defaults)
{
    /* darknet's parse_region defaults, not yolo-voc's */
    rl_darknet_cfg *c = parse_ok("[net]\n[region]\nanchors=1,1\nbias_match=1\n", 0);
    rl_config r;
    cr_assert_eq(rl_darknet_cfg_region(c, &r), RL_OK);
    cr_assert_eq(r.B, 1);
    cr_assert_eq(r.C, 20);
    cr_assert_eq(r.lambda_coord, 1.0);
    cr_assert_eq(r.lambda_class, 1.0);
    cr_assert_eq(r.lambda_obj, 1.0);
    cr_assert_eq(r.lambda_noobj, 1.0);
    cr_assert_eq(r.thresh, 0.5);
    cr_assert_eq(r.rescore, 0);
    cr_assert_eq(r.logistic_classes, 1);
    rl_darknet_cfg_destroy(c);
}

Test(cfg_syntax, ignored_options)
{
    rl_darknet_cfg *c = parse_ok(
        "[net]\nwidth=32\nheight=32\n[yolo]\nanchors=1,2\nmax=90\njitter=.3\nrandom=1\n"
        "resize=1.5\nnms_kind=greedynms\nbeta_nms=0.6\ntrack_history_size=5\nsim_thresh=.8\n"
        "dets_for_track=1\ndets_for_show=1\ntrack_ciou_norm=.01\ndelta_normalizer=1\n",
        0);
    rl_darknet_cfg_destroy(c);
    c = parse_ok("[net]\n[region]\nanchors=1,2\nbias_match=1\ncoords=4\nbackground=0\nmax=30\n"
                 "jitter=.2\nrandom=1\nresize=1\nabsolute=1\nlog=0\nsqrt=1\nmask_scale=1\n",
                 0);
    rl_darknet_cfg_destroy(c);
}

Test(cfg_syntax, other_sections_unchecked)
{
    /* options of other layers are darknet's business, not the loss's */
    rl_darknet_cfg *c =
        parse_ok("[net]\nwidth=32\nheight=32\nmystery=1\n[convolutional]\nfilters=7\n"
                 "whatever=x\n[yolo]\nanchors=1,2\n[yolo]\nbad=1\n",
                 1);
    rl_darknet_cfg_destroy(c);
}

/* ---- every error, with its message ------------------------------------- */

#define NET "[net]\nwidth=416\nheight=416\n"

Test(cfg_errors, numbers)
{
    FAILS(NET "[yolo]\nanchors=1,2\nignore_thresh=.7x\n", 0,
          "line 6: ignore_thresh = .7x: not a number");
    FAILS(NET "[yolo]\nanchors=1,2\nignore_thresh=1.5\n", 0,
          "line 6: ignore_thresh = 1.5: not in [0, 1]");
    FAILS(NET "[yolo]\nanchors=1,2\ntruth_thresh=nan\n", 0, "truth_thresh = nan: not a number");
    FAILS(NET "[yolo]\nanchors=1,2\nclasses=2.5\n", 0,
          "line 6: classes = 2.5: not an integer in [1, 16777216]");
    FAILS(NET "[yolo]\nanchors=1,2\nclasses=0\n", 0, "classes = 0: not an integer in [1,");
    FAILS(NET "[yolo]\nanchors=1,2\nnum=\n", 0, "line 6: num = : not an integer");
    FAILS("[net]\n[region]\nanchors=1,1\nbias_match=1\nrescore=2\n", 0,
          "line 5: rescore = 2: not an integer in [0, 1]");
    FAILS("[net]\n[region]\nanchors=1,1\nbias_match=1\nsoftmax=yes\n", 0,
          "line 5: softmax = yes: softmax is 0 or 1");
    FAILS("[net]\n[region]\nanchors=1,1\nbias_match=1\nobject_scale=-1\n", 0,
          "object_scale = -1: not in [0, 1e+06]");
    FAILS("[net]\n[region]\nanchors=1,1\nbias_match=1\nthresh=1.01\n", 0,
          "line 5: thresh = 1.01: not in [0, 1]");
}

Test(cfg_errors, anchors)
{
    FAILS(NET "[yolo]\nnum=3\nmask=0\nanchors=10,13, 16,30\n", 0,
          "line 7: anchors = 10,13, 16,30: 4 values; num = 3 anchors take 6 (w,h pairs)");
    FAILS(NET "[yolo]\nanchors=10,13, 16,30\n", 0,
          "4 values; num = 1 (darknet's default: the section has no num=) anchors take 2");
    FAILS(NET "[yolo]\nnum=2\nanchors=10,13,x6,30\n", 0,
          "line 6: anchors = 10,13,x6,30: value 3, 'x6', is not a number");
    FAILS(NET "[yolo]\nnum=2\nanchors=10,13,,30\n", 0, "value 3, '', is not a number");
    FAILS(NET "[yolo]\nnum=2\nanchors=10,13,0,30\n", 0,
          "line 6: anchors = 10,13,0,30: value 3, 0, is not a positive anchor size");
    FAILS(NET "[yolo]\nnum=1\nanchors=1e39,3\n", 0, "value 1, 1e39, is not a positive anchor");
    FAILS(NET "[yolo]\nnum=1\nclasses=4\n", 0,
          "line 4: the [yolo] section (layer 0) has no anchors= line");
    FAILS("[net]\n[conv]\n[region]\nnum=2\nbias_match=1\nanchors=1,2,3\n", 1,
          "line 6: anchors = 1,2,3: 3 values; num = 2 anchors take 4");
}

Test(cfg_errors, mask)
{
    FAILS(NET "[yolo]\nmask=0,1,9\nnum=9\nanchors=1,1,2,2,3,3,4,4,5,5,6,6,7,7,8,8,9,9\n", 0,
          "line 5: mask = 0,1,9: 9 is not an anchor index: num = 9, so 0 to 8");
    FAILS(NET "[yolo]\nmask=-1\nnum=2\nanchors=1,1,2,2\n", 0,
          "mask = -1: -1 is not an anchor index");
    FAILS(NET "[yolo]\nmask=1,1\nnum=2\nanchors=1,1,2,2\n", 0,
          "line 5: mask = 1,1: 1 appears twice: a layer's anchors are distinct");
    FAILS(NET "[yolo]\nmask=0,a\nnum=2\nanchors=1,1,2,2\n", 0,
          "mask = 0,a: value 2, 'a', is not an integer");
    FAILS(NET "[yolo]\nmask=1\nanchors=1,1\n", 0,
          "1 is not an anchor index: num = 1 (darknet's default: the section has no num=)");
}

Test(cfg_errors, sections)
{
    const char *text = NET "[convolutional]\nfilters=18\n[yolo]\nanchors=1,2\n[route]\n"
                           "layers=-2\n[Gaussian_yolo]\nanchors=1,2\n";
    FAILS(text, 4, "section 4: the cfg has 4 layers (0 to 3); its loss layers: 1 [yolo], "
                   "3 [Gaussian_yolo]");
    FAILS(text, 0, "line 4: section 0 is a [convolutional] layer, not a [yolo] or [region] "
                   "one; the loss layers of this cfg: 1 [yolo], 3 [Gaussian_yolo]");
    FAILS(text, 3, "line 10: section 3 is a [Gaussian_yolo] layer: Gaussian YOLOv3's loss");
    FAILS(text, -1, "section -1: darknet's layers are numbered from 0");
    FAILS(NET, 0, "section 0: the cfg has 0 layers (0 to -1); its loss layers: none");
    FAILS("", 0, "no section: a darknet cfg starts with [net]");
    FAILS("# only a comment\n", 0, "no section");
    FAILS("[yolo]\nanchors=1,2\n", 0, "line 1: the first section is [yolo]; a darknet cfg "
                                      "starts with [net]");
    FAILS("width=3\n[net]\n", 0, "line 1: width = ...: an option before the first section");
    FAILS(NET "[yolo\n", 0, "line 4: '[yolo': a section header is [name] alone on its line");
    FAILS(NET "[yolo]\nanchors 1,2\n", 0,
          "line 5: 'anchors 1,2' is neither a [section] header nor key=value");
    FAILS(NET "[yolo]\n=1,2\n", 0, "line 5: '=1,2': no key before '='");
    const char nul[] = "[net]\nwidth=1\0\n";
    rl_darknet_cfg *c = NULL;
    cr_assert_eq(rl_darknet_cfg_parse(nul, sizeof nul - 1, 0, &c), RL_ERR_BAD_ARGUMENT);
    cr_assert(strstr(rl_last_error(), "line 2: a NUL byte"), "%s", rl_last_error());
    cr_assert_null(c);
}

Test(cfg_errors, net_size)
{
    FAILS("[net]\nheight=416\n[yolo]\nanchors=1,2\n", 0,
          "line 1: [net] has no width= line; a [yolo] layer's anchors are pixels");
    FAILS("[net]\nwidth=416\n[yolo]\nanchors=1,2\n", 0, "[net] has no height= line");
    FAILS("[net]\nwidth=416\nheight=0\n[yolo]\nanchors=1,2\n", 0,
          "line 3: height = 0: not a positive integer (pixels)");
    FAILS("[net]\nwidth=416\nwidth=320\nheight=416\n[yolo]\nanchors=1,2\n", 0,
          "line 3: width = 320: [net] sets width again (first on line 2)");
    /* a [region] layer does not need the size */
    rl_darknet_cfg_destroy(parse_ok("[net]\n[region]\nanchors=1,2\nbias_match=1\n", 0));
}

Test(cfg_errors, unknown_and_repeated)
{
    FAILS(NET "[yolo]\nanchors=1,2\nignore_tresh=.7\n", 0,
          "line 6: ignore_tresh = .7: not an option of [yolo] that this library knows");
    FAILS("[net]\n[region]\nanchors=1,2\nbias_match=1\nignore_thresh=.5\n", 0,
          "line 5: ignore_thresh = .5: not an option of [region]");
    FAILS(NET "[yolo]\nanchors=1,2\nclasses=3\nclasses=4\n", 0,
          "line 7: classes = 4: classes is set again (first on line 6; darknet reads only the "
          "first)");
}

Test(cfg_errors, unsupported_values)
{
    FAILS("[net]\n[region]\nanchors=1,2\n", 0,
          "line 2: the [region] section (layer 0) has no bias_match=1");
    FAILS("[net]\n[region]\nanchors=1,2\nbias_match=0\n", 0,
          "line 4: bias_match = 0: only bias_match = 1 is supported: with 0 darknet picks");
    FAILS("[net]\n[region]\nanchors=1,2\nbias_match=1\ncoords=5\n", 0,
          "line 5: coords = 5: only coords = 4 is supported");
    FAILS("[net]\n[region]\nanchors=1,2\nbias_match=1\nbackground=1\n", 0,
          "background = 1: only background = 0 is supported");
    FAILS("[net]\n[region]\nanchors=1,2\nbias_match=1\ntree=9k.tree\n", 0,
          "line 5: tree = 9k.tree: not supported: a softmax tree (YOLO9000)");
    FAILS("[net]\n[region]\nanchors=1,2\nbias_match=1\nmap=coco9k.map\n", 0,
          "map = coco9k.map: not supported: a class map file");
    FAILS(NET "[yolo]\nanchors=1,2\nmap=x.map\n", 0, "not supported: a class map file");
    FAILS(NET "[yolo]\nanchors=1,2\nembedding_layer=-3\n", 0,
          "embedding_layer = -3: not supported: AlexeyAB's tracking embeddings");
    FAILS(NET "[yolo]\nanchors=1,2\ndelta_normalizer=0.5\n", 0,
          "delta_normalizer = 0.5: only delta_normalizer = 1 is supported");
}

/* ---- the flavour ------------------------------------------------------ */

/* Every key only AlexeyAB's darknet reads, with a value it accepts. */
static const char *const ab_yolo_lines[] = {
    "iou_loss=ciou",     "iou_normalizer=0.07", "cls_normalizer=1.0",   "obj_normalizer=1.0",
    "scale_x_y=1.05",    "iou_thresh=0.213",    "iou_thresh_kind=iou",  "label_smooth_eps=0.1",
    "focal_loss=0",      "max_delta=5",         "counters_per_class=1,2", "new_coords=1",
    "objectness_smooth=1", "show_details=1",    "delta_normalizer=1",   "resize=1.5",
    "nms_kind=greedynms", "beta_nms=0.6",       "track_history_size=5", "sim_thresh=.8",
    "dets_for_track=1",  "dets_for_show=1",     "track_ciou_norm=.01"};
static const char *const ab_region_lines[] = {"classfix=1", "classfix=-1", "focal_loss=0",
                                              "resize=1"};

Test(cfg_flavour, any_alexeyab_key_makes_the_section_alexeyabs)
{
    for (size_t k = 0; k < sizeof ab_yolo_lines / sizeof *ab_yolo_lines; k++) {
        char text[256], want[64];
        snprintf(text, sizeof text, NET "[yolo]\nclasses=2\nanchors=1,2\n%s\n", ab_yolo_lines[k]);
        rl_darknet_cfg *c = parse_ok(text, 0);
        rl_yolo_config y;
        rl_yolo_head head;
        rl_darknet_cfg_yolo(c, &y, &head);
        cr_assert_eq(y.flavour, RL_YOLO_FLAVOUR_ALEXEYAB, "%s", ab_yolo_lines[k]);
        plan_accepts(c);
        rl_darknet_cfg_destroy(c);
        snprintf(want, sizeof want, "line 7: %.*s = ",
                 (int)(strchr(ab_yolo_lines[k], '=') - ab_yolo_lines[k]), ab_yolo_lines[k]);
        FAILS_AS(RL_FLAVOUR_PJREDDIE, text, 0, want,
                 "an option of AlexeyAB's [yolo] layer, and the section is read as "
                 "pjreddie's (flavour pjreddie was asked for): remove the line, or read the "
                 "section with flavour alexeyab");
    }
    for (size_t k = 0; k < sizeof ab_region_lines / sizeof *ab_region_lines; k++) {
        char text[256];
        snprintf(text, sizeof text, "[net]\n[region]\nanchors=1,2\nbias_match=1\nsoftmax=1\n%s\n",
                 ab_region_lines[k]);
        rl_darknet_cfg *c = parse_ok(text, 0);
        rl_config r;
        rl_darknet_cfg_region(c, &r);
        cr_assert_eq(r.flavour, RL_FLAVOUR_ALEXEYAB, "%s", ab_region_lines[k]);
        r.H = r.W = 3;
        rl_plan *plan = NULL;
        cr_assert_eq(rl_plan_create(&r, &plan), RL_OK, "%s", rl_last_error());
        rl_plan_destroy(plan);
        rl_darknet_cfg_destroy(c);
        FAILS_AS(RL_FLAVOUR_PJREDDIE, text, 0, "line 6: ",
                 "AlexeyAB's [region] layer", "the section is read as pjreddie's");
    }
    /* classfix is read by pjreddie's parser too, and ignored by its layer */
    FAILS_AS(RL_FLAVOUR_PJREDDIE, "[net]\n[region]\nanchors=1,2\nbias_match=1\nclassfix=2\n",
             0, "line 5: classfix = 2: acted on only by AlexeyAB's [region] layer (pjreddie's "
                "reads it and ignores it)");
}

Test(cfg_flavour, pjreddie_sections_and_the_choice)
{
    /* keys of both darknets keep pjreddie's flavour; classfix=0 as well */
    const char *yolo = NET "[yolo]\nclasses=2\nnum=2\nanchors=1,2,3,4\nmax=7\njitter=.3\n"
                           "random=1\nignore_thresh=.6\n";
    rl_darknet_cfg *c = parse_ok(yolo, 0);
    rl_yolo_config y, d;
    rl_yolo_head head;
    rl_yolo_config_init(&d);
    rl_darknet_cfg_yolo(c, &y, &head);
    cr_assert_eq(y.flavour, RL_YOLO_FLAVOUR_PJREDDIE);
    cr_assert_eq(y.max_boxes, d.max_boxes, "pjreddie's flavour has no max: the truths are the "
                                           "caller's");
    cr_assert_eq(y.iou_normalizer, d.iou_normalizer);
    plan_accepts(c);
    rl_darknet_cfg_destroy(c);
    c = parse_as(yolo, 0, RL_FLAVOUR_PJREDDIE);
    rl_darknet_cfg_yolo(c, &y, &head);
    cr_assert_eq(y.flavour, RL_YOLO_FLAVOUR_PJREDDIE);
    rl_darknet_cfg_destroy(c);
    /* read as AlexeyAB's: its defaults, max as max_boxes */
    c = parse_as(yolo, 0, RL_FLAVOUR_ALEXEYAB);
    rl_darknet_cfg_yolo(c, &y, &head);
    const ab_yolo_want w = {.iou_loss = RL_BOX_MSE, .iou_thresh_kind = RL_BOX_IOU,
                            .max_boxes = 7, .show_details = 1, .iou_normalizer = 0.75,
                            .cls_normalizer = 1, .obj_normalizer = 1, .scale_x_y = 1,
                            .iou_thresh = 1, .max_delta = d.max_delta, .ignore_thresh = 0.6};
    check_ab_yolo(&y, &w, "yolov3-like read as alexeyab");
    plan_accepts(c);
    rl_darknet_cfg_destroy(c);
    const char *region = "[net]\n[region]\nanchors=1,2\nbias_match=1\nclassfix=0\n";
    rl_config r;
    c = parse_ok(region, 0);
    rl_darknet_cfg_region(c, &r);
    cr_assert_eq(r.flavour, RL_FLAVOUR_PJREDDIE);
    cr_assert_eq(r.classfix, 0);
    rl_darknet_cfg_destroy(c);
    c = parse_as(region, 0, RL_FLAVOUR_ALEXEYAB);
    rl_darknet_cfg_region(c, &r);
    cr_assert_eq(r.flavour, RL_FLAVOUR_ALEXEYAB);
    cr_assert_eq(r.mode, RL_MODE_DARKNET);
    rl_darknet_cfg_destroy(c);
    /* a flavour that is none */
    c = (rl_darknet_cfg *)(uintptr_t)0x77;
    cr_assert_eq(rl_darknet_cfg_parse_flavour(region, strlen(region), 0, 2, &c),
                 RL_ERR_BAD_ENUM);
    cr_assert_eq(c, (rl_darknet_cfg *)(uintptr_t)0x77);
    cr_assert(strstr(rl_last_error(), "flavour = 2 is not RL_DARKNET_CFG_AUTO (-1), pjreddie "
                                      "(0) or alexeyab (1)"),
              "%s", rl_last_error());
}

Test(cfg_flavour, box_loss_kinds_by_name)
{
    const char *const names[] = {"mse", "iou", "giou", "diou", "ciou"};
    for (int k = 0; k < 5; k++) {
        char text[160];
        snprintf(text, sizeof text, NET "[yolo]\nanchors=1,2\niou_loss=%s\n", names[k]);
        rl_darknet_cfg *c = parse_ok(text, 0);
        rl_yolo_config y;
        rl_yolo_head head;
        rl_darknet_cfg_yolo(c, &y, &head);
        cr_assert_eq(y.iou_loss, k, "iou_loss=%s", names[k]);
        rl_darknet_cfg_destroy(c);
        if (k == 0)
            continue;
        snprintf(text, sizeof text, NET "[yolo]\nanchors=1,2\niou_thresh_kind=%s\n", names[k]);
        c = parse_ok(text, 0);
        rl_darknet_cfg_yolo(c, &y, &head);
        cr_assert_eq(y.iou_thresh_kind, k, "iou_thresh_kind=%s", names[k]);
        rl_darknet_cfg_destroy(c);
    }
}

Test(cfg_errors, alexeyab_values)
{
    /* darknet would take any other name for iou: refused, with the line */
    FAILS(NET "[yolo]\nanchors=1,2\niou_loss=CIoU\n", 0,
          "line 6: iou_loss = CIoU: not mse, iou, giou, diou or ciou (darknet would read it as "
          "iou)");
    FAILS(NET "[yolo]\nanchors=1,2\niou_loss=\n", 0, "line 6: iou_loss = : not mse, iou,");
    FAILS(NET "[yolo]\nanchors=1,2\niou_thresh_kind=mse\n", 0,
          "line 6: iou_thresh_kind = mse: not iou, giou, diou or ciou");
    FAILS(NET "[yolo]\nanchors=1,2\niou_normalizer=-0.1\n", 0,
          "line 6: iou_normalizer = -0.1: not in [0, 1e+06]");
    FAILS(NET "[yolo]\nanchors=1,2\ncls_normalizer=x\n", 0, "cls_normalizer = x: not a number");
    FAILS(NET "[yolo]\nanchors=1,2\nobj_normalizer=2e6\n", 0,
          "obj_normalizer = 2e6: not in [0, 1e+06]");
    FAILS(NET "[yolo]\nanchors=1,2\nscale_x_y=0\n", 0, "line 6: scale_x_y = 0: not in (0, 1e+06]");
    FAILS(NET "[yolo]\nanchors=1,2\niou_thresh=1.5\n", 0, "iou_thresh = 1.5: not in [0, 1]");
    FAILS(NET "[yolo]\nanchors=1,2\nlabel_smooth_eps=-1\n", 0,
          "label_smooth_eps = -1: not in [0, 1]");
    FAILS(NET "[yolo]\nanchors=1,2\nmax_delta=0\n", 0, "line 6: max_delta = 0: not positive");
    FAILS(NET "[yolo]\nanchors=1,2\nmax_delta=inf\n", 0, "max_delta = inf: not a number");
    FAILS(NET "[yolo]\nanchors=1,2\nfocal_loss=2\n", 0,
          "line 6: focal_loss = 2: not an integer in [0, 1]");
    FAILS(NET "[yolo]\nanchors=1,2\nnew_coords=yes\n", 0, "new_coords = yes: not an integer");
    FAILS(NET "[yolo]\nanchors=1,2\nobjectness_smooth=0.5\n", 0,
          "objectness_smooth = 0.5: not an integer in [0, 1]");
    FAILS(NET "[yolo]\nanchors=1,2\nshow_details=-1\n", 0, "show_details = -1: not an integer");
    /* max is the AlexeyAB flavour's max_boxes: checked there */
    FAILS_AS(RL_FLAVOUR_ALEXEYAB, NET "[yolo]\nanchors=1,2\nmax=0\n", 0,
             "line 6: max = 0: not an integer in [1, 2147483647]");
    FAILS(NET "[yolo]\nanchors=1,2\nmax=0\nscale_x_y=1\n", 0, "line 6: max = 0: not an integer");
    /* counters_per_class: one count per class, each a count */
    FAILS(NET "[yolo]\nanchors=1,2\nclasses=3\ncounters_per_class=10,20\n", 0,
          "line 7: counters_per_class = 10,20: 2 counts; classes = 3: one count per class");
    FAILS(NET "[yolo]\nanchors=1,2\ncounters_per_class=10,20\n", 0,
          "2 counts; classes = 20 (darknet's default: the section has no classes=)");
    FAILS(NET "[yolo]\nanchors=1,2\nclasses=3\ncounters_per_class=10, -1, 4\n", 0,
          "counters_per_class = 10, -1, 4: value 2, '-1', is not a count (an integer >= 0)");
    FAILS(NET "[yolo]\nanchors=1,2\nclasses=2\ncounters_per_class=10,2.5\n", 0,
          "value 2, '2.5', is not a count");
    FAILS(NET "[yolo]\nanchors=1,2\nclasses=2\ncounters_per_class=10,\n", 0,
          "value 2, '', is not a count");
    /* [region] */
    FAILS("[net]\n[region]\nanchors=1,2\nbias_match=1\nclassfix=3\n", 0,
          "line 5: classfix = 3: not an integer in [-1, 2]");
    FAILS("[net]\n[region]\nanchors=1,2\nbias_match=1\nfocal_loss=yes\n", 0,
          "focal_loss = yes: not an integer in [0, 1]");
    FAILS("[net]\n[region]\nanchors=1,2\nbias_match=1\nfocal_loss=1\nsoftmax=0\n", 0,
          "line 5: focal_loss = 1: AlexeyAB's focal loss needs softmax=1");
    FAILS("[net]\n[region]\nanchors=1,2\nbias_match=1\nfocal_loss=1\n", 0,
          "focal_loss = 1: AlexeyAB's focal loss needs softmax=1");
}

Test(cfg_errors, null_arguments)
{
    rl_darknet_cfg *c = NULL;
    cr_assert_eq(rl_darknet_cfg_parse(NULL, 0, 0, &c), RL_ERR_NULL_POINTER);
    cr_assert_eq(rl_darknet_cfg_parse("[net]", 5, 0, NULL), RL_ERR_NULL_POINTER);
    rl_config r;
    rl_yolo_config y;
    rl_yolo_head h;
    cr_assert_eq(rl_darknet_cfg_region(NULL, &r), RL_ERR_NULL_POINTER);
    cr_assert_eq(rl_darknet_cfg_yolo(NULL, &y, &h), RL_ERR_NULL_POINTER);
    rl_darknet_cfg_destroy(NULL);
}
