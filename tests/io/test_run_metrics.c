/* metrics.json as reinpatch report reads it: every number with the text it was written with, and
 * every bad file named in one line. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/run_metrics.h"
#include "tests/tempdir.h"

/* The layout train/train.c write_metrics writes, invented numbers. */
static const char GOOD[] =
    "{\n  \"recipe\": \"demo\",\n  \"data\": \"generated(seed=7)\",\n"
    "  \"test\": {\"mse\": 0.412300, \"mae\": 0.401000, \"windows\": 2331, \"cuts_off_uniform\": [0.0000, 0.2500]},\n"
    "  \"val\": {\"mse\": 0.687139, \"mae\": 0.645033, \"windows\": 2331},\n"
    "  \"epochs\": 3,\n  \"best_epoch\": 2,\n  \"steps\": 378,\n"
    "  \"wall_seconds\": 39.493,\n  \"train_windows_per_second\": 679.2,\n"
    "  \"parameters\": 11208,\n  \"threads\": 1,\n"
    "  \"resolved_recipe\": \"name: \\\"demo\\\"\\nlevels: []\\n\"\n}\n";

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(run_metrics, reads_every_field_as_written) {
    char dir[256], path[300];
    tempdir_make(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    write_text(path, GOOD);
    rp_run_metrics m;
    rp_error err;
    cr_assert_eq(run_metrics_read(path, &m, &err), 0, "%s", err.msg);
    cr_expect_str_eq(m.recipe_name, "demo");
    cr_expect_str_eq(m.data, "generated(seed=7)");
    cr_expect_str_eq(m.resolved_recipe, "name: \"demo\"\nlevels: []\n");
    cr_expect_str_eq(m.test_mse.text, "0.412300");
    cr_expect_eq(m.test_mse.value, 0.4123);
    cr_expect_str_eq(m.val_mae.text, "0.645033");
    cr_expect_str_eq(m.epochs.text, "3");
    cr_expect_eq(m.best_epoch.value, 2);
    cr_expect_str_eq(m.train_windows_per_second.text, "679.2");
    cr_expect_str_eq(m.wall_seconds.text, "39.493");
    cr_expect_eq(m.n_levels, 2);
    cr_expect_str_eq(m.cuts_off_uniform[1].text, "0.2500");
    run_metrics_free(&m);
    /* an older file: no speed, no resolved recipe */
    write_text(path, "{\"test\": {\"mse\": 1.5, \"mae\": 1}, \"val\": {\"mse\": 2, \"mae\": 1}, \"epochs\": 1, "
                     "\"best_epoch\": 1}");
    cr_assert_eq(run_metrics_read(path, &m, &err), 0, "%s", err.msg);
    cr_expect_str_empty(m.wall_seconds.text);
    cr_expect(isnan(m.wall_seconds.value));
    cr_expect_str_empty(m.resolved_recipe);
    cr_expect_eq(m.n_levels, 0);
    run_metrics_free(&m);
    tempdir_remove(dir);
}

Test(run_metrics, bad_files) {
    char dir[256], path[300];
    tempdir_make(dir, sizeof dir, "metrics");
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"{\"test\": {\"mse\": 0.5,\n", "not JSON"},
        {"[1, 2]", "not a JSON object"},
        {"", "not a JSON object"},
        {"{\"val\": {\"mse\": 2, \"mae\": 1}, \"epochs\": 1, \"best_epoch\": 1}", "no key 'test.mse'"},
        {"{\"test\": {\"mse\": \"low\", \"mae\": 1}, \"val\": {\"mse\": 2, \"mae\": 1}, \"epochs\": 1, \"best_epoch\": 1}",
         ":1: 'test.mse' is not a number"},
        {"{\"test\": {\"mse\": 1, \"mae\": 1}, \"val\": {\"mse\": 2, \"mae\": 1},\n\"epochs\": [3], \"best_epoch\": 1}",
         ":2: 'epochs' is not a number"},
        {"{\"test\": {\"mse\": 1, \"mae\": 1, \"cuts_off_uniform\": [0.1, \"x\"]}, \"val\": {\"mse\": 2, \"mae\": 1}, "
         "\"epochs\": 1, \"best_epoch\": 1}", "'test.cuts_off_uniform' is not a number"},
    };
    rp_run_metrics m;
    rp_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(path, cases[i].text);
        cr_expect_eq(run_metrics_read(path, &m, &err), -1, "case %zu", i);
        cr_expect_not_null(strstr(err.msg, cases[i].needle), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].needle);
        cr_expect(strncmp(err.msg, path, strlen(path)) == 0, "case %zu: '%s' does not name the file", i, err.msg);
        cr_expect_null(m.recipe_name);
    }
    snprintf(path, sizeof path, "%s/absent.json", dir);
    cr_expect_eq(run_metrics_read(path, &m, &err), -1);
    cr_expect_not_null(strstr(err.msg, "cannot read"), "%s", err.msg);
    tempdir_remove(dir);
}
