/* The contract between a fuzz harness and fuzz_driver.c.  A harness defines
 * LLVMFuzzerTestOneInput (the libFuzzer name, so the same file also builds
 * with -fsanitize=fuzzer) and reports a violated property through
 * FUZZ_CHECK, which prints what failed and on which input, then aborts: the
 * abort is what AFL++ records as a crash. */
#ifndef RL_FUZZ_DRIVER_H
#define RL_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional (libFuzzer's hook): called once before any input, and under
 * AFL++ before the fork server starts.  One-time lazy initialisation (a
 * pthread_once table, CPU detection, a getenv cached in a static) done on
 * the first input instead would make the first input of every fork-server
 * child take edges its repeats do not, which AFL++ counts as instability. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Name of the input being run (a file name when replaying, "stdin" or
 * "afl" otherwise); set by the driver, used in failure messages. */
extern const char *rl_fuzz_input_name;

#define FUZZ_CHECK(cond, ...)                                                        \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "FUZZ CHECK FAILED at %s:%d on input %s: %s\n  ", __FILE__, \
                    __LINE__, rl_fuzz_input_name, #cond);                            \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
            fflush(stderr);                                                          \
            abort();                                                                 \
        }                                                                            \
    } while (0)

#endif
