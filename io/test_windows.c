#include "io/test_windows.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/h5util.h"

/* Larger than any lookback a recipe allows: a damaged file claiming more is refused before an
 * array of its claimed size is allocated. */
#define MAX_LOOKBACK (1 << 20)

int test_windows_alloc(rp_test_windows *s, int n_windows, int n_levels, int lookback, int horizon, rp_error *err) {
    memset(s, 0, sizeof *s);
    if (n_windows < 1 || n_levels < 1 || n_levels > RP_MAX_LEVELS || lookback < 1)
        return rp_fail(err, "test windows: %d windows, %d levels, lookback %d", n_windows, n_levels, lookback);
    s->n_windows = n_windows;
    s->n_levels = n_levels;
    s->lookback = lookback;
    s->horizon = horizon;
    s->mse = rp_calloc((size_t)n_windows, sizeof(double), err);
    s->channel = rp_calloc((size_t)n_windows, sizeof(int32_t), err);
    s->start_row = rp_calloc((size_t)n_windows, sizeof(int32_t), err);
    int rc = !s->mse || !s->channel || !s->start_row;
    for (int l = 0; l < n_levels && !rc; l++) {
        s->length_count[l] = rp_calloc((size_t)lookback + 1, sizeof(int64_t), err);
        rc = !s->length_count[l];
    }
    if (rc) test_windows_free(s);
    return rc ? -1 : 0;
}

void test_windows_free(rp_test_windows *s) {
    free(s->mse);
    free(s->channel);
    free(s->start_row);
    for (int l = 0; l < RP_MAX_LEVELS; l++) free(s->length_count[l]);
    memset(s, 0, sizeof *s);
}

/* What a writer produces and a reader may trust: every window scored with a finite error, and
 * per level W·K patches that cover W lookbacks. */
static int check(const char *path, const rp_test_windows *s, rp_error *err) {
    if (s->step < 0) return rp_fail(err, "%s: step %lld is negative", path, s->step);
    if (s->lookback < 1 || s->lookback > MAX_LOOKBACK || s->horizon < 1)
        return rp_fail(err, "%s: lookback %d, horizon %d (need 1..%d and >= 1)", path, s->lookback, s->horizon,
                       MAX_LOOKBACK);
    if (s->n_windows < 1) return rp_fail(err, "%s: n_windows is %d", path, s->n_windows);
    if (s->n_levels < 1 || s->n_levels > RP_MAX_LEVELS)
        return rp_fail(err, "%s: n_levels is %d (1..%d allowed)", path, s->n_levels, RP_MAX_LEVELS);
    for (int w = 0; w < s->n_windows; w++) {
        if (!isfinite(s->mse[w]) || s->mse[w] < 0)
            return rp_fail(err, "%s: /windows/mse[%d] is %g (need a finite value >= 0)", path, w, s->mse[w]);
        if (s->channel[w] < 0 || s->start_row[w] < 0)
            return rp_fail(err, "%s: window %d: channel %d, start_row %d (need >= 0)", path, w, s->channel[w],
                           s->start_row[w]);
    }
    for (int l = 0; l < s->n_levels; l++) {
        int K = s->K[l];
        if (K < 1 || K > s->lookback)
            return rp_fail(err, "%s: level %d: K = %d (1..lookback %d allowed)", path, l, K, s->lookback);
        const int64_t *c = s->length_count[l];
        long long patches = 0, steps = 0;
        for (int n = 0; n <= s->lookback; n++) {
            if (c[n] < 0 || (n == 0 && c[n] != 0))
                return rp_fail(err, "%s: level %d: %lld patches of length %d", path, l, (long long)c[n], n);
            patches += c[n];
            steps += (long long)n * c[n];
        }
        long long W = s->n_windows;
        if (patches != W * K || steps != W * s->lookback)
            return rp_fail(err, "%s: level %d: the length counts hold %lld patches over %lld steps; %d windows of %d "
                           "patches over a lookback of %d make %lld over %lld", path, l, patches, steps, s->n_windows,
                           K, s->lookback, W * K, W * s->lookback);
    }
    return 0;
}

int test_windows_write(const char *path, const rp_test_windows *s, rp_error *err) {
    if (check(path, s, err)) return -1;
    char tmp[RP_H5_TMP_MAX];
    hid_t file = h5_atomic_create(path, tmp, err);
    if (file < 0) return -1;
    hsize_t W = (hsize_t)s->n_windows, counts = (hsize_t)s->lookback + 1;
    int rc = 0;
    rc = rc || h5_write_kind(file, "test_windows", RP_TEST_WINDOWS_FORMAT_VERSION, err);
    rc = rc || h5_write_attr_int64(file, "step", s->step, err);
    rc = rc || h5_write_attr_int(file, "lookback", s->lookback, err);
    rc = rc || h5_write_attr_int(file, "horizon", s->horizon, err);
    rc = rc || h5_write_attr_int(file, "n_windows", s->n_windows, err);
    rc = rc || h5_write_attr_int(file, "n_levels", s->n_levels, err);
    rc = rc || h5_write_double(file, "/windows/mse", 1, &W, s->mse, err);
    rc = rc || h5_write_int32(file, "/windows/channel", 1, &W, s->channel, err);
    rc = rc || h5_write_int32(file, "/windows/start_row", 1, &W, s->start_row, err);
    for (int l = 0; l < s->n_levels && !rc; l++) {
        char name[64];
        snprintf(name, sizeof name, "/levels/%d/length_count", l);
        rc = h5_write_int64(file, name, 1, &counts, s->length_count[l], err);
        snprintf(name, sizeof name, "/levels/%d", l);
        hid_t g = rc ? -1 : H5Gopen2(file, name, H5P_DEFAULT);
        if (!rc && g < 0) rc = rp_fail(err, "cannot open group %s", name);
        rc = rc || h5_write_attr_int(g, "K", s->K[l], err);
        if (g >= 0) H5Gclose(g);
    }
    if (rc) {
        h5_atomic_abort(file, tmp);
        return rp_fail_prefix(err, "writing test windows %s", path);
    }
    return h5_atomic_commit(file, tmp, path, err);
}

static int read_level(hid_t file, const char *path, int l, rp_test_windows *s, rp_error *err) {
    char name[64];
    snprintf(name, sizeof name, "/levels/%d", l);
    hid_t g = h5_open_group(file, path, name, err);
    if (g < 0) return -1;
    int rc = h5_read_attr_int(g, "K", &s->K[l], err);
    H5Gclose(g);
    hsize_t counts = (hsize_t)s->lookback + 1;
    snprintf(name, sizeof name, "/levels/%d/length_count", l);
    return rc || h5_read_checked(file, name, H5T_NATIVE_INT64, 1, &counts, s->length_count[l], err) ? -1 : 0;
}

int test_windows_read(const char *path, rp_test_windows *s, rp_error *err) {
    memset(s, 0, sizeof *s);
    hid_t file = h5_open_checked(path, "test_windows", RP_TEST_WINDOWS_FORMAT_VERSION, NULL, err);
    if (file < 0) return -1;
    rp_test_windows head = {0};
    int rc = 0;
    rc = rc || h5_read_attr_int64(file, "step", &head.step, err);
    rc = rc || h5_read_attr_int(file, "lookback", &head.lookback, err);
    rc = rc || h5_read_attr_int(file, "horizon", &head.horizon, err);
    rc = rc || h5_read_attr_int(file, "n_windows", &head.n_windows, err);
    rc = rc || h5_read_attr_int(file, "n_levels", &head.n_levels, err);
    if (!rc && (head.lookback < 1 || head.lookback > MAX_LOOKBACK))
        rc = rp_fail(err, "%s: lookback %d (1..%d allowed)", path, head.lookback, MAX_LOOKBACK);
    if (!rc && (head.n_windows < 1 || head.n_levels < 1 || head.n_levels > RP_MAX_LEVELS))
        rc = rp_fail(err, "%s: n_windows %d, n_levels %d (need >= 1 and 1..%d)", path, head.n_windows, head.n_levels,
                     RP_MAX_LEVELS);
    /* The window count is the attribute's claim: the dataset's own shape must agree before an
     * array of that size is allocated. */
    hsize_t W = 0;
    int ndim = 0;
    rc = rc || h5_dataset_shape(file, "/windows/mse", &ndim, &W, 1, err);
    if (!rc && (ndim != 1 || W != (hsize_t)head.n_windows))
        rc = rp_fail(err, "%s: /windows/mse holds %llu values, n_windows says %d", path, (unsigned long long)W,
                     head.n_windows);
    rc = rc || test_windows_alloc(s, head.n_windows, head.n_levels, head.lookback, head.horizon, err);
    if (!rc) s->step = head.step;
    rc = rc || h5_read_checked(file, "/windows/mse", H5T_NATIVE_DOUBLE, 1, &W, s->mse, err);
    rc = rc || h5_read_checked(file, "/windows/channel", H5T_NATIVE_INT32, 1, &W, s->channel, err);
    rc = rc || h5_read_checked(file, "/windows/start_row", H5T_NATIVE_INT32, 1, &W, s->start_row, err);
    for (int l = 0; l < s->n_levels && !rc; l++) rc = read_level(file, path, l, s, err);
    H5Fclose(file);
    rc = rc || check(path, s, err);
    if (rc) {
        test_windows_free(s);
        return -1;
    }
    return 0;
}
