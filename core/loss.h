/* Mean squared error, the forecasting loss (and, negated, the GRPG reward).
 * Forward returns the loss (accumulated in double); backward ACCUMULATES (+=) into dpred. */
#ifndef RP_LOSS_H
#define RP_LOSS_H

#include <stddef.h>

/* mean over all n elements of (pred − target)² */
float mse_forward(const float *pred, const float *target, size_t n);
/* dpred += dloss · 2 (pred − target) / n;  dloss = ∂L/∂mse (1 when the MSE is the loss). */
void mse_backward(float *dpred, const float *pred, const float *target, size_t n, float dloss);

/* One MSE per row (a window's forecast): loss[r] = mean_j (pred[r, j] − target[r, j])². */
void mse_rows_forward(float *loss,          // (rows)
                      const float *pred,    // (rows, cols)
                      const float *target,  // (rows, cols)
                      int rows, int cols);
/* dpred[r, j] += dloss[r] · 2 (pred[r, j] − target[r, j]) / cols */
void mse_rows_backward(float *dpred,        // (rows, cols)
                       const float *dloss,  // (rows)
                       const float *pred, const float *target, int rows, int cols);

#endif
