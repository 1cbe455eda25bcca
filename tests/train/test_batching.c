/* train.batch_unit: how an epoch's windows are grouped into steps (train/batching.h). Step counts
 * and batch composition on a small invented series, and the trainer's step count per epoch. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "train/batching.h"
#include "train/train.h"
#include "tests/tempdir.h"
#include "tests/small_backbone.h"

/* 100 rows × 3 channels of invented values; ratio protocol with L 8, H 2 leaves 70 train rows,
 * i.e. 61 time points (windows per channel). */
static void small_dataset(rp_dataset *d) {
    enum { ROWS = 100, COLS = 3 };
    static float values[ROWS * COLS];
    for (int t = 0; t < ROWS; t++)
        for (int c = 0; c < COLS; c++) values[t * COLS + c] = (float)((t * 7 + c * 13) % 17) - 0.5f * c;
    rp_series s = {.source = "invented", .rows = ROWS, .cols = COLS, .values = values};
    rp_error err = {{0}};
    cr_assert_eq(dataset_build(d, &s, PROTOCOL_RATIO, 8, 2, &err), 0, "%s", err.msg);
    cr_assert_eq(d->split[SPLIT_TRAIN].per_channel, 61);
}

Test(batching, sample_batches_keep_a_time_point_whole) {
    rp_dataset d;
    small_dataset(&d);
    rp_recipe r;
    recipe_defaults(&r);
    r.train.batch_size = 16;
    r.train.batch_unit = BATCH_UNIT_SAMPLE;
    int C = d.channels, per = d.split[SPLIT_TRAIN].per_channel, n = d.split[SPLIT_TRAIN].n_windows;
    int W = batching_step_windows(&r, &d);
    cr_assert_eq(W, 16 * C);
    int steps = (n + W - 1) / W;
    cr_assert_eq(steps, (per + 15) / 16, "an epoch has ceil(samples / batch) steps");
    cr_assert_eq(steps, 4);
    int *order = malloc((size_t)n * sizeof(int));
    int *seen = calloc((size_t)per, sizeof(int));
    int *step_of = malloc((size_t)per * sizeof(int));
    rp_rng rng;
    rng_seed(&rng, 7, 1);
    batching_epoch_order(&r, &d, &rng, order);
    for (int i = 0; i < per; i++) {
        int s0 = -1;
        for (int c = 0; c < C; c++) {
            int ch, start;
            dataset_window_origin(&d, SPLIT_TRAIN, order[i * C + c], &ch, &start);
            cr_assert_eq(ch, c, "slot %d of time point %d holds channel %d", c, i, ch);
            if (c == 0) s0 = start;
            cr_assert_eq(start, s0, "the channels of one time point start at the same row");
        }
        cr_assert_eq(seen[s0 - d.split[SPLIT_TRAIN].begin]++, 0, "time point %d drawn twice", s0);
        step_of[s0] = (i * C) / W;
        /* Every window of the time point lies in that step. */
        cr_assert_eq((i * C + C - 1) / W, step_of[s0]);
    }
    /* The last step is partial and kept: 61 - 3 × 16 = 13 time points. */
    int last = 0;
    for (int s = 0; s < per; s++) last += step_of[s] == steps - 1;
    cr_assert_eq(last, 13);
    /* The shuffle is of time points: two seeds give different orders. */
    int *other = malloc((size_t)n * sizeof(int));
    rng_seed(&rng, 8, 1);
    batching_epoch_order(&r, &d, &rng, other);
    cr_assert_neq(memcmp(order, other, (size_t)n * sizeof(int)), 0);
    free(order); free(other); free(seen); free(step_of);
    dataset_free(&d);
    recipe_free(&r);
}

Test(batching, window_batches_are_a_permutation_of_windows) {
    rp_dataset d;
    small_dataset(&d);
    rp_recipe r;
    recipe_defaults(&r);
    r.train.batch_size = 16;
    cr_assert_eq(r.train.batch_unit, BATCH_UNIT_WINDOW, "window is the default");
    int n = d.split[SPLIT_TRAIN].n_windows;
    cr_assert_eq(batching_step_windows(&r, &d), 16);
    int *order = malloc((size_t)n * sizeof(int)), *count = calloc((size_t)n, sizeof(int));
    rp_rng rng, same;
    rng_seed(&rng, 7, 1);
    same = rng;
    batching_epoch_order(&r, &d, &rng, order);
    for (int i = 0; i < n; i++) count[order[i]]++;
    for (int i = 0; i < n; i++) cr_assert_eq(count[i], 1);
    /* The same draw as the loop made before batch_unit existed: one shuffle of 0..n-1. */
    int *ref = malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) ref[i] = i;
    rng_shuffle_int(&same, ref, n);
    cr_assert_eq(memcmp(order, ref, (size_t)n * sizeof(int)), 0);
    cr_assert_eq(memcmp(&rng, &same, sizeof rng), 0, "the generator advances as before");
    free(order); free(count); free(ref);
    dataset_free(&d);
    recipe_free(&r);
}

Test(batching, sample_needs_a_shared_time_axis) {
    rp_dataset d;
    small_dataset(&d);
    rp_recipe r;
    recipe_defaults(&r);
    r.train.batch_unit = BATCH_UNIT_SAMPLE;
    rp_error err = {{0}};
    cr_assert_eq(batching_check(&r, &d, &err), 0, "%s", err.msg);
    int rows[3] = {100, 100, 100};
    d.channel_rows = rows; /* as a pool of ragged series would have */
    cr_assert_neq(batching_check(&r, &d, &err), 0);
    cr_assert(strstr(err.msg, "train.batch_unit") != NULL, "%s", err.msg);
    d.channel_rows = NULL;
    dataset_free(&d);
    recipe_free(&r);
}

/* One full epoch of the trainer: ceil(windows / batch) steps with `window`, ceil(time points /
 * batch) with `sample`. */
static long long steps_of_one_epoch(rp_batch_unit unit, const char *dir) {
    rp_error err = {{0}};
    rp_recipe r;
    recipe_defaults(&r);
    snprintf(r.name, sizeof r.name, "batching");
    r.data.generated_rows = 400;
    r.data.generated_channels = 3;
    r.data.lookback = 32;
    r.data.horizon = 8;
    r.levels[0].rate = 4;
    r.levels[0].patch_len = 8;
    small_backbone(&r, 8, 2, 1, 16, r.backbone.dropout); /* default dropout */
    r.train.epochs = 1;
    r.train.batch_size = 32;
    r.train.batch_unit = unit;
    r.train.threads = 1;
    snprintf(r.output.dir, sizeof r.output.dir, "%s", dir);
    cr_assert_eq(recipe_validate(&r, &err), 0, "%s", err.msg);
    cr_assert_eq(recipe_render(&r, &err), 0, "%s", err.msg);
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, &r, &err), 0, "%s", err.msg);
    rp_epoch_log log;
    cr_assert_eq(trainer_train_epoch(&t, 0, 0, RP_PROGRESS_OFF, &log, &err), 0, "%s", err.msg);
    cr_assert(log.train_loss > 0 && log.train_loss < 1e3);
    long long steps = t.step;
    trainer_free(&t);
    recipe_free(&r);
    return steps;
}

Test(batching, trainer_epoch_step_counts) {
    char dir[256];
    tempdir_make(dir, sizeof dir, "batching");
    /* 400 rows, ratio protocol: 280 train rows, 280 - 40 + 1 = 241 time points × 3 channels. */
    cr_assert_eq(steps_of_one_epoch(BATCH_UNIT_WINDOW, dir), (241 * 3 + 31) / 32); /* 23 */
    cr_assert_eq(steps_of_one_epoch(BATCH_UNIT_SAMPLE, dir), (241 + 31) / 32);     /* 8 */
    tempdir_remove(dir);
}
