/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hl_test.h"

struct entry {
	const char *name;
	hl_test_fn fn;
};

static struct entry tests[512];
static unsigned ntests;
static bool cur_failed;
unsigned long hl_test_checks;
const char *hl_test_argv0;
static char tmpdir[PATH_MAX];
static char bindir[PATH_MAX];

void hl_test_register(const char *name, hl_test_fn fn)
{
	if (ntests < sizeof(tests) / sizeof(tests[0]))
		tests[ntests++] = (struct entry){name, fn};
}

void hl_test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stdout, "# FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fprintf(stdout, "\n");
	fflush(stdout);
	cur_failed = true;
}

bool hl_test_failed(void)
{
	return cur_failed;
}

const char *hl_test_strerror(long rc)
{
	return strerror(rc < 0 ? (int)-rc : (int)rc);
}

const char *hl_test_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/hltest.XXXXXX");
		if (mkdtemp(tmpdir) == NULL) {
			perror("mkdtemp");
			exit(2);
		}
	}
	return tmpdir;
}

const char *hl_test_bindir(void)
{
	return bindir;
}

static void cleanup(void)
{
	if (tmpdir[0] != '\0') {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
}

int main(int argc, char **argv)
{
	unsigned failed = 0, run = 0;
	const char *only = argc > 1 ? argv[1] : NULL;
	char self[PATH_MAX];

	hl_test_argv0 = argv[0];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(bindir, sizeof(bindir), "%s", dirname(self));
	}
	atexit(cleanup);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned i = 0; i < ntests; i++)
		if (only == NULL || strcmp(only, tests[i].name) == 0)
			run++;
	printf("1..%u\n", run);
	run = 0;
	for (unsigned i = 0; i < ntests; i++) {
		if (only != NULL && strcmp(only, tests[i].name) != 0)
			continue;
		cur_failed = false;
		hl_test_checks = 0;
		tests[i].fn();
		/* a test that checked nothing proved nothing: it fails, named */
		if (!cur_failed && hl_test_checks == 0)
			hl_test_fail(__FILE__, __LINE__, "%s made no check", tests[i].name);
		run++;
		printf("%sok %u - %s\n", cur_failed ? "not " : "", run, tests[i].name);
		failed += cur_failed;
	}
	return failed ? 1 : 0;
}
