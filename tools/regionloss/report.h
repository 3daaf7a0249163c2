/* A result as named numbers: the one table behind the JSON output, the
 * golden files and the check's comparison, so that the three cannot drift
 * apart. */
#ifndef RL_TOOL_REPORT_H
#define RL_TOOL_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "regionloss.h"

#define RESULT_FIELDS_MAX 32
#define RESULT_KEY_MAX 48

/* What a result is of: the region loss in one of its modes, or a [yolo]
 * head (or the total of a network of heads). */
typedef enum report_kind {
    REPORT_SPEC = RL_MODE_SPEC,
    REPORT_DARKNET = RL_MODE_DARKNET,
    REPORT_YOLO = 2
} report_kind;

static inline report_kind report_kind_of(rl_mode mode) { return (report_kind)mode; }

typedef struct result_field {
    const char *key;  /* JSON key; "darknet.cost" is member cost of object darknet */
    double value;
    int is_count;     /* an integer count, printed without a fraction */
} result_field;

/* The fields of r for a result of the given kind, in output order.  Returns
 * how many were written (at most RESULT_FIELDS_MAX). */
size_t result_fields(const rl_result *r, report_kind kind, result_field *out);

/* The JSON object (keys of result_fields plus "variant"), doubles as %.17g
 * so that reading them back gives the same bits.  malloc'ed, ends in a
 * newline; NULL when out of memory. */
char *result_json(const rl_result *r, report_kind kind);

/* The human-readable form, part by part. */
void result_print(FILE *f, const rl_result *r, report_kind kind);
/* The same without the variant line (a head of a network). */
void result_print_parts(FILE *f, const rl_result *r, report_kind kind);

/* A network of [yolo] heads: every field of the total, then those of head
 * h as "heads.h.<key>" (the keys written into keys[], one per field, so
 * out[k].key points into keys[k] for head fields).  At most
 * YOLO_FIELDS_MAX; returns how many. */
#define YOLO_FIELDS_MAX ((1 + RL_YOLO_MAX_HEADS) * RESULT_FIELDS_MAX)
size_t yolo_result_fields(const rl_result *total, const rl_result *heads, int n_heads,
                          result_field *out, char (*keys)[RESULT_KEY_MAX]);

/* The JSON object of a network: the total's fields as result_json, then
 * "heads", an array of one object per head with the same fields, then
 * "variant".  malloc'ed; NULL when out of memory. */
char *yolo_result_json(const rl_result *total, const rl_result *heads, int n_heads);

#endif
