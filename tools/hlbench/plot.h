/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef HLBENCH_PLOT_H
#define HLBENCH_PLOT_H

#include <stdbool.h>

#define PLOT_MAX_POINTS 32

struct plot_series {
	const char *name;
	bool dashed; /* a reference peer, drawn dashed */
	unsigned n;
	double x[PLOT_MAX_POINTS], y[PLOT_MAX_POINTS];
};

/* Write an SVG line chart (log-scale x) to path; 0 or -1. */
int plot_svg(const char *path, const char *title, const char *ylabel, const struct plot_series *s, unsigned ns);

#endif
