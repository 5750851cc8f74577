/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared bits of the hlbench subcommands. */
#ifndef HLBENCH_BENCH_H
#define HLBENCH_BENCH_H

#include <stdint.h>

int bench_xlate(int argc, char **argv);
int bench_vhost(int argc, char **argv);
int bench_switch(int argc, char **argv);
int bench_shm(int argc, char **argv);

/* Median of n values (sorts them). */
double bench_median(double *v, unsigned n);

#endif
