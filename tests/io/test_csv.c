/* CSV reader: good files in every shape we accept, and one bad file per error, each checked for
 * the location (path:line or path:line:column) and the reason in its message.
 * Fixtures live in tests/data/csv/; CRLF cases are written by the test itself so that no git
 * line-ending setting can change them. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/series.h"

static const char *fixture(const char *name) {
    static char path[4096];
    const char *root = getenv("REINPATCH_SOURCE_ROOT");
    snprintf(path, sizeof path, "%s/tests/data/csv/%s", root ? root : ".", name);
    return path;
}

/* Writes bytes to a fresh temporary file; returns its path (static buffer). */
static const char *temp_file(const char *bytes, size_t n) {
    static char path[4096];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/rp_test_csv_XXXXXX", dir ? dir : "/tmp");
    int fd = mkstemp(path);
    cr_assert(fd >= 0, "mkstemp failed");
    cr_assert_eq(write(fd, bytes, n), (ssize_t)n);
    close(fd);
    return path;
}

/* csv_read of the n bytes of text, through a temporary file. */
static int read_text(const char *text, size_t n, rp_series *s, rp_error *err) {
    const char *path = temp_file(text, n);
    int rc = csv_read(path, s, err);
    unlink(path);
    return rc;
}

static void expect_error(const char *path, const char *where, const char *what) {
    rp_series s;
    rp_error err = {{0}};
    cr_assert_eq(csv_read(path, &s, &err), -1, "%s: expected an error", path);
    cr_assert_null(s.values, "a failed read leaves nothing allocated");
    char loc[4200];
    snprintf(loc, sizeof loc, "%s%s", path, where);
    cr_assert(strstr(err.msg, loc), "message '%s' should contain '%s'", err.msg, loc);
    cr_assert(strstr(err.msg, what), "message '%s' should contain '%s'", err.msg, what);
}

Test(csv, date_column_by_content) {
    rp_series s;
    rp_error err = {{0}};
    cr_assert_eq(csv_read(fixture("good_date.csv"), &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.rows, 3);
    cr_assert_eq(s.cols, 2);
    cr_assert_str_eq(s.date_name, "date");
    cr_assert_str_eq(s.col_names[0], "load");
    cr_assert_str_eq(s.col_names[1], "temp");
    cr_assert_str_eq(s.timestamps[0], "2021-03-01 00:00:00");
    cr_assert_str_eq(s.timestamps[2], "2021-03-01 02:00:00");
    cr_assert_eq(s.values[0], 1.625f);
    cr_assert_eq(s.values[1], 12.375f);
    cr_assert_eq(s.values[2], -0.55f);
    cr_assert_eq(s.values[5], 0.0f);
    cr_assert_str_eq(s.source, fixture("good_date.csv"));
    series_free(&s);
    cr_assert_null(s.values);
    series_free(&s); /* safe twice: series_free zeroes the struct */
}

Test(csv, no_date_column_and_no_final_newline) {
    rp_series s;
    rp_error err = {{0}};
    cr_assert_eq(csv_read(fixture("good_nodate_no_final_newline.csv"), &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.rows, 3);
    cr_assert_eq(s.cols, 3);
    cr_assert_null(s.date_name);
    cr_assert_null(s.timestamps);
    const float want[9] = {1, 2, 3, 4.5f, -6, 700, 8, 9, 10};
    for (int i = 0; i < 9; i++) cr_assert_eq(s.values[i], want[i], "value %d", i);
    series_free(&s);
}

Test(csv, crlf_line_endings) {
    const char text[] = "date,a,b\r\n2020-01-01,1,2\r\n2020-01-02,3.5,-4\r\n";
    rp_series s;
    rp_error err = {{0}};
    int rc = read_text(text, sizeof text - 1, &s, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(s.rows, 2);
    cr_assert_eq(s.cols, 2);
    cr_assert_str_eq(s.col_names[1], "b");
    cr_assert_str_eq(s.timestamps[1], "2020-01-02");
    cr_assert_eq(s.values[3], -4.0f);
    series_free(&s);
}

Test(csv, crlf_without_final_newline) {
    const char text[] = "x,y\r\n1,2\r\n3,4";
    rp_series s;
    rp_error err = {{0}};
    int rc = read_text(text, sizeof text - 1, &s, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(s.rows, 2);
    cr_assert_eq(s.values[3], 4.0f);
    series_free(&s);
}

Test(csv, crlf_error_line_numbers) {
    const char text[] = "x,y\r\n1,2\r\n3,4\r\n5,oops\r\n";
    rp_series s;
    rp_error err = {{0}};
    int rc = read_text(text, sizeof text - 1, &s, &err);
    cr_assert_eq(rc, -1);
    cr_assert(strstr(err.msg, ":4:2: column 'y': not a number: 'oops'"), "%s", err.msg);
}

Test(csv, byte_order_mark_is_not_part_of_the_name) {
    const char text[] = "\xEF\xBB\xBF" "date,v\n2020-01-01,1\n";
    rp_series s;
    rp_error err = {{0}};
    int rc = read_text(text, sizeof text - 1, &s, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_str_eq(s.date_name, "date");
    series_free(&s);
}

Test(csv, non_ascii_header) {
    rp_series s;
    rp_error err = {{0}};
    cr_assert_eq(csv_read(fixture("good_nonascii_header.csv"), &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.cols, 3);
    cr_assert_str_eq(s.col_names[1], "flux (W/m\xEF\xBF\xBD)");
    cr_assert_str_eq(s.col_names[2], "photons (\xEF\xBF\xBDmol/m\xEF\xBF\xBD/s)");
    cr_assert_eq(s.values[3 + 1], 2.25f);
    series_free(&s);
}

Test(csv, date_column_by_name_even_when_numeric) {
    rp_series s;
    rp_error err = {{0}};
    cr_assert_eq(csv_read(fixture("good_numeric_timestamp.csv"), &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.cols, 1);
    cr_assert_str_eq(s.date_name, "timestamp");
    cr_assert_str_eq(s.timestamps[1], "1651388400");
    cr_assert_eq(s.values[1], 2.5f);
    series_free(&s);
}

Test(csv, trailing_blank_lines_are_accepted) {
    rp_series s;
    rp_error err = {{0}};
    cr_assert_eq(csv_read(fixture("good_trailing_blank_lines.csv"), &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.rows, 2);
    series_free(&s);
}

Test(csv, quoted_header_fields) {
    rp_series s;
    rp_error err = {{0}};
    cr_assert_eq(csv_read(fixture("good_quoted_header.csv"), &s, &err), 0, "%s", err.msg);
    cr_assert_str_eq(s.date_name, "date");
    cr_assert_str_eq(s.col_names[0], "x, y");
    cr_assert_str_eq(s.col_names[1], "say \"hi\"");
    series_free(&s);
}

Test(csv, bad_not_a_number) { expect_error(fixture("bad_not_number.csv"), ":4:3:", "not a number: 'abc'"); }
Test(csv, bad_ragged_short_row) { expect_error(fixture("bad_ragged.csv"), ":3:", "expected 3 fields, got 2"); }
Test(csv, bad_ragged_long_row) { expect_error(fixture("bad_ragged_long.csv"), ":3:", "expected 2 fields, got 3"); }
Test(csv, bad_empty_file) { expect_error(fixture("bad_empty.csv"), ":", "empty file"); }
Test(csv, bad_header_only) { expect_error(fixture("bad_header_only.csv"), ":", "no data rows"); }
Test(csv, bad_nan) { expect_error(fixture("bad_nan.csv"), ":3:2:", "NaN or Inf"); }
Test(csv, bad_inf) { expect_error(fixture("bad_inf.csv"), ":4:1:", "NaN or Inf is not allowed: '-inf'"); }
Test(csv, bad_duplicate_name) { expect_error(fixture("bad_duplicate_name.csv"), ":1:4:", "duplicated column name 'a'"); }
Test(csv, bad_empty_cell) { expect_error(fixture("bad_empty_cell.csv"), ":5:2:", "column 'b': empty cell"); }
Test(csv, bad_empty_date_cell) { expect_error(fixture("bad_empty_date.csv"), ":2:1:", "empty cell"); }
Test(csv, bad_blank_line_between_rows) { expect_error(fixture("bad_blank_line.csv"), ":3:", "empty line"); }
Test(csv, bad_out_of_float_range) { expect_error(fixture("bad_out_of_range.csv"), ":3:2:", "out of float range"); }
Test(csv, bad_hex_is_not_a_number) { expect_error(fixture("bad_hex.csv"), ":2:2:", "not a number: '0x10'"); }
Test(csv, bad_missing_file) { expect_error(fixture("no_such_file.csv"), ":", "cannot open"); }

Test(csv, select_columns_reorders_and_checks_names) {
    rp_series s;
    rp_error err = {{0}};
    cr_assert_eq(csv_read(fixture("good_nodate_no_final_newline.csv"), &s, &err), 0, "%s", err.msg);
    const char *unknown[] = {"a", "zz"};
    cr_assert_eq(series_select_columns(&s, unknown, 2, &err), -1);
    cr_assert(strstr(err.msg, "unknown column 'zz'"), "%s", err.msg);
    cr_assert_eq(s.cols, 3, "a failed selection leaves the series as it was");
    const char *twice[] = {"a", "a"};
    cr_assert_eq(series_select_columns(&s, twice, 2, &err), -1);
    const char *names[] = {"c", "a"};
    cr_assert_eq(series_select_columns(&s, names, 2, &err), 0, "%s", err.msg);
    cr_assert_eq(s.cols, 2);
    cr_assert_str_eq(s.col_names[0], "c");
    cr_assert_str_eq(s.col_names[1], "a");
    const float want[6] = {3, 1, 700, 4.5f, 10, 8};
    for (int i = 0; i < 6; i++) cr_assert_eq(s.values[i], want[i], "value %d", i);
    series_free(&s);
}

/* Real data (REINPATCH_DATA): the published files load whole, with the row counts of
 * shared/data/SOURCES.md, and fast. */
static const char *data_file(const char *name) {
    static char path[4096];
    const char *dir = getenv("REINPATCH_DATA");
    if (!dir) return NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, R_OK) == 0 ? path : NULL;
}

static void load_real(const char *name, int rows, int cols, const char *last_col) {
    const char *path = data_file(name);
    if (!path) cr_skip_test("REINPATCH_DATA/%s not available", name);
    rp_series s;
    rp_error err = {{0}};
    cr_assert_eq(csv_read(path, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(s.rows, rows);
    cr_assert_eq(s.cols, cols);
    cr_assert_str_eq(s.date_name, "date");
    cr_assert_str_eq(s.col_names[cols - 1], last_col);
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++) cr_assert(isfinite(s.values[i]));
    series_free(&s);
}

Test(csv_real, etth1) { load_real("ETTh1.csv", 17420, 7, "OT"); }
Test(csv_real, ettm1) { load_real("ETTm1.csv", 69680, 7, "OT"); }
Test(csv_real, weather_non_ascii_header) { load_real("weather.csv", 52696, 21, "OT"); }
Test(csv_real, exchange_rate_no_final_newline) { load_real("exchange_rate.csv", 7588, 8, "OT"); }
Test(csv_real, national_illness) { load_real("national_illness.csv", 966, 7, "OT"); }
