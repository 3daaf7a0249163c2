/* Output files that appear whole or not at all: the bytes go to a temporary
 * file in the destination's directory (so that rename is atomic), and only
 * a successful commit gives them the final name. */
#ifndef RL_TOOL_OUTFILE_H
#define RL_TOOL_OUTFILE_H

#include <stddef.h>

typedef struct staged_file {
    char *path; /* final name */
    char *tmp;  /* NULL when nothing is staged */
} staged_file;

/* Writes data to a new temporary file next to path.  Returns 0, or -1 with
 * a message in err (and no temporary file left). */
int stage_file(staged_file *s, const char *path, const void *data, size_t len, char *err,
               size_t errlen);

/* Renames the temporary file to the final name.  On failure the temporary
 * file is removed.  Returns 0 or -1 with a message. */
int commit_file(staged_file *s, char *err, size_t errlen);

/* Removes the temporary file if one is staged; safe to call twice. */
void discard_file(staged_file *s);

#endif
