#include "io/segexport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/h5util.h"

static const char UNITS[] = "time steps from the window's first step";

/* Each row must be a contiguous cover of [0, lookback) by K non-empty patches. */
static int check_level(const char *path, const rp_segexport *e, int l, rp_error *err) {
    const rp_segexport_level *lv = &e->levels[l];
    if (lv->K < 1 || lv->K > e->lookback)
        return rp_fail(err, "%s: level %d: K = %d (1..lookback %d allowed)", path, l, lv->K,
                       e->lookback);
    if (!lv->starts || !lv->lengths)
        return rp_fail(err, "%s: level %d: no starts or lengths", path, l);
    for (int w = 0; w < e->n_windows; w++) {
        const int32_t *s = lv->starts + (size_t)w * lv->K, *n = lv->lengths + (size_t)w * lv->K;
        int32_t next = 0;
        for (int k = 0; k < lv->K; k++) {
            if (s[k] != next || n[k] < 1)
                return rp_fail(err, "%s: level %d, window %d, patch %d: start %d length %d "
                               "(expected start %d, length >= 1)", path, l, w, k, s[k], n[k],
                               next);
            next = s[k] + n[k];
        }
        if (next != e->lookback)
            return rp_fail(err, "%s: level %d, window %d: patches end at %d, not at lookback %d",
                           path, l, w, next, e->lookback);
    }
    return 0;
}

int segexport_write(const char *path, const rp_segexport *e, rp_error *err) {
    if (e->n_windows < 1) return rp_fail(err, "%s: no windows to export", path);
    if (e->lookback < 1) return rp_fail(err, "%s: lookback is %d", path, e->lookback);
    if (e->n_levels < 1 || e->n_levels > RP_MAX_LEVELS)
        return rp_fail(err, "%s: %d levels (1..%d allowed)", path, e->n_levels, RP_MAX_LEVELS);
    if (!e->channel || !e->start_row)
        return rp_fail(err, "%s: no window channels or start rows", path);
    for (int l = 0; l < e->n_levels; l++)
        if (check_level(path, e, l, err) != 0) return -1;

    char tmp[RP_H5_TMP_MAX];
    hid_t file = h5_atomic_create(path, tmp, err);
    if (file < 0) return -1;
    hsize_t W = (hsize_t)e->n_windows;
    int rc = 0;
    rc = rc || h5_write_kind(file, "segmentation", RP_SEGEXPORT_FORMAT_VERSION, err);
    rc = rc || h5_write_attr_string(file, "source", e->source ? e->source : "", err);
    rc = rc || h5_write_attr_string(file, "split", e->split ? e->split : "", err);
    rc = rc || h5_write_attr_int(file, "lookback", e->lookback, err);
    rc = rc || h5_write_attr_int(file, "horizon", e->horizon, err);
    rc = rc || h5_write_attr_int(file, "n_windows", e->n_windows, err);
    rc = rc || h5_write_attr_int(file, "n_levels", e->n_levels, err);
    rc = rc || h5_write_int32(file, "/windows/channel", 1, &W, e->channel, err);
    rc = rc || h5_write_int32(file, "/windows/start_row", 1, &W, e->start_row, err);
    for (int l = 0; l < e->n_levels && !rc; l++) {
        const rp_segexport_level *lv = &e->levels[l];
        hsize_t dims[2] = {W, (hsize_t)lv->K};
        char name[64];
        snprintf(name, sizeof name, "/levels/%d/starts", l);
        rc = rc || h5_write_int32(file, name, 2, dims, lv->starts, err);
        snprintf(name, sizeof name, "/levels/%d/lengths", l);
        rc = rc || h5_write_int32(file, name, 2, dims, lv->lengths, err);
        snprintf(name, sizeof name, "/levels/%d", l);
        hid_t g = rc ? -1 : H5Gopen2(file, name, H5P_DEFAULT);
        if (!rc && g < 0) rc = rp_fail(err, "cannot open group %s", name);
        rc = rc || h5_write_attr_double(g, "rate", lv->rate, err);
        rc = rc || h5_write_attr_int(g, "K", lv->K, err);
        rc = rc || h5_write_attr_string(g, "units", UNITS, err);
        if (g >= 0) H5Gclose(g);
    }
    rc = rc || h5_write_string(file, "/recipe", e->recipe_text ? e->recipe_text : "", err);
    if (rc) {
        h5_atomic_abort(file, tmp);
        return rp_fail_prefix(err, "writing segmentation export %s", path);
    }
    return h5_atomic_commit(file, tmp, path, err);
}

static int read_level(hid_t file, const char *path, int l, rp_segexport *e, rp_error *err) {
    rp_segexport_level *lv = &e->levels[l];
    char name[64];
    snprintf(name, sizeof name, "/levels/%d", l);
    hid_t g = h5_open_group(file, path, name, err);
    if (g < 0) return -1;
    int rc = 0;
    rc = rc || h5_read_attr_double(g, "rate", &lv->rate, err);
    rc = rc || h5_read_attr_int(g, "K", &lv->K, err);
    H5Gclose(g);
    if (!rc && (lv->K < 1 || lv->K > e->lookback))
        rc = rp_fail(err, "%s: %s: K = %d (1..lookback %d allowed)", path, name, lv->K,
                     e->lookback);
    if (rc) return -1;
    /* The attributes' counts are claims: the datasets must hold them before arrays are sized. */
    hsize_t dims[2] = {(hsize_t)e->n_windows, (hsize_t)lv->K};
    snprintf(name, sizeof name, "/levels/%d/starts", l);
    if (h5_expect_shape(file, name, 2, dims, err) != 0) return -1;
    size_t n = (size_t)e->n_windows * (size_t)lv->K;
    lv->starts = rp_malloc(n * sizeof(int32_t), err);
    lv->lengths = rp_malloc(n * sizeof(int32_t), err);
    if (!lv->starts || !lv->lengths) return -1;
    rc = rc || h5_read_checked(file, name, H5T_NATIVE_INT32, 2, dims, lv->starts, err);
    snprintf(name, sizeof name, "/levels/%d/lengths", l);
    rc = rc || h5_read_checked(file, name, H5T_NATIVE_INT32, 2, dims, lv->lengths, err);
    return rc ? -1 : 0;
}

int segexport_read(const char *path, rp_segexport *e, rp_error *err) {
    memset(e, 0, sizeof *e);
    hid_t file = h5_open_checked(path, "segmentation", RP_SEGEXPORT_FORMAT_VERSION, NULL, err);
    if (file < 0) return -1;
    int rc = 0;
    rc = rc || h5_read_attr_string(file, "source", &e->source, err);
    rc = rc || h5_read_attr_string(file, "split", &e->split, err);
    rc = rc || h5_read_attr_int(file, "lookback", &e->lookback, err);
    rc = rc || h5_read_attr_int(file, "horizon", &e->horizon, err);
    rc = rc || h5_read_attr_int(file, "n_windows", &e->n_windows, err);
    rc = rc || h5_read_attr_int(file, "n_levels", &e->n_levels, err);
    if (!rc && e->n_windows < 1)
        rc = rp_fail(err, "%s: n_windows is %d", path, e->n_windows);
    if (!rc && (e->n_levels < 1 || e->n_levels > RP_MAX_LEVELS))
        rc = rp_fail(err, "%s: n_levels is %d (1..%d allowed)", path, e->n_levels,
                     RP_MAX_LEVELS);
    int n_levels = rc ? 0 : e->n_levels;
    hsize_t W = rc ? 0 : (hsize_t)e->n_windows;
    rc = rc || h5_expect_shape(file, "/windows/channel", 1, &W, err);
    if (!rc) {
        e->channel = rp_malloc(W * sizeof(int32_t), err);
        e->start_row = rp_malloc(W * sizeof(int32_t), err);
        rc = !e->channel || !e->start_row;
    }
    rc = rc || h5_read_checked(file, "/windows/channel", H5T_NATIVE_INT32, 1, &W, e->channel,
                               err);
    rc = rc || h5_read_checked(file, "/windows/start_row", H5T_NATIVE_INT32, 1, &W,
                               e->start_row, err);
    for (int l = 0; l < n_levels && !rc; l++) rc = read_level(file, path, l, e, err);
    rc = rc || h5_read_string(file, "/recipe", &e->recipe_text, err);
    H5Fclose(file);
    if (rc) {
        segexport_free(e);
        return -1;
    }
    return 0;
}

void segexport_free(rp_segexport *e) {
    free(e->source);
    free(e->split);
    free(e->channel);
    free(e->start_row);
    for (int l = 0; l < RP_MAX_LEVELS; l++) {
        free(e->levels[l].starts);
        free(e->levels[l].lengths);
    }
    free(e->recipe_text);
    memset(e, 0, sizeof *e);
}
