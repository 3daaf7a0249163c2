/* Helpers for the tool's tests: a scratch directory, files written byte by
 * byte (so malformed ones are easy), running the tool, and a small batch
 * whose result the tests also compute through the API. */
#ifndef RL_TEST_TOOL_SUPPORT_H
#define RL_TEST_TOOL_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "npy.h"
#include "regionloss.h"

/* A fresh directory under $TMPDIR (or /tmp); removed by scratch_remove. */
char *scratch_dir(void);
void scratch_remove(char *dir);

/* dir/name, malloc'ed. */
char *path_in(const char *dir, const char *name);

void write_bytes(const char *path, const void *data, size_t len);
void write_text(const char *path, const char *text);
/* Whole file, NUL-terminated; NULL when it does not exist. */
char *read_all(const char *path, size_t *len);
int file_exists(const char *path);
/* Number of directory entries other than . and .. */
int dir_entries(const char *dir);

/* A .npy file from a literal header dict, padded the way NumPy pads it;
 * version 1, 2 or 3.  Returns malloc'ed bytes. */
uint8_t *npy_bytes(const char *dict, int version, const void *data, size_t data_len,
                   size_t *out_len);
/* npy_bytes (version 1) of dict and data written to dir/name; returns the
 * path, malloc'ed. */
char *write_npy_in(const char *dir, const char *name, const char *dict, const void *data,
                   size_t data_len);

/* The .npy file at path, read and parsed into *a (asserting both); returns
 * the bytes a points into, to be freed, and their length in *len (may be
 * NULL). */
char *read_npy(const char *path, size_t *len, npy_array *a);
/* *a is a prediction tensor of the layout: N images, B anchors of K
 * channels, an H x W grid (rank and every dimension; path names the
 * file in the messages). */
void assert_pred_shape(const npy_array *a, const char *path, rl_layout layout, int N, int H,
                       int W, int B, int K);
/* Adds delta to float32 entry k of the .npy file at path, in place. */
void add_to_f32_entry(const char *path, size_t k, float delta);

/* The fields a JSON result must hold: its key and the API's value. */
typedef struct expect_field {
    char key[64];
    double value;
} expect_field;
/* text is a JSON object that holds exactly the n numbers of f, bit for bit,
 * and the string "variant" equal to variant. */
void assert_json_fields(const char *text, const expect_field *f, size_t n, const char *variant);
/* Replaces the number after the occurrence-th "key": (0: the first) in the
 * JSON file at path by value. */
void set_json_number(const char *path, const char *key, int occurrence, double value);
/* That number, as it is written. */
double json_number(const char *path, const char *key, int occurrence);

typedef struct run_result {
    int status;    /* exit code, or 128 + signal */
    char *out;     /* stdout, NUL-terminated */
    char *err;     /* stderr */
} run_result;

/* Runs the tool ($REGIONLOSS_TOOL) with argv (NULL-terminated, without the
 * program name); stdout and stderr go through files in dir. */
run_result run_tool(const char *dir, const char *const *argv);
void run_free(run_result *r);

/* The small test batch.  Shapes chosen unequal (H != W, C small, B = 2) so a
 * transposed index shows; image 2 has no truth and two truths of image 0
 * share a slot. */
enum { TB_N = 3, TB_H = 4, TB_W = 5, TB_B = 2, TB_C = 3, TB_K = 5 + TB_C };
#define TB_COUNT ((size_t)TB_N * TB_B * TB_K * TB_H * TB_W)
extern const float tb_anchors[2 * TB_B];
extern const char *const tb_anchor_text;
extern const char *const tb_labels_text;

/* Deterministic predictions in the given layout (the same numbers for each
 * (n, i, j, b, k) whatever the layout). */
void tb_pred(rl_layout layout, float *out);
/* pred.npy for tb_pred in dir, float32 or float64; returns the path. */
char *tb_write_pred(const char *dir, rl_layout layout, int float64);
char *tb_write_labels(const char *dir);
/* The truths of tb_labels_text, as the tests' own reading of it. */
void tb_truths(rl_box *truths, int64_t *offsets);
#define TB_TRUTHS 5

/* rl_compute through the API for the batch, with cfg's options (H, W, B, C
 * and anchors filled in here).  grad may be NULL. */
rl_result tb_api(rl_config cfg, int64_t seen, float *grad);

/* Half-precision versions of the batch (issue 17).  tb_half is a float
 * narrowed to bfloat16 or binary16 by truncation (any bit pattern is as good
 * an input as another; values below binary16's normal range become zero):
 * the tests compare the tool with the API on the same bits, and the
 * float32 runs on the same numbers use tb_half_widened. */
uint16_t tb_half(float v, rl_dtype dtype);
float tb_half_widened(uint16_t h, rl_dtype dtype);
/* tb_pred narrowed with tb_half. */
void tb_pred_half(rl_layout layout, rl_dtype dtype, uint16_t *out);
/* The predictions as a file of the given type in dir, named after it
 * (pred_f16.npy '<f2', pred_bf16.npy '<u2' bfloat16 bits, and
 * pred_widened.npy '<f4' holding tb_half_widened of the dtype given as
 * widened_from, when dtype is RL_DTYPE_F32 and widened_from is not). */
char *tb_write_pred_typed(const char *dir, rl_layout layout, rl_dtype dtype,
                          rl_dtype widened_from);
/* tb_api on tb_pred_half (cfg.pred_dtype says which half type; grad holds
 * TB_COUNT elements of cfg.grad_dtype). */
rl_result tb_api_typed(rl_config cfg, int64_t seen, void *grad);

/* ---- a small [yolo] network (--layer yolo) ----
 *
 * Three heads as yolov3.cfg has them, shrunk: a 96x64 network (width and
 * height unequal, so that a swapped axis shows), strides 32, 16, 8 (grids
 * 2x3, 4x6, 8x12), nine anchors in pixels, masks 6,7,8 / 3,4,5 / 0,1,2,
 * C = 4, N = 3.  The truths put positives in every head: two of image 0
 * share a slot of head 1 with different classes (a multi-label target),
 * one sits on the far corner (its cell is clamped), image 2 has none. */
enum { YN_HEADS = 3, YN_N = 3, YN_B = 3, YN_C = 4, YN_K = 5 + YN_C, YN_NET_W = 96,
       YN_NET_H = 64 };
#define YN_TRUTHS 6
extern const int32_t yn_grid_h[YN_HEADS], yn_grid_w[YN_HEADS];
extern const int32_t yn_masks[YN_HEADS][YN_B];
extern const char *const yn_mask_text[YN_HEADS]; /* "6,7,8" ... */
extern const float yn_anchors[18];
extern const char *const yn_anchor_text;
extern const char *const yn_net_text; /* "96x64" */
extern const char *const yn_labels_text;
/* Entries of head h's tensor. */
size_t yn_count(int h);
/* Head h's predictions in the layout (the same numbers for each (n, i, j,
 * b, k) whatever the layout), as float32. */
void yn_pred(int h, rl_layout layout, float *out);
/* Every head's file in dir, yolo<h>.npy (float32, or yolo<h>_f16.npy
 * float16 with dtype RL_DTYPE_F16); paths[h] malloc'ed. */
void yn_write_preds(const char *dir, rl_layout layout, rl_dtype dtype, char **paths);
/* dir/<format with the head's number> for every head (format holds one
 * %d), malloc'ed; yn_free_paths frees them. */
void yn_head_paths(const char *dir, const char *format, char **paths);
void yn_free_paths(char **paths);
/* yn_labels_text in dir/yolo_labels.txt. */
char *yn_write_labels(const char *dir);
void yn_truths(rl_box *truths, int64_t *offsets);
/* rl_yolo_compute through the API for the network, with cfg's options
 * (heads, C, anchors, net size and the element types filled in here;
 * pred_dtype is dtype, grad_dtype cfg's when set to dtype, else float32).
 * grads[h] may be NULL; grads itself may be NULL. */
void yn_api(rl_yolo_config cfg, rl_dtype dtype, rl_result *total, rl_result *heads,
            void *const *grads);
/* The same for a network of the n heads ids[0 .. n) of the test network
 * (one head: darknet's call of a single [yolo] layer, whole anchor list). */
void yn_api_heads(rl_yolo_config cfg, rl_dtype dtype, int n, const int *ids, rl_result *total,
                  rl_result *heads, void *const *grads);

#endif
