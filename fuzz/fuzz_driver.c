/* main() for the fuzz harnesses.
 *
 *   harness PATH...   replay: every file given, and every regular file of
 *                     every directory given (sorted, so runs are repeatable);
 *                     this is how `meson test` replays corpora and crashes
 *   harness           one input from stdin, or, when built by afl-clang-fast,
 *                     AFL++'s persistent loop over shared-memory test cases
 *
 * The harness aborts on the first violated property.  Replay runs each file
 * in a child process so that one failing file does not hide the next; the
 * closing line counts both (RL_FUZZ_NO_FORK=1 runs in-process, for a
 * debugger). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h> /* read(), used by the AFL++ macros */

#include "fuzz_driver.h"

const char *rl_fuzz_input_name = "stdin";

/* libFuzzer's optional hook, run once before the first input: a harness
 * defines it to build its lazy, one-time state up front (see
 * fuzz_driver.h).  Weak, so harnesses without one still link. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

static int read_all(FILE *f, uint8_t **out, size_t *out_len)
{
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        if (len == cap) {
            uint8_t *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                return -1;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* Runs one file; returns 0 when it passed, 1 when the harness failed on it,
 * -1 when it could not be read. */
static int run_file_here(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz replay: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *data;
    size_t len;
    int rc = read_all(f, &data, &len);
    fclose(f);
    if (rc != 0) {
        fprintf(stderr, "fuzz replay: cannot read %s\n", path);
        return -1;
    }
    rl_fuzz_input_name = path;
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

static int run_file(const char *path)
{
    static int no_fork = -1;
    if (no_fork < 0)
        no_fork = getenv("RL_FUZZ_NO_FORK") != NULL;
    if (no_fork)
        return run_file_here(path);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return run_file_here(path);
    if (pid == 0)
        _exit(run_file_here(path) == 0 ? 0 : 2);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
        return -1;
    fprintf(stderr, "FAILED: %s (%s %d)\n", path,
            WIFSIGNALED(status) ? "signal" : "exit status",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    return 1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct tally {
    long passed, failed, unreadable;
} tally;

static void count(tally *t, int rc)
{
    if (rc == 0)
        t->passed++;
    else if (rc > 0)
        t->failed++;
    else
        t->unreadable++;
}

/* Runs every regular file of dir, in name order. */
static void run_dir(const char *dir, tally *t)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz replay: cannot open directory %s: %s\n", dir, strerror(errno));
        t->unreadable++;
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* README files document a folder; dot files are editor litter. */
        if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                abort();
            names = grown;
        }
        if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0)
            abort();
        n++;
    }
    closedir(d);
    if (n > 1) /* qsort wants a non-NULL array even when there is nothing to sort */
        qsort(names, n, sizeof *names, by_name);
    tally here = {0, 0, 0};
    for (size_t k = 0; k < n; k++) {
        struct stat st;
        if (stat(names[k], &st) == 0 && S_ISREG(st.st_mode))
            count(&here, run_file(names[k]));
        free(names[k]);
    }
    free(names);
    printf("%s: %ld inputs, %ld passed, %ld failed\n", dir, here.passed + here.failed,
           here.passed, here.failed);
    t->passed += here.passed;
    t->failed += here.failed;
    t->unreadable += here.unreadable;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    if (argc > 1) {
        tally t = {0, 0, 0};
        for (int a = 1; a < argc; a++) {
            struct stat st;
            if (stat(argv[a], &st) != 0) {
                fprintf(stderr, "fuzz replay: %s: %s\n", argv[a], strerror(errno));
                t.unreadable++;
            } else if (S_ISDIR(st.st_mode)) {
                run_dir(argv[a], &t);
            } else {
                count(&t, run_file(argv[a]));
            }
        }
        printf("%s: %ld inputs replayed, %ld passed, %ld failed%s\n", argv[0],
               t.passed + t.failed, t.passed, t.failed,
               t.unreadable ? " (and some paths could not be read)" : "");
        return t.failed || t.unreadable;
    }
#ifdef __AFL_FUZZ_TESTCASE_LEN
    rl_fuzz_input_name = "afl";
    /* The fork server starts here, after LLVMFuzzerInitialize: each child
     * inherits the warm state, so the first input a child runs takes the
     * same paths as the ones after it. */
    __AFL_INIT();
    const uint8_t *buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(10000)) {
        size_t len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
        LLVMFuzzerTestOneInput(buf, len);
    }
    return 0;
#else
    uint8_t *data;
    size_t len;
    if (read_all(stdin, &data, &len) != 0) {
        fprintf(stderr, "fuzz: cannot read stdin\n");
        return 1;
    }
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
#endif
}
