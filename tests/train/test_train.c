/* The training loop as a whole on a tiny model: determinism, resume equivalence, early stopping
 * with best weights restored, and the three patching kinds running through one code path. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/history.h"
#include "train/run.h"
#include "train/train.h"
#include "train/window_scores.h"
#include "tests/tempdir.h"
#include "tests/small_backbone.h"

static char tmpdir[256];

static void make_tmpdir(void) { tempdir_make(tmpdir, sizeof tmpdir, "train"); }

static void remove_tmpdir(void) { tempdir_remove(tmpdir); }

TestSuite(train, .init = make_tmpdir, .fini = remove_tmpdir);

/* A recipe small enough that a run takes a fraction of a second. */
static void tiny_recipe(rp_recipe *r, const char *subdir, rp_patching patching) {
    rp_error err = {{0}};
    recipe_defaults(r);
    snprintf(r->name, sizeof r->name, "tiny");
    r->data.generated_rows = 700;
    r->data.generated_channels = 2;
    r->data.lookback = 32;
    r->data.horizon = 8;
    r->levels[0].patching = patching;
    r->levels[0].rate = 4;
    r->levels[0].patch_len = 8;
    r->levels[0].group_size = 3;
    small_backbone(r, 8, 2, 1, 16, 0.1);
    r->train.epochs = 3;
    r->train.batch_size = 32;
    r->train.eval_batch_size = 64;
    r->train.lr = 1e-3;
    r->train.schedule = SCHEDULE_TYPE3;
    r->train.threads = 1;
    r->train.patience = 10;
    r->train.max_steps_per_epoch = 6;
    snprintf(r->output.dir, sizeof r->output.dir, "%s/%s", tmpdir, subdir);
    cr_assert_eq(recipe_validate(r, &err), 0, "%s", err.msg);
    cr_assert_eq(recipe_render(r, &err), 0, "%s", err.msg);
}

typedef struct run_result {
    double val_mse, test_mse, test_mae;
    long long steps;
    int epoch;
    float *values;
    size_t n_values;
} run_result;

/* Trains (optionally stopping after stop_after epochs and resuming from the checkpoint in a
 * fresh trainer) and returns the final metrics and weights. */
static run_result train_tiny(rp_recipe *r, int stop_after) {
    rp_error err = {{0}};
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, r, &err), 0, "%s", err.msg);
    rp_train_options opt = {.stop_after_epoch = stop_after};
    cr_assert_eq(trainer_run(&t, &opt, NULL, &err), 0, "%s", err.msg);
    if (stop_after > 0) {
        char path[RP_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/checkpoint.h5", t.run_dir);
        trainer_free(&t);
        cr_assert_eq(trainer_setup(&t, r, &err), 0, "%s", err.msg);
        cr_assert_eq(trainer_load_checkpoint(&t, path, &err), 0, "%s", err.msg);
        cr_assert_eq(t.epoch, stop_after);
        rp_train_options to_the_end = {0};
        cr_assert_eq(trainer_run(&t, &to_the_end, NULL, &err), 0, "%s", err.msg);
    }
    run_result res = {0};
    rp_eval_result val, test;
    cr_assert_eq(trainer_evaluate(&t, SPLIT_VAL, &val, &err), 0, "%s", err.msg);
    cr_assert_eq(trainer_evaluate(&t, SPLIT_TEST, &test, &err), 0, "%s", err.msg);
    res.val_mse = val.mse;
    res.test_mse = test.mse;
    res.test_mae = test.mae;
    res.steps = t.step;
    res.epoch = t.epoch;
    res.n_values = t.model.P.total;
    res.values = malloc(res.n_values * sizeof(float));
    memcpy(res.values, t.model.P.value, res.n_values * sizeof(float));
    trainer_free(&t);
    return res;
}

static void free_result(run_result *r) { free(r->values); }

Test(train, same_seed_same_bits) {
    rp_recipe r;
    tiny_recipe(&r, "a", PATCHING_FIXED);
    run_result a = train_tiny(&r, 0);
    run_result b = train_tiny(&r, 0);
    cr_assert(isfinite(a.test_mse) && a.test_mse > 0);
    cr_assert_eq(a.n_values, b.n_values);
    cr_assert_eq(memcmp(a.values, b.values, a.n_values * sizeof(float)), 0, "weights differ between two runs");
    cr_assert_eq(a.test_mse, b.test_mse);
    /* A different seed trains a different model: the comparison above can fail. */
    r.train.seed += 1;
    run_result c = train_tiny(&r, 0);
    cr_assert_neq(memcmp(a.values, c.values, a.n_values * sizeof(float)), 0);
    free_result(&a); free_result(&b); free_result(&c);
    recipe_free(&r);
}

static void check_resume_equivalence(rp_patching patching) {
    rp_recipe r;
    tiny_recipe(&r, "whole", patching);
    run_result whole = train_tiny(&r, 0);
    recipe_free(&r);
    tiny_recipe(&r, "resumed", patching);
    run_result resumed = train_tiny(&r, 1);
    cr_assert_eq(whole.epoch, 3);
    cr_assert_eq(resumed.epoch, 3);
    cr_assert_eq(whole.steps, resumed.steps);
    cr_assert_eq(memcmp(whole.values, resumed.values, whole.n_values * sizeof(float)), 0,
                 "resumed weights differ from the uninterrupted run");
    cr_assert_eq(whole.test_mse, resumed.test_mse);
    cr_assert_eq(whole.test_mae, resumed.test_mae);
    free_result(&whole); free_result(&resumed);
    recipe_free(&r);
}

Test(train, resume_after_epoch_is_bit_identical_fixed) { check_resume_equivalence(PATCHING_FIXED); }
Test(train, resume_after_epoch_is_bit_identical_learned) { check_resume_equivalence(PATCHING_LEARNED); }

Test(train, learns_the_generated_series) {
    rp_recipe r;
    tiny_recipe(&r, "learn", PATCHING_FIXED);
    rp_error err = {{0}};
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, &r, &err), 0, "%s", err.msg);
    rp_eval_result before, after;
    cr_assert_eq(trainer_evaluate(&t, SPLIT_VAL, &before, &err), 0, "%s", err.msg);
    r.train.max_steps_per_epoch = 0;
    rp_train_options opt = {0};
    cr_assert_eq(trainer_run(&t, &opt, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(trainer_evaluate(&t, SPLIT_VAL, &after, &err), 0, "%s", err.msg);
    cr_assert_lt(after.mse, 0.7 * before.mse, "val mse %f -> %f", before.mse, after.mse);
    trainer_free(&t);
    recipe_free(&r);
}

Test(train, best_weights_are_restored_for_test) {
    rp_recipe r;
    tiny_recipe(&r, "best", PATCHING_FIXED);
    /* A learning rate this large makes validation loss jump around, so the last epoch is rarely
     * the best one; whichever it is, the weights at the end must be the best epoch's. */
    r.train.lr = 0.05;
    r.train.epochs = 4;
    rp_error err = {{0}};
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, &r, &err), 0, "%s", err.msg);
    rp_train_options opt = {0};
    cr_assert_eq(trainer_run(&t, &opt, NULL, &err), 0, "%s", err.msg);
    rp_eval_result val;
    cr_assert_eq(trainer_evaluate(&t, SPLIT_VAL, &val, &err), 0, "%s", err.msg);
    cr_assert_eq(val.mse, t.best_val, "val after restore %.9g, best seen %.9g", val.mse, t.best_val);
    cr_assert_eq(memcmp(t.model.P.value, t.best_values, t.model.P.total * sizeof(float)), 0);
    trainer_free(&t);
    recipe_free(&r);
}

/* trainer_fit's callback sees every epoch once, in order, after its validation: the best flag
 * follows the validation MSE, the model holds that epoch's weights, and a non-zero return stops
 * the loop with the callback's error. */
typedef struct seen_epochs {
    int n, epochs[8], stop_at;
    double best_mse;
} seen_epochs;

static int see_epoch(rp_trainer *t, const rp_epoch_report *e, void *ctx, rp_error *err) {
    seen_epochs *seen = ctx;
    seen->epochs[seen->n++] = e->log.epoch;
    cr_assert_eq(t->epoch, e->log.epoch + 1);
    cr_assert_eq(e->log.steps, 6);
    cr_assert(e->val.windows > 0 && isfinite(e->val.mse));
    cr_assert_eq(e->best, e->val.mse < seen->best_mse, "epoch %d: best %d, val %g, best so far %g", e->log.epoch,
                 e->best, e->val.mse, seen->best_mse);
    if (e->best) {
        seen->best_mse = e->val.mse;
        cr_assert_eq(memcmp(t->model.P.value, t->best_values, t->model.P.total * sizeof(float)), 0);
    }
    if (seen->stop_at == e->log.epoch) return rp_fail(err, "stopped by the callback at epoch %d", e->log.epoch);
    return 0;
}

Test(train, fit_calls_back_after_every_epoch) {
    rp_recipe r;
    tiny_recipe(&r, "fit", PATCHING_LEARNED);
    r.output.checkpoint = false;
    r.train.lr = 0.05;
    rp_error err = {{0}};
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, &r, &err), 0, "%s", err.msg);
    seen_epochs seen = {.stop_at = -1, .best_mse = INFINITY};
    rp_train_options opt = {.on_epoch = see_epoch, .epoch_ctx = &seen};
    cr_assert_eq(trainer_fit(&t, &opt, &err), 0, "%s", err.msg);
    cr_assert_eq(seen.n, 3);
    for (int e = 0; e < 3; e++) cr_assert_eq(seen.epochs[e], e);
    cr_assert_eq(t.best_val, seen.best_mse);
    cr_assert(!t.stopped);
    trainer_free(&t);

    cr_assert_eq(trainer_setup(&t, &r, &err), 0, "%s", err.msg);
    seen = (seen_epochs){.stop_at = 1, .best_mse = INFINITY};
    cr_assert_neq(trainer_fit(&t, &opt, &err), 0);
    cr_assert(strstr(err.msg, "stopped by the callback at epoch 1"), "%s", err.msg);
    cr_assert_eq(seen.n, 2);
    trainer_free(&t);
    recipe_free(&r);
}

ParameterizedTestParameters(train, every_patching_kind_runs_with_exact_counts) {
    static rp_patching kinds[] = {PATCHING_FIXED, PATCHING_RANDOM, PATCHING_LEARNED};
    return cr_make_param_array(rp_patching, kinds, sizeof kinds / sizeof *kinds);
}

ParameterizedTest(rp_patching *kind, train, every_patching_kind_runs_with_exact_counts) {
    rp_recipe r;
    tiny_recipe(&r, rp_patching_names[*kind], *kind);
    r.train.epochs = 1;
    rp_error err = {{0}};
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, &r, &err), 0, "%s", err.msg);
    rp_train_options opt = {0};
    cr_assert_eq(trainer_run(&t, &opt, NULL, &err), 0, "%s", err.msg);
    /* The last batch's segmentations: exactly K segments, in order, covering the window. */
    const rp_level *lv = &t.model.levels[0];
    cr_assert_eq(lv->K, 8);
    for (int row = 0; row < 8; row++)
        cr_assert_eq(seg_check(&lv->spec, t.buf.lv[0].starts + (size_t)row * lv->K, &err), 0, "%s: %s",
                     rp_patching_names[*kind], err.msg);
    rp_eval_result test;
    cr_assert_eq(trainer_evaluate(&t, SPLIT_TEST, &test, &err), 0, "%s", err.msg);
    cr_assert(isfinite(test.mse), "%s: test mse %g", rp_patching_names[*kind], test.mse);
    trainer_free(&t);
    recipe_free(&r);
}

Test(train, frozen_policy_is_bit_identical_after_training) {
    rp_recipe r;
    tiny_recipe(&r, "frozen", PATCHING_LEARNED);
    r.levels[0].trainable = false;
    rp_error err = {{0}};
    cr_assert_eq(recipe_render(&r, &err), 0, "%s", err.msg);
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(t.group, 1, "a frozen policy decodes greedily: one rollout per window");
    const rp_tensor_info *w = params_find(&t.model.P, "levels/0/policy/conv0/w");
    const rp_tensor_info *head = params_find(&t.model.P, "head/w");
    cr_assert_not_null(w);
    cr_assert_not_null(head);
    /* Move the policy off its zero-initialised output so it is a real, non-uniform patcher. */
    const rp_tensor_info *out = params_find(&t.model.P, "levels/0/policy/out/w");
    cr_assert_not_null(out);
    for (size_t i = 0; i < out->count; i++) t.model.P.value[out->offset + i] = 0.3f * (float)((i % 5) - 2);
    size_t n_policy = params_count_prefix(&t.model.P, "levels/0/policy");
    cr_assert_gt(n_policy, 0);
    float *before = malloc(t.model.P.total * sizeof(float));
    memcpy(before, t.model.P.value, t.model.P.total * sizeof(float));
    rp_train_options opt = {0};
    cr_assert_eq(trainer_run(&t, &opt, NULL, &err), 0, "%s", err.msg);
    for (int i = 0; i < t.model.P.n_tensors; i++) {
        const rp_tensor_info *ti = &t.model.P.tensors[i];
        int same = memcmp(before + ti->offset, t.model.P.value + ti->offset, ti->count * sizeof(float)) == 0;
        if (!strncmp(ti->name, "levels/0/policy", 15)) cr_assert(same, "%s changed", ti->name);
    }
    cr_assert_neq(memcmp(before + head->offset, t.model.P.value + head->offset, head->count * sizeof(float)), 0,
                  "the backbone's head did not train");
    free(before);
    trainer_free(&t);
    recipe_free(&r);
}

/* backbone_loss: greedy trains the backbone on the greedy segmentation alone: with a frozen-
 * output policy whose greedy cut is uniform, the backbone's update equals the one a fixed-patching
 * run makes on the same windows, whatever the sampled rollouts were. */
Test(train, greedy_backbone_loss_uses_the_greedy_pass_only) {
    rp_recipe fixed, greedy;
    tiny_recipe(&fixed, "g_fixed", PATCHING_FIXED);
    tiny_recipe(&greedy, "g_greedy", PATCHING_LEARNED);
    fixed.train.epochs = greedy.train.epochs = 1;
    fixed.train.max_steps_per_epoch = greedy.train.max_steps_per_epoch = 1;
    fixed.backbone.dropout = greedy.backbone.dropout = 0;
    greedy.train.backbone_loss = BACKBONE_LOSS_GREEDY;
    /* At init a learned level's logits are its uniform-spacing prior, so its greedy cut is uniform. */
    rp_error err = {{0}};
    rp_trainer a, b;
    cr_assert_eq(trainer_setup(&a, &fixed, &err), 0, "%s", err.msg);
    cr_assert_eq(trainer_setup(&b, &greedy, &err), 0, "%s", err.msg);
    cr_assert_gt(b.group, 1);
    /* Same backbone start: copy every shared tensor from a to b. */
    for (int i = 0; i < a.model.P.n_tensors; i++) {
        const rp_tensor_info *ta = &a.model.P.tensors[i];
        const rp_tensor_info *tb = params_find(&b.model.P, ta->name);
        cr_assert_not_null(tb, "%s", ta->name);
        memcpy(b.model.P.value + tb->offset, a.model.P.value + ta->offset, ta->count * sizeof(float));
    }
    rp_epoch_log la, lb;
    cr_assert_eq(trainer_train_epoch(&a, 0, 1, 0, &la, &err), 0, "%s", err.msg);
    cr_assert_eq(trainer_train_epoch(&b, 0, 1, 0, &lb, &err), 0, "%s", err.msg);
    const rp_tensor_info *ha = params_find(&a.model.P, "head/w"), *hb = params_find(&b.model.P, "head/w");
    double diff = 0;
    for (size_t j = 0; j < ha->count; j++) diff += fabs(a.model.P.value[ha->offset + j] - b.model.P.value[hb->offset + j]);
    cr_assert_lt(diff, 1e-6, "the greedy-loss backbone step differs from the fixed one by %g", diff);
    trainer_free(&a);
    trainer_free(&b);
    recipe_free(&fixed);
    recipe_free(&greedy);
}

/* The files two runs that should be the same run left in tmpdir/a and tmpdir/b: history.csv row
 * for row in every column but the wall-clock ones (seconds, train_windows_per_second: those of a
 * resumed epoch are the sum of its two parts' times), sign_agreement.csv byte for byte, and
 * test_windows.h5 value for value. */
static void run_files(char pa[600], char pb[600], const char *a, const char *b, const char *name) {
    snprintf(pa, 600, "%s/%s/%s", tmpdir, a, name);
    snprintf(pb, 600, "%s/%s/%s", tmpdir, b, name);
}

static void expect_same_run_files(const char *a, const char *b) {
    char pa[600], pb[600];
    rp_error err = {{0}};
    rp_history ha, hb;
    run_files(pa, pb, a, b, "history.csv");
    cr_assert_eq(history_read(pa, &ha, &err), 0, "%s", err.msg);
    cr_assert_eq(history_read(pb, &hb, &err), 0, "%s", err.msg);
    cr_assert_eq(ha.n_rows, hb.n_rows);
    for (int e = 0; e < ha.n_rows; e++) {
        rp_history_row x = ha.rows[e], y = hb.rows[e];
        cr_expect_gt(y.seconds, 0);
        x.seconds = y.seconds = x.windows_per_second = y.windows_per_second = 0;
        cr_expect_eq(memcmp(&x, &y, sizeof x), 0, "epoch %d: train loss %.17g / %.17g, reward %.17g / %.17g, "
                     "entropy %.17g / %.17g, patch length %.17g / %.17g", e + 1, x.train_loss, y.train_loss,
                     x.mean_reward, y.mean_reward, x.entropy[0], y.entropy[0], x.patch_len_mean[0],
                     y.patch_len_mean[0]);
    }
    history_free(&ha);
    history_free(&hb);
    run_files(pa, pb, a, b, "sign_agreement.csv");
    FILE *fa = fopen(pa, "r"), *fb = fopen(pb, "r");
    cr_assert(fa && fb, "no sign_agreement.csv");
    char ta[4096] = "", tb[4096] = "";
    size_t na = fread(ta, 1, sizeof ta - 1, fa), nb = fread(tb, 1, sizeof tb - 1, fb);
    fclose(fa);
    fclose(fb);
    cr_expect(na == nb && !memcmp(ta, tb, na), "sign_agreement.csv:\n%s\nand\n%s", ta, tb);
    rp_test_windows sa, sb;
    run_files(pa, pb, a, b, "test_windows.h5");
    cr_assert_eq(test_windows_read(pa, &sa, &err), 0, "%s", err.msg);
    cr_assert_eq(test_windows_read(pb, &sb, &err), 0, "%s", err.msg);
    cr_assert_eq(sa.n_windows, sb.n_windows);
    cr_expect_eq(sa.step, sb.step);
    cr_expect_eq(memcmp(sa.mse, sb.mse, (size_t)sa.n_windows * sizeof(double)), 0, "per-window test MSE");
    for (int l = 0; l < sa.n_levels; l++)
        cr_expect_eq(memcmp(sa.length_count[l], sb.length_count[l], ((size_t)sa.lookback + 1) * sizeof(int64_t)), 0);
    test_windows_free(&sa);
    test_windows_free(&sb);
}

/* A checkpoint written mid-epoch (train.checkpoint_every steps) resumes to the same bits: the
 * epoch's shuffle is drawn again from the generator saved as it was when the epoch began, and the
 * epoch's running sums (train loss, GRPG and patch statistics) go on from the checkpoint's, so the
 * run's files are the uninterrupted run's. */
Test(train, resume_mid_epoch_is_bit_identical) {
    rp_recipe r;
    tiny_recipe(&r, "mid_whole", PATCHING_LEARNED);
    r.train.checkpoint_every = 4; /* 6 steps per epoch: checkpoints inside epochs 1, 2 and 3 */
    rp_error err = {{0}};
    cr_assert_eq(recipe_render(&r, &err), 0, "%s", err.msg);
    run_result whole = train_tiny(&r, 0);
    recipe_free(&r);

    tiny_recipe(&r, "mid_resumed", PATCHING_LEARNED);
    r.train.checkpoint_every = 4;
    cr_assert_eq(recipe_render(&r, &err), 0, "%s", err.msg);
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, &r, &err), 0, "%s", err.msg);
    rp_train_options stop = {.stop_after_step = 8}; /* inside epoch 2 (steps 7..12) */
    cr_assert_eq(trainer_run(&t, &stop, NULL, &err), 0, "%s", err.msg);
    cr_assert(t.stopped);
    cr_assert_eq(t.step, 8);
    char path[RP_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/checkpoint.h5", t.run_dir);
    trainer_free(&t);

    cr_assert_eq(trainer_setup(&t, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(trainer_load_checkpoint(&t, path, &err), 0, "%s", err.msg);
    cr_assert_eq(t.epoch, 1);
    cr_assert_eq(t.step_in_epoch, 2);
    rp_train_options to_the_end = {0};
    cr_assert_eq(trainer_run(&t, &to_the_end, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(t.step, whole.steps);
    cr_assert_eq(memcmp(whole.values, t.model.P.value, whole.n_values * sizeof(float)), 0,
                 "weights after a mid-epoch resume differ from the uninterrupted run");
    rp_eval_result test;
    cr_assert_eq(trainer_evaluate(&t, SPLIT_TEST, &test, &err), 0, "%s", err.msg);
    cr_assert_eq(test.mse, whole.test_mse);
    trainer_free(&t);
    free_result(&whole);
    recipe_free(&r);
    expect_same_run_files("mid_whole", "mid_resumed");
}

/* ---- train.backbone_loss: mixed ---- */

/* Parameters after `steps` optimizer steps of epoch 0 (malloc'd; *n their count). */
static float *train_steps(rp_recipe *r, int steps, size_t *n) {
    rp_error err = {{0}};
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, r, &err), 0, "%s", err.msg);
    rp_epoch_log log;
    cr_assert_eq(trainer_train_epoch(&t, 0, steps, 0, &log, &err), 0, "%s", err.msg);
    *n = t.model.P.total;
    float *v = malloc(*n * sizeof(float));
    memcpy(v, t.model.P.value, *n * sizeof(float));
    trainer_free(&t);
    return v;
}

/* mix_share 0 is the plain loss bit for bit (fixed: `all`; learned: `greedy`); mix_share 0.5
 * trains on other cuts (other weights), the same ones every time. */
static void check_mixed(rp_patching patching, rp_backbone_loss plain) {
    rp_recipe r;
    tiny_recipe(&r, "mixed", patching);
    r.train.backbone_loss = plain;
    size_t n0, n1, n2, n3;
    float *base = train_steps(&r, 4, &n0);
    r.train.backbone_loss = BACKBONE_LOSS_MIXED;
    r.train.mix_share = 0;
    float *share0 = train_steps(&r, 4, &n1);
    r.train.mix_share = 0.5;
    float *mixed = train_steps(&r, 4, &n2), *again = train_steps(&r, 4, &n3);
    cr_assert_eq(n0, n1);
    cr_assert_eq(memcmp(base, share0, n0 * sizeof(float)), 0, "mix_share 0 differs from the plain loss");
    cr_assert_neq(memcmp(base, mixed, n0 * sizeof(float)), 0, "mix_share 0.5 trains like the plain loss");
    cr_assert_eq(memcmp(mixed, again, n0 * sizeof(float)), 0, "mixed training does not repeat");
    free(base); free(share0); free(mixed); free(again);
    recipe_free(&r);
}

Test(train, mixed_loss_fixed_level_trains_on_jittered_cuts) { check_mixed(PATCHING_FIXED, BACKBONE_LOSS_ALL); }
Test(train, mixed_loss_learned_level_trains_on_samples) { check_mixed(PATCHING_LEARNED, BACKBONE_LOSS_GREEDY); }

/* PatchTST's test scoring (drop_last): the kept windows are samples 0..kept-1 of every channel,
 * kept a whole number of batches; the MSE is their per-window MSEs' mean, the MAE theirs; a batch
 * of one sample keeps everything and equals the plain evaluation; bad batches are errors. */
Test(train, drop_last_scores_whole_batches_of_samples) {
    rp_recipe r;
    rp_error err = {{0}};
    tiny_recipe(&r, "drop_last", PATCHING_FIXED);
    r.train.epochs = 1;
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, &r, &err), 0, "%s", err.msg);
    rp_train_options opt = {0};
    cr_assert_eq(trainer_run(&t, &opt, NULL, &err), 0, "%s", err.msg);
    rp_eval_result all, kept, one;
    rp_test_windows s;
    cr_assert_eq(trainer_score_windows(&t, SPLIT_TEST, &all, &s, &err), 0, "%s", err.msg);
    int pc = t.data.split[SPLIT_TEST].per_channel, C = t.data.channels, batch = 8;
    cr_assert_gt(pc % batch, 0, "the split must leave a partial batch (%d samples)", pc);
    cr_assert_eq(trainer_evaluate_drop_last(&t, SPLIT_TEST, batch, &kept, &err), 0, "%s", err.msg);
    int per = pc / batch * batch;
    cr_expect_eq(kept.windows, (long long)per * C);
    double sum = 0;
    for (int w = 0; w < s.n_windows; w++)
        if (s.start_row[w] - t.data.split[SPLIT_TEST].begin < per) sum += s.mse[w];
    cr_expect_float_eq(kept.mse, sum / ((double)per * C), 1e-9, "kept %.12g, from the window scores %.12g", kept.mse,
                       sum / ((double)per * C));
    cr_expect_neq(kept.mse, all.mse);
    cr_expect(isfinite(kept.mae) && kept.mae > 0);
    cr_assert_eq(trainer_evaluate_drop_last(&t, SPLIT_TEST, 1, &one, &err), 0, "%s", err.msg);
    cr_expect_eq(one.windows, all.windows);
    cr_expect_eq(one.mse, all.mse);
    cr_expect_eq(one.mae, all.mae);
    cr_expect_eq(trainer_evaluate_drop_last(&t, SPLIT_TEST, pc + 1, &one, &err), -1);
    cr_expect(strstr(err.msg, "fewer than one batch"), "%s", err.msg);
    cr_expect_eq(trainer_evaluate_drop_last(&t, SPLIT_TEST, 0, &one, &err), -1);
    test_windows_free(&s);
    trainer_free(&t);
    recipe_free(&r);
}
