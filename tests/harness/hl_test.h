/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A small test harness: tests register themselves by name, run in order, and
 * report in TAP so tests/run_tests.py (and meson) can count them.
 *
 * A test that needs something the machine lacks (hugepages, root, QEMU) calls
 * HL_TEST_NEED(): that fails loudly, naming what is missing. Nothing skips.
 */
#ifndef HL_TEST_H
#define HL_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*hl_test_fn)(void);
void hl_test_register(const char *name, hl_test_fn fn);
void hl_test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool hl_test_failed(void);
/*
 * Checks made by the running test (CHECK*, REQUIRE*): a test that makes
 * none fails. A check written by hand (a condition, then hl_test_fail)
 * says it was made with HL_CHECKED().
 */
extern unsigned long hl_test_checks;
#define HL_CHECKED() (hl_test_checks++)

/* argv[0] of the test binary, and the directory it lives in (for helpers). */
extern const char *hl_test_argv0;
const char *hl_test_bindir(void);

#define HL_TEST(name)                                                                  \
	static void name(void);                                                        \
	__attribute__((constructor)) static void hl_reg_##name(void)                   \
	{                                                                              \
		hl_test_register(#name, name);                                         \
	}                                                                              \
	static void name(void)

#define CHECK(c)                                                                       \
	do {                                                                           \
		hl_test_checks++;                                                      \
		if (!(c))                                                              \
			hl_test_fail(__FILE__, __LINE__, "CHECK(%s)", #c);             \
	} while (0)

#define REQUIRE(c)                                                                     \
	do {                                                                           \
		hl_test_checks++;                                                      \
		if (!(c)) {                                                            \
			hl_test_fail(__FILE__, __LINE__, "REQUIRE(%s)", #c);           \
			return;                                                        \
		}                                                                      \
	} while (0)

#define CHECK_EQ(a, b)                                                                 \
	do {                                                                           \
		hl_test_checks++;                                                      \
		uint64_t va_ = (uint64_t)(a), vb_ = (uint64_t)(b);                     \
		if (va_ != vb_)                                                        \
			hl_test_fail(__FILE__, __LINE__, "%s == %s: 0x%" PRIx64 " != 0x%" PRIx64, \
				     #a, #b, va_, vb_);                                \
	} while (0)

#define REQUIRE_OK(expr)                                                               \
	do {                                                                           \
		hl_test_checks++;                                                      \
		long rc_ = (long)(expr);                                               \
		if (rc_ < 0) {                                                         \
			hl_test_fail(__FILE__, __LINE__, "%s failed: %ld (%s)", #expr, rc_, \
				     hl_test_strerror(rc_));                           \
			return;                                                        \
		}                                                                      \
	} while (0)

#define CHECK_STR_HAS(s, sub)                                                          \
	do {                                                                           \
		hl_test_checks++;                                                      \
		if (strstr((s), (sub)) == NULL)                                        \
			hl_test_fail(__FILE__, __LINE__, "'%s' does not mention '%s'", (s), (sub)); \
	} while (0)

/* Fail the test (and return) when a machine prerequisite is missing. */
#define HL_TEST_NEED(cond, what)                                                       \
	do {                                                                           \
		if (!(cond)) {                                                         \
			hl_test_fail(__FILE__, __LINE__,                               \
				     "MISSING PREREQUISITE: %s (make test sets it up)", what); \
			return;                                                        \
		}                                                                      \
	} while (0)

const char *hl_test_strerror(long rc);

/* A fresh scratch directory for this test binary (removed at exit). */
const char *hl_test_tmpdir(void);

#endif
