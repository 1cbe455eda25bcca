#include "levels/features.h"

#include <math.h>
#include <stddef.h>

void policy_features_level1(const float *x, int L, float *feat, int stride) {
    const int half = POLICY_FEATURES_LOCAL_WINDOW / 2;
    for (int t = 0; t < L; t++) {
        int a = t - half < 0 ? 0 : t - half, b = t + half + 1 > L ? L : t + half + 1;
        double sum = 0.0, sq = 0.0;
        for (int u = a; u < b; u++) sum += x[u];
        double mean = sum / (b - a);
        for (int u = a; u < b; u++) sq += ((double)x[u] - mean) * ((double)x[u] - mean);
        float *f = feat + (size_t)t * stride;
        f[0] = x[t];
        f[1] = t > 0 ? x[t] - x[t - 1] : 0.0f;
        f[2] = (float)mean;
        f[3] = (float)sqrt(sq / (b - a));
    }
}

void policy_features_patches(const float *x, int L, const int *starts, int K, float *feat, int stride) {
    for (int k = 0; k < K; k++) {
        int a = starts[k], b = k + 1 < K ? starts[k + 1] : L, len = b - a;
        double sum = 0.0;
        for (int u = a; u < b; u++) sum += x[u];
        double mean = sum / len, centre = 0.5 * (len - 1);
        /* Slope = Σ (t - t̄)(x - x̄) / Σ (t - t̄)^2 over t = 0..len-1. */
        double sq = 0.0, cov = 0.0, var_t = 0.0;
        for (int u = a; u < b; u++) {
            double dx = (double)x[u] - mean, dt = (u - a) - centre;
            sq += dx * dx;
            cov += dt * dx;
            var_t += dt * dt;
        }
        float *f = feat + (size_t)k * stride;
        f[0] = (float)mean;
        f[1] = (float)sqrt(sq / len);
        f[2] = var_t > 0.0 ? (float)(cov / var_t) : 0.0f;
        f[3] = (float)((double)len * K / L - 1.0);
        f[4] = x[a];
        f[5] = x[b - 1];
    }
}

void policy_features_position(float *feat, int n, int stride, int col) {
    for (int u = 0; u < n; u++) feat[(size_t)u * stride + col] = n > 1 ? (float)(2.0 * u / (n - 1) - 1.0) : 0.0f;
}
