/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log levels as a process sets them: HL_LOG_OFF writes nothing at all (what
 * the fuzzers run with) while hl_error() still records its message; a level
 * writes what is at or above it; 0 means "not set", so $HL_LOG decides.
 * stderr goes to a file for the test, and what reached it is counted.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hugelink/common.h>

#include "hl_test.h"

static int saved = -1;
static char path[256];

static void capture(void)
{
	snprintf(path, sizeof(path), "%s/stderr", hl_test_tmpdir());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	close(fd);
}

/* Bytes written to stderr since capture(). */
static long release(void)
{
	struct stat st;
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

HL_TEST(off_logs_nothing_but_keeps_the_last_error)
{
	hl_log_set_level(HL_LOG_OFF);
	CHECK_EQ(hl_log_get_level(), HL_LOG_OFF);
	capture();
	HL_LOG_ERR("an error nobody should see");
	HL_LOG_DEBUG("nor this");
	int rc = hl_error(-22, "refused: %d", 7);
	long n = release();
	CHECK_EQ(n, 0);
	CHECK_EQ(rc, -22);
	CHECK_STR_HAS(hl_last_error(), "refused: 7");
}

HL_TEST(a_level_writes_what_is_at_or_above_it)
{
	hl_log_set_level(HL_LOG_ERR);
	capture();
	HL_LOG_WARN("not at err");
	long quiet = release();
	capture();
	HL_LOG_ERR("at err");
	long loud = release();
	CHECK_EQ(quiet, 0);
	CHECK(loud > 0);
}

HL_TEST(zero_means_unset_and_the_environment_decides)
{
	setenv("HL_LOG", "warn", 1);
	hl_log_set_level(0);
	CHECK_EQ(hl_log_get_level(), HL_LOG_WARN);
	capture();
	HL_LOG_INFO("below warn");
	long n = release();
	CHECK_EQ(n, 0);
	unsetenv("HL_LOG");
	hl_log_set_level(0);
	CHECK_EQ(hl_log_get_level(), HL_LOG_INFO);
}
