/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A line chart as a standalone SVG file: throughput against packet size,
 * one line per series, log-scale x. No dependencies, so `hlbench --plot`
 * works on a bare machine and the picture can go straight into the README.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plot.h"

#define W 760
#define H 440
#define L 70  /* margins */
#define R 170
#define T 40
#define B 60

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

static double xpos(double x, double lo, double hi)
{
	return L + (log(x) - log(lo)) / (log(hi) - log(lo)) * (W - L - R);
}

static double ypos(double y, double hi)
{
	return H - B - y / hi * (H - T - B);
}

/* A round step for about 6 grid lines up to hi. */
static double nice_step(double hi)
{
	double raw = hi / 6, p = pow(10, floor(log10(raw)));
	double m = raw / p;
	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

int plot_svg(const char *path, const char *title, const char *ylabel, const struct plot_series *s, unsigned ns)
{
	double xlo = 0, xhi = 0, yhi = 0;
	for (unsigned i = 0; i < ns; i++)
		for (unsigned k = 0; k < s[i].n; k++) {
			if (s[i].x[k] <= 0)
				continue;
			if (xlo == 0 || s[i].x[k] < xlo)
				xlo = s[i].x[k];
			if (s[i].x[k] > xhi)
				xhi = s[i].x[k];
			if (s[i].y[k] > yhi)
				yhi = s[i].y[k];
		}
	if (xlo == 0 || yhi <= 0)
		return -1;
	if (xhi <= xlo) { /* one size: centre it */
		xlo /= 2;
		xhi *= 2;
	}
	double step = nice_step(yhi);
	yhi = ceil(yhi / step) * step;
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
		   "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
	fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"15\">%s</text>\n", L, title);
	for (double y = 0; y <= yhi + step / 2; y += step) {
		double py = ypos(y, yhi);
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, py, W - R, py);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, py + 4, y);
	}
	/* x ticks at the sizes measured */
	for (unsigned k = 0; k < s[0].n; k++) {
		double px = xpos(s[0].x[k], xlo, xhi);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#eee\"/>\n", px, T, px, H - B);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", px, H - B + 16, s[0].x[k]);
	}
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, H - B, W - R, H - B);
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, T, L, H - B);
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">packet size (bytes, log scale)</text>\n",
		(L + W - R) / 2, H - 18);
	fprintf(f, "<text transform=\"translate(18,%d) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
		(T + H - B) / 2, ylabel);
	for (unsigned i = 0; i < ns; i++) {
		const char *c = colors[i % (sizeof(colors) / sizeof(colors[0]))];
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", c,
			s[i].dashed ? " stroke-dasharray=\"6,4\"" : "");
		for (unsigned k = 0; k < s[i].n; k++)
			if (s[i].x[k] > 0)
				fprintf(f, "%.1f,%.1f ", xpos(s[i].x[k], xlo, xhi), ypos(s[i].y[k], yhi));
		fprintf(f, "\"/>\n");
		for (unsigned k = 0; k < s[i].n; k++)
			if (s[i].x[k] > 0)
				fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
					xpos(s[i].x[k], xlo, xhi), ypos(s[i].y[k], yhi), c);
		double ly = T + 14 + i * 20.0;
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
			W - R + 14, ly, W - R + 40, ly, c, s[i].dashed ? " stroke-dasharray=\"6,4\"" : "");
		fprintf(f, "<text x=\"%d\" y=\"%.1f\">%s</text>\n", W - R + 46, ly + 4, s[i].name);
	}
	fprintf(f, "</svg>\n");
	return fclose(f) == 0 ? 0 : -1;
}
