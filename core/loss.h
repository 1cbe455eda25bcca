/* Mean squared error, the forecasting loss (and, negated, the GRPG reward).
 * Forward returns the loss (accumulated in double); backward ACCUMULATES (+=) into dpred. */
#ifndef RP_LOSS_H
#define RP_LOSS_H

#include <stddef.h>

/* Mean over n elements of (pred − target)²: each difference in float (the forecast's own
 * precision), squared and summed in double. */
float mse_forward(const float *pred, const float *target, size_t n);
/* The gradient of a mean of squared errors over `count` elements with respect to n of its
 * predictions (count >= n; the other elements come in other calls: the other rows of a batch, the
 * other rollouts of a group): dpred[i] += 2 (pred[i] − target[i]) / count, with 2 / count
 * rounded to float once. */
void mse_backward(float *dpred, const float *pred, const float *target, size_t n, size_t count);

#endif
