/* A strict reader for the tool's own JSON: one object whose values are
 * numbers, strings without escapes, objects of those (one level deep), or
 * (at the top level only: a [yolo] network's "heads") non-empty arrays of
 * objects, each of which may hold objects of numbers and strings in turn.
 * Members of a nested object come out flattened as "outer.inner", those of
 * element k of an array as "outer.k.inner" ("heads.1.darknet.cost").
 * Anything else JSON allows (arrays of numbers or inside objects,
 * true/false/null, escapes, deeper nesting) is rejected: the tool never
 * writes it, so meeting it means the file is not a golden file.
 *
 * Works on a byte buffer that need not be NUL-terminated and reads nothing
 * outside [text, text + len), so a fuzz harness can call it directly. */
#ifndef RL_TOOL_JSON_H
#define RL_TOOL_JSON_H

#include <stddef.h>

#define JSON_KEY_MAX 64
#define JSON_STRING_MAX 64

typedef struct json_field {
    char key[JSON_KEY_MAX];
    int is_string;
    double number;
    char string[JSON_STRING_MAX];
} json_field;

typedef struct json_object {
    json_field *fields; /* in file order */
    size_t count;
} json_object;

/* Returns 0, or -1 with "line L, column C: ..." in err and *out empty.
 * Duplicate keys and numbers outside double range are errors. */
int json_parse(const char *text, size_t len, json_object *out, char *err, size_t errlen);

/* NULL when absent. */
const json_field *json_get(const json_object *obj, const char *key);

void json_free(json_object *obj);

#endif
