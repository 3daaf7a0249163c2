/* Test helpers; see support.h. */
#include "support.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "npy.h"

char *scratch_dir(void)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = malloc(4096);
    cr_assert(tmpl);
    snprintf(tmpl, 4096, "%s/rl_tool_test_XXXXXX", base && *base ? base : "/tmp");
    cr_assert(mkdtemp(tmpl), "mkdtemp %s failed", tmpl);
    return tmpl;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void scratch_remove(char *dir)
{
    if (dir)
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    cr_assert(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    cr_assert(buf);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            cr_assert(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert(d, "cannot open directory %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

uint8_t *npy_bytes(const char *dict, int version, const void *data, size_t data_len,
                   size_t *out_len)
{
    size_t pre = version == 1 ? 10 : 12;
    size_t hlen = strlen(dict) + 1;
    hlen += (64 - (pre + hlen) % 64) % 64;
    size_t total = pre + hlen + data_len;
    uint8_t *b = malloc(total ? total : 1);
    cr_assert(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)version;
    b[7] = 0;
    for (size_t k = 0; k < pre - 8; k++)
        b[8 + k] = (uint8_t)(hlen >> (8 * k));
    memset(b + pre, ' ', hlen);
    memcpy(b + pre, dict, strlen(dict));
    b[pre + hlen - 1] = '\n';
    if (data_len)
        memcpy(b + pre + hlen, data, data_len);
    *out_len = total;
    return b;
}

char *read_npy(const char *path, size_t *len, npy_array *a)
{
    size_t n;
    char *bytes = read_all(path, &n);
    cr_assert(bytes, "%s was not written", path);
    char err[256];
    cr_assert_eq(npy_parse((const uint8_t *)bytes, n, a, err, sizeof err), 0, "%s", err);
    if (len)
        *len = n;
    return bytes;
}

void assert_pred_shape(const npy_array *a, const char *path, rl_layout layout, int N, int H,
                       int W, int B, int K)
{
    const uint64_t nchw[4] = {(uint64_t)N, (uint64_t)B * K, (uint64_t)H, (uint64_t)W};
    const uint64_t nhwc[5] = {(uint64_t)N, (uint64_t)H, (uint64_t)W, (uint64_t)B, (uint64_t)K};
    const uint64_t *want = layout == RL_LAYOUT_NCHW ? nchw : nhwc;
    cr_assert_eq(a->ndim, layout == RL_LAYOUT_NCHW ? 4 : 5);
    for (int d = 0; d < a->ndim; d++)
        cr_expect_eq(a->shape[d], want[d], "%s: dimension %d", path, d);
}

void add_to_f32_entry(const char *path, size_t k, float delta)
{
    size_t len;
    npy_array a;
    char *bytes = read_npy(path, &len, &a);
    cr_assert_eq(a.dtype, NPY_F32, "%s: not float32", path);
    cr_assert(k < a.count, "%s: entry %zu of %zu", path, k, (size_t)a.count);
    size_t at = (size_t)(a.data - (const uint8_t *)bytes) + 4 * k;
    float x;
    memcpy(&x, bytes + at, 4);
    x += delta;
    memcpy(bytes + at, &x, 4);
    write_bytes(path, bytes, len);
    free(bytes);
}

void assert_json_fields(const char *text, const expect_field *f, size_t n, const char *variant)
{
    json_object obj;
    char err[256];
    cr_assert_eq(json_parse(text, strlen(text), &obj, err, sizeof err), 0,
                 "tool output is not the expected JSON: %s\n%s", err, text);
    for (size_t k = 0; k < n; k++) {
        const json_field *g = json_get(&obj, f[k].key);
        cr_assert(g && !g->is_string, "key %s missing or not a number", f[k].key);
        cr_expect(g->number == f[k].value, "%s: tool %.17g, API %.17g", f[k].key, g->number,
                  f[k].value);
    }
    const json_field *v = json_get(&obj, "variant");
    cr_assert(v && v->is_string, "key variant missing or not a string");
    cr_expect_str_eq(v->string, variant);
    cr_expect_eq(obj.count, n + 1, "the JSON has %zu keys, expected %zu", obj.count, n + 1);
    json_free(&obj);
}

/* The file's text and where its occurrence-th "key": number starts. */
static char *find_json_number(const char *path, const char *key, int occurrence, char **num)
{
    char *text = read_all(path, NULL);
    cr_assert(text, "%s does not exist", path);
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    char *at = strstr(text, pattern);
    for (int k = 0; at && k < occurrence; k++)
        at = strstr(at + 1, pattern);
    cr_assert(at, "occurrence %d of key %s not in %s", occurrence, key, path);
    *num = at + strlen(pattern);
    return text;
}

void set_json_number(const char *path, const char *key, int occurrence, double value)
{
    char *num;
    char *text = find_json_number(path, key, occurrence, &num);
    char *end = num + strcspn(num, ",\n");
    size_t head = (size_t)(num - text);
    char *out = malloc(strlen(text) + 64);
    cr_assert(out);
    memcpy(out, text, head);
    int w = sprintf(out + head, "%.17g", value);
    strcpy(out + head + w, end);
    write_text(path, out);
    free(out);
    free(text);
}

double json_number(const char *path, const char *key, int occurrence)
{
    char *num;
    char *text = find_json_number(path, key, occurrence, &num);
    double value = strtod(num, NULL);
    free(text);
    return value;
}

run_result run_tool(const char *dir, const char *const *argv)
{
    const char *tool = getenv("REGIONLOSS_TOOL");
    cr_assert(tool && *tool, "REGIONLOSS_TOOL is not set (meson test sets it)");
    char *out_path = path_in(dir, ".stdout"), *err_path = path_in(dir, ".stderr");
    int argc = 0;
    while (argv[argc])
        argc++;
    char **args = calloc((size_t)argc + 2, sizeof *args);
    cr_assert(args);
    args[0] = (char *)tool;
    for (int k = 0; k < argc; k++)
        args[k + 1] = (char *)argv[k];
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(127);
        execv(tool, args);
        _exit(127);
    }
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    run_result r;
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    r.out = read_all(out_path, NULL);
    r.err = read_all(err_path, NULL);
    cr_assert(r.out && r.err);
    unlink(out_path);
    unlink(err_path);
    free(out_path);
    free(err_path);
    free(args);
    return r;
}

void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

const float tb_anchors[2 * TB_B] = {1.0f, 1.5f, 2.5f, 2.0f};
const char *const tb_anchor_text = "1.0,1.5,2.5,2.0";

/* Two truths of image 0 fall on the same slot (cell (1, 1), anchor 0), the
 * last box of image 0 sits on the far corner (its cell is clamped), image 2
 * has none; blank lines, comments, a tab and a CRLF line end are allowed. */
const char *const tb_labels_text =
    "# tool test batch: image_index class cx cy w h\n"
    "0 1 0.30 0.40 0.20 0.30\n"
    "\n"
    "0 2 0.32 0.45 0.25 0.35   # replaces the first on its slot\n"
    "1 0 0.70 0.60 0.50 0.40\n"
    "\t1 2 0.10 0.90 0.15 0.20\r\n"
    "0 0 1.0 1.0 0.9 0.8\n";

void tb_truths(rl_box *t, int64_t *off)
{
    const rl_box boxes[TB_TRUTHS] = {
        {0.30f, 0.40f, 0.20f, 0.30f, 1}, {0.32f, 0.45f, 0.25f, 0.35f, 2},
        {1.0f, 1.0f, 0.9f, 0.8f, 0},     {0.70f, 0.60f, 0.50f, 0.40f, 0},
        {0.10f, 0.90f, 0.15f, 0.20f, 2},
    };
    memcpy(t, boxes, sizeof boxes);
    const int64_t o[TB_N + 1] = {0, 3, 5, 5};
    memcpy(off, o, sizeof o);
}

/* A prediction in [-span, span) from x, a logical index (splitmix64), with
 * the span of channel k: 2 for x, y, 1 for w, h, 3 for the rest. */
static float hashed_value(uint64_t x, int k)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    double u = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
    double span = k < 2 ? 2.0 : k < 4 ? 1.0 : 3.0;
    return (float)((2.0 * u - 1.0) * span);
}

/* Where (n, i, j, b, k) stands in a tensor of the layout. */
static size_t pred_offset(rl_layout layout, int H, int W, int B, int K, int n, int i, int j,
                          int b, int k)
{
    return layout == RL_LAYOUT_NCHW ? (((size_t)n * B + b) * K + k) * H * W + (size_t)i * W + j
                                    : ((((size_t)n * H + i) * W + j) * B + b) * K + k;
}

/* The header dict of a prediction tensor of the layout: N images, B
 * anchors of K channels, an H x W grid. */
static void pred_dict(char *dict, size_t size, const char *descr, rl_layout layout, int N, int H,
                      int W, int B, int K)
{
    if (layout == RL_LAYOUT_NCHW)
        snprintf(dict, size, "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d, %d, %d), }",
                 descr, N, B * K, H, W);
    else
        snprintf(dict, size,
                 "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d, %d, %d, %d), }",
                 descr, N, H, W, B, K);
}

char *write_npy_in(const char *dir, const char *name, const char *dict, const void *data,
                   size_t data_len)
{
    size_t len;
    uint8_t *bytes = npy_bytes(dict, 1, data, data_len, &len);
    char *path = path_in(dir, name);
    write_bytes(path, bytes, len);
    free(bytes);
    return path;
}

/* A hash of the logical index, so both layouts hold the same numbers. */
static float tb_value(int n, int i, int j, int b, int k)
{
    return hashed_value(((((uint64_t)n * TB_H + i) * TB_W + j) * TB_B + b) * TB_K + k, k);
}

void tb_pred(rl_layout layout, float *out)
{
    for (int n = 0; n < TB_N; n++)
        for (int i = 0; i < TB_H; i++)
            for (int j = 0; j < TB_W; j++)
                for (int b = 0; b < TB_B; b++)
                    for (int k = 0; k < TB_K; k++)
                        out[pred_offset(layout, TB_H, TB_W, TB_B, TB_K, n, i, j, b, k)] =
                            tb_value(n, i, j, b, k);
}

char *tb_write_pred(const char *dir, rl_layout layout, int float64)
{
    static float pred[TB_COUNT];
    tb_pred(layout, pred);
    char dict[160];
    pred_dict(dict, sizeof dict, float64 ? "<f8" : "<f4", layout, TB_N, TB_H, TB_W, TB_B, TB_K);
    if (float64) {
        static double wide[TB_COUNT];
        for (size_t k = 0; k < TB_COUNT; k++)
            wide[k] = pred[k];
        return write_npy_in(dir, "pred64.npy", dict, wide, sizeof wide);
    }
    return write_npy_in(dir, "pred.npy", dict, pred, sizeof pred);
}

char *tb_write_labels(const char *dir)
{
    char *path = path_in(dir, "labels.txt");
    write_text(path, tb_labels_text);
    return path;
}

/* The test batch's truths and the library's answer on `pred` (any type). */
static rl_result api_on(rl_config cfg, const void *pred, int64_t seen, void *grad)
{
    rl_box truths[TB_TRUTHS];
    int64_t off[TB_N + 1];
    tb_truths(truths, off);
    cfg.H = TB_H;
    cfg.W = TB_W;
    cfg.B = TB_B;
    cfg.C = TB_C;
    cfg.anchors = tb_anchors;
    rl_plan *plan = NULL;
    rl_status st = rl_plan_create(&cfg, &plan);
    cr_assert_eq(st, RL_OK, "rl_plan_create: %s", rl_last_error());
    rl_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.n_images = TB_N;
    batch.pred = pred;
    batch.truths = truths;
    batch.truth_offsets = off;
    batch.seen = seen;
    rl_result r;
    st = rl_compute(plan, &batch, &r, grad);
    cr_assert_eq(st, RL_OK, "rl_compute: %s", rl_last_error());
    rl_plan_destroy(plan);
    return r;
}

rl_result tb_api(rl_config cfg, int64_t seen, float *grad)
{
    static float pred[TB_COUNT];
    tb_pred(cfg.layout, pred);
    return api_on(cfg, pred, seen, grad);
}

uint16_t tb_half(float v, rl_dtype dtype)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    if (dtype == RL_DTYPE_BF16)
        return (uint16_t)(u >> 16);
    const uint32_t sign = (u >> 16) & 0x8000u;
    const int e = (int)((u >> 23) & 0xff) - 127;
    if (e < -14)
        return (uint16_t)sign; /* the tests' values never reach binary16's top */
    return (uint16_t)(sign | (uint32_t)(e + 15) << 10 | (u & 0x7fffffu) >> 13);
}

float tb_half_widened(uint16_t h, rl_dtype dtype)
{
    return dtype == RL_DTYPE_BF16 ? npy_bf16_to_f32(h) : npy_f16_to_f32(h);
}

void tb_pred_half(rl_layout layout, rl_dtype dtype, uint16_t *out)
{
    static float pred[TB_COUNT];
    tb_pred(layout, pred);
    for (size_t k = 0; k < TB_COUNT; k++)
        out[k] = tb_half(pred[k], dtype);
}

char *tb_write_pred_typed(const char *dir, rl_layout layout, rl_dtype dtype,
                          rl_dtype widened_from)
{
    static uint16_t half[TB_COUNT];
    static float wide[TB_COUNT];
    const char *descr = dtype == RL_DTYPE_F16 ? "<f2" : dtype == RL_DTYPE_BF16 ? "<u2" : "<f4";
    char dict[160];
    pred_dict(dict, sizeof dict, descr, layout, TB_N, TB_H, TB_W, TB_B, TB_K);
    if (dtype == RL_DTYPE_F32) {
        cr_assert(widened_from != RL_DTYPE_F32, "tb_write_pred writes the float32 file");
        tb_pred_half(layout, widened_from, half);
        for (size_t k = 0; k < TB_COUNT; k++)
            wide[k] = tb_half_widened(half[k], widened_from);
        return write_npy_in(dir, "pred_widened.npy", dict, wide, sizeof wide);
    }
    tb_pred_half(layout, dtype, half);
    return write_npy_in(dir, dtype == RL_DTYPE_F16 ? "pred_f16.npy" : "pred_bf16.npy", dict, half,
                        sizeof half);
}

rl_result tb_api_typed(rl_config cfg, int64_t seen, void *grad)
{
    static uint16_t pred[TB_COUNT];
    cr_assert(cfg.pred_dtype != RL_DTYPE_F32, "tb_api_typed is for half predictions");
    tb_pred_half(cfg.layout, (rl_dtype)cfg.pred_dtype, pred);
    return api_on(cfg, pred, seen, grad);
}

/* ---- the [yolo] network ---- */

const int32_t yn_grid_h[YN_HEADS] = {2, 4, 8}, yn_grid_w[YN_HEADS] = {3, 6, 12};
const int32_t yn_masks[YN_HEADS][YN_B] = {{6, 7, 8}, {3, 4, 5}, {0, 1, 2}};
const char *const yn_mask_text[YN_HEADS] = {"6,7,8", "3,4,5", "0,1,2"};
const float yn_anchors[18] = {3, 4, 4, 7, 8, 5, 7, 14, 14, 10, 14, 28, 27, 21, 36, 46, 86, 75};
const char *const yn_anchor_text = "3,4, 4,7, 8,5, 7,14, 14,10, 14,28, 27,21, 36,46, 86,75";
const char *const yn_net_text = "96x64";

/* Best anchors (shape IoU in pixels): 7 (head 0), 4 and 4 on one slot of
 * head 1, 1 (head 2, far corner); 8 (head 0), 0 (head 2). */
const char *const yn_labels_text = "# [yolo] test network: image_index class cx cy w h\n"
                                   "0 1 0.40 0.45 0.40 0.70\n"
                                   "0 3 0.30 0.60 0.15 0.20\n"
                                   "0 0 0.32 0.62 0.14 0.22  # head 1, the slot above\n"
                                   "0 2 1.0 1.0 0.05 0.08\n"
                                   "1 2 0.70 0.30 0.90 0.85\n"
                                   "1 1 0.15 0.80 0.04 0.05\n";

void yn_truths(rl_box *t, int64_t *off)
{
    const rl_box boxes[YN_TRUTHS] = {
        {0.40f, 0.45f, 0.40f, 0.70f, 1}, {0.30f, 0.60f, 0.15f, 0.20f, 3},
        {0.32f, 0.62f, 0.14f, 0.22f, 0}, {1.0f, 1.0f, 0.05f, 0.08f, 2},
        {0.70f, 0.30f, 0.90f, 0.85f, 2}, {0.15f, 0.80f, 0.04f, 0.05f, 1},
    };
    memcpy(t, boxes, sizeof boxes);
    const int64_t o[YN_N + 1] = {0, 4, 6, 6};
    memcpy(off, o, sizeof o);
}

size_t yn_count(int h) { return (size_t)YN_N * YN_B * YN_K * yn_grid_h[h] * yn_grid_w[h]; }

static float yn_value(int h, int n, int i, int j, int b, int k)
{
    return hashed_value((((((uint64_t)h * YN_N + n) * 64 + i) * 64 + j) * YN_B + b) * YN_K + k, k);
}

void yn_pred(int h, rl_layout layout, float *out)
{
    const int H = yn_grid_h[h], W = yn_grid_w[h];
    for (int n = 0; n < YN_N; n++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                for (int b = 0; b < YN_B; b++)
                    for (int k = 0; k < YN_K; k++)
                        out[pred_offset(layout, H, W, YN_B, YN_K, n, i, j, b, k)] =
                            yn_value(h, n, i, j, b, k);
}

void yn_write_preds(const char *dir, rl_layout layout, rl_dtype dtype, char **paths)
{
    for (int h = 0; h < YN_HEADS; h++) {
        const size_t count = yn_count(h);
        float *pred = malloc(count * sizeof *pred);
        uint16_t *half = malloc(count * sizeof *half);
        cr_assert(pred && half);
        yn_pred(h, layout, pred);
        const char *descr = dtype == RL_DTYPE_F16 ? "<f2" : "<f4";
        char dict[160], name[32];
        pred_dict(dict, sizeof dict, descr, layout, YN_N, yn_grid_h[h], yn_grid_w[h], YN_B, YN_K);
        if (dtype == RL_DTYPE_F16) {
            for (size_t k = 0; k < count; k++)
                half[k] = tb_half(pred[k], RL_DTYPE_F16);
            snprintf(name, sizeof name, "yolo%d_f16.npy", h);
            paths[h] = write_npy_in(dir, name, dict, half, count * sizeof *half);
        } else {
            cr_assert(dtype == RL_DTYPE_F32, "yn_write_preds: float32 or float16");
            snprintf(name, sizeof name, "yolo%d.npy", h);
            paths[h] = write_npy_in(dir, name, dict, pred, count * sizeof *pred);
        }
        free(pred);
        free(half);
    }
}

void yn_head_paths(const char *dir, const char *format, char **paths)
{
    for (int h = 0; h < YN_HEADS; h++) {
        char name[64];
        snprintf(name, sizeof name, format, h);
        paths[h] = path_in(dir, name);
    }
}

void yn_free_paths(char **paths)
{
    for (int h = 0; h < YN_HEADS; h++)
        free(paths[h]);
}

char *yn_write_labels(const char *dir)
{
    char *path = path_in(dir, "yolo_labels.txt");
    write_text(path, yn_labels_text);
    return path;
}

static const int yn_all[YN_HEADS] = {0, 1, 2};

static void yn_config_heads(rl_yolo_config *cfg, rl_yolo_head *heads, rl_dtype dtype, int n,
                            const int *ids)
{
    for (int h = 0; h < n; h++) {
        heads[h].H = yn_grid_h[ids[h]];
        heads[h].W = yn_grid_w[ids[h]];
        heads[h].B = YN_B;
        heads[h].mask = yn_masks[ids[h]];
    }
    cfg->n_heads = n;
    cfg->heads = heads;
    cfg->C = YN_C;
    cfg->n_anchors = 9;
    cfg->anchors = yn_anchors;
    cfg->net_w = YN_NET_W;
    cfg->net_h = YN_NET_H;
    cfg->grad_dtype = (int16_t)(cfg->grad_dtype == (int16_t)dtype ? dtype : RL_DTYPE_F32);
    cfg->pred_dtype = (int16_t)dtype;
}

void yn_api(rl_yolo_config cfg, rl_dtype dtype, rl_result *total, rl_result *heads,
            void *const *grads)
{
    yn_api_heads(cfg, dtype, YN_HEADS, yn_all, total, heads, grads);
}

void yn_api_heads(rl_yolo_config cfg, rl_dtype dtype, int n, const int *ids, rl_result *total,
                  rl_result *heads, void *const *grads)
{
    rl_yolo_head hd[YN_HEADS];
    yn_config_heads(&cfg, hd, dtype, n, ids);
    rl_box truths[YN_TRUTHS];
    int64_t off[YN_N + 1];
    yn_truths(truths, off);
    void *preds[YN_HEADS];
    for (int h = 0; h < n; h++) {
        const size_t count = yn_count(ids[h]);
        float *f = malloc(count * sizeof *f);
        cr_assert(f);
        yn_pred(ids[h], cfg.layout, f);
        if (dtype == RL_DTYPE_F16) {
            uint16_t *u = malloc(count * sizeof *u);
            cr_assert(u);
            for (size_t k = 0; k < count; k++)
                u[k] = tb_half(f[k], RL_DTYPE_F16);
            free(f);
            preds[h] = u;
        } else {
            preds[h] = f;
        }
    }
    rl_yolo_plan *plan = NULL;
    rl_status st = rl_yolo_plan_create(&cfg, &plan);
    cr_assert_eq(st, RL_OK, "rl_yolo_plan_create: %s", rl_last_error());
    rl_yolo_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.n_images = YN_N;
    batch.preds = (const void *const *)preds;
    batch.truths = truths;
    batch.truth_offsets = off;
    st = rl_yolo_compute(plan, &batch, total, heads, grads);
    cr_assert_eq(st, RL_OK, "rl_yolo_compute: %s", rl_last_error());
    rl_yolo_plan_destroy(plan);
    for (int h = 0; h < n; h++)
        free(preds[h]);
}
