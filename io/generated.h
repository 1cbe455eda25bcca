/* Generated series with a known structure, for tests and experiments that need ground truth.
 * (series_generate and series_generate_changepoints are declared in io/series.h.)
 *
 * Ownership: a generator fills a caller-provided rp_series and allocates every buffer inside it
 * (free with series_free); row lists it returns through int ** are malloc'd and freed by the
 * caller with free(). */
#ifndef RP_GENERATED_H
#define RP_GENERATED_H

#include "io/series.h"

/* Two scales of structure (coarse regimes, fine periodic events inside each regime). */
typedef struct rp_two_scale_spec {
    int regime_min, regime_max; /* coarse regime lengths in rows, uniform in [min, max] */
    int period_min, period_max; /* each regime's event period, uniform in [min, max] */
    int event_width;            /* an event is a pulse decaying linearly to 0 over this many rows */
    double event_height;        /* pulse height scale: U(0.5, 1.5) × this, per regime and channel */
    double noise;               /* Gaussian noise std */
} rp_two_scale_spec;

/* A series with structure at two scales: coarse regimes of random length, each with its own level
 * (U(-2, 2), at least 1 away from the previous regime's) and, inside it, a fine periodic train of
 * events (pulses) with the regime's own period and a random phase; plus noise:
 *     x[t] = level(regime) + height(regime) · max(0, 1 − (t − e) / event_width) + noise · z_t,
 * e the last event row ≤ t in the same regime. The regime and event rows are the same in every
 * channel; levels, heights and noise are per channel. Forecasting it needs both scales: the
 * current regime's level (coarse) and where the next events fall, i.e. the regime's period and
 * the position of its last event (fine).
 * Optional outputs (pass NULL to skip): *regime_rows, the *n_regimes sorted rows where a new regime
 * starts (row 0 not included), and *event_rows, the *n_events sorted rows where an event starts;
 * both malloc'd, the caller frees them. Streams: structure from (seed, 0), channel c's values from
 * (seed, c + 1), so the output is identical for the same (rows, cols, spec, seed). */
int series_generate_two_scale(rp_series *out, int rows, int cols, const rp_two_scale_spec *spec,
                              unsigned long long seed, int **regime_rows, int *n_regimes, int **event_rows,
                              int *n_events, rp_error *err);

#endif
