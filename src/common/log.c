/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging with levels and the per-thread "last error" message. Control path
 * only: nothing here is called per packet.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <hugelink/common.h>

static int log_level; /* 0 until first use, then read from $HL_LOG */
static __thread char last_error[256];

static int level_from_env(void)
{
	static const char *names[] = {"", "err", "warn", "info", "debug"};
	const char *e = getenv("HL_LOG");

	if (e == NULL || *e == '\0')
		return HL_LOG_INFO;
	for (int i = 1; i <= HL_LOG_DEBUG; i++)
		if (strcasecmp(e, names[i]) == 0)
			return i;
	int v = atoi(e);
	return v >= HL_LOG_ERR && v <= HL_LOG_DEBUG ? v : HL_LOG_INFO;
}

int hl_log_get_level(void)
{
	int l = __atomic_load_n(&log_level, __ATOMIC_RELAXED);
	if (l == 0) {
		l = level_from_env();
		__atomic_store_n(&log_level, l, __ATOMIC_RELAXED);
	}
	return l;
}

void hl_log_set_level(int level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

/* Set once at start-up, before any thread logs. */
static char log_ident[HL_LOG_IDENT_LEN];

void hl_log_set_ident(const char *ident)
{
	snprintf(log_ident, sizeof(log_ident), "%s", ident ? ident : "");
}

static void vlog(int level, const char *fmt, va_list ap)
{
	static const char *tags[] = {"", "ERR", "WARN", "INFO", "DEBUG"};
	char line[512];
	int n;

	if (level > hl_log_get_level())
		return;
	if (log_ident[0] != '\0')
		n = snprintf(line, sizeof(line), "hugelink[%s] %s: ", log_ident, tags[level]);
	else
		n = snprintf(line, sizeof(line), "hugelink %s: ", tags[level]);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	/* one write per line so concurrent threads do not interleave */
	fwrite(line, 1, (size_t)n, stderr);
}

void hl_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

int hl_error(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	hl_log(HL_LOG_WARN, "%s", last_error);
	return err;
}

const char *hl_last_error(void)
{
	return last_error;
}

void hl_clear_error(void)
{
	last_error[0] = '\0';
}

uint64_t hl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
