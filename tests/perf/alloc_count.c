#include "alloc_count.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern void __libc_free(void *);

static atomic_int armed;
static atomic_long n_allocs, n_frees, n_threads;

static void note_alloc(void)
{
    if (atomic_load_explicit(&armed, memory_order_relaxed))
        atomic_fetch_add(&n_allocs, 1);
}

void *malloc(size_t n)
{
    note_alloc();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    note_alloc();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    note_alloc();
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (p && atomic_load_explicit(&armed, memory_order_relaxed))
        atomic_fetch_add(&n_frees, 1);
    __libc_free(p);
}

void *memalign(size_t align, size_t n)
{
    note_alloc();
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    note_alloc();
    return __libc_memalign(align, n);
}

void *valloc(size_t n)
{
    note_alloc();
    return __libc_valloc(n);
}

void *pvalloc(size_t n)
{
    note_alloc();
    return __libc_pvalloc(n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    note_alloc();
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

/* -Wl,--wrap=pthread_create routes the library's calls here: a call must
 * not start threads either (the plan's pool is made by rl_plan_create). */
int __real_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    if (atomic_load(&armed))
        atomic_fetch_add(&n_threads, 1);
    return __real_pthread_create(t, a, fn, arg);
}

void alloc_count_start(void)
{
    atomic_store(&n_allocs, 0);
    atomic_store(&n_frees, 0);
    atomic_store(&n_threads, 0);
    atomic_store(&armed, 1);
}

alloc_counts alloc_count_stop(void)
{
    atomic_store(&armed, 0);
    alloc_counts c = {atomic_load(&n_allocs), atomic_load(&n_frees), atomic_load(&n_threads)};
    return c;
}
