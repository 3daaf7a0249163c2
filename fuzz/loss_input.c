/* The decoder of loss_input.h.  Each value is drawn from a code byte so that
 * most inputs are valid (and reach the arithmetic) while every invalid
 * value the API promises to reject is a single byte flip away.  Alongside,
 * it records which statuses the library may answer, from the rules of
 * docs/loss.md ("What every call keeps") and issue 2 point 4, not from the
 * library's code. */
#include "loss_input.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "elem.h"
#include "input_codes.h"

void loss_expect_fail(loss_expect *e, rl_status st, const char *fmt, ...)
{
    if (!e->must_fail || e->why[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->why, sizeof e->why, fmt, ap);
        va_end(ap);
    }
    e->must_fail = true;
    for (int k = 0; k < e->n_allowed; k++)
        if (e->allowed[k] == st)
            return;
    if (e->n_allowed < (int)(sizeof e->allowed / sizeof e->allowed[0]))
        e->allowed[e->n_allowed++] = st;
}

/* A failure that is acceptable but not required. */
void expect_allow(loss_expect *e, rl_status st)
{
    for (int k = 0; k < e->n_allowed; k++)
        if (e->allowed[k] == st)
            return;
    if (e->n_allowed < (int)(sizeof e->allowed / sizeof e->allowed[0]))
        e->allowed[e->n_allowed++] = st;
}

/* Size codes.  The "above the bounds" values are valid sizes the harness
 * does not allocate for (it only creates the plan); B's stay small enough
 * that 2*B anchors can be handed over, since the library reads them all. */
int32_t size_code(uint8_t b, int32_t bound, bool is_b)
{
    static const int32_t bad[8] = {0, -1, -2, -9, -1000, INT32_MIN, 0, -65536};
    static const int32_t big[8] = {17, 32, 100, RL_MAX_CLASSES + 1, 46341, 65536,
                                   RL_MAX_CLASSES, INT32_MAX};
    static const int32_t big_b[8] = {10, 16, 17, 32, 64, 100, 255, 1000};
    if (b < 0xF0)
        return 1 + (int32_t)(b % (uint8_t)bound);
    if (b < 0xF8)
        return bad[b & 7];
    return is_b ? big_b[b & 7] : (big[b & 7] > bound ? big[b & 7] : bound + 1);
}

/* Loss weights (and the warm-up scale). */
double lambda_code(fuzz_bytes *in)
{
    static const double common[16] = {1, 0, 5, 0.5, 2, 0.1, 10, 1e-3,
                                      100, 3, 0.25, 1e6, 7.5, 1.5, 0.9, 4};
    /* Far past RL_LAMBDA_MAX, and down to the smallest denormal (valid).
     * The seeds reach RL_LAMBDA_MAX itself and the next double through raw
     * bits.  Committed regressions depend on these tables: extend, never
     * reorder. */
    static const double special[16] = {-1, -0.0, NAN, INFINITY, -INFINITY, DBL_MAX, DBL_MIN,
                                       1e300, -1e-300, 4.9e-324, 1e-300, 1e30, -DBL_MAX,
                                       1e-30, 3.4e38, 1e150};
    uint8_t s = fb_u8(in);
    if (s < 0xE0)
        return common[s & 15];
    if (s < 0xF0)
        return special[s & 15];
    return fb_f64_bits(in);
}

double thresh_code(fuzz_bytes *in)
{
    static const double common[8] = {0.6, 0.5, 0.0, 1.0, 0.3, 0.7, 0.9, 0.1};
    static const double special[16] = {-0.0, -1e-300, 1.0000000000000002, NAN, INFINITY,
                                       -INFINITY, 2, -1, 0.59999999999999998, 4.9e-324,
                                       0.99999999999999989, 0.6000000000000001, 1e-300,
                                       /* either side of the sparse mask path's bound */
                                       0.5000001, 0.50000000000000011, 1.5};
    uint8_t s = fb_u8(in);
    if (s < 0xC0)
        return common[s & 7];
    if (s < 0xE0)
        return (s - 0xC0) / 31.0; /* 0, 1/31, ..., 1: both ends included */
    if (s < 0xF0)
        return special[s & 15];
    return fb_f64_bits(in);
}

float anchor_code(fuzz_bytes *in)
{
    static const float extreme[16] = {1, 1, 1e-30f, 1e30f, FLT_MIN, 1e-45f, FLT_MAX, 3e38f,
                                      1e-3f, 1e3f, 0.5f, 2, 13, 19, 1e-10f, 1e10f};
    static const float bad[16] = {0, -0.0f, -1, NAN, INFINITY, -INFINITY, -FLT_MIN, -1e-45f,
                                  -FLT_MAX, -NAN, 0, -0.5f, NAN, INFINITY, 0, -3};
    uint8_t s = fb_u8(in);
    if (s < 0xC0)
        return 0.25f * (float)(1 + s % 48); /* 0.25 .. 12, repeats give anchor ties */
    if (s < 0xE0)
        return extreme[s & 15];
    if (s < 0xF0)
        return bad[s & 15];
    return fb_f32_bits(in);
}

bool anchor_ok(float v) { return isfinite(v) && v > 0; }

void truth_code(fuzz_bytes *in, int32_t H, int32_t W, int32_t C, rl_box *t)
{
    static const float bad_value[8] = {NAN, INFINITY, -INFINITY, -0.1f, 1.5f, 0, -1e-45f,
                                       1.0000001f};
    uint8_t s = fb_u8(in);
    if (s < 0xE0) {
        uint8_t bx = fb_u8(in), by = fb_u8(in), bw = fb_u8(in), bh = fb_u8(in);
        uint8_t bc = fb_u8(in);
        /* k/255 reaches both ends 0 and 1; snapping lands a centre exactly
         * on a cell border k/W, where the cell index is decided by floor. */
        t->cx = (s & 2) ? (float)(bx % (W + 1)) / (float)W : (float)bx / 255.0f;
        t->cy = (s & 4) ? (float)(by % (H + 1)) / (float)H : (float)by / 255.0f;
        t->w = (float)(bw + 1) / 256.0f;
        t->h = (float)(bh + 1) / 256.0f;
        if (s & 8) { /* boxes the size of a few cells, matching anchors */
            t->w = (float)(1 + bw % 8) / (float)W;
            t->h = (float)(1 + bh % 8) / (float)H;
            if (t->w > 1)
                t->w = 1;
            if (t->h > 1)
                t->h = 1;
        }
        t->cls = bc % C;
        return;
    }
    if (s < 0xF0) {
        /* A valid box with one field broken. */
        t->cx = 0.5f;
        t->cy = 0.5f;
        t->w = 0.25f;
        t->h = 0.25f;
        t->cls = 0;
        float v = bad_value[fb_u8(in) & 7];
        switch (s & 7) {
        case 0: t->cx = v; break;
        case 1: t->cy = v; break;
        case 2: t->w = v; break;
        case 3: t->h = v; break;
        case 4: t->cls = C; break;
        case 5: t->cls = -1; break;
        case 6: t->cls = INT32_MIN; break;
        default: t->w = -0.0f; break;
        }
        return;
    }
    t->cx = fb_f32_bits(in);
    t->cy = fb_f32_bits(in);
    t->w = fb_f32_bits(in);
    t->h = fb_f32_bits(in);
    t->cls = (int32_t)fb_u32(in);
}

const char *truth_problem(const rl_box *t, int32_t C)
{
    if (!isfinite(t->cx) || !isfinite(t->cy) || !isfinite(t->w) || !isfinite(t->h))
        return "a field is not finite";
    if (!(t->cx >= 0 && t->cx <= 1) || !(t->cy >= 0 && t->cy <= 1))
        return "centre outside [0, 1]";
    if (!(t->w > 0 && t->w <= 1) || !(t->h > 0 && t->h <= 1))
        return "size outside (0, 1]";
    if (t->cls < 0 || t->cls >= C)
        return "class outside [0, C)";
    return NULL;
}

/* Prediction values: scaled bytes (realistic logits), special values
 * (overflowing exponentials, extremes, and the three non-finite ones at
 * byte values 0xFD..0xFF), or raw bit patterns. */
float pred_value(int kind, const uint8_t *r, size_t len, size_t e)
{
    static const float special[24] = {0,     -0.0f, 1,      -1,    0.5f,  60,   -60,  88.7f,
                                      89,    -89,   100,    -104,  1e10f, -1e10f, 1e30f,
                                      -1e30f, FLT_MAX, -FLT_MAX, FLT_MIN, 1e-45f, -1e-45f,
                                      20,    -20,   3};
    if (len == 0)
        return 0;
    uint8_t b = r[e % len];
    switch (kind) {
    case 0: return (float)(int8_t)b / 8.0f;
    case 1: return (float)(int8_t)b * 0.75f;
    case 2:
        if (b == 0xFF)
            return NAN;
        if (b == 0xFE)
            return INFINITY;
        if (b == 0xFD)
            return -INFINITY;
        return special[b % 24];
    default: {
        uint8_t raw[4];
        for (int k = 0; k < 4; k++)
            raw[k] = r[(4 * e + (size_t)k) % len];
        float v;
        memcpy(&v, raw, sizeof v);
        return v;
    }
    }
}

/* Offset of entry k of slot (n, i, j, b): docs/loss.md, "The tensor". */
static size_t spec_offset(const rl_config *cfg, int64_t n, int64_t i, int64_t j, int64_t b,
                          int64_t k)
{
    const int64_t K = 5 + (int64_t)cfg->C, HW = (int64_t)cfg->H * cfg->W;
    if (cfg->layout == RL_LAYOUT_NCHW)
        return (size_t)(((n * cfg->B + b) * K + k) * HW + i * cfg->W + j);
    return (size_t)((((n * cfg->H + i) * cfg->W + j) * cfg->B + b) * K + k);
}

void loss_case_free(loss_case *c)
{
    free(c->anchors);
    free(c->pred_storage);
    free(c->half_storage);
    free(c->truths);
    free(c->offsets);
    free(c->grad_init);
    memset(c, 0, sizeof *c);
}

int loss_decode(const uint8_t *data, size_t size, loss_case *c, loss_expect *ce,
                loss_expect *be)
{
    fuzz_bytes in = {data, size, 0};
    memset(c, 0, sizeof *c);
    memset(ce, 0, sizeof *ce);
    memset(be, 0, sizeof *be);

    const uint8_t flags = fb_u8(&in), enums = fb_u8(&in), misc = fb_u8(&in),
                  more = fb_u8(&in);
    rl_config *cfg = &c->cfg;
    const bool darknet = flags & 1;
    if (darknet)
        rl_config_init_darknet(cfg);
    else
        rl_config_init(cfg);
    cfg->layout = (flags & 2) ? RL_LAYOUT_NHWC : RL_LAYOUT_NCHW;
    cfg->grad_mode = (flags & 4) ? RL_GRAD_ACCUMULATE : RL_GRAD_OVERWRITE;
    cfg->rescore = (flags & 8) ? 1 : 0;
    cfg->logistic_classes = (flags & 16) ? 1 : 0;
    cfg->threads = (flags & 128) ? 2 : 1;
    const int norm_code = enums & 3;
    cfg->norm = norm_code == 3 ? (rl_norm)7 : (rl_norm)norm_code;
    const int enum_break = (enums >> 2) & 7, null_sel = (enums >> 5) & 7;
    if (enum_break == 5)
        cfg->layout = (rl_layout)2;
    else if (enum_break == 6)
        cfg->mode = (rl_mode)-1;
    else if (enum_break == 7)
        cfg->grad_mode = (rl_grad_mode)5;
    const int misc_sel = misc & 7, off_sel = (misc >> 3) & 7;
    c->workspace_short = misc & 64;
    c->with_grad = !(misc & 128);
    c->misaligned = more & 1;
    static const int16_t pred_types[4] = {RL_DTYPE_F32, RL_DTYPE_BF16, RL_DTYPE_F16, 3};
    cfg->pred_dtype = pred_types[(more >> 2) & 3];
    cfg->grad_dtype = (more & 16) ? RL_DTYPE_F32 : cfg->pred_dtype;
    if (more & 32) /* neither float32 nor the predictions' type */
        cfg->grad_dtype = cfg->pred_dtype == RL_DTYPE_F16 ? RL_DTYPE_BF16 : RL_DTYPE_F16;
    c->use_workspace = flags & 64;
    c->null_result = null_sel == 7;

    cfg->H = size_code(fb_u8(&in), LOSS_MAX_GRID, false);
    cfg->W = size_code(fb_u8(&in), LOSS_MAX_GRID, false);
    cfg->B = size_code(fb_u8(&in), LOSS_MAX_B, true);
    cfg->C = size_code(fb_u8(&in), LOSS_MAX_C, false);
    const uint8_t n_code = fb_u8(&in);
    int32_t N = n_code < 0xF0 ? 1 + n_code % LOSS_MAX_N : (int32_t[]){0, -1, INT32_MIN, -7}[n_code & 3];

    cfg->lambda_coord = lambda_code(&in);
    cfg->lambda_class = lambda_code(&in);
    cfg->lambda_obj = lambda_code(&in);
    cfg->lambda_noobj = lambda_code(&in);
    cfg->warmup_scale = lambda_code(&in);
    cfg->thresh = thresh_code(&in);
    static const int64_t seen_table[8] = {0, 12799, 12800, 12801, 1, INT64_MAX, 100000, 6400};
    static const int64_t warm_table[8] = {12800, 0, 1, INT64_MAX, 100, 12800, 64000, 5};
    const uint8_t seen_b = fb_u8(&in), warm_b = fb_u8(&in);
    c->batch.seen = seen_table[seen_b & 7];
    cfg->warmup_seen = warm_table[warm_b & 7];
    const uint8_t g_obj = fb_u8(&in), g_noobj = fb_u8(&in), g_img = fb_u8(&in);

    /* AlexeyAB's [region] flavour from the seen and warmup_seen bytes' upper
     * bits (loss_input.h) */
    static const int32_t classfix_table[4] = {0, -1, 1, 2};
    cfg->flavour = (seen_b & 8) ? RL_FLAVOUR_ALEXEYAB : RL_FLAVOUR_PJREDDIE;
    cfg->classfix = classfix_table[(seen_b >> 4) & 3];
    cfg->focal_loss = (seen_b >> 6) & 1;
    if (seen_b & 128) {
        const int which = warm_b >> 6;
        if (which == 0)
            cfg->flavour = 5;
        else if (which == 1)
            cfg->classfix = 3;
        else
            cfg->focal_loss = which == 2 ? 2 : -1;
    }
    if (misc_sel == 6) {
        if (darknet && (flags & 8))
            cfg->rescore = 2;
        else if (darknet && (flags & 16))
            cfg->logistic_classes = -1;
        else
            cfg->threads = (flags & 128) ? 100000 : 0;
    } else if (misc_sel == 7) {
        c->batch.seen = -1;
    }

    /* --- what rl_plan_create must answer -------------------------------- */
    bool sizes_ok = true, sizes_bounded = true;
    const int32_t dims[4] = {cfg->H, cfg->W, cfg->B, cfg->C};
    const int32_t bounds[4] = {LOSS_MAX_GRID, LOSS_MAX_GRID, LOSS_MAX_B, LOSS_MAX_C};
    static const char *const dim_names[4] = {"H", "W", "B", "C"};
    for (int d = 0; d < 4; d++) {
        if (dims[d] <= 0) {
            loss_expect_fail(ce, RL_ERR_BAD_SIZE, "config: %s = %d", dim_names[d], (int)dims[d]);
            sizes_ok = false;
        } else if (d == 3 && dims[d] > RL_MAX_CLASSES) {
            loss_expect_fail(ce, RL_ERR_BAD_SIZE, "config: C = %d", (int)dims[d]);
            sizes_ok = false;
        } else if (dims[d] > bounds[d]) {
            sizes_bounded = false;
        }
    }
    if (sizes_ok && !sizes_bounded)
        expect_allow(ce, RL_ERR_BAD_SIZE); /* valid, but the product may overflow */

    /* Anchors: the library reads 2*B of them when B is positive. */
    const int32_t B_alloc = cfg->B > 0 ? cfg->B : 1;
    c->anchors = malloc(2 * (size_t)B_alloc * sizeof *c->anchors);
    if (!c->anchors)
        abort();
    for (int32_t a = 0; a < 2 * B_alloc; a++)
        c->anchors[a] = a < 2 * LOSS_MAX_B ? anchor_code(&in) : 1.0f + (float)(a % 7);
    cfg->anchors = c->anchors;
    if (null_sel == 5) {
        cfg->anchors = NULL;
        loss_expect_fail(ce, RL_ERR_NULL_POINTER, "config: anchors NULL");
    } else if (cfg->B > 0) {
        for (int32_t a = 0; a < 2 * cfg->B; a++)
            if (!anchor_ok(c->anchors[a])) {
                loss_expect_fail(ce, RL_ERR_BAD_ANCHOR, "config: anchor value %d = %.9g", (int)a,
                                 (double)c->anchors[a]);
                break;
            }
    }
    if (cfg->layout != RL_LAYOUT_NCHW && cfg->layout != RL_LAYOUT_NHWC)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: layout %d", (int)cfg->layout);
    if (cfg->mode != RL_MODE_SPEC && cfg->mode != RL_MODE_DARKNET)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: mode %d", (int)cfg->mode);
    if (cfg->norm != RL_NORM_COUNTS && cfg->norm != RL_NORM_SUM && cfg->norm != RL_NORM_IMAGES)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: norm %d", (int)cfg->norm);
    if (cfg->mode == RL_MODE_DARKNET && cfg->norm == RL_NORM_COUNTS)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: darknet mode with count normalisation");
    if (cfg->grad_mode != RL_GRAD_OVERWRITE && cfg->grad_mode != RL_GRAD_ACCUMULATE)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: grad_mode %d", (int)cfg->grad_mode);
    const double lambdas[4] = {cfg->lambda_coord, cfg->lambda_class, cfg->lambda_obj,
                               cfg->lambda_noobj};
    for (int k = 0; k < 4; k++)
        if (!(lambdas[k] >= 0 && lambdas[k] <= RL_LAMBDA_MAX))
            loss_expect_fail(ce, RL_ERR_BAD_LAMBDA, "config: lambda %d = %.17g", k, lambdas[k]);
    if (!(cfg->thresh >= 0 && cfg->thresh <= 1))
        loss_expect_fail(ce, RL_ERR_BAD_THRESH, "config: thresh = %.17g", cfg->thresh);
    if (cfg->mode == RL_MODE_DARKNET) {
        if (!(cfg->warmup_scale >= 0 && cfg->warmup_scale <= RL_LAMBDA_MAX))
            loss_expect_fail(ce, RL_ERR_BAD_LAMBDA, "config: warmup_scale = %.17g",
                             cfg->warmup_scale);
        if (cfg->rescore != 0 && cfg->rescore != 1)
            loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT, "config: rescore = %d", (int)cfg->rescore);
        if (cfg->logistic_classes != 0 && cfg->logistic_classes != 1)
            loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT, "config: logistic_classes = %d",
                             (int)cfg->logistic_classes);
    }
    if (cfg->flavour != RL_FLAVOUR_PJREDDIE && cfg->flavour != RL_FLAVOUR_ALEXEYAB)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: flavour = %d", (int)cfg->flavour);
    else if (cfg->flavour != RL_FLAVOUR_PJREDDIE && cfg->mode != RL_MODE_DARKNET)
        loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT, "config: flavour %d outside darknet mode",
                         (int)cfg->flavour);
    const bool ab = cfg->mode == RL_MODE_DARKNET && cfg->flavour == RL_FLAVOUR_ALEXEYAB;
    if (cfg->classfix < -1 || cfg->classfix > 2)
        loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT, "config: classfix = %d", (int)cfg->classfix);
    if (cfg->focal_loss != 0 && cfg->focal_loss != 1)
        loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT, "config: focal_loss = %d",
                         (int)cfg->focal_loss);
    if (!ab && (cfg->classfix != 0 || cfg->focal_loss != 0))
        loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT, "config: classfix/focal_loss without the flavour");
    if (cfg->focal_loss && cfg->logistic_classes)
        loss_expect_fail(ce, RL_ERR_BAD_ARGUMENT, "config: focal_loss with logistic classes");
    if (cfg->pred_dtype != RL_DTYPE_F32 && cfg->pred_dtype != RL_DTYPE_BF16 &&
        cfg->pred_dtype != RL_DTYPE_F16)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: pred_dtype %d", (int)cfg->pred_dtype);
    else if (cfg->grad_dtype != RL_DTYPE_F32 && cfg->grad_dtype != cfg->pred_dtype)
        loss_expect_fail(ce, RL_ERR_BAD_ENUM, "config: grad_dtype %d with pred_dtype %d",
                         (int)cfg->grad_dtype, (int)cfg->pred_dtype);
    if (cfg->threads < 1 || cfg->threads > 64 * 1024)
        loss_expect_fail(ce, RL_ERR_THREADS, "config: threads = %d", (int)cfg->threads);

    c->computable = sizes_ok && sizes_bounded && N <= LOSS_MAX_N;
    if (!c->computable || ce->must_fail) {
        c->computable = false;
        return 0; /* the batch is never used */
    }

    /* --- the batch ------------------------------------------------------ */
    c->n_images_alloc = N > 0 ? N : 1;
    c->batch.n_images = N;
    if (N <= 0)
        loss_expect_fail(be, RL_ERR_BAD_SIZE, "batch: n_images = %d", (int)N);
    const int32_t NA = c->n_images_alloc;
    c->offsets = calloc((size_t)NA + 1, sizeof *c->offsets);
    c->truths = malloc((size_t)NA * LOSS_MAX_TRUTHS_PER_IMAGE * sizeof *c->truths);
    if (!c->offsets || !c->truths)
        abort();
    int64_t T = 0;
    for (int32_t n = 0; n < NA; n++) {
        int cnt = fb_u8(&in) % (LOSS_MAX_TRUTHS_PER_IMAGE + 1);
        for (int k = 0; k < cnt; k++) {
            rl_box *t = &c->truths[T];
            truth_code(&in, cfg->H, cfg->W, cfg->C, t);
            /* the flavour skips a class >= C without reading the box */
            const char *bad = ab && t->cls >= cfg->C ? NULL : truth_problem(t, cfg->C);
            c->n_skipped += ab && t->cls >= cfg->C;
            if (bad)
                loss_expect_fail(be, RL_ERR_BAD_TRUTH, "truth %d of image %d: %s", k, (int)n,
                                 bad);
            T++;
        }
        c->offsets[n + 1] = T;
    }
    c->n_truths = T;
    c->batch.truths = (T == 0 && (more & 2)) ? NULL : c->truths;
    c->batch.truth_offsets = c->offsets;
    if (off_sel == 5) {
        c->offsets[0] = 1;
        loss_expect_fail(be, RL_ERR_BAD_OFFSETS, "batch: truth_offsets[0] = 1");
    } else if (off_sel == 6) {
        c->offsets[1] = c->offsets[0] - 1;
        loss_expect_fail(be, RL_ERR_BAD_OFFSETS, "batch: truth_offsets[1] < truth_offsets[0]");
    }
    if (cfg->mode == RL_MODE_DARKNET && c->batch.seen < 0)
        loss_expect_fail(be, RL_ERR_BAD_ARGUMENT, "batch: seen = %lld",
                         (long long)c->batch.seen);
    if (flags & 32) {
        c->global_counts.n_obj = g_obj;
        c->global_counts.n_noobj = g_noobj;
        c->global_counts.n_conf = (int64_t)g_obj + g_noobj;
        c->global_counts.n_images = g_img;
        if (off_sel == 7) {
            c->global_counts.n_conf += 1;
            /* Counts are used (and so must be checked) except in sum mode. */
            if (cfg->norm == RL_NORM_SUM)
                expect_allow(be, RL_ERR_BAD_ARGUMENT);
            else
                loss_expect_fail(be, RL_ERR_BAD_ARGUMENT, "batch: global n_conf != n_obj + n_noobj");
        }
        c->batch.global_counts = &c->global_counts;
    }

    /* Predictions, in the tensor the plan describes. */
    const size_t count = (size_t)NA * (size_t)cfg->H * (size_t)cfg->W * (size_t)cfg->B *
                         (size_t)(5 + cfg->C);
    c->tensor_count = count;
    c->pred_storage = malloc((count + 1) * sizeof *c->pred_storage);
    c->grad_elem = (size_t)rl_elem_size(cfg->grad_dtype);
    c->grad_init = malloc((count + 1) * c->grad_elem);
    if (!c->pred_storage || !c->grad_init)
        abort();
    float *pred = c->pred_storage + (c->misaligned ? 1 : 0);
    const int kind = fb_u8(&in) & 3;
    size_t rest_len;
    const uint8_t *rest = fb_rest(&in, &rest_len);
    bool nonfinite_read = false, nonfinite_other = false;
    for (size_t e = 0; e < count; e++)
        pred[e] = pred_value(kind, rest, rest_len, e);
    /* Half predictions: the same values rounded to nearest even (binary16
     * sends everything past 65504 to infinity); pred then holds what the
     * library will read, for the finiteness rules below. */
    const int pt = cfg->pred_dtype;
    uint16_t *half = NULL;
    if (pt == RL_DTYPE_BF16 || pt == RL_DTYPE_F16) {
        c->half_storage = malloc((count + 1) * sizeof *c->half_storage);
        if (!c->half_storage)
            abort();
        half = c->half_storage + (c->misaligned ? 1 : 0);
        for (size_t e = 0; e < count; e++) {
            half[e] = pt == RL_DTYPE_BF16 ? rl_f32_to_bf16(pred[e]) : rl_f32_to_f16(pred[e]);
            pred[e] = rl_load(half, (int64_t)e, pt);
        }
    }
    /* Which entry a non-finite value is (docs/loss.md's offsets): box
     * and objectness entries k < 5 are read at every slot, class logits
     * only at responsible ones.  One pass; the channel only where needed. */
    const size_t K = 5 + (size_t)cfg->C, HW = (size_t)cfg->H * (size_t)cfg->W;
    for (size_t e = 0; e < count; e++)
        if (!isfinite(pred[e])) {
            const size_t k = cfg->layout == RL_LAYOUT_NCHW ? (e / HW) % K : e % K;
            if (k < 5)
                nonfinite_read = true;
            else
                nonfinite_other = true;
        }
    if (nonfinite_read)
        loss_expect_fail(be, RL_ERR_NONFINITE_PRED, "batch: a box or objectness entry is not finite");
    else if (nonfinite_other && ab && cfg->classfix > 0) /* any slot's classes may be read */
        loss_expect_fail(be, RL_ERR_NONFINITE_PRED, "batch: a class logit is not finite (classfix)");
    else if (nonfinite_other)
        expect_allow(be, RL_ERR_NONFINITE_PRED); /* read only at responsible slots */
    c->batch.pred = half ? (const void *)half : (const void *)pred;
    if (null_sel == 6) {
        c->batch.pred = NULL;
        loss_expect_fail(be, RL_ERR_NULL_POINTER, "batch: pred NULL");
    }
    if (c->null_result)
        loss_expect_fail(be, RL_ERR_NULL_POINTER, "result NULL");

    /* Accumulate start values: finite, varied, cheap. */
    for (size_t x = 0; x < count; x++)
        rl_store_f32(c->grad_init, (int64_t)x, cfg->grad_dtype,
                     (float)(((uint32_t)x * 2654435761u) >> 24) / 64.0f - 2.0f);
    return 0;
}

void loss_case_print(FILE *f, const loss_case *c)
{
    const rl_config *g = &c->cfg;
    fprintf(f,
            "config: H %d W %d B %d C %d layout %d mode %d norm %d grad_mode %d threads %d\n"
            "        lambdas coord %.17g class %.17g obj %.17g noobj %.17g thresh %.17g\n"
            "        rescore %d logistic %d warmup_seen %lld warmup_scale %.17g\n"
            "        flavour %d classfix %d focal_loss %d\n",
            (int)g->H, (int)g->W, (int)g->B, (int)g->C, (int)g->layout, (int)g->mode,
            (int)g->norm, (int)g->grad_mode, (int)g->threads, g->lambda_coord, g->lambda_class,
            g->lambda_obj, g->lambda_noobj, g->thresh, (int)g->rescore,
            (int)g->logistic_classes, (long long)g->warmup_seen, g->warmup_scale,
            (int)g->flavour, (int)g->classfix, (int)g->focal_loss);
    if (g->anchors && g->B > 0)
        for (int32_t b = 0; b < g->B && b < LOSS_MAX_B; b++)
            fprintf(f, "        anchor %d: %.9g x %.9g\n", (int)b, (double)g->anchors[2 * b],
                    (double)g->anchors[2 * b + 1]);
    if (!c->offsets)
        return;
    const rl_batch *bt = &c->batch;
    fprintf(f, "batch: n_images %d seen %lld truths %lld global_counts %s workspace %s%s%s%s\n",
            (int)bt->n_images, (long long)bt->seen, (long long)c->n_truths,
            bt->global_counts ? "yes" : "no", c->use_workspace ? "yes" : "no",
            c->workspace_short ? " (short)" : "", c->misaligned ? " misaligned" : "",
            c->with_grad ? "" : " no-gradient");
    for (int32_t n = 0; n < c->n_images_alloc; n++)
        for (int64_t t = c->offsets[n]; t < c->offsets[n + 1] && t >= 0; t++) {
            const rl_box *x = &c->truths[t];
            fprintf(f, "  image %d truth %lld: cx %.9g cy %.9g w %.9g h %.9g cls %d\n", (int)n,
                    (long long)(t - c->offsets[n]), (double)x->cx, (double)x->cy,
                    (double)x->w, (double)x->h, (int)x->cls);
            if (!truth_problem(x, g->C)) {
                /* The entries of every anchor of the truth's cell. */
                int64_t j = (int64_t)floor((double)x->cx * g->W), i = (int64_t)floor((double)x->cy * g->H);
                j = j > g->W - 1 ? g->W - 1 : j;
                i = i > g->H - 1 ? g->H - 1 : i;
                for (int32_t b = 0; b < g->B; b++) {
                    fprintf(f, "    cell (%lld, %lld) anchor %d:", (long long)i, (long long)j, (int)b);
                    for (int32_t k = 0; k < 5 + g->C; k++)
                        fprintf(f, " %.9g", (double)c->pred_storage[(c->misaligned ? 1 : 0) + spec_offset(g, n, i, j, b, k)]);
                    fputc('\n', f);
                }
            }
        }
}
