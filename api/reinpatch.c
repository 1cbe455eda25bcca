/* The public C API (include/reinpatch.h) on top of the internals: model/ for the forecaster,
 * train/ for loading checkpoints, predicting and training, io/ for patcher files. Every entry
 * point checks its arguments, turns an internal rp_error into a caller-owned error object, and
 * never prints. */
#include "reinpatch.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/error.h"
#include "core/util.h"
#include "io/h5util.h"
#include "io/patcher_file.h"
#include "train/predict.h"
#include "train/run.h"
#include "train/train.h"

/* The stream random levels draw from in rp_segment: the one `reinpatch segment` gives its first
 * batch, so a window cut alone matches the first window of an export. */
#define SEGMENT_STREAM 0x5e9e000000ull

struct rp_forecaster {
    rp_loaded_model lm;
    rp_model_buffers buf;       /* room for C windows, one rollout each */
    float *rows;                /* (L, C) the window, row-major as predict_last_window reads it */
    float *out;                 /* (H, C) its forecast */
};

struct rp_patcher {
    rp_loaded_model lm;         /* for a patcher file only recipe and model are filled */
    rp_model_buffers buf;       /* room for one window */
};

/* Debian's HDF5 is built without its thread-safety lock: opens go through this one. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

/* When even the error object cannot be allocated, callers get this one (rp_error_free skips it). */
static rp_error out_of_memory = {"out of memory (while reporting an error)"};

/* Hands e's message to the caller as a new error object (when err is not NULL). */
static void give_error(rp_error **err, const rp_error *e) {
    if (!err) return;
    rp_error *copy = malloc(sizeof *copy);
    if (!copy) {
        *err = &out_of_memory;
        return;
    }
    memcpy(copy, e, sizeof *copy);
    *err = copy;
}

/* Returns -1 after handing the formatted message to the caller. */
static int fail(rp_error **err, const char *fmt, const char *what) {
    rp_error e;
    rp_fail(&e, fmt, what);
    give_error(err, &e);
    return -1;
}

static void ok(rp_error **err) {
    if (err) *err = NULL;
}

int rp_api_version(void) { return RP_API_VERSION; }

const char *rp_error_message(const rp_error *err) { return err ? err->msg : ""; }

void rp_error_free(rp_error *err) {
    if (err != &out_of_memory) free(err);
}

void rp_set_thread_count(int n) { rp_set_threads(n > 0 ? n : rp_cpu_count()); }

/* ---- forecaster ---- */

rp_forecaster *rp_forecaster_open(const char *checkpoint_path, rp_error **err) {
    if (!checkpoint_path) {
        fail(err, "rp_forecaster_open: %s is NULL", "checkpoint_path");
        return NULL;
    }
    rp_error e = {{0}};
    rp_forecaster *f = rp_calloc(1, sizeof *f, &e);
    if (!f) goto fail;
    pthread_mutex_lock(&open_lock);
    int rc = loaded_model_from_checkpoint(&f->lm, checkpoint_path, &e);
    pthread_mutex_unlock(&open_lock);
    if (rc) goto fail;
    int C = f->lm.state.n_channels, L = f->lm.model.lookback, H = f->lm.model.horizon;
    if (model_buffers_alloc(&f->buf, &f->lm.model, C, 1, &e)) goto fail;
    f->rows = rp_malloc((size_t)L * C * sizeof(float), &e);
    f->out = rp_malloc((size_t)H * C * sizeof(float), &e);
    if (!f->rows || !f->out) goto fail;
    ok(err);
    return f;
fail:
    give_error(err, &e);
    rp_forecaster_close(f);
    return NULL;
}

void rp_forecaster_close(rp_forecaster *f) {
    if (!f) return;
    model_buffers_free(&f->buf);
    loaded_model_free(&f->lm);
    free(f->rows);
    free(f->out);
    free(f);
}

int rp_forecaster_lookback(const rp_forecaster *f) { return f ? f->lm.model.lookback : 0; }
int rp_forecaster_horizon(const rp_forecaster *f) { return f ? f->lm.model.horizon : 0; }
int rp_forecaster_channels(const rp_forecaster *f) { return f ? f->lm.state.n_channels : 0; }
int rp_forecaster_threads(const rp_forecaster *f) { return f ? f->lm.recipe.train.threads : 0; }

const char *rp_forecaster_channel_name(const rp_forecaster *f, int c) {
    if (!f || c < 0 || c >= f->lm.state.n_channels || f->lm.recipe.data.n_columns != f->lm.state.n_channels)
        return NULL;
    return f->lm.recipe.data.columns[c];
}

int rp_forecast(rp_forecaster *f, const float *x, int channels, float *y, rp_error **err) {
    if (!f) return fail(err, "rp_forecast: %s is NULL", "the forecaster");
    if (!x) return fail(err, "rp_forecast: %s is NULL", "x");
    if (!y) return fail(err, "rp_forecast: %s is NULL", "y");
    int C = f->lm.state.n_channels, L = f->lm.model.lookback, H = f->lm.model.horizon;
    rp_error e = {{0}};
    if (channels != C) {
        rp_fail(&e, "rp_forecast: %d channel%s given, the checkpoint was trained on %d", channels,
                channels == 1 ? "" : "s", C);
        give_error(err, &e);
        return -1;
    }
    /* predict_last_window reads a table (rows × C), as `reinpatch predict` passes a CSV: the same
     * call on the same numbers gives the command's forecast bit for bit. */
    for (int c = 0; c < C; c++)
        for (int t = 0; t < L; t++) f->rows[(size_t)t * C + c] = x[(size_t)c * L + t];
    if (predict_last_window(&f->lm.model, &f->buf, f->rows, L, C, f->lm.state.mean, f->lm.state.std, f->out, &e)) {
        give_error(err, &e);
        return -1;
    }
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++) y[(size_t)c * H + h] = f->out[(size_t)h * C + c];
    ok(err);
    return 0;
}

/* ---- patcher ---- */

/* The file's reinpatch_kind ("checkpoint", "patcher", ...) into kind; -1 with e set when the
 * file is missing, not HDF5 or not a reinpatch file. */
static int file_kind(const char *path, char *kind, size_t size, rp_error *e) {
    hid_t file = h5_open_checked(path, NULL, 1 << 30, NULL, e);
    if (file < 0) return -1;
    char *got = NULL;
    int rc = h5_read_attr_string(file, "reinpatch_kind", &got, e);
    H5Fclose(file);
    if (rc) return -1;
    snprintf(kind, size, "%s", got);
    free(got);
    return 0;
}

/* A model that only segments: built from the patcher's recipe, initialised, its policy tensors
 * loaded from the file. */
static int patcher_model(rp_loaded_model *lm, const char *path, rp_error *e) {
    if (patcher_read_model_recipe(path, &lm->recipe, e)) return -1;
    if (recipe_validate(&lm->recipe, e) || recipe_render(&lm->recipe, e)) return rp_fail_prefix(e, "%s", path);
    if (model_build(&lm->model, &lm->recipe, e) ||
        model_init(&lm->model, (unsigned long long)lm->recipe.train.seed, e))
        return rp_fail_prefix(e, "%s: cannot build the level stack", path);
    return patcher_load_params(path, &lm->model.P, e);
}

rp_patcher *rp_patcher_open(const char *path, rp_error **err) {
    if (!path) {
        fail(err, "rp_patcher_open: %s is NULL", "path");
        return NULL;
    }
    rp_error e = {{0}};
    rp_patcher *p = rp_calloc(1, sizeof *p, &e);
    if (!p) goto fail;
    char kind[64];
    pthread_mutex_lock(&open_lock);
    int rc = file_kind(path, kind, sizeof kind, &e);
    if (!rc) {
        if (!strcmp(kind, "checkpoint")) rc = loaded_model_from_checkpoint(&p->lm, path, &e);
        else if (!strcmp(kind, "patcher")) rc = patcher_model(&p->lm, path, &e);
        else rc = rp_fail(&e, "%s: a '%s' file, not a patcher file or a checkpoint", path, kind);
    }
    pthread_mutex_unlock(&open_lock);
    if (rc) goto fail;
    if (model_buffers_alloc(&p->buf, &p->lm.model, 1, 1, &e)) goto fail;
    ok(err);
    return p;
fail:
    give_error(err, &e);
    rp_patcher_close(p);
    return NULL;
}

void rp_patcher_close(rp_patcher *p) {
    if (!p) return;
    model_buffers_free(&p->buf);
    loaded_model_free(&p->lm);
    free(p);
}

int rp_patcher_lookback(const rp_patcher *p) { return p ? p->lm.model.lookback : 0; }
int rp_patcher_levels(const rp_patcher *p) { return p ? p->lm.model.n_levels : 0; }
int rp_patcher_patches(const rp_patcher *p, int level) {
    return p && level >= 0 && level < p->lm.model.n_levels ? p->lm.model.levels[level].K : 0;
}

int rp_segment(rp_patcher *p, const float *x, int n, int level, int *starts, int *lengths, rp_error **err) {
    if (!p) return fail(err, "rp_segment: %s is NULL", "the patcher");
    if (!x) return fail(err, "rp_segment: %s is NULL", "x");
    if (!starts) return fail(err, "rp_segment: %s is NULL", "starts");
    if (!lengths) return fail(err, "rp_segment: %s is NULL", "lengths");
    rp_model *m = &p->lm.model;
    rp_error e = {{0}};
    if (n != m->lookback)
        rp_fail(&e, "rp_segment: a window of %d steps, the patcher cuts windows of %d (its lookback)", n, m->lookback);
    else if (level < 0 || level >= m->n_levels)
        rp_fail(&e, "rp_segment: level %d, the patcher has level%s 0..%d", level, m->n_levels == 1 ? "" : "s",
                m->n_levels - 1);
    if (e.msg[0]) {
        give_error(err, &e);
        return -1;
    }
    for (int t = 0; t < n; t++)
        if (!isfinite(x[t])) {
            rp_fail(&e, "rp_segment: x[%d] is not a finite number", t);
            give_error(err, &e);
            return -1;
        }
    model_prepare(m, &p->buf, x, 1, 1);
    predict_segment(m, &p->buf, 1, (unsigned long long)p->lm.recipe.train.seed, SEGMENT_STREAM);
    int K = m->levels[level].K;
    const int *raw = p->buf.lv[level].raw_starts;
    for (int k = 0; k < K; k++) {
        starts[k] = raw[k];
        lengths[k] = (k + 1 < K ? raw[k + 1] : n) - raw[k];
    }
    ok(err);
    return K;
}

/* ---- training ---- */

typedef struct progress_relay {
    rp_progress_fn fn;
    void *user;
    int epochs;
} progress_relay;

/* trainer_run's epoch callback: the caller's progress function, whose non-zero return ends the
 * run (before the epoch's checkpoint, as an error). */
static int relay_epoch(rp_trainer *t, const rp_epoch_report *e, void *ctx, rp_error *err) {
    (void)t;
    const progress_relay *r = ctx;
    rp_train_progress p = {.epoch = e->log.epoch + 1, .epochs = r->epochs, .train_loss = e->log.train_loss,
                           .val_mse = e->val.mse, .val_mae = e->val.mae, .seconds = e->log.seconds};
    if (r->fn(&p, r->user))
        return rp_fail(err, "rp_train_recipe: stopped by the progress callback after epoch %d", p.epoch);
    return 0;
}

int rp_train_recipe(const char *recipe_path, const char *out_dir, int n_sets, const char *const *sets,
                    rp_progress_fn progress, void *user, rp_error **err) {
    if (!recipe_path) return fail(err, "rp_train_recipe: %s is NULL", "recipe_path");
    if (n_sets < 0) return fail(err, "rp_train_recipe: %s is negative", "n_sets");
    if (n_sets > 0 && !sets) return fail(err, "rp_train_recipe: %s is NULL with n_sets > 0", "sets");
    for (int i = 0; i < n_sets; i++)
        if (!sets[i]) return fail(err, "rp_train_recipe: %s holds a NULL entry", "sets");
    rp_error e = {{0}};
    rp_recipe recipe;
    rp_trainer trainer;
    memset(&trainer, 0, sizeof trainer);
    int rc = -1;
    recipe_defaults(&recipe);
    if (recipe_load(recipe_path, &recipe, &e)) goto done;
    for (int i = 0; i < n_sets; i++)
        if (recipe_set(&recipe, sets[i], &e)) goto done;
    if (recipe_validate(&recipe, &e) || recipe_render(&recipe, &e)) goto done;
    if (trainer_setup(&trainer, &recipe, &e)) goto done;
    progress_relay relay = {progress, user, recipe.train.epochs};
    rp_train_options opt = {.progress = RP_PROGRESS_OFF, .out_dir = out_dir,
                            .on_epoch = progress ? relay_epoch : NULL, .epoch_ctx = &relay};
    rc = trainer_run(&trainer, &opt, NULL, &e);
done:
    trainer_free(&trainer);
    recipe_free(&recipe);
    if (rc) give_error(err, &e);
    else ok(err);
    return rc;
}
