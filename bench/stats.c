#include "stats.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static clockid_t bench_clock = CLOCK_MONOTONIC;

void bench_use_thread_cpu_time(int on) { bench_clock = on ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC; }
int bench_using_thread_cpu_time(void) { return bench_clock == CLOCK_THREAD_CPUTIME_ID; }

double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

void bench_cpu_snap_take(bench_cpu_snap *s)
{
    s->n = 0;
    const int self = (int)gettid();
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; d && (e = readdir(d)) && s->n < BENCH_MAX_TASKS;) {
        const int tid = atoi(e->d_name);
        if (tid <= 0 || tid == self)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
        FILE *f = fopen(path, "r");
        unsigned long long run = 0;
        if (f) {
            if (fscanf(f, "%llu", &run) != 1)
                run = 0;
            fclose(f);
        }
        s->tid[s->n] = tid;
        s->ns[s->n++] = (double)run;
    }
    if (d)
        closedir(d);
    /* Last, and from the clock: schedstat lags for a thread that is running. */
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    s->self_ns = (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double bench_cpu_span(const bench_cpu_snap *a, const bench_cpu_snap *b, double *sum)
{
    double busiest = b->self_ns - a->self_ns, total = busiest;
    for (int k = 0; k < b->n; k++)
        for (int j = 0; j < a->n; j++)
            if (a->tid[j] == b->tid[k]) {
                const double d = b->ns[k] - a->ns[j];
                total += d;
                busiest = d > busiest ? d : busiest;
                break;
            }
    if (sum)
        *sum = total;
    return busiest;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(const double *x, int n)
{
    double *tmp = malloc((size_t)n * sizeof *x);
    if (!tmp)
        return x[0];
    memcpy(tmp, x, (size_t)n * sizeof *x);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    const double m = n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
    free(tmp);
    return m;
}

double bench_min(const double *x, int n)
{
    double m = x[0];
    for (int k = 1; k < n; k++)
        m = x[k] < m ? x[k] : m;
    return m;
}

void bench_machine_read(bench_machine *m)
{
    memset(m, 0, sizeof *m);
    snprintf(m->cpu, sizeof m->cpu, "unknown CPU");
    m->cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    m->load[0] = m->load[1] = m->load[2] = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &m->load[0], &m->load[1], &m->load[2]) != 3)
            m->load[0] = m->load[1] = m->load[2] = -1;
        fclose(f);
    }
    f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            const char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && colon) {
                snprintf(m->cpu, sizeof m->cpu, "%s", colon + 2);
                m->cpu[strcspn(m->cpu, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
}
