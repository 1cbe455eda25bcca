/* The standard forecasting protocol (docs/method.md §1): split borders, z-scoring with train
 * statistics, stride-1 windows, channel independence.
 *
 * A split is a row range [begin, end) of the series. Windows of a split start at every row s with
 * begin <= s and s + lookback + horizon <= end, one per channel: window index w maps to
 * (channel = w / per_channel, start = begin + w % per_channel). Nothing is copied per window.
 *
 * Ragged layout (pool datasets, io/pool.h): many univariate series of different lengths, one
 * "channel" each, stored one after the other. Then channel_rows is non-NULL, series c has
 * channel_rows[c] rows at values + channel_offset[c], and a split's windows are numbered series
 * by series: window w of split k belongs to the series c with window_prefix[k][c] <= w <
 * window_prefix[k][c + 1] (binary search, O(log channels)) and starts at row
 * channel_begin[k][c] + (w - window_prefix[k][c]) of that series. `rows` is the longest series;
 * the rp_split fields begin, end and per_channel are 0 (rectangular only); n_windows holds.
 * dataset_window and dataset_window_origin handle both layouts; dataset_channel gives a
 * channel's values in either.
 *
 * Ownership: rp_dataset owns its normalised copy of the values and the statistics; dataset_free. */
#ifndef RP_DATASET_H
#define RP_DATASET_H

#include "core/error.h"
#include "io/series.h"

typedef enum { PROTOCOL_AUTO, PROTOCOL_ETT_HOURLY, PROTOCOL_ETT_MINUTE, PROTOCOL_RATIO } rp_protocol;
typedef enum { SPLIT_TRAIN = 0, SPLIT_VAL = 1, SPLIT_TEST = 2 } rp_split_id;

typedef struct rp_split {
    int begin, end;       /* rows [begin, end) */
    int per_channel;      /* windows per channel: end - begin - lookback - horizon + 1 (>= 0) */
    int n_windows;        /* per_channel × channels */
} rp_split;

typedef struct rp_dataset {
    int rows, channels, lookback, horizon;
    rp_protocol protocol;     /* resolved: never PROTOCOL_AUTO */
    float *values;            /* [channels × rows], channel-major, z-scored with train stats */
    double *mean, *std;       /* [channels] train-split statistics (original units) */
    rp_split split[3];
    /* Ragged layout only (see above); all NULL for the rectangular layout. */
    int *channel_rows;        /* [channels] rows of each series */
    size_t *channel_offset;   /* [channels] first value of each series in values */
    int *channel_begin[3];    /* per split, [channels]: first window start row of each series */
    int *window_prefix[3];    /* per split, [channels + 1]: windows of the series before c */
} rp_dataset;

/* PROTOCOL_AUTO picks ETT borders from the file name (ETTh* hourly, ETTm* minute), else ratio.
 * Errors when the series is too short for any split to hold one window. */
rp_protocol protocol_resolve(rp_protocol p, const char *source);
int split_borders(rp_protocol p, int rows, int lookback, int horizon, rp_split out[3], rp_error *err);
int dataset_build(rp_dataset *d, const rp_series *s, rp_protocol protocol, int lookback, int horizon,
                  rp_error *err);
void dataset_free(rp_dataset *d);

/* Copies window w of a split: x [lookback] and y [horizon] (z-scored units). y may be NULL. */
void dataset_window(const rp_dataset *d, rp_split_id split, int w, float *x, float *y);
/* Channel and start row of window w of a split. */
void dataset_window_origin(const rp_dataset *d, rp_split_id split, int w, int *channel, int *start);
/* The z-scored values of channel c (either layout); *rows (may be NULL) receives its length. */
const float *dataset_channel(const rp_dataset *d, int c, int *rows);

#endif
