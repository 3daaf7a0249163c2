/* main() for the fuzz harnesses.
 *
 *   harness PATH...   replay: every file given, and every regular file of
 *                     every directory given (sorted, so runs are repeatable);
 *                     this is how `meson test` replays corpora and crashes
 *   harness           one input from stdin, or, when built by afl-clang-fast,
 *                     AFL++'s persistent loop over shared-memory test cases
 *
 * The harness aborts on the first violated property; replay therefore stops
 * at the first bad file and names it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h> /* read(), used by the AFL++ macros */

#include "fuzz_driver.h"

const char *rl_fuzz_input_name = "stdin";

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

static int run_file(const char *path)
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

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir; returns the number run, or -1. */
static long run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz replay: cannot open directory %s: %s\n", dir, strerror(errno));
        return -1;
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
    long run = 0;
    for (size_t k = 0; k < n; k++) {
        struct stat st;
        if (stat(names[k], &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(names[k]) != 0)
                run = -1;
            else if (run >= 0)
                run++;
        }
        free(names[k]);
    }
    free(names);
    return run;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        long total = 0;
        int failed = 0;
        for (int a = 1; a < argc; a++) {
            struct stat st;
            if (stat(argv[a], &st) != 0) {
                fprintf(stderr, "fuzz replay: %s: %s\n", argv[a], strerror(errno));
                failed = 1;
            } else if (S_ISDIR(st.st_mode)) {
                long r = run_dir(argv[a]);
                if (r < 0)
                    failed = 1;
                else
                    total += r;
                printf("%s: %ld inputs passed\n", argv[a], r < 0 ? 0 : r);
            } else if (run_file(argv[a]) != 0) {
                failed = 1;
            } else {
                total++;
            }
        }
        /* Reaching this line means no input aborted. */
        printf("%s: %ld inputs replayed, %d passed, 0 failed%s\n", argv[0], total,
               (int)total, failed ? " (but some paths could not be read)" : "");
        return failed;
    }
#ifdef __AFL_FUZZ_TESTCASE_LEN
    rl_fuzz_input_name = "afl";
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
