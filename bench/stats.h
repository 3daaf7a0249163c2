/* Clock, order statistics and the machine facts printed beside every
 * figure (a shared machine: the load is part of the measurement). */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stddef.h>

/* Wall time, or with bench_use_thread_cpu_time(1) the CPU time of the
 * calling thread: on a loaded machine a long call is often descheduled
 * part-way, and the wall clock then charges it for someone else's work.
 * CPU time is only meaningful for work done by the calling thread alone. */
double bench_now_ns(void);
void bench_use_thread_cpu_time(int on);
int bench_using_thread_cpu_time(void);
/* CPU time of every thread of the process at one instant.  The span
 * between two snapshots is the CPU time of the busiest thread: what a
 * parallel call would take on an idle machine, where its threads run at
 * the same time instead of queueing behind other people's processes.  It
 * leaves out the wake-up latency of sleeping workers, so it is an estimate
 * from below. */
#define BENCH_MAX_TASKS 256
typedef struct bench_cpu_snap {
    int n;
    int tid[BENCH_MAX_TASKS];
    double ns[BENCH_MAX_TASKS]; /* other threads, from /proc/self/task/TID/schedstat */
    double self_ns;             /* the calling thread, from its CPU-time clock */
} bench_cpu_snap;

void bench_cpu_snap_take(bench_cpu_snap *s);
/* Busiest thread's CPU time from a to b; *sum (optional) gets all threads'. */
double bench_cpu_span(const bench_cpu_snap *a, const bench_cpu_snap *b, double *sum);

/* Median and minimum of n > 0 samples (the array is not reordered). */
double bench_median(const double *x, int n);
double bench_min(const double *x, int n);

typedef struct bench_machine {
    char cpu[128];
    int cpus;
    double load[3]; /* 1, 5 and 15 minute load averages; -1 when unknown */
} bench_machine;

void bench_machine_read(bench_machine *m);

#endif
