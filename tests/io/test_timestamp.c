/* io/timestamp: parsing the accepted forms, and continuing a series' timestamps in its own style
 * (hours across midnight and a year's end, leap days, whole months, weeks). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>

#include "io/timestamp.h"

/* Strings held in the struct: Criterion copies parameters into each test's own process, where
 * pointers into the parent's data would not be valid. */
typedef struct continuation {
    char prev[24], last[24];
    int n;
    char want[2][24];
} continuation;

ParameterizedTestParameters(timestamp, continues_in_the_series_style) {
    static continuation cases[] = {
        {"2016-07-01 00:00:00", "2016-07-01 01:00:00", 2, {"2016-07-01 02:00:00", "2016-07-01 03:00:00"}},
        {"2016/7/1 23:30", "2016/7/1 23:45", 2, {"2016/7/2 0:00", "2016/7/2 0:15"}},
        {"2016-07-01 22:00:00", "2016-07-01 23:00:00", 1, {"2016-07-02 00:00:00"}},
        {"2016-12-31 22:00:00", "2016-12-31 23:00:00", 1, {"2017-01-01 00:00:00"}},
        {"2020-02-27", "2020-02-28", 2, {"2020-02-29", "2020-03-01"}},
        {"2020-01-31", "2020-02-29", 2, {"2020-03-31", "2020-04-30"}},
        {"2002-01-15", "2002-02-15", 1, {"2002-03-15"}},
        {"2002-01-01T06:00", "2002-01-08T06:00", 1, {"2002-01-15T06:00"}},
    };
    return cr_make_param_array(continuation, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(continuation *c, timestamp, continues_in_the_series_style) {
    char *out[2];
    cr_assert_eq(rp_timestamps_continue(c->prev, c->last, c->n, out), 0, "%s, %s did not parse", c->prev, c->last);
    for (int i = 0; i < c->n; i++) {
        cr_expect_str_eq(out[i], c->want[i], "after %s, %s: step %d", c->prev, c->last, i + 1);
        free(out[i]);
    }
}

Test(timestamp, refuses_what_it_cannot_continue) {
    char *out[2];
    cr_expect_eq(rp_timestamps_continue("week 1", "week 2", 2, out), -1);
    cr_expect_eq(rp_timestamps_continue("2016-07-01 01:00", "2016-07-01 01:00", 2, out), -1, "zero step");
    cr_expect_eq(rp_timestamps_continue("2016-02-30", "2016-03-01", 2, out), -1, "no 30 February");
}

Test(timestamp, parses_to_unix_seconds) {
    rp_timestamp t;
    cr_assert_eq(rp_timestamp_parse("2016-07-01 00:00:00", &t), 0);
    cr_expect_eq(rp_timestamp_seconds(&t), 1467331200LL);
}
