/* The subcommands; each returns the process exit code. */
#ifndef RL_TOOL_COMMANDS_H
#define RL_TOOL_COMMANDS_H

#include "cli.h"

int cmd_loss(const tool_opts *o);
int cmd_golden(const tool_opts *o);
int cmd_check(const tool_opts *o);
int cmd_demo(const tool_opts *o);
int cmd_variants(void);

#endif
