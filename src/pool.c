/* Worker pool: threads sleep on a condition variable between calls, so an
 * idle plan costs nothing.  One call at a time uses the pool; a concurrent
 * call on the same plan runs its tasks itself rather than waiting. */
#include <fenv.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "pool.h"

struct rl_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_t *threads;
    int32_t n_threads;     /* workers, not counting the caller */
    atomic_flag busy;      /* a call owns the pool */
    /* The current job; generation changes once per call. */
    uint64_t generation;
    fenv_t env;            /* the caller's floating-point environment */
    rl_task_fn fn;
    void *arg;
    int64_t n_tasks;
    atomic_llong next;     /* next task to take */
    int32_t active;        /* workers still inside the current job */
    int stop;
};

static void work(rl_pool *pool, rl_task_fn fn, void *arg, int64_t n_tasks)
{
    for (;;) {
        int64_t t = atomic_fetch_add(&pool->next, 1);
        if (t >= n_tasks)
            return;
        fn(arg, t);
    }
}

static void *worker(void *vp)
{
    rl_pool *pool = vp;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->stop && pool->generation == seen)
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->stop)
            break;
        seen = pool->generation;
        rl_task_fn fn = pool->fn;
        void *arg = pool->arg;
        int64_t n = pool->n_tasks;
        fenv_t own;
        /* Run in the caller's FP environment (rounding, flush-to-zero,
         * denormals-are-zero): every task computes the same bits whichever
         * thread runs it. */
        fegetenv(&own);
        fesetenv(&pool->env);
        pthread_mutex_unlock(&pool->lock);
        work(pool, fn, arg, n);
        fesetenv(&own);
        pthread_mutex_lock(&pool->lock);
        if (--pool->active == 0)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

rl_status rl_pool_create(int32_t threads, rl_pool **out)
{
    rl_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return rl_fail(RL_ERR_NO_MEMORY, "thread pool: out of memory");
    pool->threads = calloc((size_t)threads, sizeof *pool->threads);
    if (!pool->threads) {
        free(pool);
        return rl_fail(RL_ERR_NO_MEMORY, "thread pool: out of memory");
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_flag_clear(&pool->busy);
    for (int32_t t = 0; t < threads - 1; t++) {
        if (pthread_create(&pool->threads[t], NULL, worker, pool) != 0) {
            rl_pool_destroy(pool);
            return rl_fail(RL_ERR_THREADS, "thread pool: could not start thread %d of %d",
                           (int)t + 2, (int)threads);
        }
        pool->n_threads++;
    }
    *out = pool;
    return RL_OK;
}

void rl_pool_destroy(rl_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int32_t t = 0; t < pool->n_threads; t++)
        pthread_join(pool->threads[t], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool);
}

void rl_pool_run(rl_pool *pool, int64_t n_tasks, rl_task_fn fn, void *arg)
{
    if (!pool || n_tasks <= 1 || atomic_flag_test_and_set(&pool->busy)) {
        for (int64_t t = 0; t < n_tasks; t++)
            fn(arg, t);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    fegetenv(&pool->env);
    pool->fn = fn;
    pool->arg = arg;
    pool->n_tasks = n_tasks;
    atomic_store(&pool->next, 0);
    pool->active = pool->n_threads;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    work(pool, fn, arg, n_tasks);
    pthread_mutex_lock(&pool->lock);
    while (pool->active > 0)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
    atomic_flag_clear(&pool->busy);
}
