#include "cli/svg.h"

#include <math.h>

const char *const SVG_LEVEL_BAND[4][2] = {{"#c6dbef", "#6baed6"}, {"#fdd0a2", "#fd8d3c"}, {"#c7e9c0", "#74c476"},
                                          {"#dadaeb", "#9e9ac8"}};
const char *const SVG_LEVEL_LINE[4] = {"#4a6f96", "#d94801", "#238b45", "#6a51a3"};
/* Colour-blind-safe qualitative colours (Okabe-Ito, the yellow replaced by a darker one). */
const char *const SVG_PALETTE[8] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                    "#56b4e9", "#e69f00", "#000000", "#8c6d31"};

void svg_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n') fputc(*s, f);
        }
    }
}

double svg_nice_step(double raw) {
    if (!(raw > 0)) return 1;
    double p = pow(10, floor(log10(raw))), r = raw / p;
    return p * (r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10);
}

void svg_pad_range(double *lo, double *hi, double share) {
    if (!(*lo <= *hi)) {
        *lo = 0;
        *hi = 1;
        return;
    }
    if (!(*hi > *lo)) {
        /* a flat range: half its value either way (a constant learning rate of 1e-4 stays on a
         * readable scale), 1 around zero */
        double d = *lo != 0 ? 0.5 * fabs(*lo) : 1;
        *lo -= d;
        *hi += d;
    }
    double pad = share * (*hi - *lo);
    *lo -= pad;
    *hi += pad;
}

void svg_value_range(const double *v, int n, double share, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            if (v[i] < *lo) *lo = v[i];
            if (v[i] > *hi) *hi = v[i];
        }
    svg_pad_range(lo, hi, share);
}

void svg_frame_y_axis(FILE *f, const svg_frame *fr, const char *label) {
    fprintf(f, "<rect class=\"plot-area\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fbfbfb\" "
               "stroke=\"#888\"/>\n", fr->left, fr->top, fr->width, fr->height);
    double step = svg_nice_step((fr->y1 - fr->y0) / 4.0);
    for (double v = ceil(fr->y0 / step) * step; v <= fr->y1 + 1e-9 * step; v += step) {
        double y = svg_fy(fr, v), shown = fabs(v) < 1e-9 * step ? 0.0 : v;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", fr->left, y,
                fr->left + fr->width, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%g</text>\n", fr->left - 5,
                y + 3.5, shown);
    }
    if (label) {
        fprintf(f, "<text transform=\"translate(%.1f %.1f) rotate(-90)\" font-size=\"11\" text-anchor=\"middle\">",
                fr->left - 58, fr->top + fr->height / 2);
        svg_text(f, label);
        fputs("</text>\n", f);
    }
}

void svg_frame_x_axis(FILE *f, const svg_frame *fr, int integers, const char *label) {
    double step = svg_nice_step((fr->x1 - fr->x0) / 6.0);
    if (integers && step < 1) step = 1;
    double y = fr->top + fr->height;
    for (double v = ceil(fr->x0 / step) * step; v <= fr->x1 + 1e-9 * step; v += step) {
        double x = svg_fx(fr, v), shown = fabs(v) < 1e-9 * step ? 0.0 : v;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n", x, y, x, y + 4);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">%g</text>\n", x, y + 15,
                shown);
    }
    if (label) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">", fr->left + fr->width / 2,
                y + 30);
        svg_text(f, label);
        fputs("</text>\n", f);
    }
}

void svg_polyline(FILE *f, const svg_frame *fr, const double *x, const double *y, int n, const char *colour,
                  double width, const char *extra) {
    int open = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            if (open) fputs("\"/>\n", f);
            open = 0;
            continue;
        }
        if (!open)
            fprintf(f, "<polyline class=\"data\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" "
                       "stroke-linejoin=\"round\"%s points=\"", colour, width, extra ? extra : "");
        fprintf(f, "%s%.2f,%.2f", open ? " " : "", svg_fx(fr, x[i]), svg_fy(fr, y[i]));
        open = 1;
    }
    if (open) fputs("\"/>\n", f);
}

void svg_patch_band(FILE *f, const svg_frame *fr, double y, double h, const int32_t *starts, int K, int n_steps,
                    int level) {
    for (int k = 0; k < K; k++) {
        int len = (k + 1 < K ? starts[k + 1] : n_steps) - starts[k];
        double x = svg_fx(fr, starts[k]), wd = svg_fx(fr, starts[k] + len) - x;
        fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\" stroke=\"white\" "
                   "stroke-width=\"0.5\"/>\n", x, y, wd, h, SVG_LEVEL_BAND[level % 4][k % 2]);
        if (wd >= 7.0 * (len >= 10 ? 2 : 1) + 2)
            fprintf(f, "<text x=\"%.2f\" y=\"%.1f\" font-size=\"9\" text-anchor=\"middle\" fill=\"#222\">%d</text>\n",
                    x + wd / 2, y + h / 2 + 3.5, len);
    }
}

void svg_boundaries(FILE *f, const svg_frame *fr, const int32_t *starts, int K, int level) {
    for (int k = 1; k < K; k++) {
        double x = svg_fx(fr, starts[k]);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"%s/>\n",
                x, fr->top, x, fr->top + fr->height, SVG_LEVEL_LINE[level % 4], level == 0 ? 0.9 : 2.0,
                level == 0 ? " stroke-dasharray=\"4 3\"" : "");
    }
}
