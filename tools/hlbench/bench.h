/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared bits of the hlbench subcommands. */
#ifndef HLBENCH_BENCH_H
#define HLBENCH_BENCH_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

int bench_xlate(int argc, char **argv);
int bench_vhost(int argc, char **argv);
int bench_switch(int argc, char **argv);
int bench_shm(int argc, char **argv);
int bench_memif(int argc, char **argv);
int bench_plot(int argc, char **argv);
int bench_dirtylog(int argc, char **argv);

struct hl_vhost_port;
/* Control thread: dirty logging on, as a migrating front-end turns it on, with a log over all its memory. */
int bench_log_start(struct hl_vhost_port *port);
/* afxdp, vxlan: scripts/bench/uplinks.py */
int bench_uplink(int argc, char **argv);

/* Pin thread tid (0: the caller) to cpu, or let it run anywhere (cpu -1). */
void bench_set_cpu(pid_t tid, int cpu);

/*
 * The CPU for the traffic side of a benchmark whose switch runs on sw_cpu
 * (0, or 1 when the switch has 0), or -1, said on stderr as "hlbench <tag>:
 * needs two CPUs (switch on .., <other> on ..)", on a machine without both.
 */
int bench_other_cpu(const char *tag, int sw_cpu, const char *other);

/*
 * Append the sizes of a --size list "B[,B...]" to sizes[*n..max), each in
 * lo..hi: 0, or -1 said on stderr ("hlbench <tag>: --size takes ...").
 */
int bench_sizes(const char *tag, const char *list, unsigned *sizes, unsigned *n, unsigned max, unsigned lo,
		unsigned hi);

/* Median of n values; v is left as it is. */
double bench_median(const double *v, unsigned n);
/* Largest, smallest of n values (0 for none). */
double bench_max(const double *v, unsigned n);
double bench_min(const double *v, unsigned n);

/*
 * How long a fixed loop takes on this core now, in ns: taken before each
 * round, so a round measured in a slow spell of the host shows in the JSON.
 */
double bench_probe_ns(void);

/*
 * Append `,"KEY":median,"KEY_min":..,"KEY_max":..,"KEY_rounds":[...]` for n
 * per-round values (nothing if n is 0), each printed with fmt (e.g. "%.3f").
 * Returns the length written (truncated to fit size).
 */
size_t bench_spread_json(char *buf, size_t size, const char *key, const double *v, unsigned n, const char *fmt);

/* The rounds a comparison takes unless told: fewer cannot show a spread worth the name. */
#define BENCH_ROUNDS 6

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
