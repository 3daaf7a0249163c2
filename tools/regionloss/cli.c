/* Command-line parsing.  Options are checked against the subcommand they are
 * given to, and the darknet-only ones against the mode, so that a typo or a
 * misplaced flag is an error rather than silently ignored. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "regionloss_darknet.h"

enum {
    C_LOSS = 1 << CMD_LOSS,
    C_GOLDEN = 1 << CMD_GOLDEN,
    C_CHECK = 1 << CMD_CHECK,
    C_DEMO = 1 << CMD_DEMO,
    C_RUN = C_LOSS | C_GOLDEN | C_CHECK,
    C_CONF = C_RUN | C_DEMO
};

typedef enum opt_id {
    O_PRED, O_LABELS, O_ANCHORS, O_LAYOUT, O_MODE, O_LCOORD, O_LCLASS, O_LOBJ, O_LNOOBJ,
    O_THRESH, O_NORM, O_VARIANT, O_THREADS, O_GRAD_OUT, O_JSON, O_SEEN, O_NO_RESCORE,
    O_LOGISTIC, O_WARMUP_SEEN, O_WARMUP_SCALE, O_OUT, O_GOLDEN, O_GRAD_GOLDEN, O_RTOL,
    O_ATOL, O_DATA, O_DTYPE, O_GRAD_DTYPE, O_LAYER, O_MASK, O_NET_SIZE, O_IGNORE_THRESH,
    O_TRUTH_THRESH, O_CLASSES, O_BOX_LOSS, O_DARKNET_CFG, O_SECTION, O_FLAVOUR, O_CLASSFIX,
    O_IOU_LOSS, O_IOU_THRESH_KIND, O_IOU_NORMALIZER, O_CLS_NORMALIZER, O_OBJ_NORMALIZER,
    O_SCALE_X_Y, O_IOU_THRESH, O_LABEL_SMOOTH_EPS, O_MAX_DELTA, O_FOCAL_LOSS, O_NEW_COORDS,
    O_OBJECTNESS_SMOOTH, O_MAX_BOXES, O_SHOW_DETAILS, O_COUNTERS, O_HELP, O_COUNT
} opt_id;

/* Which loss an option belongs to. */
typedef enum opt_scope {
    S_ANY = 0,
    S_REGION,  /* the region layer only (either mode) */
    S_DARKNET, /* the region layer in darknet mode */
    S_YOLO     /* the [yolo] head only */
} opt_scope;

typedef struct opt_def {
    const char *name;
    int has_value;
    unsigned cmds;
    opt_scope scope;
    int per_head; /* with --layer yolo, given once per head, in the heads' order */
} opt_def;

static const opt_def opts[O_COUNT] = {
    [O_PRED] = {"--pred", 1, C_RUN, S_ANY, 1},
    [O_LABELS] = {"--labels", 1, C_RUN, S_ANY, 0},
    [O_ANCHORS] = {"--anchors", 1, C_RUN, S_ANY, 0},
    [O_LAYOUT] = {"--layout", 1, C_RUN, S_ANY, 0},
    [O_MODE] = {"--mode", 1, C_CONF, S_REGION, 0},
    [O_LCOORD] = {"--lambda-coord", 1, C_CONF, S_ANY, 0},
    [O_LCLASS] = {"--lambda-class", 1, C_CONF, S_ANY, 0},
    [O_LOBJ] = {"--lambda-obj", 1, C_CONF, S_ANY, 0},
    [O_LNOOBJ] = {"--lambda-noobj", 1, C_CONF, S_ANY, 0},
    [O_THRESH] = {"--thresh", 1, C_CONF, S_REGION, 0},
    [O_NORM] = {"--norm", 1, C_CONF, S_ANY, 0},
    [O_VARIANT] = {"--variant", 1, C_RUN, S_ANY, 0},
    [O_THREADS] = {"--threads", 1, C_CONF, S_ANY, 0},
    [O_GRAD_OUT] = {"--grad-out", 1, C_LOSS | C_GOLDEN, S_ANY, 1},
    [O_JSON] = {"--json", 0, C_LOSS, S_ANY, 0},
    [O_SEEN] = {"--seen", 1, C_CONF, S_DARKNET, 0},
    [O_NO_RESCORE] = {"--no-rescore", 0, C_CONF, S_DARKNET, 0},
    [O_LOGISTIC] = {"--logistic-classes", 0, C_CONF, S_DARKNET, 0},
    [O_WARMUP_SEEN] = {"--warmup-seen", 1, C_CONF, S_DARKNET, 0},
    [O_WARMUP_SCALE] = {"--warmup-scale", 1, C_CONF, S_DARKNET, 0},
    [O_OUT] = {"--out", 1, C_GOLDEN, S_ANY, 0},
    [O_GOLDEN] = {"--golden", 1, C_CHECK, S_ANY, 0},
    [O_GRAD_GOLDEN] = {"--grad-golden", 1, C_CHECK, S_ANY, 1},
    [O_RTOL] = {"--rtol", 1, C_CHECK, S_ANY, 0},
    [O_ATOL] = {"--atol", 1, C_CHECK, S_ANY, 0},
    [O_DATA] = {"--data", 1, C_DEMO, S_ANY, 0},
    [O_DTYPE] = {"--dtype", 1, C_RUN, S_ANY, 0},
    [O_GRAD_DTYPE] = {"--grad-dtype", 1, C_RUN, S_ANY, 0},
    [O_LAYER] = {"--layer", 1, C_RUN, S_ANY, 0},
    [O_MASK] = {"--mask", 1, C_RUN, S_YOLO, 1},
    [O_NET_SIZE] = {"--net-size", 1, C_RUN, S_YOLO, 0},
    [O_IGNORE_THRESH] = {"--ignore-thresh", 1, C_RUN, S_YOLO, 0},
    [O_TRUTH_THRESH] = {"--truth-thresh", 1, C_RUN, S_YOLO, 0},
    [O_CLASSES] = {"--classes", 1, C_RUN, S_YOLO, 0},
    [O_BOX_LOSS] = {"--box-loss", 1, C_RUN, S_YOLO, 0},
    [O_DARKNET_CFG] = {"--darknet-cfg", 1, C_RUN, S_ANY, 0},
    [O_SECTION] = {"--section", 1, C_RUN, S_ANY, 1},
    /* --flavour and --focal-loss serve both layers: AlexeyAB's [region]
     * (darknet mode) and AlexeyAB's [yolo] */
    [O_FLAVOUR] = {"--flavour", 1, C_CONF, S_ANY, 0},
    [O_CLASSFIX] = {"--classfix", 1, C_CONF, S_DARKNET, 0},
    [O_FOCAL_LOSS] = {"--focal-loss", 1, C_CONF, S_ANY, 0},
    [O_IOU_LOSS] = {"--iou-loss", 1, C_RUN, S_YOLO, 0},
    [O_IOU_THRESH_KIND] = {"--iou-thresh-kind", 1, C_RUN, S_YOLO, 0},
    [O_IOU_NORMALIZER] = {"--iou-normalizer", 1, C_RUN, S_YOLO, 0},
    [O_CLS_NORMALIZER] = {"--cls-normalizer", 1, C_RUN, S_YOLO, 0},
    [O_OBJ_NORMALIZER] = {"--obj-normalizer", 1, C_RUN, S_YOLO, 0},
    [O_SCALE_X_Y] = {"--scale-x-y", 1, C_RUN, S_YOLO, 0},
    [O_IOU_THRESH] = {"--iou-thresh", 1, C_RUN, S_YOLO, 0},
    [O_LABEL_SMOOTH_EPS] = {"--label-smooth-eps", 1, C_RUN, S_YOLO, 0},
    [O_MAX_DELTA] = {"--max-delta", 1, C_RUN, S_YOLO, 0},
    [O_NEW_COORDS] = {"--new-coords", 1, C_RUN, S_YOLO, 0},
    [O_OBJECTNESS_SMOOTH] = {"--objectness-smooth", 1, C_RUN, S_YOLO, 0},
    [O_MAX_BOXES] = {"--max-boxes", 1, C_RUN, S_YOLO, 0},
    [O_SHOW_DETAILS] = {"--show-details", 1, C_RUN, S_YOLO, 0},
    [O_COUNTERS] = {"--counters-per-class", 1, C_RUN, S_YOLO, 0},
    [O_HELP] = {"--help", 0, ~0u, S_ANY, 0},
};

static const struct {
    const char *name;
    tool_cmd cmd;
} commands[] = {
    {"loss", CMD_LOSS},     {"golden", CMD_GOLDEN},     {"check", CMD_CHECK},
    {"demo", CMD_DEMO},     {"variants", CMD_VARIANTS}, {"help", CMD_HELP},
    {"--help", CMD_HELP},   {"-h", CMD_HELP},           {"--version", CMD_VERSION},
};

void cli_usage(FILE *f)
{
    fputs(
        "usage: regionloss loss   --pred P.npy --labels L.txt --anchors w1,h1,... [options]\n"
        "       regionloss golden --pred P.npy --labels L.txt --anchors ... --out G.json\n"
        "                         [--grad-out GG.npy] [options]\n"
        "       regionloss check  --pred P.npy --labels L.txt --anchors ... --golden G.json\n"
        "                         [--grad-golden GG.npy] [--rtol R] [--atol A] [options]\n"
        "       regionloss loss|golden|check --layer yolo --pred P0.npy --mask 6,7,8\n"
        "                         [--pred P1.npy --mask 3,4,5 ...] --labels L.txt\n"
        "                         --anchors w1,h1,... --net-size W[xH] [options]\n"
        "       regionloss loss|golden|check --darknet-cfg F.cfg --section N --pred P.npy\n"
        "                         [--section M --pred Q.npy ...] --labels L.txt [options]\n"
        "       regionloss demo   [--data DIR] [configuration options]\n"
        "       regionloss variants | --help | --version\n"
        "\n"
        "Inputs\n"
        "  --pred P.npy          raw outputs, C order, [N, B*(5+C), H, W] (nchw) or\n"
        "                        [N, H, W, B, 5+C] (nhwc): float32 '<f4' (float64 '<f8' is\n"
        "                        rounded to float32), float16 '<f2', or bfloat16 as '<u2'\n"
        "                        bit patterns (with --dtype bf16); half types are read as\n"
        "                        they are, not converted\n"
        "  --dtype f32|f16|bf16  the predictions' type, checked against P.npy (default: the\n"
        "                        file's; required for bf16, which NumPy stores as '<u2')\n"
        "  --labels L.txt        lines 'image_index class cx cy w h'; '#' comments\n"
        "  --anchors w1,h1,...   B anchor sizes in grid cells\n"
        "  --layout nchw|nhwc    memory layout of P.npy (default nchw)\n"
        "Configuration\n"
        "  --mode spec|darknet   spec: the article's loss (alias: seed); darknet: darknet's\n"
        "                        region layer (default spec)\n"
        "  --lambda-coord X --lambda-class X --lambda-obj X --lambda-noobj X\n"
        "                        loss weights (default 1, 1, 5, 1); in darknet mode\n"
        "                        coord_scale, class_scale, object_scale, noobject_scale\n"
        "  --thresh X            objectness threshold (default 0.6)\n"
        "  --norm batch|sum|images  divide by the batch's counts (spec default), not at\n"
        "                        all (darknet default), or by the number of images\n"
        "  --variant NAME        kernel variant (see 'regionloss variants'; default auto)\n"
        "  --threads T           worker threads (default 1)\n"
        "[yolo] head, AlexeyAB's flavour (docs/darknet.md; darknet's [yolo] keys)\n"
        "  --flavour pjreddie|alexeyab  whose [yolo] layer (default pjreddie)\n"
        "  --iou-loss mse|iou|giou|diou|ciou  --iou-thresh-kind iou|giou|diou|ciou\n"
        "  --iou-normalizer X --cls-normalizer X --obj-normalizer X  (0.75, 1, 1)\n"
        "  --scale-x-y X --iou-thresh X --label-smooth-eps X --max-delta X\n"
        "  --focal-loss 0|1 --new-coords 0|1 --objectness-smooth 0|1 --show-details 0|1\n"
        "  --max-boxes N         darknet's max: truths read per image (default 200)\n"
        "  --counters-per-class n1,n2,...  one count per class\n"
        "Darknet mode\n"
        "  --seen S              images seen so far, this batch included (required)\n"
        "  --no-rescore          objectness target 1 instead of the IoU\n"
        "  --logistic-classes    per-class sigmoid and squared error (softmax=0)\n"
        "  --warmup-seen N       warm-up while seen < N (default 12800)\n"
        "  --warmup-scale X      warm-up scale (default 0.01)\n"
        "  --flavour pjreddie|alexeyab  whose [region] layer (default pjreddie); alexeyab:\n"
        "                        no (2 - w*h), its cost, truths of a class >= C skipped,\n"
        "                        --logistic-classes leaves the classes unactivated\n"
        "  --classfix N          AlexeyAB's classfix: -1, 0 (default), 1 or 2\n"
        "  --focal-loss 0|1      AlexeyAB's focal loss on softmax classes\n"
        "Outputs\n"
        "  --json                print one JSON object (loss only)\n"
        "  --grad-out G.npy      write the gradient in P.npy's layout and shape, in the\n"
        "                        predictions' type: '<f4', '<f2', or '<u2' bfloat16 bits\n"
        "  --grad-dtype f32|f16|bf16  the gradient's type: f32, or the predictions' (the\n"
        "                        default); a half gradient is rounded once, to nearest even\n"
        "  --out G.json          the golden result (golden only)\n"
        "Check\n"
        "  --golden G.json --grad-golden GG.npy  what golden recorded\n"
        "  --rtol R --atol A     pass when |got - expected| <= A + R*|expected|\n"
        "                        (default R = 1e-5, A = 1e-8)\n"
        "The [yolo] head (YOLOv3 and after: --layer yolo)\n"
        "  --layer region|yolo   the region layer (default) or darknet's [yolo] heads\n"
        "  --pred P.npy --mask I,J,K  once per head, in the same order: the head's raw\n"
        "                        outputs, shaped as above with B = the mask's length, and\n"
        "                        the indices of its anchors in --anchors (darknet's mask)\n"
        "  --anchors w1,h1,...   every anchor of the network, in pixels (the cfg's list)\n"
        "  --net-size W[xH]      the network's input size in pixels (H defaults to W)\n"
        "  --classes C           the classes, checked against every file (default: the\n"
        "                        first file's)\n"
        "  --ignore-thresh X     a slot not responsible for a truth, whose best IoU is <= X,\n"
        "                        is pushed to 0 (default 0.7)\n"
        "  --truth-thresh X      a slot whose best IoU is > X becomes a positive of that\n"
        "                        truth (default 1: never)\n"
        "  --norm sum|images     darknet's plain sums, or divided by the images (default)\n"
        "  --box-loss KIND       the positives' box term: mse (darknet's, the default) or\n"
        "                        iou, giou, diou, ciou: 1 - that IoU of the decoded box\n"
        "                        and its truth\n"
        "  --lambda-*, --layout, --dtype, --grad-dtype, --variant, --threads as above\n"
        "                        (lambdas default 1); --grad-out and --grad-golden once per\n"
        "                        head, in the heads' order\n"
        "A darknet cfg (docs/darknet.md, \"From a cfg file\")\n"
        "  --darknet-cfg F.cfg   the loss options of a [yolo] or [region] section of a\n"
        "                        darknet cfg, instead of the options they stand for\n"
        "  --section N           darknet's layer index of the section (0: the first after\n"
        "                        [net]); [yolo]: once per --pred, in the same order\n"
        "                        [yolo] sets --layer yolo, --anchors, --mask, --classes,\n"
        "                        --net-size, --ignore-thresh, --truth-thresh; [region]\n"
        "                        sets --mode darknet, --anchors, the scales, --thresh,\n"
        "                        rescore and softmax (its classes are checked against\n"
        "                        P.npy); giving one of those too is an error\n"
        "  --flavour pjreddie|alexeyab  read the sections as that darknet's layer (default:\n"
        "                        alexeyab when a section has an AlexeyAB-only option, which\n"
        "                        the cfg then sets with AlexeyAB's defaults; else pjreddie)\n"
        "Demo\n"
        "  --data DIR            directory with pred.npy, labels.txt, anchors.txt (the\n"
        "                        region example; the [yolo] example is synthesized)\n"
        "\n"
        "Exit status: 0 success, 1 check found differences, 2 bad usage, bad file or\n"
        "library error.\n",
        f);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("regionloss: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    cli_usage(stderr);
    return EXIT_ERROR;
}

static int parse_double(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v))
        return usage_error("%s: '%s' is not a finite number", opt, s);
    *out = v;
    return 0;
}

static int parse_int64(const char *opt, const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return usage_error("%s: '%s' is not an integer", opt, s);
    *out = v;
    return 0;
}

static int parse_choice(const char *opt, const char *s, const char *const *names,
                        const int *values, int n, int *out)
{
    for (int k = 0; k < n; k++)
        if (strcmp(s, names[k]) == 0) {
            *out = values[k];
            return 0;
        }
    char list[128] = "";
    size_t len = 0;
    for (int k = 0; k < n && len < sizeof list; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", names[k]);
    return usage_error("%s: '%s' is not one of the accepted values (%s)", opt, s, list);
}

/* The values of a comma-separated list (an empty one has one, empty). */
static size_t list_length(const char *text)
{
    size_t n = 1;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    return n;
}

int cli_parse_anchors(const char *text, const char *origin, float **anchors, int32_t *B)
{
    size_t n = list_length(text);
    if (n % 2 || n > (size_t)INT32_MAX) {
        fprintf(stderr, "regionloss: %s: %zu values; anchors come in pairs w,h\n", origin, n);
        return EXIT_ERROR;
    }
    float *a = malloc(n * sizeof *a);
    if (!a) {
        fprintf(stderr, "regionloss: %s: out of memory\n", origin);
        return EXIT_ERROR;
    }
    const char *p = text;
    for (size_t k = 0; k < n; k++) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        /* strtod skips leading spaces; the value must also end at a comma. */
        if (end == p || (*end != ',' && *end != '\0') || errno == ERANGE) {
            size_t len = strcspn(p, ",");
            fprintf(stderr, "regionloss: %s: value %zu '%.*s' is not a number\n", origin, k + 1,
                    (int)len, p);
            free(a);
            return EXIT_ERROR;
        }
        a[k] = (float)v;
        p = *end ? end + 1 : end;
    }
    *anchors = a;
    *B = (int32_t)(n / 2);
    return 0;
}

int cli_parse_mask(const char *text, const char *origin, int32_t n_anchors, int32_t **mask,
                   int32_t *B)
{
    size_t n = list_length(text);
    /* More indices than anchors meet a repeat or an index out of range. */
    int32_t *m = malloc(n * sizeof *m);
    if (!m) {
        fprintf(stderr, "regionloss: %s: out of memory\n", origin);
        return EXIT_ERROR;
    }
    const char *p = text;
    for (size_t k = 0; k < n; k++) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        const int len = (int)strcspn(p, ",");
        if (end == p || (*end != ',' && *end != '\0') || errno == ERANGE) {
            fprintf(stderr, "regionloss: %s: value %zu '%.*s' is not an integer\n", origin,
                    k + 1, len, p);
            free(m);
            return EXIT_ERROR;
        }
        if (v < 0 || v >= n_anchors) {
            fprintf(stderr,
                    "regionloss: %s: value %zu, %lld, is not an index of the %d anchors of "
                    "--anchors (0 to %d)\n",
                    origin, k + 1, v, (int)n_anchors, (int)n_anchors - 1);
            free(m);
            return EXIT_ERROR;
        }
        for (size_t e = 0; e < k; e++)
            if (m[e] == v) {
                fprintf(stderr,
                        "regionloss: %s: value %zu, %lld, repeats value %zu: a head's anchors "
                        "are distinct\n",
                        origin, k + 1, v, e + 1);
                free(m);
                return EXIT_ERROR;
            }
        m[k] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    *mask = m;
    *B = (int32_t)n;
    return 0;
}

/* Values given on the command line, applied over the mode's defaults once
 * the mode is known.  An option of a head (opts[].per_head) may come once
 * per head; every other one once. */
typedef struct given {
    int set[O_COUNT]; /* times given */
    const char *value[O_COUNT]; /* the first value */
    const char *values[O_COUNT][TOOL_MAX_HEADS];
} given;

static const char *const layer_names[] = {"region", "yolo"};

/* An option given for the other loss is an error, not silently ignored. */
static int check_scopes(const given *g, tool_layer layer, int mode)
{
    for (int k = 0; k < O_COUNT; k++) {
        if (!g->set[k])
            continue;
        if (layer == LAYER_YOLO && (opts[k].scope == S_REGION || opts[k].scope == S_DARKNET))
            return usage_error("%s applies only to --layer region%s", opts[k].name,
                               k == O_THRESH ? " (a [yolo] head has --ignore-thresh and "
                                               "--truth-thresh)"
                                             : "");
        if (layer == LAYER_REGION && opts[k].scope == S_YOLO)
            return usage_error("%s applies only to --layer yolo", opts[k].name);
        if (layer == LAYER_REGION && mode == RL_MODE_SPEC && opts[k].scope == S_DARKNET)
            return usage_error("%s applies only to --mode darknet", opts[k].name);
        if (layer == LAYER_REGION && g->set[k] > 1)
            return usage_error("option %s given twice", opts[k].name);
    }
    return 0;
}

/* The options of a table that hold a finite number, where given. */
typedef struct double_opt {
    int id;
    double *dst;
} double_opt;

static int parse_doubles(const given *g, const double_opt *d, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (g->set[d[k].id] && parse_double(opts[d[k].id].name, g->value[d[k].id], d[k].dst))
            return EXIT_ERROR;
    return 0;
}

static int parse_unit(const char *opt, const char *s, double *out)
{
    if (parse_double(opt, s, out))
        return EXIT_ERROR;
    if (!(*out >= 0.0 && *out <= 1.0))
        return usage_error("%s: %s is not in [0, 1]", opt, s);
    return 0;
}

/* "416" or "608x416": width, then height (darknet's width= and height=). */
static int parse_net_size(const char *s, int32_t *w, int32_t *h)
{
    const char *x = strchr(s, 'x');
    char part[2][64];
    size_t len0 = x ? (size_t)(x - s) : strlen(s);
    if (len0 >= sizeof part[0] || (x && strlen(x + 1) >= sizeof part[1]))
        return usage_error("--net-size: '%s' is not W or WxH", s);
    memcpy(part[0], s, len0);
    part[0][len0] = '\0';
    snprintf(part[1], sizeof part[1], "%s", x ? x + 1 : part[0]);
    int32_t *dst[2] = {w, h};
    for (int k = 0; k < 2; k++) {
        char *end;
        errno = 0;
        long long v = strtoll(part[k], &end, 10);
        if (end == part[k] || *end || errno)
            return usage_error("--net-size: '%s': the %s '%s' is not an integer", s,
                               k ? "height" : "width", part[k]);
        if (v <= 0 || v > INT32_MAX)
            return usage_error("--net-size: '%s': the %s %lld is not a positive pixel count", s,
                               k ? "height" : "width", v);
        *dst[k] = (int32_t)v;
    }
    return 0;
}

/* The counts of the per-head options must agree: one --mask per --pred,
 * and gradient files for every head or none. */
static int check_heads(const given *g, tool_opts *o)
{
    yolo_opts *y = &o->yolo;
    const int n = g->set[O_PRED];
    if (g->set[O_MASK] != n)
        return usage_error("%d --mask for %d --pred: give one --mask per head, in the order of "
                           "the --pred files",
                           g->set[O_MASK], n);
    const int ids[2] = {O_GRAD_OUT, O_GRAD_GOLDEN};
    for (int k = 0; k < 2; k++)
        if (g->set[ids[k]] && g->set[ids[k]] != n)
            return usage_error("%d %s for %d --pred: give one per head, in the order of the "
                               "--pred files",
                               g->set[ids[k]], opts[ids[k]].name, n);
    y->n_heads = n;
    y->n_grad_out = g->set[O_GRAD_OUT];
    y->n_grad_golden = g->set[O_GRAD_GOLDEN];
    for (int h = 0; h < n; h++) {
        y->preds[h] = g->values[O_PRED][h];
        y->masks[h] = g->values[O_MASK][h];
        y->grad_outs[h] = y->n_grad_out ? g->values[O_GRAD_OUT][h] : NULL;
        y->grad_goldens[h] = y->n_grad_golden ? g->values[O_GRAD_GOLDEN][h] : NULL;
    }
    return 0;
}

/* An option that takes 0 or 1. */
static int parse_flag(int id, const given *g, int32_t *dst)
{
    if (!g->set[id])
        return 0;
    const char *v = g->value[id];
    if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
        return usage_error("%s: '%s' is not 0 or 1", opts[id].name, v);
    *dst = v[0] == '1';
    return 0;
}

/* The flavour and AlexeyAB's [yolo] options (darknet's keys); the library
 * checks their ranges and that flavour pjreddie leaves them alone. */
static int parse_alexeyab(const given *g, yolo_opts *y)
{
    rl_yolo_config *c = &y->cfg;
    static const char *const kinds[] = {"mse", "iou", "giou", "diou", "ciou"};
    static const int kind_values[] = {RL_BOX_MSE, RL_BOX_IOU, RL_BOX_GIOU, RL_BOX_DIOU,
                                      RL_BOX_CIOU};
    int v = 0;
    if (g->set[O_FLAVOUR]) {
        static const char *const names[] = {"pjreddie", "alexeyab"};
        static const int values[] = {RL_YOLO_FLAVOUR_PJREDDIE, RL_YOLO_FLAVOUR_ALEXEYAB};
        if (parse_choice("--flavour", g->value[O_FLAVOUR], names, values, 2, &v))
            return EXIT_ERROR;
        c->flavour = v;
    }
    if (g->set[O_IOU_LOSS]) {
        if (parse_choice("--iou-loss", g->value[O_IOU_LOSS], kinds, kind_values, 5, &v))
            return EXIT_ERROR;
        c->iou_loss = v;
    }
    if (g->set[O_IOU_THRESH_KIND]) {
        if (parse_choice("--iou-thresh-kind", g->value[O_IOU_THRESH_KIND], kinds + 1,
                         kind_values + 1, 4, &v))
            return EXIT_ERROR;
        c->iou_thresh_kind = v;
    }
    const double_opt doubles[] = {{O_IOU_NORMALIZER, &c->iou_normalizer},
                                  {O_CLS_NORMALIZER, &c->cls_normalizer},
                                  {O_OBJ_NORMALIZER, &c->obj_normalizer},
                                  {O_SCALE_X_Y, &c->scale_x_y},
                                  {O_IOU_THRESH, &c->iou_thresh},
                                  {O_LABEL_SMOOTH_EPS, &c->label_smooth_eps},
                                  {O_MAX_DELTA, &c->max_delta}};
    if (parse_doubles(g, doubles, sizeof doubles / sizeof doubles[0]))
        return EXIT_ERROR;
    if (parse_flag(O_FOCAL_LOSS, g, &c->focal_loss) || parse_flag(O_NEW_COORDS, g, &c->new_coords) ||
        parse_flag(O_OBJECTNESS_SMOOTH, g, &c->objectness_smooth) ||
        parse_flag(O_SHOW_DETAILS, g, &c->show_details))
        return EXIT_ERROR;
    if (g->set[O_MAX_BOXES]) {
        int64_t m = 0;
        if (parse_int64("--max-boxes", g->value[O_MAX_BOXES], &m))
            return EXIT_ERROR;
        if (m < 1 || m > INT32_MAX)
            return usage_error("--max-boxes: '%s' is not a positive int32",
                               g->value[O_MAX_BOXES]);
        c->max_boxes = (int32_t)m;
    }
    y->n_counters = 0;
    if (g->set[O_COUNTERS]) {
        const char *text = g->value[O_COUNTERS];
        const size_t n = list_length(text);
        if (n > RL_MAX_CLASSES)
            return usage_error("--counters-per-class: more than %d counts", RL_MAX_CLASSES);
        y->counters = malloc(n * sizeof *y->counters);
        if (!y->counters)
            return usage_error("--counters-per-class: out of memory");
        const char *at = text;
        for (size_t k = 0; k < n; k++) {
            const char *comma = strchr(at, ',');
            char item[32];
            const size_t len = comma ? (size_t)(comma - at) : strlen(at);
            if (len >= sizeof item)
                return usage_error("--counters-per-class: count %zu is too long", k);
            memcpy(item, at, len);
            item[len] = '\0';
            int64_t cnt = 0;
            if (parse_int64("--counters-per-class", item, &cnt))
                return EXIT_ERROR;
            if (cnt < 0 || cnt > INT32_MAX)
                return usage_error("--counters-per-class: count %zu = %s is not in [0, %d]", k,
                                   item, INT32_MAX);
            y->counters[k] = (int32_t)cnt;
            at = comma ? comma + 1 : at + len;
        }
        y->n_counters = (int32_t)n;
    }
    return 0;
}

/* --layer yolo: rl_yolo_config's defaults, then the options. */
static int build_yolo_config(const given *g, tool_opts *o)
{
    yolo_opts *y = &o->yolo;
    rl_yolo_config *c = &y->cfg;
    rl_yolo_config_init(c);
    c->layout = o->cfg.layout;
    c->threads = o->cfg.threads;
    c->variant = o->cfg.variant;
    if (g->set[O_NORM]) {
        static const char *const names[] = {"sum", "images"};
        static const int values[] = {RL_NORM_SUM, RL_NORM_IMAGES};
        if (strcmp(g->value[O_NORM], "batch") == 0)
            return usage_error("--norm batch: a [yolo] head sums (--norm sum, darknet's) or "
                               "divides by the images (--norm images)");
        int v = 0;
        if (parse_choice("--norm", g->value[O_NORM], names, values, 2, &v))
            return EXIT_ERROR;
        c->norm = (rl_norm)v;
    }
    const double_opt doubles[] = {{O_LCOORD, &c->lambda_coord},
                                  {O_LCLASS, &c->lambda_class},
                                  {O_LOBJ, &c->lambda_obj},
                                  {O_LNOOBJ, &c->lambda_noobj}};
    if (parse_doubles(g, doubles, sizeof doubles / sizeof doubles[0]))
        return EXIT_ERROR;
    if (g->set[O_IGNORE_THRESH] &&
        parse_unit("--ignore-thresh", g->value[O_IGNORE_THRESH], &c->ignore_thresh))
        return EXIT_ERROR;
    if (g->set[O_TRUTH_THRESH] &&
        parse_unit("--truth-thresh", g->value[O_TRUTH_THRESH], &c->truth_thresh))
        return EXIT_ERROR;
    if (g->set[O_BOX_LOSS]) {
        static const char *const names[] = {"mse", "iou", "giou", "diou", "ciou"};
        static const int values[] = {RL_BOX_MSE, RL_BOX_IOU, RL_BOX_GIOU, RL_BOX_DIOU,
                                     RL_BOX_CIOU};
        int v = 0;
        if (parse_choice("--box-loss", g->value[O_BOX_LOSS], names, values, 5, &v))
            return EXIT_ERROR;
        c->box_loss = v;
    }
    if (parse_net_size(g->value[O_NET_SIZE], &c->net_w, &c->net_h))
        return EXIT_ERROR;
    y->net_size = g->value[O_NET_SIZE];
    if (parse_alexeyab(g, y))
        return EXIT_ERROR;
    y->classes = -1;
    if (g->set[O_CLASSES]) {
        int64_t v = 0;
        if (parse_int64("--classes", g->value[O_CLASSES], &v))
            return EXIT_ERROR;
        if (v < 1 || v > RL_MAX_CLASSES)
            return usage_error("--classes: '%s' is not in [1, %d]", g->value[O_CLASSES],
                               RL_MAX_CLASSES);
        y->classes = (int32_t)v;
    }
    return check_heads(g, o);
}

static int build_config(const given *g, tool_opts *o)
{
    int layer = LAYER_REGION;
    if (g->set[O_LAYER]) {
        static const int values[] = {LAYER_REGION, LAYER_YOLO};
        if (parse_choice("--layer", g->value[O_LAYER], layer_names, values, 2, &layer))
            return EXIT_ERROR;
    }
    o->layer = (tool_layer)layer;
    int mode = RL_MODE_SPEC;
    if (g->set[O_MODE]) {
        static const char *const names[] = {"spec", "seed", "darknet"};
        static const int values[] = {RL_MODE_SPEC, RL_MODE_SPEC, RL_MODE_DARKNET};
        if (parse_choice("--mode", g->value[O_MODE], names, values, 3, &mode))
            return EXIT_ERROR;
    }
    rl_config *c = &o->cfg;
    if (mode == RL_MODE_DARKNET)
        rl_config_init_darknet(c);
    else
        rl_config_init(c);
    if (check_scopes(g, o->layer, mode))
        return EXIT_ERROR;
    if (layer == LAYER_REGION && mode == RL_MODE_DARKNET && !g->set[O_SEEN])
        return usage_error("%s needs --seen S (images seen so far, this batch included)",
                           g->set[O_DARKNET_CFG] ? "a [region] section of --darknet-cfg (darknet "
                                                   "mode)"
                                                 : "--mode darknet");
    if (g->set[O_LAYOUT]) {
        static const char *const names[] = {"nchw", "nhwc"};
        static const int values[] = {RL_LAYOUT_NCHW, RL_LAYOUT_NHWC};
        int v = 0;
        if (parse_choice("--layout", g->value[O_LAYOUT], names, values, 2, &v))
            return EXIT_ERROR;
        c->layout = (rl_layout)v;
    }
    o->dtype = o->grad_dtype = -1;
    static const char *const dtype_names[] = {"f32", "f16", "bf16"};
    static const int dtype_values[] = {RL_DTYPE_F32, RL_DTYPE_F16, RL_DTYPE_BF16};
    if (g->set[O_DTYPE] &&
        parse_choice("--dtype", g->value[O_DTYPE], dtype_names, dtype_values, 3, &o->dtype))
        return EXIT_ERROR;
    if (g->set[O_GRAD_DTYPE] && parse_choice("--grad-dtype", g->value[O_GRAD_DTYPE],
                                             dtype_names, dtype_values, 3, &o->grad_dtype))
        return EXIT_ERROR;
    /* When both are given the pair is checked here; otherwise against the
     * file's type once it is read (inputs_load). */
    if (o->dtype >= 0 && o->grad_dtype >= 0 && o->grad_dtype != RL_DTYPE_F32 &&
        o->grad_dtype != o->dtype)
        return usage_error("--grad-dtype %s: the gradient is f32 or the predictions' type "
                           "(--dtype %s)",
                           g->value[O_GRAD_DTYPE], g->value[O_DTYPE]);
    if (g->set[O_NORM] && layer == LAYER_REGION) {
        static const char *const names[] = {"batch", "sum", "images"};
        static const int values[] = {RL_NORM_COUNTS, RL_NORM_SUM, RL_NORM_IMAGES};
        int v = 0;
        if (parse_choice("--norm", g->value[O_NORM], names, values, 3, &v))
            return EXIT_ERROR;
        c->norm = (rl_norm)v;
    }
    const double_opt doubles[] = {{O_LCOORD, &c->lambda_coord}, {O_LCLASS, &c->lambda_class},
                                  {O_LOBJ, &c->lambda_obj},     {O_LNOOBJ, &c->lambda_noobj},
                                  {O_THRESH, &c->thresh},       {O_WARMUP_SCALE, &c->warmup_scale},
                                  {O_RTOL, &o->rtol},           {O_ATOL, &o->atol}};
    if (parse_doubles(g, doubles, sizeof doubles / sizeof doubles[0]))
        return EXIT_ERROR;
    if ((g->set[O_RTOL] && o->rtol < 0) || (g->set[O_ATOL] && o->atol < 0))
        return usage_error("%s must not be negative", o->rtol < 0 ? "--rtol" : "--atol");
    int64_t v = 0;
    if (g->set[O_THREADS]) {
        if (parse_int64("--threads", g->value[O_THREADS], &v))
            return EXIT_ERROR;
        if (v < 1 || v > INT32_MAX)
            return usage_error("--threads: '%s' is not a positive thread count",
                               g->value[O_THREADS]);
        c->threads = (int32_t)v;
    }
    if (g->set[O_SEEN] && parse_int64("--seen", g->value[O_SEEN], &o->seen))
        return EXIT_ERROR;
    if (g->set[O_WARMUP_SEEN] &&
        parse_int64("--warmup-seen", g->value[O_WARMUP_SEEN], &c->warmup_seen))
        return EXIT_ERROR;
    if (g->set[O_NO_RESCORE])
        c->rescore = 0;
    if (g->set[O_LOGISTIC])
        c->logistic_classes = 1;
    /* a [yolo] head's flavour and focal loss are parse_alexeyab's */
    if (g->set[O_FLAVOUR] && layer == LAYER_REGION) {
        static const char *const names[] = {"pjreddie", "alexeyab"};
        static const int values[] = {RL_FLAVOUR_PJREDDIE, RL_FLAVOUR_ALEXEYAB};
        if (parse_choice("--flavour", g->value[O_FLAVOUR], names, values, 2, &c->flavour))
            return EXIT_ERROR;
        if (c->mode != RL_MODE_DARKNET)
            return usage_error("--flavour: the region layer's flavours are darknet mode's: "
                               "give --mode darknet");
    }
    int32_t focal = 0;
    if (layer == LAYER_REGION && parse_flag(O_FOCAL_LOSS, g, &focal))
        return EXIT_ERROR;
    if ((g->set[O_CLASSFIX] || focal) && c->flavour != RL_FLAVOUR_ALEXEYAB)
        return usage_error("%s is AlexeyAB's option: it needs --flavour alexeyab",
                           g->set[O_CLASSFIX] ? "--classfix" : "--focal-loss");
    if (g->set[O_CLASSFIX]) {
        if (parse_int64("--classfix", g->value[O_CLASSFIX], &v))
            return EXIT_ERROR;
        if (v < -1 || v > 2)
            return usage_error("--classfix: '%s' is not -1, 0, 1 or 2", g->value[O_CLASSFIX]);
        c->classfix = (int32_t)v;
    }
    if (focal) {
        if (c->logistic_classes)
            return usage_error("--focal-loss needs softmax classes: AlexeyAB's focal term takes "
                               "the log of the class output, which --logistic-classes leaves "
                               "unactivated");
        c->focal_loss = 1;
    }
    c->variant = g->set[O_VARIANT] ? g->value[O_VARIANT] : NULL;
    o->json = g->set[O_JSON];
    o->pred = g->value[O_PRED];
    o->labels = g->value[O_LABELS];
    o->anchors = g->value[O_ANCHORS];
    o->grad_out = g->value[O_GRAD_OUT];
    o->out = g->value[O_OUT];
    o->golden = g->value[O_GOLDEN];
    o->grad_golden = g->value[O_GRAD_GOLDEN];
    o->data_dir = g->value[O_DATA];
    if (layer == LAYER_YOLO)
        return build_yolo_config(g, o);
    return 0;
}

static const char *required_missing(const given *g, tool_cmd cmd, int yolo)
{
    if (cmd == CMD_LOSS || cmd == CMD_GOLDEN || cmd == CMD_CHECK) {
        if (!g->set[O_PRED])
            return "--pred";
        if (!g->set[O_LABELS])
            return "--labels";
        if (!g->set[O_ANCHORS])
            return "--anchors";
        if (yolo && !g->set[O_MASK])
            return "--mask (one per --pred)";
        if (yolo && !g->set[O_NET_SIZE])
            return "--net-size";
    }
    if (cmd == CMD_GOLDEN && !g->set[O_OUT])
        return "--out";
    if (cmd == CMD_CHECK && !g->set[O_GOLDEN])
        return "--golden";
    return NULL;
}

/* Sets option id as if it had been given with value text (the k-th time). */
static void give(given *g, int id, int k, const char *text)
{
    g->set[id] = k + 1;
    g->values[id][k] = text;
    if (k == 0)
        g->value[id] = text;
}

/* --darknet-cfg: the section's options as if they had been given, so that
 * the cfg and the explicit options run the same code.  An option the
 * section sets, given as well, is an error rather than an override. */
static int apply_darknet_cfg(given *g, tool_opts *o)
{
    if (!g->set[O_DARKNET_CFG]) {
        if (g->set[O_SECTION])
            return usage_error("--section applies only with --darknet-cfg");
        return 0;
    }
    if (!g->set[O_SECTION])
        return usage_error("--darknet-cfg needs --section N: darknet's index of the [yolo] or "
                           "[region] layer (0: the first section after [net])");
    if (g->set[O_LAYER])
        return usage_error("--layer: the section of --darknet-cfg says which layer it is");
    const char *path = g->value[O_DARKNET_CFG];
    /* --flavour beside a cfg is how its sections are read, not an option
     * laid over them: AlexeyAB's defaults differ from pjreddie's */
    int flavour = RL_DARKNET_CFG_AUTO;
    static const char *const flavours[] = {"pjreddie", "alexeyab"};
    static const int flavour_values[] = {RL_FLAVOUR_PJREDDIE, RL_FLAVOUR_ALEXEYAB};
    if (g->set[O_FLAVOUR] &&
        parse_choice("--flavour", g->value[O_FLAVOUR], flavours, flavour_values, 2, &flavour))
        return EXIT_ERROR;
    if (dncfg_read(path, g->values[O_SECTION], g->set[O_SECTION], flavour, &o->dn))
        return EXIT_ERROR;
    const dncfg_options *d = &o->dn;
    static const int yolo_set[] = {
        O_ANCHORS,        O_MASK,         O_NET_SIZE,        O_CLASSES,       O_IGNORE_THRESH,
        O_TRUTH_THRESH,   O_IOU_LOSS,     O_IOU_THRESH_KIND, O_IOU_NORMALIZER,
        O_CLS_NORMALIZER, O_OBJ_NORMALIZER, O_SCALE_X_Y,     O_IOU_THRESH,
        O_LABEL_SMOOTH_EPS, O_MAX_DELTA,  O_FOCAL_LOSS,      O_NEW_COORDS,
        O_OBJECTNESS_SMOOTH, O_SHOW_DETAILS, O_MAX_BOXES,    O_COUNTERS};
    static const int region_set[] = {O_ANCHORS, O_MODE,       O_LCOORD,   O_LCLASS,
                                     O_LOBJ,    O_LNOOBJ,     O_THRESH,   O_NO_RESCORE,
                                     O_LOGISTIC, O_CLASSFIX,  O_FOCAL_LOSS};
    const int *set = d->yolo ? yolo_set : region_set;
    const size_t n_set = d->yolo ? sizeof yolo_set / sizeof *yolo_set
                                 : sizeof region_set / sizeof *region_set;
    for (size_t k = 0; k < n_set; k++)
        if (g->set[set[k]])
            return usage_error("%s: the [%s] section of --darknet-cfg sets it; give the cfg or "
                               "the option, not both",
                               opts[set[k]].name, d->yolo ? "yolo" : "region");
    if (d->yolo && g->set[O_PRED] != d->n_heads)
        return usage_error("%d --section for %d --pred: one [yolo] section per head, in the "
                           "order of the --pred files",
                           d->n_heads, g->set[O_PRED]);
    give(g, O_ANCHORS, 0, d->anchors);
    if (d->flavour == RL_FLAVOUR_ALEXEYAB && !g->set[O_FLAVOUR])
        give(g, O_FLAVOUR, 0, "alexeyab");
    if (d->yolo) {
        give(g, O_LAYER, 0, "yolo");
        for (int h = 0; h < d->n_heads; h++)
            give(g, O_MASK, h, d->masks[h]);
        give(g, O_NET_SIZE, 0, d->net_size);
        give(g, O_CLASSES, 0, d->classes_text);
        give(g, O_IGNORE_THRESH, 0, d->ignore_thresh);
        give(g, O_TRUTH_THRESH, 0, d->truth_thresh);
        if (d->flavour != RL_YOLO_FLAVOUR_ALEXEYAB)
            return 0;
        static const int reals[DN_N_REALS] = {
            [DN_IOU_NORMALIZER] = O_IOU_NORMALIZER, [DN_CLS_NORMALIZER] = O_CLS_NORMALIZER,
            [DN_OBJ_NORMALIZER] = O_OBJ_NORMALIZER, [DN_SCALE_X_Y] = O_SCALE_X_Y,
            [DN_IOU_THRESH] = O_IOU_THRESH,         [DN_LABEL_SMOOTH_EPS] = O_LABEL_SMOOTH_EPS,
            [DN_MAX_DELTA] = O_MAX_DELTA};
        static const int ints[DN_N_INTS] = {
            [DN_FOCAL_LOSS] = O_FOCAL_LOSS, [DN_NEW_COORDS] = O_NEW_COORDS,
            [DN_OBJECTNESS_SMOOTH] = O_OBJECTNESS_SMOOTH, [DN_SHOW_DETAILS] = O_SHOW_DETAILS,
            [DN_MAX_BOXES] = O_MAX_BOXES};
        give(g, O_IOU_LOSS, 0, d->iou_loss);
        give(g, O_IOU_THRESH_KIND, 0, d->iou_thresh_kind);
        for (int k = 0; k < DN_N_REALS; k++)
            give(g, reals[k], 0, d->ab_real[k]);
        for (int k = 0; k < DN_N_INTS; k++)
            give(g, ints[k], 0, d->ab_int[k]);
        if (d->counters)
            give(g, O_COUNTERS, 0, d->counters);
        return 0;
    }
    give(g, O_LAYER, 0, "region");
    give(g, O_MODE, 0, "darknet");
    const int lambdas[4] = {O_LCOORD, O_LCLASS, O_LOBJ, O_LNOOBJ};
    for (int k = 0; k < 4; k++)
        give(g, lambdas[k], 0, d->lambda[k]);
    give(g, O_THRESH, 0, d->thresh);
    if (!d->rescore)
        g->set[O_NO_RESCORE] = 1;
    if (d->logistic_classes)
        g->set[O_LOGISTIC] = 1;
    if (d->flavour == RL_FLAVOUR_ALEXEYAB) {
        give(g, O_CLASSFIX, 0, d->classfix);
        give(g, O_FOCAL_LOSS, 0, d->focal_loss);
    }
    o->cfg_classes = d->classes;
    return 0;
}

void cli_free(tool_opts *o)
{
    dncfg_free(&o->dn);
    free(o->yolo.counters);
    o->yolo.counters = NULL;
}

int cli_parse(int argc, char **argv, tool_opts *o)
{
    memset(o, 0, sizeof *o);
    o->rtol = 1e-5;
    o->atol = 1e-8;
    if (argc < 2)
        return usage_error("no command given");
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (strcmp(argv[1], commands[k].name) == 0)
            o->cmd = commands[k].cmd;
    if (o->cmd == CMD_NONE)
        return usage_error("unknown command '%s'", argv[1]);
    if (o->cmd == CMD_HELP || o->cmd == CMD_VERSION) {
        if (argc > 2)
            return usage_error("%s takes no arguments", argv[1]);
        return 0;
    }

    given g;
    memset(&g, 0, sizeof g);
    for (int a = 2; a < argc; a++) {
        const char *arg = argv[a], *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        int id = -1;
        for (int k = 0; k < O_COUNT; k++)
            if (strlen(opts[k].name) == name_len && strncmp(arg, opts[k].name, name_len) == 0)
                id = k;
        if (id < 0)
            return usage_error(strncmp(arg, "--", 2) == 0 ? "unknown option '%s'"
                                                          : "unexpected argument '%s'",
                               arg);
        if (!(opts[id].cmds & (1u << o->cmd)))
            return usage_error("option %s does not apply to '%s'", opts[id].name, argv[1]);
        if (id == O_HELP) {
            o->cmd = CMD_HELP;
            return 0;
        }
        /* A head's option may repeat (--layer yolo, checked once the layer is
         * known); any other is given once. */
        if (g.set[id] && !opts[id].per_head)
            return usage_error("option %s given twice", opts[id].name);
        if (g.set[id] == TOOL_MAX_HEADS)
            return usage_error("option %s given more than %d times: a network has at most %d "
                               "heads",
                               opts[id].name, TOOL_MAX_HEADS, TOOL_MAX_HEADS);
        const int nth = g.set[id]++;
        if (!opts[id].has_value) {
            if (eq)
                return usage_error("option %s takes no value", opts[id].name);
            continue;
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (a + 1 < argc) {
            value = argv[++a];
        } else {
            return usage_error("option %s needs a value", opts[id].name);
        }
        g.values[id][nth] = value;
        if (nth == 0)
            g.value[id] = value;
    }
    if (apply_darknet_cfg(&g, o))
        return EXIT_ERROR;
    const int yolo = g.set[O_LAYER] && strcmp(g.value[O_LAYER], "yolo") == 0;
    const char *missing = required_missing(&g, o->cmd, yolo);
    if (missing)
        return usage_error("'%s' needs %s", argv[1], missing);
    return build_config(&g, o);
}
