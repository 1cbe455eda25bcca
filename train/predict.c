#include "train/predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int predict_recipe_from_checkpoint(const char *path, rp_recipe *r, rp_error *err) {
    recipe_defaults(r);
    char *text = NULL;
    if (checkpoint_read_recipe(path, &text, err)) return -1;
    char name[RP_PATH_MAX + 16];
    snprintf(name, sizeof name, "%s:/recipe", path);
    int rc = recipe_parse(text, name, r, err);
    free(text);
    return rc;
}

int loaded_model_from_checkpoint(rp_loaded_model *lm, const char *path, rp_error *err) {
    memset(lm, 0, sizeof *lm);
    if (predict_recipe_from_checkpoint(path, &lm->recipe, err)) goto fail;
    if (model_build(&lm->model, &lm->recipe, err)) {
        rp_fail_prefix(err, "%s: cannot rebuild the model from its recipe", path);
        goto fail;
    }
    float *best = rp_malloc(lm->model.P.total * sizeof(float) + 1, err);
    if (!best) goto fail;
    if (checkpoint_load(path, &lm->model.P, &lm->state, best, &lm->has_best, err)) {
        free(best);
        goto fail;
    }
    if (lm->has_best) memcpy(lm->model.P.value, best, lm->model.P.total * sizeof(float));
    free(best);
    if (lm->state.n_channels < 1 || !lm->state.mean || !lm->state.std) {
        rp_fail(err, "%s: the checkpoint holds no normalisation statistics", path);
        goto fail;
    }
    return 0;
fail:
    loaded_model_free(lm);
    return -1;
}

void loaded_model_free(rp_loaded_model *lm) {
    model_free(&lm->model);
    checkpoint_state_free(&lm->state);
    recipe_free(&lm->recipe);
    memset(lm, 0, sizeof *lm);
}

void predict_segment(rp_model *m, rp_model_buffers *b, int B, unsigned long long seed,
                     unsigned long long stream_base) {
    model_segment(m, b, B, 1, CUT_EVAL, seed, stream_base);
}

int predict_segment_windows(rp_model *m, rp_model_buffers *b, const rp_dataset *d, int n,
                            const int32_t *channel, const int32_t *start_row, unsigned long long seed,
                            unsigned long long stream_base, int32_t *const *raw_starts, rp_error *err) {
    int L = m->lookback, Bmax = b->max_windows;
    float *x = rp_malloc((size_t)Bmax * L * sizeof(float), err);
    if (!x) return -1;
    for (int w0 = 0; w0 < n; w0 += Bmax) {
        int B = n - w0 < Bmax ? n - w0 : Bmax;
        for (int i = 0; i < B; i++)
            memcpy(x + (size_t)i * L, dataset_channel(d, channel[w0 + i], NULL) + start_row[w0 + i],
                   (size_t)L * sizeof(float));
        model_prepare(m, b, x, B, 1);
        predict_segment(m, b, B, seed, stream_base + (unsigned long long)w0);
        for (int l = 0; l < m->n_levels; l++) {
            size_t K = (size_t)m->levels[l].K;
            for (size_t j = 0; j < (size_t)B * K; j++) raw_starts[l][(size_t)w0 * K + j] = b->lv[l].raw_starts[j];
        }
    }
    free(x);
    return 0;
}

int predict_segment_split(rp_model *m, rp_model_buffers *b, const rp_dataset *d, rp_split_id split,
                          unsigned long long seed, unsigned long long stream_base,
                          int32_t *const *raw_starts, rp_error *err) {
    int n = d->split[split].n_windows;
    int32_t *channel = rp_malloc((size_t)n * sizeof(int32_t) + 1, err);
    int32_t *start_row = rp_malloc((size_t)n * sizeof(int32_t) + 1, err);
    int rc = -1;
    if (channel && start_row) {
        for (int w = 0; w < n; w++) {
            int c, s;
            dataset_window_origin(d, split, w, &c, &s);
            channel[w] = c;
            start_row[w] = s;
        }
        rc = predict_segment_windows(m, b, d, n, channel, start_row, seed, stream_base, raw_starts, err);
    }
    free(channel);
    free(start_row);
    return rc;
}

void predict_normalize(const float *v, int C, int row0, int L, const double *mean,
                       const double *std, float *x) {
    for (int c = 0; c < C; c++)
        for (int t = 0; t < L; t++)
            x[(size_t)c * L + t] =
                (float)(((double)v[(size_t)(row0 + t) * C + c] - mean[c]) / std[c]);
}

void predict_denormalize(const float *z, int C, int H, const double *mean, const double *std,
                         float *out) {
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++)
            out[(size_t)h * C + c] = (float)((double)z[(size_t)c * H + h] * std[c] + mean[c]);
}

int predict_last_window(rp_model *m, rp_model_buffers *b, const float *v, int rows, int C,
                        const double *mean, const double *std, float *out, rp_error *err) {
    int L = m->lookback, H = m->horizon;
    if (rows < L)
        return rp_fail(err, "%d rows, the model's lookback needs at least %d", rows, L);
    if (C > b->max_windows)
        return rp_fail(err, "%d channels, the buffers hold %d windows", C, b->max_windows);
    for (int c = 0; c < C; c++)
        if (!(std[c] > 0) || !isfinite(mean[c]))
            return rp_fail(err, "channel %d: invalid normalisation statistics (mean %g, std %g)", c,
                           mean[c], std[c]);
    float *x = rp_malloc((size_t)C * L * sizeof(float), err);
    if (!x) return -1;
    predict_normalize(v, C, rows - L, L, mean, std, x);
    for (size_t i = 0; i < (size_t)C * L; i++)
        if (!isfinite(x[i])) {
            free(x);
            return rp_fail(err, "a non-finite value in the last %d rows", L);
        }
    model_prepare(m, b, x, C, 1);
    predict_segment(m, b, C, (unsigned long long)m->recipe.train.seed, 0x9ed1c7ull);
    model_forward(m, b, NULL, C, 1, PASS_SCORE, 0);
    free(x);
    for (size_t i = 0; i < (size_t)C * H; i++)
        if (!isfinite(b->forecast[i])) return rp_fail(err, "the model produced a non-finite forecast");
    predict_denormalize(b->forecast, C, H, mean, std, out);
    return 0;
}
