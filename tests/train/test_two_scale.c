/* Two levels beat one (issue #5): on a series with structure at two scales, a learned 2-level stack
 * (rate 8, then rate 4 over the level-1 patches, pooled tokens) forecasts better than a learned
 * 1-level stack of rate 32, with the same top-level token count (4), tokenizer (patch_len 8),
 * backbone, budget and seeds. docs/levels.md ("Two scales") has the design and all measurements.
 *
 * Data (series_generate_two_scale): coarse regimes of 48-96 rows at random rows, each with its own
 * level and, inside it, a fine train of pulses (height ~2.5, decaying over 4 rows) every 8 rows at
 * a random phase. The forecast (16 rows) needs the current regime's level and where its pulses
 * fall, i.e. the last pulse cycle at full resolution.
 *
 * What the stack learns: its level-2 policy puts its last boundary on the level-1 boundary 8 rows
 * before the end, so the last top-level token is one level-1 patch, the last cycle read at
 * patch_len 8 without loss; the 1-level policy works at step resolution with a local view and never
 * finds that (its boundaries stay on the grid, the last token resamples 32 rows to 8 points). The
 * test asserts both: the margin in validation MSE, and the mean length of the last top-level patch.
 *
 * Measured (train seed s, data seed 10 + s; validation MSE, 1 level / 2 levels with pooled tokens):
 *   s=1 0.542 / 0.430   s=2 0.410 / 0.342   s=3 0.396 / 0.338   s=4 0.454 / 0.361
 *   s=5 0.474 / 0.374   s=6 0.544 / 0.449   s=7 0.540 / 0.444   s=8 0.442 / 0.368
 * ratio 1 level / 2 levels 1.17 to 1.27 (the test runs s=1 and asserts >= 1.1); with raw level-2
 * tokens 1.16 to 1.31. The last top-level patch is 8.0-8.3 rows long on every seed (uniform: 32).
 * REINPATCH_TWO_SCALE_SEED=s and REINPATCH_TWO_SCALE_TOKENS=raw|pooled rerun it for another seed or
 * token kind (the numbers are printed on stderr). Without the pulses (event_height 0) the margin
 * is gone, and a lossless 1-level tokenizer (patch_len 32) does better still (docs/levels.md).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/generated.h"
#include "train/predict.h"
#include "train/run.h"
#include "train/train.h"
#include "tests/tempdir.h"

enum { ROWS = 12000 };

static const rp_two_scale_spec SPEC = {
    .regime_min = 48, .regime_max = 96, .period_min = 8, .period_max = 8,
    .event_width = 4, .event_height = 2.5, .noise = 0.1,
};

static char tmpdir[256];

static void make_tmpdir(void) { tempdir_make(tmpdir, sizeof tmpdir, "two_scale"); }

static void remove_tmpdir(void) { tempdir_remove(tmpdir); }

TestSuite(two_scale, .init = make_tmpdir, .fini = remove_tmpdir);

/* Minutes of training: AddressSanitizer (scripts/sanitize; gcc defines __SANITIZE_ADDRESS__)
 * makes every step about three times slower. */
#ifdef __SANITIZE_ADDRESS__
#define LEARNING_TIMEOUT 900
#else
#define LEARNING_TIMEOUT 240
#endif

Test(two_scale, generator_structure_and_determinism) {
    rp_error err = {{0}};
    rp_two_scale_spec sp = SPEC;
    sp.period_min = 5;
    sp.period_max = 9;
    sp.event_width = 3;
    sp.noise = 0.0;
    rp_series s, s2;
    int *regimes, *events, n_regimes, n_events, *regimes2, *events2, n_regimes2, n_events2;
    cr_assert_eq(series_generate_two_scale(&s, 3000, 2, &sp, 5, &regimes, &n_regimes, &events, &n_events, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(series_generate_two_scale(&s2, 3000, 2, &sp, 5, &regimes2, &n_regimes2, &events2, &n_events2, &err),
                 0, "%s", err.msg);
    cr_assert(n_regimes == n_regimes2 && n_events == n_events2);
    cr_assert(!memcmp(regimes, regimes2, sizeof(int) * (size_t)n_regimes));
    cr_assert(!memcmp(events, events2, sizeof(int) * (size_t)n_events));
    cr_assert(!memcmp(s.values, s2.values, sizeof(float) * 3000 * 2), "deterministic from the seed");
    cr_assert(n_regimes >= 3000 / 96 - 1 && n_regimes <= 3000 / 48, "n_regimes = %d", n_regimes);
    for (int i = 0; i < n_regimes; i++) {
        int len = regimes[i] - (i ? regimes[i - 1] : 0);
        cr_assert(len >= 48 && len <= 96, "regime %d has length %d", i, len);
    }
    /* Inside a regime the events are evenly spaced by one period in [5, 9], the first one within a
     * period of the regime's start; every row is the regime's level plus the decaying pulse. */
    for (int i = 0, e = 0; i <= n_regimes; i++) {
        int begin = i ? regimes[i - 1] : 0, end = i < n_regimes ? regimes[i] : 3000;
        int first = e, period = 0;
        for (; e < n_events && events[e] < end; e++) {
            cr_assert_geq(events[e], begin);
            if (e > first) {
                int gap = events[e] - events[e - 1];
                if (!period) period = gap;
                cr_assert_eq(gap, period, "regime %d: events %d and %d are %d apart, not %d", i, e - 1, e, gap,
                             period);
            }
        }
        cr_assert_gt(e, first, "regime %d has no event", i);
        cr_assert(period == 0 || (period >= 5 && period <= 9), "period %d", period);
        cr_assert_lt(events[first] - begin, 9, "first event %d rows into regime %d", events[first] - begin, i);
        for (int c = 0; c < 2; c++) {
            float level = s.values[(size_t)begin * 2 + c];
            if (events[first] == begin) level = s.values[(size_t)(begin + 3) * 2 + c];
            for (int t = begin, k = first - 1; t < end; t++) {
                while (k + 1 < e && events[k + 1] <= t) k++;
                float v = s.values[(size_t)t * 2 + c] - level;
                if (k >= first && t - events[k] < 3) cr_assert_gt(fabsf(v), 0.0f, "row %d: no pulse", t);
                else cr_assert_eq(v, 0.0f, "row %d channel %d: %g off the regime's level", t, c, v);
            }
        }
    }
    free(regimes);
    free(events);
    free(regimes2);
    free(events2);
    series_free(&s);
    series_free(&s2);
    cr_assert_neq(series_generate_two_scale(&s, 100, 1, &(rp_two_scale_spec){.regime_min = 10, .regime_max = 20,
                                            .period_min = 4, .period_max = 4, .event_width = 5}, 1,
                                            NULL, NULL, NULL, NULL, &err), 0);
    cr_assert(strstr(err.msg, "event_width") != NULL, "%s", err.msg);
}

/* Shared by both stacks; only `levels` differs. prior_scale: 2 (the default) keeps the step-level
 * policies near the grid, which is where the 1-level stack does best (with prior_scale 0 its val MSE
 * is 0.62 on seed 1, 0.54 on seed 2); level 2 starts from uniform over sets (prior_scale 0), as in
 * tests/train/test_grpg_learning.c, so that boundaries far from the grid get explored. */
static const char *BASE_RECIPE =
    "name: two_scale\n"
    "data: {protocol: ratio, lookback: 128, horizon: 16}\n"
    "backbone: {d_model: 16, n_heads: 2, n_layers: 1, d_ff: 32, dropout: 0.0}\n"
    "train: {epochs: 10, max_steps_per_epoch: 40, batch_size: 64, lr: 3.0e-3, policy_lr: 3.0e-3,\n"
    "        schedule: constant, warmup_epochs: 1, entropy_beta: 0.0, patience: 10, seed: 1, threads: 1}\n"
    "output: {checkpoint: false}\n";
#define POLICY(prior) "policy: {channels: 8, kernel: 5, layers: 2, prior_scale: " #prior "}"
static const char *ONE_LEVEL = "levels=[{patching: learned, rate: 32, patch_len: 8, group_size: 4, " POLICY(2) "}]";
static const char *TWO_LEVELS = "levels=[{patching: learned, rate: 8, patch_len: 8, group_size: 4, " POLICY(2) "}, "
                                "{patching: learned, rate: 4, tokens: %s, patch_len: 8, group_size: 4, " POLICY(0) "}]";

typedef struct outcome {
    double val_mse, test_mse, last_patch, seconds;
} outcome;

/* Mean length in rows of the last top-level patch of the greedy segmentation, over a split. */
static double last_patch_length(rp_trainer *t, rp_split_id split) {
    rp_model *m = &t->model;
    int top = m->n_levels - 1, K = m->levels[top].K, L = t->data.lookback, n = t->data.split[split].n_windows;
    int32_t *raw[RP_MAX_LEVELS];
    for (int l = 0; l < m->n_levels; l++) {
        raw[l] = malloc(sizeof(int32_t) * (size_t)n * m->levels[l].K);
        cr_assert_not_null(raw[l]);
    }
    rp_error err = {{0}};
    cr_assert_eq(predict_segment_split(m, &t->buf, &t->data, split, 1, 0, raw, &err), 0, "%s", err.msg);
    double sum = 0;
    for (int w = 0; w < n; w++) sum += L - raw[top][(size_t)w * K + K - 1];
    for (int l = 0; l < m->n_levels; l++) free(raw[l]);
    return sum / n;
}

/* trainer_run as the CLI runs it (best validation epoch restored), then the measures. */
static outcome train_and_measure(const char *levels, int seed, const char *subdir) {
    rp_error err = {{0}};
    rp_recipe r;
    cr_assert_eq(recipe_parse(BASE_RECIPE, "two_scale.yaml", &r, &err), 0, "%s", err.msg);
    cr_assert_eq(recipe_set(&r, levels, &err), 0, "%s", err.msg);
    r.train.seed = seed;
    cr_assert_eq(recipe_validate(&r, &err), 0, "%s", err.msg);
    rp_series s;
    cr_assert_eq(series_generate_two_scale(&s, ROWS, 1, &SPEC, 10 + (unsigned)seed, NULL, NULL, NULL, NULL, &err),
                 0, "%s", err.msg);
    rp_trainer t;
    cr_assert_eq(trainer_setup_series(&t, &r, &s, &err), 0, "%s", err.msg);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, subdir);
    rp_train_options opt = {.out_dir = dir};
    double t0 = rp_now_seconds();
    cr_assert_eq(trainer_run(&t, &opt, NULL, &err), 0, "%s", err.msg);
    outcome o;
    rp_eval_result val, test;
    cr_assert_eq(trainer_evaluate(&t, SPLIT_VAL, &val, &err), 0, "%s", err.msg);
    cr_assert_eq(trainer_evaluate(&t, SPLIT_TEST, &test, &err), 0, "%s", err.msg);
    o.val_mse = val.mse;
    o.test_mse = test.mse;
    o.last_patch = last_patch_length(&t, SPLIT_VAL);
    o.seconds = rp_now_seconds() - t0;
    trainer_free(&t);
    recipe_free(&r);
    return o;
}

Test(two_scale, two_levels_beat_one_at_the_same_token_count, .timeout = LEARNING_TIMEOUT) {
    const char *seed_text = getenv("REINPATCH_TWO_SCALE_SEED"), *tokens = getenv("REINPATCH_TWO_SCALE_TOKENS");
    int seed = seed_text ? atoi(seed_text) : 1;
    if (!tokens) tokens = "pooled";
    cr_assert(seed >= 1 && (!strcmp(tokens, "pooled") || !strcmp(tokens, "raw")), "seed %d, tokens %s", seed,
              tokens);
    char two_levels[512];
    snprintf(two_levels, sizeof two_levels, TWO_LEVELS, tokens);
    outcome one = train_and_measure(ONE_LEVEL, seed, "one"), two = train_and_measure(two_levels, seed, "two");
    fprintf(stderr, "two_scale: seed %d, data seed %d, level-2 tokens %s\n", seed, 10 + seed, tokens);
    fprintf(stderr, "two_scale: 1 level  val mse %.4f  test mse %.4f  last top patch %.1f rows  %.1fs\n", one.val_mse,
            one.test_mse, one.last_patch, one.seconds);
    fprintf(stderr, "two_scale: 2 levels val mse %.4f  test mse %.4f  last top patch %.1f rows  %.1fs\n", two.val_mse,
            two.test_mse, two.last_patch, two.seconds);
    cr_assert(one.val_mse >= 1.1 * two.val_mse,
              "2 levels: val MSE %.4f, 1 level: %.4f (ratio %.3f < 1.1)", two.val_mse, one.val_mse,
              one.val_mse / two.val_mse);
    cr_assert(one.test_mse > two.test_mse, "2 levels: test MSE %.4f, 1 level: %.4f", two.test_mse, one.test_mse);
    /* The mechanism: the 2-level stack's last token is one level-1 patch (8 rows), the 1-level's a
     * grid patch of 32. */
    cr_assert_lt(two.last_patch, 12.0, "2 levels: last top patch %.1f rows long", two.last_patch);
    cr_assert_gt(one.last_patch, 24.0, "1 level: last top patch %.1f rows long", one.last_patch);
}
