#include "io/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5slab.h"

/* The slabs a checkpoint holds for every tensor, in file order. */
static const char *const SLAB_GROUPS[] = {"params", "adam_m", "adam_v", "best"};
enum { SLAB_VALUE, SLAB_ADAM_M, SLAB_ADAM_V, SLAB_BEST, N_SLABS };

/* The per-level sums of /epoch_sums, in file order. */
static const char *const SUM_LEVEL_NAMES[] = {"entropy", "patch_len_mean", "patch_len_std", "cuts_off_uniform"};
enum { N_SUM_LEVEL = 4 };

static double *sum_levels(rp_epoch_sums *e, int k) {
    double *p[N_SUM_LEVEL] = {e->entropy, e->patch_len_mean, e->patch_len_std, e->cuts_off_uniform};
    return p[k];
}

/* Scalars of /epoch_sums: name and field. */
#define SUM_SCALARS(X)                                                                                                 \
    X("loss", loss) X("windows", windows) X("seconds", seconds) X("policy_seconds", policy_seconds)                  \
    X("mean_reward", mean_reward) X("advantage_spread", advantage_spread) X("sign_agreement", sign_agreement)

static int write_sums(hid_t file, const rp_epoch_sums *e, rp_error *err) {
    rp_epoch_sums c = *e;
    if (h5_create_groups(file, "/epoch_sums", err)) return -1;
    hid_t g = H5Gopen2(file, "/epoch_sums", H5P_DEFAULT);
    if (g < 0) return rp_fail(err, "cannot open group /epoch_sums");
    int rc = 0;
#define WRITE_SCALAR(name, field) rc = rc || h5_write_attr_double(g, name, c.field, err);
    SUM_SCALARS(WRITE_SCALAR)
#undef WRITE_SCALAR
    rc = rc || h5_write_attr_int64(g, "sign_pairs", c.sign_pairs, err);
    hsize_t n = (hsize_t)c.n_levels;
    for (int k = 0; k < N_SUM_LEVEL && !rc; k++) rc = h5_write_double(g, SUM_LEVEL_NAMES[k], 1, &n, sum_levels(&c, k), err);
    H5Gclose(g);
    return rc;
}

/* Reads /epoch_sums when the file has it (sums->present says so). The values must be ones a run
 * can have summed: finite, counts >= 0. */
static int read_sums(hid_t file, const char *path, rp_epoch_sums *e, rp_error *err) {
    memset(e, 0, sizeof *e);
    if (!h5_exists(file, "/epoch_sums")) return 0;
    hid_t g = H5Gopen2(file, "/epoch_sums", H5P_DEFAULT);
    if (g < 0) return rp_fail(err, "%s: /epoch_sums is not a group", path);
    int rc = 0, ndim = 0;
#define READ_SCALAR(name, field) rc = rc || h5_read_attr_double(g, name, &e->field, err);
    SUM_SCALARS(READ_SCALAR)
#undef READ_SCALAR
    rc = rc || h5_read_attr_int64(g, "sign_pairs", &e->sign_pairs, err);
    hsize_t n = 0;
    rc = rc || h5_dataset_shape(g, SUM_LEVEL_NAMES[0], &ndim, &n, 1, err);
    if (!rc && (ndim != 1 || n < 1 || n > RP_MAX_LEVELS))
        rc = rp_fail(err, "%s: /epoch_sums/%s holds %llu levels (1..%d)", path, SUM_LEVEL_NAMES[0],
                     (unsigned long long)n, RP_MAX_LEVELS);
    for (int k = 0; k < N_SUM_LEVEL && !rc; k++)
        rc = h5_read_checked(g, SUM_LEVEL_NAMES[k], H5T_NATIVE_DOUBLE, 1, &n, sum_levels(e, k), err);
    H5Gclose(g);
    if (rc) return -1;
    e->n_levels = (int)n;
    int bad = !isfinite(e->loss) || !isfinite(e->mean_reward) || !isfinite(e->advantage_spread) ||
              !(e->windows >= 0) || !(e->seconds >= 0) || !(e->policy_seconds >= 0) || e->sign_pairs < 0 ||
              isinf(e->sign_agreement);
    for (int k = 0; k < N_SUM_LEVEL; k++)
        for (int l = 0; l < e->n_levels; l++) bad |= !isfinite(sum_levels(e, k)[l]);
    if (bad) return rp_fail(err, "%s: /epoch_sums holds a value no epoch sums to (not finite, or a negative count)", path);
    e->present = 1;
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
    rc = rc || h5_write_kind(file, "checkpoint", RP_CHECKPOINT_FORMAT_VERSION, err);
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
    rc = rc || h5slab_write(file, SLAB_GROUPS[SLAB_VALUE], P, P->value, NULL, err);
    rc = rc || h5slab_write(file, SLAB_GROUPS[SLAB_ADAM_M], P, P->adam_m, NULL, err);
    rc = rc || h5slab_write(file, SLAB_GROUPS[SLAB_ADAM_V], P, P->adam_v, NULL, err);
    if (best_values) rc = rc || h5slab_write(file, SLAB_GROUPS[SLAB_BEST], P, best_values, NULL, err);
    if (s->sums.present && s->step_in_epoch > 0) rc = rc || write_sums(file, &s->sums, err);
    if (rc) {
        h5_atomic_abort(file, tmp);
        return rp_fail_prefix(err, "writing checkpoint %s", path);
    }
    return h5_atomic_commit(file, tmp, path, err);
}

/* More channels than any table this reads: a file claiming more is refused before anything the
 * size of its claim is allocated. */
#define RP_CHECKPOINT_MAX_CHANNELS (1 << 20)

/* The run state's counters must be ones a run can reach: a hand-edited or damaged file would
 * otherwise resume from epoch -5 or compare against a NaN best. */
static int check_state(const char *path, const rp_run_state *st, rp_error *err) {
    if (st->step < 0 || st->epoch < 0 || st->step_in_epoch < 0 || st->best_epoch < 0 || st->epochs_since_best < 0)
        return rp_fail(err, "%s: negative run counter (step %lld, epoch %d, step_in_epoch %d, best_epoch %d, "
                       "epochs_since_best %d)", path, st->step, st->epoch, st->step_in_epoch, st->best_epoch,
                       st->epochs_since_best);
    if (st->step < st->step_in_epoch)
        return rp_fail(err, "%s: step_in_epoch %d exceeds step %lld", path, st->step_in_epoch, st->step);
    if (st->epoch > 0 && (st->best_epoch >= st->epoch || st->epochs_since_best > st->epoch))
        return rp_fail(err, "%s: best_epoch %d / epochs_since_best %d do not fit epoch %d", path, st->best_epoch,
                       st->epochs_since_best, st->epoch);
    if (isnan(st->best_val) || st->best_val < 0)
        return rp_fail(err, "%s: best_val %g is not a loss (>= 0, or inf before any epoch)", path, st->best_val);
    if ((st->rng.s[0] | st->rng.s[1] | st->rng.s[2] | st->rng.s[3]) == 0)
        return rp_fail(err, "%s: /rng_state is all zero (not a generator state)", path);
    for (int c = 0; c < st->n_channels; c++)
        if (!isfinite(st->mean[c]) || !isfinite(st->std[c]) || !(st->std[c] > 0))
            return rp_fail(err, "%s: /normalization channel %d: mean %g, std %g (need finite, std > 0)", path, c,
                           st->mean[c], st->std[c]);
    return 0;
}

/* Weights and moments must be finite (and Adam's second moment >= 0): the first bad tensor is
 * named. */
static int check_slab_values(const char *path, int k, const rp_params *P, const float *slab, rp_error *err) {
    const rp_tensor_info *t = params_first_nonfinite(P, slab);
    if (t) return rp_fail(err, "%s: tensor '%s' in /%s holds NaN or infinite values", path, t->name, SLAB_GROUPS[k]);
    if (k == SLAB_ADAM_V)
        for (size_t i = 0; i < P->total; i++)
            if (slab[i] < 0) return rp_fail(err, "%s: /adam_v holds a negative second moment (%g)", path, slab[i]);
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
    if (!rc && (ndim != 1 || channels < 1 || channels > RP_CHECKPOINT_MAX_CHANNELS))
        rc = rp_fail(err, "%s: /normalization/mean claims %llu channels (1 to %d)", path,
                     (unsigned long long)channels, RP_CHECKPOINT_MAX_CHANNELS);
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
    rc = rc || check_state(path, &st, err);
    rc = rc || read_sums(file, path, &st.sums, err);
    if (st.step_in_epoch == 0) st.sums.present = 0; /* only a mid-epoch state continues an epoch */

    int n_slabs = file_has_best ? N_SLABS : SLAB_BEST;
    for (int k = 0; k < n_slabs && !rc; k++) rc = h5slab_check(file, path, "file", SLAB_GROUPS[k], P, NULL, err);
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
        rc = h5slab_read(file, SLAB_GROUPS[k], P, stage[k], NULL, err) || check_slab_values(path, k, P, stage[k], err);
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
    return h5_read_file_string(path, "checkpoint", RP_CHECKPOINT_FORMAT_VERSION, "/recipe", recipe_text, err);
}

void checkpoint_state_free(rp_run_state *s) {
    free(s->mean);
    free(s->std);
    free(s->recipe_text);
    s->mean = s->std = NULL;
    s->recipe_text = NULL;
}
