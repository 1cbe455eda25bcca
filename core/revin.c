#include "core/revin.h"

#include <math.h>
#include <stddef.h>

void revin_forward(float *out, float *mean, float *std, const float *in, int rows, int len) {
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * len;
        float *y = out + (size_t)r * len;
        /* two passes in double: windows can sit far from zero relative to their spread */
        double s = 0.0;
        for (int j = 0; j < len; j++) s += x[j];
        double m = s / len, v = 0.0;
        for (int j = 0; j < len; j++) v += ((double)x[j] - m) * ((double)x[j] - m);
        double sd = sqrt(v / len + RP_REVIN_EPS);
        for (int j = 0; j < len; j++) y[j] = (float)(((double)x[j] - m) / sd);
        mean[r] = (float)m;
        std[r] = (float)sd;
    }
}

void revin_denorm_forward(float *out, const float *in, const float *mean, const float *std, int rows, int group,
                          int len) {
    for (int r = 0; r < rows; r++) {
        const float *z = in + (size_t)r * len;
        float *y = out + (size_t)r * len;
        const float mu = mean[r / group], sd = std[r / group];
        for (int j = 0; j < len; j++) y[j] = z[j] * sd + mu;
    }
}

void revin_denorm_backward(float *din, const float *dout, const float *std, int rows, int group, int len) {
    for (int r = 0; r < rows; r++) {
        const float *g = dout + (size_t)r * len;
        float *d = din + (size_t)r * len;
        const float sd = std[r / group];
        for (int j = 0; j < len; j++) d[j] += g[j] * sd;
    }
}
