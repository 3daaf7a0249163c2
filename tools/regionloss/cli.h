/* The command line: subcommands, their options and the configuration they
 * describe. */
#ifndef RL_TOOL_CLI_H
#define RL_TOOL_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "dncfg.h"
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

/* Which loss: the region layer (YOLOv2, the default) or darknet's [yolo]
 * head (YOLOv3 and after), one prediction file per head. */
typedef enum tool_layer { LAYER_REGION = 0, LAYER_YOLO = 1 } tool_layer;

#define TOOL_MAX_HEADS RL_YOLO_MAX_HEADS

/* --layer yolo: the heads and their files, in command-line order. */
typedef struct yolo_opts {
    int n_heads;                                 /* --pred files, = --mask options */
    const char *preds[TOOL_MAX_HEADS];           /* head h's predictions */
    const char *masks[TOOL_MAX_HEADS];           /* head h's --mask text "6,7,8" */
    int n_grad_out, n_grad_golden;               /* 0 or n_heads */
    const char *grad_outs[TOOL_MAX_HEADS];       /* --grad-out, head by head */
    const char *grad_goldens[TOOL_MAX_HEADS];    /* --grad-golden, head by head */
    rl_yolo_config cfg; /* everything but heads, C, the anchors and the element types,
                           which come from the files and --mask / --anchors */
    int32_t classes;    /* --classes, or -1: from the first prediction file */
    const char *net_size; /* the --net-size text, for messages */
    int32_t *counters;  /* --counters-per-class (malloc'ed, never freed: one per run) */
    int32_t n_counters; /* its counts, 0 without it; must equal the classes */
} yolo_opts;

typedef struct tool_opts {
    tool_cmd cmd;
    tool_layer layer;
    const char *pred, *labels, *anchors; /* anchors: the "w1,h1,..." text */
    const char *grad_out, *out, *golden, *grad_golden, *data_dir;
    rl_config cfg; /* everything but H, W, B, C, anchors and the element types, which
                      come from the files */
    int dtype;      /* --dtype as an rl_dtype, or -1 when not given (the file's type) */
    int grad_dtype; /* --grad-dtype as an rl_dtype, or -1: the predictions' type */
    int json;
    int64_t seen;
    double rtol, atol;
    yolo_opts yolo; /* --layer yolo only */
    dncfg_options dn; /* --darknet-cfg: the texts the options above point into */
    int32_t cfg_classes; /* --darknet-cfg with a [region]: the file's C must be this; else 0 */
} tool_opts;

/* Fills o from argv.  Returns 0, or EXIT_ERROR after printing what is wrong
 * and the usage to stderr. */
int cli_parse(int argc, char **argv, tool_opts *o);

void cli_usage(FILE *f);

/* Frees what cli_parse allocated (the texts of --darknet-cfg); o may be
 * one cli_parse failed on. */
void cli_free(tool_opts *o);

/* "w1,h1,w2,h2,..." to 2*B floats (malloc'ed).  Returns 0, or EXIT_ERROR
 * after printing what is wrong. */
int cli_parse_anchors(const char *text, const char *origin, float **anchors, int32_t *B);

/* A --mask text "6,7,8" to B indices (malloc'ed); origin names the option
 * and head for messages.  Checks that each is an integer, an index of the
 * n_anchors of --anchors, and not repeated.  Returns 0, or EXIT_ERROR after
 * printing what is wrong. */
int cli_parse_mask(const char *text, const char *origin, int32_t n_anchors, int32_t **mask,
                   int32_t *B);

#endif
