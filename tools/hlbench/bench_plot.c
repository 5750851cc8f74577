/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hlbench plot: one chart from the JSON lines other runs printed, so
 * results measured in separate runs (vhost modes, shm ports, the switch)
 * can be drawn side by side: throughput (Gbit/s) against frame size.
 *
 * With --best, a point is a run's best second ("mpps_peak", "max_mpps")
 * instead of its median: on a host whose slow spells can take a whole run,
 * that shows what each path can do, the median what it did.
 *
 * Series come from the fields every line carries: "bench", and for vhost
 * "backend", "dir" and "mode", for the switch "switch". A peer's series
 * (DPDK's vhost, Open vSwitch) is dashed. A later line for the same series
 * and size replaces an earlier one; lines that are not JSON objects, or
 * carry "error", are skipped and counted.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hugelink/json.h>

#include "bench.h"
#include "plot.h"

#define MAX_SERIES 6

struct chart {
	struct plot_series s[MAX_SERIES];
	char names[MAX_SERIES][48];
	unsigned ns;
	unsigned skipped;
};

static struct plot_series *series(struct chart *c, const char *name, bool dashed)
{
	for (unsigned i = 0; i < c->ns; i++)
		if (strcmp(c->names[i], name) == 0)
			return &c->s[i];
	if (c->ns == MAX_SERIES)
		return NULL;
	struct plot_series *s = &c->s[c->ns];
	snprintf(c->names[c->ns], sizeof(c->names[0]), "%s", name);
	s->name = c->names[c->ns];
	s->dashed = dashed;
	c->ns++;
	return s;
}

static void add_point(struct plot_series *s, double x, double y)
{
	unsigned i = 0;
	while (i < s->n && s->x[i] < x)
		i++;
	if (i < s->n && s->x[i] == x) {
		s->y[i] = y;
		return;
	}
	if (s->n == PLOT_MAX_POINTS)
		return;
	memmove(&s->x[i + 1], &s->x[i], (s->n - i) * sizeof(double));
	memmove(&s->y[i + 1], &s->y[i], (s->n - i) * sizeof(double));
	s->x[i] = x;
	s->y[i] = y;
	s->n++;
}

/* The series a result line belongs to; false if it is not one we draw. */
static bool name_of(const struct hl_json *v, char *name, size_t len, bool *dashed)
{
	const char *bench = hl_json_str(hl_json_get(v, "bench"));
	*dashed = false;
	if (bench == NULL)
		return false;
	if (strcmp(bench, "vhost") == 0) {
		const char *be = hl_json_str(hl_json_get(v, "backend"));
		const char *dir = hl_json_str(hl_json_get(v, "dir"));
		const char *mode = hl_json_str(hl_json_get(v, "mode"));
		if (be == NULL || dir == NULL || mode == NULL)
			return false;
		if (strcmp(be, "dpdk") == 0) {
			*dashed = true;
			snprintf(name, len, "DPDK vhost %s", dir);
		} else {
			snprintf(name, len, "vhost %s %s", dir, mode);
		}
		return true;
	}
	if (strcmp(bench, "switch") == 0) {
		const char *sw = hl_json_str(hl_json_get(v, "switch"));
		if (sw == NULL)
			return false;
		*dashed = strcmp(sw, "hugelink") != 0;
		snprintf(name, len, "%s switch", *dashed ? "OVS-DPDK" : "hugelinkd");
		return true;
	}
	if (strcmp(bench, "shm") == 0) {
		snprintf(name, len, "shm ports");
		return true;
	}
	return false;
}

/* Gbit/s of a line: its median ("gbps"), or with best its best second. */
static bool rate_of(const struct hl_json *v, double size, bool best, double *gbps)
{
	double mpps;
	if (!best)
		return hl_json_num(hl_json_get(v, "gbps"), gbps);
	if (!hl_json_num(hl_json_get(v, "mpps_peak"), &mpps) && !hl_json_num(hl_json_get(v, "max_mpps"), &mpps))
		return false;
	*gbps = mpps * size * 8 / 1000;
	return true;
}

static int read_file(struct chart *c, FILE *f, bool best)
{
	char line[4096];
	while (fgets(line, sizeof(line), f) != NULL) {
		struct hl_json *v = NULL;
		double size, gbps;
		char name[48];
		bool dashed;
		if (line[0] != '{' || hl_json_parse(line, strlen(line), &v) < 0 || hl_json_get(v, "error") != NULL ||
		    !hl_json_num(hl_json_get(v, "size"), &size) || !rate_of(v, size, best, &gbps) ||
		    size <= 0 || !name_of(v, name, sizeof(name), &dashed)) {
			c->skipped += line[0] == '{';
			hl_json_free(v);
			continue;
		}
		struct plot_series *s = series(c, name, dashed);
		if (s == NULL)
			c->skipped++;
		else
			add_point(s, size, gbps);
		hl_json_free(v);
	}
	return ferror(f) ? -1 : 0;
}

int bench_plot(int argc, char **argv)
{
	static const struct option opts[] = {{"out", required_argument, 0, 'o'},
					     {"title", required_argument, 0, 't'},
					     {"best", no_argument, 0, 'b'},
					     {0, 0, 0, 0}};
	const char *out = NULL, *title = "throughput by frame size (medians)";
	bool best = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 't': title = optarg; break;
		case 'b': best = true; break;
		default:
			fprintf(stderr, "usage: hlbench plot --out FILE.svg [--title T] [--best] RESULTS.jsonl... (- for stdin)\n");
			return 2;
		}
	}
	if (out == NULL || optind >= argc) {
		fprintf(stderr, "usage: hlbench plot --out FILE.svg [--title T] [--best] RESULTS.jsonl... (- for stdin)\n");
		return 2;
	}
	struct chart *ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return 1;
	int rc = 0;
	for (int i = optind; i < argc && rc == 0; i++) {
		FILE *f = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "r");
		if (f == NULL) {
			fprintf(stderr, "hlbench plot: cannot open %s\n", argv[i]);
			rc = 1;
			break;
		}
		if (read_file(ch, f, best) < 0) {
			fprintf(stderr, "hlbench plot: reading %s failed\n", argv[i]);
			rc = 1;
		}
		if (f != stdin)
			fclose(f);
	}
	unsigned points = 0;
	for (unsigned i = 0; i < ch->ns; i++)
		points += ch->s[i].n;
	if (rc == 0 && points == 0) {
		fprintf(stderr, "hlbench plot: no results with a size and gbps in the input\n");
		rc = 1;
	}
	if (rc == 0 && plot_svg(out, title, "Gbit/s", ch->s, ch->ns) < 0) {
		fprintf(stderr, "hlbench plot: could not write %s\n", out);
		rc = 1;
	}
	if (rc == 0)
		printf("{\"bench\":\"plot\",\"out\":\"%s\",\"series\":%u,\"points\":%u,\"skipped\":%u}\n", out, ch->ns,
		       points, ch->skipped);
	free(ch);
	return rc;
}
