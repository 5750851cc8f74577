/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The log core: targets (a file, syslog on a socket of the test's own),
 * levels by name, and the rate limit per call site: a site's burst, the
 * "last message repeated N times" line when its window ends, sites apart
 * from each other, hl_error()'s sites being its callers', no limit at 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <hugelink/common.h>

#include "hl_test.h"

static char dir[64];

static void remove_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", dir);
}

/* A fresh file name in the test's own directory, and the level back at info. */
static void setup(char *file, size_t size)
{
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/hl-log-test.XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		atexit(remove_dir);
	}
	static int n;
	snprintf(file, size, "%s/log%d", dir, n++);
	hl_log_set_level(HL_LOG_INFO);
}

/* Logging to a fresh file of the test's directory, with a rate limit of burst a window. */
static int open_log(char *file, size_t size, unsigned burst, unsigned window_ms)
{
	setup(file, size);
	int rc = hl_log_open(file);
	hl_log_set_rate_limit(burst, window_ms);
	return rc;
}

/* Lines of file that contain text, and (when repeated is not NULL) the sum of their "repeated N times". */
static unsigned count(const char *file, const char *text, unsigned long long *repeated)
{
	char line[1024];
	unsigned n = 0;
	unsigned long long rep = 0;
	FILE *f = fopen(file, "r");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			if (strstr(line, text) == NULL)
				continue;
			const char *r = strstr(line, "last message repeated ");
			if (r != NULL)
				rep += strtoull(r + 22, NULL, 10);
			else
				n++;
		}
		fclose(f);
	}
	if (repeated != NULL)
		*repeated = rep;
	return n;
}

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

HL_TEST(levels_by_name)
{
	CHECK_EQ(hl_log_level_parse("err"), HL_LOG_ERR);
	CHECK_EQ(hl_log_level_parse("WARN"), HL_LOG_WARN);
	CHECK_EQ(hl_log_level_parse("debug"), HL_LOG_DEBUG);
	CHECK_EQ(hl_log_level_parse("3"), HL_LOG_INFO);
	CHECK_EQ(hl_log_level_parse("5"), -EINVAL);
	CHECK_EQ(hl_log_level_parse("loud"), -EINVAL);
	CHECK_EQ(hl_log_level_parse(NULL), -EINVAL);
	CHECK(strcmp(hl_log_level_name(HL_LOG_WARN), "warn") == 0);
	CHECK(strcmp(hl_log_level_name(9), "?") == 0);
}

HL_TEST(a_site_writes_its_burst_then_says_how_many_it_held)
{
	char file[128];
	unsigned long long rep;
	struct hl_log_stats before, after;
	REQUIRE_OK(open_log(file, sizeof(file), 3, 200));
	CHECK(strcmp(hl_log_target(), file) == 0);
	hl_log_stats(&before);
	for (int i = 0; i < 50; i++)
		HL_LOG_WARN("flood %d", i);
	/* another site is limited on its own */
	for (int i = 0; i < 2; i++)
		HL_LOG_WARN("other %d", i);
	CHECK_EQ(count(file, "flood", &rep), 3);
	CHECK_EQ(rep, 0);
	CHECK_EQ(count(file, "other", &rep), 2);
	hl_log_stats(&after);
	CHECK_EQ(after.suppressed - before.suppressed, 47);
	nap_ms(250);
	hl_log_flush();
	CHECK_EQ(count(file, "flood", &rep), 3);
	CHECK_EQ(rep, 47);
	CHECK_EQ(count(file, "flood 49 [last message repeated 47 times", &rep), 0);
	CHECK_EQ(rep, 47); /* the summary carries the last text held back */
	/* a new window: the site writes again */
	HL_LOG_WARN("flood %d", 99);
	CHECK_EQ(count(file, "flood", &rep), 4);
	hl_log_open("stderr");
}

HL_TEST(each_hl_error_caller_is_a_site)
{
	char file[128];
	REQUIRE_OK(open_log(file, sizeof(file), 2, 10000));
	for (int i = 0; i < 10; i++) {
		CHECK_EQ(hl_error(-EINVAL, "first caller %d", i), -EINVAL);
		CHECK_EQ(hl_error(-EIO, "second caller %d", i), -EIO);
	}
	CHECK_STR_HAS(hl_last_error(), "second caller 9");
	CHECK_EQ(count(file, "first caller", NULL), 2);
	CHECK_EQ(count(file, "second caller", NULL), 2);
	hl_log_open("stderr");
}

HL_TEST(no_limit_and_levels)
{
	char file[128];
	REQUIRE_OK(open_log(file, sizeof(file), 0, 0));
	for (int i = 0; i < 40; i++)
		HL_LOG_INFO("unlimited %d", i);
	CHECK_EQ(count(file, "unlimited", NULL), 40);
	hl_log_set_level(HL_LOG_WARN);
	HL_LOG_INFO("quiet info");
	HL_LOG_WARN("loud warning");
	CHECK_EQ(count(file, "quiet info", NULL), 0);
	CHECK_EQ(count(file, "loud warning", NULL), 1);
	hl_log_set_level(HL_LOG_INFO);
	hl_log_set_rate_limit(10, 10000);
	hl_log_open("stderr");
}

HL_TEST(bad_targets_are_refused)
{
	CHECK_EQ(hl_log_open(""), -EINVAL);
	CHECK_EQ(hl_log_open(NULL), -EINVAL);
	CHECK(hl_log_open("/nonexistent-dir/x.log") == -ENOENT);
	CHECK(strcmp(hl_log_target(), "stderr") == 0);
}

HL_TEST(syslog_datagrams_carry_the_severity)
{
	char path[100], buf[1024];
	setup(path, sizeof(path));
	snprintf(path, sizeof(path), "%s/syslog.sock", dir);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	char target[160];
	snprintf(target, sizeof(target), "syslog:%s", path);
	REQUIRE_OK(hl_log_open(target));
	HL_LOG_ERR("an error %d", 1);
	HL_LOG_INFO("some info");
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	REQUIRE(n > 0);
	buf[n] = '\0';
	CHECK(strncmp(buf, "<27>", 4) == 0); /* daemon.err */
	CHECK_STR_HAS(buf, "ERR: an error 1");
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	REQUIRE(n > 0);
	buf[n] = '\0';
	CHECK(strncmp(buf, "<30>", 4) == 0); /* daemon.info */
	/* nobody listening any more: lines are counted, the caller never blocks */
	close(fd);
	unlink(path);
	struct hl_log_stats before, after;
	hl_log_stats(&before);
	HL_LOG_WARN("into the void");
	hl_log_stats(&after);
	CHECK_EQ(after.unsent - before.unsent, 1);
	hl_log_open("stderr");
}
