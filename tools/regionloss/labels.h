/* Truth boxes as text: one box per line, darknet's label line with the
 * image's index in front,
 *
 *     image_index class cx cy w h
 *
 * separated by spaces or tabs; blank lines and '#' comments (to the end of
 * the line) are allowed, and so are CRLF line ends.
 *
 * Parsing works on a byte buffer that need not be NUL-terminated, so a fuzz
 * harness can call labels_parse directly; it reads nothing outside
 * [text, text + len). */
#ifndef RL_TOOL_LABELS_H
#define RL_TOOL_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "regionloss.h"

typedef struct label_entry {
    int64_t image;  /* as written; checked against the batch by labels_to_truths */
    int64_t cls;    /* as written; checked against C by labels_to_truths */
    float cx, cy, w, h;
    int64_t line;   /* 1-based line number, for messages */
} label_entry;

typedef struct label_list {
    label_entry *items;
    size_t count, cap;
} label_list;

/* Parses every line; on failure err says "line L: ..." and *out is empty.
 * Checks what needs no batch: six fields, integers where integers belong,
 * finite numbers, cx, cy in [0, 1] and w, h in (0, 1] (as floats, the
 * precision the library reads), indices not negative.  Returns 0 or -1. */
int labels_parse(const char *text, size_t len, label_list *out, char *err, size_t errlen);

void labels_free(label_list *list);

/* The library's form: truths grouped by image in input order (the order
 * decides which truth wins a shared slot), and n_images + 1 offsets.  Fails
 * ("line L: ...") when an image index is not in [0, n_images) or a class is
 * not in [0, n_classes).  On success the caller frees *truths and *offsets. */
int labels_to_truths(const label_list *list, int32_t n_images, int32_t n_classes,
                     rl_box **truths, int64_t **offsets, char *err, size_t errlen);

#endif
