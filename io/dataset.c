/* The standard forecasting protocol (docs/method.md §1, docs/data.md): split borders, z-scoring with
 * train statistics, stride-1 windows, one channel per sample. */
#include "io/dataset.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ETTh1/ETTh2 borders in rows (12, 4 and 4 months of 30 days × 24 hours), as fixed by the
 * Informer paper's loader and kept by every later benchmark; the 15-minute files use ×4. */
#define ETT_HOURLY_TRAIN_END 8640
#define ETT_HOURLY_VAL_END 11520
#define ETT_HOURLY_TEST_END 14400

static const char *const split_names[3] = {"train", "val", "test"};

static const char *basename_of(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

rp_protocol protocol_resolve(rp_protocol p, const char *source) {
    if (p != PROTOCOL_AUTO) return p;
    if (!source) return PROTOCOL_RATIO;
    const char *name = basename_of(source);
    if (strncmp(name, "ETTh", 4) == 0) return PROTOCOL_ETT_HOURLY;
    if (strncmp(name, "ETTm", 4) == 0) return PROTOCOL_ETT_MINUTE;
    return PROTOCOL_RATIO;
}

int split_borders(rp_protocol p, int rows, int lookback, int horizon, rp_split out[3], rp_error *err) {
    if (lookback < 1 || horizon < 1)
        return rp_fail(err, "lookback and horizon must be >= 1, got lookback=%d horizon=%d", lookback, horizon);
    if (p == PROTOCOL_AUTO) return rp_fail(err, "split_borders: protocol must be resolved (not auto)");
    int begin[3], end[3];
    if (p == PROTOCOL_ETT_HOURLY || p == PROTOCOL_ETT_MINUTE) {
        int scale = p == PROTOCOL_ETT_MINUTE ? 4 : 1;
        int train_end = ETT_HOURLY_TRAIN_END * scale, val_end = ETT_HOURLY_VAL_END * scale,
            test_end = ETT_HOURLY_TEST_END * scale;
        /* The ETT borders are absolute row numbers: a shorter file is not an ETT file (or is a
         * truncated one), and silently using fewer rows would make results incomparable. */
        if (rows < test_end)
            return rp_fail(err, "ETT %s protocol needs at least %d rows, the series has %d",
                           scale == 4 ? "minute" : "hourly", test_end, rows);
        begin[SPLIT_TRAIN] = 0;
        end[SPLIT_TRAIN] = train_end;
        begin[SPLIT_VAL] = train_end - lookback;
        end[SPLIT_VAL] = val_end;
        begin[SPLIT_TEST] = val_end - lookback;
        end[SPLIT_TEST] = test_end;
    } else {
        /* Time-Series-Library's Dataset_Custom (PatchTST uses it): int() truncation of
         * rows·0.7 and rows·0.2 in double precision, validation gets the remainder, and val and
         * test start lookback rows early so their first window's input lies before the border. */
        int num_train = (int)(rows * 0.7);
        int num_test = (int)(rows * 0.2);
        int num_val = rows - num_train - num_test;
        begin[SPLIT_TRAIN] = 0;
        end[SPLIT_TRAIN] = num_train;
        begin[SPLIT_VAL] = num_train - lookback;
        end[SPLIT_VAL] = num_train + num_val;
        begin[SPLIT_TEST] = rows - num_test - lookback;
        end[SPLIT_TEST] = rows;
    }
    for (int k = 0; k < 3; k++) {
        int per_channel = end[k] - begin[k] - lookback - horizon + 1;
        if (begin[k] < 0 || per_channel <= 0)
            return rp_fail(err, "%s split [%d, %d) holds no window: rows=%d, lookback=%d, horizon=%d "
                           "(needs begin >= 0 and end - begin >= lookback + horizon)",
                           split_names[k], begin[k], end[k], rows, lookback, horizon);
        out[k].begin = begin[k];
        out[k].end = end[k];
        out[k].per_channel = per_channel;
        out[k].n_windows = 0; /* set by dataset_build, which knows the channel count */
    }
    return 0;
}

void dataset_free(rp_dataset *d) {
    if (!d) return;
    free(d->values);
    free(d->mean);
    free(d->std);
    free(d->channel_rows);
    free(d->channel_offset);
    for (int k = 0; k < 3; k++) {
        free(d->channel_begin[k]);
        free(d->window_prefix[k]);
    }
    memset(d, 0, sizeof *d);
}

int dataset_build(rp_dataset *d, const rp_series *s, rp_protocol protocol, int lookback, int horizon,
                  rp_error *err) {
    memset(d, 0, sizeof *d);
    const char *source = s->source ? s->source : "series";
    if (s->rows < 1 || s->cols < 1 || !s->values)
        return rp_fail(err, "%s: empty series (%d rows × %d columns)", source, s->rows, s->cols);
    rp_protocol resolved = protocol_resolve(protocol, s->source);
    if (split_borders(resolved, s->rows, lookback, horizon, d->split, err))
        return rp_fail_prefix(err, "%s", source);
    if ((long long)d->split[SPLIT_TRAIN].per_channel * s->cols > 0x7fffffff ||
        (long long)d->split[SPLIT_TEST].per_channel * s->cols > 0x7fffffff)
        return rp_fail(err, "%s: too many windows for an int index", source);

    d->rows = s->rows;
    d->channels = s->cols;
    d->lookback = lookback;
    d->horizon = horizon;
    d->protocol = resolved;
    for (int k = 0; k < 3; k++) d->split[k].n_windows = d->split[k].per_channel * s->cols;
    d->values = rp_malloc(sizeof(float) * (size_t)s->rows * (size_t)s->cols, err);
    d->mean = rp_calloc((size_t)s->cols, sizeof(double), err);
    d->std = rp_calloc((size_t)s->cols, sizeof(double), err);
    if (!d->values || !d->mean || !d->std) goto fail;

    /* Train statistics only, as sklearn's StandardScaler fitted on the train rows: population
     * std (ddof = 0), two passes in double for accuracy. */
    int n_train = d->split[SPLIT_TRAIN].end;
    for (int c = 0; c < s->cols; c++) {
        double sum = 0;
        for (int t = 0; t < n_train; t++) sum += s->values[(size_t)t * (size_t)s->cols + (size_t)c];
        double mean = sum / n_train, ss = 0;
        for (int t = 0; t < n_train; t++) {
            double dev = s->values[(size_t)t * (size_t)s->cols + (size_t)c] - mean;
            ss += dev * dev;
        }
        double std = sqrt(ss / n_train);
        if (!(std > 0)) {
            rp_fail(err, "%s: column '%s' is constant over the %d train rows (std 0): cannot z-score it",
                    source, s->col_names ? s->col_names[c] : "?", n_train);
            goto fail;
        }
        d->mean[c] = mean;
        d->std[c] = std;
        float *channel = d->values + (size_t)c * (size_t)s->rows;
        for (int t = 0; t < s->rows; t++)
            channel[t] = (float)((s->values[(size_t)t * (size_t)s->cols + (size_t)c] - mean) / std);
    }
    return 0;
fail:
    dataset_free(d);
    return -1;
}

void dataset_window_origin(const rp_dataset *d, rp_split_id split, int w, int *channel, int *start) {
    const rp_split *sp = &d->split[split];
    assert(w >= 0 && w < sp->n_windows);
    if (d->channel_rows) {
        /* Ragged: the series c with prefix[c] <= w < prefix[c + 1]. Series without a window in
         * this split have prefix[c] == prefix[c + 1] and are never chosen. */
        const int *prefix = d->window_prefix[split];
        int lo = 0, hi = d->channels; /* invariant: prefix[lo] <= w < prefix[hi] */
        while (hi - lo > 1) {
            int mid = lo + (hi - lo) / 2;
            if (prefix[mid] <= w) lo = mid;
            else hi = mid;
        }
        *channel = lo;
        *start = d->channel_begin[split][lo] + (w - prefix[lo]);
        return;
    }
    *channel = w / sp->per_channel;
    *start = sp->begin + w % sp->per_channel;
}

const float *dataset_channel(const rp_dataset *d, int c, int *rows) {
    if (d->channel_rows) {
        if (rows) *rows = d->channel_rows[c];
        return d->values + d->channel_offset[c];
    }
    if (rows) *rows = d->rows;
    return d->values + (size_t)c * (size_t)d->rows;
}

void dataset_window(const rp_dataset *d, rp_split_id split, int w, float *x, float *y) {
    int channel, start;
    dataset_window_origin(d, split, w, &channel, &start);
    const float *row = dataset_channel(d, channel, NULL) + (size_t)start;
    memcpy(x, row, sizeof(float) * (size_t)d->lookback);
    if (y) memcpy(y, row + d->lookback, sizeof(float) * (size_t)d->horizon);
}
