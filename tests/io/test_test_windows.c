/* DIR/test_windows.h5 (io/test_windows.h): bit-exact round trip, the documented layout read with
 * the plain HDF5 API, a writer that refuses what a reader would refuse, and damaged files refused
 * with the file and what is wrong. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5util.h"
#include "io/test_windows.h"
#include "tests/tempdir.h"

static char dir[256];

static void make_dir(void) { tempdir_make(dir, sizeof dir, "testwin"); }

static void remove_dir(void) { tempdir_remove(dir); }

TestSuite(test_windows, .init = make_dir, .fini = remove_dir);

static const char *in_dir(const char *name) { return tempdir_file(dir, name); }

enum { W = 5, L = 12, H = 4, K0 = 4, K1 = 2 };

/* Five windows; level 0 cuts each lookback into 3 + 3 + 2 + 4 steps, level 1 into 6 + 6. */
static void make_scores(rp_test_windows *s) {
    rp_error err = {{0}};
    cr_assert_eq(test_windows_alloc(s, W, 2, L, H, &err), 0, "%s", err.msg);
    s->step = 1234;
    s->K[0] = K0;
    s->K[1] = K1;
    for (int w = 0; w < W; w++) {
        s->mse[w] = 0.1 * (w + 1) + 1e-17 * w; /* not short in decimal: the file keeps every bit */
        s->channel[w] = w % 2;
        s->start_row[w] = 100 + w;
    }
    s->length_count[0][3] = 2 * W;
    s->length_count[0][2] = W;
    s->length_count[0][4] = W;
    s->length_count[1][6] = 2 * W;
}

static void write_good(const char *name) {
    rp_test_windows s;
    make_scores(&s);
    rp_error err = {{0}};
    cr_assert_eq(test_windows_write(in_dir(name), &s, &err), 0, "%s", err.msg);
    test_windows_free(&s);
}

Test(test_windows, round_trip_is_bit_exact) {
    rp_test_windows a, b;
    make_scores(&a);
    rp_error err = {{0}};
    cr_assert_eq(test_windows_write(in_dir("t.h5"), &a, &err), 0, "%s", err.msg);
    cr_assert_eq(test_windows_read(in_dir("t.h5"), &b, &err), 0, "%s", err.msg);
    cr_expect_eq(b.step, a.step);
    cr_expect_eq(b.lookback, L);
    cr_expect_eq(b.horizon, H);
    cr_expect_eq(b.n_windows, W);
    cr_expect_eq(b.n_levels, 2);
    cr_expect_eq(b.K[0], K0);
    cr_expect_eq(b.K[1], K1);
    cr_expect_eq(memcmp(a.mse, b.mse, W * sizeof(double)), 0);
    cr_expect_eq(memcmp(a.channel, b.channel, W * sizeof(int32_t)), 0);
    cr_expect_eq(memcmp(a.start_row, b.start_row, W * sizeof(int32_t)), 0);
    for (int l = 0; l < 2; l++)
        cr_expect_eq(memcmp(a.length_count[l], b.length_count[l], (L + 1) * sizeof(int64_t)), 0, "level %d", l);
    test_windows_free(&a);
    test_windows_free(&b);
}

/* The layout of docs/formats.md, as h5py or h5dump see it. */
Test(test_windows, layout_is_the_documented_one) {
    write_good("t.h5");
    hid_t f = H5Fopen(in_dir("t.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    rp_error err = {{0}};
    char *kind = NULL;
    int version = 0, n = 0;
    long long step = 0;
    cr_assert_eq(h5_read_attr_string(f, "reinpatch_kind", &kind, &err), 0, "%s", err.msg);
    cr_expect_str_eq(kind, "test_windows");
    free(kind);
    cr_expect_eq(h5_read_attr_int(f, "format_version", &version, &err), 0);
    cr_expect_eq(version, 1);
    cr_expect_eq(h5_read_attr_int64(f, "step", &step, &err), 0);
    cr_expect_eq(step, 1234);
    cr_expect_eq(h5_read_attr_int(f, "n_windows", &n, &err), 0);
    cr_expect_eq(n, W);
    const struct { const char *path; hid_t type; hsize_t n; } sets[] = {
        {"/windows/mse", H5T_IEEE_F64LE, W},   {"/windows/channel", H5T_STD_I32LE, W},
        {"/windows/start_row", H5T_STD_I32LE, W}, {"/levels/0/length_count", H5T_STD_I64LE, L + 1},
        {"/levels/1/length_count", H5T_STD_I64LE, L + 1}};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        hid_t d = H5Dopen2(f, sets[i].path, H5P_DEFAULT);
        cr_assert_geq(d, 0, "%s", sets[i].path);
        hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
        hsize_t dims[2] = {0};
        cr_expect(H5Tequal(t, sets[i].type) > 0, "%s: type", sets[i].path);
        cr_expect_eq(H5Sget_simple_extent_ndims(sp), 1);
        H5Sget_simple_extent_dims(sp, dims, NULL);
        cr_expect_eq(dims[0], sets[i].n, "%s", sets[i].path);
        H5Tclose(t);
        H5Sclose(sp);
        H5Dclose(d);
    }
    hid_t g = H5Gopen2(f, "/levels/1", H5P_DEFAULT);
    int K = 0;
    cr_expect_eq(h5_read_attr_int(g, "K", &K, &err), 0);
    cr_expect_eq(K, K1);
    H5Gclose(g);
    H5Fclose(f);
}

/* What a reader refuses is never written: nothing is left on disk. */
Test(test_windows, writer_refuses_inconsistent_scores) {
    rp_error err = {{0}};
    rp_test_windows s;
    make_scores(&s);
    s.mse[3] = NAN;
    cr_expect_neq(test_windows_write(in_dir("a.h5"), &s, &err), 0);
    cr_expect(strstr(err.msg, "/windows/mse[3] is nan"), "%s", err.msg);
    s.mse[3] = 0.5;
    s.length_count[1][6]--;
    cr_expect_neq(test_windows_write(in_dir("a.h5"), &s, &err), 0);
    cr_expect(strstr(err.msg, "level 1: the length counts hold 9 patches"), "%s", err.msg);
    s.length_count[1][6]++;
    s.K[0] = L + 1;
    cr_expect_neq(test_windows_write(in_dir("a.h5"), &s, &err), 0);
    cr_expect(strstr(err.msg, "level 0: K = 13"), "%s", err.msg);
    test_windows_free(&s);
    FILE *f = fopen(in_dir("a.h5"), "rb");
    cr_expect_null(f, "a refused file was written");
    if (f) fclose(f);
}

/* Damages a written file in place with the HDF5 API. */
static void poke_int_attr(const char *path, const char *name, int value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    cr_assert_geq(a, 0);
    cr_assert_geq(H5Awrite(a, H5T_NATIVE_INT, &value), 0);
    H5Aclose(a);
    H5Fclose(f);
}

static void poke_dataset(const char *path, const char *name, hid_t type, const void *values) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert_geq(d, 0);
    cr_assert_geq(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), 0);
    H5Dclose(d);
    H5Fclose(f);
}

static void expect_refused(const char *name, const char *what) {
    rp_test_windows s;
    rp_error err = {{0}};
    cr_expect_neq(test_windows_read(in_dir(name), &s, &err), 0, "%s was read", name);
    cr_expect(strstr(err.msg, name), "the message names the file: %s", err.msg);
    cr_expect(strstr(err.msg, what), "'%s' not in: %s", what, err.msg);
    cr_expect_null(s.mse, "a refused file left scores");
}

Test(test_windows, damaged_files_are_refused) {
    FILE *f = fopen(in_dir("text.h5"), "w");
    fputs("window,mse\n", f);
    fclose(f);
    expect_refused("text.h5", "not an HDF5 file");

    write_good("count.h5");
    poke_int_attr(in_dir("count.h5"), "n_windows", 6);
    expect_refused("count.h5", "/windows/mse holds 5 values, n_windows says 6");

    write_good("huge.h5");
    poke_int_attr(in_dir("huge.h5"), "lookback", 1 << 30);
    expect_refused("huge.h5", "lookback 1073741824");

    write_good("nan.h5");
    double mse[W] = {0.1, 0.2, NAN, 0.4, 0.5};
    poke_dataset(in_dir("nan.h5"), "/windows/mse", H5T_NATIVE_DOUBLE, mse);
    expect_refused("nan.h5", "/windows/mse[2] is nan");

    write_good("neg.h5");
    int32_t rows[W] = {1, 2, -3, 4, 5};
    poke_dataset(in_dir("neg.h5"), "/windows/start_row", H5T_NATIVE_INT32, rows);
    expect_refused("neg.h5", "window 2: channel 0, start_row -3");

    write_good("lengths.h5");
    int64_t counts[L + 1] = {0};
    counts[6] = 2 * W - 1;
    counts[12] = 1;
    poke_dataset(in_dir("lengths.h5"), "/levels/1/length_count", H5T_NATIVE_INT64, counts);
    expect_refused("lengths.h5", "level 1: the length counts hold 10 patches over 66 steps");

    /* cut short */
    write_good("whole.h5");
    f = fopen(in_dir("whole.h5"), "rb");
    char buf[4096];
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    f = fopen(in_dir("cut.h5"), "wb");
    fwrite(buf, 1, got / 2, f);
    fclose(f);
    expect_refused("cut.h5", "cut.h5");

    /* another kind of file */
    rp_error err = {{0}};
    char tmp[RP_H5_TMP_MAX];
    hid_t other = h5_atomic_create(in_dir("seg.h5"), tmp, &err);
    cr_assert_geq(other, 0, "%s", err.msg);
    cr_assert_eq(h5_write_attr_string(other, "reinpatch_kind", "segmentation", &err), 0);
    cr_assert_eq(h5_write_attr_int(other, "format_version", 1, &err), 0);
    cr_assert_eq(h5_atomic_commit(other, tmp, in_dir("seg.h5"), &err), 0, "%s", err.msg);
    expect_refused("seg.h5", "is a segmentation export, not a test-window scores file");
}
