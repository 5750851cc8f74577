/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Logging with levels, where the lines go (stderr, a file, syslog), the
 * rate limit that keeps a hostile peer from flooding them, and the
 * per-thread "last error" message. Control path only: nothing here is
 * called per packet.
 *
 * The rate limit counts lines per call site: the format string's address
 * names the site, so one refusal repeated with ever-changing arguments is
 * still one site. A site may log `burst` lines per window; the rest are
 * counted, not written, and the first line from that site after its window
 * (or hl_log_flush) says "last message repeated N times" with the last
 * text held back. The table of sites and the output are under one mutex:
 * every line is written whole, in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <hugelink/common.h>

static int log_level; /* 0 until first use, then read from $HL_LOG */
static __thread char last_error[256];

static const char *const level_names[] = {"", "err", "warn", "info", "debug"};

int hl_log_level_parse(const char *s)
{
	if (s == NULL)
		return -EINVAL;
	for (int i = HL_LOG_ERR; i <= HL_LOG_DEBUG; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	if (s[0] >= '1' && s[0] <= '4' && s[1] == '\0')
		return s[0] - '0';
	return -EINVAL;
}

const char *hl_log_level_name(int level)
{
	return level >= HL_LOG_ERR && level <= HL_LOG_DEBUG ? level_names[level] : "?";
}

static int level_from_env(void)
{
	int l = hl_log_level_parse(getenv("HL_LOG"));
	return l > 0 ? l : HL_LOG_INFO;
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

/* ---- where lines go ------------------------------------------------------ */

enum target { TO_STDERR, TO_FILE, TO_SYSLOG };

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum target target = TO_STDERR;
static char target_name[256] = "stderr";
static int file_fd = -1;
static int syslog_fd = -1;
static struct sockaddr_un syslog_addr;
static uint64_t unsent; /* lines the target did not take (no syslog listening, disk full) */

static int syslog_connect(void)
{
	if (syslog_fd < 0)
		syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (syslog_fd < 0)
		return -errno;
	if (connect(syslog_fd, (struct sockaddr *)&syslog_addr, sizeof(syslog_addr)) < 0) {
		int err = -errno;
		close(syslog_fd);
		syslog_fd = -1;
		return err;
	}
	return 0;
}

/*
 * RFC 3164 as syslog(3) sends it: <facility*8+severity>TIMESTAMP TAG[PID]:
 * the journal and rsyslog both read the severity from the number. Never
 * blocks: a syslog that does not keep up loses lines (counted), the
 * daemon does not stall.
 */
static void syslog_send(int level, const char *line, size_t len)
{
	static const int severity[] = {6, 3, 4, 6, 7};
	char msg[760], stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	int n = snprintf(msg, sizeof(msg), "<%d>%s %s[%d]: %.*s", 3 * 8 + severity[level], stamp,
			 program_invocation_short_name, (int)getpid(), (int)len, line);
	if (n < 0)
		return;
	size_t sz = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (syslog_fd < 0 && syslog_connect() < 0)
			break;
		if (send(syslog_fd, msg, sz, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sz)
			return;
		if (errno != ECONNREFUSED && errno != ENOTCONN)
			break;
		/* the syslog daemon restarted: its socket is a new one */
		close(syslog_fd);
		syslog_fd = -1;
	}
	unsent++;
}

/* One line, prefix and all, newline not included. Called with log_lock held. */
static void emit(int level, const char *line, size_t len)
{
	char buf[700];
	size_t n = 0;

	if (target == TO_SYSLOG) {
		syslog_send(level, line, len);
		return;
	}
	if (target == TO_FILE) {
		/* a file has no one to stamp its lines but us */
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ".%03ldZ ", ts.tv_nsec / 1000000);
	}
	if (len > sizeof(buf) - n - 1)
		len = sizeof(buf) - n - 1;
	memcpy(buf + n, line, len);
	n += len;
	buf[n++] = '\n';
	/* one write per line so concurrent processes on one file do not interleave */
	if (write(target == TO_FILE ? file_fd : 2, buf, n) != (ssize_t)n)
		unsent++;
}

int hl_log_open(const char *where)
{
	int rc = 0;

	if (where == NULL || where[0] == '\0')
		return hl_error(-EINVAL, "log target: stderr, syslog, syslog:SOCKET or a file name");
	hl_log_flush();
	pthread_mutex_lock(&log_lock);
	if (strcmp(where, "stderr") == 0) {
		target = TO_STDERR;
	} else if (strcmp(where, "syslog") == 0 || strncmp(where, "syslog:", 7) == 0) {
		const char *path = where[6] == ':' ? where + 7 : "/dev/log";
		if (path[0] == '\0' || strlen(path) >= sizeof(syslog_addr.sun_path)) {
			rc = -ENAMETOOLONG;
		} else {
			memset(&syslog_addr, 0, sizeof(syslog_addr));
			syslog_addr.sun_family = AF_UNIX;
			memcpy(syslog_addr.sun_path, path, strlen(path) + 1);
			if (syslog_fd >= 0)
				close(syslog_fd);
			syslog_fd = -1;
			target = TO_SYSLOG;
			/* nobody listening yet is not fatal: every line tries again, and counts if it cannot */
			rc = syslog_connect();
		}
	} else {
		int fd = open(where, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd < 0) {
			rc = -errno;
		} else {
			if (file_fd >= 0)
				close(file_fd);
			file_fd = fd;
			target = TO_FILE;
		}
	}
	if (rc == 0 || target == TO_SYSLOG)
		snprintf(target_name, sizeof(target_name), "%s", where);
	pthread_mutex_unlock(&log_lock);
	if (rc < 0 && target == TO_SYSLOG)
		return hl_error(rc, "log: nothing listens on the syslog socket %s yet (%s); lines are counted "
				    "as unsent until something does", syslog_addr.sun_path, strerror(-rc));
	if (rc < 0)
		return hl_error(rc, "log: cannot open %s: %s", where, strerror(-rc));
	return 0;
}

const char *hl_log_target(void)
{
	return target_name;
}

/* ---- the rate limit ------------------------------------------------------ */

#define SITES 128

static struct site {
	const char *key; /* the call site's format string; NULL: free */
	uint64_t window_start;
	unsigned lines;       /* written in this window */
	uint64_t held;        /* held back in this window */
	int held_level;
	char held_line[512];  /* the last line held back, prefix and all */
} sites[SITES];

static unsigned rate_burst = 10;
static uint64_t rate_window_ns = 10000000000ull;
static uint64_t suppressed_total;

void hl_log_set_rate_limit(unsigned burst, unsigned window_ms)
{
	pthread_mutex_lock(&log_lock);
	rate_burst = burst;
	rate_window_ns = (uint64_t)window_ms * 1000000ull;
	pthread_mutex_unlock(&log_lock);
}

void hl_log_stats(struct hl_log_stats *st)
{
	pthread_mutex_lock(&log_lock);
	st->suppressed = suppressed_total;
	st->unsent = unsent;
	pthread_mutex_unlock(&log_lock);
}

/* Sites beyond the table's size share its last slot: limited together, never unlimited. */
static struct site *site_of(const char *key)
{
	size_t h = ((uintptr_t)key >> 3) * 0x9E3779B97F4A7C15ull >> 32;
	for (unsigned i = 0; i < SITES - 1; i++) {
		struct site *s = &sites[(h + i) % (SITES - 1)];
		if (s->key == key)
			return s;
		if (s->key == NULL) {
			s->key = key;
			return s;
		}
	}
	return &sites[SITES - 1];
}

/* Close a site's window: say how many lines it held back. With log_lock held. */
static void site_close(struct site *s, uint64_t now)
{
	if (s->held > 0) {
		char line[640];
		int n = snprintf(line, sizeof(line), "%s [last message repeated %llu times in %.0f s, held back by "
				 "the log rate limit]", s->held_line, (unsigned long long)s->held,
				 (double)rate_window_ns / 1e9);
		emit(s->held_level, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
	s->window_start = now;
	s->lines = 0;
	s->held = 0;
}

void hl_log_flush(void)
{
	uint64_t now = hl_now_ns();
	pthread_mutex_lock(&log_lock);
	for (unsigned i = 0; i < SITES; i++)
		if (sites[i].held > 0 && now - sites[i].window_start >= rate_window_ns)
			site_close(&sites[i], now);
	pthread_mutex_unlock(&log_lock);
}

static void vlog_site(int level, const char *site, const char *fmt, va_list ap)
{
	static const char *tags[] = {"", "ERR", "WARN", "INFO", "DEBUG"};
	char line[512];
	int n;

	if (level < HL_LOG_ERR || level > hl_log_get_level())
		return;
	if (log_ident[0] != '\0')
		n = snprintf(line, sizeof(line), "hugelink[%s] %s: ", log_ident, tags[level]);
	else
		n = snprintf(line, sizeof(line), "hugelink %s: ", tags[level]);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	size_t len = strlen(line);

	uint64_t now = hl_now_ns();
	pthread_mutex_lock(&log_lock);
	if (rate_burst == 0) {
		emit(level, line, len);
	} else {
		struct site *s = site_of(site);
		if (now - s->window_start >= rate_window_ns)
			site_close(s, now);
		if (s->lines < rate_burst) {
			s->lines++;
			emit(level, line, len);
		} else {
			s->held++;
			suppressed_total++;
			s->held_level = level;
			memcpy(s->held_line, line, len + 1);
		}
	}
	pthread_mutex_unlock(&log_lock);
}

void hl_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog_site(level, fmt, fmt, ap);
	va_end(ap);
}

/* Logged under the caller's format, so each hl_error() call is a site of its own. */
static void log_error_line(const char *site, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_error_line(const char *site, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog_site(HL_LOG_WARN, site, fmt, ap);
	va_end(ap);
}

int hl_error(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	log_error_line(fmt, "%s", last_error);
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
