/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hl_test.h"
#include "testpmd_peer.h"

#define TESTPMD "/usr/bin/dpdk-testpmd"

bool testpmd_available(void)
{
	return access(TESTPMD, X_OK) == 0;
}

int testpmd_start(struct testpmd *t, const char *tag, const char *vdev, const char *fwd,
		  const char *extra)
{
	char prefix[64], fwdarg[64], vdevarg[512], cmd[2048];

	snprintf(t->log, sizeof(t->log), "%s/testpmd-%s.log", hl_test_tmpdir(), tag);
	snprintf(prefix, sizeof(prefix), "--file-prefix=hlt-%s-%d", tag, (int)getpid());
	snprintf(fwdarg, sizeof(fwdarg), "--forward-mode=%s", fwd);
	snprintf(vdevarg, sizeof(vdevarg), "--vdev=%s", vdev);
	/* one forwarding core, --no-huge so it never competes for our hugepages */
	snprintf(cmd, sizeof(cmd),
		 "exec %s -l 0,1 --main-lcore 0 --no-pci --no-huge -m 512 %s '%s' -- --nb-cores=1 %s "
		 "--stats-period 1 --no-lsc-interrupt --total-num-mbufs=8192 %s > '%s' 2>&1",
		 TESTPMD, prefix, vdevarg, fwdarg, extra ? extra : "", t->log);
	t->pid = fork();
	if (t->pid < 0)
		return -errno;
	if (t->pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a test that died */
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return 0;
}

static bool log_has(const char *path, const char *text)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	bool found = false;
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

bool testpmd_wait_log(const struct testpmd *t, const char *text, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 50) {
		if (log_has(t->log, text))
			return true;
		if (waitpid(t->pid, NULL, WNOHANG) == t->pid)
			return log_has(t->log, text);
		usleep(50000);
	}
	return false;
}

int testpmd_stop(struct testpmd *t)
{
	int st = 0;
	if (t->pid <= 0)
		return -ECHILD;
	kill(t->pid, SIGINT);
	for (int i = 0; i < 300; i++) {
		if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
			t->pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		usleep(50000);
	}
	kill(-t->pid, SIGKILL);
	kill(t->pid, SIGKILL);
	waitpid(t->pid, &st, 0);
	t->pid = 0;
	return -ETIMEDOUT;
}

long long testpmd_total(const struct testpmd *t, const char *which)
{
	FILE *f = fopen(t->log, "r");
	char line[1024];
	long long v = -1;
	bool in_total = false;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "Accumulated forward statistics"))
			in_total = true;
		char *p = strstr(line, which);
		if (in_total && p)
			v = strtoll(p + strlen(which) + 1, NULL, 10);
	}
	fclose(f);
	return v;
}
