/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared bits of the hlbench subcommands. */
#ifndef HLBENCH_BENCH_H
#define HLBENCH_BENCH_H

#include <stdint.h>
#include <sys/types.h>

int bench_xlate(int argc, char **argv);
int bench_vhost(int argc, char **argv);
int bench_switch(int argc, char **argv);
int bench_shm(int argc, char **argv);
int bench_plot(int argc, char **argv);
int bench_dirtylog(int argc, char **argv);

struct hl_vhost_port;
/* Control thread: dirty logging on, as a migrating front-end turns it on, with a log over all its memory. */
int bench_log_start(struct hl_vhost_port *port);

/* Pin thread tid (0: the caller) to cpu, or let it run anywhere (cpu -1). */
void bench_set_cpu(pid_t tid, int cpu);

/* Median of n values; v is left as it is. */
double bench_median(const double *v, unsigned n);
/* Largest of n values (0 for none). */
double bench_max(const double *v, unsigned n);
/* Smallest of n values (0 for none). */
double bench_min(const double *v, unsigned n);

#endif
