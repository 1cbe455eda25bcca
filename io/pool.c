/* Pool datasets: many univariate series of different lengths in one ragged rp_dataset
 * (io/pool.h, docs/foundation.md). */
#include "io/pool.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *base_name(const char *path) {
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path ? path : "source";
}

void pool_report_free(rp_pool_report *report) {
    if (!report) return;
    free(report->sources);
    free(report->channel_source);
    free(report->channel_series);
    memset(report, 0, sizeof *report);
}

/* Allocates the ragged bookkeeping of d for `channels` series holding `total` values. */
static int alloc_ragged(rp_dataset *d, int channels, size_t total, rp_error *err) {
    d->channels = channels;
    d->values = rp_malloc(sizeof(float) * total, err);
    d->mean = rp_calloc((size_t)channels, sizeof(double), err);
    d->std = rp_calloc((size_t)channels, sizeof(double), err);
    d->channel_rows = rp_calloc((size_t)channels, sizeof(int), err);
    d->channel_offset = rp_calloc((size_t)channels, sizeof(size_t), err);
    int ok = d->values && d->mean && d->std && d->channel_rows && d->channel_offset;
    for (int k = 0; k < 3; k++) {
        d->channel_begin[k] = rp_calloc((size_t)channels, sizeof(int), err);
        d->window_prefix[k] = rp_calloc((size_t)channels + 1, sizeof(int), err);
        ok = ok && d->channel_begin[k] && d->window_prefix[k];
    }
    return ok ? 0 : -1;
}

/* How one series of the pool is used. */
typedef struct pool_entry {
    int source, series, rows, n_train, n_val;
    double mean, std;
} pool_entry;

typedef enum { USE_OK, USE_MISSING, USE_SHORT, USE_CONSTANT } pool_use;

/* Classifies a series and, when usable, fills its split sizes and train statistics. */
static pool_use classify(const rp_tsf_series *s, int L, int H, double val_fraction, pool_entry *e) {
    int n = s->length;
    for (int i = 0; i < n; i++)
        if (!isfinite(s->values[i])) return USE_MISSING;
    if (n < L + H + 1) return USE_SHORT;
    int n_val = 0;
    if (val_fraction > 0) {
        n_val = (int)floor(val_fraction * n);
        if (n_val < H) n_val = H;
        if (n - n_val < L + H) n_val = 0; /* too short to hold out a validation part */
    }
    int n_train = n - n_val;
    /* Population statistics over the train part, two passes in double (as dataset_build). */
    double sum = 0;
    for (int i = 0; i < n_train; i++) sum += s->values[i];
    double mean = sum / n_train, ss = 0;
    for (int i = 0; i < n_train; i++) {
        double dev = s->values[i] - mean;
        ss += dev * dev;
    }
    double std = sqrt(ss / n_train);
    /* A train part that is constant, or so nearly that z-scores would blow up float rounding. */
    if (!(std > 1e-12 * (fabs(mean) > 1 ? fabs(mean) : 1))) return USE_CONSTANT;
    e->rows = n;
    e->n_train = n_train;
    e->n_val = n_val;
    e->mean = mean;
    e->std = std;
    return USE_OK;
}

int dataset_build_pool(rp_dataset *d, const rp_tsf *const *sources, int n_sources, int lookback, int horizon,
                       double val_fraction, rp_pool_report *report, rp_error *err) {
    memset(d, 0, sizeof *d);
    rp_pool_report local;
    rp_pool_report *rep = report ? report : &local;
    memset(rep, 0, sizeof *rep);
    pool_entry *entries = NULL;
    int L = lookback, H = horizon;
    if (L < 1 || H < 1)
        return rp_fail(err, "pool: lookback and horizon must be >= 1, got lookback=%d horizon=%d", L, H);
    if (!(val_fraction >= 0 && val_fraction < 1))
        return rp_fail(err, "pool: val_fraction must be in [0, 1), got %g", val_fraction);
    if (n_sources < 1 || !sources) return rp_fail(err, "pool: no sources");
    if (L > INT_MAX / 2 - H) return rp_fail(err, "pool: lookback + horizon too large");

    long long total_series = 0;
    for (int s = 0; s < n_sources; s++) total_series += sources[s]->n_series;
    if (total_series > INT_MAX) return rp_fail(err, "pool: too many series (%lld)", total_series);
    rep->lookback = L;
    rep->horizon = H;
    rep->val_fraction = val_fraction;
    rep->min_length = L + H + 1;
    rep->n_sources = n_sources;
    rep->sources = rp_calloc((size_t)n_sources, sizeof *rep->sources, err);
    entries = rp_malloc((size_t)(total_series > 0 ? total_series : 1) * sizeof *entries, err);
    if (!rep->sources || !entries) goto fail;

    int used = 0;
    size_t total_values = 0;
    int max_rows = 0;
    for (int s = 0; s < n_sources; s++) {
        const rp_tsf *t = sources[s];
        rp_pool_source_report *sr = &rep->sources[s];
        snprintf(sr->name, sizeof sr->name, "%s", base_name(t->source));
        sr->series = t->n_series + t->n_dropped;
        sr->skipped_missing = t->n_dropped;
        for (int i = 0; i < t->n_series; i++) {
            pool_entry *e = &entries[used];
            switch (classify(&t->series[i], L, H, val_fraction, e)) {
            case USE_MISSING: sr->skipped_missing++; continue;
            case USE_SHORT: sr->skipped_short++; continue;
            case USE_CONSTANT: sr->skipped_constant++; continue;
            case USE_OK: break;
            }
            e->source = s;
            e->series = i;
            sr->used++;
            sr->train_only += e->n_val == 0;
            if (sr->min_length == 0 || e->rows < sr->min_length) sr->min_length = e->rows;
            if (e->rows > sr->max_length) sr->max_length = e->rows;
            sr->train_windows += e->n_train - L - H + 1;
            sr->val_windows += e->n_val > 0 ? e->n_val - H + 1 : 0;
            if (e->rows > max_rows) max_rows = e->rows;
            total_values += (size_t)e->rows;
            used++;
        }
        rep->series += sr->series;
        rep->used += sr->used;
        rep->skipped_short += sr->skipped_short;
        rep->skipped_missing += sr->skipped_missing;
        rep->skipped_constant += sr->skipped_constant;
        rep->train_only += sr->train_only;
        rep->train_windows += sr->train_windows;
        rep->val_windows += sr->val_windows;
    }
    if (used == 0) {
        rp_fail(err, "pool: none of the %d series in %d source%s is usable: a series needs at least lookback + "
                "horizon + 1 = %d rows, no missing values and a non-constant train part (%d too short, %d with "
                "missing values, %d constant)", rep->series, n_sources, n_sources == 1 ? "" : "s", rep->min_length,
                rep->skipped_short, rep->skipped_missing, rep->skipped_constant);
        goto fail;
    }
    if (rep->train_windows > INT_MAX || rep->val_windows > INT_MAX) {
        rp_fail(err, "pool: too many windows for an int index (%lld train, %lld val)", rep->train_windows,
                rep->val_windows);
        goto fail;
    }

    rep->channel_source = rp_malloc((size_t)used * sizeof(int), err);
    rep->channel_series = rp_malloc((size_t)used * sizeof(int), err);
    if (!rep->channel_source || !rep->channel_series) goto fail;
    if (alloc_ragged(d, used, total_values, err)) goto fail;
    d->rows = max_rows;
    d->lookback = L;
    d->horizon = H;
    d->protocol = PROTOCOL_RATIO; /* not a protocol split: see io/pool.h */
    size_t offset = 0;
    for (int c = 0; c < used; c++) {
        const pool_entry *e = &entries[c];
        const float *v = sources[e->source]->series[e->series].values;
        float *dst = d->values + offset;
        for (int i = 0; i < e->rows; i++) dst[i] = (float)((v[i] - e->mean) / e->std);
        d->channel_rows[c] = e->rows;
        d->channel_offset[c] = offset;
        d->mean[c] = e->mean;
        d->std[c] = e->std;
        rep->channel_source[c] = e->source;
        rep->channel_series[c] = e->series;
        offset += (size_t)e->rows;

        int n_train_windows = e->n_train - L - H + 1;
        int n_val_windows = e->n_val > 0 ? e->n_val - H + 1 : 0;
        d->channel_begin[SPLIT_TRAIN][c] = 0;
        d->channel_begin[SPLIT_VAL][c] = e->n_train - L;
        d->channel_begin[SPLIT_TEST][c] = 0;
        d->window_prefix[SPLIT_TRAIN][c + 1] = d->window_prefix[SPLIT_TRAIN][c] + n_train_windows;
        d->window_prefix[SPLIT_VAL][c + 1] = d->window_prefix[SPLIT_VAL][c] + n_val_windows;
        d->window_prefix[SPLIT_TEST][c + 1] = 0;
    }
    for (int k = 0; k < 3; k++) {
        d->split[k].begin = d->split[k].end = d->split[k].per_channel = 0;
        d->split[k].n_windows = d->window_prefix[k][used];
    }
    free(entries);
    if (!report) pool_report_free(&local);
    return 0;
fail:
    free(entries);
    dataset_free(d);
    pool_report_free(rep);
    return -1;
}

int dataset_build_unsplit(rp_dataset *d, int n, const float *const *series, const int *lengths, int stride,
                          int lookback, int horizon, rp_error *err) {
    memset(d, 0, sizeof *d);
    if (lookback < 1 || horizon < 1)
        return rp_fail(err, "lookback and horizon must be >= 1, got lookback=%d horizon=%d", lookback, horizon);
    if (n < 1) return rp_fail(err, "no series");
    if (stride < 1) return rp_fail(err, "stride must be >= 1, got %d", stride);
    size_t total = 0;
    int max_rows = 0;
    for (int c = 0; c < n; c++) {
        if (lengths[c] < 0) return rp_fail(err, "series %d has a negative length", c);
        total += (size_t)lengths[c];
        if (lengths[c] > max_rows) max_rows = lengths[c];
    }
    if (alloc_ragged(d, n, total, err)) goto fail;
    d->rows = max_rows;
    d->lookback = lookback;
    d->horizon = horizon;
    d->protocol = PROTOCOL_RATIO;
    size_t offset = 0;
    for (int c = 0; c < n; c++) {
        const float *v = series[c];
        int rows = lengths[c];
        double sum = 0, ss = 0;
        long long finite = 0;
        for (int i = 0; i < rows; i++) {
            double x = v[(size_t)i * (size_t)stride];
            if (isfinite(x)) {
                sum += x;
                finite++;
            }
        }
        double mean = finite ? sum / (double)finite : 0;
        for (int i = 0; i < rows; i++) {
            double x = v[(size_t)i * (size_t)stride];
            if (isfinite(x)) ss += (x - mean) * (x - mean);
        }
        double std = finite ? sqrt(ss / (double)finite) : 0;
        if (!(std > 0)) std = 1;
        float *dst = d->values + offset;
        for (int i = 0; i < rows; i++) {
            double x = v[(size_t)i * (size_t)stride];
            dst[i] = isfinite(x) ? (float)((x - mean) / std) : NAN;
        }
        d->channel_rows[c] = rows;
        d->channel_offset[c] = offset;
        d->mean[c] = mean;
        d->std[c] = std;
        offset += (size_t)rows;
    }
    return 0;
fail:
    dataset_free(d);
    return -1;
}
