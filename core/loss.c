#include "core/loss.h"

float mse_forward(const float *pred, const float *target, size_t n) {
    if (n == 0) return 0.0f;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = pred[i] - target[i];
        s += e * e;
    }
    return (float)(s / (double)n);
}

void mse_backward(float *dpred, const float *pred, const float *target, size_t n, size_t count) {
    if (count == 0) return;
    const float c = 2.0f / (float)count;
    for (size_t i = 0; i < n; i++) dpred[i] += c * (pred[i] - target[i]);
}
