/* Pool datasets (io/pool.h): the ragged window mapping against a brute-force enumeration, the
 * per-series split and z-scoring, skipped series counted per source, and the unsplit layout that
 * `reinpatch segment --split all` uses. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/pool.h"

#define L 8
#define H 4

/* A series of n values: a ramp plus a wave, offset and scaled per id so statistics differ. */
static float *make_values(int n, int id) {
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) v[i] = (float)(100.0 * id + (1 + id) * (0.05 * i + sin(0.7 * i + id)));
    return v;
}

typedef struct fixture {
    rp_tsf a, b;
    rp_tsf_series sa[4], sb[4];
} fixture;

/* Source a: lengths 20, 12 (short), 13 (= L + H + 1, the shortest used), 40.
 * Source b: 5 (short), 30 with a NaN (missing), 30 constant over its train part, 50; and 2 series
 * the reader dropped for '?' (n_dropped). */
static void make_fixture(fixture *f) {
    memset(f, 0, sizeof *f);
    int la[4] = {20, 12, 13, 40}, lb[4] = {5, 30, 30, 50};
    for (int i = 0; i < 4; i++) {
        f->sa[i].length = la[i];
        f->sa[i].values = make_values(la[i], i);
        f->sb[i].length = lb[i];
        f->sb[i].values = make_values(lb[i], 10 + i);
    }
    f->sb[1].values[17] = NAN;
    for (int i = 0; i < 30; i++) f->sb[2].values[i] = i < 24 ? 3.5f : (float)i; /* train part: rows < 24 */
    f->a = (rp_tsf){.source = "dir/a.tsf", .n_series = 4, .series = f->sa};
    f->b = (rp_tsf){.source = "b.tsf", .n_series = 4, .series = f->sb, .n_dropped = 2};
}

static void free_fixture(fixture *f) {
    for (int i = 0; i < 4; i++) {
        free(f->sa[i].values);
        free(f->sb[i].values);
    }
}

/* The split rule of io/pool.h for one series of n rows. */
static void expected_split(int n, double vf, int *n_train, int *n_val) {
    int v = 0;
    if (vf > 0) {
        v = (int)floor(vf * n);
        if (v < H) v = H;
        if (n - v < L + H) v = 0;
    }
    *n_val = v;
    *n_train = n - v;
}

Test(pool, counts_every_skipped_series_per_source) {
    fixture f;
    make_fixture(&f);
    const rp_tsf *src[2] = {&f.a, &f.b};
    rp_dataset d;
    rp_pool_report rep;
    rp_error err;
    cr_assert_eq(dataset_build_pool(&d, src, 2, L, H, 0.2, &rep, &err), 0, "%s", err.msg);
    cr_expect_eq(rep.min_length, L + H + 1);
    cr_assert_eq(rep.n_sources, 2);
    cr_expect_str_eq(rep.sources[0].name, "a.tsf");
    cr_expect_str_eq(rep.sources[1].name, "b.tsf");
    cr_expect_eq(rep.sources[0].series, 4);
    cr_expect_eq(rep.sources[0].used, 3);
    cr_expect_eq(rep.sources[0].skipped_short, 1);
    cr_expect_eq(rep.sources[0].skipped_missing, 0);
    cr_expect_eq(rep.sources[0].min_length, 13);
    cr_expect_eq(rep.sources[0].max_length, 40);
    cr_expect_eq(rep.sources[1].series, 6, "4 read + 2 dropped by the reader");
    cr_expect_eq(rep.sources[1].used, 1);
    cr_expect_eq(rep.sources[1].skipped_short, 1);
    cr_expect_eq(rep.sources[1].skipped_missing, 3, "the NaN series and the 2 the reader dropped");
    cr_expect_eq(rep.sources[1].skipped_constant, 1);
    cr_expect_eq(rep.series, 10);
    cr_expect_eq(rep.used, 4);
    cr_expect_eq(rep.skipped_short, 2);
    cr_expect_eq(rep.skipped_missing, 3);
    cr_expect_eq(rep.skipped_constant, 1);
    /* Channel c comes from: a[0], a[2], a[3], b[3]. */
    int cs[4] = {0, 0, 0, 1}, ci[4] = {0, 2, 3, 3};
    cr_assert_eq(d.channels, 4);
    for (int c = 0; c < 4; c++) {
        cr_expect_eq(rep.channel_source[c], cs[c]);
        cr_expect_eq(rep.channel_series[c], ci[c]);
    }
    /* Window totals per source agree with the split rule, and with the dataset. */
    long long train = 0, val = 0;
    for (int c = 0; c < 4; c++) {
        int n = (cs[c] ? f.sb : f.sa)[ci[c]].length, nt, nv;
        expected_split(n, 0.2, &nt, &nv);
        train += nt - L - H + 1;
        val += nv ? nv - H + 1 : 0;
    }
    cr_expect_eq(rep.train_windows, train);
    cr_expect_eq(rep.val_windows, val);
    cr_expect_eq(d.split[SPLIT_TRAIN].n_windows, train);
    cr_expect_eq(d.split[SPLIT_VAL].n_windows, val);
    cr_expect_eq(d.split[SPLIT_TEST].n_windows, 0, "a pool has no test split");
    /* The 13-row series cannot hold out H validation rows and keep a train window: train-only. */
    cr_expect_eq(rep.sources[0].train_only, 1);
    cr_expect_eq(d.window_prefix[SPLIT_VAL][2] - d.window_prefix[SPLIT_VAL][1], 0);
    cr_expect_eq(d.window_prefix[SPLIT_TRAIN][2] - d.window_prefix[SPLIT_TRAIN][1], 2);
    dataset_free(&d);
    pool_report_free(&rep);
    free_fixture(&f);
}

Test(pool, window_index_maps_to_series_and_start) {
    fixture f;
    make_fixture(&f);
    const rp_tsf *src[2] = {&f.a, &f.b};
    const rp_tsf_series *used[4] = {&f.sa[0], &f.sa[2], &f.sa[3], &f.sb[3]};
    rp_dataset d;
    rp_pool_report rep;
    rp_error err;
    cr_assert_eq(dataset_build_pool(&d, src, 2, L, H, 0.2, &rep, &err), 0, "%s", err.msg);
    cr_expect_not_null(d.channel_rows);
    cr_expect_eq(d.rows, 50, "rows is the longest series");
    for (int k = 0; k < 2; k++) {
        /* Brute force: every series in order, its windows in start order. */
        int w = 0;
        for (int c = 0; c < 4; c++) {
            int n = used[c]->length, nt, nv;
            expected_split(n, 0.2, &nt, &nv);
            int begin = k == SPLIT_TRAIN ? 0 : nt - L;
            int count = k == SPLIT_TRAIN ? nt - L - H + 1 : nv ? nv - H + 1 : 0;
            for (int i = 0; i < count; i++, w++) {
                int ch = -1, start = -1;
                dataset_window_origin(&d, (rp_split_id)k, w, &ch, &start);
                cr_assert_eq(ch, c, "split %d window %d: channel %d, expected %d", k, w, ch, c);
                cr_assert_eq(start, begin + i, "split %d window %d: start %d, expected %d", k, w, start, begin + i);
                if (k == SPLIT_TRAIN) cr_assert_leq(start + L + H, nt, "a train target crosses into validation");
                else cr_assert_geq(start + L, nt, "a validation target starts in the train part");
                float x[L], y[H];
                dataset_window(&d, (rp_split_id)k, w, x, y);
                for (int t = 0; t < L + H; t++) {
                    double z = ((double)used[c]->values[start + t] - d.mean[c]) / d.std[c];
                    cr_assert_float_eq(t < L ? x[t] : y[t - L], z, 1e-5);
                }
            }
        }
        cr_expect_eq(w, d.split[k].n_windows);
    }
    dataset_free(&d);
    pool_report_free(&rep);
    free_fixture(&f);
}

Test(pool, each_series_is_zscored_with_its_own_train_statistics) {
    fixture f;
    make_fixture(&f);
    const rp_tsf *src[1] = {&f.a};
    rp_dataset d;
    rp_error err;
    cr_assert_eq(dataset_build_pool(&d, src, 1, L, H, 0.25, NULL, &err), 0, "%s", err.msg);
    for (int c = 0; c < d.channels; c++) {
        int rows = 0;
        const float *v = dataset_channel(&d, c, &rows);
        int nt, nv;
        expected_split(rows, 0.25, &nt, &nv);
        double s = 0, s2 = 0;
        for (int i = 0; i < nt; i++) {
            s += v[i];
            s2 += (double)v[i] * v[i];
        }
        cr_expect_float_eq(s / nt, 0.0, 1e-5, "channel %d: train mean %g", c, s / nt);
        cr_expect_float_eq(s2 / nt, 1.0, 1e-4, "channel %d: train variance %g", c, s2 / nt);
        cr_expect_eq(d.channel_offset[c], c == 0 ? 0 : d.channel_offset[c - 1] + (size_t)d.channel_rows[c - 1]);
    }
    /* Different series, different statistics (original units kept in mean/std). */
    cr_expect(fabs(d.mean[0] - d.mean[1]) > 50);
    dataset_free(&d);
    free_fixture(&f);
}

Test(pool, no_validation_part_with_val_fraction_zero) {
    fixture f;
    make_fixture(&f);
    const rp_tsf *src[1] = {&f.a};
    rp_dataset d;
    rp_error err;
    cr_assert_eq(dataset_build_pool(&d, src, 1, L, H, 0.0, NULL, &err), 0, "%s", err.msg);
    cr_expect_eq(d.split[SPLIT_VAL].n_windows, 0);
    cr_expect_eq(d.split[SPLIT_TRAIN].n_windows, (20 - 11) + (13 - 11) + (40 - 11));
    dataset_free(&d);
    free_fixture(&f);
}

Test(pool, nothing_usable_is_an_error_with_counts) {
    fixture f;
    make_fixture(&f);
    const rp_tsf *src[1] = {&f.b};
    rp_dataset d;
    rp_pool_report rep;
    rp_error err;
    /* With L = 60 nothing is long enough. */
    cr_assert_neq(dataset_build_pool(&d, src, 1, 60, H, 0.1, &rep, &err), 0);
    cr_expect_not_null(strstr(err.msg, "65 rows"), "%s", err.msg);
    cr_expect_not_null(strstr(err.msg, "with missing values"), "%s", err.msg);
    cr_expect_null(d.values);
    cr_expect_null(rep.sources);
    cr_assert_neq(dataset_build_pool(&d, src, 1, L, H, 1.0, NULL, &err), 0);
    cr_expect_not_null(strstr(err.msg, "val_fraction"), "%s", err.msg);
    free_fixture(&f);
}

Test(pool, rectangular_datasets_are_unchanged) {
    rp_series s;
    rp_error err;
    cr_assert_eq(series_generate(&s, 200, 2, 3, &err), 0, "%s", err.msg);
    rp_dataset d;
    cr_assert_eq(dataset_build(&d, &s, PROTOCOL_RATIO, L, H, &err), 0, "%s", err.msg);
    cr_expect_null(d.channel_rows);
    cr_expect_null(d.channel_offset);
    int rows = 0;
    cr_expect_eq(dataset_channel(&d, 1, &rows), d.values + d.rows);
    cr_expect_eq(rows, 200);
    int c, start;
    dataset_window_origin(&d, SPLIT_VAL, d.split[SPLIT_VAL].per_channel + 3, &c, &start);
    cr_expect_eq(c, 1);
    cr_expect_eq(start, d.split[SPLIT_VAL].begin + 3);
    dataset_free(&d);
    series_free(&s);
}

Test(pool, unsplit_keeps_every_series_and_any_length) {
    /* A CSV-like table (row-major, 2 columns, 10 rows) and strides. */
    float table[20];
    for (int i = 0; i < 10; i++) {
        table[2 * i] = (float)i;
        table[2 * i + 1] = 5.0f; /* constant: std 1, centred */
    }
    const float *cols[3] = {table, table + 1, NULL};
    float with_nan[4] = {1, NAN, 3, 5};
    cols[2] = with_nan;
    int lengths[3] = {10, 10, 4};
    rp_dataset d;
    rp_error err;
    /* Different strides cannot be mixed in one call: the table first. */
    cr_assert_eq(dataset_build_unsplit(&d, 2, cols, lengths, 2, 6, 3, &err), 0, "%s", err.msg);
    cr_expect_eq(d.channels, 2);
    for (int k = 0; k < 3; k++) cr_expect_eq(d.split[k].n_windows, 0);
    int rows;
    const float *v0 = dataset_channel(&d, 0, &rows);
    cr_expect_eq(rows, 10);
    cr_expect_float_eq(d.mean[0], 4.5, 1e-12);
    cr_expect_float_eq(v0[9], (9 - 4.5) / d.std[0], 1e-6);
    const float *v1 = dataset_channel(&d, 1, NULL);
    cr_expect_float_eq(d.std[1], 1.0, 0);
    cr_expect_float_eq(v1[3], 0.0, 0);
    dataset_free(&d);
    /* A short series with a NaN: kept, statistics over the finite values, NaN stays NaN. */
    cr_assert_eq(dataset_build_unsplit(&d, 1, cols + 2, lengths + 2, 1, 6, 3, &err), 0, "%s", err.msg);
    cr_expect_float_eq(d.mean[0], 3.0, 1e-12);
    v0 = dataset_channel(&d, 0, &rows);
    cr_expect_eq(rows, 4);
    cr_expect(isnan(v0[1]));
    cr_expect_float_eq(v0[3], 2.0 / d.std[0], 1e-6);
    dataset_free(&d);
}
