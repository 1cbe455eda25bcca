#include "levels/changepoint.h"

#include <math.h>

#include "levels/sampler.h"

void changepoint_unit_values(const float *x, int L, const int *lower_raw_starts, int n, float *v) {
    if (!lower_raw_starts) {
        for (int u = 0; u < n; u++) v[u] = x[u];
        return;
    }
    for (int u = 0; u < n; u++) {
        int a = lower_raw_starts[u], b = u + 1 < n ? lower_raw_starts[u + 1] : L;
        double sum = 0.0;
        for (int t = a; t < b; t++) sum += x[t];
        v[u] = (float)(sum / (b - a));
    }
}

/* Mean and population variance of v[a, b). */
static void window_stats(const float *v, int a, int b, double *mean, double *var) {
    double sum = 0.0, sq = 0.0;
    for (int u = a; u < b; u++) sum += v[u];
    *mean = sum / (b - a);
    for (int u = a; u < b; u++) sq += ((double)v[u] - *mean) * ((double)v[u] - *mean);
    *var = sq / (b - a);
}

void changepoint_scores(const float *v, int n, float *scores) {
    const int w = CHANGEPOINT_WINDOW;
    for (int j = 0; j < n - 1; j++) {
        int la = j + 1 - w < 0 ? 0 : j + 1 - w, rb = j + 1 + w > n ? n : j + 1 + w;
        double ml, vl, mr, vr;
        window_stats(v, la, j + 1, &ml, &vl);
        window_stats(v, j + 1, rb, &mr, &vr);
        scores[j] = (float)(fabs(mr - ml) / (sqrt(0.5 * (vl + vr)) + CHANGEPOINT_FLOOR));
    }
}

void changepoint_segment(const rp_seg_spec *spec, const float *x, int L, const int *lower_raw_starts,
                         float *values, float *scores, int *starts, void *work) {
    int n = spec->n;
    if (n < 2) {
        starts[0] = 0;
        return;
    }
    changepoint_unit_values(x, L, lower_raw_starts, n, values);
    changepoint_scores(values, n, scores);
    seg_greedy(spec, scores, starts, NULL, work);
}
