/* The public C API (include/reinpatch.h): every function, and every documented error path (NULL
 * arguments, a missing file, the wrong kind of file, a wrong channel count or window length,
 * recipe errors) returns an error message and never crashes. A tiny recipe on generated data is
 * trained once through rp_train_recipe (by the first test that needs it, shared through a
 * directory named after the Criterion runner's pid); the forecasts are checked against the
 * internal predict path they wrap, and the cuts against the patcher file written from the same
 * checkpoint. */
/* nftw (XSI) and flock (BSD) on top of the project's POSIX level. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE 1

#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reinpatch.h"
#include "tests/run_command.h"
#define SHARED_DIR_TAG "api"
#include "tests/shared_dir.h"
#include "tests/tiny_recipe.h"
#include "train/predict.h"

#define LOOKBACK 32
#define HORIZON 8
#define CHANNELS 2
#define RATE 4
#define EPOCHS 2

static const char RECIPE[] = TINY_RECIPE("api", 600, "patching: learned, rate: 4, patch_len: 8, policy: {prior_scale: 0}")
    TINY_TRAIN(5);

/* What the progress callback saw. */
typedef struct seen {
    int calls, last_epoch, epochs;
    int ordered;    /* every epoch number was the previous one + 1 */
    int finite;     /* every loss was finite and positive */
} seen;

static int on_progress(const rp_train_progress *p, void *user) {
    seen *s = user;
    s->ordered = s->ordered && p->epoch == s->last_epoch + 1;
    s->finite = s->finite && isfinite(p->train_loss) && p->train_loss > 0 && isfinite(p->val_mse) &&
                p->val_mse > 0 && isfinite(p->val_mae) && p->val_mae > 0 && p->seconds >= 0;
    s->last_epoch = p->epoch;
    s->epochs = p->epochs;
    s->calls++;
    return 0;
}

static int stop_at_once(const rp_train_progress *p, void *user) {
    *(int *)user = p->epoch;
    return 1;
}

/* Trains the tiny recipe once per Criterion run (the first caller does it, under a lock), with
 * rp_train_recipe and a progress callback, then writes its patcher and a segmentation export
 * with the command (files of the other kinds for the wrong-kind tests). */
static void ensure_trained(void) {
    int lock = shared_dir_lock();
    if (file_size(at("seg.h5")) <= 0) {
        write_file(at("api.yaml"), RECIPE);
        seen s = {.ordered = 1, .finite = 1};
        const char *sets[] = {"train.seed=3"};
        rp_error stale, *err = &stale;   /* success sets *err to NULL */
        int rc = rp_train_recipe(at("api.yaml"), at("run"), 1, sets, on_progress, &s, &err);
        cr_assert_eq(rc, 0, "rp_train_recipe: %s", rc ? rp_error_message(err) : "");
        cr_assert_null(err, "err not cleared on success");
        cr_assert_eq(s.calls, EPOCHS, "progress called %d times", s.calls);
        cr_assert(s.ordered && s.finite && s.epochs == EPOCHS, "progress values");
        cr_assert_gt(file_size(at("run/metrics.json")), 0);
        write_file(at("series.csv"), "a,b\n1,2\n3,4\n");
        command_result r = run_reinpatch(work, "export-patcher", "run/checkpoint.h5", "patcher.h5", NULL);
        cr_assert_eq(r.status, 0, "export-patcher: %s", r.err);
        command_result_free(&r);
        r = run_reinpatch(work, "segment", "--checkpoint", "run/checkpoint.h5", "--out", "seg.h5", NULL);
        cr_assert_eq(r.status, 0, "segment: %s", r.err);
        command_result_free(&r);
    }
    shared_dir_unlock(lock);
}

/* An error came back: non-NULL, one non-empty line that mentions needle; then freed. */
static void expect_error(rp_error *err, const char *needle) {
    cr_assert_not_null(err, "no error object");
    const char *m = rp_error_message(err);
    cr_expect_gt(strlen(m), 0);
    cr_expect_null(strchr(m, '\n'), "more than one line: %s", m);
    cr_expect_not_null(strstr(m, needle), "'%s' does not mention '%s'", m, needle);
    rp_error_free(err);
}

/* A deterministic window in original units: channel c is a wave around 1000·(c + 1). */
static void make_window(float *x, int C, int L) {
    for (int c = 0; c < C; c++)
        for (int t = 0; t < L; t++)
            x[(size_t)c * L + t] = (float)(1000.0 * (c + 1) + 50.0 * sin(0.4 * t + c) + 3.0 * t);
}

/* ---- version and errors ---- */

Test(api, version_matches_header) { cr_assert_eq(rp_api_version(), RP_API_VERSION); }

Test(api, error_of_null_is_empty) {
    cr_assert_str_empty(rp_error_message(NULL));
    rp_error_free(NULL);
}

Test(api, thread_count_is_settable) {
    rp_set_thread_count(2);
    rp_set_thread_count(0);   /* every core */
    rp_set_thread_count(-5);
    rp_set_thread_count(1);
}

/* ---- NULL arguments ---- */

Test(api, null_arguments_are_errors) {
    ensure_trained();
    rp_error *err = NULL;
    cr_assert_null(rp_forecaster_open(NULL, &err));
    expect_error(err, "checkpoint_path is NULL");
    cr_assert_null(rp_forecaster_open(NULL, NULL));   /* err may be NULL */
    cr_assert_null(rp_patcher_open(NULL, &err));
    expect_error(err, "path is NULL");

    float x[CHANNELS * LOOKBACK], y[CHANNELS * HORIZON];
    make_window(x, CHANNELS, LOOKBACK);
    cr_assert_eq(rp_forecast(NULL, x, CHANNELS, y, &err), -1);
    expect_error(err, "the forecaster is NULL");
    rp_forecaster *f = rp_forecaster_open(at("run/checkpoint.h5"), &err);
    cr_assert_not_null(f, "%s", rp_error_message(err));
    cr_assert_eq(rp_forecast(f, NULL, CHANNELS, y, &err), -1);
    expect_error(err, "x is NULL");
    cr_assert_eq(rp_forecast(f, x, CHANNELS, NULL, &err), -1);
    expect_error(err, "y is NULL");
    cr_assert_eq(rp_forecast(f, x, CHANNELS, NULL, NULL), -1);
    rp_forecaster_close(f);

    int starts[LOOKBACK], lengths[LOOKBACK];
    cr_assert_eq(rp_segment(NULL, x, LOOKBACK, 0, starts, lengths, &err), -1);
    expect_error(err, "the patcher is NULL");
    rp_patcher *p = rp_patcher_open(at("patcher.h5"), &err);
    cr_assert_not_null(p, "%s", rp_error_message(err));
    cr_assert_eq(rp_segment(p, NULL, LOOKBACK, 0, starts, lengths, &err), -1);
    expect_error(err, "x is NULL");
    cr_assert_eq(rp_segment(p, x, LOOKBACK, 0, NULL, lengths, &err), -1);
    expect_error(err, "starts is NULL");
    cr_assert_eq(rp_segment(p, x, LOOKBACK, 0, starts, NULL, &err), -1);
    expect_error(err, "lengths is NULL");
    rp_patcher_close(p);

    cr_assert_eq(rp_train_recipe(NULL, NULL, 0, NULL, NULL, NULL, &err), -1);
    expect_error(err, "recipe_path is NULL");
    cr_assert_eq(rp_train_recipe(at("api.yaml"), at("never"), 1, NULL, NULL, NULL, &err), -1);
    expect_error(err, "sets is NULL");
    const char *holes[] = {NULL};
    cr_assert_eq(rp_train_recipe(at("api.yaml"), at("never"), 1, holes, NULL, NULL, &err), -1);
    expect_error(err, "NULL entry");
    cr_assert_eq(rp_train_recipe(at("api.yaml"), at("never"), -1, NULL, NULL, NULL, &err), -1);
    expect_error(err, "n_sets is negative");
    cr_assert_eq(file_size(at("never")), -1, "a refused run made its directory");
}

Test(api, null_handles_read_as_zero) {
    cr_assert_eq(rp_forecaster_lookback(NULL), 0);
    cr_assert_eq(rp_forecaster_horizon(NULL), 0);
    cr_assert_eq(rp_forecaster_channels(NULL), 0);
    cr_assert_eq(rp_forecaster_threads(NULL), 0);
    cr_assert_null(rp_forecaster_channel_name(NULL, 0));
    cr_assert_eq(rp_patcher_lookback(NULL), 0);
    cr_assert_eq(rp_patcher_levels(NULL), 0);
    cr_assert_eq(rp_patcher_patches(NULL, 0), 0);
    rp_forecaster_close(NULL);
    rp_patcher_close(NULL);
}

/* ---- bad paths and the wrong kind of file ---- */

Test(api, missing_files_are_named) {
    rp_error *err = NULL;
    cr_assert_null(rp_forecaster_open("/nonexistent/dir/ck.h5", &err));
    expect_error(err, "/nonexistent/dir/ck.h5");
    cr_assert_null(rp_patcher_open("/nonexistent/dir/p.h5", &err));
    expect_error(err, "/nonexistent/dir/p.h5");
    cr_assert_eq(rp_train_recipe("/nonexistent/r.yaml", NULL, 0, NULL, NULL, NULL, &err), -1);
    expect_error(err, "/nonexistent/r.yaml");
}

Test(api, wrong_kinds_of_file_are_refused) {
    ensure_trained();
    rp_error *err = NULL;
    /* A text file, a patcher and a segmentation export are not checkpoints. */
    cr_assert_null(rp_forecaster_open(at("series.csv"), &err));
    expect_error(err, "not an HDF5 file");
    cr_assert_null(rp_forecaster_open(at("patcher.h5"), &err));
    expect_error(err, "patcher");
    cr_assert_null(rp_forecaster_open(at("seg.h5"), &err));
    expect_error(err, "segmentation");
    /* Nor is anything but a patcher or a checkpoint a level stack. */
    cr_assert_null(rp_patcher_open(at("series.csv"), &err));
    expect_error(err, "not an HDF5 file");
    cr_assert_null(rp_patcher_open(at("seg.h5"), &err));
    expect_error(err, "not a patcher file or a checkpoint");
    /* A recipe that is not a recipe, a key that does not exist. */
    cr_assert_eq(rp_train_recipe(at("series.csv"), at("never"), 0, NULL, NULL, NULL, &err), -1);
    expect_error(err, "series.csv");
    const char *bad_set[] = {"train.no_such_key=1"};
    cr_assert_eq(rp_train_recipe(at("api.yaml"), at("never"), 1, bad_set, NULL, NULL, &err), -1);
    expect_error(err, "no_such_key");
}

/* A progress callback that asks to stop ends the run after its first epoch, before that epoch's
 * checkpoint, with an error that says so. */
Test(api, progress_callback_stops_the_run) {
    ensure_trained();
    int stopped_after = 0;
    rp_error *err = NULL;
    cr_assert_eq(rp_train_recipe(at("api.yaml"), at("stopped"), 0, NULL, stop_at_once, &stopped_after, &err), -1);
    expect_error(err, "stopped by the progress callback after epoch 1");
    cr_expect_eq(stopped_after, 1);
    cr_expect_eq(file_size(at("stopped/checkpoint.h5")), -1);
    cr_expect_eq(file_size(at("stopped/metrics.json")), -1);
}

/* ---- forecaster ---- */

Test(api, forecaster_shape) {
    ensure_trained();
    rp_error stale, *err = &stale;   /* success sets *err to NULL */
    rp_forecaster *f = rp_forecaster_open(at("run/checkpoint.h5"), &err);
    cr_assert_not_null(f, "%s", f ? "" : rp_error_message(err));
    cr_assert_null(err);
    cr_assert_eq(rp_forecaster_lookback(f), LOOKBACK);
    cr_assert_eq(rp_forecaster_horizon(f), HORIZON);
    cr_assert_eq(rp_forecaster_channels(f), CHANNELS);
    cr_assert_eq(rp_forecaster_threads(f), 1);
    cr_assert_null(rp_forecaster_channel_name(f, 0), "generated data has no column names");
    cr_assert_null(rp_forecaster_channel_name(f, -1));
    cr_assert_null(rp_forecaster_channel_name(f, CHANNELS));
    rp_forecaster_close(f);
}

/* rp_forecast is predict_last_window on the transposed window: the same numbers bit for bit,
 * channel-major in and out; and a second call repeats the first. */
Test(api, forecast_equals_the_predict_path) {
    ensure_trained();
    rp_error *err = NULL, ierr;
    rp_forecaster *f = rp_forecaster_open(at("run/checkpoint.h5"), &err);
    cr_assert_not_null(f, "%s", rp_error_message(err));
    float x[CHANNELS * LOOKBACK], y[CHANNELS * HORIZON], y2[CHANNELS * HORIZON];
    make_window(x, CHANNELS, LOOKBACK);
    cr_assert_eq(rp_forecast(f, x, CHANNELS, y, &err), 0, "%s", rp_error_message(err));
    cr_assert_null(err);
    cr_assert_eq(rp_forecast(f, x, CHANNELS, y2, NULL), 0);
    cr_assert_eq(memcmp(y, y2, sizeof y), 0, "a second forecast differs");

    rp_loaded_model lm;
    rp_model_buffers b;
    memset(&b, 0, sizeof b);
    cr_assert_eq(loaded_model_from_checkpoint(&lm, at("run/checkpoint.h5"), &ierr), 0, "%s", ierr.msg);
    cr_assert_eq(model_buffers_alloc(&b, &lm.model, CHANNELS, 1, &ierr), 0, "%s", ierr.msg);
    float rows[LOOKBACK * CHANNELS], out[HORIZON * CHANNELS];
    for (int c = 0; c < CHANNELS; c++)
        for (int t = 0; t < LOOKBACK; t++) rows[t * CHANNELS + c] = x[c * LOOKBACK + t];
    cr_assert_eq(predict_last_window(&lm.model, &b, rows, LOOKBACK, CHANNELS, lm.state.mean, lm.state.std, out,
                                     &ierr), 0, "%s", ierr.msg);
    int near_level = 0;
    for (int c = 0; c < CHANNELS; c++)
        for (int h = 0; h < HORIZON; h++) {
            cr_expect_eq(y[c * HORIZON + h], out[h * CHANNELS + c], "channel %d step %d: %.9g vs %.9g", c, h,
                         y[c * HORIZON + h], out[h * CHANNELS + c]);
            /* original units: a channel's forecast lies near its level, not near 0 */
            near_level += fabsf(y[c * HORIZON + h] - 1000.0f * (c + 1)) < 500.0f;
        }
    cr_expect_eq(near_level, CHANNELS * HORIZON, "forecasts not in the window's units");
    model_buffers_free(&b);
    loaded_model_free(&lm);
    rp_forecaster_close(f);
}

/* A forecaster opened at one thread count forecasts at a larger one set afterwards: its per-thread
 * sampler workspace was sized when it was opened (the sanitizer build catches a thread past it),
 * and the numbers do not depend on the thread count. */
Test(api, forecast_after_raising_the_thread_count) {
    ensure_trained();
    rp_error *err = NULL;
    rp_set_thread_count(1);
    rp_forecaster *f = rp_forecaster_open(at("run/checkpoint.h5"), &err);
    cr_assert_not_null(f, "%s", rp_error_message(err));
    float x[CHANNELS * LOOKBACK], y1[CHANNELS * HORIZON], y4[CHANNELS * HORIZON];
    make_window(x, CHANNELS, LOOKBACK);
    cr_assert_eq(rp_forecast(f, x, CHANNELS, y1, &err), 0, "%s", rp_error_message(err));
    rp_set_thread_count(4);
    cr_assert_eq(rp_forecast(f, x, CHANNELS, y4, &err), 0, "%s", rp_error_message(err));
    rp_set_thread_count(1);
    cr_expect_eq(memcmp(y1, y4, sizeof y1), 0, "4 threads forecast otherwise than 1");
    rp_forecaster_close(f);
}

Test(api, forecast_refuses_bad_windows) {
    ensure_trained();
    rp_error *err = NULL;
    rp_forecaster *f = rp_forecaster_open(at("run/checkpoint.h5"), &err);
    cr_assert_not_null(f, "%s", rp_error_message(err));
    float x[(CHANNELS + 1) * LOOKBACK], y[(CHANNELS + 1) * HORIZON];
    make_window(x, CHANNELS + 1, LOOKBACK);
    cr_assert_eq(rp_forecast(f, x, CHANNELS + 1, y, &err), -1);
    expect_error(err, "3 channels given, the checkpoint was trained on 2");
    cr_assert_eq(rp_forecast(f, x, 1, y, &err), -1);
    expect_error(err, "1 channel given");
    x[5] = NAN;
    cr_assert_eq(rp_forecast(f, x, CHANNELS, y, &err), -1);
    expect_error(err, "non-finite");
    rp_forecaster_close(f);
}

/* ---- patcher ---- */

/* The cuts of one window: a contiguous cover of [0, L) with K = ceil(L / rate) patches. */
static void expect_cover(const int *starts, const int *lengths, int K, int L) {
    int at_step = 0;
    for (int k = 0; k < K; k++) {
        cr_expect_eq(starts[k], at_step, "patch %d starts at %d, expected %d", k, starts[k], at_step);
        cr_expect_gt(lengths[k], 0, "patch %d is empty", k);
        at_step = starts[k] + lengths[k];
    }
    cr_expect_eq(at_step, L);
}

Test(api, patcher_from_either_file_cuts_alike) {
    ensure_trained();
    rp_error stale, *err = &stale;   /* success sets *err to NULL */
    rp_patcher *pf = rp_patcher_open(at("patcher.h5"), &err);
    cr_assert_not_null(pf, "%s", pf ? "" : rp_error_message(err));
    cr_assert_null(err);
    rp_patcher *pc = rp_patcher_open(at("run/checkpoint.h5"), &err);
    cr_assert_not_null(pc, "%s", rp_error_message(err));
    cr_assert_eq(rp_patcher_lookback(pf), LOOKBACK);
    cr_assert_eq(rp_patcher_levels(pf), 1);
    cr_assert_eq(rp_patcher_patches(pf, 0), LOOKBACK / RATE);
    cr_assert_eq(rp_patcher_patches(pf, 1), 0);
    cr_assert_eq(rp_patcher_patches(pf, -1), 0);
    cr_assert_eq(rp_patcher_lookback(pc), LOOKBACK);
    cr_assert_eq(rp_patcher_patches(pc, 0), LOOKBACK / RATE);

    float x[LOOKBACK];
    int K = LOOKBACK / RATE, sf[LOOKBACK], lf[LOOKBACK], sc[LOOKBACK], lc[LOOKBACK], s2[LOOKBACK], l2[LOOKBACK];
    int differs_from_uniform = 0;
    for (int w = 0; w < 6; w++) {
        for (int t = 0; t < LOOKBACK; t++)
            x[t] = (float)(40.0 * sin(0.3 * (t + 7 * w)) + (t > 10 + w ? 25.0 * w : 0.0));
        cr_assert_eq(rp_segment(pf, x, LOOKBACK, 0, sf, lf, &err), K, "%s", rp_error_message(err));
        cr_assert_null(err);
        cr_assert_eq(rp_segment(pc, x, LOOKBACK, 0, sc, lc, NULL), K);
        cr_assert_eq(rp_segment(pf, x, LOOKBACK, 0, s2, l2, NULL), K);
        expect_cover(sf, lf, K, LOOKBACK);
        cr_expect_eq(memcmp(sf, sc, K * sizeof(int)), 0, "window %d: patcher file and checkpoint cut differently", w);
        cr_expect_eq(memcmp(lf, lc, K * sizeof(int)), 0);
        cr_expect_eq(memcmp(sf, s2, K * sizeof(int)), 0, "window %d: a second cut differs", w);
        for (int k = 0; k < K; k++) differs_from_uniform += sf[k] != k * RATE;
        /* Any units: a window and its affine image are cut alike (each window is normalised). */
        for (int t = 0; t < LOOKBACK; t++) x[t] = 4.0f * x[t] + 1000.0f;
        cr_assert_eq(rp_segment(pf, x, LOOKBACK, 0, s2, l2, NULL), K);
        cr_expect_eq(memcmp(sf, s2, K * sizeof(int)), 0, "window %d: scaling moved a cut", w);
    }
    cr_log_info("learned cuts off the uniform grid: %d of %d", differs_from_uniform, 6 * K);
    rp_patcher_close(pf);
    rp_patcher_close(pc);
}

Test(api, segment_refuses_bad_windows) {
    ensure_trained();
    rp_error *err = NULL;
    rp_patcher *p = rp_patcher_open(at("patcher.h5"), &err);
    cr_assert_not_null(p, "%s", rp_error_message(err));
    float x[LOOKBACK + 1];
    int starts[LOOKBACK], lengths[LOOKBACK];
    for (int t = 0; t <= LOOKBACK; t++) x[t] = (float)t;
    cr_assert_eq(rp_segment(p, x, LOOKBACK + 1, 0, starts, lengths, &err), -1);
    expect_error(err, "a window of 33 steps, the patcher cuts windows of 32");
    cr_assert_eq(rp_segment(p, x, LOOKBACK, 1, starts, lengths, &err), -1);
    expect_error(err, "level 1");
    cr_assert_eq(rp_segment(p, x, LOOKBACK, -1, starts, lengths, &err), -1);
    expect_error(err, "level -1");
    x[3] = INFINITY;
    cr_assert_eq(rp_segment(p, x, LOOKBACK, 0, starts, lengths, &err), -1);
    expect_error(err, "x[3]");
    rp_patcher_close(p);
}

/* ---- threads ---- */

typedef struct job {
    rp_forecaster *f;
    float x[CHANNELS * LOOKBACK], y[CHANNELS * HORIZON];
    int rc;
} job;

static void *forecast_job(void *arg) {
    job *j = arg;
    for (int i = 0; i < 5 && j->rc == 0; i++) j->rc = rp_forecast(j->f, j->x, CHANNELS, j->y, NULL);
    return NULL;
}

/* Two handles used from two threads at once give what each gives alone. */
Test(api, handles_in_two_threads) {
    ensure_trained();
    job jobs[2];
    float alone[2][CHANNELS * HORIZON];
    for (int k = 0; k < 2; k++) {
        jobs[k].f = rp_forecaster_open(at("run/checkpoint.h5"), NULL);
        cr_assert_not_null(jobs[k].f);
        make_window(jobs[k].x, CHANNELS, LOOKBACK);
        for (int i = 0; i < CHANNELS * LOOKBACK; i++) jobs[k].x[i] *= 1.0f + 0.1f * k;
        cr_assert_eq(rp_forecast(jobs[k].f, jobs[k].x, CHANNELS, alone[k], NULL), 0);
        jobs[k].rc = 0;
    }
    pthread_t th[2];
    for (int k = 0; k < 2; k++) cr_assert_eq(pthread_create(&th[k], NULL, forecast_job, &jobs[k]), 0);
    for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < 2; k++) {
        cr_expect_eq(jobs[k].rc, 0);
        cr_expect_eq(memcmp(jobs[k].y, alone[k], sizeof alone[k]), 0, "handle %d", k);
        rp_forecaster_close(jobs[k].f);
    }
}
