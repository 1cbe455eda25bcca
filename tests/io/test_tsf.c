/* Monash .tsf reader: a small fixture, the three missing-value policies, one bad file per error
 * (each message checked for path:line), a very long line, and every real file in
 * REINPATCH_DATA/monash when present. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/series.h"

static const char *fixture(const char *name) {
    static char path[4096];
    const char *root = getenv("REINPATCH_SOURCE_ROOT");
    snprintf(path, sizeof path, "%s/tests/data/tsf/%s", root ? root : ".", name);
    return path;
}

static void expect_error(const char *name, rp_tsf_missing policy, const char *where, const char *what) {
    const char *path = fixture(name);
    rp_tsf t;
    rp_error err = {{0}};
    cr_assert_eq(tsf_read(path, policy, &t, &err), -1, "%s: expected an error", name);
    cr_assert_eq(t.n_series, 0, "a failed read leaves nothing allocated");
    cr_assert_null(t.series);
    char loc[4200];
    snprintf(loc, sizeof loc, "%s%s", path, where);
    cr_assert(strstr(err.msg, loc), "message '%s' should contain '%s'", err.msg, loc);
    cr_assert(strstr(err.msg, what), "message '%s' should contain '%s'", err.msg, what);
}

Test(tsf, small_file_keep_nan) {
    rp_tsf t;
    rp_error err = {{0}};
    cr_assert_eq(tsf_read(fixture("small.tsf"), TSF_MISSING_KEEP_NAN, &t, &err), 0, "%s", err.msg);
    cr_assert_str_eq(t.relation, "Small");
    cr_assert_str_eq(t.frequency, "hourly");
    cr_assert_eq(t.horizon, 3);
    cr_assert(t.declares_missing);
    cr_assert_not(t.equal_length);
    cr_assert_eq(t.n_series, 3);
    cr_assert_eq(t.n_dropped, 0);
    cr_assert_eq(t.n_missing_total, 2);

    cr_assert_str_eq(t.series[0].name, "T1");
    cr_assert_str_eq(t.series[0].start, "2020-01-01 00-00-00");
    cr_assert_eq(t.series[0].length, 5);
    const float want0[5] = {1, 2, 3, 4.5f, -6};
    for (int i = 0; i < 5; i++) cr_assert_eq(t.series[0].values[i], want0[i]);

    cr_assert_eq(t.series[1].length, 6);
    cr_assert_eq(t.series[1].n_missing, 2);
    cr_assert(isnan(t.series[1].values[1]));
    cr_assert(isnan(t.series[1].values[3]));
    cr_assert_eq(t.series[1].values[5], 60.0f);

    cr_assert_str_eq(t.series[2].start, "2021-06-30 12-00-00");
    cr_assert_eq(t.series[2].values[1], 80.0f);
    tsf_free(&t);
    tsf_free(&t); /* safe twice */
}

Test(tsf, small_file_drop_series) {
    rp_tsf t;
    rp_error err = {{0}};
    cr_assert_eq(tsf_read(fixture("small.tsf"), TSF_MISSING_DROP_SERIES, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_series, 2);
    cr_assert_eq(t.n_dropped, 1);
    cr_assert_eq(t.n_missing_total, 2);
    cr_assert_str_eq(t.series[0].name, "T1");
    cr_assert_str_eq(t.series[1].name, "T3");
    cr_assert_eq(t.series[1].n_missing, 0);
    tsf_free(&t);
}

Test(tsf, small_file_fail_on_missing) {
    /* line 13 is T2; its first '?' is value 2, at byte column 27 */
    expect_error("small.tsf", TSF_MISSING_FAIL, ":13:27:", "series 'T2': value 2 is missing");
}

Test(tsf, no_timestamp_attribute) {
    rp_tsf t;
    rp_error err = {{0}};
    cr_assert_eq(tsf_read(fixture("no_timestamp.tsf"), TSF_MISSING_FAIL, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_series, 2);
    cr_assert_null(t.series[0].start);
    cr_assert_str_eq(t.series[1].name, "B");
    cr_assert_eq(t.series[1].values[2], 6.0f);
    cr_assert(t.equal_length);
    cr_assert_eq(t.horizon, 0);
    tsf_free(&t);
}

Test(tsf, extra_attributes) {
    rp_tsf t;
    rp_error err = {{0}};
    cr_assert_eq(tsf_read(fixture("extra_attributes.tsf"), TSF_MISSING_FAIL, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.n_series, 2);
    cr_assert_str_eq(t.series[0].name, "T1");
    cr_assert_str_eq(t.series[1].start, "2019-03-02 00-00-00");
    cr_assert_eq(t.series[1].length, 2);
    cr_assert_eq(t.series[1].values[1], 47.0f);
    tsf_free(&t);
}

Test(tsf, very_long_line_and_crlf) {
    /* One series of 60000 values, about 420 KB on one line, CRLF endings. */
    const int n = 60000;
    char path[4096];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/rp_test_tsf_XXXXXX", dir ? dir : "/tmp");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    fprintf(f, "@relation Long\r\n@attribute series_name string\r\n@attribute start_timestamp date\r\n"
               "@data\r\nL1:2000-01-01 00-00-00:");
    for (int i = 0; i < n; i++) fprintf(f, "%s%d.25", i ? "," : "", i);
    fprintf(f, "\r\n");
    fclose(f);
    rp_tsf t;
    rp_error err = {{0}};
    int rc = tsf_read(path, TSF_MISSING_FAIL, &t, &err);
    unlink(path);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(t.n_series, 1);
    cr_assert_eq(t.series[0].length, n);
    cr_assert_eq(t.series[0].values[n - 1], (float)(n - 1) + 0.25f);
    tsf_free(&t);
}

Test(tsf, bad_data_line_before_data_tag) {
    expect_error("bad_missing_data.tsf", TSF_MISSING_FAIL, ":5:", "missing @data");
}
Test(tsf, bad_no_data_tag) { expect_error("bad_no_data_tag.tsf", TSF_MISSING_FAIL, ":", "missing @data"); }
Test(tsf, bad_field_count) {
    expect_error("bad_fields.tsf", TSF_MISSING_FAIL, ":6:", "expected 3 ':'-separated fields");
}
Test(tsf, bad_value) { expect_error("bad_value.tsf", TSF_MISSING_FAIL, ":6:26:", "value 2: not a number: '5x'"); }
Test(tsf, bad_empty_series) { expect_error("bad_empty_series.tsf", TSF_MISSING_FAIL, ":7:", "series 'T3' is empty"); }
Test(tsf, bad_unknown_directive) {
    expect_error("bad_directive.tsf", TSF_MISSING_FAIL, ":3:", "unknown directive '@equalength'");
}
Test(tsf, bad_equal_length_promise) {
    expect_error("bad_equallength.tsf", TSF_MISSING_FAIL, ":7:", "@equallength is true");
}
Test(tsf, bad_date_with_colons) {
    /* "00:00:00" adds two ':' fields: the line cannot be split as declared */
    expect_error("bad_date.tsf", TSF_MISSING_FAIL, ":5:", "expected 3 ':'-separated fields");
}
Test(tsf, bad_date_shape) {
    expect_error("bad_date_shape.tsf", TSF_MISSING_FAIL, ":5:4:", "attribute 'start_timestamp': expected a date");
}
Test(tsf, bad_all_values_missing) {
    expect_error("bad_all_missing.tsf", TSF_MISSING_KEEP_NAN, ":6:", "every value is missing");
}
Test(tsf, bad_trailing_comma) { expect_error("bad_trailing_comma.tsf", TSF_MISSING_FAIL, ":4:10:", "value 4 is empty"); }
Test(tsf, bad_missing_file) { expect_error("no_such_file.tsf", TSF_MISSING_FAIL, ":", "cannot open"); }

/* Every real Monash file parses with the strictest policy; two are pinned in detail. */
Test(tsf_real, all_monash_files) {
    const char *dir = getenv("REINPATCH_DATA");
    char monash[4096];
    snprintf(monash, sizeof monash, "%s/monash", dir ? dir : "");
    DIR *d = dir ? opendir(monash) : NULL;
    if (!d) cr_skip_test("REINPATCH_DATA/monash not available");
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 4, ".tsf") != 0) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", monash, e->d_name);
        rp_tsf t;
        rp_error err = {{0}};
        cr_assert_eq(tsf_read(path, TSF_MISSING_FAIL, &t, &err), 0, "%s", err.msg);
        cr_assert_gt(t.n_series, 0);
        for (int i = 0; i < t.n_series; i++) {
            cr_assert_gt(t.series[i].length, 0);
            cr_assert_not_null(t.series[i].start, "%s: every Monash file has a start timestamp", path);
        }
        if (strcmp(e->d_name, "electricity_weekly_dataset.tsf") == 0) {
            cr_assert_eq(t.n_series, 321);
            cr_assert(t.equal_length);
            cr_assert_eq(t.horizon, 8);
            for (int i = 0; i < t.n_series; i++) cr_assert_eq(t.series[i].length, 156);
            cr_assert_eq(t.series[0].values[0], 8032.0f);
        }
        if (strcmp(e->d_name, "vehicle_trips_dataset_without_missing_values.tsf") == 0) {
            cr_assert_eq(t.n_series, 329);
            cr_assert_str_eq(t.series[0].name, "T1");
            cr_assert_str_eq(t.series[0].start, "2015-01-01 00-00-00");
            cr_assert_eq(t.series[0].values[0], 26.0f);
        }
        if (strcmp(e->d_name, "sunspot_dataset_without_missing_values.tsf") == 0)
            cr_assert_eq(t.series[0].length, 73924);
        tsf_free(&t);
        files++;
    }
    closedir(d);
    cr_assert_gt(files, 0);
}
