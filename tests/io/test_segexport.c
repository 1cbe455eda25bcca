/* Segmentation exports: bit-exact round trip, every documented attribute and dataset present
 * (read back with the plain HDF5 API, as h5py or h5dump would), and malformed segmentations
 * refused before anything is written. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "tests/run_command.h"
#include "tests/tempdir.h"
#include "io/h5util.h"
#include "io/inspect.h"
#include "io/segexport.h"

static char dir[256];

static void make_dir(void) { tempdir_make(dir, sizeof dir, "seg"); }

static void remove_dir(void) { tempdir_remove(dir); }

TestSuite(segexport, .init = make_dir, .fini = remove_dir);

static const char *in_dir(const char *name) { return tempdir_file(dir, name); }

enum { W = 6, L = 24, K0 = 6, K1 = 3 };

/* Random exact-K segmentations: level 0 cuts [0, L) into K0 patches, level 1 groups them into
 * K1 (so its boundaries are a subset of level 0's), both in time steps. */
static void make_export(rp_segexport *e) {
    memset(e, 0, sizeof *e);
    e->source = "data/ETTh1.csv";
    e->split = "test";
    e->lookback = L;
    e->horizon = 96;
    e->n_windows = W;
    e->channel = malloc(W * sizeof(int32_t));
    e->start_row = malloc(W * sizeof(int32_t));
    e->n_levels = 2;
    e->levels[0] = (rp_segexport_level){4.0, K0, malloc(W * K0 * 4), malloc(W * K0 * 4)};
    e->levels[1] = (rp_segexport_level){2.0, K1, malloc(W * K1 * 4), malloc(W * K1 * 4)};
    e->recipe_text = "name: seg\nlevels:\n  - rate: 4\n  - rate: 2\n";
    rp_rng r;
    rng_seed(&r, 17, 0);
    for (int w = 0; w < W; w++) {
        e->channel[w] = w % 3;
        e->start_row[w] = 11520 - L + 7 * w;
        int gaps[L - 1], bounds[K0 + 1];
        for (int g = 0; g < L - 1; g++) gaps[g] = g + 1;
        rng_shuffle_int(&r, gaps, L - 1);
        bounds[0] = 0;
        bounds[K0] = L;
        for (int k = 1; k < K0; k++) bounds[k] = gaps[k - 1];
        for (int a = 1; a < K0; a++) /* insertion sort of the K0 - 1 cuts */
            for (int b = a; b > 1 && bounds[b - 1] > bounds[b]; b--) {
                int t = bounds[b];
                bounds[b] = bounds[b - 1];
                bounds[b - 1] = t;
            }
        for (int k = 0; k < K0; k++) {
            e->levels[0].starts[w * K0 + k] = bounds[k];
            e->levels[0].lengths[w * K0 + k] = bounds[k + 1] - bounds[k];
        }
        int upper[K1 + 1] = {0, bounds[2], bounds[4], L};
        for (int k = 0; k < K1; k++) {
            e->levels[1].starts[w * K1 + k] = upper[k];
            e->levels[1].lengths[w * K1 + k] = upper[k + 1] - upper[k];
        }
    }
}

static void free_export(rp_segexport *e) {
    free(e->channel);
    free(e->start_row);
    for (int l = 0; l < e->n_levels; l++) {
        free(e->levels[l].starts);
        free(e->levels[l].lengths);
    }
}

Test(segexport, round_trip_is_bit_exact) {
    rp_segexport e, back;
    rp_error err;
    make_export(&e);
    const char *path = in_dir("seg.h5");
    cr_assert_eq(segexport_write(path, &e, &err), 0, "%s", err.msg);
    cr_assert_eq(segexport_read(path, &back, &err), 0, "%s", err.msg);
    cr_assert_str_eq(back.source, e.source);
    cr_assert_str_eq(back.split, e.split);
    cr_assert_str_eq(back.recipe_text, e.recipe_text);
    cr_assert_eq(back.lookback, L);
    cr_assert_eq(back.horizon, 96);
    cr_assert_eq(back.n_windows, W);
    cr_assert_eq(back.n_levels, 2);
    cr_assert_eq(memcmp(back.channel, e.channel, W * sizeof(int32_t)), 0);
    cr_assert_eq(memcmp(back.start_row, e.start_row, W * sizeof(int32_t)), 0);
    for (int l = 0; l < 2; l++) {
        const rp_segexport_level *a = &e.levels[l], *b = &back.levels[l];
        cr_assert_eq(memcmp(&a->rate, &b->rate, sizeof(double)), 0);
        cr_assert_eq(a->K, b->K);
        cr_assert_eq(memcmp(a->starts, b->starts, (size_t)W * a->K * sizeof(int32_t)), 0);
        cr_assert_eq(memcmp(a->lengths, b->lengths, (size_t)W * a->K * sizeof(int32_t)), 0);
    }
    segexport_free(&back);
    cr_assert_null(back.source);
    free_export(&e);
}

static void expect_attr(hid_t obj, const char *name, H5T_class_t cls) {
    cr_assert_gt(H5Aexists(obj, name), 0, "attribute %s missing", name);
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5Aget_type(a);
    cr_assert_eq(H5Tget_class(t), cls, "attribute %s has the wrong type", name);
    H5Tclose(t);
    H5Aclose(a);
}

static void expect_dataset(hid_t f, const char *path, hid_t type, int ndim, hsize_t d0,
                           hsize_t d1) {
    cr_assert(h5_exists(f, path), "%s missing", path);
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT), t = H5Dget_type(d), s = H5Dget_space(d);
    cr_assert_gt(H5Tequal(t, type), 0, "%s has the wrong type", path);
    hsize_t dims[2] = {0, 0};
    cr_assert_eq(H5Sget_simple_extent_dims(s, dims, NULL), ndim, "%s rank", path);
    cr_assert_eq(dims[0], d0, "%s shape", path);
    if (ndim == 2) cr_assert_eq(dims[1], d1, "%s shape", path);
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
}

Test(segexport, documented_layout) {
    rp_segexport e;
    rp_error err;
    make_export(&e);
    const char *path = in_dir("seg.h5");
    cr_assert_eq(segexport_write(path, &e, &err), 0, "%s", err.msg);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    const char *strings[] = {"reinpatch_kind", "library_version", "source", "split"};
    for (int i = 0; i < 4; i++) expect_attr(f, strings[i], H5T_STRING);
    const char *ints[] = {"format_version", "lookback", "horizon", "n_windows", "n_levels"};
    for (int i = 0; i < 5; i++) expect_attr(f, ints[i], H5T_INTEGER);
    char *kind;
    cr_assert_eq(h5_read_attr_string(f, "reinpatch_kind", &kind, &err), 0);
    cr_assert_str_eq(kind, "segmentation");
    free(kind);
    expect_dataset(f, "/windows/channel", H5T_STD_I32LE, 1, W, 0);
    expect_dataset(f, "/windows/start_row", H5T_STD_I32LE, 1, W, 0);
    const int Ks[2] = {K0, K1};
    for (int l = 0; l < 2; l++) {
        char name[64];
        snprintf(name, sizeof name, "/levels/%d/starts", l);
        expect_dataset(f, name, H5T_STD_I32LE, 2, W, (hsize_t)Ks[l]);
        snprintf(name, sizeof name, "/levels/%d/lengths", l);
        expect_dataset(f, name, H5T_STD_I32LE, 2, W, (hsize_t)Ks[l]);
        snprintf(name, sizeof name, "/levels/%d", l);
        hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
        expect_attr(g, "rate", H5T_FLOAT);
        expect_attr(g, "K", H5T_INTEGER);
        expect_attr(g, "units", H5T_STRING);
        H5Gclose(g);
    }
    char *recipe;
    cr_assert_eq(h5_read_string(f, "/recipe", &recipe, &err), 0, "%s", err.msg);
    cr_assert_str_eq(recipe, e.recipe_text);
    free(recipe);
    H5Fclose(f);
    free_export(&e);
}

Test(segexport, refuses_malformed_segmentations) {
    rp_segexport e;
    rp_error err;
    make_export(&e);
    const char *path = in_dir("seg.h5");
    e.levels[1].lengths[2 * K1 + 1] += 1; /* window 2, patch 1 overlaps patch 2 */
    cr_assert_eq(segexport_write(path, &e, &err), -1);
    cr_assert(strstr(err.msg, "level 1, window 2, patch 2"), "%s", err.msg);
    cr_assert_neq(access(path, F_OK), 0, "nothing written");
    e.levels[1].lengths[2 * K1 + 1] -= 1;
    e.levels[0].lengths[5 * K0 + K0 - 1] -= 1; /* last window stops short of the lookback */
    cr_assert_eq(segexport_write(path, &e, &err), -1);
    cr_assert(strstr(err.msg, "level 0, window 5: patches end at 23, not at lookback 24"), "%s",
              err.msg);
    free_export(&e);
}

Test(segexport, wrong_kind_and_inspect) {
    rp_segexport e, back;
    rp_error err;
    make_export(&e);
    const char *path = in_dir("seg.h5");
    cr_assert_eq(segexport_write(path, &e, &err), 0, "%s", err.msg);

    char *buf = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&buf, &n);
    cr_assert_eq(h5_inspect(path, out, &err), 0, "%s", err.msg);
    fclose(out);
    cr_assert(strstr(buf, "a segmentation export, format version 1"), "%s", buf);
    cr_assert(strstr(buf, "source data/ETTh1.csv, split test, lookback 24, horizon 96, "
                          "6 windows, 2 levels"), "%s", buf);
    cr_assert(strstr(buf, "level 1: rate 2, K 3 patches per window"), "%s", buf);
    free(buf);

    /* A bumped format version is refused by the reader. */
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_eq(h5_write_attr_int(f, "format_version", 2, &err), 0, "%s", err.msg);
    H5Fclose(f);
    cr_assert_eq(segexport_read(path, &back, &err), -1);
    cr_assert(strstr(err.msg, "written by format version 2; this build reads up to 1"), "%s",
              err.msg);
    free_export(&e);
}

/* ---- damaged string storage (issue 17) ---- */

/* A variable-length string is a descriptor (length, global heap address, object index) whose
 * bytes live in a global heap collection. HDF5 1.10.8 loops for ever on a collection whose free
 * space has size zero and allocates whatever length a descriptor claims; the readers must refuse
 * both, in one line, before HDF5 reads. */

static size_t find_bytes(const unsigned char *buf, size_t n, const void *pattern, size_t m) {
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(buf + i, pattern, m) == 0) return i;
    cr_assert_fail("pattern not found in the file");
    return 0;
}

static void put_le(unsigned char *p, unsigned long long v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Writes image to path with `bytes` little-endian bytes at offset set to v, and expects the reader
 * to refuse it with a message holding want; inspect too unless the damage is in /recipe (which
 * it prints as "(none)"). */
static void expect_refused(const char *path, const unsigned char *image, size_t n, size_t offset,
                           unsigned long long v, int bytes, const char *want) {
    int in_recipe = strstr(want, "/recipe") != NULL;
    unsigned char *copy = malloc(n);
    memcpy(copy, image, n);
    put_le(copy + offset, v, bytes);
    write_bytes(path, copy, n);
    free(copy);
    rp_segexport back;
    rp_error err;
    cr_assert_eq(segexport_read(path, &back, &err), -1, "read a damaged file");
    cr_assert(strstr(err.msg, want), "%s", err.msg);
    cr_assert_null(strchr(err.msg, '\n'), "%s", err.msg);
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    int rc = h5_inspect(path, f, &err);
    fclose(f);
    if (in_recipe)
        cr_assert(rc == 0 && strstr(out, "recipe: (none)"), "%s", rc ? err.msg : out);
    else
        cr_assert(rc == -1 && strstr(err.msg, want), "%s", err.msg);
    free(out);
}

Test(segexport, damaged_string_storage_is_refused, .timeout = 60) {
    rp_segexport e;
    rp_error err;
    make_export(&e);
    const char *good = in_dir("good.h5"), *bad = in_dir("bad.h5");
    cr_assert_eq(segexport_write(good, &e, &err), 0, "%s", err.msg);
    hid_t f = H5Fopen(good, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/recipe", H5P_DEFAULT);
    haddr_t recipe_desc = H5Dget_offset(d); /* contiguous: the descriptor's file offset */
    H5Dclose(d);
    H5Fclose(f);
    size_t n;
    unsigned char *image = (unsigned char *)slurp_size(good, &n);

    /* The collection: 16-byte header, then 16-byte object headers (index, references, reserved,
     * size); the object of index 0 is the free space at its end. */
    size_t heap = find_bytes(image, n, "GCOL", 4), p = heap + 16;
    for (;;) {
        unsigned idx = image[p] | image[p + 1] << 8;
        unsigned long long size = 0;
        for (int i = 0; i < 8; i++) size |= (unsigned long long)image[p + 8 + i] << (8 * i);
        if (idx == 0) break;
        p += 16 + (size + 7) / 8 * 8;
    }
    expect_refused(bad, image, n, p + 8, 0, 8, "its global heap collection is damaged");

    cr_assert_neq(recipe_desc, HADDR_UNDEF);
    expect_refused(bad, image, n, recipe_desc, 1700000000ULL, 4,
                   "/recipe: cannot read string: its string claims 1700000000 bytes but its heap "
                   "object holds");

    /* reinpatch_kind is the collection's first object: descriptor (12, heap address, 1). */
    unsigned char pattern[16];
    put_le(pattern, 12, 4);
    put_le(pattern + 4, heap, 8);
    put_le(pattern + 12, 1, 4);
    size_t kind_desc = find_bytes(image, n, pattern, sizeof pattern);
    expect_refused(bad, image, n, kind_desc + 12, 99, 4,
                   "cannot read string attribute 'reinpatch_kind': its global heap object 99 is "
                   "missing");
    expect_refused(bad, image, n, kind_desc + 4, n + 4096, 8, "is outside the file");

    /* Attribute messages (version 1: 8-byte head, then name, datatype and dataspace each padded
     * to 8 bytes, then the value): HDF5 read the value from past the header when a part's size
     * outgrew the message. */
    size_t n_levels = find_bytes(image, n, "n_levels", 9);
    expect_refused(bad, image, n, n_levels - 2, 29704, 2,
                   "attribute message 9 claims a 9-byte name, 12-byte "
                   "datatype and 29704-byte dataspace in 56 bytes");
    size_t lookback = find_bytes(image, n, "lookback", 9);
    expect_refused(bad, image, n, lookback + 16 + 4, 1000, 4,
                   "claims 1 values of 1000 bytes in 8");
    free(image);
    free_export(&e);
}

/* Addresses in a file with a userblock count from the superblock, not from byte 0: the check
 * must find the heap there too (h5py and h5dump read such files). */
Test(segexport, strings_after_a_userblock) {
    const char *path = in_dir("userblock.h5");
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    cr_assert_geq(H5Pset_userblock(fcpl, 512), 0);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    rp_error err;
    cr_assert_eq(h5_write_attr_string(f, "reinpatch_kind", "segmentation", &err), 0, "%s", err.msg);
    cr_assert_eq(h5_write_attr_int(f, "format_version", 1, &err), 0, "%s", err.msg);
    cr_assert_eq(h5_write_string(f, "/recipe", "name: ub\n", &err), 0, "%s", err.msg);
    H5Fclose(f);
    int version = 0;
    f = h5_open_checked(path, "segmentation", 1, &version, &err);
    cr_assert_geq(f, 0, "%s", err.msg);
    char *text = NULL;
    cr_assert_eq(h5_read_string(f, "/recipe", &text, &err), 0, "%s", err.msg);
    cr_assert_str_eq(text, "name: ub\n");
    free(text);
    H5Fclose(f);
}
