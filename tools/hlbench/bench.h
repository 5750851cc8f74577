/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared bits of the hlbench subcommands. */
#ifndef HLBENCH_BENCH_H
#define HLBENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

int bench_xlate(int argc, char **argv);
int bench_vhost(int argc, char **argv);
int bench_switch(int argc, char **argv);
int bench_shm(int argc, char **argv);
int bench_memif(int argc, char **argv);
int bench_plot(int argc, char **argv);

/* Pin thread tid (0: the caller) to cpu, or let it run anywhere (cpu -1). */
void bench_set_cpu(pid_t tid, int cpu);

/* Median of n values; v is left as it is. */
double bench_median(const double *v, unsigned n);
/* Largest of n values (0 for none). */
double bench_max(const double *v, unsigned n);

/* ---- child processes (proc.c) ---- */

/* Start argv[0] (PATH searched) with output appended to log, pinned to cpu (-1: any); SIGTERM if we die. */
pid_t bench_spawn(char *const argv[], const char *log, int cpu);
/* SIGTERM (and SIGCONT), grace_ms, then SIGKILL; always reaps; *pid becomes 0. */
void bench_reap(pid_t *pid, int grace_ms);
bool bench_exited(pid_t pid);
/* The last lines of log on stderr, headed "hlbench <tag>:". */
void bench_tail_log(const char *tag, const char *log, unsigned lines);
/* Whether a line of log holds text. */
bool bench_log_has(const char *log, const char *text);
void bench_sleep_ms(unsigned ms);

#endif
