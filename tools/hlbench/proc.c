/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The child processes hlbench runs (hugelinkd, testpmd, Open vSwitch):
 * started pinned with their output in a log, looked for in that log, and
 * always reaped, so a benchmark that fails leaves nothing running.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* Start argv[0] (PATH searched) with output to log, pinned to cpu (-1: any); it gets SIGTERM if we die. */
pid_t bench_spawn(char *const argv[], const char *log, int cpu)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	bench_set_cpu(0, cpu);
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if (nul >= 0)
		dup2(nul, 0);
	execvp(argv[0], argv);
	fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* SIGTERM, a grace period, then SIGKILL; always reaps. */
void bench_reap(pid_t *pid, int grace_ms)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	kill(*pid, SIGCONT); /* a frozen process acts on nothing but SIGKILL */
	for (int t = 0; t < grace_ms; t += 20) {
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = 0;
			return;
		}
		usleep(20000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

bool bench_exited(pid_t pid)
{
	return pid > 0 && waitpid(pid, NULL, WNOHANG) == pid;
}

/* The last lines of a log, on stderr, so a failure says why. */
void bench_tail_log(const char *tag, const char *log, unsigned lines)
{
	FILE *f = fopen(log, "r");
	char *ring[32] = {0}, line[512];
	unsigned n = 0;
	if (f == NULL)
		return;
	if (lines > 32)
		lines = 32;
	while (fgets(line, sizeof(line), f)) {
		free(ring[n % lines]);
		ring[n % lines] = strdup(line);
		n++;
	}
	fclose(f);
	fprintf(stderr, "hlbench %s: --- last lines of %s ---\n", tag, log);
	for (unsigned i = n > lines ? n - lines : 0; i < n; i++)
		fputs(ring[i % lines] ? ring[i % lines] : "", stderr);
	for (unsigned i = 0; i < lines; i++)
		free(ring[i]);
}

bool bench_log_has(const char *log, const char *text)
{
	FILE *f = fopen(log, "r");
	char line[512];
	bool found = false;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	if (f)
		fclose(f);
	return found;
}

void bench_sleep_ms(unsigned ms)
{
	usleep(ms * 1000u);
}
