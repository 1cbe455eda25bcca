/* The reinpatch command line end to end: a tiny recipe on generated data is trained once (by the
 * first test that needs it, shared through a directory named after the Criterion runner's pid),
 * then eval, inspect, predict, export-patcher and segment run on its checkpoint as a user would
 * run them, plus every documented bad input (one error line, non-zero exit). The helpers `predict`
 * relies on have their own tests: tests/train/test_predict.c, tests/io/test_timestamp.c. */
/* nftw (XSI) and flock (BSD) on top of the project's POSIX level. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE 1

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/segexport.h"
#include "io/test_windows.h"
#include "io/series.h"
#include "train/history.h"
#include "train/predict.h"
#include "tests/run_command.h"
#define SHARED_DIR_TAG "cli"
#include "tests/shared_dir.h"
#include "tests/tiny_recipe.h"

#define LOOKBACK 32
#define HORIZON 8
#define CHANNELS 2

/* ---- running the binary ---- */

/* Runs `reinpatch args...` (NULL-terminated) in the work directory. */
static command_result run(const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    command_result r = run_reinpatch_v(work, first, ap);
    va_end(ap);
    return r;
}

/* ---- the shared run ---- */

static const char RECIPE[] = TINY_RECIPE("tiny", 600, "patching: learned, rate: 4, patch_len: 8") TINY_TRAIN(5)
    "output:\n"
    "  dir: run\n";

#define CSV_ROWS 200
#define SCALE 100.0
#define OFFSET 5000.0

/* An hourly CSV of the generated series (seed 11) scaled by SCALE and shifted by OFFSET; its
 * value range goes to *lo / *hi. */
static void write_scaled_csv(const char *path, int rows, int cols, double *lo, double *hi) {
    rp_series s;
    rp_error err;
    memset(&s, 0, sizeof s);
    cr_assert_eq(series_generate(&s, rows, cols, 11, &err), 0, "%s", err.msg);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "date");
    for (int c = 0; c < cols; c++) fprintf(f, ",ch%d", c);
    fprintf(f, "\n");
    double mn = INFINITY, mx = -INFINITY;
    for (int r = 0; r < rows; r++) {
        fprintf(f, "2016-07-%02d %02d:00:00", 1 + r / 24, r % 24);
        for (int c = 0; c < cols; c++) {
            double v = s.values[(size_t)r * cols + c] * SCALE + OFFSET;
            mn = fmin(mn, v);
            mx = fmax(mx, v);
            fprintf(f, ",%.4f", v);
        }
        fprintf(f, "\n");
    }
    fclose(f);
    series_free(&s);
    if (lo) *lo = mn;
    if (hi) *hi = mx;
}

/* Trains the tiny recipe once per Criterion run (the first caller does it, under a lock). */
static void ensure_trained(void) {
    int lock = shared_dir_lock();
    if (file_size(at("run/checkpoint.h5")) <= 0) {
        write_file(at("tiny.yaml"), RECIPE);
        write_scaled_csv(at("scaled.csv"), CSV_ROWS, CHANNELS, NULL, NULL);
        command_result r = run("train", "tiny.yaml", "--quiet", NULL);
        cr_assert_eq(r.status, 0, "train failed: %s", r.err);
        command_result_free(&r);
    }
    shared_dir_unlock(lock);
    cr_assert_gt(file_size(at("run/checkpoint.h5")), 0, "no checkpoint after training");
}

/* The number after "key": in a JSON line; NAN when absent. */
static double json_number(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* Writes a recipe into the work directory and trains it (quietly); the run must succeed. */
static void train_recipe(const char *file, const char *text) {
    write_file(at(file), text);
    command_result r = run("train", file, "--quiet", NULL);
    cr_assert_eq(r.status, 0, "%s: %s", file, r.err);
    command_result_free(&r);
}

/* ---- tests ---- */

Test(cli, help) {
    work_dir(getppid());
    mkdir(work, 0755);
    command_result r = run("--help", NULL);
    cr_expect_eq(r.status, 0);
    cr_expect_not_null(strstr(r.out, "usage: reinpatch"));
    command_result_free(&r);
    const char *cmds[] = {"train", "eval", "predict", "segment", "export-patcher", "inspect"};
    for (int i = 0; i < 6; i++) {
        r = run(cmds[i], "--help", NULL);
        cr_expect_eq(r.status, 0, "%s --help: %d", cmds[i], r.status);
        cr_expect_not_null(strstr(r.out, "usage: reinpatch"), "%s --help: %s", cmds[i], r.out);
        cr_expect_str_empty(r.err);
        command_result_free(&r);
    }
}

Test(cli, train_then_eval) {
    ensure_trained();
    command_result r = run("eval", "run/checkpoint.h5", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_not_null(strstr(r.out, "\"checkpoint\": \"run/checkpoint.h5\""), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "\"split\": \"test\""), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "\"data\": \"generated(seed=7)\""), "%s", r.out);
    double mse = json_number(r.out, "mse"), mae = json_number(r.out, "mae"), w = json_number(r.out, "windows");
    cr_expect(isfinite(mse) && mse > 0, "mse %g in %s", mse, r.out);
    cr_expect(isfinite(mae) && mae > 0, "mae %g", mae);
    cr_expect_gt(w, 0);
    /* The run's own final test evaluation (metrics.json) used the same weights and windows. */
    char *metrics = slurp(at("run/metrics.json"));
    const char *test = strstr(metrics, "\"test\": {");
    cr_assert_not_null(test, "%s", metrics);
    cr_expect_float_eq(json_number(test, "mse"), mse, 1e-5, "metrics.json %s vs eval %s", test, r.out);
    free(metrics);
    command_result_free(&r);

    r = run("eval", "run/checkpoint.h5", "--split", "val", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_not_null(strstr(r.out, "\"split\": \"val\""));
    cr_expect(isfinite(json_number(r.out, "mse")));
    command_result_free(&r);

    /* Another CSV with the same channel count, z-scored with its own train split. */
    r = run("eval", "run/checkpoint.h5", "--data", "scaled.csv", "--split=val", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_not_null(strstr(r.out, "\"data\": \"scaled.csv\""), "%s", r.out);
    cr_expect(isfinite(json_number(r.out, "mse")), "%s", r.out);
    command_result_free(&r);
}

Test(cli, inspect_checkpoint) {
    ensure_trained();
    command_result r = run("inspect", "run/checkpoint.h5", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_not_null(strstr(r.out, "checkpoint"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "levels/0/policy"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "name: \"tiny\""), "%s", r.out);
    command_result_free(&r);
}

Test(cli, predict_in_original_units) {
    ensure_trained();
    double lo, hi;
    write_scaled_csv(at("new.csv"), CSV_ROWS, CHANNELS, &lo, &hi);
    command_result r = run("predict", "run/checkpoint.h5", "--data", "new.csv", "--out", "forecast.csv", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    char *csv = slurp(at("forecast.csv"));
    cr_expect_eq(count_lines(csv), HORIZON + 1, "%s", csv);
    cr_expect(strncmp(csv, "date,ch0,ch1\n", 13) == 0, "header: %s", csv);
    /* The input ends at row 199 = 2016-07-09 07:00:00, hourly. */
    cr_expect_not_null(strstr(csv, "\n2016-07-09 08:00:00,"), "%s", csv);
    cr_expect_not_null(strstr(csv, "\n2016-07-09 15:00:00,"), "%s", csv);
    double span = hi - lo;
    const char *line = strchr(csv, '\n') + 1;
    int rows = 0;
    while (*line) {
        const char *p = strchr(line, ',');
        cr_assert_not_null(p);
        for (int c = 0; c < CHANNELS; c++) {
            char *end;
            double v = strtod(p + 1, &end);
            cr_expect(isfinite(v) && v > lo - span && v < hi + span,
                      "forecast %g outside the input's range [%g, %g] widened by its span", v, lo, hi);
            p = end;
        }
        line = strchr(line, '\n') + 1;
        rows++;
    }
    cr_expect_eq(rows, HORIZON);
    free(csv);

    /* '-' writes the same CSV to stdout. */
    r = run("predict", "run/checkpoint.h5", "--data", "new.csv", "--out", "-", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *again = slurp(at("forecast.csv"));
    cr_expect_str_eq(r.out, again);
    free(again);
    command_result_free(&r);
}

Test(cli, export_patcher_then_segment) {
    ensure_trained();
    command_result r = run("export-patcher", "run/checkpoint.h5", "patcher.h5", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    r = run("inspect", "patcher.h5", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_not_null(strstr(r.out, "patcher"), "%s", r.out);
    cr_expect_not_null(strstr(r.out, "learned"), "%s", r.out);
    command_result_free(&r);

    /* Non-overlapping windows over a CSV, with a plot. */
    write_scaled_csv(at("seg.csv"), CSV_ROWS, CHANNELS, NULL, NULL);
    r = run("segment", "--patcher", "patcher.h5", "--data", "seg.csv", "--split", "all", "--out", "seg.h5",
            "--plot", "seg.svg", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    rp_segexport e;
    rp_error err;
    cr_assert_eq(segexport_read(at("seg.h5"), &e, &err), 0, "%s", err.msg);
    int per = CSV_ROWS / LOOKBACK, K = (LOOKBACK + 3) / 4;
    cr_expect_eq(e.n_windows, CHANNELS * per);
    cr_expect_eq(e.lookback, LOOKBACK);
    cr_expect_eq(e.horizon, HORIZON);
    cr_expect_str_eq(e.split, "all");
    cr_expect_not_null(strstr(e.source, "seg.csv"));
    cr_expect_not_null(strstr(e.recipe_text, "patching: learned"));
    cr_assert_eq(e.n_levels, 1);
    cr_expect_eq(e.levels[0].K, K);
    cr_expect_float_eq(e.levels[0].rate, 4.0, 1e-12);
    for (int w = 0; w < e.n_windows; w++) {
        cr_expect_eq(e.channel[w], w / per);
        cr_expect_eq(e.start_row[w], (w % per) * LOOKBACK);
        const int32_t *s = e.levels[0].starts + (size_t)w * K, *n = e.levels[0].lengths + (size_t)w * K;
        cr_expect_eq(s[0], 0);
        for (int k = 0; k < K; k++) {
            cr_expect_geq(n[k], 1);
            cr_expect_eq(s[k] + n[k], k + 1 < K ? s[k + 1] : LOOKBACK, "window %d patch %d", w, k);
        }
    }
    segexport_free(&e);
    char *svg = slurp(at("seg.svg"));
    cr_expect(strncmp(svg, "<?xml", 5) == 0);
    cr_expect_not_null(strstr(svg, "<polyline"));
    cr_expect_not_null(strstr(svg, "</svg>"));
    free(svg);

    /* The checkpoint's own test split: as many windows as eval scores. */
    r = run("segment", "--checkpoint", "run/checkpoint.h5", "--out", "seg_test.h5", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    r = run("eval", "run/checkpoint.h5", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(segexport_read(at("seg_test.h5"), &e, &err), 0, "%s", err.msg);
    cr_expect_eq(e.n_windows, (int)json_number(r.out, "windows"));
    cr_expect_str_eq(e.split, "test");
    segexport_free(&e);
    command_result_free(&r);
}

/* A two-level stack (learned level-1 patches grouped by a learned level 2): the export holds both
 * levels in time steps, and every level-2 boundary is a level-1 boundary. */
Test(cli, segment_level_stack) {
    ensure_trained();
    train_recipe("stack.yaml",
               "name: stack\n"
               "data: {path: generated, lookback: 32, horizon: 8, generated: {rows: 600, channels: 2}}\n"
               "levels:\n"
               "  - {patching: learned, rate: 4, patch_len: 8}\n"
               "  - {patching: learned, rate: 2, tokens: pooled}\n"
               "backbone: {d_model: 8, n_heads: 2, n_layers: 1, d_ff: 16, inputs: all}\n"
               "train: {epochs: 1, batch_size: 32, max_steps_per_epoch: 3, threads: 1}\n"
               "output: {dir: run_stack}\n");
    /* eval reports each level's share of cuts off the uniform grid, as metrics.json does. */
    command_result r = run("eval", "run_stack/checkpoint.h5", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *off = strstr(r.out, "\"cuts_off_uniform\": [");
    cr_assert_not_null(off, "%s", r.out);
    char *metrics = slurp(at("run_stack/metrics.json"));
    const char *mt = strstr(metrics, "\"cuts_off_uniform\": [");
    cr_assert_not_null(mt, "%s", metrics);
    size_t len = (size_t)(strchr(off, ']') - off);
    cr_expect_eq(strncmp(off, mt, len + 1), 0, "eval %s vs metrics.json %s", off, mt);
    int commas = 0;
    for (size_t i = 0; i < len; i++) commas += off[i] == ',';
    cr_expect_eq(commas, 1, "two levels, two entries: %s", off);
    free(metrics);
    command_result_free(&r);
    r = run("segment", "--checkpoint", "run_stack/checkpoint.h5", "--split", "val", "--out", "stack.h5", "--plot",
            "stack.svg", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    rp_segexport e;
    rp_error err;
    cr_assert_eq(segexport_read(at("stack.h5"), &e, &err), 0, "%s", err.msg);
    cr_assert_eq(e.n_levels, 2);
    cr_expect_eq(e.levels[0].K, 8);
    cr_expect_eq(e.levels[1].K, 4);
    for (int w = 0; w < e.n_windows; w++) {
        for (int l = 0; l < 2; l++) {
            int K = e.levels[l].K;
            const int32_t *s = e.levels[l].starts + (size_t)w * K, *n = e.levels[l].lengths + (size_t)w * K;
            cr_expect_eq(s[0], 0);
            for (int k = 0; k < K; k++) cr_expect_eq(s[k] + n[k], k + 1 < K ? s[k + 1] : LOOKBACK);
        }
        const int32_t *lo = e.levels[0].starts + (size_t)w * 8, *hi = e.levels[1].starts + (size_t)w * 4;
        for (int k = 0; k < 4; k++) {
            int found = 0;
            for (int j = 0; j < 8; j++) found |= lo[j] == hi[k];
            cr_expect(found, "window %d: level-2 start %d is not a level-1 start", w, hi[k]);
        }
    }
    segexport_free(&e);
    char *svg = slurp(at("stack.svg"));
    cr_expect_not_null(strstr(svg, "level 2 (K=4)"), "the plot has no band row for level 2");
    free(svg);
}

/* --columns segments only the named columns, in the given order; each window's channel is still
 * its column's index in the file, and its boundaries are those of the same window in an export of
 * every column. */
Test(cli, segment_columns) {
    ensure_trained();
    enum { COLS = 3 };
    write_scaled_csv(at("cols.csv"), CSV_ROWS, COLS, NULL, NULL);   /* columns ch0, ch1, ch2 */
    command_result r = run("segment", "--checkpoint", "run/checkpoint.h5", "--data", "cols.csv", "--split", "all", "--out",
                   "cols_all.h5", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    r = run("segment", "--checkpoint", "run/checkpoint.h5", "--data", "cols.csv", "--columns", "ch2,ch0", "--split",
            "all", "--out", "cols_20.h5", "--plot", "cols_20.svg", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);

    rp_segexport all, some;
    rp_error err;
    cr_assert_eq(segexport_read(at("cols_all.h5"), &all, &err), 0, "%s", err.msg);
    cr_assert_eq(segexport_read(at("cols_20.h5"), &some, &err), 0, "%s", err.msg);
    const int per = CSV_ROWS / LOOKBACK, want[2] = {2, 0};
    cr_assert_eq(all.n_windows, COLS * per);
    cr_assert_eq(some.n_windows, 2 * per);
    cr_assert_eq(some.n_levels, all.n_levels);
    cr_expect_not_null(strstr(some.recipe_text, "ch2"), "the exported recipe does not name the columns: %s",
                       some.recipe_text);
    for (int w = 0; w < some.n_windows; w++) {
        int c = want[w / per], v = c * per + w % per;   /* the same window in the all-columns export */
        cr_expect_eq(some.channel[w], c, "window %d: channel %d, expected %d", w, some.channel[w], c);
        cr_expect_eq(some.start_row[w], all.start_row[v]);
        cr_expect_eq(all.channel[v], c);
        for (int l = 0; l < some.n_levels; l++) {
            int K = some.levels[l].K;
            cr_expect(memcmp(some.levels[l].starts + (size_t)w * K, all.levels[l].starts + (size_t)v * K,
                             (size_t)K * sizeof(int32_t)) == 0, "window %d level %d: other boundaries", w, l);
            cr_expect(memcmp(some.levels[l].lengths + (size_t)w * K, all.levels[l].lengths + (size_t)v * K,
                             (size_t)K * sizeof(int32_t)) == 0, "window %d level %d: other lengths", w, l);
        }
    }
    segexport_free(&all);
    segexport_free(&some);
    /* The plot draws the selected series (by name), not the column at the source index. */
    char *svg = slurp(at("cols_20.svg"));
    cr_expect_not_null(strstr(svg, "'ch2'"), "the plot names no window of ch2");
    cr_expect_null(strstr(svg, "'ch1'"), "the plot draws ch1, which was not selected");
    free(svg);

    /* Without --data: the recipe's own series (generated, columns c0, c1). */
    r = run("segment", "--checkpoint", "run/checkpoint.h5", "--columns", "c1", "--out", "cols_c1.h5", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    cr_assert_eq(segexport_read(at("cols_c1.h5"), &some, &err), 0, "%s", err.msg);
    cr_expect_gt(some.n_windows, 0);
    for (int w = 0; w < some.n_windows; w++) cr_expect_eq(some.channel[w], 1, "window %d", w);
    segexport_free(&some);
}

Test(cli, segment_columns_errors) {
    ensure_trained();
    write_scaled_csv(at("cols_bad.csv"), CSV_ROWS, 3, NULL, NULL);
    /* A name the file lacks: a data error naming it and the columns there are. */
    command_result r = run("segment", "--checkpoint", "run/checkpoint.h5", "--data", "cols_bad.csv", "--columns", "ch0,nope",
                   "--split", "all", "--out", "cb.h5", NULL);
    expect_failure(&r, "segment", "unknown column 'nope'");
    cr_expect_not_null(strstr(r.err, "'ch2'"), "the error lists no available column: %s", r.err);
    cr_expect_not_null(strstr(r.err, "--columns"), "%s", r.err);
    command_result_free(&r);
    cr_expect_eq(file_size(at("cb.h5")), -1, "a failed segment left cb.h5 behind");

    /* Usage errors (status 2): a name twice, an empty list or name, a .tsf collection. */
    const char *lists[] = {"ch0,ch0", "", "ch0,,ch1", "ch0,"};
    const char *needles[] = {"'ch0' is listed twice", "at least one column", "empty column name", "empty column name"};
    for (int i = 0; i < 4; i++) {
        r = run("segment", "--checkpoint", "run/checkpoint.h5", "--data", "cols_bad.csv", "--columns", lists[i],
                "--out", "cb.h5", NULL);
        expect_failure(&r, "segment", needles[i]);
        cr_expect_eq(r.status, 2, "--columns '%s': status %d", lists[i], r.status);
        command_result_free(&r);
    }
    const char *root = getenv("REINPATCH_SOURCE_ROOT");
    char tsf[700];
    snprintf(tsf, sizeof tsf, "%s/tests/data/tsf/small.tsf", root ? root : ".");
    r = run("segment", "--checkpoint", "run/checkpoint.h5", "--data", tsf, "--columns", "T1", "--out", "cb.h5", NULL);
    expect_failure(&r, "segment", "a .tsf collection has no named columns");
    cr_expect_eq(r.status, 2, "status %d", r.status);
    command_result_free(&r);
}

Test(cli, export_refuses_to_overwrite_the_checkpoint) {
    ensure_trained();
    long before = file_size(at("run/checkpoint.h5"));
    command_result r = run("export-patcher", "run/checkpoint.h5", "run/../run/checkpoint.h5", NULL);
    expect_failure(&r, "export-patcher", "checkpoint itself");
    command_result_free(&r);
    cr_expect_eq(file_size(at("run/checkpoint.h5")), before);
    r = run("eval", "run/checkpoint.h5", NULL);
    cr_expect_eq(r.status, 0, "checkpoint damaged: %s", r.err);
    command_result_free(&r);
}

/* history.csv of a run stopped after epoch 1 and resumed equals the uninterrupted run's, row for
 * row (every column but the timings), and holds one row per epoch of metrics.json. */
Test(cli, history_survives_resume) {
    ensure_trained();
    command_result r = run("train", "tiny.yaml", "--quiet", "--set", "train.epochs=3", "--out", "hist_whole", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    r = run("train", "tiny.yaml", "--quiet", "--set", "train.epochs=3", "--out", "hist_cut", "--stop-after", "1",
            NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    rp_history whole, cut;
    rp_error err;
    cr_assert_eq(history_read(at("hist_cut/history.csv"), &cut, &err), 0, "%s", err.msg);
    cr_expect_eq(cut.n_rows, 1, "after --stop-after 1");
    history_free(&cut);
    r = run("train", "--resume", "hist_cut", "--quiet", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    cr_assert_eq(history_read(at("hist_whole/history.csv"), &whole, &err), 0, "%s", err.msg);
    cr_assert_eq(history_read(at("hist_cut/history.csv"), &cut, &err), 0, "%s", err.msg);
    cr_assert_eq(whole.n_rows, 3);
    cr_assert_eq(cut.n_rows, 3);
    cr_expect_eq(cut.n_levels, 1);
    char *metrics = slurp(at("hist_cut/metrics.json"));
    cr_expect_eq(json_number(metrics, "epochs"), 3, "%s", metrics);
    free(metrics);
    /* the report's scores of the test windows: those of the same best weights */
    rp_test_windows sw, sc;
    cr_assert_eq(test_windows_read(at("hist_whole/test_windows.h5"), &sw, &err), 0, "%s", err.msg);
    cr_assert_eq(test_windows_read(at("hist_cut/test_windows.h5"), &sc, &err), 0, "%s", err.msg);
    cr_expect_eq(sc.step, sw.step);
    cr_assert_eq(sc.n_windows, sw.n_windows);
    cr_expect_eq(memcmp(sc.mse, sw.mse, (size_t)sw.n_windows * sizeof(double)), 0, "per-window test MSE");
    cr_expect_eq(memcmp(sc.length_count[0], sw.length_count[0], ((size_t)sw.lookback + 1) * sizeof(int64_t)), 0);
    test_windows_free(&sw);
    test_windows_free(&sc);
    for (int e = 0; e < 3; e++) {
        rp_history_row a = whole.rows[e], b = cut.rows[e];
        cr_expect_gt(b.seconds, 0);
        a.seconds = b.seconds = a.windows_per_second = b.windows_per_second = 0;
        cr_expect_eq(memcmp(&a, &b, sizeof a), 0, "epoch %d: train %.9g/%.9g val %.9g/%.9g entropy %.9g/%.9g", e + 1,
                     a.train_loss, b.train_loss, a.val_mse, b.val_mse, a.entropy[0], b.entropy[0]);
        cr_expect_eq(b.epoch, e + 1);
        cr_expect(isfinite(b.val_mse) && b.val_mse > 0);
    }
    history_free(&whole);
    history_free(&cut);
}

/* ---- report ---- */

/* The text of a number in metrics.json at a dotted key ("test.mse", "epochs"), as written; ""
 * when absent. */
static void json_text(const char *json, const char *key, char *out, size_t size) {
    out[0] = '\0';
    const char *p = json, *dot = strchr(key, '.');
    char pat[64];
    if (dot) {
        snprintf(pat, sizeof pat, "\"%.*s\": {", (int)(dot - key), key);
        p = strstr(p, pat);
        if (!p) return;
        key = dot + 1;
    }
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    p = strstr(p, pat);
    if (!p) return;
    p += strlen(pat);
    size_t n = strcspn(p, ",}\n");
    if (n >= size) n = size - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static int count_of(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Every <td data-key="K">V</td> from `from` up to `until` (NULL: the end) has V equal to
 * metrics.json's text at K; returns how many were compared. */
static int check_table_numbers(const char *html, const char *from, const char *until, const char *metrics) {
    const char *p = strstr(html, from), *end = until ? strstr(p ? p : html, until) : NULL;
    cr_assert_not_null(p, "no '%s' in the report", from);
    int compared = 0;
    while ((p = strstr(p, "<td data-key=\"")) && (!end || p < end)) {
        p += strlen("<td data-key=\"");
        char key[64], cell[64], want[64];
        size_t n = strcspn(p, "\"");
        snprintf(key, sizeof key, "%.*s", (int)n, p);
        p = strchr(p, '>') + 1;
        n = strcspn(p, "<");
        snprintf(cell, sizeof cell, "%.*s", (int)n, p);
        if (!strncmp(key, "test.cuts_off_uniform.", 22)) {
            /* the l-th entry of the list */
            const char *list = strstr(metrics, "\"cuts_off_uniform\": [");
            cr_assert_not_null(list);
            list += strlen("\"cuts_off_uniform\": [");
            for (int l = atoi(key + 22); l > 0; l--) list = strchr(list, ',') + 2;
            n = strcspn(list, ",]");
            snprintf(want, sizeof want, "%.*s", (int)n, list);
        } else {
            json_text(metrics, key, want, sizeof want);
        }
        cr_expect_str_eq(cell, want, "table cell %s: '%s', metrics.json: '%s'", key, cell, want);
        compared++;
    }
    return compared;
}

/* Structure every page must have: one document, no script and nothing fetched, balanced
 * elements, every chart with one plot area and something drawn in it. */
static void check_page_structure(const char *html, int charts) {
    cr_expect(strncmp(html, "<!DOCTYPE html>\n<html", 21) == 0, "%.60s", html);
    cr_expect_null(strstr(html, "<script"), "a script in the report");
    cr_expect_null(strstr(html, " src="), "a fetched resource in the report");
    cr_expect_null(strstr(html, "href=\"http"), "a link out of the report");
    cr_expect_eq(count_of(html, "http://") + count_of(html, "https://"), count_of(html, "xmlns=\"http://www.w3.org/2000/svg\""),
                 "an address other than the SVG namespace");
    static const char *elements[] = {"section", "svg", "figure", "table", "tr", "pre", "h2", "h3"};
    for (size_t i = 0; i < sizeof elements / sizeof elements[0]; i++) {
        char open_a[32], open_b[32], close[32];
        snprintf(open_a, sizeof open_a, "<%s>", elements[i]);
        snprintf(open_b, sizeof open_b, "<%s ", elements[i]);
        snprintf(close, sizeof close, "</%s>", elements[i]);
        cr_expect_eq(count_of(html, open_a) + count_of(html, open_b), count_of(html, close), "<%s> unbalanced", elements[i]);
    }
    cr_expect_eq(count_of(html, "<svg class=\"chart\""), charts, "charts");
    for (const char *p = strstr(html, "<svg class=\"chart\""); p; p = strstr(p + 1, "<svg class=\"chart\"")) {
        const char *end = strstr(p, "</svg>");
        cr_assert_not_null(end);
        char *one = strndup(p, (size_t)(end - p));
        const char *label = strstr(one, "aria-label=\"");
        cr_expect_eq(count_of(one, "class=\"plot-area\""), 1, "chart %.80s: plot areas", label);
        cr_expect_geq(count_of(one, "class=\"data\""), 1, "chart %.80s draws nothing", label);
        cr_expect_null(strstr(one, "nan"), "chart %.80s has a NaN coordinate", label);
        free(one);
    }
}

Test(cli, report_one_run) {
    ensure_trained();
    command_result r = run("report", "run", "--out", "one.html", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "wrote one.html\n");
    cr_expect_str_empty(r.err);
    command_result_free(&r);
    char *html = slurp(at("one.html")), *metrics = slurp(at("run/metrics.json"));
    /* loss, learning rate; the learned level's entropy, cuts, patch length; three forecasts; one
     * histogram */
    check_page_structure(html, 9);
    cr_expect_eq(check_table_numbers(html, "<table class=\"metrics\">", "</table>", metrics), 13);
    char best[16], label[64];
    json_text(metrics, "best_epoch", best, sizeof best);
    snprintf(label, sizeof label, ">best epoch %s</text>", best);
    cr_expect_not_null(strstr(html, label), "no '%s' marker", label);
    cr_expect_not_null(strstr(html, "(docs/recipes.md)\nname: &quot;tiny&quot;\n"), "the resolved recipe");
    for (int s = 0; s < 3; s++) {
        static const char *ids[] = {"forecast-0-best", "forecast-0-median", "forecast-0-worst"};
        cr_expect_not_null(strstr(html, ids[s]), "%s", ids[s]);
    }
    cr_expect_null(strstr(html, "class=\"missing\""));
    free(html);
    free(metrics);
}

Test(cli, report_compares_runs) {
    ensure_trained();
    command_result r = run("train", "tiny.yaml", "--quiet", "--set", "levels[0].patching=fixed", "--out", "fixed_run",
                           NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    r = run("report", "fixed_run", "run", "--out=two.html", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    char *html = slurp(at("two.html"));
    /* comparison: 1; fixed run: loss, lr, 3 forecasts, 1 histogram; learned run: 9 */
    check_page_structure(html, 1 + 6 + 9);
    const char *cmp = strstr(html, "<table class=\"compare\">");
    cr_assert_not_null(cmp);
    const char *row2 = strstr(strstr(cmp, "<td><a href=\"#run-0\">"), "<td><a href=\"#run-1\">");
    cr_assert_not_null(row2, "two rows");
    char *fixed = slurp(at("fixed_run/metrics.json")), *learned = slurp(at("run/metrics.json"));
    cr_expect_eq(check_table_numbers(html, "<td><a href=\"#run-0\">", "<td><a href=\"#run-1\">", fixed), 9);
    cr_expect_eq(check_table_numbers(html, "<td><a href=\"#run-1\">", "</table>", learned), 9);
    const char *overlay = strstr(html, "id=\"compare-val\"");
    cr_assert_not_null(overlay);
    char *overlay_svg = strndup(overlay, (size_t)(strstr(overlay, "</svg>") - overlay));
    cr_expect_eq(count_of(overlay_svg, "<polyline class=\"data\""), 2);
    free(overlay_svg);
    free(fixed);
    free(learned);
    free(html);
}

Test(cli, report_bad_inputs) {
    ensure_trained();
    command_result r = run("report", "no_such_dir", NULL);
    expect_failure(&r, "report", "no_such_dir: no such directory");
    command_result_free(&r);
    r = run("report", "tiny.yaml", NULL);
    expect_failure(&r, "report", "tiny.yaml: not a directory");
    command_result_free(&r);
    mkdir(at("empty_dir"), 0755);
    r = run("report", "empty_dir", "--out", "never.html", NULL);
    expect_failure(&r, "report", "empty_dir: not a run directory");
    command_result_free(&r);
    cr_expect_eq(file_size(at("never.html")), -1, "a report for a non-run");
    r = run("report", NULL);
    cr_expect_eq(r.status, 2);
    command_result_free(&r);
    r = run("report", "run", "--bogus", NULL);
    cr_expect_eq(r.status, 2);
    command_result_free(&r);

    /* A run from before history.csv: the page is written without the curves, one line says what
     * is missing, exit 1. */
    mkdir(at("old_run"), 0755);
    cr_assert_eq(link(at("run/metrics.json"), at("old_run/metrics.json")), 0);
    cr_assert_eq(link(at("run/checkpoint.h5"), at("old_run/checkpoint.h5")), 0);
    r = run("report", "old_run", "--out", "old.html", NULL);
    expect_failure(&r, "report", "old_run: no history.csv");
    cr_expect_not_null(strstr(r.err, "wrote old.html"), "%s", r.err);
    command_result_free(&r);
    char *html = slurp(at("old.html"));
    check_page_structure(html, 4); /* three forecasts and the histogram */
    cr_expect_not_null(strstr(html, "class=\"missing\""));
    free(html);

    /* Unreadable files: nothing written. */
    mkdir(at("bad_metrics"), 0755);
    write_file(at("bad_metrics/metrics.json"), "{\"test\": {\"mse\": 0.5,\n");
    r = run("report", "bad_metrics", "--out", "never.html", NULL);
    expect_failure(&r, "report", "bad_metrics/metrics.json:");
    command_result_free(&r);
    mkdir(at("bad_history"), 0755);
    cr_assert_eq(link(at("run/metrics.json"), at("bad_history/metrics.json")), 0);
    write_file(at("bad_history/history.csv"), "epoch,step,lr\n1,2,x\n");
    r = run("report", "bad_history", "--out", "never.html", NULL);
    expect_failure(&r, "report", "bad_history/history.csv:1: no column 'policy_lr'");
    command_result_free(&r);
    cr_expect_eq(file_size(at("never.html")), -1, "a report from unreadable files");
}

/* ---- report: the scores train leaves in test_windows.h5 ---- */

/* A run directory `name` holding links to the shared run's files (test_windows.h5 too when
 * with_scores). */
static void link_run(const char *name, int with_scores) {
    char from[64], to[64];
    mkdir(at(name), 0755);
    const char *files[] = {"metrics.json", "history.csv", "checkpoint.h5", "test_windows.h5"};
    for (int i = 0; i < 3 + with_scores; i++) {
        snprintf(from, sizeof from, "run/%s", files[i]);
        snprintf(to, sizeof to, "%s/%s", name, files[i]);
        char target[1100];
        snprintf(target, sizeof target, "%s", at(to));
        cr_assert_eq(link(at(from), target), 0, "link %s", to);
    }
}

/* The page `report DIR` writes (exit 0), and its stderr in *warning (the caller frees both). */
static char *report_page(const char *dir, char **warning) {
    command_result r = run("report", dir, "--out", "scores.html", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    *warning = strdup(r.err);
    command_result_free(&r);
    return slurp(at("scores.html"));
}

/* The run's scores with one change made by `edit`, written over DIR/test_windows.h5. */
static void edit_scores(const char *dir, void (*edit)(rp_test_windows *)) {
    char path[64];
    snprintf(path, sizeof path, "%s/test_windows.h5", dir);
    rp_test_windows s;
    rp_error err = {{0}};
    cr_assert_eq(test_windows_read(at("run/test_windows.h5"), &s, &err), 0, "%s", err.msg);
    edit(&s);
    char target[1100];
    snprintf(target, sizeof target, "%s", at(path));
    unlink(target);
    cr_assert_eq(test_windows_write(target, &s, &err), 0, "%s", err.msg);
    test_windows_free(&s);
}

static void later_step(rp_test_windows *s) { s->step++; }
/* Every window twice (the counts doubled, so the file is consistent in itself): scores of
 * another split. */
static void twice_the_windows(rp_test_windows *s) {
    rp_test_windows d;
    rp_error err = {{0}};
    int W = s->n_windows;
    cr_assert_eq(test_windows_alloc(&d, 2 * W, s->n_levels, s->lookback, s->horizon, &err), 0, "%s", err.msg);
    d.step = s->step;
    memcpy(d.K, s->K, sizeof d.K);
    for (int w = 0; w < 2 * W; w++) {
        d.mse[w] = s->mse[w % W];
        d.channel[w] = s->channel[w % W];
        d.start_row[w] = s->start_row[w % W];
    }
    for (int l = 0; l < s->n_levels; l++)
        for (int n = 0; n <= s->lookback; n++) d.length_count[l][n] = 2 * s->length_count[l][n];
    test_windows_free(s);
    *s = d;
}
/* A window made the best by an MSE its forecast does not have: the scores of other weights. */
static void other_weights(rp_test_windows *s) { s->mse[s->n_windows / 3] = 0; }
/* One patch a step shorter and one a step longer: the counts stay consistent, the page changes. */
static void moved_lengths(rp_test_windows *s) {
    int64_t *c = s->length_count[0];
    int lo = 1, hi = s->lookback;
    while (lo <= s->lookback && !c[lo]) lo++;
    while (hi >= 1 && !c[hi]) hi--;
    cr_assert(lo > 1 && hi < s->lookback, "lengths %d..%d", lo, hi);
    c[lo]--, c[lo - 1]++, c[hi]--, c[hi + 1]++;
}

/* The page made from test_windows.h5 is the page made by scoring every test window (the same
 * best, median and worst windows and histogram numbers), and it comes from the file. */
Test(cli, report_from_scores_file_equals_full_evaluation) {
    ensure_trained();
    cr_assert_gt(file_size(at("run/test_windows.h5")), 0, "train wrote no test_windows.h5");
    link_run("scores_run", 1);
    char *warning, *fast = report_page("scores_run", &warning);
    cr_expect_str_empty(warning);
    free(warning);
    unlink(at("scores_run/test_windows.h5"));
    char *full = report_page("scores_run", &warning);
    cr_expect_str_empty(warning, "a run without the file says nothing about it");
    free(warning);
    cr_expect_str_eq(fast, full, "the page from test_windows.h5 differs from the full evaluation's");
    cr_expect_not_null(strstr(full, "best test window (MSE "));
    edit_scores("scores_run", moved_lengths);
    char *edited = report_page("scores_run", &warning);
    cr_expect_str_empty(warning);
    free(warning);
    cr_expect_str_neq(edited, full, "the report did not read the histograms from test_windows.h5");
    free(edited);
    free(fast);
    free(full);
}

/* A damaged or mismatched test_windows.h5: one warning line naming the file and what is wrong,
 * then the full evaluation's page, exit 0. */
Test(cli, report_bad_scores_file_falls_back) {
    ensure_trained();
    link_run("bad_scores", 0);
    char *warning, *full = report_page("bad_scores", &warning);
    free(warning);
    struct {
        void (*edit)(rp_test_windows *);
        const char *text, *what;
    } cases[] = {
        {NULL, "not HDF5\n", "bad_scores/test_windows.h5: not an HDF5 file"},
        {later_step, NULL, "test_windows.h5: scores the weights of step"},
        {twice_the_windows, NULL, "windows of lookback 32, horizon 8, 1 levels; the checkpoint's test split has"},
        {other_weights, NULL, "when scored again (the scores of other weights)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].edit) edit_scores("bad_scores", cases[i].edit);
        else write_file(at("bad_scores/test_windows.h5"), cases[i].text);
        char *page = report_page("bad_scores", &warning);
        cr_expect(strncmp(warning, "reinpatch report: warning: ", 27) == 0, "case %zu: %s", i, warning);
        cr_expect_not_null(strstr(warning, cases[i].what), "case %zu: '%s' not in: %s", i, cases[i].what, warning);
        cr_expect_not_null(strstr(warning, "; scoring every test window instead\n"), "%s", warning);
        cr_expect_eq(count_of(warning, "\n"), 1, "one line: %s", warning);
        cr_expect_str_eq(page, full, "case %zu: the fallback page differs", i);
        free(warning);
        free(page);
    }
    free(full);
}

Test(cli, bad_inputs) {
    ensure_trained();
    write_file(at("not.h5"), "this is not HDF5\n");
    command_result r = run("eval", "not.h5", NULL);
    expect_failure(&r, "eval", "not.h5: not an HDF5 file");
    command_result_free(&r);

    /* A checkpoint cut short. */
    char *ck = NULL;
    {
        FILE *f = fopen(at("run/checkpoint.h5"), "rb");
        cr_assert_not_null(f);
        ck = malloc(4096);
        size_t got = fread(ck, 1, 4096, f);
        fclose(f);
        FILE *g = fopen(at("cut.h5"), "wb");
        fwrite(ck, 1, got, g);
        fclose(g);
        free(ck);
    }
    r = run("eval", "cut.h5", NULL);
    expect_failure(&r, "eval", "cut.h5: truncated");
    command_result_free(&r);
    r = run("inspect", "cut.h5", NULL);
    expect_failure(&r, "inspect", "cut.h5");
    command_result_free(&r);
    r = run("predict", "cut.h5", "--data", "scaled.csv", "--out", "x.csv", NULL);
    expect_failure(&r, "predict", "cut.h5");
    command_result_free(&r);
    r = run("eval", "missing.h5", NULL);
    expect_failure(&r, "eval", "missing.h5");
    command_result_free(&r);

    /* predict: too few rows, wrong column count, no --out */
    write_scaled_csv(at("short.csv"), LOOKBACK - 1, CHANNELS, NULL, NULL);
    r = run("predict", "run/checkpoint.h5", "--data", "short.csv", "--out", "x.csv", NULL);
    expect_failure(&r, "predict", "short.csv: 31 rows");
    command_result_free(&r);
    write_scaled_csv(at("wide.csv"), CSV_ROWS, CHANNELS + 1, NULL, NULL);
    r = run("predict", "run/checkpoint.h5", "--data", "wide.csv", "--out", "x.csv", NULL);
    expect_failure(&r, "predict", "wide.csv: 3 value columns");
    command_result_free(&r);
    cr_expect_eq(file_size(at("x.csv")), -1, "a failed predict left x.csv behind");
    r = run("predict", "run/checkpoint.h5", "--data", "scaled.csv", NULL);
    expect_failure(&r, "predict", "--out");
    command_result_free(&r);

    /* eval on data with another channel count; a patcher given as a checkpoint */
    r = run("eval", "run/checkpoint.h5", "--data", "wide.csv", NULL);
    expect_failure(&r, "eval", "wide.csv");
    command_result_free(&r);
    r = run("export-patcher", "run/checkpoint.h5", "p2.h5", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    r = run("eval", "p2.h5", NULL);
    expect_failure(&r, "eval", "not a checkpoint");
    command_result_free(&r);
    r = run("segment", "--patcher", "run/checkpoint.h5", "--out", "s.h5", NULL);
    expect_failure(&r, "segment", "not a patcher");
    command_result_free(&r);

    /* usage errors */
    r = run("eval", "run/checkpoint.h5", "--split", "tset", NULL);
    expect_failure(&r, "eval", "tset");
    command_result_free(&r);
    const char *cmds[] = {"eval", "predict", "segment", "export-patcher", "inspect"};
    for (int i = 0; i < 5; i++) {
        r = run(cmds[i], "run/checkpoint.h5", "--frobnicate", NULL);
        expect_failure(&r, cmds[i], "--frobnicate");
        cr_expect_eq(r.status, 2, "%s: status %d", cmds[i], r.status);
        command_result_free(&r);
    }
    r = run("segment", "--patcher", "p2.h5", "--checkpoint", "run/checkpoint.h5", "--out", "s.h5", NULL);
    expect_failure(&r, "segment", "exactly one");
    command_result_free(&r);
    r = run("segment", "--patcher", "p2.h5", "--out", "s.h5", "--split", "everything", NULL);
    expect_failure(&r, "segment", "everything");
    command_result_free(&r);
    r = run("eval", "run/checkpoint.h5", "--data", NULL);
    expect_failure(&r, "eval", "--data needs a value");
    command_result_free(&r);
}

/* The string value after "key": in a JSON line, into out; "" when absent. */
static void json_string(const char *json, const char *key, char *out, size_t size) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *p = strstr(json, pat);
    out[0] = '\0';
    if (!p) return;
    p += strlen(pat);
    size_t n = strcspn(p, "\"");
    if (n >= size) n = size - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* eval --cuts on a fixed-patching checkpoint: uniform is plain eval; jitter and random move cuts
 * off the grid (cuts_off_uniform > 0), score finite MSEs and repeat exactly; bad values are usage
 * errors (exit 2) that name the value. */
Test(cli, eval_cuts) {
    ensure_trained();
    train_recipe("fixed.yaml",
               "name: fixed\n"
               "data: {path: generated, lookback: 32, horizon: 8, generated: {rows: 600, channels: 2}}\n"
               "levels:\n"
               "  - {patching: fixed, rate: 4, patch_len: 8}\n"
               "backbone: {d_model: 8, n_heads: 2, n_layers: 1, d_ff: 16}\n"
               "train: {epochs: 1, batch_size: 32, max_steps_per_epoch: 3, threads: 1}\n"
               "output: {dir: run_fixed}\n");
    command_result r, plain = run("eval", "run_fixed/checkpoint.h5", NULL);
    cr_assert_eq(plain.status, 0, "%s", plain.err);
    char name[32];
    json_string(plain.out, "cuts", name, sizeof name);
    cr_expect_str_eq(name, "greedy", "%s", plain.out);
    double mse0 = json_number(plain.out, "mse");
    const char *modes[] = {"uniform", "jitter:1", "jitter:3", "random"};
    for (int i = 0; i < 4; i++) {
        r = run("eval", "run_fixed/checkpoint.h5", "--cuts", modes[i], NULL);
        cr_assert_eq(r.status, 0, "%s: %s", modes[i], r.err);
        json_string(r.out, "cuts", name, sizeof name);
        cr_expect_str_eq(name, modes[i], "%s", r.out);
        double mse = json_number(r.out, "mse");
        cr_expect(isfinite(mse) && mse > 0, "%s: mse %g", modes[i], mse);
        const char *bracket = strstr(r.out, "\"cuts_off_uniform\": [");
        cr_assert_not_null(bracket);
        double off = strtod(bracket + strlen("\"cuts_off_uniform\": ["), NULL);
        if (i == 0) {
            /* Everything from "mse" on: the same numbers and cuts_off_uniform. */
            cr_expect_str_eq(strstr(r.out, "\"mse\""), strstr(plain.out, "\"mse\""), "uniform %s vs plain %s",
                             r.out, plain.out);
            cr_expect_eq(mse, mse0);
            cr_expect_eq(off, 0.0, "%s", r.out);
        } else {
            cr_expect_gt(off, 0.0, "%s moves no cut: %s", modes[i], r.out);
            cr_expect_neq(mse, mse0, "%s scores as uniform: %s", modes[i], r.out);
            command_result again = run("eval", "run_fixed/checkpoint.h5", "--cuts", modes[i], NULL);
            cr_expect_str_eq(again.out, r.out, "%s does not repeat", modes[i]);
            command_result_free(&again);
        }
        command_result_free(&r);
    }
    /* --drop-last: PatchTST's test scoring; a batch of one sample is plain eval, a larger one keeps
     * a multiple of it per channel (2 channels); bad sizes are usage errors naming the value, a
     * batch larger than the split a file error. */
    r = run("eval", "run_fixed/checkpoint.h5", "--drop-last", "1", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(json_number(r.out, "mse"), mse0, "%s", r.out);
    cr_expect_eq(json_number(r.out, "drop_last"), 1.0, "%s", r.out);
    cr_expect_eq(json_number(r.out, "windows"), json_number(plain.out, "windows"), "%s", r.out);
    command_result_free(&r);
    r = run("eval", "run_fixed/checkpoint.h5", "--drop-last", "16", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    double kept = json_number(r.out, "windows"), all = json_number(plain.out, "windows");
    cr_expect(kept <= all && kept > all - 2 * 16 && fmod(kept, 32) == 0, "%g of %g windows kept", kept, all);
    command_result_free(&r);
    const char *bad_batch[] = {"0", "-3", "x", "12k", ""};
    for (int i = 0; i < 5; i++) {
        r = run("eval", "run_fixed/checkpoint.h5", "--drop-last", bad_batch[i], NULL);
        expect_failure(&r, "eval", bad_batch[i]);
        cr_expect_eq(r.status, 2, "--drop-last '%s': status %d", bad_batch[i], r.status);
        command_result_free(&r);
    }
    r = run("eval", "run_fixed/checkpoint.h5", "--drop-last", "100000", NULL);
    expect_failure(&r, "eval", "fewer than one batch");
    cr_expect_eq(r.status, 1);
    command_result_free(&r);
    command_result_free(&plain);

    const char *bad[] = {"jitter:0", "jitter:x", "jitter:", "jitter:-2", "jitter:32", "wobbly"};
    for (int i = 0; i < 6; i++) {
        r = run("eval", "run_fixed/checkpoint.h5", "--cuts", bad[i], NULL);
        expect_failure(&r, "eval", bad[i]);
        cr_expect_eq(r.status, 2, "--cuts %s: status %d", bad[i], r.status);
        command_result_free(&r);
    }
}
