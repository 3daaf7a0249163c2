/* Staged output files: mkstemp next to the destination, write, fsync,
 * rename. */
#include "outfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void clear(staged_file *s)
{
    free(s->path);
    free(s->tmp);
    s->path = s->tmp = NULL;
}

int stage_file(staged_file *s, const char *path, const void *data, size_t len, char *err,
               size_t errlen)
{
    s->path = strdup(path);
    s->tmp = malloc(strlen(path) + 16);
    if (!s->path || !s->tmp) {
        clear(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sprintf(s->tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(s->tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file next to it: %s", strerror(errno));
        clear(s);
        return -1;
    }
    /* mkstemp makes the file 0600; a normal output file follows the umask. */
    mode_t mask = umask(0);
    umask(mask);
    int saved = 0;
    if (fchmod(fd, 0666 & ~mask) != 0)
        saved = errno;
    const char *p = data;
    size_t left = len;
    while (!saved && left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            saved = w < 0 ? errno : EIO;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!saved && fsync(fd) != 0)
        saved = errno;
    if (close(fd) != 0 && !saved)
        saved = errno;
    if (saved) {
        snprintf(err, errlen, "cannot write: %s", strerror(saved));
        unlink(s->tmp);
        clear(s);
        return -1;
    }
    return 0;
}

int commit_file(staged_file *s, char *err, size_t errlen)
{
    if (!s->tmp) {
        snprintf(err, errlen, "nothing staged");
        return -1;
    }
    if (rename(s->tmp, s->path) != 0) {
        snprintf(err, errlen, "cannot rename the temporary file to it: %s", strerror(errno));
        unlink(s->tmp);
        clear(s);
        return -1;
    }
    clear(s);
    return 0;
}

void discard_file(staged_file *s)
{
    if (s->tmp)
        unlink(s->tmp);
    clear(s);
}
