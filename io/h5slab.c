#include "io/h5slab.h"

#include <stdio.h>

static int selected(rp_tensor_filter keep, const char *name) { return !keep || keep(name); }

static void tensor_dims(const rp_tensor_info *t, hsize_t *dims) {
    for (int i = 0; i < t->ndim; i++) dims[i] = (hsize_t)t->shape[i];
}

/* Writes (write = 1) or reads the selected tensors of slab as /group/<name>. */
static int transfer(hid_t file, const char *group, const rp_params *P, float *slab, rp_tensor_filter keep, int write,
                    rp_error *err) {
    char name[RP_PARAM_NAME_MAX + 32];
    for (int i = 0; i < P->n_tensors; i++) {
        const rp_tensor_info *t = &P->tensors[i];
        if (!selected(keep, t->name)) continue;
        hsize_t dims[RP_PARAM_MAX_DIMS];
        tensor_dims(t, dims);
        snprintf(name, sizeof name, "/%s/%s", group, t->name);
        float *values = slab + t->offset;
        if (write ? h5_write_float(file, name, t->ndim, dims, values, err)
                  : h5_read_checked(file, name, H5T_NATIVE_FLOAT, t->ndim, dims, values, err))
            return -1;
    }
    return 0;
}

int h5slab_write(hid_t file, const char *group, const rp_params *P, const float *slab, rp_tensor_filter keep,
                 rp_error *err) {
    return transfer(file, group, P, (float *)slab, keep, 1, err); /* only read from */
}

int h5slab_check(hid_t file, const char *path, const char *file_kind, const char *group, const rp_params *P,
                 rp_tensor_filter keep, rp_error *err) {
    char **names = NULL;
    int count = 0;
    char loc[RP_PARAM_NAME_MAX + 32];
    snprintf(loc, sizeof loc, "/%s", group);
    if (h5_list_datasets(file, loc, &names, &count, err) != 0) return -1;
    int rc = 0;
    for (int i = 0; i < count && !rc; i++)
        if (!params_find(P, names[i]) || !selected(keep, names[i]))
            rc = rp_fail(err, "%s: tensor '%s' (in /%s) is not declared by the model", path, names[i], group);
    h5_free_names(names, count);
    for (int i = 0; i < P->n_tensors && !rc; i++) {
        const rp_tensor_info *t = &P->tensors[i];
        if (!selected(keep, t->name)) continue;
        snprintf(loc, sizeof loc, "/%s/%s", group, t->name);
        if (!h5_exists(file, loc))
            return rp_fail(err, "%s: tensor '%s' is declared by the model but missing from /%s", path, t->name,
                           group);
        hsize_t got[RP_PARAM_MAX_DIMS], want[RP_PARAM_MAX_DIMS];
        int got_ndim = 0;
        if (h5_dataset_shape(file, loc, &got_ndim, got, RP_PARAM_MAX_DIMS, err) != 0)
            return rp_fail_prefix(err, "%s: tensor '%s'", path, t->name);
        tensor_dims(t, want);
        int same = got_ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = got[d] == want[d];
        if (!same) {
            char a[128], b[128];
            h5_format_shape(a, sizeof a, got_ndim, got);
            h5_format_shape(b, sizeof b, t->ndim, want);
            return rp_fail(err, "%s: tensor '%s' has shape %s in the %s, the model declares %s", path, t->name, a,
                           file_kind, b);
        }
    }
    return rc;
}

int h5slab_read(hid_t file, const char *group, const rp_params *P, float *slab, rp_tensor_filter keep,
                rp_error *err) {
    return transfer(file, group, P, slab, keep, 0, err);
}
