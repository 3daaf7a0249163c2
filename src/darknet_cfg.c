/* Darknet's cfg text to the library's configuration of one [yolo] or
 * [region] layer (include/regionloss_darknet.h, docs/darknet.md "From a cfg
 * file").  The CLI and the Python package both call this one parser.
 *
 * Every option of the chosen section is looked up in the tables below: an
 * option either sets a field of the configuration, is known not to change
 * the loss (ignored), or changes it in a way the library does not compute
 * (refused, with the reason).  An option in none of the tables is refused
 * too: darknet only warns about a key it does not read, and a key the
 * library silently skipped could be one that changes the loss.
 *
 * Which darknet reads a key also decides the flavour: a section with a key
 * only AlexeyAB's reads is written for AlexeyAB's darknet, which trains it
 * with its own defaults, so it is read as AlexeyAB's layer unless the
 * caller says otherwise. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regionloss_darknet.h"
#include "internal.h"

struct rl_darknet_cfg {
    int32_t type;  /* rl_darknet_type */
    int32_t layer;
    int32_t line;  /* the section header's */
    rl_config region;
    rl_yolo_config yolo;
    int32_t B;     /* [yolo]: the mask's length */
    float *anchors;
    int32_t *mask;
    int32_t *counters; /* [yolo]: counters_per_class, C counts, or NULL */
};

/* A stretch of the text: the cfg need not be NUL-terminated. */
typedef struct span {
    const char *p;
    size_t n;
} span;

typedef struct opt_line {
    int32_t line;
    span key, value;
} opt_line;

/* ---- the option tables ---------------------------------------------------- */

typedef enum action {
    A_DOUBLE,   /* a number in [lo, hi], stored as a double at `offset` */
    A_POSITIVE, /* a number in (0, hi], stored as a double at `offset` */
    A_INT,      /* an integer in [lo, hi], stored as an int32_t at `offset` */
    A_KIND,     /* a box-loss kind by darknet's name, kinds[lo..hi], stored as an int32_t */
    A_SPECIAL,  /* classes, num, anchors, mask, softmax, counters_per_class: in code */
    A_FIXED,    /* only the value lo is computed; `why` says what another does */
    A_IGNORED,  /* does not change the loss or its gradient */
    A_REFUSED   /* changes the loss in a way the library does not compute */
} action;

/* Which darknet reads a key, which decides the flavour of a section. */
typedef enum origin {
    K_BOTH,     /* both darknets' parsers, with one meaning */
    K_AB,       /* AlexeyAB's only: the section is written for AlexeyAB's darknet */
    K_AB_USED,  /* both parsers read it, only AlexeyAB's layer uses it (classfix):
                   AlexeyAB's when it is not 0 */
    K_AB_FIELD  /* both parsers read it; a field of the AlexeyAB flavour only (max, the
                   truths read per image): pjreddie's flavour leaves the truths to the
                   caller and ignores it */
} origin;

typedef struct key_def {
    const char *name;
    action act;
    size_t offset; /* A_DOUBLE, A_POSITIVE, A_INT, A_KIND: into rl_yolo_config or rl_config */
    double lo, hi;
    origin from;
    const char *why;
} key_def;

#define YF(f) offsetof(rl_yolo_config, f)
#define RF(f) offsetof(rl_config, f)

/* darknet's names of the box-loss kinds, indexed by rl_box_loss */
static const char *const kinds[] = {"mse", "iou", "giou", "diou", "ciou"};

/* [yolo]: the keys of both darknets' parse_yolo (pjreddie's and AlexeyAB's,
 * src/parser.c), with AlexeyAB's as the fields of its flavour
 * (RL_YOLO_FLAVOUR_ALEXEYAB), whose ranges are rl_yolo_plan_create's. */
static const key_def yolo_keys[] = {
    {"classes", A_SPECIAL, 0, 1, RL_MAX_CLASSES, K_BOTH, NULL},
    {"num", A_SPECIAL, 0, 1, INT32_MAX / 2, K_BOTH, NULL},
    {"anchors", A_SPECIAL, 0, 0, 0, K_BOTH, NULL},
    {"mask", A_SPECIAL, 0, 0, 0, K_BOTH, NULL},
    {"ignore_thresh", A_DOUBLE, YF(ignore_thresh), 0, 1, K_BOTH, NULL},
    {"truth_thresh", A_DOUBLE, YF(truth_thresh), 0, 1, K_BOTH, NULL},
    {"max", A_INT, YF(max_boxes), 1, INT32_MAX, K_AB_FIELD, NULL},
    {"iou_loss", A_KIND, YF(iou_loss), RL_BOX_MSE, RL_BOX_CIOU, K_AB, NULL},
    {"iou_thresh_kind", A_KIND, YF(iou_thresh_kind), RL_BOX_IOU, RL_BOX_CIOU, K_AB, NULL},
    {"iou_normalizer", A_DOUBLE, YF(iou_normalizer), 0, RL_LAMBDA_MAX, K_AB, NULL},
    {"cls_normalizer", A_DOUBLE, YF(cls_normalizer), 0, RL_LAMBDA_MAX, K_AB, NULL},
    {"obj_normalizer", A_DOUBLE, YF(obj_normalizer), 0, RL_LAMBDA_MAX, K_AB, NULL},
    {"scale_x_y", A_POSITIVE, YF(scale_x_y), 0, 1e6, K_AB, NULL},
    {"iou_thresh", A_DOUBLE, YF(iou_thresh), 0, 1, K_AB, NULL},
    {"label_smooth_eps", A_DOUBLE, YF(label_smooth_eps), 0, 1, K_AB, NULL},
    {"max_delta", A_POSITIVE, YF(max_delta), 0, DBL_MAX, K_AB, NULL},
    {"focal_loss", A_INT, YF(focal_loss), 0, 1, K_AB, NULL},
    {"new_coords", A_INT, YF(new_coords), 0, 1, K_AB, NULL},
    {"objectness_smooth", A_INT, YF(objectness_smooth), 0, 1, K_AB, NULL},
    {"show_details", A_INT, YF(show_details), 0, 1, K_AB, NULL},
    {"counters_per_class", A_SPECIAL, 0, 0, 0, K_AB, NULL},
    {"delta_normalizer", A_FIXED, 0, 1, 0, K_AB,
     "AlexeyAB's GPU build scales the delta it passes back by it"},
    {"map", A_REFUSED, 0, 0, 0, K_BOTH, "a class map file is not supported"},
    {"embedding_layer", A_REFUSED, 0, 0, 0, K_AB,
     "AlexeyAB's tracking embeddings add a loss the library does not compute"},
    /* darknet's detection, tracking and data options */
    {"jitter", A_IGNORED, 0, 0, 0, K_BOTH, NULL},
    {"random", A_IGNORED, 0, 0, 0, K_BOTH, NULL},
    {"resize", A_IGNORED, 0, 0, 0, K_AB, NULL},
    {"nms_kind", A_IGNORED, 0, 0, 0, K_AB, NULL},
    {"beta_nms", A_IGNORED, 0, 0, 0, K_AB, NULL},
    {"track_history_size", A_IGNORED, 0, 0, 0, K_AB, NULL},
    {"sim_thresh", A_IGNORED, 0, 0, 0, K_AB, NULL},
    {"dets_for_track", A_IGNORED, 0, 0, 0, K_AB, NULL},
    {"dets_for_show", A_IGNORED, 0, 0, 0, K_AB, NULL},
    {"track_ciou_norm", A_IGNORED, 0, 0, 0, K_AB, NULL},
};

/* [region]: both darknets' parse_region, AlexeyAB's classfix and
 * focal_loss the fields of rl_config's flavour RL_FLAVOUR_ALEXEYAB. */
static const key_def region_keys[] = {
    {"classes", A_SPECIAL, 0, 1, RL_MAX_CLASSES, K_BOTH, NULL},
    {"num", A_SPECIAL, 0, 1, INT32_MAX / 2, K_BOTH, NULL},
    {"anchors", A_SPECIAL, 0, 0, 0, K_BOTH, NULL},
    {"softmax", A_SPECIAL, 0, 0, 1, K_BOTH, NULL},
    {"coord_scale", A_DOUBLE, RF(lambda_coord), 0, RL_LAMBDA_MAX, K_BOTH, NULL},
    {"class_scale", A_DOUBLE, RF(lambda_class), 0, RL_LAMBDA_MAX, K_BOTH, NULL},
    {"object_scale", A_DOUBLE, RF(lambda_obj), 0, RL_LAMBDA_MAX, K_BOTH, NULL},
    {"noobject_scale", A_DOUBLE, RF(lambda_noobj), 0, RL_LAMBDA_MAX, K_BOTH, NULL},
    {"thresh", A_DOUBLE, RF(thresh), 0, 1, K_BOTH, NULL},
    {"rescore", A_INT, RF(rescore), 0, 1, K_BOTH, NULL},
    {"classfix", A_INT, RF(classfix), -1, 2, K_AB_USED, NULL},
    {"focal_loss", A_INT, RF(focal_loss), 0, 1, K_AB, NULL},
    {"coords", A_FIXED, 0, 4, 0, K_BOTH, "the library's boxes have 4 coordinates"},
    {"bias_match", A_FIXED, 0, 1, 0, K_BOTH,
     "with 0 darknet picks the responsible anchor by the predicted boxes' shapes, not the "
     "anchors'"},
    {"background", A_FIXED, 0, 0, 0, K_BOTH, "a background class is not supported"},
    {"tree", A_REFUSED, 0, 0, 0, K_BOTH, "a softmax tree (YOLO9000) is not supported"},
    {"map", A_REFUSED, 0, 0, 0, K_BOTH, "a class map file is not supported"},
    /* read by darknet, not by its region loss */
    {"max", A_IGNORED, 0, 0, 0, K_BOTH, NULL},
    {"jitter", A_IGNORED, 0, 0, 0, K_BOTH, NULL},
    {"random", A_IGNORED, 0, 0, 0, K_BOTH, NULL},
    {"resize", A_IGNORED, 0, 0, 0, K_AB, NULL},
    {"absolute", A_IGNORED, 0, 0, 0, K_BOTH, NULL},
    {"log", A_IGNORED, 0, 0, 0, K_BOTH, NULL},
    {"sqrt", A_IGNORED, 0, 0, 0, K_BOTH, NULL},
    {"mask_scale", A_IGNORED, 0, 0, 0, K_BOTH, NULL},
};

#define N_KEYS(t) (sizeof(t) / sizeof((t)[0]))

/* ---- text ------------------------------------------------------------------- */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static span trim(span s)
{
    while (s.n && is_space(*s.p)) {
        s.p++;
        s.n--;
    }
    while (s.n && is_space(s.p[s.n - 1]))
        s.n--;
    return s;
}

static int span_is(span s, const char *word)
{
    return s.n == strlen(word) && memcmp(s.p, word, s.n) == 0;
}

/* A value for a message: at most 60 characters, then "...". */
#define SHOW(s) (int)((s).n > 60 ? 60 : (s).n), (s).p, (s).n > 60 ? "..." : ""

/* The error of an option: "line L: key = value: why". */
static rl_status opt_fail(const opt_line *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static rl_status opt_fail(const opt_line *o, const char *fmt, ...)
{
    char why[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return rl_fail(RL_ERR_BAD_ARGUMENT, "line %d: %.*s%s = %.*s%s: %s", (int)o->line,
                   SHOW(o->key), SHOW(o->value), why);
}

/* A number: the whole of s (strtod's syntax), finite.  0, or -1. */
static int to_double(span s, double *out)
{
    char buf[64];
    if (s.n == 0 || s.n >= sizeof buf)
        return -1;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + s.n || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* An integer written as one (no fraction, no exponent), in [lo, hi]. */
static int to_int(span s, int64_t lo, int64_t hi, int64_t *out)
{
    char buf[32];
    if (s.n == 0 || s.n >= sizeof buf)
        return -1;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (end != buf + s.n || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* The comma-separated values of a list (darknet's anchors= and mask=):
 * element k of o's value, trimmed.  Returns the count. */
static int32_t list_count(span v)
{
    int32_t n = 1;
    for (size_t k = 0; k < v.n; k++)
        n += v.p[k] == ',';
    return n;
}

static span list_item(span v, int32_t k)
{
    size_t start = 0;
    for (int32_t seen = 0; seen < k; start++)
        if (v.p[start] == ',')
            seen++;
    size_t end = start;
    while (end < v.n && v.p[end] != ',')
        end++;
    return trim((span){v.p + start, end - start});
}

/* ---- the file ------------------------------------------------------------- */

/* What the scan of the text keeps: the chosen section and [net]'s size. */
typedef struct scan {
    span type;      /* the chosen layer's section name, "yolo" */
    int32_t line;   /* its header's line */
    int32_t n_layers;
    opt_line *opts; /* the chosen section's options, in file order */
    int32_t n_opts, cap;
    opt_line net_w, net_h; /* line 0 when absent */
    int32_t net_line;
    char loss_layers[160]; /* "82 [yolo], 94 [yolo], ...": for a wrong section number */
    size_t loss_len;
} scan;

static int is_loss_type(span t)
{
    return span_is(t, "yolo") || span_is(t, "region") || span_is(t, "Gaussian_yolo");
}

static rl_status add_opt(scan *s, const opt_line *o)
{
    if (s->n_opts == s->cap) {
        int32_t cap = s->cap ? 2 * s->cap : 32;
        opt_line *p = realloc(s->opts, (size_t)cap * sizeof *p);
        if (!p)
            return rl_fail(RL_ERR_NO_MEMORY, "darknet cfg: out of memory");
        s->opts = p;
        s->cap = cap;
    }
    s->opts[s->n_opts++] = *o;
    return RL_OK;
}

static void note_loss_layer(scan *s, int32_t layer, span type)
{
    if (s->loss_len + 40 >= sizeof s->loss_layers) {
        if (s->loss_len + 5 < sizeof s->loss_layers && !strstr(s->loss_layers, "..."))
            s->loss_len += (size_t)snprintf(s->loss_layers + s->loss_len,
                                            sizeof s->loss_layers - s->loss_len, ", ...");
        return;
    }
    s->loss_len += (size_t)snprintf(s->loss_layers + s->loss_len,
                                    sizeof s->loss_layers - s->loss_len, "%s%d [%.*s]",
                                    s->loss_len ? ", " : "", (int)layer, (int)type.n, type.p);
}

/* Reads every line: darknet's syntax is checked throughout (a line that is
 * neither a header, nor key=value, nor a comment is an error in darknet
 * too); the options of layer `layer` and [net]'s width and height kept. */
static rl_status scan_text(const char *text, size_t len, int32_t layer, scan *s)
{
    int32_t section = -2; /* -2: before any; -1: [net]; k >= 0: layer k */
    int32_t line = 0;
    for (size_t at = 0; at < len;) {
        size_t end = at;
        while (end < len && text[end] != '\n')
            end++;
        if (line == INT32_MAX)
            return rl_fail(RL_ERR_BAD_ARGUMENT, "line %d: too many lines for a cfg", (int)line);
        line++;
        span l = {text + at, end - at};
        at = end + 1;
        if (memchr(l.p, '\0', l.n))
            return rl_fail(RL_ERR_BAD_ARGUMENT, "line %d: a NUL byte: not a cfg text",
                           (int)line);
        for (size_t k = 0; k < l.n; k++)
            if (l.p[k] == '#' || l.p[k] == ';') {
                l.n = k; /* a comment runs to the end of the line */
                break;
            }
        l = trim(l);
        if (l.n == 0)
            continue;
        if (l.p[0] == '[') {
            if (l.p[l.n - 1] != ']')
                return rl_fail(RL_ERR_BAD_ARGUMENT,
                               "line %d: '%.*s%s': a section header is [name] alone on its "
                               "line",
                               (int)line, SHOW(l));
            span type = trim((span){l.p + 1, l.n - 2});
            if (section == -2) {
                if (!span_is(type, "net") && !span_is(type, "network"))
                    return rl_fail(RL_ERR_BAD_ARGUMENT,
                                   "line %d: the first section is [%.*s%s]; a darknet cfg "
                                   "starts with [net]",
                                   (int)line, SHOW(type));
                section = -1;
                s->net_line = line;
                continue;
            }
            section++;
            if (is_loss_type(type))
                note_loss_layer(s, section, type);
            if (section == layer) {
                s->type = type;
                s->line = line;
            }
            continue;
        }
        const char *eq = memchr(l.p, '=', l.n);
        if (!eq)
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "line %d: '%.*s%s' is neither a [section] header nor key=value",
                           (int)line, SHOW(l));
        opt_line o = {line, trim((span){l.p, (size_t)(eq - l.p)}),
                      trim((span){eq + 1, l.n - (size_t)(eq - l.p) - 1})};
        if (o.key.n == 0)
            return rl_fail(RL_ERR_BAD_ARGUMENT, "line %d: '%.*s%s': no key before '='",
                           (int)line, SHOW(l));
        if (section == -2)
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "line %d: %.*s%s = ...: an option before the first section "
                           "([net])",
                           (int)line, SHOW(o.key));
        if (section == -1) {
            opt_line *dst = span_is(o.key, "width") ? &s->net_w
                            : span_is(o.key, "height") ? &s->net_h
                                                       : NULL;
            if (dst && dst->line)
                return opt_fail(&o, "[net] sets %.*s again (first on line %d)", (int)o.key.n,
                                o.key.p, (int)dst->line);
            if (dst)
                *dst = o;
        } else if (section == layer) {
            rl_status st = add_opt(s, &o);
            if (st != RL_OK)
                return st;
        }
    }
    s->n_layers = section + 1;
    if (section == -2)
        return rl_fail(RL_ERR_BAD_ARGUMENT, "no section: a darknet cfg starts with [net]");
    return RL_OK;
}

/* ---- one section --------------------------------------------------------- */

/* What a section's special options gave, before they are checked
 * against each other. */
typedef struct specials {
    const opt_line *classes, *num, *anchors, *mask, *counters, *focal_loss;
} specials;

static const key_def *find_key(const key_def *t, size_t n, span key)
{
    for (size_t k = 0; k < n; k++)
        if (span_is(key, t[k].name))
            return &t[k];
    return NULL;
}

/* The section's layer as a message names it. */
static const char *layer_name(const rl_darknet_cfg *c)
{
    return c->type == RL_DARKNET_YOLO ? "[yolo]" : "[region]";
}

/* An option a section carries makes it AlexeyAB's: a key only AlexeyAB's
 * darknet reads, or classfix not 0 (pjreddie's parser reads it, but only
 * AlexeyAB's layer acts on it). */
static int is_alexeyab(const key_def *d, const opt_line *o)
{
    int64_t v = 0;
    if (d->from == K_AB_USED)
        return to_int(o->value, INT32_MIN, INT32_MAX, &v) || v != 0;
    return d->from == K_AB;
}

static rl_status apply_option(rl_darknet_cfg *c, int alexeyab, const key_def *d,
                              const opt_line *o, specials *sp)
{
    const int yolo = c->type == RL_DARKNET_YOLO;
    char *base = yolo ? (char *)&c->yolo : (char *)&c->region;
    double v = 0;
    int64_t iv = 0;
    if (d->from == K_AB_FIELD && !alexeyab)
        return RL_OK; /* pjreddie's flavour has no such field: the truths are the caller's */
    switch (d->act) {
    case A_IGNORED:
        return RL_OK;
    case A_REFUSED:
        return opt_fail(o, "not supported: %s", d->why);
    case A_FIXED:
        if (to_double(o->value, &v) || v != d->lo)
            return opt_fail(o, "only %s = %g is supported: %s", d->name, d->lo, d->why);
        return RL_OK;
    case A_DOUBLE:
    case A_POSITIVE:
        if (to_double(o->value, &v))
            return opt_fail(o, "not a number");
        if (d->act == A_DOUBLE && !(v >= d->lo && v <= d->hi))
            return opt_fail(o, "not in [%g, %g]", d->lo, d->hi);
        if (d->act == A_POSITIVE && !(v > 0 && v <= d->hi))
            return d->hi == DBL_MAX ? opt_fail(o, "not positive")
                                    : opt_fail(o, "not in (0, %g]", d->hi);
        memcpy(base + d->offset, &v, sizeof v);
        return RL_OK;
    case A_INT:
        if (to_int(o->value, (int64_t)d->lo, (int64_t)d->hi, &iv))
            return opt_fail(o, "not an integer in [%lld, %lld]", (long long)d->lo,
                            (long long)d->hi);
        int32_t i32 = (int32_t)iv;
        memcpy(base + d->offset, &i32, sizeof i32);
        if (strcmp(d->name, "focal_loss") == 0)
            sp->focal_loss = o;
        return RL_OK;
    case A_KIND:
        for (int32_t k = (int32_t)d->lo; k <= (int32_t)d->hi; k++)
            if (span_is(o->value, kinds[k])) {
                memcpy(base + d->offset, &k, sizeof k);
                return RL_OK;
            }
        /* darknet compares the exact, lower-case word and takes any other
         * value for iou: a typo would change the loss unseen */
        return opt_fail(o, "not %s (darknet would read it as iou)",
                        d->lo == RL_BOX_MSE ? "mse, iou, giou, diou or ciou"
                                            : "iou, giou, diou or ciou");
    case A_SPECIAL:
        break;
    }
    if (strcmp(d->name, "softmax") == 0) {
        if (to_int(o->value, 0, 1, &iv))
            return opt_fail(o, "softmax is 0 or 1");
        c->region.logistic_classes = !iv;
        return RL_OK;
    }
    if (strcmp(d->name, "classes") == 0 || strcmp(d->name, "num") == 0) {
        if (to_int(o->value, (int64_t)d->lo, (int64_t)d->hi, &iv))
            return opt_fail(o, "not an integer in [%lld, %lld]", (long long)d->lo,
                            (long long)d->hi);
        if (d->name[0] == 'c')
            sp->classes = o;
        else
            sp->num = o;
        return RL_OK;
    }
    if (strcmp(d->name, "anchors") == 0)
        sp->anchors = o;
    else if (strcmp(d->name, "mask") == 0)
        sp->mask = o;
    else
        sp->counters = o;
    return RL_OK;
}

/* counters_per_class: one count per class, as AlexeyAB's parser wants
 * (parse_yolo_mask, then "doesn't match with classes" otherwise); a count
 * below 1 is darknet's 1 (the library takes it so), a negative one is
 * refused rather than raised. */
static rl_status read_counters(rl_darknet_cfg *c, const opt_line *o, int64_t classes,
                               const char *classes_origin)
{
    const int32_t n = list_count(o->value);
    if (n != classes)
        return opt_fail(o, "%d counts; classes = %lld%s: one count per class", (int)n,
                        (long long)classes, classes_origin);
    c->counters = malloc((size_t)n * sizeof *c->counters);
    if (!c->counters)
        return rl_fail(RL_ERR_NO_MEMORY, "darknet cfg: out of memory");
    for (int32_t k = 0; k < n; k++) {
        span item = list_item(o->value, k);
        int64_t v = 0;
        if (to_int(item, 0, INT32_MAX, &v))
            return opt_fail(o, "value %d, '%.*s%s', is not a count (an integer >= 0)",
                            (int)k + 1, SHOW(item));
        c->counters[k] = (int32_t)v;
    }
    c->yolo.counters_per_class = c->counters;
    return RL_OK;
}

/* num, anchors and mask against each other, into the object. */
static rl_status resolve(rl_darknet_cfg *c, const specials *sp, const scan *s)
{
    const int yolo = c->type == RL_DARKNET_YOLO;
    const char *layer = yolo ? "[yolo]" : "[region]";
    int64_t classes = 20, num = 1; /* darknet's defaults */
    if (sp->classes)
        to_int(sp->classes->value, 1, RL_MAX_CLASSES, &classes);
    if (sp->num)
        to_int(sp->num->value, 1, INT32_MAX / 2, &num);
    const char *num_origin = sp->num ? "" : " (darknet's default: the section has no num=)";
    if (!sp->anchors)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "line %d: the %s section (layer %d) has no anchors= line (darknet "
                       "would make every anchor 0.5 x 0.5)",
                       (int)c->line, layer, (int)c->layer);
    const opt_line *a = sp->anchors;
    const int32_t n_values = list_count(a->value);
    if (n_values != 2 * num)
        return opt_fail(a, "%d values; num = %lld%s anchors take %lld (w,h pairs)",
                        (int)n_values, (long long)num, num_origin, 2 * (long long)num);
    c->anchors = malloc((size_t)n_values * sizeof *c->anchors);
    if (!c->anchors)
        return rl_fail(RL_ERR_NO_MEMORY, "darknet cfg: out of memory");
    for (int32_t k = 0; k < n_values; k++) {
        span item = list_item(a->value, k);
        double v = 0;
        if (to_double(item, &v))
            return opt_fail(a, "value %d, '%.*s%s', is not a number", (int)k + 1, SHOW(item));
        if (!(v > 0) || (float)v > FLT_MAX)
            return opt_fail(a, "value %d, %.*s%s, is not a positive anchor size", (int)k + 1,
                            SHOW(item));
        c->anchors[k] = (float)v;
    }
    if (!yolo) {
        c->region.B = (int32_t)num;
        c->region.C = (int32_t)classes;
        c->region.anchors = c->anchors;
        /* AlexeyAB's focal term takes the log of the class output, which
         * its softmax=0 leaves unactivated: darknet would compute NaN */
        if (c->region.focal_loss && c->region.logistic_classes)
            return opt_fail(sp->focal_loss,
                            "AlexeyAB's focal loss needs softmax=1 (with softmax=0 its log "
                            "is taken of the raw class output)");
        return RL_OK;
    }
    if (sp->counters) {
        rl_status st = read_counters(c, sp->counters, classes,
                                     sp->classes ? "" : " (darknet's default: the section "
                                                        "has no classes=)");
        if (st != RL_OK)
            return st;
    }
    int32_t B = (int32_t)num;
    if (sp->mask)
        B = list_count(sp->mask->value);
    c->mask = malloc((size_t)B * sizeof *c->mask);
    if (!c->mask)
        return rl_fail(RL_ERR_NO_MEMORY, "darknet cfg: out of memory");
    for (int32_t b = 0; b < B; b++) {
        if (!sp->mask) {
            c->mask[b] = b; /* darknet: every anchor, in order */
            continue;
        }
        span item = list_item(sp->mask->value, b);
        int64_t m = 0;
        if (to_int(item, INT32_MIN, INT32_MAX, &m))
            return opt_fail(sp->mask, "value %d, '%.*s%s', is not an integer", (int)b + 1,
                            SHOW(item));
        if (m < 0 || m >= num)
            return opt_fail(sp->mask, "%lld is not an anchor index: num = %lld%s, so 0 to %lld",
                            (long long)m, (long long)num, num_origin, (long long)num - 1);
        for (int32_t e = 0; e < b; e++)
            if (c->mask[e] == m)
                return opt_fail(sp->mask, "%lld appears twice: a layer's anchors are distinct",
                                (long long)m);
        c->mask[b] = (int32_t)m;
    }
    c->B = B;
    c->yolo.C = (int32_t)classes;
    c->yolo.n_anchors = (int32_t)num;
    c->yolo.anchors = c->anchors;
    /* The network's input size, which a [yolo] layer's anchors are
     * relative to. */
    const opt_line *wh[2] = {&s->net_w, &s->net_h};
    int32_t *dst[2] = {&c->yolo.net_w, &c->yolo.net_h};
    for (int k = 0; k < 2; k++) {
        if (!wh[k]->line)
            return rl_fail(RL_ERR_BAD_ARGUMENT,
                           "line %d: [net] has no %s= line; a [yolo] layer's anchors are "
                           "pixels of the network's input",
                           (int)s->net_line, k ? "height" : "width");
        int64_t v = 0;
        if (to_int(wh[k]->value, 1, INT32_MAX, &v))
            return opt_fail(wh[k], "not a positive integer (pixels)");
        *dst[k] = (int32_t)v;
    }
    return RL_OK;
}

/* The options of the section, in file order: each known, none twice; and
 * whether one of them makes the section AlexeyAB's.  An explicit flavour
 * pjreddie with such an option is an error at that option. */
_Static_assert((int)RL_FLAVOUR_PJREDDIE == (int)RL_YOLO_FLAVOUR_PJREDDIE &&
                   (int)RL_FLAVOUR_ALEXEYAB == (int)RL_YOLO_FLAVOUR_ALEXEYAB,
               "one flavour argument serves both layers");

static rl_status check_keys(const rl_darknet_cfg *c, const scan *s, int32_t flavour,
                            int *alexeyab)
{
    const int yolo = c->type == RL_DARKNET_YOLO;
    const key_def *table = yolo ? yolo_keys : region_keys;
    const size_t n_table = yolo ? N_KEYS(yolo_keys) : N_KEYS(region_keys);
    *alexeyab = flavour == RL_FLAVOUR_ALEXEYAB;
    for (int32_t k = 0; k < s->n_opts; k++) {
        const opt_line *o = &s->opts[k];
        for (int32_t e = 0; e < k; e++)
            if (o->key.n == s->opts[e].key.n && memcmp(o->key.p, s->opts[e].key.p, o->key.n) == 0)
                return opt_fail(o, "%.*s is set again (first on line %d; darknet reads only "
                                   "the first)",
                                (int)o->key.n, o->key.p, (int)s->opts[e].line);
        const key_def *d = find_key(table, n_table, o->key);
        if (!d)
            return opt_fail(o, "not an option of %s that this library knows (an unknown "
                               "option could change the loss, so it is refused, not ignored; "
                               "docs/darknet.md lists them)",
                            layer_name(c));
        if (!is_alexeyab(d, o))
            continue;
        if (flavour == RL_FLAVOUR_PJREDDIE)
            return opt_fail(o,
                            "%s AlexeyAB's %s layer%s, and the section is read as pjreddie's "
                            "(flavour pjreddie was asked for): remove the line, or read the "
                            "section with flavour alexeyab",
                            d->from == K_AB_USED ? "acted on only by" : "an option of",
                            layer_name(c),
                            d->from == K_AB_USED ? " (pjreddie's reads it and ignores it)" : "");
        *alexeyab = 1;
    }
    return RL_OK;
}

static rl_status build(rl_darknet_cfg *c, const scan *s, int32_t flavour)
{
    const int yolo = c->type == RL_DARKNET_YOLO;
    const key_def *table = yolo ? yolo_keys : region_keys;
    const size_t n_table = yolo ? N_KEYS(yolo_keys) : N_KEYS(region_keys);
    int alexeyab = 0;
    rl_status st = check_keys(c, s, flavour, &alexeyab);
    if (st != RL_OK)
        return st;
    /* darknet's defaults, for a section without them; AlexeyAB's [yolo]
     * options start at its parse_yolo's defaults, which are
     * rl_yolo_config_init's */
    if (yolo) {
        rl_yolo_config_init(&c->yolo);
        c->yolo.ignore_thresh = 0.5;
        c->yolo.truth_thresh = 1.0;
        c->yolo.flavour = alexeyab ? RL_YOLO_FLAVOUR_ALEXEYAB : RL_YOLO_FLAVOUR_PJREDDIE;
    } else {
        rl_config_init_darknet(&c->region);
        c->region.lambda_coord = c->region.lambda_class = 1.0;
        c->region.lambda_obj = c->region.lambda_noobj = 1.0;
        c->region.thresh = 0.5;
        c->region.rescore = 0;
        c->region.logistic_classes = 1; /* softmax=0 */
        c->region.flavour = alexeyab ? RL_FLAVOUR_ALEXEYAB : RL_FLAVOUR_PJREDDIE;
    }
    specials sp;
    memset(&sp, 0, sizeof sp);
    int bias_match = 0;
    for (int32_t k = 0; k < s->n_opts; k++) {
        const opt_line *o = &s->opts[k];
        const key_def *d = find_key(table, n_table, o->key);
        st = apply_option(c, alexeyab, d, o, &sp);
        if (st != RL_OK)
            return st;
        bias_match |= !yolo && strcmp(d->name, "bias_match") == 0;
    }
    if (!yolo && !bias_match)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "line %d: the [region] section (layer %d) has no bias_match=1: darknet's "
                       "default, 0, picks the responsible anchor by the predicted boxes' "
                       "shapes, which the library does not compute; add bias_match=1",
                       (int)c->line, (int)c->layer);
    return resolve(c, &sp, s);
}

rl_status rl_darknet_cfg_parse(const char *text, size_t len, int32_t layer,
                               rl_darknet_cfg **out)
{
    return rl_darknet_cfg_parse_flavour(text, len, layer, RL_DARKNET_CFG_AUTO, out);
}

rl_status rl_darknet_cfg_parse_flavour(const char *text, size_t len, int32_t layer,
                                       int32_t flavour, rl_darknet_cfg **out)
{
    if (!text || !out)
        return rl_fail(RL_ERR_NULL_POINTER, "rl_darknet_cfg_parse: %s is NULL",
                       text ? "out" : "text");
    if (flavour != RL_DARKNET_CFG_AUTO && flavour != RL_FLAVOUR_PJREDDIE &&
        flavour != RL_FLAVOUR_ALEXEYAB)
        return rl_fail(RL_ERR_BAD_ENUM,
                       "rl_darknet_cfg_parse_flavour: flavour = %d is not "
                       "RL_DARKNET_CFG_AUTO (-1), pjreddie (0) or alexeyab (1)",
                       (int)flavour);
    if (layer < 0)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "section %d: darknet's layers are numbered from 0 (the first section "
                       "after [net])",
                       (int)layer);
    scan s;
    memset(&s, 0, sizeof s);
    rl_status st = scan_text(text, len, layer, &s);
    if (st == RL_OK && layer >= s.n_layers)
        st = rl_fail(RL_ERR_BAD_ARGUMENT,
                     "section %d: the cfg has %d layers (0 to %d); its loss layers: %s",
                     (int)layer, (int)s.n_layers, (int)s.n_layers - 1,
                     s.loss_len ? s.loss_layers : "none");
    int32_t type = -1;
    if (st == RL_OK) {
        if (span_is(s.type, "yolo")) {
            type = RL_DARKNET_YOLO;
        } else if (span_is(s.type, "region")) {
            type = RL_DARKNET_REGION;
        } else if (span_is(s.type, "Gaussian_yolo")) {
            st = rl_fail(RL_ERR_BAD_ARGUMENT,
                         "line %d: section %d is a [Gaussian_yolo] layer: Gaussian YOLOv3's "
                         "loss (boxes with variances) is not supported, only [yolo] and "
                         "[region]",
                         (int)s.line, (int)layer);
        } else {
            st = rl_fail(RL_ERR_BAD_ARGUMENT,
                         "line %d: section %d is a [%.*s%s] layer, not a [yolo] or [region] "
                         "one; the loss layers of this cfg: %s",
                         (int)s.line, (int)layer, SHOW(s.type),
                         s.loss_len ? s.loss_layers : "none");
        }
    }
    rl_darknet_cfg *c = NULL;
    if (st == RL_OK && !(c = calloc(1, sizeof *c)))
        st = rl_fail(RL_ERR_NO_MEMORY, "darknet cfg: out of memory");
    if (st == RL_OK) {
        c->type = type;
        c->layer = layer;
        c->line = s.line;
        st = build(c, &s, flavour);
    }
    free(s.opts);
    if (st != RL_OK) {
        rl_darknet_cfg_destroy(c);
        return st;
    }
    rl_clear_error();
    *out = c;
    return RL_OK;
}

void rl_darknet_cfg_destroy(rl_darknet_cfg *c)
{
    if (!c)
        return;
    free(c->anchors);
    free(c->mask);
    free(c->counters);
    free(c);
}

int32_t rl_darknet_cfg_type(const rl_darknet_cfg *c) { return c ? c->type : -1; }

int32_t rl_darknet_cfg_line(const rl_darknet_cfg *c) { return c ? c->line : 0; }

rl_status rl_darknet_cfg_region(const rl_darknet_cfg *c, rl_config *out)
{
    if (!c || !out)
        return rl_fail(RL_ERR_NULL_POINTER, "rl_darknet_cfg_region: %s is NULL",
                       c ? "out" : "cfg");
    if (c->type != RL_DARKNET_REGION)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "layer %d (line %d) is a [yolo] layer: rl_darknet_cfg_yolo reads it",
                       (int)c->layer, (int)c->line);
    *out = c->region;
    rl_clear_error();
    return RL_OK;
}

rl_status rl_darknet_cfg_yolo(const rl_darknet_cfg *c, rl_yolo_config *out, rl_yolo_head *head)
{
    if (!c || !out || !head)
        return rl_fail(RL_ERR_NULL_POINTER, "rl_darknet_cfg_yolo: %s is NULL",
                       !c ? "cfg" : !out ? "out" : "head");
    if (c->type != RL_DARKNET_YOLO)
        return rl_fail(RL_ERR_BAD_ARGUMENT,
                       "layer %d (line %d) is a [region] layer: rl_darknet_cfg_region reads it",
                       (int)c->layer, (int)c->line);
    *out = c->yolo;
    head->H = head->W = 0;
    head->B = c->B;
    head->mask = c->mask;
    out->heads = head;
    out->n_heads = 1;
    rl_clear_error();
    return RL_OK;
}
