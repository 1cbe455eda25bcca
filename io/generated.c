/* The built-in generated series: something with the structure of real load/temperature data
 * (daily and weekly seasonality, drift, abrupt regime changes, noise) for users with no data at
 * hand and for tests that must always run.
 *
 * Channel c, row t (docs/data.md lists the same recipe):
 *   x[t] = base + unit · ( Σ_k a_k sin(2π t / p_k + φ_k) + slope · t + level(t) + σ(t) · z_t )
 * with periods p = 24, 168 and a third, per-channel one from {12, 48, 96, 6}[c % 4];
 * level(t) and σ(t) are piecewise constant, jumping at a few random rows (regime changes: a level
 * shift and a variance change at each). Each channel draws from its own RNG stream (seed, c + 1),
 * so channel c is the same whatever the channel count, and the output is identical for the same
 * (rows, cols, seed). */
#include "io/generated.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

#define N_WAVES 3
#define MAX_REGIME_CHANGES 64

static const double TWO_PI = 6.283185307179586;

static double uniform_in(rp_rng *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform(r); }

static void generate_channel(float *out, int stride, int rows, int channel, unsigned long long seed) {
    static const int third_period[4] = {12, 48, 96, 6};
    rp_rng r;
    rng_seed(&r, seed, (uint64_t)channel + 1);

    const double period[N_WAVES] = {24, 168, third_period[channel % 4]};
    double amplitude[N_WAVES], phase[N_WAVES];
    amplitude[0] = uniform_in(&r, 0.5, 1.5);
    amplitude[1] = uniform_in(&r, 0.3, 1.0);
    amplitude[2] = uniform_in(&r, 0.1, 0.5);
    for (int k = 0; k < N_WAVES; k++) phase[k] = uniform_in(&r, 0, TWO_PI);
    double base = uniform_in(&r, -5, 5);
    double unit = uniform_in(&r, 0.5, 5);
    /* Drift of at most ±2 seasonal amplitudes over the whole series, whatever its length. */
    double slope = uniform_in(&r, -2, 2) / rows;
    double sigma = uniform_in(&r, 0.1, 0.3);

    /* Regime changes: about one per 4000 rows, never in the first tenth (a series should start
     * in a known regime), sorted by row. */
    int n_changes = 1 + rows / 4000;
    if (n_changes > MAX_REGIME_CHANGES) n_changes = MAX_REGIME_CHANGES;
    int change_row[MAX_REGIME_CHANGES];
    double level_step[MAX_REGIME_CHANGES], scale_factor[MAX_REGIME_CHANGES];
    int first_allowed = rows / 10;
    for (int i = 0; i < n_changes; i++) {
        change_row[i] = first_allowed + (int)rng_below(&r, (uint64_t)(rows - first_allowed));
        level_step[i] = rng_normal(&r);
        scale_factor[i] = exp(0.4 * rng_normal(&r));
    }
    for (int i = 1; i < n_changes; i++)
        for (int j = i; j > 0 && change_row[j] < change_row[j - 1]; j--) {
            int tr = change_row[j]; change_row[j] = change_row[j - 1]; change_row[j - 1] = tr;
            double tl = level_step[j]; level_step[j] = level_step[j - 1]; level_step[j - 1] = tl;
            double ts = scale_factor[j]; scale_factor[j] = scale_factor[j - 1]; scale_factor[j - 1] = ts;
        }

    double level = 0, noise_scale = 1;
    int next_change = 0;
    for (int t = 0; t < rows; t++) {
        while (next_change < n_changes && change_row[next_change] == t) {
            level += level_step[next_change];
            noise_scale *= scale_factor[next_change];
            /* Keep the variance within a factor 4 of the start so no regime is flat or wild. */
            if (noise_scale < 0.25) noise_scale = 0.25;
            if (noise_scale > 4) noise_scale = 4;
            next_change++;
        }
        double x = slope * t + level + sigma * noise_scale * rng_normal(&r);
        for (int k = 0; k < N_WAVES; k++) x += amplitude[k] * sin(TWO_PI * t / period[k] + phase[k]);
        out[(size_t)t * (size_t)stride] = (float)(base + unit * x);
    }
}

/* Allocates out's values (rows × cols, uninitialised), its source string and the column names
 * c0, c1, ... On failure frees what it allocated (series_free) and returns -1. */
static int generated_series_alloc(rp_series *out, int rows, int cols, const char *source, rp_error *err) {
    out->source = rp_malloc(strlen(source) + 1, err);
    out->values = rp_malloc(sizeof(float) * (size_t)rows * (size_t)cols, err);
    out->col_names = rp_calloc((size_t)cols, sizeof(char *), err);
    out->rows = rows;
    out->cols = cols;
    if (!out->source || !out->values || !out->col_names) goto fail;
    memcpy(out->source, source, strlen(source) + 1);
    for (int c = 0; c < cols; c++) {
        char name[24];
        snprintf(name, sizeof name, "c%d", c);
        if (!(out->col_names[c] = rp_malloc(strlen(name) + 1, err))) goto fail;
        memcpy(out->col_names[c], name, strlen(name) + 1);
    }
    return 0;
fail:
    series_free(out);
    return -1;
}

int series_generate(rp_series *out, int rows, int cols, unsigned long long seed, rp_error *err) {
    memset(out, 0, sizeof *out);
    if (rows < 1 || cols < 1)
        return rp_fail(err, "generated series: rows and cols must be >= 1, got rows=%d cols=%d", rows, cols);
    if ((size_t)rows > SIZE_MAX / sizeof(float) / (size_t)cols)
        return rp_fail(err, "generated series: %d × %d is too large", rows, cols);

    char source[64];
    snprintf(source, sizeof source, "generated(seed=%llu)", seed);
    if (generated_series_alloc(out, rows, cols, source, err)) return -1;
    for (int c = 0; c < cols; c++) generate_channel(out->values + c, cols, rows, c, seed);
    return 0;
}

/* Piecewise-constant regimes for the learned-patching test (tests/train/test_grpg_learning.c).
 *
 * Regime lengths are drawn uniformly from [mean_segment/2, 3·mean_segment/2] (so two changes are
 * never closer than mean_segment/2 rows); the rows where a new regime starts are the change rows,
 * shared by all channels. In channel c each regime has its own level, drawn U(-2, 2) until it
 * differs from the previous regime's by at least 1, and a slope drawn U(-max_slope, max_slope)
 * (0 when max_slope = 0): x[t] = level + slope · (t - regime start) + noise · z_t.
 * Streams: the change rows come from (seed, 0), channel c's levels and noise from (seed, c + 1). */
int series_generate_changepoints(rp_series *out, int rows, int cols, int mean_segment, double noise, double max_slope,
                                 unsigned long long seed, int **change_rows, int *n_changes, rp_error *err) {
    memset(out, 0, sizeof *out);
    *change_rows = NULL;
    *n_changes = 0;
    if (rows < 1 || cols < 1 || mean_segment < 2 || !(noise >= 0) || !(max_slope >= 0))
        return rp_fail(err, "generated change-point series: need rows, cols >= 1, mean_segment >= 2, noise >= 0; "
                       "got rows=%d cols=%d mean_segment=%d noise=%g", rows, cols, mean_segment, noise);
    if ((size_t)rows > SIZE_MAX / sizeof(float) / (size_t)cols)
        return rp_fail(err, "generated series: %d × %d is too large", rows, cols);
    char source[96];
    snprintf(source, sizeof source, "generated-changepoints(seed=%llu,segment=%d)", seed, mean_segment);
    int lo = mean_segment / 2, hi = mean_segment + mean_segment / 2;
    int *changes = rp_malloc(sizeof(int) * ((size_t)rows / (size_t)lo + 1), err);
    if (!changes || generated_series_alloc(out, rows, cols, source, err)) goto fail;
    rp_rng r;
    rng_seed(&r, seed, 0);
    int nc = 0;
    for (int t = lo + (int)rng_below(&r, (uint64_t)(hi - lo + 1)); t < rows;
         t += lo + (int)rng_below(&r, (uint64_t)(hi - lo + 1)))
        changes[nc++] = t;
    for (int c = 0; c < cols; c++) {
        rng_seed(&r, seed, (uint64_t)c + 1);
        double level = uniform_in(&r, -2, 2), slope = max_slope > 0 ? uniform_in(&r, -max_slope, max_slope) : 0;
        int since = 0;
        for (int t = 0, next = 0; t < rows; t++, since++) {
            if (next < nc && changes[next] == t) {
                double prev = level;
                do level = uniform_in(&r, -2, 2);
                while (fabs(level - prev) < 1.0);
                if (max_slope > 0) slope = uniform_in(&r, -max_slope, max_slope);
                since = 0;
                next++;
            }
            out->values[(size_t)t * cols + c] = (float)(level + slope * since + noise * rng_normal(&r));
        }
    }
    *change_rows = changes;
    *n_changes = nc;
    return 0;
fail:
    free(changes);
    series_free(out);
    return -1;
}

/* Two-scale series for the level-stack test (tests/train/test_two_scale.c): io/generated.h. */
static int check_two_scale_spec(const rp_two_scale_spec *sp, int rows, int cols, rp_error *err) {
    if (rows < 1 || cols < 1 || sp->regime_min < 2 || sp->regime_max < sp->regime_min || sp->period_min < 2 ||
        sp->period_max < sp->period_min || sp->event_width < 1 || sp->event_width > sp->period_min ||
        !(sp->event_height >= 0) || !(sp->noise >= 0))
        return rp_fail(err, "generated two-scale series: need rows, cols >= 1, 2 <= regime_min <= regime_max, "
                       "2 <= period_min <= period_max, 1 <= event_width <= period_min, event_height, noise >= 0; got "
                       "rows=%d cols=%d regime=[%d, %d] period=[%d, %d] event_width=%d event_height=%g noise=%g",
                       rows, cols, sp->regime_min, sp->regime_max, sp->period_min, sp->period_max, sp->event_width,
                       sp->event_height, sp->noise);
    if ((size_t)rows > SIZE_MAX / sizeof(float) / (size_t)cols)
        return rp_fail(err, "generated series: %d × %d is too large", rows, cols);
    return 0;
}

int series_generate_two_scale(rp_series *out, int rows, int cols, const rp_two_scale_spec *spec,
                              unsigned long long seed, int **regime_rows, int *n_regimes, int **event_rows,
                              int *n_events, rp_error *err) {
    memset(out, 0, sizeof *out);
    if (regime_rows) *regime_rows = NULL;
    if (event_rows) *event_rows = NULL;
    if (n_regimes) *n_regimes = 0;
    if (n_events) *n_events = 0;
    if (check_two_scale_spec(spec, rows, cols, err)) return -1;
    char source[96];
    snprintf(source, sizeof source, "generated-two-scale(seed=%llu)", seed);
    int *regimes = rp_malloc(sizeof(int) * ((size_t)rows / (size_t)spec->regime_min + 1), err);
    /* At most ceil(len / period) events per regime: rows / period_min plus one per regime. */
    size_t max_events = (size_t)rows / (size_t)spec->period_min + (size_t)rows / (size_t)spec->regime_min + 2;
    int *events = rp_malloc(sizeof(int) * max_events, err);
    if (!regimes || !events || generated_series_alloc(out, rows, cols, source, err)) goto fail;
    /* Structure (stream (seed, 0)), shared by the channels: regime starts, each regime's period,
     * and the event rows: the first at a uniform phase in [0, period) after the regime's start,
     * then every period rows until the regime ends. */
    rp_rng r;
    rng_seed(&r, seed, 0);
    int nr = 0, ne = 0;
    for (int start = 0; start < rows; nr++) {
        int len = spec->regime_min + (int)rng_below(&r, (uint64_t)(spec->regime_max - spec->regime_min + 1));
        int p = spec->period_min + (int)rng_below(&r, (uint64_t)(spec->period_max - spec->period_min + 1));
        if (nr > 0) regimes[nr - 1] = start;
        int end = start + len < rows ? start + len : rows;
        for (int t = start + (int)rng_below(&r, (uint64_t)p); t < end; t += p) events[ne++] = t;
        start = end;
    }
    nr--; /* regimes[] holds the starts of regimes 1..nr: the change rows */
    for (int c = 0; c < cols; c++) {
        rng_seed(&r, seed, (uint64_t)c + 1);
        double level = uniform_in(&r, -2, 2), height = spec->event_height * uniform_in(&r, 0.5, 1.5);
        for (int t = 0, next_regime = 0, next_event = 0, since_event = spec->event_width; t < rows; t++) {
            if (next_regime < nr && regimes[next_regime] == t) {
                double prev = level;
                do level = uniform_in(&r, -2, 2);
                while (fabs(level - prev) < 1.0);
                height = spec->event_height * uniform_in(&r, 0.5, 1.5);
                since_event = spec->event_width; /* an event's tail does not cross into the next regime */
                next_regime++;
            }
            if (next_event < ne && events[next_event] == t) {
                since_event = 0;
                next_event++;
            }
            double pulse = since_event < spec->event_width
                               ? height * (1.0 - (double)since_event / spec->event_width) : 0.0;
            since_event++;
            out->values[(size_t)t * cols + c] = (float)(level + pulse + spec->noise * rng_normal(&r));
        }
    }
    if (regime_rows) *regime_rows = regimes;
    else free(regimes);
    if (event_rows) *event_rows = events;
    else free(events);
    if (n_regimes) *n_regimes = nr;
    if (n_events) *n_events = ne;
    return 0;
fail:
    free(regimes);
    free(events);
    series_free(out);
    return -1;
}
