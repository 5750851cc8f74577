/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The data path's clock (hl_fast_ns): the TSC, scaled once against
 * CLOCK_MONOTONIC. Used only where the CPU promises a TSC that ticks at a
 * constant rate in every power state; otherwise hl_fast_ns() is hl_now_ns().
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <hugelink/common.h>

#include "clock_pvt.h"

uint64_t hl__tsc_mult, hl__tsc_base, hl__ns_base;

static bool cpu_has(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool found = false;
	size_t n = strlen(flag);
	while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		for (char *p = strstr(line, flag); p != NULL && !found; p = strstr(p + 1, flag))
			found = (p[-1] == ' ' || p[-1] == '\t') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0');
	}
	if (f != NULL)
		fclose(f);
	return found;
}

static void calibrate(void)
{
	if (!cpu_has("constant_tsc") || !cpu_has("nonstop_tsc")) {
		HL_LOG_INFO("clock: no constant TSC; the data path reads CLOCK_MONOTONIC");
		return;
	}
	uint64_t n0 = hl_now_ns(), t0 = __builtin_ia32_rdtsc();
	struct timespec ts = {.tv_nsec = 10000000};
	nanosleep(&ts, NULL);
	uint64_t n1 = hl_now_ns(), t1 = __builtin_ia32_rdtsc();
	if (t1 <= t0 || n1 <= n0)
		return;
	hl__tsc_base = t1;
	hl__ns_base = n1;
	__atomic_store_n(&hl__tsc_mult, (uint64_t)(((unsigned __int128)(n1 - n0) << 32) / (t1 - t0)), __ATOMIC_RELEASE);
	HL_LOG_DEBUG("clock: TSC at %.3f GHz", (double)(t1 - t0) / (double)(n1 - n0));
}

void hl_fast_clock_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, calibrate);
}

uint64_t hl_fast_ns(void)
{
	return hl__fast_ns();
}
