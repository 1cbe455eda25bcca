/* The forecasting protocol: split borders pinned to the published numbers, z-scoring with train
 * statistics only, window indexing, and the generated series' determinism. Everything except the
 * real-data checks runs without data. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/dataset.h"

static void expect_split(const rp_split *s, int begin, int end, int per_channel) {
    cr_assert_eq(s->begin, begin, "begin %d, want %d", s->begin, begin);
    cr_assert_eq(s->end, end, "end %d, want %d", s->end, end);
    cr_assert_eq(s->per_channel, per_channel, "per_channel %d, want %d", s->per_channel, per_channel);
}

Test(protocol, resolve_from_file_name) {
    cr_assert_eq(protocol_resolve(PROTOCOL_AUTO, "/data/ETTh1.csv"), PROTOCOL_ETT_HOURLY);
    cr_assert_eq(protocol_resolve(PROTOCOL_AUTO, "ETTh2.csv"), PROTOCOL_ETT_HOURLY);
    cr_assert_eq(protocol_resolve(PROTOCOL_AUTO, "../x/ETTm1.csv"), PROTOCOL_ETT_MINUTE);
    cr_assert_eq(protocol_resolve(PROTOCOL_AUTO, "/ETTh/weather.csv"), PROTOCOL_RATIO, "basename only");
    cr_assert_eq(protocol_resolve(PROTOCOL_AUTO, "generated(seed=1)"), PROTOCOL_RATIO);
    cr_assert_eq(protocol_resolve(PROTOCOL_RATIO, "ETTh1.csv"), PROTOCOL_RATIO, "explicit choice wins");
}

/* ETTh1 at L=336, H=96: train 8640−336−96+1 = 8209; val rows [8304, 11520) = 3216 rows,
 * 3216−432+1 = 2785; test rows [11184, 14400), 2785: the 2785 test windows per channel (19495
 * over 7 channels) that published ETTh1 results are averaged over. */
Test(protocol, ett_hourly_borders) {
    rp_split s[3];
    rp_error err = {{0}};
    cr_assert_eq(split_borders(PROTOCOL_ETT_HOURLY, 17420, 336, 96, s, &err), 0, "%s", err.msg);
    expect_split(&s[SPLIT_TRAIN], 0, 8640, 8209);
    expect_split(&s[SPLIT_VAL], 8304, 11520, 2785);
    expect_split(&s[SPLIT_TEST], 11184, 14400, 2785);
}

/* ETTm1 at L=336, H=96: 34560−431 = 34129; val/test 11520+336 rows −431 = 11425. */
Test(protocol, ett_minute_borders) {
    rp_split s[3];
    rp_error err = {{0}};
    cr_assert_eq(split_borders(PROTOCOL_ETT_MINUTE, 69680, 336, 96, s, &err), 0, "%s", err.msg);
    expect_split(&s[SPLIT_TRAIN], 0, 34560, 34129);
    expect_split(&s[SPLIT_VAL], 34224, 46080, 11425);
    expect_split(&s[SPLIT_TEST], 45744, 57600, 11425);
}

Test(protocol, ett_too_short_is_an_error) {
    rp_split s[3];
    rp_error err = {{0}};
    cr_assert_eq(split_borders(PROTOCOL_ETT_HOURLY, 14399, 336, 96, s, &err), -1);
    cr_assert(strstr(err.msg, "14400") && strstr(err.msg, "14399"), "%s", err.msg);
    cr_assert_eq(split_borders(PROTOCOL_ETT_MINUTE, 17420, 336, 96, s, &err), -1);
    cr_assert(strstr(err.msg, "57600"), "%s", err.msg);
}

/* Weather (52696 rows) under the Time-Series-Library ratio convention:
 * num_train = int(36887.2) = 36887, num_test = int(10539.2) = 10539, num_val = 5270. */
Test(protocol, ratio_borders_weather) {
    rp_split s[3];
    rp_error err = {{0}};
    cr_assert_eq(split_borders(PROTOCOL_RATIO, 52696, 336, 96, s, &err), 0, "%s", err.msg);
    expect_split(&s[SPLIT_TRAIN], 0, 36887, 36887 - 431);
    expect_split(&s[SPLIT_VAL], 36887 - 336, 36887 + 5270, 5270 + 336 - 431);
    expect_split(&s[SPLIT_TEST], 52696 - 10539 - 336, 52696, 10444);
}

/* An odd row count: 1001·0.7 = 700.7 → 700, 1001·0.2 = 200.2 → 200, val gets the other 101. */
Test(protocol, ratio_borders_odd_rows) {
    rp_split s[3];
    rp_error err = {{0}};
    cr_assert_eq(split_borders(PROTOCOL_RATIO, 1001, 24, 12, s, &err), 0, "%s", err.msg);
    expect_split(&s[SPLIT_TRAIN], 0, 700, 700 - 35);
    expect_split(&s[SPLIT_VAL], 676, 801, 101 + 24 - 35);
    expect_split(&s[SPLIT_TEST], 777, 1001, 200 + 24 - 35);
    /* the three splits' target rows tile the series: train targets end where val's begin */
    cr_assert_eq(s[SPLIT_VAL].begin + 24, s[SPLIT_TRAIN].end);
    cr_assert_eq(s[SPLIT_TEST].begin + 24, s[SPLIT_VAL].end);
}

Test(protocol, too_short_names_the_split) {
    rp_split s[3];
    rp_error err = {{0}};
    /* 200 rows: val holds 200 − 140 − 40 = 20 rows + L; with L=24, H=24 it is 44 − 48 + 1 < 1 */
    cr_assert_eq(split_borders(PROTOCOL_RATIO, 200, 24, 24, s, &err), -1);
    cr_assert(strstr(err.msg, "val split"), "%s", err.msg);
    cr_assert(strstr(err.msg, "rows=200") && strstr(err.msg, "lookback=24") && strstr(err.msg, "horizon=24"),
              "%s", err.msg);
    cr_assert_eq(split_borders(PROTOCOL_RATIO, 200, 0, 24, s, &err), -1);
    cr_assert_eq(split_borders(PROTOCOL_ETT_HOURLY, 17420, 9000, 96, s, &err), -1);
    cr_assert(strstr(err.msg, "train split"), "%s", err.msg);
}

/* The ETTh1 protocol on a generated series of ETTh1's shape: always runs. */
Test(dataset, ett_hourly_on_generated_series) {
    rp_series s;
    rp_dataset d;
    rp_error err = {{0}};
    cr_assert_eq(series_generate(&s, 17420, 7, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(dataset_build(&d, &s, PROTOCOL_ETT_HOURLY, 336, 96, &err), 0, "%s", err.msg);
    cr_assert_eq(d.protocol, PROTOCOL_ETT_HOURLY);
    cr_assert_eq(d.channels, 7);
    cr_assert_eq(d.rows, 17420);
    expect_split(&d.split[SPLIT_TRAIN], 0, 8640, 8209);
    expect_split(&d.split[SPLIT_VAL], 8304, 11520, 2785);
    expect_split(&d.split[SPLIT_TEST], 11184, 14400, 2785);
    cr_assert_eq(d.split[SPLIT_TRAIN].n_windows, 8209 * 7);
    cr_assert_eq(d.split[SPLIT_TEST].n_windows, 2785 * 7);

    /* Windows: index → (channel, start), and the copied values are the z-scored rows. */
    int channel, start;
    dataset_window_origin(&d, SPLIT_TEST, 0, &channel, &start);
    cr_assert_eq(channel, 0);
    cr_assert_eq(start, 11184);
    dataset_window_origin(&d, SPLIT_TEST, 2785 * 3 + 10, &channel, &start);
    cr_assert_eq(channel, 3);
    cr_assert_eq(start, 11194);
    int last = d.split[SPLIT_TEST].n_windows - 1;
    dataset_window_origin(&d, SPLIT_TEST, last, &channel, &start);
    cr_assert_eq(channel, 6);
    cr_assert_eq(start + 336 + 96, 14400, "the last test window ends on the last test row");

    float x[336], y[96];
    dataset_window(&d, SPLIT_TEST, 2785 * 3 + 10, x, y);
    for (int i = 0; i < 336; i++) {
        float want = (float)((s.values[(size_t)(11194 + i) * 7 + 3] - d.mean[3]) / d.std[3]);
        cr_assert_eq(x[i], want, "x[%d]", i);
    }
    for (int i = 0; i < 96; i++) {
        float want = (float)((s.values[(size_t)(11194 + 336 + i) * 7 + 3] - d.mean[3]) / d.std[3]);
        cr_assert_eq(y[i], want, "y[%d]", i);
    }
    dataset_window(&d, SPLIT_TRAIN, 5, x, NULL); /* y may be NULL */
    cr_assert_eq(x[0], d.values[5]);
    dataset_free(&d);
    series_free(&s);
}

Test(dataset, normalisation_uses_train_rows_only) {
    rp_series s;
    rp_dataset a, b;
    rp_error err = {{0}};
    cr_assert_eq(series_generate(&s, 3000, 3, 5, &err), 0, "%s", err.msg);
    cr_assert_eq(dataset_build(&a, &s, PROTOCOL_RATIO, 96, 24, &err), 0, "%s", err.msg);
    int train_end = a.split[SPLIT_TRAIN].end;
    cr_assert_eq(train_end, 2100);

    /* Train rows are z-scored: mean 0, population std 1. */
    for (int c = 0; c < 3; c++) {
        double m = 0, v = 0;
        for (int t = 0; t < train_end; t++) m += a.values[(size_t)c * 3000 + t];
        m /= train_end;
        for (int t = 0; t < train_end; t++) {
            double dev = a.values[(size_t)c * 3000 + t] - m;
            v += dev * dev;
        }
        cr_assert_lt(fabs(m), 1e-5, "channel %d train mean %g", c, m);
        cr_assert_lt(fabs(sqrt(v / train_end) - 1), 1e-5, "channel %d train std", c);
    }

    /* Wild values after the train rows move neither the statistics nor the train values. */
    for (int t = train_end; t < 3000; t++)
        for (int c = 0; c < 3; c++) s.values[(size_t)t * 3 + c] = 1e6f * (float)(t % 7);
    cr_assert_eq(dataset_build(&b, &s, PROTOCOL_RATIO, 96, 24, &err), 0, "%s", err.msg);
    for (int c = 0; c < 3; c++) {
        cr_assert_eq(a.mean[c], b.mean[c]);
        cr_assert_eq(a.std[c], b.std[c]);
        cr_assert_eq(memcmp(a.values + (size_t)c * 3000, b.values + (size_t)c * 3000, sizeof(float) * train_end), 0);
    }
    /* ... while one changed train value does move them. */
    s.values[0] += 100;
    rp_dataset e;
    cr_assert_eq(dataset_build(&e, &s, PROTOCOL_RATIO, 96, 24, &err), 0, "%s", err.msg);
    cr_assert_neq(a.mean[0], e.mean[0]);
    cr_assert_eq(a.mean[1], e.mean[1]);
    dataset_free(&a);
    dataset_free(&b);
    dataset_free(&e);
    series_free(&s);
}

Test(dataset, constant_train_column_is_an_error) {
    rp_series s;
    rp_dataset d;
    rp_error err = {{0}};
    cr_assert_eq(series_generate(&s, 1000, 2, 3, &err), 0, "%s", err.msg);
    for (int t = 0; t < 700; t++) s.values[(size_t)t * 2 + 1] = 4.0f; /* constant over train only */
    cr_assert_eq(dataset_build(&d, &s, PROTOCOL_AUTO, 48, 24, &err), -1);
    cr_assert(strstr(err.msg, "column 'c1'") && strstr(err.msg, "std 0"), "%s", err.msg);
    cr_assert_null(d.values);
    series_free(&s);
}

Test(dataset, short_series_error_names_source) {
    rp_series s;
    rp_dataset d;
    rp_error err = {{0}};
    cr_assert_eq(series_generate(&s, 100, 1, 3, &err), 0, "%s", err.msg);
    cr_assert_eq(dataset_build(&d, &s, PROTOCOL_AUTO, 96, 96, &err), -1);
    cr_assert(strstr(err.msg, "generated(seed=3)") && strstr(err.msg, "split"), "%s", err.msg);
    cr_assert_eq(dataset_build(&d, &s, PROTOCOL_ETT_HOURLY, 24, 24, &err), -1);
    cr_assert(strstr(err.msg, "14400"), "%s", err.msg);
    series_free(&s);
}

Test(generated, deterministic_from_seed) {
    rp_series a, b, c, wide;
    rp_error err = {{0}};
    cr_assert_eq(series_generate(&a, 5000, 4, 42, &err), 0, "%s", err.msg);
    cr_assert_eq(series_generate(&b, 5000, 4, 42, &err), 0, "%s", err.msg);
    cr_assert_eq(series_generate(&c, 5000, 4, 43, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(a.values, b.values, sizeof(float) * 5000 * 4), 0, "same seed, same bytes");
    cr_assert_neq(memcmp(a.values, c.values, sizeof(float) * 5000 * 4), 0, "another seed, another series");
    cr_assert_str_eq(a.source, "generated(seed=42)");
    cr_assert_str_eq(a.col_names[3], "c3");
    cr_assert_null(a.timestamps);
    cr_assert_null(a.date_name);
    for (int i = 0; i < 5000 * 4; i++) cr_assert(isfinite(a.values[i]));
    /* Channel c comes from its own stream: adding channels does not change the first ones. */
    cr_assert_eq(series_generate(&wide, 5000, 6, 42, &err), 0, "%s", err.msg);
    for (int t = 0; t < 5000; t++)
        for (int ch = 0; ch < 4; ch++) cr_assert_eq(wide.values[t * 6 + ch], a.values[t * 4 + ch]);
    series_free(&a);
    series_free(&b);
    series_free(&c);
    series_free(&wide);
}

/* The daily period shows in the data: the lag-24 autocorrelation is well above the lag-12 one
 * (half a day, where the daily wave is in opposite phase). */
Test(generated, has_daily_seasonality) {
    rp_series s;
    rp_error err = {{0}};
    cr_assert_eq(series_generate(&s, 2000, 1, 9, &err), 0, "%s", err.msg);
    double m = 0;
    for (int t = 0; t < 2000; t++) m += s.values[t];
    m /= 2000;
    double c0 = 0, c24 = 0, c12 = 0;
    for (int t = 0; t + 24 < 2000; t++) {
        c0 += (s.values[t] - m) * (s.values[t] - m);
        c24 += (s.values[t] - m) * (s.values[t + 24] - m);
        c12 += (s.values[t] - m) * (s.values[t + 12] - m);
    }
    cr_assert_gt(c24 / c0, c12 / c0 + 0.2, "lag 24 %g vs lag 12 %g", c24 / c0, c12 / c0);
    series_free(&s);
}

Test(generated, rejects_bad_sizes) {
    rp_series s;
    rp_error err = {{0}};
    cr_assert_eq(series_generate(&s, 0, 3, 1, &err), -1);
    cr_assert_eq(series_generate(&s, 10, 0, 1, &err), -1);
    cr_assert(strstr(err.msg, "cols=0"), "%s", err.msg);
}

/* Real ETTh1 (REINPATCH_DATA): AUTO picks the hourly ETT borders from the file name and the test
 * split holds the published 2785 windows per channel; the train statistics match numpy's
 * (mean/std with ddof 0 of rows [0, 8640) of column HUFL, computed in float64 from the text). */
Test(dataset_real, etth1) {
    const char *dir = getenv("REINPATCH_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/ETTh1.csv", dir ? dir : "");
    if (!dir || access(path, R_OK) != 0) cr_skip_test("REINPATCH_DATA/ETTh1.csv not available");
    rp_series s;
    rp_dataset d;
    rp_error err = {{0}};
    cr_assert_eq(csv_read(path, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(dataset_build(&d, &s, PROTOCOL_AUTO, 336, 96, &err), 0, "%s", err.msg);
    cr_assert_eq(d.protocol, PROTOCOL_ETT_HOURLY);
    expect_split(&d.split[SPLIT_TEST], 11184, 14400, 2785);
    cr_assert_eq(d.split[SPLIT_TEST].n_windows, 19495);
    cr_assert_lt(fabs(d.mean[0] - 7.937742245659508), 1e-6, "mean %.9f", d.mean[0]);
    cr_assert_lt(fabs(d.std[0] - 5.81274940914376), 1e-6, "std %.9f", d.std[0]);
    dataset_free(&d);
    series_free(&s);
}
