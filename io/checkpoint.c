#include "io/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5util.h"

/* The slabs a checkpoint holds for every tensor, in file order. */
static const char *const SLAB_GROUPS[] = {"params", "adam_m", "adam_v", "best"};
enum { SLAB_VALUE, SLAB_ADAM_M, SLAB_ADAM_V, SLAB_BEST, N_SLABS };

static void tensor_dims(const rp_tensor_info *t, hsize_t *dims) {
    for (int i = 0; i < t->ndim; i++) dims[i] = (hsize_t)t->shape[i];
}

static int write_slab(hid_t file, const char *group, const rp_params *P, const float *slab,
                      rp_error *err) {
    char name[RP_PARAM_NAME_MAX + 32];
    for (int i = 0; i < P->n_tensors; i++) {
        const rp_tensor_info *t = &P->tensors[i];
        hsize_t dims[RP_PARAM_MAX_DIMS];
        tensor_dims(t, dims);
        snprintf(name, sizeof name, "/%s/%s", group, t->name);
        if (h5_write_float(file, name, t->ndim, dims, slab + t->offset, err) != 0) return -1;
    }
    return 0;
}

int checkpoint_save(const char *path, const rp_params *P, const rp_run_state *s,
                    const float *best_values, rp_error *err) {
    if (!P->value) return rp_fail(err, "%s: parameters are not allocated", path);
    if (s->n_channels < 0 || (s->n_channels > 0 && (!s->mean || !s->std)))
        return rp_fail(err, "%s: run state has %d channels but no normalization statistics",
                       path, s->n_channels);
    char tmp[RP_H5_TMP_MAX];
    hid_t file = h5_atomic_create(path, tmp, err);
    if (file < 0) return -1;
    hsize_t four = 4, channels = (hsize_t)s->n_channels;
    int rc = 0;
    rc = rc || h5_write_attr_string(file, "reinpatch_kind", "checkpoint", err);
    rc = rc || h5_write_attr_int(file, "format_version", RP_CHECKPOINT_FORMAT_VERSION, err);
    rc = rc || h5_write_attr_string(file, "library_version", RP_LIBRARY_VERSION, err);
    rc = rc || h5_write_attr_int64(file, "step", s->step, err);
    rc = rc || h5_write_attr_int(file, "epoch", s->epoch, err);
    rc = rc || h5_write_attr_double(file, "best_val", s->best_val, err);
    rc = rc || h5_write_attr_int(file, "best_epoch", s->best_epoch, err);
    rc = rc || h5_write_attr_int(file, "epochs_since_best", s->epochs_since_best, err);
    rc = rc || h5_write_attr_int(file, "step_in_epoch", s->step_in_epoch, err);
    rc = rc || h5_write_uint64(file, "/rng_state", 1, &four, s->rng.s, err);
    rc = rc || h5_write_string(file, "/recipe", s->recipe_text ? s->recipe_text : "", err);
    rc = rc || h5_write_double(file, "/normalization/mean", 1, &channels, s->mean, err);
    rc = rc || h5_write_double(file, "/normalization/std", 1, &channels, s->std, err);
    rc = rc || write_slab(file, SLAB_GROUPS[SLAB_VALUE], P, P->value, err);
    rc = rc || write_slab(file, SLAB_GROUPS[SLAB_ADAM_M], P, P->adam_m, err);
    rc = rc || write_slab(file, SLAB_GROUPS[SLAB_ADAM_V], P, P->adam_v, err);
    if (best_values) rc = rc || write_slab(file, SLAB_GROUPS[SLAB_BEST], P, best_values, err);
    if (rc) {
        h5_atomic_abort(file, tmp);
        return rp_fail_prefix(err, "writing checkpoint %s", path);
    }
    return h5_atomic_commit(file, tmp, path, err);
}

/* Checks that group holds exactly P's tensors with P's shapes. */
static int check_slab(hid_t file, const char *path, const char *group, const rp_params *P,
                      rp_error *err) {
    char **names = NULL;
    int count = 0;
    char loc[RP_PARAM_NAME_MAX + 32];
    snprintf(loc, sizeof loc, "/%s", group);
    if (h5_list_datasets(file, loc, &names, &count, err) != 0) return -1;
    int rc = 0;
    for (int i = 0; i < count && !rc; i++)
        if (!params_find(P, names[i]))
            rc = rp_fail(err, "%s: tensor '%s' (in /%s) is not declared by the model", path,
                         names[i], group);
    h5_free_names(names, count);
    for (int i = 0; i < P->n_tensors && !rc; i++) {
        const rp_tensor_info *t = &P->tensors[i];
        snprintf(loc, sizeof loc, "/%s/%s", group, t->name);
        if (!h5_exists(file, loc)) {
            rc = rp_fail(err, "%s: tensor '%s' is declared by the model but missing from /%s",
                         path, t->name, group);
            break;
        }
        hsize_t got[RP_PARAM_MAX_DIMS], want[RP_PARAM_MAX_DIMS];
        int got_ndim = 0;
        if (h5_dataset_shape(file, loc, &got_ndim, got, RP_PARAM_MAX_DIMS, err) != 0) {
            rc = rp_fail_prefix(err, "%s: tensor '%s'", path, t->name);
            break;
        }
        tensor_dims(t, want);
        int same = got_ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = got[d] == want[d];
        if (!same) {
            char a[128], b[128];
            h5_format_shape(a, sizeof a, got_ndim, got);
            h5_format_shape(b, sizeof b, t->ndim, want);
            rc = rp_fail(err, "%s: tensor '%s' has shape %s in the file, the model declares %s",
                         path, t->name, a, b);
        }
    }
    return rc;
}

static int read_slab(hid_t file, const char *group, const rp_params *P, float *slab,
                     rp_error *err) {
    char name[RP_PARAM_NAME_MAX + 32];
    for (int i = 0; i < P->n_tensors; i++) {
        const rp_tensor_info *t = &P->tensors[i];
        hsize_t dims[RP_PARAM_MAX_DIMS];
        tensor_dims(t, dims);
        snprintf(name, sizeof name, "/%s/%s", group, t->name);
        if (h5_read_checked(file, name, H5T_NATIVE_FLOAT, t->ndim, dims, slab + t->offset, err))
            return -1;
    }
    return 0;
}

int checkpoint_load(const char *path, rp_params *P, rp_run_state *s, float *best_values,
                    int *has_best, rp_error *err) {
    if (!P->value) return rp_fail(err, "%s: parameters are not allocated", path);
    hid_t file = h5_open_checked(path, "checkpoint", RP_CHECKPOINT_FORMAT_VERSION, NULL, err);
    if (file < 0) return -1;

    rp_run_state st = *s;
    st.mean = st.std = NULL;
    st.recipe_text = NULL;
    float *stage[N_SLABS] = {0};
    int file_has_best = h5_exists(file, "/best");
    hsize_t four = 4, channels = 0;
    int ndim = 0, rc = 0;

    rc = rc || h5_read_attr_int64(file, "step", &st.step, err);
    rc = rc || h5_read_attr_int(file, "epoch", &st.epoch, err);
    rc = rc || h5_read_attr_double(file, "best_val", &st.best_val, err);
    rc = rc || h5_read_attr_int(file, "best_epoch", &st.best_epoch, err);
    rc = rc || h5_read_attr_int(file, "epochs_since_best", &st.epochs_since_best, err);
    rc = rc || h5_read_attr_int(file, "step_in_epoch", &st.step_in_epoch, err);
    rc = rc || h5_read_checked(file, "/rng_state", H5T_NATIVE_UINT64, 1, &four, st.rng.s, err);
    rc = rc || h5_read_string(file, "/recipe", &st.recipe_text, err);
    rc = rc || h5_dataset_shape(file, "/normalization/mean", &ndim, &channels, 1, err);
    if (!rc) {
        st.n_channels = (int)channels;
        st.mean = rp_calloc(channels, sizeof(double), err);
        st.std = rp_calloc(channels, sizeof(double), err);
        rc = !st.mean || !st.std;
    }
    rc = rc || h5_read_checked(file, "/normalization/mean", H5T_NATIVE_DOUBLE, 1, &channels,
                               st.mean, err);
    rc = rc || h5_read_checked(file, "/normalization/std", H5T_NATIVE_DOUBLE, 1, &channels,
                               st.std, err);

    int n_slabs = file_has_best ? N_SLABS : SLAB_BEST;
    for (int k = 0; k < n_slabs && !rc; k++) rc = check_slab(file, path, SLAB_GROUPS[k], P, err);
    /* Read everything into staging slabs first, so that a failure halfway leaves P whole. */
    const float *current[N_SLABS] = {P->value, P->adam_m, P->adam_v, best_values};
    for (int k = 0; k < n_slabs && !rc; k++) {
        if (k == SLAB_BEST && !best_values) continue;
        stage[k] = rp_malloc(P->total * sizeof(float) + 1, err);
        if (!stage[k]) {
            rc = -1;
            break;
        }
        memcpy(stage[k], current[k], P->total * sizeof(float));
        rc = read_slab(file, SLAB_GROUPS[k], P, stage[k], err);
    }
    H5Fclose(file);

    if (rc) {
        if (err && strncmp(err->msg, path, strlen(path)) != 0)
            rp_fail_prefix(err, "loading checkpoint %s", path);
        free(st.mean);
        free(st.std);
        free(st.recipe_text);
    } else {
        float *dest[N_SLABS] = {P->value, P->adam_m, P->adam_v, best_values};
        for (int k = 0; k < N_SLABS; k++)
            if (stage[k]) memcpy(dest[k], stage[k], P->total * sizeof(float));
        *s = st;
        if (has_best) *has_best = file_has_best;
    }
    for (int k = 0; k < N_SLABS; k++) free(stage[k]);
    return rc ? -1 : 0;
}

int checkpoint_read_recipe(const char *path, char **recipe_text, rp_error *err) {
    *recipe_text = NULL;
    hid_t file = h5_open_checked(path, "checkpoint", RP_CHECKPOINT_FORMAT_VERSION, NULL, err);
    if (file < 0) return -1;
    int rc = h5_read_string(file, "/recipe", recipe_text, err);
    H5Fclose(file);
    return rc;
}

void checkpoint_state_free(rp_run_state *s) {
    free(s->mean);
    free(s->std);
    free(s->recipe_text);
    s->mean = s->std = NULL;
    s->recipe_text = NULL;
}
