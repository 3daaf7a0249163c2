/* Status names and the per-thread message of the last failure.  The message
 * is thread-local so that one plan can serve many threads, each of which can
 * still ask what went wrong with its own call. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_error[512];

rl_status rl_fail(rl_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

void rl_clear_error(void) { last_error[0] = '\0'; }

const char *rl_last_error(void) { return last_error; }

const char *rl_version(void) { return RL_VERSION_STRING; }

static const struct {
    const char *name, *desc;
} status_table[] = {
    [RL_OK] = {"RL_OK", "success"},
    [RL_ERR_NULL_POINTER] = {"RL_ERR_NULL_POINTER", "a required pointer is NULL"},
    [RL_ERR_BAD_SIZE] = {"RL_ERR_BAD_SIZE", "a size is not positive or the sizes overflow"},
    [RL_ERR_BAD_ANCHOR] = {"RL_ERR_BAD_ANCHOR", "an anchor is not finite or not positive"},
    [RL_ERR_BAD_LAMBDA] = {"RL_ERR_BAD_LAMBDA", "a loss weight is outside [0, RL_LAMBDA_MAX] or not finite"},
    [RL_ERR_BAD_THRESH] = {"RL_ERR_BAD_THRESH", "thresh is outside [0, 1]"},
    [RL_ERR_BAD_ENUM] = {"RL_ERR_BAD_ENUM", "an enumeration value is unknown"},
    [RL_ERR_BAD_TRUTH] = {"RL_ERR_BAD_TRUTH", "a truth box is out of range or not finite"},
    [RL_ERR_BAD_OFFSETS] = {"RL_ERR_BAD_OFFSETS", "the per-image truth offsets are invalid"},
    [RL_ERR_NONFINITE_PRED] = {"RL_ERR_NONFINITE_PRED", "a prediction is NaN or infinite"},
    [RL_ERR_UNKNOWN_VARIANT] = {"RL_ERR_UNKNOWN_VARIANT", "no variant has that name"},
    [RL_ERR_UNAVAILABLE_VARIANT] = {"RL_ERR_UNAVAILABLE_VARIANT",
                                    "the variant is not available on this CPU or build"},
    [RL_ERR_NO_MEMORY] = {"RL_ERR_NO_MEMORY", "out of memory"},
    [RL_ERR_THREADS] = {"RL_ERR_THREADS", "invalid thread count or thread start failure"},
    [RL_ERR_WORKSPACE] = {"RL_ERR_WORKSPACE", "the workspace is too small"},
    [RL_ERR_BAD_ARGUMENT] = {"RL_ERR_BAD_ARGUMENT", "an argument is invalid"},
};

const char *rl_status_name(rl_status st)
{
    if ((unsigned)st < sizeof status_table / sizeof status_table[0] && status_table[st].name)
        return status_table[st].name;
    return "RL_UNKNOWN_STATUS";
}

const char *rl_status_description(rl_status st)
{
    if ((unsigned)st < sizeof status_table / sizeof status_table[0] && status_table[st].desc)
        return status_table[st].desc;
    return "unknown status code";
}
