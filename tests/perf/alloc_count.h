/* Counts every heap allocation of the process (malloc, calloc, realloc,
 * the aligned ones, free) while armed, by defining those functions in the
 * test executable: the dynamic linker binds every caller to them, the
 * library's code and the C library's own internal callers alike (qsort,
 * printf, pthread internals), so nothing allocated on the library's behalf
 * escapes.  They forward to glibc's __libc_* entry points.  Not usable
 * under a sanitizer, which provides its own malloc. */
#ifndef RL_ALLOC_COUNT_H
#define RL_ALLOC_COUNT_H

typedef struct alloc_counts {
    long allocs;  /* malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign, valloc */
    long frees;   /* free of a non-NULL pointer */
    long threads; /* pthread_create calls (library code only, through --wrap) */
} alloc_counts;

void alloc_count_start(void);
alloc_counts alloc_count_stop(void);

#endif
