/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hugelinkd: the switch daemon. It owns the pool that ports, peers and
 * guests share; it holds the pool until SIGTERM/SIGINT and then removes it.
 * After a crash, starting it again takes the pool over from its record.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hugelink/pool.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hugelinkd [--pool-mb N] [--hugepage-dir DIR] [--run-dir DIR] [--name NAME]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"pool-mb", required_argument, 0, 'm'},
					     {"hugepage-dir", required_argument, 0, 'H'},
					     {"run-dir", required_argument, 0, 'r'},
					     {"name", required_argument, 0, 'n'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	struct hl_pool_params prm = {.name = "hugelink", .size = 256ull << 20};
	char record[300];
	int o;

	while ((o = getopt_long(argc, argv, "m:H:r:n:h", opts, NULL)) != -1) {
		switch (o) {
		case 'm': prm.size = strtoull(optarg, NULL, 0) << 20; break;
		case 'H': prm.hugepage_dir = optarg; break;
		case 'r': prm.run_dir = optarg; break;
		case 'n': prm.name = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	struct hl_pool *p;
	snprintf(record, sizeof(record), "%s/%s.meta", prm.run_dir ? prm.run_dir : HL_POOL_DEFAULT_RUN_DIR,
		 prm.name);
	/* a pool left by a crashed instance is taken over, not recreated */
	int rc = hl_pool_attach(record, HL_POOL_F_OWNER, &p);
	if (rc < 0)
		rc = hl_pool_create(&prm, &p);
	if (rc < 0) {
		fprintf(stderr, "hugelinkd: %s\n", hl_last_error());
		return 1;
	}
	struct hl_pool_info in;
	hl_pool_get_info(p, &in);
	printf("hugelinkd: pool %s (%" PRIu64 " MiB, %u segments), record %s\n", in.name, in.size >> 20,
	       in.nsegs, in.record_path);
	fflush(stdout);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop)
		pause();
	hl_pool_destroy(p);
	return 0;
}
