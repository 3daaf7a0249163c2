/* The command line: subcommands, their options and the configuration they
 * describe. */
#ifndef RL_TOOL_CLI_H
#define RL_TOOL_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "regionloss.h"

/* Exit codes of the tool. */
enum { EXIT_OK = 0, EXIT_CHECK_FAILED = 1, EXIT_ERROR = 2 };

typedef enum tool_cmd {
    CMD_NONE = 0,
    CMD_LOSS,
    CMD_GOLDEN,
    CMD_CHECK,
    CMD_DEMO,
    CMD_VARIANTS,
    CMD_HELP,
    CMD_VERSION
} tool_cmd;

typedef struct tool_opts {
    tool_cmd cmd;
    const char *pred, *labels, *anchors; /* anchors: the "w1,h1,..." text */
    const char *grad_out, *out, *golden, *grad_golden, *data_dir;
    rl_config cfg; /* everything but H, W, B, C, anchors and the element types, which
                      come from the files */
    int dtype;      /* --dtype as an rl_dtype, or -1 when not given (the file's type) */
    int grad_dtype; /* --grad-dtype as an rl_dtype, or -1: the predictions' type */
    int json;
    int64_t seen;
    double rtol, atol;
} tool_opts;

/* Fills o from argv.  Returns 0, or EXIT_ERROR after printing what is wrong
 * and the usage to stderr. */
int cli_parse(int argc, char **argv, tool_opts *o);

void cli_usage(FILE *f);

/* "w1,h1,w2,h2,..." to 2*B floats (malloc'ed).  Returns 0, or EXIT_ERROR
 * after printing what is wrong. */
int cli_parse_anchors(const char *text, const char *origin, float **anchors, int32_t *B);

#endif
