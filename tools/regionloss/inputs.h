/* Reading a batch from files: predictions (.npy), labels (text) and anchors,
 * checked against each other, with messages that name the file and the
 * field or line. */
#ifndef RL_TOOL_INPUTS_H
#define RL_TOOL_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "npy.h"
#include "regionloss.h"

typedef struct tool_inputs {
    int32_t N, H, W, B, C;
    int ndim;
    uint64_t shape[5]; /* the prediction's shape, which the gradient file repeats */
    rl_dtype dtype;      /* of pred: float32 (a float64 file is rounded), or the half
                            type the file holds, as it holds it */
    rl_dtype grad_dtype; /* of the gradient: float32 or dtype */
    void *pred;          /* count elements of dtype (float, or uint16 bit patterns) */
    size_t count;
    float *anchors; /* 2*B */
    rl_box *truths;
    int64_t *offsets; /* N + 1 */
} tool_inputs;

/* Reads a whole file.  Returns 0, or -1 with a message in err. */
int read_file(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen);

/* Loads everything; anchors_text is "w1,h1,...", anchors_origin names where
 * it came from for messages.  dtype and grad_dtype are --dtype and
 * --grad-dtype (rl_dtype values, or -1 when not given): dtype is checked
 * against the file's, and a '<u2' file is read (as bfloat16 bit patterns)
 * only with dtype RL_DTYPE_BF16; grad_dtype -1 means the predictions' type.
 * Returns 0, or EXIT_ERROR after printing the problem. */
int inputs_load(const char *pred_path, const char *labels_path, const char *anchors_text,
                const char *anchors_origin, rl_layout layout, int dtype, int grad_dtype,
                tool_inputs *in);

/* What a prediction file's shape must be beyond B and the layout (a [yolo]
 * head beside the network's other heads): dims[d] != 0 are required; whose
 * and why name it in the message ("head 1 needs", "N = 2 as ..."). */
typedef struct shape_expect {
    uint64_t dims[5];
    const char *whose, *why;
} shape_expect;

/* One prediction file: reads it, checks its element type (against dtype,
 * as inputs_load) and its shape against in->B (b_origin says where B came
 * from, for messages), the layout and ex (may be NULL), and fills in N, H,
 * W, C, ndim, shape, dtype, grad_dtype, pred and count.  Returns 0, or
 * EXIT_ERROR after printing the problem (in->pred is then not allocated). */
int inputs_load_pred(const char *path, rl_layout layout, int dtype, int grad_dtype,
                     const char *b_origin, const shape_expect *ex, tool_inputs *in);

/* The label file, checked against n_images and n_classes, as truths by
 * image and n_images + 1 offsets (the caller frees both).  Returns 0, or
 * EXIT_ERROR after printing the problem. */
int inputs_load_labels(const char *path, int32_t n_images, int32_t n_classes, rl_box **truths,
                       int64_t **offsets);

/* Prints "regionloss: path: msg" and returns EXIT_ERROR. */
int file_error(const char *path, const char *msg);

/* "(2, 255, 13, 13)" */
void format_shape(const npy_array *a, char *buf, size_t cap);

/* "f32", "f16" or "bf16", as --dtype spells it; "float32", "float16",
 * "bfloat16". */
const char *dtype_option_name(int dtype);
const char *dtype_long_name(int dtype);

/* Element k of a tensor of the given type, as a float (exact). */
float elem_to_f32(const void *values, rl_dtype dtype, size_t k);

void inputs_free(tool_inputs *in);

/* The library configuration for these inputs: cfg with H, W, B, C, the
 * anchors and the element types filled in. */
void inputs_configure(const tool_inputs *in, rl_config *cfg);

/* The batch over these inputs (pointers into in). */
rl_batch inputs_batch(const tool_inputs *in, int64_t seen);

/* Prints "regionloss: RL_ERR_...: message" for a failed library call and
 * returns EXIT_ERROR. */
int library_error(rl_status st, const char *context);

#endif
