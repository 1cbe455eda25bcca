/* Pool datasets: windows drawn from many univariate series of different lengths (Monash .tsf
 * collections), for pretraining a level stack that transfers to other series (docs/foundation.md).
 * A pool is an rp_dataset in the ragged layout (io/dataset.h), so the trainer uses it unchanged.
 *
 * dataset_build_pool, per series of n rows (L = lookback, H = horizon):
 *   - series with a missing or non-finite value are not used (count: missing; series a reader
 *     already dropped, rp_tsf.n_dropped, are counted there too);
 *   - series shorter than L + H + 1 rows are not used (count: short);
 *   - split in time: the last n_val rows are the validation part, n_val = max(floor(val_fraction ·
 *     n), H) so that every series that has one contributes at least one validation window; a
 *     series too short for that (n − n_val < L + H) keeps every window for training (count:
 *     train_only). Train windows lie in rows [0, n − n_val); validation windows start L rows
 *     before the border (their input overlaps the train part, their target never does), as the
 *     standard protocol's val split does. val_fraction = 0: no validation part at all;
 *   - z-scored with its own mean and population std over its train part; a series whose train
 *     part is constant cannot be z-scored and is not used (count: constant). The model also
 *     RevIN-normalises every window, so the z-score only keeps magnitudes tame;
 *   - SPLIT_TEST is empty (n_windows = 0): a pool is for pretraining, not for scoring; the
 *     benchmarks have their own test splits.
 * Series keep their order (sources in the order given, series in file order); channel c of the
 * dataset is series report->channel_series[c] of source report->channel_source[c].
 *
 * Ownership: the dataset is freed with dataset_free, the report with pool_report_free. */
#ifndef RP_POOL_H
#define RP_POOL_H

#include "core/error.h"
#include "io/dataset.h"
#include "io/series.h"

#define RP_POOL_NAME_MAX 256

typedef struct rp_pool_source_report {
    char name[RP_POOL_NAME_MAX]; /* the source's file name (no directory) */
    int series;                  /* series in the source, counting the reader's dropped ones */
    int used;                    /* series in the pool */
    int skipped_short, skipped_missing, skipped_constant;
    int train_only;              /* used series too short for a validation part */
    int min_length, max_length;  /* over the used series (0 when none) */
    long long train_windows, val_windows;
} rp_pool_source_report;

typedef struct rp_pool_report {
    int lookback, horizon;
    double val_fraction;
    int min_length;              /* L + H + 1: shorter series are skipped */
    int n_sources;
    rp_pool_source_report *sources; /* [n_sources] */
    int series, used, skipped_short, skipped_missing, skipped_constant, train_only;
    long long train_windows, val_windows;
    int *channel_source, *channel_series; /* [used]: where each dataset channel comes from */
} rp_pool_report;

/* Builds the pool of the sources' series (see above); report may be NULL. Errors: bad sizes or
 * val_fraction outside [0, 1), no usable series (the message gives the counts), more windows
 * than an int indexes. On failure d and report own nothing. */
int dataset_build_pool(rp_dataset *d, const rp_tsf *const *sources, int n_sources, int lookback, int horizon,
                       double val_fraction, rp_pool_report *report, rp_error *err);
void pool_report_free(rp_pool_report *report);

/* A ragged dataset of n series with no split (every split empty), for segmenting whole series
 * (`reinpatch segment --split all`): series c has lengths[c] values series[c][i·stride]
 * (stride 1 for a .tsf series, the column count for a CSV column). Any length >= 0 is kept, so
 * channel c is series c. Each series is z-scored with the mean and population std of its finite
 * values (std 1 when that is 0 or there are none); NaN stays NaN: callers skip windows that hold
 * one. */
int dataset_build_unsplit(rp_dataset *d, int n, const float *const *series, const int *lengths, int stride,
                          int lookback, int horizon, rp_error *err);

#endif
