/* The compression-frontier pieces in the training loop: changepoint patching, a learned level
 * warm-started from it (policy.init: changepoint), every train.advantage mode, and the advantage
 * sign agreement file. Tiny models on the generated series. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/predict.h"
#include "train/run.h"
#include "train/train.h"
#include "tests/tempdir.h"

static char tmpdir[256];
static void make_tmpdir(void) { tempdir_make(tmpdir, sizeof tmpdir, "frontier"); }
static void remove_tmpdir(void) { tempdir_remove(tmpdir); }
TestSuite(frontier, .init = make_tmpdir, .fini = remove_tmpdir);

/* A run of a fraction of a second, written as a recipe file would be. */
static const char *const TINY =
    "data: {generated: {rows: 700, channels: 2}, lookback: 48, horizon: 8}\n"
    "levels: [{rate: 6, patch_len: 12, min_len: 4, group_size: 3}]\n"
    "backbone: {d_model: 8, n_heads: 2, n_layers: 1, d_ff: 16}\n"
    "train: {epochs: 2, batch_size: 32, eval_batch_size: 64, lr: 1.0e-3, threads: 1,\n"
    "        max_steps_per_epoch: 4, backbone_loss: greedy}\n";

static void tiny(rp_recipe *r, const char *subdir, rp_patching patching) {
    rp_error err = {{0}};
    cr_assert_eq(recipe_parse(TINY, "tiny.yaml", r, &err), 0, "%s", err.msg);
    r->levels[0].patching = patching;
    snprintf(r->output.dir, sizeof r->output.dir, "%s/%s", tmpdir, subdir);
    cr_assert_eq(recipe_validate(r, &err), 0, "%s", err.msg);
    cr_assert_eq(recipe_render(r, &err), 0, "%s", err.msg);
}

static rp_eval_result run_weights(rp_recipe *r, double *weights) {
    rp_error err = {{0}};
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, r, &err), 0, "%s", err.msg);
    rp_train_options opt = {0};
    cr_assert_eq(trainer_run(&t, &opt, NULL, &err), 0, "%s", err.msg);
    rp_eval_result test;
    cr_assert_eq(trainer_evaluate(&t, SPLIT_TEST, &test, &err), 0, "%s", err.msg);
    if (weights) {
        *weights = 0;
        for (size_t i = 0; i < t.model.P.total; i++) *weights += t.model.P.value[i];
    }
    trainer_free(&t);
    return test;
}

static rp_eval_result run(rp_recipe *r) { return run_weights(r, NULL); }

Test(frontier, changepoint_level_trains_off_the_grid) {
    rp_recipe r;
    tiny(&r, "cp", PATCHING_CHANGEPOINT);
    rp_eval_result test = run(&r);
    cr_assert(isfinite(test.mse) && test.mse > 0, "mse %g", test.mse);
    cr_assert(test.off_uniform[0] > 0.05, "changepoint cuts off the uniform grid: %g", test.off_uniform[0]);
    recipe_free(&r);
}

/* Every window's level-1 starts of a freshly initialised model in evaluation mode. */
static int32_t *val_starts(rp_recipe *r, int *count) {
    rp_error err = {{0}};
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, r, &err), 0, "%s", err.msg);
    int n = t.data.split[SPLIT_VAL].n_windows, K = t.model.levels[0].K;
    int32_t *starts = malloc((size_t)n * K * sizeof(int32_t));
    int32_t *levels[1] = {starts};
    cr_assert_eq(predict_segment_split(&t.model, &t.buf, &t.data, SPLIT_VAL, 1, 0, levels, &err), 0, "%s", err.msg);
    *count = n * K;
    trainer_free(&t);
    return starts;
}

Test(frontier, policy_init_changepoint_starts_as_changepoint_patching) {
    rp_recipe cp, learned, uniform;
    tiny(&cp, "init_cp", PATCHING_CHANGEPOINT);
    tiny(&learned, "init_learned", PATCHING_LEARNED);
    learned.levels[0].policy_init = POLICY_INIT_CHANGEPOINT;
    tiny(&uniform, "init_uniform", PATCHING_LEARNED);
    int n_cp, n_learned, n_uniform;
    int32_t *a = val_starts(&cp, &n_cp), *b = val_starts(&learned, &n_learned), *u = val_starts(&uniform, &n_uniform);
    cr_assert_eq(n_cp, n_learned);
    cr_assert(memcmp(a, b, (size_t)n_cp * sizeof *a) == 0, "greedy decoding at init is changepoint patching");
    /* and not what the uniform-prior policy starts from */
    cr_assert(memcmp(a, u, (size_t)n_cp * sizeof *a) != 0);
    free(a); free(b); free(u);
    recipe_free(&cp); recipe_free(&learned); recipe_free(&uniform);
}

Test(frontier, every_advantage_mode_trains_and_logs_sign_agreement) {
    const rp_advantage modes[4] = {ADVANTAGE_GROUP_STD, ADVANTAGE_GROUP_MEAN, ADVANTAGE_LEAVE_ONE_OUT,
                                   ADVANTAGE_GREEDY_BASELINE};
    double weights[4];
    for (int m = 0; m < 4; m++) {
        rp_recipe r;
        char sub[32];
        snprintf(sub, sizeof sub, "adv%d", m);
        tiny(&r, sub, PATCHING_LEARNED);
        r.train.advantage = modes[m];
        r.train.policy_lr = 1e-2; /* large enough that the estimators' updates differ within 8 steps */
        rp_eval_result test = run_weights(&r, &weights[m]);
        cr_assert(isfinite(test.mse), "mode %d: mse %g", m, test.mse);
        char path[RP_PATH_MAX + 32], line[256];
        snprintf(path, sizeof path, "%s/sign_agreement.csv", r.output.dir);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "%s", path);
        cr_assert_not_null(fgets(line, sizeof line, f));
        cr_assert_str_eq(line, "epoch,advantage,sign_agreement,sign_decisions\n");
        int rows = 0;
        while (fgets(line, sizeof line, f)) {
            int epoch;
            char name[32];
            double agree;
            long long pairs;
            cr_assert_eq(sscanf(line, "%d,%31[a-z_],%lf,%lld", &epoch, name, &agree, &pairs), 4, "%s", line);
            cr_assert_eq(epoch, ++rows);
            cr_assert_str_eq(name, rp_advantage_names[modes[m]]);
            cr_assert(pairs > 0 && agree >= 0 && agree <= 1, "%s", line);
        }
        fclose(f);
        cr_assert_eq(rows, 2);
        recipe_free(&r);
    }
    /* The estimators scale and shift the same rewards differently, so the policies part. */
    for (int m = 1; m < 4; m++) cr_assert(weights[m] != weights[0], "mode %d: %.9g", m, weights[m]);
}

Test(frontier, fixed_run_writes_no_sign_agreement) {
    rp_recipe r;
    tiny(&r, "fixed", PATCHING_FIXED);
    run(&r);
    char path[RP_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/sign_agreement.csv", r.output.dir);
    FILE *f = fopen(path, "r");
    cr_assert_null(f);
    recipe_free(&r);
}
