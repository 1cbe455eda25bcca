/* RevIN without affine parameters (PatchTST's default revin=1, affine=0, subtract_last=0):
 * each window (row) is normalised by its own mean and std = sqrt(biased var + 1e-5) over the
 * lookback, and the forecast is denormalised with the same statistics.
 *
 * As in PatchTST, the statistics are detached: the input window needs no gradient, and the
 * denormalisation y = z·std + mean is differentiated w.r.t. the forecast z only (dz = dy·std). */
#ifndef RP_REVIN_H
#define RP_REVIN_H

#define RP_REVIN_EPS 1e-5

/* out = (in − mean) / std per row; mean and std saved for the denormalisation. */
void revin_forward(float *out,        // (rows, len)
                   float *mean,       // (rows)
                   float *std,        // (rows)
                   const float *in,   // (rows, len)
                   int rows, int len);
/* out[r] = in[r] · std[w] + mean[w] with w = r / group: the forecast (`len` = horizon) in the
 * units of its window; `group` consecutive rows (a window's rollouts) share the window's
 * statistics. In place allowed. */
void revin_denorm_forward(float *out,        // (rows, len)
                          const float *in,   // (rows, len)
                          const float *mean, // (rows / group)
                          const float *std,  // (rows / group)
                          int rows, int group, int len);
/* din[r] += dout[r] · std[r / group] */
void revin_denorm_backward(float *din,        // (rows, len)
                           const float *dout, // (rows, len)
                           const float *std,  // (rows / group)
                           int rows, int group, int len);

#endif
