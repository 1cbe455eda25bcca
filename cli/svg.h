/* SVG drawing shared by `segment --plot` and `report`: escaped text, round tick steps, the level
 * colours, a chart frame that maps data to pixels with its value axis, polylines, and the band
 * row that shows one level's patches of a window.
 *
 * Everything writes to a FILE the caller opened (an .svg file, or an HTML page with inline SVG);
 * nothing is allocated. */
#ifndef RP_CLI_SVG_H
#define RP_CLI_SVG_H

#include <stdint.h>
#include <stdio.h>

/* Per level (mod 4): two alternating band shades, and the boundary line colour. */
extern const char *const SVG_LEVEL_BAND[4][2];
extern const char *const SVG_LEVEL_LINE[4];
/* Line colours for several series or runs in one chart (mod 8). */
extern const char *const SVG_PALETTE[8];

/* s with &, <, >, " escaped and control characters other than tab and newline dropped. */
void svg_text(FILE *f, const char *s);
/* 1, 2, 2.5 or 5 times a power of ten, at least raw (1 for raw <= 0). */
double svg_nice_step(double raw);

/* A plot area in pixels and the data range it shows. */
typedef struct svg_frame {
    double left, top, width, height;
    double x0, x1, y0, y1;
} svg_frame;

static inline double svg_fx(const svg_frame *fr, double x) {
    return fr->left + (x - fr->x0) / (fr->x1 - fr->x0) * fr->width;
}
static inline double svg_fy(const svg_frame *fr, double y) {
    return fr->top + fr->height - (y - fr->y0) / (fr->y1 - fr->y0) * fr->height;
}

/* The range of the finite values v[0..n) widened by `share` of its width on each side; a flat
 * range v..v is first widened to v ± |v|/2 (± 1 when v = 0), an empty one is [0, 1]. */
void svg_value_range(const double *v, int n, double share, double *lo, double *hi);
/* Widens [*lo, *hi] the same way (for ranges gathered from several series). */
void svg_pad_range(double *lo, double *hi, double share);

/* The plot area (class "plot-area": a light background with a grey border), horizontal grid lines
 * and labels at round values of the y range, and the y label turned on its side (NULL: none). */
void svg_frame_y_axis(FILE *f, const svg_frame *fr, const char *label);
/* Ticks and labels at round values of the x range under the plot area (integers only when
 * `integers`), and the x label below them (NULL: none). */
void svg_frame_x_axis(FILE *f, const svg_frame *fr, int integers, const char *label);
/* The finite points (x[i], y[i]) as one polyline (class "data"); a NaN splits the line. `extra`:
 * more attributes (" stroke-dasharray=\"4 3\""), or NULL. */
void svg_polyline(FILE *f, const svg_frame *fr, const double *x, const double *y, int n, const char *colour,
                  double width, const char *extra);

/* Vertical lines across the plot area at the interior boundaries starts[1..K) (in the frame's x
 * units) of one level: level 1 thin and dashed, upper levels thicker, in SVG_LEVEL_LINE. */
void svg_boundaries(FILE *f, const svg_frame *fr, const int32_t *starts, int K, int level);
/* One level's patches of a window as a row of alternating boxes from t = 0 to n_steps at height
 * y (h pixels), each labelled with its length where it is wide enough; starts[0..K) in steps. */
void svg_patch_band(FILE *f, const svg_frame *fr, double y, double h, const int32_t *starts, int K, int n_steps,
                    int level);

#endif
