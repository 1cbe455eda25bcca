/* A whole training run: trainer_fit in the run directory, then the best weights scored on val and
 * test, metrics.json and test_windows.h5 (train/run.h). */
#include "train/run.h"

#include <stdio.h>

#include "core/blas.h"
#include "core/dist.h"
#include "core/util.h"
#include "train/window_scores.h"

/* Writes metrics.json (atomically) and prints the same to out. Scores that are not finite are
 * written as null and the call fails: a run whose best weights forecast NaN has no result. */
static int write_metrics(const rp_trainer *t, const rp_eval_result *val, const rp_eval_result *test,
                         double wall, double train_wps, FILE *out, rp_error *err) {
    if (dist_rank() != 0) return 0; /* rank 0 writes and prints the run's files */
    char path[RP_PATH_MAX + 32], tmp[RP_ATOMIC_TMP_MAX];
    snprintf(path, sizeof path, "%s/metrics.json", t->run_dir);
    FILE *f = rp_atomic_open(path, tmp, err);
    if (!f) return -1;
    FILE *dst[2] = {f, out};
    int nonfinite = 0;
    for (int i = 0; i < 2; i++) {
        FILE *o = dst[i];
        if (!o) continue;
        fprintf(o, "{\n  \"recipe\": ");
        rp_json_string(o, t->recipe->name);
        fprintf(o, ",\n  \"data\": ");
        rp_json_string(o, t->series.source);
        fprintf(o, ",\n  \"test\": {\"mse\": ");
        nonfinite |= rp_json_number(o, "%.6f", test->mse);
        fprintf(o, ", \"mae\": ");
        nonfinite |= rp_json_number(o, "%.6f", test->mae);
        fprintf(o, ", \"windows\": %lld, \"cuts_off_uniform\": [", test->windows);
        for (int l = 0; l < test->n_levels; l++) {
            fputs(l ? ", " : "", o);
            rp_json_number(o, "%.4f", test->off_uniform[l]);
        }
        fprintf(o, "]},\n  \"val\": {\"mse\": ");
        nonfinite |= rp_json_number(o, "%.6f", val->mse);
        fprintf(o, ", \"mae\": ");
        nonfinite |= rp_json_number(o, "%.6f", val->mae);
        fprintf(o, ", \"windows\": %lld},\n", val->windows);
        fprintf(o, "  \"epochs\": %d,\n  \"best_epoch\": %d,\n  \"steps\": %lld,\n", t->epoch, t->best_epoch + 1,
                t->step);
        fprintf(o, "  \"wall_seconds\": %.3f,\n  \"train_windows_per_second\": %.1f,\n", wall, train_wps);
        fprintf(o, "  \"parameters\": %zu,\n  \"threads\": %d", params_count_prefix(&t->model.P, ""),
                rp_threads());
        /* Under MPI only (a one-process metrics.json is unchanged): the rank count, and the bytes
         * rank 0 sent plus received in the sums of gradients and batch-norm statistics, per step. */
        if (dist_size() > 1)
            fprintf(o, ",\n  \"ranks\": %d,\n  \"bytes_exchanged_per_step\": %.0f", dist_size(),
                    t->step > 0 ? (double)t->dist_train_bytes / (double)t->step : 0.0);
        if (o == f) {
            fprintf(o, ",\n  \"resolved_recipe\": ");
            rp_json_string(o, t->recipe->text);
        }
        fprintf(o, "\n}\n");
    }
    if (rp_atomic_close(f, tmp, path, err)) return -1;
    if (nonfinite)
        return rp_fail(err, "the best weights' val or test forecasts are not finite (written as null in %s)", path);
    return 0;
}

/* trainer_run's epoch callback: the training throughput for metrics.json and, when verbose, a
 * line per epoch; then the caller's own callback. */
typedef struct run_epochs {
    const rp_train_options *opt;
    int verbose;
    double train_seconds, train_windows;
} run_epochs;

static int run_on_epoch(rp_trainer *t, const rp_epoch_report *e, void *ctx, rp_error *err) {
    run_epochs *run = ctx;
    const rp_epoch_log *log = &e->log;
    run->train_seconds += log->seconds;
    run->train_windows += log->seconds * log->windows_per_second;
    if (run->verbose) {
        fprintf(stderr, "epoch %d: train %.4f  val mse %.4f mae %.4f  lr %.2e  %.1fs  %.0f win/s%s\n", log->epoch + 1,
                log->train_loss, e->val.mse, e->val.mae, log->lr, log->seconds, log->windows_per_second,
                e->best ? "  (best)" : "");
        if (log->advantage_spread > 0)
            fprintf(stderr, "  grpg: mean reward %.4f  mean |advantage| %.3f  sign agreement %.3f (%lld decisions)\n",
                    log->mean_reward, log->advantage_spread, log->sign_agreement, log->sign_pairs);
        for (int l = 0; l < t->model.n_levels; l++)
            if (t->model.levels[l].cfg.patching != PATCHING_FIXED)
                fprintf(stderr, "  level %d: entropy %.3f  patch len %.2f +- %.2f steps  moved %.1f%%\n", l,
                        log->policy_entropy[l], log->patch_len_mean[l], log->patch_len_std[l],
                        100 * log->frac_moved[l]);
    }
    const rp_train_options *opt = run->opt;
    return opt && opt->on_epoch ? opt->on_epoch(t, e, opt->epoch_ctx, err) : 0;
}

int trainer_run(rp_trainer *t, const rp_train_options *opt, FILE *out, rp_error *err) {
    if (opt && opt->out_dir) snprintf(t->run_dir, sizeof t->run_dir, "%s", opt->out_dir);
    if (rp_mkdir_p(t->run_dir, err)) return -1;
    if (dist_rank() == 0 && t->lock_fd <= 0 && rp_lock_dir(t->run_dir, &t->lock_fd, err)) return -1;
    run_epochs run = {.opt = opt, .verbose = opt && (opt->progress || opt->verbose) && dist_rank() == 0};
    rp_train_options fit = {0};
    if (opt) fit = *opt;
    fit.on_epoch = run_on_epoch;
    fit.epoch_ctx = &run;
    /* test_windows.h5 describes the best weights of a finished run: training on changes them, so
     * the file goes now and comes back with the final evaluation. */
    char scores_path[RP_PATH_MAX + 32];
    snprintf(scores_path, sizeof scores_path, "%s/test_windows.h5", t->run_dir);
    if (dist_rank() == 0) remove(scores_path);
    double t0 = rp_now_seconds();
    if (trainer_fit(t, &fit, err)) return -1;
    if (t->stopped) return 0;
    /* Test with the weights of the best validation epoch (PatchTST's early-stopping protocol). */
    trainer_restore_best(t);
    rp_eval_result val, test;
    rp_test_windows scores;
    if (trainer_evaluate(t, SPLIT_VAL, &val, err) || trainer_score_windows(t, SPLIT_TEST, &test, &scores, err))
        return -1;
    double wall = rp_now_seconds() - t0;
    int rc = write_metrics(t, &val, &test, wall, run.train_seconds > 0 ? run.train_windows / run.train_seconds : 0,
                           out, err);
    /* Beside the checkpoint whose best weights it scored, for `reinpatch report`. */
    if (rc == 0 && dist_rank() == 0 && t->recipe->output.checkpoint && scores.n_windows > 0)
        rc = test_windows_write(scores_path, &scores, err);
    test_windows_free(&scores);
    return rc;
}
