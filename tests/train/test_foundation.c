/* The foundation patcher (docs/foundation.md): a level stack pretrained by `reinpatch
 * pretrain-patcher` on two tiny generated .tsf sources round-trips through its file, segments a
 * third source it never saw with exact per-level counts, and, loaded frozen with levels_from,
 * receives no update while the backbone trains. Also levels_from's rules and a trainer on a pool
 * dataset whose test split is empty. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/blas.h"
#include "core/util.h"
#include "io/checkpoint.h"
#include "io/patcher_file.h"
#include "io/pool.h"
#include "io/segexport.h"
#include "levels/segmentation.h"
#include "train/patcher_load.h"
#include "train/predict.h"
#include "train/run.h"
#include "train/train.h"
#include "tests/run_command.h"
#include "tests/tempdir.h"

#define LOOKBACK 32
#define HORIZON 8

static char tmpdir[256];

static void make_tmpdir(void) { tempdir_make(tmpdir, sizeof tmpdir, "foundation"); }
static void remove_tmpdir(void) { tempdir_remove(tmpdir); }

TestSuite(foundation, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 60);

static const char *at(const char *name) { return tempdir_file(tmpdir, name); }

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* A .tsf collection of generated series (seasonal waves, trends, regime changes, noise), one per
 * length, each a different channel of series_generate. */
static void write_tsf(const char *path, const int *lengths, int n, unsigned long long seed) {
    int rows = 0;
    for (int i = 0; i < n; i++) rows = lengths[i] > rows ? lengths[i] : rows;
    rp_series s;
    rp_error err;
    cr_assert_eq(series_generate(&s, rows, n, seed, &err), 0, "%s", err.msg);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fprintf(f, "# generated for the foundation tests\n@relation generated\n@attribute series_name string\n"
               "@frequency hourly\n@missing false\n@equallength false\n@data\n");
    for (int c = 0; c < n; c++) {
        fprintf(f, "S%d:", c);
        for (int t = 0; t < lengths[c]; t++) fprintf(f, "%s%.6g", t ? "," : "", s.values[(size_t)t * n + c]);
        fputc('\n', f);
    }
    fclose(f);
    series_free(&s);
}

/* The two pretraining sources (in sources/) and the unseen third (c.tsf). Minimum length used:
 * L + H + 1 = 41; the 20-row series is skipped. */
static const int A_LEN[3] = {300, 20, 180}, B_LEN[3] = {250, 41, 120}, C_LEN[4] = {100, 64, 31, 96};

static const char *TINY_PATCHER =
    "name: tiny_patcher\n"
    "data: {lookback: 32, horizon: 8}\n"
    "levels:\n"
    "  - {patching: learned, rate: 4, patch_len: 8, group_size: 3, policy: {channels: 8, kernel: 3, layers: 1}}\n"
    "  - {patching: learned, rate: 2, tokens: pooled, group_size: 3, policy: {channels: 8, kernel: 3, layers: 1}}\n"
    "backbone: {d_model: 8, n_heads: 2, n_layers: 1, d_ff: 16, dropout: 0.0, inputs: all}\n"
    "train: {epochs: 2, batch_size: 16, eval_batch_size: 64, lr: 1.0e-3, schedule: constant,\n"
    "        max_steps_per_epoch: 4, threads: 1, patience: 5, seed: 5}\n";

/* Pretrains the tiny patcher with the CLI into tmpdir/pt. */
static void pretrain_tiny(void) {
    mkdir(at("sources"), 0755);
    write_tsf(at("sources/a.tsf"), A_LEN, 3, 11);
    write_tsf(at("sources/b.tsf"), B_LEN, 3, 12);
    write_tsf(at("c.tsf"), C_LEN, 4, 13);
    write_file(at("tiny.yaml"), TINY_PATCHER);
    command_result r = run_reinpatch(tmpdir, "pretrain-patcher", "tiny.yaml", "--sources", "sources", "--out", "pt",
                                     "--quiet", NULL);
    cr_assert_eq(r.status, 0, "pretrain-patcher failed: %s", r.err);
    command_result_free(&r);
}

/* The recipe a patcher file was trained with, levels and lookback from its attributes. */
static void patcher_recipe(const char *path, rp_recipe *r) {
    rp_error err;
    char *text = NULL;
    cr_assert_eq(patcher_read_recipe(path, &text, &err), 0, "%s", err.msg);
    cr_assert_eq(recipe_parse(text, "patcher", r, &err), 0, "%s", err.msg);
    free(text);
    cr_assert_eq(patcher_load_recipe(path, r, &err), 0, "%s", err.msg);
}

/* 1 when every policy tensor of a and b holds the same bits. */
static int same_policy(const rp_params *a, const rp_params *b) {
    int n = 0;
    for (int i = 0; i < a->n_tensors; i++) {
        const rp_tensor_info *ta = &a->tensors[i];
        if (!patcher_is_policy_tensor(ta->name)) continue;
        const rp_tensor_info *tb = params_find(b, ta->name);
        if (!tb || tb->count != ta->count) return 0;
        if (memcmp(a->value + ta->offset, b->value + tb->offset, ta->count * sizeof(float))) return 0;
        n++;
    }
    return n > 0;
}

Test(foundation, pretrained_patcher_round_trips_and_segments_an_unseen_source) {
    pretrain_tiny();
    /* The report counts the pool: 6 series, the 20-row one skipped as too short. */
    char *json = slurp(at("pt/pretrain_report.json"));
    cr_expect_not_null(strstr(json, "\"pool\": {\"sources\": 2, \"series\": 6, \"used\": 5, \"skipped_short\": 1, "
                                    "\"skipped_missing\": 0"), "%s", json);
    cr_expect_not_null(strstr(json, "\"name\": \"a.tsf\""), "%s", json);
    cr_expect_not_null(strstr(json, "\"mean_reward\": -"), "%s", json);
    cr_expect_not_null(strstr(json, "\"histogram\": {\"length\": ["), "%s", json);
    free(json);
    char *md = slurp(at("pt/pretrain_report.md"));
    cr_expect_not_null(strstr(md, "## Training (GRPG reward curve)"));
    cr_expect_not_null(strstr(md, "| b.tsf | 3 | 3 | 0 |"), "%s", md);
    free(md);
    struct stat st;
    cr_expect_eq(stat(at("pt/checkpoint.h5"), &st), 0);

    /* Round trip: the file holds the checkpoint's best-validation policy; loaded into a model
     * initialised differently, saved again and reloaded, the tensors keep every bit. */
    rp_error err;
    rp_set_threads(1);
    rp_recipe r;
    patcher_recipe(at("pt/patcher.h5"), &r);
    cr_assert_eq(r.n_levels, 2);
    cr_expect_float_eq(r.levels[0].rate, 4.0, 0);
    cr_expect_float_eq(r.levels[1].rate, 2.0, 0);
    cr_expect_eq(r.data.lookback, LOOKBACK);
    rp_model ck, m1, m2;
    cr_assert_eq(model_build(&ck, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(model_build(&m1, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(model_build(&m2, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(model_init(&m1, 99, &err), 0, "%s", err.msg);
    cr_assert_eq(model_init(&m2, 98, &err), 0, "%s", err.msg);
    cr_assert_not(same_policy(&m1.P, &m2.P));
    float *best = malloc(ck.P.total * sizeof(float));
    rp_run_state s;
    memset(&s, 0, sizeof s);
    int has_best = 0;
    cr_assert_eq(checkpoint_load(at("pt/checkpoint.h5"), &ck.P, &s, best, &has_best, &err), 0, "%s", err.msg);
    cr_assert(has_best);
    cr_expect_eq(s.n_channels, 5, "one normalisation per pooled series");
    memcpy(ck.P.value, best, ck.P.total * sizeof(float));
    cr_assert_eq(patcher_load_params(at("pt/patcher.h5"), &m1.P, &err), 0, "%s", err.msg);
    cr_expect(same_policy(&m1.P, &ck.P), "the patcher does not hold the best-validation policy");
    cr_assert_eq(patcher_save(at("pt/again.h5"), &m1.P, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(patcher_load_params(at("pt/again.h5"), &m2.P, &err), 0, "%s", err.msg);
    cr_expect(same_policy(&m1.P, &m2.P));
    rp_recipe r2;
    patcher_recipe(at("pt/again.h5"), &r2);
    cr_expect_eq(memcmp(r.levels, r2.levels, sizeof r.levels), 0, "level settings changed in the round trip");

    /* The unseen third source, whole series cut into consecutive windows: 100/32 + 64/32 +
     * 31/32 + 96/32 = 3 + 2 + 0 + 3 windows, K = 8 level-1 and 4 level-2 patches each. */
    command_result seg = run_reinpatch(tmpdir, "segment", "--patcher", "pt/patcher.h5", "--data", "c.tsf", "--out",
                                       "seg.h5", "--plot", "seg.svg", NULL);
    cr_assert_eq(seg.status, 0, "segment failed: %s", seg.err);
    command_result_free(&seg);
    rp_segexport e;
    cr_assert_eq(segexport_read(at("seg.h5"), &e, &err), 0, "%s", err.msg);
    cr_assert_eq(e.n_windows, 8);
    cr_expect_str_eq(e.split, "all");
    cr_assert_eq(e.n_levels, 2);
    cr_expect_eq(e.levels[0].K, 8);
    cr_expect_eq(e.levels[1].K, 4);
    int exp_channel[8] = {0, 0, 0, 1, 1, 3, 3, 3}, exp_start[8] = {0, 32, 64, 0, 32, 0, 32, 64};
    for (int w = 0; w < 8; w++) {
        cr_expect_eq(e.channel[w], exp_channel[w], "window %d", w);
        cr_expect_eq(e.start_row[w], exp_start[w], "window %d", w);
        for (int l = 0; l < 2; l++) {
            int K = e.levels[l].K;
            const int32_t *sts = e.levels[l].starts + (size_t)w * K, *ln = e.levels[l].lengths + (size_t)w * K;
            int sum = 0;
            for (int k = 0; k < K; k++) {
                cr_expect_geq(ln[k], 1);
                sum += ln[k];
            }
            cr_expect_eq(sts[0], 0);
            cr_expect_eq(sum, LOOKBACK, "window %d level %d", w, l);
        }
        /* Every level-2 boundary is a level-1 boundary. */
        for (int k = 0; k < 4; k++) {
            int b = e.levels[1].starts[(size_t)w * 4 + k], found = 0;
            for (int j = 0; j < 8; j++) found |= e.levels[0].starts[(size_t)w * 8 + j] == b;
            cr_expect(found, "window %d: level-2 boundary %d is not a level-1 boundary", w, b);
        }
    }
    /* The same windows segmented by the library with the loaded patcher: identical boundaries. */
    rp_tsf c;
    cr_assert_eq(tsf_read(at("c.tsf"), TSF_MISSING_FAIL, &c, &err), 0, "%s", err.msg);
    const float *vals[4];
    int lens[4];
    for (int i = 0; i < 4; i++) {
        vals[i] = c.series[i].values;
        lens[i] = c.series[i].length;
    }
    rp_dataset d;
    cr_assert_eq(dataset_build_unsplit(&d, 4, vals, lens, 1, LOOKBACK, HORIZON, &err), 0, "%s", err.msg);
    rp_model_buffers b;
    cr_assert_eq(model_buffers_alloc(&b, &m1, 8, 1, &err), 0, "%s", err.msg);
    float x[8 * LOOKBACK];
    for (int w = 0; w < 8; w++)
        memcpy(x + w * LOOKBACK, dataset_channel(&d, exp_channel[w], NULL) + exp_start[w], sizeof(float) * LOOKBACK);
    model_prepare(&m1, &b, x, 8, 1);
    predict_segment(&m1, &b, 8, 5, 0);
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < 8 * e.levels[l].K; i++)
            cr_expect_eq(b.lv[l].raw_starts[i], e.levels[l].starts[i], "level %d entry %d", l, i);
    /* predict_segment_windows with room for 3 windows: batches of 3, 3 and 2 give the same. */
    rp_model_buffers b3;
    cr_assert_eq(model_buffers_alloc(&b3, &m1, 3, 1, &err), 0, "%s", err.msg);
    int32_t ch32[8], start32[8], lv1[8 * 8], lv2[8 * 4];
    for (int w = 0; w < 8; w++) {
        ch32[w] = exp_channel[w];
        start32[w] = exp_start[w];
    }
    int32_t *const levels_out[2] = {lv1, lv2};
    cr_assert_eq(e.levels[0].K, 8);
    cr_assert_eq(e.levels[1].K, 4);
    cr_assert_eq(predict_segment_windows(&m1, &b3, &d, 8, ch32, start32, 5, 0, levels_out, &err), 0, "%s", err.msg);
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < 8 * e.levels[l].K; i++)
            cr_expect_eq(levels_out[l][i], e.levels[l].starts[i], "batched: level %d entry %d", l, i);
    model_buffers_free(&b3);
    char *svg = slurp(at("seg.svg"));
    cr_expect_not_null(strstr(svg, "series 'S"), "the plot names the .tsf series");
    free(svg);

    free(best);
    model_buffers_free(&b);
    dataset_free(&d);
    tsf_free(&c);
    segexport_free(&e);
    checkpoint_state_free(&s);
    model_free(&ck);
    model_free(&m1);
    model_free(&m2);
    recipe_free(&r);
    recipe_free(&r2);
}

/* A transfer recipe on the generated series that loads the tiny patcher (absolute path). */
static void transfer_recipe(rp_recipe *r, const char *extra_levels) {
    char text[2048];
    snprintf(text, sizeof text,
             "name: transfer\n"
             "data: {path: generated, lookback: 32, horizon: 8, generated: {rows: 500, channels: 2}}\n"
             "%s"
             "levels_from: %s\n"
             "backbone: {d_model: 8, n_heads: 2, n_layers: 1, d_ff: 16, dropout: 0.0}\n"
             "train: {epochs: 2, batch_size: 32, lr: 1.0e-3, max_steps_per_epoch: 4, threads: 1, patience: 5}\n"
             "output: {dir: %s}\n",
             extra_levels ? extra_levels : "", at("pt/patcher.h5"), at("transfer"));
    rp_error err;
    cr_assert_eq(recipe_parse(text, "transfer.yaml", r, &err), 0, "%s", err.msg);
}

/* The tiny patcher pretrained once, then a trainer set up on the transfer recipe. */
static void transfer_trainer(rp_recipe *r, rp_trainer *t) {
    pretrain_tiny();
    transfer_recipe(r, NULL);
    rp_error err;
    cr_assert_eq(trainer_setup(t, r, &err), 0, "%s", err.msg);
}

Test(foundation, frozen_patcher_receives_no_update_while_the_backbone_trains) {
    rp_recipe r;
    rp_trainer t;
    transfer_trainer(&r, &t);
    rp_error err;
    /* The patcher's levels replaced the recipe's, frozen; the recipe now holds them inline. */
    cr_assert_eq(r.n_levels, 2);
    cr_expect_not(r.levels[0].trainable);
    cr_expect_not(r.levels[1].trainable);
    cr_expect_str_eq(r.levels_from, "");
    cr_expect_not_null(strstr(r.text, "trainable: false"));
    cr_expect_eq(t.group, 1, "frozen policies decode greedily: one rollout per window");

    /* The policy holds the file's values right after setup... */
    rp_model file_model;
    cr_assert_eq(model_build(&file_model, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(model_init(&file_model, 1234, &err), 0, "%s", err.msg);
    cr_assert_eq(patcher_load_params(at("pt/patcher.h5"), &file_model.P, &err), 0, "%s", err.msg);
    cr_assert(same_policy(&t.model.P, &file_model.P));
    const rp_tensor_info *head = params_find(&t.model.P, "head/w");
    cr_assert_not_null(head);
    float *head_before = malloc(head->count * sizeof(float));
    memcpy(head_before, t.model.P.value + head->offset, head->count * sizeof(float));

    /* ... and after training the backbone for two epochs, bit for bit. */
    rp_train_options opt = {0};
    cr_assert_eq(trainer_run(&t, &opt, NULL, &err), 0, "%s", err.msg);
    cr_expect(t.step > 0);
    cr_expect(same_policy(&t.model.P, &file_model.P), "a frozen policy tensor changed during training");
    cr_expect_neq(memcmp(head_before, t.model.P.value + head->offset, head->count * sizeof(float)), 0,
                  "the head did not train");
    /* The checkpoint's recipe rebuilds the same model without the patcher file. */
    char *text = NULL;
    cr_assert_eq(checkpoint_read_recipe(at("transfer/checkpoint.h5"), &text, &err), 0, "%s", err.msg);
    cr_expect_not_null(strstr(text, "levels_from: \"\""), "%s", text);
    cr_expect_not_null(strstr(text, "patching: learned"), "%s", text);
    free(text);
    free(head_before);
    model_free(&file_model);
    trainer_free(&t);
    recipe_free(&r);
}

Test(foundation, frozen_levels_decode_greedily_in_every_training_phase) {
    rp_recipe r;
    rp_trainer t;
    transfer_trainer(&r, &t);
    /* Move level 1's policy off uniform spacing so that greedy and uniform differ. */
    const rp_tensor_info *out = params_find(&t.model.P, "levels/0/policy/out/w");
    cr_assert_not_null(out);
    for (size_t i = 0; i < out->count; i++) t.model.P.value[out->offset + i] = 0.5f * (float)((int)(i % 7) - 3);
    int B = 16, L = LOOKBACK, K = t.model.levels[0].K;
    float *x = malloc(sizeof(float) * (size_t)B * L);
    int *idx_start = malloc(sizeof(int) * (size_t)B * K);
    for (int i = 0; i < B; i++) dataset_window(&t.data, SPLIT_TRAIN, i * 7, x + (size_t)i * L, NULL);
    model_prepare(&t.model, &t.buf, x, B, 1);
    model_segment(&t.model, &t.buf, B, 1, CUT_EVAL, 1, 2);
    memcpy(idx_start, t.buf.lv[0].starts, sizeof(int) * (size_t)B * K);
    int uniform[64], moved = 0;
    seg_uniform(L, t.model.levels[0].cfg.rate, uniform);
    for (int i = 0; i < B; i++)
        for (int k = 0; k < K; k++) moved += idx_start[i * K + k] != uniform[k];
    cr_assert_gt(moved, 0, "the perturbed policy still decodes to uniform spacing");
    rp_cut_phase phases[2] = {CUT_TRAIN, CUT_WARMUP};
    for (int p = 0; p < 2; p++) {
        model_segment(&t.model, &t.buf, B, 1, phases[p], 3, 4);
        cr_expect_eq(memcmp(idx_start, t.buf.lv[0].starts, sizeof(int) * (size_t)B * K), 0,
                     "phase %d: a frozen level does not decode greedily", p);
    }
    free(x);
    free(idx_start);
    trainer_free(&t);
    recipe_free(&r);
}

Test(foundation, levels_from_rules) {
    pretrain_tiny();
    rp_error err;
    /* The recipe's own trainable flag wins where it writes one; other levels are frozen. */
    rp_recipe r;
    transfer_recipe(&r, "levels:\n  - {patching: fixed, rate: 8, trainable: true}\n");
    cr_assert_eq(recipe_apply_levels_from(&r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.n_levels, 2);
    cr_expect_eq(r.levels[0].patching, PATCHING_LEARNED);
    cr_expect_float_eq(r.levels[0].rate, 4.0, 0);
    cr_expect(r.levels[0].trainable);
    cr_expect_not(r.levels[1].trainable);
    cr_expect_eq(r.levels[1].tokens, TOKENS_POOLED);
    recipe_free(&r);

    /* A patcher built for another lookback is refused, naming both. */
    transfer_recipe(&r, NULL);
    cr_assert_eq(recipe_set(&r, "data.lookback=48", &err), 0, "%s", err.msg);
    rp_trainer t;
    cr_assert_neq(trainer_setup(&t, &r, &err), 0);
    cr_expect_not_null(strstr(err.msg, "levels_from"), "%s", err.msg);
    cr_expect_not_null(strstr(err.msg, "lookback 32"), "%s", err.msg);
    cr_expect_not_null(strstr(err.msg, "48"), "%s", err.msg);
    trainer_free(&t);
    recipe_free(&r);

    /* A missing file names the path. */
    transfer_recipe(&r, NULL);
    cr_assert_eq(recipe_set(&r, "levels_from=nowhere/patcher.h5", &err), 0, "%s", err.msg);
    cr_assert_neq(recipe_apply_levels_from(&r, &err), 0);
    cr_expect_not_null(strstr(err.msg, "nowhere/patcher.h5"), "%s", err.msg);
    cr_expect_str_eq(r.levels_from, "nowhere/patcher.h5", "a failed load leaves the recipe unchanged");
    recipe_free(&r);
}

Test(foundation, trainer_runs_on_a_pool_with_an_empty_test_split) {
    mkdir(at("sources"), 0755);
    write_tsf(at("sources/a.tsf"), A_LEN, 3, 11);
    write_tsf(at("sources/b.tsf"), B_LEN, 3, 12);
    rp_error err;
    rp_tsf a, b;
    cr_assert_eq(tsf_read(at("sources/a.tsf"), TSF_MISSING_DROP_SERIES, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(tsf_read(at("sources/b.tsf"), TSF_MISSING_DROP_SERIES, &b, &err), 0, "%s", err.msg);
    const rp_tsf *src[2] = {&a, &b};
    rp_dataset d;
    cr_assert_eq(dataset_build_pool(&d, src, 2, LOOKBACK, HORIZON, 0.1, NULL, &err), 0, "%s", err.msg);
    tsf_free(&a);
    tsf_free(&b);
    rp_recipe r;
    recipe_defaults(&r);
    cr_assert_eq(recipe_parse(TINY_PATCHER, "tiny.yaml", &r, &err), 0, "%s", err.msg);
    snprintf(r.output.dir, sizeof r.output.dir, "%s", at("pool_run"));
    rp_trainer t;
    cr_assert_eq(trainer_setup_dataset(&t, &r, &d, &err), 0, "%s", err.msg);
    cr_expect_null(d.values, "the trainer owns the dataset");
    rp_epoch_log log;
    cr_assert_eq(trainer_train_epoch(&t, 0, 3, 0, &log, &err), 0, "%s", err.msg);
    cr_expect(isfinite(log.train_loss));
    cr_expect(log.mean_reward < 0, "GRPG ran: mean reward %g", log.mean_reward);
    rp_eval_result val, test;
    cr_assert_eq(trainer_evaluate(&t, SPLIT_VAL, &val, &err), 0, "%s", err.msg);
    cr_expect_gt(val.windows, 0);
    cr_expect(isfinite(val.mse));
    cr_assert_eq(trainer_evaluate(&t, SPLIT_TEST, &test, &err), 0, "%s", err.msg);
    cr_expect_eq(test.windows, 0);
    cr_assert_eq(rp_mkdir_p(t.run_dir, &err), 0, "%s", err.msg);
    cr_expect_eq(trainer_save_checkpoint(&t, &err), 0, "%s", err.msg);
    trainer_free(&t);

    /* A dataset for another window size is refused. */
    rp_series s;
    cr_assert_eq(series_generate(&s, 300, 1, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(dataset_build(&d, &s, PROTOCOL_RATIO, 16, HORIZON, &err), 0, "%s", err.msg);
    cr_assert_neq(trainer_setup_dataset(&t, &r, &d, &err), 0);
    cr_expect_not_null(strstr(err.msg, "lookback 16"), "%s", err.msg);
    trainer_free(&t);
    series_free(&s);
    recipe_free(&r);
}

/* How tokens carry their place (levels[i].position) belongs to the backbone, not the patcher: the
 * loaded levels keep the recipe's, level by level, and `index` past the recipe's levels. */
Test(foundation, loaded_levels_keep_the_recipes_position) {
    pretrain_tiny();
    rp_recipe r;
    transfer_recipe(&r, "levels: [{patching: fixed, rate: 4, patch_len: 8, position: time}]\n");
    rp_error err;
    cr_assert_eq(recipe_apply_levels_from(&r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.n_levels, 2);
    cr_expect_eq(r.levels[0].position, POSITION_TIME);
    cr_expect_eq(r.levels[1].position, POSITION_INDEX);
    cr_expect_eq(r.levels[0].patching, PATCHING_LEARNED, "the patcher's level replaced the recipe's");
    recipe_free(&r);
}
