/* A result as named numbers: the one table behind the JSON output, the
 * golden files and the check's comparison, so that the three cannot drift
 * apart. */
#ifndef RL_TOOL_REPORT_H
#define RL_TOOL_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "regionloss.h"

#define RESULT_FIELDS_MAX 32

typedef struct result_field {
    const char *key;  /* JSON key; "darknet.cost" is member cost of object darknet */
    double value;
    int is_count;     /* an integer count, printed without a fraction */
} result_field;

/* The fields of r for a result of the given mode, in output order.  Returns
 * how many were written (at most RESULT_FIELDS_MAX). */
size_t result_fields(const rl_result *r, rl_mode mode, result_field *out);

/* The JSON object (keys of result_fields plus "variant"), doubles as %.17g
 * so that reading them back gives the same bits.  malloc'ed, ends in a
 * newline; NULL when out of memory. */
char *result_json(const rl_result *r, rl_mode mode);

/* The human-readable form, part by part. */
void result_print(FILE *f, const rl_result *r, rl_mode mode);

#endif
