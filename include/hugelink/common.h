/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Small things every hugelink module uses: branch hints, cache-line
 * alignment, logging with levels, and the "last error" message.
 *
 * Errors are negative errno values. A function that refuses input also leaves
 * a human-readable reason (naming the field at fault) in a thread-local
 * buffer, readable with hl_last_error(), and logs it.
 */
#ifndef HUGELINK_COMMON_H
#define HUGELINK_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define hl_likely(x)   __builtin_expect(!!(x), 1)
#define hl_unlikely(x) __builtin_expect(!!(x), 0)

#define HL_CACHE_LINE 64
#define hl_cache_aligned __attribute__((aligned(HL_CACHE_LINE)))

#define HL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define HL_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define HL_IS_POW2(x) ((x) != 0 && (((x) & ((x) - 1)) == 0))

/*
 * Division of 32-bit numbers by a divisor fixed at set-up, without a divide
 * instruction on the data path (tens of cycles, several times a packet when
 * descriptors are checked): m = ceil(2^64 / d), so n / d is the high half of
 * m * n, and d divides n exactly when the low half is below m. Exact for
 * every n and d below 2^32, d >= 2 (hl_div32 handles d == 1 separately).
 */
struct hl_div32 {
	uint64_t m;
	uint32_t d;
};

static inline struct hl_div32 hl_div32_init(uint32_t d)
{
	struct hl_div32 v = {.m = d > 1 ? UINT64_MAX / d + 1 : 0, .d = d};
	return v;
}

/* n / d; *exact: whether d divides n. */
static inline uint32_t hl_div32(struct hl_div32 v, uint32_t n, bool *exact)
{
	if (hl_unlikely(v.d <= 1)) {
		*exact = v.d == 1;
		return v.d == 1 ? n : 0;
	}
	*exact = v.m * n < v.m;
	return (uint32_t)(((unsigned __int128)v.m * n) >> 64);
}

/*
 * A full barrier (stores before it visible before loads after it), for the
 * "I published, now do you need a kick?" handshakes with another core. On
 * x86 a locked add to the stack orders the same as mfence at a fraction
 * of its cost; it touches a stack word below the red zone, left unchanged.
 */
static inline void hl_smp_mb(void)
{
#if defined(__x86_64__)
	__asm__ volatile("lock; addl $0, -128(%%rsp)" ::: "memory", "cc");
#else
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/*
 * Prefetch a line we are about to write that another core holds (a guest's
 * buffer, a ring it reads): PREFETCHW takes it exclusive at once, where the
 * plain prefetch GCC emits for x86-64 without -mprfchw fetches it shared
 * and the store then waits for a second round trip. CPUs without PREFETCHW
 * decode it as a no-op.
 */
static inline void hl_prefetch_w(const void *p)
{
#if defined(__x86_64__)
	__asm__ volatile("prefetchw %0" ::"m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1);
#endif
}

/* Returned by address translations that miss. */
#define HL_BAD_ADDR UINT64_MAX

enum hl_log_level {
	HL_LOG_OFF = -1, /* nothing is logged; hl_error() still records hl_last_error() */
	HL_LOG_ERR = 1,
	HL_LOG_WARN = 2,
	HL_LOG_INFO = 3,
	HL_LOG_DEBUG = 4,
};

/*
 * Level is taken from $HL_LOG (err|warn|info|debug or 1..4) at first use;
 * hl_log_set_level(0) means "not set" and reads it again, HL_LOG_OFF
 * silences everything (fuzzers, which feed errors by the million).
 */
void hl_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hl_log_set_level(int level);
int hl_log_get_level(void);
/*
 * Name every line this process logs ("hugelink[NAME] WARN: ..."), e.g.
 * with the pool's name when several daemons share a host. Call before
 * other threads start; NULL or "" drops the name.
 */
#define HL_LOG_IDENT_LEN 40
void hl_log_set_ident(const char *ident);

/* "err", "warn", "info", "debug" (any case) or "1".."4" -> the level; else -EINVAL. */
int hl_log_level_parse(const char *s);
const char *hl_log_level_name(int level);

/*
 * Where lines go: "stderr" (the default), "syslog" (the datagram socket
 * /dev/log, where the journal and syslog daemons listen), "syslog:SOCKET",
 * or the name of a file to append to, each line with a UTC time stamp.
 * 0 or -errno; a syslog socket nobody listens on yet is still taken (lines
 * go there once something does, and are counted as unsent until then), but
 * reported with -errno.
 */
int hl_log_open(const char *target);
/* The target last opened, as given ("stderr" until then). */
const char *hl_log_target(void);

/*
 * Rate limit, per call site (a log call's format string): at most burst
 * lines per window, the rest counted and summed up in one "last message
 * repeated N times" line once the window is over. Default 10 per 10 s;
 * burst 0 turns it off. A hostile peer or control client that provokes
 * the same refusal a million times costs a few lines.
 */
void hl_log_set_rate_limit(unsigned burst, unsigned window_ms);
/* Write the "repeated" lines of windows that have ended; a daemon calls it now and then. */
void hl_log_flush(void);
struct hl_log_stats {
	uint64_t suppressed; /* lines held back by the rate limit */
	uint64_t unsent;     /* lines the target did not take (no syslog listening, disk full) */
};
void hl_log_stats(struct hl_log_stats *st);

#define HL_LOG_ERR(...)   hl_log(HL_LOG_ERR, __VA_ARGS__)
#define HL_LOG_WARN(...)  hl_log(HL_LOG_WARN, __VA_ARGS__)
#define HL_LOG_INFO(...)  hl_log(HL_LOG_INFO, __VA_ARGS__)
#define HL_LOG_DEBUG(...) hl_log(HL_LOG_DEBUG, __VA_ARGS__)

/*
 * Record why an operation failed, log it at warning level, and return err
 * (a negative errno) so callers can write `return hl_error(-EINVAL, ...)`.
 */
int hl_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The reason recorded by the last hl_error() on this thread ("" if none). */
const char *hl_last_error(void);
void hl_clear_error(void);

/*
 * Bind and listen on a UNIX socket at path (type: SOCK_STREAM or
 * SOCK_SEQPACKET, with SOCK_NONBLOCK if wanted), replacing a socket file
 * nobody answers on. -EEXIST for a file that is not a socket, -EADDRINUSE
 * for a live socket; `what` names the caller in errors.
 */
int hl_unix_listen(const char *path, int type, const char *what);

/* CRC32C (Castagnoli), as used by the metadata record. */
uint32_t hl_crc32c(uint32_t crc, const void *buf, size_t len);

/* Monotonic clock in nanoseconds. */
uint64_t hl_now_ns(void);

/*
 * A cheaper monotonic clock: the TSC scaled to nanoseconds, where the CPU
 * says it is constant and keeps running (constant_tsc, nonstop_tsc), else
 * hl_now_ns(). Call hl_fast_clock_init() once (it takes ~10 ms to calibrate,
 * the first time only) before relying on it; until then it is hl_now_ns().
 * The library's own data path reads the same clock inline.
 */
void hl_fast_clock_init(void);
uint64_t hl_fast_ns(void);

#ifdef __cplusplus
}
#endif
#endif
