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
/* out = in · std + mean per row (the forecast, `len` = horizon). In place allowed. */
void revin_denorm_forward(float *out,        // (rows, len)
                          const float *in,   // (rows, len)
                          const float *mean, // (rows)
                          const float *std,  // (rows)
                          int rows, int len);
/* din += dout · std */
void revin_denorm_backward(float *din,        // (rows, len)
                           const float *dout, // (rows, len)
                           const float *std,  // (rows)
                           int rows, int len);

#endif
