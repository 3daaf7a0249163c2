/* Clock, order statistics and the machine facts printed beside every
 * figure (a shared machine: the load is part of the measurement). */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stddef.h>

double bench_now_ns(void);
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
