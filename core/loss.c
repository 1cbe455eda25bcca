#include "core/loss.h"

float mse_forward(const float *pred, const float *target, size_t n) {
    if (n == 0) return 0.0f;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)pred[i] - (double)target[i];
        s += e * e;
    }
    return (float)(s / (double)n);
}

void mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss) {
    if (n == 0) return;
    float c = (float)(2.0 * dloss / (double)n);
    for (size_t i = 0; i < n; i++) dpred[i] += c * (pred[i] - target[i]);
}

void mse_rows_forward(float *loss, const float *pred, const float *target, int rows, int cols) {
    for (int r = 0; r < rows; r++)
        loss[r] = mse_forward(pred + (size_t)r * cols, target + (size_t)r * cols, (size_t)cols);
}

void mse_rows_backward(float *dpred, const float *dloss, const float *pred, const float *target,
                       int rows, int cols) {
    for (int r = 0; r < rows; r++)
        mse_backward(dpred + (size_t)r * cols, pred + (size_t)r * cols, target + (size_t)r * cols,
                     (size_t)cols, dloss[r]);
}
