/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlbench afxdp|vxlan: the uplink benchmarks. They set up network
 * namespaces, veth pairs, kernel bridges and vxlan devices and start
 * hugelinkd and hltraffic in them, which a script does more plainly than
 * C: this runs scripts/bench/uplinks.py from the source tree with the
 * build directory hlbench lives in, passing the rest of the arguments on.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#ifndef HL_SOURCE_ROOT
#error "HL_SOURCE_ROOT: the source tree, for scripts/bench/uplinks.py"
#endif

int bench_uplink(int argc, char **argv)
{
	char exe[4096], script[4096];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0 || argc > 60) {
		fprintf(stderr, "hlbench %s: cannot find the build directory\n", argv[0]);
		return 1;
	}
	exe[len] = '\0';
	/* <build>/tools/hlbench: the build directory is two levels up */
	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(exe, '/');
		if (slash == NULL)
			return 1;
		*slash = '\0';
	}
	snprintf(script, sizeof(script), "%s/scripts/bench/uplinks.py", HL_SOURCE_ROOT);
	char *args[64] = {"python3", script, argv[0], exe};
	for (int i = 1; i < argc; i++)
		args[3 + i] = argv[i];
	args[3 + argc] = NULL;
	execvp("python3", args);
	perror("hlbench: python3");
	return 1;
}
