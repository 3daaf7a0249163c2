/* A fixed pool of worker threads owned by a plan.  A call hands it a number
 * of tasks; the calling thread works too, and the call returns when every
 * task is done.  Tasks are numbered, so that results can be combined in a
 * fixed order whatever the thread count. */
#ifndef RL_POOL_H
#define RL_POOL_H

#include "internal.h"

#define RL_MAX_THREADS 256

typedef struct rl_pool rl_pool;
typedef void (*rl_task_fn)(void *arg, int64_t task);

RL_HIDDEN rl_status rl_pool_create(int32_t threads, rl_pool **out);
RL_HIDDEN void rl_pool_destroy(rl_pool *pool);
/* Runs fn(arg, t) for t in [0, n_tasks).  With pool NULL, or when another
 * call is already using the pool, runs them in the calling thread. */
RL_HIDDEN void rl_pool_run(rl_pool *pool, int64_t n_tasks, rl_task_fn fn, void *arg);

#endif
