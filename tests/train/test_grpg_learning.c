/* Learning works (issue "Learned patching"): on a series whose only structure is regime changes at
 * random rows, GRPG moves the learned level's boundaries onto the change points — at least 3×
 * closer than uniform boundaries, measured on held-out (test-split) windows — and the learned
 * forecaster beats fixed and random patching on validation MSE with the same backbone, seeds and
 * token count. docs/levels.md ("Learning test") explains the design and lists the measured numbers;
 * bench/grpg_changepoints.c is the driver used to tune it.
 *
 * Design, in short: piecewise-constant levels + small noise; each token is ONE interpolated sample
 * at the centre of its segment (patch_len 1), so the backbone only sees what the boundaries select
 * and a boundary on the last change point is what lets it read the last regime's level. With
 * patch_len >= 2 a token also holds its segment's last sample, the final token therefore always
 * holds the window's last value, and the reward no longer asks for alignment (see the docs). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "io/series.h"
#include "train/predict.h"
#include "train/train.h"
#include "tests/small_backbone.h"

enum { ROWS = 20000, MEAN_SEGMENT = 50, DATA_SEED = 11 };
#define NOISE 0.1

/* Minutes of training: AddressSanitizer (scripts/sanitize; gcc defines __SANITIZE_ADDRESS__)
 * makes every step about three times slower. */
#ifdef __SANITIZE_ADDRESS__
#define LEARNING_TIMEOUT 900
#else
#define LEARNING_TIMEOUT 240
#endif

Test(grpg_learning, changepoint_generator) {
    rp_error err = {{0}};
    rp_series s, s2;
    int *ch, *ch2, n, n2;
    cr_assert_eq(series_generate_changepoints(&s, 3000, 2, 20, 0.0, 0.0, 5, &ch, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(series_generate_changepoints(&s2, 3000, 2, 20, 0.0, 0.0, 5, &ch2, &n2, &err), 0, "%s", err.msg);
    cr_assert_eq(n, n2);
    cr_assert(memcmp(ch, ch2, sizeof(int) * (size_t)n) == 0);
    cr_assert(memcmp(s.values, s2.values, sizeof(float) * 3000 * 2) == 0, "deterministic from the seed");
    cr_assert(n > 3000 / 30 && n < 3000 / 10, "n_changes = %d", n);
    for (int i = 0; i < n; i++) {
        int gap = ch[i] - (i ? ch[i - 1] : 0);
        cr_assert(gap >= 10 && gap <= 30, "regime %d has length %d, outside [10, 30]", i, gap);
    }
    /* Without noise: constant inside a regime, a jump of at least 1 at every change, in every channel. */
    for (int c = 0; c < 2; c++)
        for (int t = 1, next = 0; t < 3000; t++) {
            float a = s.values[(size_t)(t - 1) * 2 + c], b = s.values[(size_t)t * 2 + c];
            if (next < n && ch[next] == t) {
                cr_assert(fabsf(b - a) >= 1.0f - 1e-6f, "row %d channel %d: jump %g", t, c, b - a);
                next++;
            } else {
                cr_assert(a == b, "row %d channel %d changes without a change point", t, c);
            }
        }
    free(ch);
    free(ch2);
    series_free(&s);
    series_free(&s2);
    cr_assert_neq(series_generate_changepoints(&s, 100, 1, 1, 0.1, 0.0, 1, &ch, &n, &err), 0);
    cr_assert(strstr(err.msg, "mean_segment") != NULL, "%s", err.msg);
}

static void small_recipe(rp_recipe *r, rp_patching patching) {
    recipe_defaults(r);
    snprintf(r->name, sizeof r->name, "grpg_learning");
    r->data.protocol = PROTOCOL_RATIO;
    r->data.lookback = 150;
    r->data.horizon = 8;
    rp_level_recipe *lv = &r->levels[0];
    lv->patching = patching;
    lv->rate = 30;             /* K = 5 tokens: 4 boundaries for ~3 change points per window */
    lv->patch_len = 1;         /* a token is the sample at its segment's centre */
    lv->min_len = 3;           /* no 1-2 step "marker" segments that pair up around a change */
    lv->group_size = 8;
    lv->policy_channels = 8;
    lv->policy_kernel = 5;
    lv->policy_layers = 2;
    lv->prior_scale = 0.0;     /* start from uniform-over-sets sampling (see docs/levels.md) */
    small_backbone(r, 16, 2, 1, 32, 0.0);
    r->train.epochs = 10;
    r->train.max_steps_per_epoch = 40;
    r->train.batch_size = 64;
    r->train.lr = 3e-3;
    r->train.policy_lr = 3e-3;
    r->train.schedule = SCHEDULE_CONSTANT;
    r->train.warmup_epochs = 1;
    r->train.entropy_beta = 0.0;
    r->train.seed = 1;
    r->train.patience = r->train.epochs; /* never stops early: every epoch is trained */
    /* One thread: the model is tiny, and on 2 shared cores the OpenMP/BLIS synchronisation of a
     * second thread makes this several times slower (docs/levels.md). */
    r->train.threads = 1;
    r->output.checkpoint = false;
}

/* Mean over the windows of a split and the true change points p inside them (1 <= p < L) of the
 * distance from p to the nearest internal boundary (segment start k >= 1): of the greedy
 * segmentation (learned level) or of the uniform one. */
static double changepoint_distance(rp_trainer *t, rp_split_id split, const int *changes, int n_changes,
                                   int uniform, long long *count) {
    const rp_dataset *d = &t->data;
    rp_model *m = &t->model;
    int L = d->lookback, K = m->levels[0].K, n = d->split[split].n_windows;
    int32_t *greedy = malloc(sizeof(int32_t) * (size_t)n * K);
    int *grid = malloc(sizeof(int) * (size_t)K);
    cr_assert(greedy && grid);
    rp_error err = {{0}};
    cr_assert_eq(predict_segment_split(m, &t->buf, d, split, 1, 0, &greedy, &err), 0, "%s", err.msg);
    seg_uniform(L, m->levels[0].cfg.rate, grid);
    double sum = 0;
    *count = 0;
    for (int w = 0; w < n; w++) {
        const int32_t *starts = greedy + (size_t)w * K;
        int channel, start;
        dataset_window_origin(d, split, w, &channel, &start);
        for (int c = 0; c < n_changes; c++) {
            int p = changes[c] - start;
            if (p < 1 || p >= L) continue;
            int best = L;
            for (int k = 1; k < K; k++) {
                int at = uniform ? grid[k] : starts[k];
                if (abs(at - p) < best) best = abs(at - p);
            }
            sum += best;
            ++*count;
        }
    }
    free(greedy);
    free(grid);
    return *count ? sum / (double)*count : NAN;
}

typedef struct outcome {
    double val_mse, dist, uniform_dist, seconds;
    long long n_points;
} outcome;

/* Trains one patching kind with the trainer's epoch loop (best validation epoch restored at the end),
 * then measures validation MSE and the change-point distance on the test split. */
static outcome train_and_measure(rp_patching patching) {
    rp_error err = {{0}};
    rp_recipe r;
    small_recipe(&r, patching);
    cr_assert_eq(recipe_validate(&r, &err), 0, "%s", err.msg);
    rp_series s;
    int *changes, n_changes;
    cr_assert_eq(series_generate_changepoints(&s, ROWS, 1, MEAN_SEGMENT, NOISE, 0.0, DATA_SEED, &changes, &n_changes,
                                              &err), 0, "%s", err.msg);
    rp_trainer t;
    cr_assert_eq(trainer_setup_series(&t, &r, &s, &err), 0, "%s", err.msg);
    double t0 = rp_now_seconds();
    cr_assert_eq(trainer_fit(&t, NULL, &err), 0, "%s", err.msg);
    double best = t.best_val;
    trainer_restore_best(&t);
    outcome o;
    rp_eval_result val;
    cr_assert_eq(trainer_evaluate(&t, SPLIT_VAL, &val, &err), 0, "%s", err.msg);
    cr_assert(fabs(val.mse - best) <= 1e-9 * best, "restored weights give val %g, best epoch %g", val.mse, best);
    o.val_mse = val.mse;
    o.dist = changepoint_distance(&t, SPLIT_TEST, changes, n_changes, patching != PATCHING_LEARNED, &o.n_points);
    o.uniform_dist = changepoint_distance(&t, SPLIT_TEST, changes, n_changes, 1, &o.n_points);
    o.seconds = rp_now_seconds() - t0;
    trainer_free(&t);
    free(changes);
    return o;
}

Test(grpg_learning, boundaries_move_onto_change_points_and_beat_fixed_and_random, .timeout = LEARNING_TIMEOUT) {
    static const char *names[3] = {"fixed", "random", "learned"};
    const rp_patching kinds[3] = {PATCHING_FIXED, PATCHING_RANDOM, PATCHING_LEARNED};
    outcome o[3];
    for (int k = 0; k < 3; k++) {
        o[k] = train_and_measure(kinds[k]);
        fprintf(stderr, "grpg_learning: %-7s val mse %.4f  %.1fs\n", names[k], o[k].val_mse, o[k].seconds);
    }
    const outcome *learned = &o[2];
    double ratio = learned->uniform_dist / learned->dist;
    fprintf(stderr,
            "grpg_learning: distance to change points on %lld test-split (window, change) pairs: learned %.3f, "
            "uniform %.3f, ratio %.2f\n",
            learned->n_points, learned->dist, learned->uniform_dist, ratio);
    cr_assert(learned->n_points > 1000, "only %lld change points in the test windows", learned->n_points);
    cr_assert(ratio >= 3.0, "learned boundaries are only %.2fx closer to the change points than uniform ones "
              "(learned %.3f, uniform %.3f)", ratio, learned->dist, learned->uniform_dist);
    cr_assert(learned->val_mse < o[0].val_mse, "learned val MSE %.4f >= fixed %.4f", learned->val_mse, o[0].val_mse);
    cr_assert(learned->val_mse < o[1].val_mse, "learned val MSE %.4f >= random %.4f", learned->val_mse, o[1].val_mse);
}
