/* What the command line does when things go wrong around a run rather than in its inputs: a run
 * that diverges, a disk that fills up (RLIMIT_FSIZE), a second process writing into the same run
 * directory, and binary bytes that would otherwise reach an error line raw. Each runs the real
 * binary on a tiny recipe of generated data in its own directory. */
#define _XOPEN_SOURCE 700

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/run_command.h"
#include "tests/tempdir.h"
#include "tests/tiny_recipe.h"

static char dir[256];

static void make_dir(void) { tempdir_make(dir, sizeof dir, "robust"); }
static void remove_dir(void) { tempdir_remove(dir); }

TestSuite(robust, .init = make_dir, .fini = remove_dir);

static const char *at(const char *name) { return tempdir_file(dir, name); }

static void write_file(const char *name, const char *text, size_t n) {
    FILE *f = fopen(at(name), "wb");
    cr_assert_not_null(f);
    fwrite(text, 1, n, f);
    fclose(f);
}

static const char RECIPE[] = TINY_RECIPE("tiny", 400, "patching: fixed, rate: 4, patch_len: 8") TINY_TRAIN(4);

static void write_recipe(void) { write_file("tiny.yaml", RECIPE, sizeof RECIPE - 1); }

/* expect_failure (tests/run_command.h) with the documented exit status 1. */
static void expect_one_line(command_result *r, const char *cmd, const char *needle) {
    expect_failure(r, cmd, needle);
    cr_expect_eq(r->status, 1, "exit status %d", r->status);
}

static int file_exists(const char *name) { return access(at(name), F_OK) == 0; }

/* Entries of the run directory whose name contains ".tmp" (left-over temporary files). */
static int count_tmp(const char *run) {
    DIR *d = opendir(at(run));
    cr_assert_not_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) n += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

/* Writes the recipe and trains its first epoch into run/ (a good checkpoint, stat'ed into st). */
static void first_epoch(struct stat *st) {
    write_recipe();
    command_result r = run_reinpatch(dir, "train", "tiny.yaml", "--out", "run", "--stop-after", "1", "--quiet", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    command_result_free(&r);
    cr_assert_eq(stat(at("run/checkpoint.h5"), st), 0);
}

/* A run whose loss turns non-finite stops with the documented line and exit 1, writes no
 * metrics.json and leaves the last good checkpoint as it was, which then resumes to the end. */
Test(robust, divergence_stops_and_the_checkpoint_resumes) {
    struct stat st0, st1;
    first_epoch(&st0);
    command_result r;

    r = run_reinpatch(dir, "train", "--resume", "run", "--set", "train.lr=1e30", "--quiet", NULL);
    expect_one_line(&r, "train", "reinpatch train: epoch 2 step ");
    cr_expect_not_null(strstr(r.err, "is not finite (lr 1e+30 too high?)"), "%s", r.err);
    command_result_free(&r);
    cr_expect_not(file_exists("run/metrics.json"), "a diverged run wrote metrics.json");
    cr_assert_eq(stat(at("run/checkpoint.h5"), &st1), 0);
    cr_expect(st0.st_ino == st1.st_ino && st0.st_mtime == st1.st_mtime && st0.st_size == st1.st_size,
              "the last good checkpoint was replaced");
    cr_expect_eq(count_tmp("run"), 0);

    r = run_reinpatch(dir, "train", "--resume", "run", "--quiet", NULL);
    cr_assert_eq(r.status, 0, "the good checkpoint does not resume: %s", r.err);
    cr_expect_null(strstr(r.out, "nan"), "%s", r.out);
    command_result_free(&r);
    char *metrics = slurp(at("run/metrics.json"));
    cr_expect_not_null(strstr(metrics, "\"epochs\": 2"), "%s", metrics);
    free(metrics);

    /* From the first step: no checkpoint to keep, no metrics.json. */
    r = run_reinpatch(dir, "train", "tiny.yaml", "--out", "fresh", "--set", "train.lr=1e30", "--quiet", NULL);
    expect_one_line(&r, "train", "epoch 1 step ");
    command_result_free(&r);
    cr_expect_not(file_exists("fresh/metrics.json"));
}

/* A full disk while writing the checkpoint: one line naming the file, no temporary file left,
 * and the previous checkpoint unchanged. */
Test(robust, full_disk_keeps_the_previous_checkpoint) {
    struct stat st0, st1;
    first_epoch(&st0);
    command_result r;

    run_fsize_limit = 8192; /* well below a checkpoint, above the captured output */
    r = run_reinpatch(dir, "train", "--resume", "run", "--quiet", NULL);
    expect_one_line(&r, "train", "checkpoint.h5");
    command_result_free(&r);
    cr_assert_eq(stat(at("run/checkpoint.h5"), &st1), 0);
    cr_expect(st0.st_ino == st1.st_ino && st0.st_size == st1.st_size, "the checkpoint was replaced");
    cr_expect_eq(count_tmp("run"), 0, "a temporary file was left behind");

    /* A fresh run into a new directory: nothing torn left there either. */
    r = run_reinpatch(dir, "train", "tiny.yaml", "--out", "full", "--quiet", NULL);
    expect_one_line(&r, "train", "full/checkpoint.h5");
    command_result_free(&r);
    run_fsize_limit = 0;
    cr_expect_not(file_exists("full/checkpoint.h5"));
    cr_expect_not(file_exists("full/metrics.json"));
    cr_expect_eq(count_tmp("full"), 0);
}

/* A second process training into a directory that another one holds is refused. */
Test(robust, second_run_into_one_directory_is_refused) {
    write_recipe();
    mkdir(at("busy"), 0755);
    int fd = open(at("busy/.lock"), O_RDWR | O_CREAT, 0644);
    cr_assert_geq(fd, 0);
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    cr_assert_eq(fcntl(fd, F_SETLK, &lk), 0);
    command_result r = run_reinpatch(dir, "train", "tiny.yaml", "--out", "busy", "--quiet", NULL);
    expect_one_line(&r, "train", "another reinpatch process is writing into this directory");
    command_result_free(&r);
    cr_expect_not(file_exists("busy/checkpoint.h5"));
    close(fd);
    r = run_reinpatch(dir, "train", "tiny.yaml", "--out", "busy", "--stop-after", "1", "--quiet", NULL);
    cr_expect_eq(r.status, 0, "refused after the lock was released: %s", r.err);
    command_result_free(&r);
}

/* Every byte of an error line is printable ASCII or part of valid UTF-8 (and it ends in one
 * newline). */
static void expect_printable(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    cr_assert_gt(n, 0);
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] >= 0x80) {
            int len = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : 2;
            cr_assert(p[i] >= 0xc2, "byte %zu (0x%02x) is not UTF-8: %s", i, p[i], s);
            for (int k = 1; k < len; k++) cr_assert_eq(p[i + k] & 0xc0, 0x80, "byte %zu: broken UTF-8", i + k);
            i += len - 1;
            continue;
        }
        cr_assert(p[i] >= 0x20 && p[i] != 0x7f, "byte %zu is 0x%02x in: %s", i, p[i], s);
    }
    cr_assert_eq(p[n - 1], '\n');
}

/* Binary bytes in a CSV cell, a CSV header and a recipe come back escaped as \xNN, and a valid
 * UTF-8 name stays as it is. */
Test(robust, binary_bytes_are_escaped_in_messages) {
    static const char csv[] = "date,t\xc3\xa9mp,b\x1b[2J\n2016-07-01 00:00:00,\xff\x01\x7f,1\n";
    write_file("bin.csv", csv, sizeof csv - 1);
    command_result r = run_reinpatch(dir, "train", "bin.csv", NULL);
    cr_expect_neq(r.status, 0);
    expect_printable(r.err);
    command_result_free(&r);

    char recipe[300];
    int n = snprintf(recipe, sizeof recipe, "name: x\ndata:\n  path: \"%s\"\n  lookback: 32\n", at("bin.csv"));
    write_file("bin.yaml", recipe, (size_t)n);
    r = run_reinpatch(dir, "train", "bin.yaml", "--quiet", NULL);
    expect_one_line(&r, "train", "\\xff\\x01\\x7f");
    expect_printable(r.err);
    command_result_free(&r);

    /* YAML refuses raw control characters, but a double-quoted "\x01" escape makes one. */
    static const char yaml[] = "name: x\ntrain: {optimizer: \"ad\\x01\\x1b[2Jam\"}\n";
    write_file("bad.yaml", yaml, sizeof yaml - 1);
    r = run_reinpatch(dir, "train", "bad.yaml", "--quiet", NULL);
    expect_one_line(&r, "train", "ad\\x01\\x1b[2Jam");
    expect_printable(r.err);
    command_result_free(&r);
}
