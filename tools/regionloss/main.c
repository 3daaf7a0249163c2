/* regionloss: the library from a shell.  See cli.c for the usage. */
#include <stdio.h>

#include "commands.h"

int main(int argc, char **argv)
{
    tool_opts o;
    int rc = cli_parse(argc, argv, &o);
    if (rc) {
        cli_free(&o);
        return rc;
    }
    switch (o.cmd) {
    case CMD_LOSS:
        rc = cmd_loss(&o);
        break;
    case CMD_GOLDEN:
        rc = cmd_golden(&o);
        break;
    case CMD_CHECK:
        rc = cmd_check(&o);
        break;
    case CMD_DEMO:
        rc = cmd_demo(&o);
        break;
    case CMD_VARIANTS:
        rc = cmd_variants();
        break;
    case CMD_VERSION:
        printf("regionloss %s (library %s)\n", RL_VERSION_STRING, rl_version());
        break;
    case CMD_HELP:
    default:
        cli_usage(stdout);
        break;
    }
    /* A full disk or closed pipe on stdout must not pass for success. */
    if (fflush(stdout) != 0 && rc == EXIT_OK) {
        perror("regionloss: stdout");
        rc = EXIT_ERROR;
    }
    cli_free(&o);
    return rc;
}
