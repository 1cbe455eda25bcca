/* reinpatch: the public C API (the only installed header). docs/library.md has the guide.
 *
 *   cc app.c $(pkg-config --cflags --libs reinpatch)
 *
 * Handles are opaque: a forecaster (a training checkpoint: level stack, backbone, head and the
 * train-split normalisation statistics) and a patcher (a level stack alone, from a patcher file
 * or a checkpoint). Both are opened from HDF5 files written by `reinpatch train` /
 * `reinpatch export-patcher` and closed with their _close function.
 *
 * Errors: every fallible function returns NULL or -1 on failure and, when its last argument
 * `err` is not NULL, stores in *err a new error object holding one line that says what and where
 * ("run/checkpoint.h5: not a reinpatch checkpoint (reinpatch_kind is 'patcher')"). The caller
 * owns it: read it with rp_error_message, free it with rp_error_free. On success *err is set to
 * NULL. No function prints, calls exit() or aborts on bad input; NULL handles and arrays are
 * reported as errors.
 *
 * Ownership: the library never keeps a pointer the caller passed in (paths, arrays, recipe
 * overrides are copied or read during the call); the caller never frees what the library owns
 * except through the functions named here. Strings returned by the library (error messages,
 * channel names) live as long as the object they came from.
 *
 * Threads: a handle holds its own work buffers, so one handle must not be used by two threads at
 * once; different handles may be used from different threads at the same time. Matrix products
 * use the process-wide thread count (rp_set_thread_count; until it is called, matrix products
 * run on one thread and parallel loops on OpenMP's default, OMP_NUM_THREADS). rp_train_recipe
 * sets it to the recipe's train.threads (all cores when 0) and must not run while another thread
 * uses the library. Opening a handle reads HDF5, whose Debian build is not thread-safe: the
 * library serialises its own opens with a lock, but a program that calls HDF5 itself from
 * another thread at the same time must hold off.
 *
 * Versioning: RP_API_VERSION is the version of this header. It goes up by one whenever a
 * function's signature or meaning changes, or one is removed (an incompatible change; the shared
 * library's soname changes with it); adding a function does not change it. rp_api_version()
 * returns the version the library was built with: a program compares the two at start. */
#ifndef REINPATCH_H
#define REINPATCH_H

#ifdef __cplusplus
extern "C" {
#endif

#define RP_API_VERSION 1

#if defined(__GNUC__)
#define RP_API __attribute__((visibility("default")))
#else
#define RP_API
#endif

typedef struct rp_error rp_error;
typedef struct rp_forecaster rp_forecaster;
typedef struct rp_patcher rp_patcher;

/* The RP_API_VERSION the library was built with. */
RP_API int rp_api_version(void);

/* The message of an error (one line, no trailing newline); "" for NULL. Valid until
 * rp_error_free. */
RP_API const char *rp_error_message(const rp_error *err);
/* Frees an error; NULL is a no-op. */
RP_API void rp_error_free(rp_error *err);

/* Sets the number of threads matrix products and the library's parallel loops use, for the
 * whole process (n < 1 means every core). Call it when no other thread is inside the library. */
RP_API void rp_set_thread_count(int n);

/* ---- forecaster ---- */

/* Opens a training checkpoint (reinpatch train's DIR/checkpoint.h5): rebuilds the model from
 * the recipe stored in it and loads the best-validation weights (the last weights when the file
 * has none). Returns NULL on failure (missing file, not HDF5, another kind of reinpatch file,
 * shapes that do not match the recipe). Close with rp_forecaster_close. */
RP_API rp_forecaster *rp_forecaster_open(const char *checkpoint_path, rp_error **err);
/* Frees everything the forecaster holds; NULL is a no-op. */
RP_API void rp_forecaster_close(rp_forecaster *f);

/* The window the forecaster reads (L steps per channel), the steps it forecasts (H) and its
 * channel count C. 0 for a NULL handle. */
RP_API int rp_forecaster_lookback(const rp_forecaster *f);
RP_API int rp_forecaster_horizon(const rp_forecaster *f);
RP_API int rp_forecaster_channels(const rp_forecaster *f);
/* The name of channel c when the recipe named its columns (data.columns), NULL otherwise (or
 * when c is out of range). Owned by f. */
RP_API const char *rp_forecaster_channel_name(const rp_forecaster *f, int c);
/* The thread count the checkpoint's recipe names (train.threads; 0 = every core), which
 * `reinpatch predict` uses: rp_set_thread_count(rp_forecaster_threads(f)) makes rp_forecast
 * compute exactly as the command does (results can differ in the last bits between thread
 * counts). 0 for a NULL handle. */
RP_API int rp_forecaster_threads(const rp_forecaster *f);

/* Forecasts the H steps after a window, channel by channel, exactly as `reinpatch predict` does
 * for the last L rows of a file:
 *   x  [channels × L] channel-major, in the series' original units (x[c·L + t] is step t of
 *      channel c, oldest first); channels must equal rp_forecaster_channels(f);
 *   y  [channels × H] channel-major, written in the same original units (caller-allocated).
 * Each channel is z-scored with the train-split statistics stored in the checkpoint, forecast,
 * and mapped back. Learned levels decode their policy greedily, so a forecast is deterministic.
 * Returns 0, or -1 (y unspecified) for a NULL argument, a wrong channel count, a non-finite
 * input value or a non-finite forecast. */
RP_API int rp_forecast(rp_forecaster *f, const float *x, int channels, float *y, rp_error **err);

/* ---- patcher ---- */

/* Opens a level stack: a patcher file (reinpatch export-patcher, pretrain-patcher) or a training
 * checkpoint (its level stack, best-validation weights). Returns NULL on failure. Close with
 * rp_patcher_close. */
RP_API rp_patcher *rp_patcher_open(const char *path, rp_error **err);
RP_API void rp_patcher_close(rp_patcher *p);

/* The window length the stack cuts (L), its number of levels, and the number of patches K of
 * level `level` (0-based; level 0 cuts the raw steps). 0 for a NULL handle or a bad level. */
RP_API int rp_patcher_lookback(const rp_patcher *p);
RP_API int rp_patcher_levels(const rp_patcher *p);
RP_API int rp_patcher_patches(const rp_patcher *p, int level);

/* Cuts one window x [n] (n must equal rp_patcher_lookback(p); any units: each window is
 * normalised by its own mean and standard deviation first) and writes level `level`'s patches:
 * starts[k] is the first step of patch k and lengths[k] its length, in time steps from the
 * window's first step (for every level), k < rp_patcher_patches(p, level); both arrays are
 * caller-allocated with room for that many. The patches cover [0, n) in order. Learned levels
 * decode greedily, fixed levels space patches uniformly, random levels draw from a stream fixed
 * by the recipe's seed (the same window always gets the same cut). Returns K, or -1 for a NULL
 * argument, n != lookback, a level out of range or a non-finite value. */
RP_API int rp_segment(rp_patcher *p, const float *x, int n, int level, int *starts, int *lengths,
                      rp_error **err);

/* ---- training ---- */

/* What rp_train_recipe reports after each epoch. */
typedef struct rp_train_progress {
    int epoch;          /* 1-based number of the epoch just finished */
    int epochs;         /* the recipe's train.epochs (early stopping may end the run sooner) */
    double train_loss;  /* mean training loss of the epoch (z-scored units) */
    double val_mse;     /* validation MSE and MAE after the epoch (z-scored units) */
    double val_mae;
    double seconds;     /* training time of the epoch */
} rp_train_progress;

/* Called after every epoch on the thread that called rp_train_recipe; `progress` is valid
 * during the call only. Returns 0 to go on; anything else stops the run: rp_train_recipe then
 * returns -1 ("stopped by the progress callback after epoch N"), and OUT_DIR/checkpoint.h5 holds
 * the epoch before (none when N = 1), from which `reinpatch train --resume OUT_DIR` continues. */
typedef int (*rp_progress_fn)(const rp_train_progress *progress, void *user);

/* Trains the recipe at recipe_path as `reinpatch train RECIPE --set S... --out OUT_DIR` does:
 * sets[0..n_sets) are "key=value" overrides (e.g. "train.epochs=3"); out_dir NULL means the
 * recipe's output.dir (else runs/<name>). Writes OUT_DIR/checkpoint.h5 (after every epoch) and
 * OUT_DIR/metrics.json; prints nothing. progress may be NULL; user is passed to it unchanged.
 * Relative data paths in the recipe resolve against $REINPATCH_DATA as in the command. Returns
 * 0, or -1 for a NULL recipe path, n_sets < 0, sets NULL with n_sets > 0, a recipe or override
 * error (file, line and key named), unreadable data, a write error, or a stop asked by the
 * progress callback. */
RP_API int rp_train_recipe(const char *recipe_path, const char *out_dir, int n_sets, const char *const *sets,
                           rp_progress_fn progress, void *user, rp_error **err);

#ifdef __cplusplus
}
#endif

#endif
