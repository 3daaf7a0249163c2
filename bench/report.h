/* What the bench measured, and the three ways it is shown: a table, JSON,
 * and the targets read off the same numbers. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdio.h>

#include "stats.h"
#include "workloads.h"

typedef struct bench_meas {
    const bench_row *row;
    int accumulate;
    const char *variant;
    int threads;
    int scaling;     /* 1: from the thread-scaling pass */
    double ns;       /* median time of one call */
    double best_ns;  /* fastest call: what an undisturbed run approaches */
    double cpu_ns;   /* median CPU time of all threads (span timing; else = ns) */
    int reps;
    double roof_ns;  /* roofline, best of the run, same mode and threads */
    double ref_ns;   /* reference median in the same pass (0: not measured) */
} bench_meas;

typedef struct bench_report {
    bench_machine start, end;
    int reps, ref_reps, threads;
    int cpu_time; /* the main table used thread CPU time (the scaling, wall time) */
    bench_meas *m;
    int n, cap;
    int failures; /* calls that failed or disagreed with the reference */
} bench_report;

int bench_report_add(bench_report *r, const bench_meas *m);
void bench_report_table(const bench_report *r, FILE *out);
void bench_report_json(const bench_report *r, FILE *out);

#endif
