/* One library call on the batch the command line names. */
#ifndef RL_TOOL_COMPUTE_H
#define RL_TOOL_COMPUTE_H

#include "cli.h"
#include "inputs.h"

/* Loads o's files into *in and computes *res, and the gradient into a new
 * buffer *grad when grad is not NULL: in->count elements of in->grad_dtype
 * (float, or uint16 bit patterns).  Returns 0 (the caller frees *grad and
 * calls inputs_free), or EXIT_ERROR after printing the problem, with nothing
 * left to free. */
int compute_from_files(const tool_opts *o, tool_inputs *in, rl_result *res, void **grad);

/* The same on inputs already loaded, with o's configuration and variant
 * (the element types are the inputs'). */
int compute_inputs(const tool_inputs *in, const rl_config *cfg, int64_t seen,
                   const char *pred_path, rl_result *res, void **grad);

#endif
