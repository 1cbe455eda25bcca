#include "io/inspect.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/h5util.h"
#include "io/patcher_file.h"
#include "io/segexport.h"
#include "io/test_windows.h"

#define RECIPE_LINES 12
#define MAX_MODULES 64

/* The module a tensor belongs to: "levels/<i>/<part>" for level tensors, else the first path
 * component ("backbone", "head", ...). */
static void module_of(const char *name, char *module, size_t size) {
    int want = strncmp(name, "levels/", 7) == 0 ? 3 : 1;
    const char *p = name;
    for (int c = 0; c < want; c++) {
        const char *slash = strchr(p, '/');
        if (!slash) {
            p = name + strlen(name);
            break;
        }
        p = slash + (c + 1 < want);
    }
    size_t n = (size_t)(p - name);
    if (n > 0 && name[n - 1] == '/') n--;
    snprintf(module, size, "%.*s", (int)n, name);
}

static int print_params(hid_t file, const char *group, const char *title, FILE *out,
                        rp_error *err) {
    char **names = NULL;
    int count = 0;
    if (h5_list_datasets(file, group, &names, &count, err) != 0) return -1;
    char modules[MAX_MODULES][RP_PARAM_NAME_MAX];
    unsigned long long counts[MAX_MODULES] = {0}, total = 0;
    int tensors[MAX_MODULES] = {0}, n_modules = 0, rc = 0;
    for (int i = 0; i < count && !rc; i++) {
        char path[RP_PARAM_NAME_MAX + 16], module[RP_PARAM_NAME_MAX];
        snprintf(path, sizeof path, "%s/%s", group, names[i]);
        hsize_t dims[H5S_MAX_RANK];
        int ndim = 0;
        if (h5_dataset_shape(file, path, &ndim, dims, H5S_MAX_RANK, err) != 0) {
            rc = -1;
            break;
        }
        unsigned long long n = 1;
        for (int d = 0; d < ndim; d++) n *= dims[d];
        module_of(names[i], module, sizeof module);
        int m = 0;
        while (m < n_modules && strcmp(modules[m], module) != 0) m++;
        if (m == n_modules) {
            if (n_modules == MAX_MODULES) {
                m = MAX_MODULES - 1;
                snprintf(modules[m], sizeof modules[m], "(other)");
            } else {
                snprintf(modules[n_modules++], sizeof modules[0], "%s", module);
            }
        }
        counts[m] += n;
        tensors[m]++;
        total += n;
    }
    h5_free_names(names, count);
    if (rc) return -1;
    fprintf(out, "%s: %llu values in %d tensors\n", title, total, count);
    /* The level stack first (it reads bottom-up like the model), then the rest by name. */
    for (int pass = 0; pass < 2; pass++)
        for (int m = 0; m < n_modules; m++) {
            if ((strncmp(modules[m], "levels/", 7) == 0) != (pass == 0)) continue;
            fprintf(out, "  %-28s %12llu  (%d tensor%s)\n", modules[m], counts[m], tensors[m],
                    tensors[m] == 1 ? "" : "s");
        }
    return 0;
}

static void print_recipe(hid_t file, FILE *out) {
    char *text = NULL;
    rp_error ignored;
    if (h5_read_string(file, "/recipe", &text, &ignored) != 0) {
        fprintf(out, "recipe: (none)\n");
        return;
    }
    int lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    if (text[0] && text[strlen(text) - 1] != '\n') lines++;
    if (lines == 0) {
        fprintf(out, "recipe: (empty)\n");
        free(text);
        return;
    }
    if (lines > RECIPE_LINES)
        fprintf(out, "recipe (first %d of %d lines):\n", RECIPE_LINES, lines);
    else
        fprintf(out, "recipe (%d lines):\n", lines);
    const char *p = text;
    for (int i = 0; i < RECIPE_LINES && *p; i++) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(out, "  | %.*s\n", n, p);
        p = nl ? nl + 1 : p + n;
    }
    free(text);
}

static int inspect_checkpoint(hid_t file, FILE *out, rp_error *err) {
    long long step = 0;
    int epoch = 0, best_epoch = 0, since = 0, rc = 0;
    double best_val = 0;
    rc = rc || h5_read_attr_int64(file, "step", &step, err);
    rc = rc || h5_read_attr_int(file, "epoch", &epoch, err);
    rc = rc || h5_read_attr_double(file, "best_val", &best_val, err);
    rc = rc || h5_read_attr_int(file, "best_epoch", &best_epoch, err);
    rc = rc || h5_read_attr_int(file, "epochs_since_best", &since, err);
    if (rc) return -1;
    /* Epochs are stored 0-based (best_epoch) and as a count (epoch); print them 1-based, as the
     * training log and metrics.json do. */
    fprintf(out, "step %lld, epochs completed %d, best validation loss %.6g at epoch %d (%d epoch%s ago)\n",
            step, epoch, best_val, best_epoch + 1, since, since == 1 ? "" : "s");
    hsize_t channels = 0;
    int ndim = 0;
    rp_error ignored;
    if (h5_dataset_shape(file, "/normalization/mean", &ndim, &channels, 1, &ignored) == 0)
        fprintf(out, "normalization: %llu channel%s\n", (unsigned long long)channels,
                channels == 1 ? "" : "s");
    if (print_params(file, "/params", "parameters", out, err) != 0) return -1;
    fprintf(out, "adam moments: %s; best weights: %s\n",
            h5_exists(file, "/adam_m") && h5_exists(file, "/adam_v") ? "present" : "absent",
            h5_exists(file, "/best") ? "present" : "absent");
    return 0;
}

static int inspect_patcher(hid_t file, const char *path, FILE *out, rp_error *err) {
    int lookback = 0, n_levels = 0, rc = 0;
    rc = rc || h5_read_attr_int(file, "lookback", &lookback, err);
    rc = rc || h5_read_attr_int(file, "n_levels", &n_levels, err);
    if (rc) return -1;
    fprintf(out, "lookback %d, %d level%s\n", lookback, n_levels, n_levels == 1 ? "" : "s");
    for (int i = 0; i < n_levels && i < RP_MAX_LEVELS; i++) {
        char name[64], *patching = NULL;
        snprintf(name, sizeof name, "/levels/%d", i);
        hid_t g = h5_open_group(file, path, name, err);
        if (g < 0) return -1;
        double rate = 0, prior = 0;
        int patch_len = 0, min_len = 0, max_len = 0, ch = 0, kernel = 0, layers = 0, position = 0;
        rc = rc || h5_read_attr_string(g, "patching", &patching, err);
        rc = rc || h5_read_attr_double(g, "rate", &rate, err);
        rc = rc || h5_read_attr_int(g, "patch_len", &patch_len, err);
        rc = rc || h5_read_attr_int(g, "min_len", &min_len, err);
        rc = rc || h5_read_attr_int(g, "max_len", &max_len, err);
        rc = rc || h5_read_attr_int(g, "policy_channels", &ch, err);
        rc = rc || h5_read_attr_int(g, "policy_kernel", &kernel, err);
        rc = rc || h5_read_attr_int(g, "policy_layers", &layers, err);
        rc = rc || h5_read_attr_double(g, "prior_scale", &prior, err);
        rc = rc || h5_read_attr_int_or(g, "policy_position", 0, &position, err);
        H5Gclose(g);
        if (!rc)
            fprintf(out, "  level %d: %s, rate %g, patch_len %d, length bounds [%d, %d], "
                    "policy %d channels x kernel %d x %d layers%s, prior_scale %g\n",
                    i, patching, rate, patch_len, min_len, max_len, ch, kernel, layers,
                    position ? " + position feature" : "", prior);
        free(patching);
        if (rc) return -1;
    }
    return print_params(file, "/params", "policy parameters", out, err);
}

static int inspect_segmentation(hid_t file, const char *path, FILE *out, rp_error *err) {
    char *source = NULL, *split = NULL;
    int lookback = 0, horizon = 0, n_windows = 0, n_levels = 0, rc = 0;
    rc = rc || h5_read_attr_string(file, "source", &source, err);
    rc = rc || h5_read_attr_string(file, "split", &split, err);
    rc = rc || h5_read_attr_int(file, "lookback", &lookback, err);
    rc = rc || h5_read_attr_int(file, "horizon", &horizon, err);
    rc = rc || h5_read_attr_int(file, "n_windows", &n_windows, err);
    rc = rc || h5_read_attr_int(file, "n_levels", &n_levels, err);
    if (!rc)
        fprintf(out, "source %s, split %s, lookback %d, horizon %d, %d windows, %d level%s\n",
                source, split, lookback, horizon, n_windows, n_levels, n_levels == 1 ? "" : "s");
    free(source);
    free(split);
    for (int l = 0; l < n_levels && l < RP_MAX_LEVELS && !rc; l++) {
        char name[64];
        snprintf(name, sizeof name, "/levels/%d", l);
        hid_t g = h5_open_group(file, path, name, err);
        if (g < 0) return -1;
        double rate = 0;
        int K = 0;
        rc = rc || h5_read_attr_double(g, "rate", &rate, err);
        rc = rc || h5_read_attr_int(g, "K", &K, err);
        H5Gclose(g);
        if (!rc) fprintf(out, "  level %d: rate %g, K %d patches per window\n", l, rate, K);
    }
    return rc ? -1 : 0;
}

static int inspect_test_windows(hid_t file, FILE *out, rp_error *err) {
    long long step = 0;
    int lookback = 0, horizon = 0, n_windows = 0, n_levels = 0, rc = 0;
    rc = rc || h5_read_attr_int64(file, "step", &step, err);
    rc = rc || h5_read_attr_int(file, "lookback", &lookback, err);
    rc = rc || h5_read_attr_int(file, "horizon", &horizon, err);
    rc = rc || h5_read_attr_int(file, "n_windows", &n_windows, err);
    rc = rc || h5_read_attr_int(file, "n_levels", &n_levels, err);
    if (!rc)
        fprintf(out, "test scores of the weights at step %lld: lookback %d, horizon %d, %d windows, %d level%s\n", step,
                lookback, horizon, n_windows, n_levels, n_levels == 1 ? "" : "s");
    return rc ? -1 : 0;
}

int h5_inspect(const char *path, FILE *out, rp_error *err) {
    int version = 0;
    hid_t file = h5_open_checked(path, NULL, INT_MAX, &version, err);
    if (file < 0) return -1;
    char *kind = NULL, *library = NULL;
    int rc = h5_read_attr_string(file, "reinpatch_kind", &kind, err);
    if (rc) {
        H5Fclose(file);
        return -1;
    }
    if (H5Aexists(file, "library_version") > 0)
        h5_read_attr_string(file, "library_version", &library, err);
    int supported = strcmp(kind, "checkpoint") == 0     ? RP_CHECKPOINT_FORMAT_VERSION
                    : strcmp(kind, "patcher") == 0      ? RP_PATCHER_FORMAT_VERSION
                    : strcmp(kind, "segmentation") == 0 ? RP_SEGEXPORT_FORMAT_VERSION
                    : strcmp(kind, "test_windows") == 0 ? RP_TEST_WINDOWS_FORMAT_VERSION
                                                        : 0;
    char noun[64];
    fprintf(out, "%s: %s, format version %d, written by reinpatch %s\n", path,
            h5_kind_noun(kind, noun, sizeof noun), version, library ? library : "(unknown)");
    if (supported == 0) {
        fprintf(out, "(unknown kind: nothing more to show)\n");
    } else {
        if (version > supported)
            fprintf(out, "note: this build reads up to format version %d; showing what it can\n",
                    supported);
        if (strcmp(kind, "checkpoint") == 0)
            rc = inspect_checkpoint(file, out, err);
        else if (strcmp(kind, "patcher") == 0)
            rc = inspect_patcher(file, path, out, err);
        else if (strcmp(kind, "test_windows") == 0)
            rc = inspect_test_windows(file, out, err);
        else
            rc = inspect_segmentation(file, path, out, err);
        if (!rc && strcmp(kind, "test_windows") != 0) print_recipe(file, out); /* it holds none */
    }
    H5Fclose(file);
    free(kind);
    free(library);
    if (rc && err && strncmp(err->msg, path, strlen(path)) != 0)
        rp_fail_prefix(err, "%s", path);
    return rc ? -1 : 0;
}
