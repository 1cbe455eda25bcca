/* Inference helpers shared by `reinpatch predict`, `segment` and `export-patcher`: a model rebuilt
 * from a checkpoint, every level's segmentation in evaluation mode (one batch, or many windows
 * batch by batch), and the forecast of the horizon after the last lookback rows of a series in
 * original units. (The forecast file's timestamps: io/timestamp.h.)
 *
 * Units: a dataset z-scores every channel with its train-split statistics (io/dataset.h) and the
 * model forecasts in those z-scored units; predict_last_window maps a raw series into them with
 * the checkpoint's statistics and back:
 *     z = (x - mean[c]) / std[c]          (predict_normalize)
 *     x = z * std[c] + mean[c]            (predict_denormalize)
 *
 * Ownership: rp_loaded_model owns its recipe, model and run state; loaded_model_free. */
#ifndef RP_PREDICT_H
#define RP_PREDICT_H

#include "model/forecaster.h"
#include <stdint.h>

#include "io/checkpoint.h"
#include "io/dataset.h"
#include "io/recipe.h"

/* Reads the recipe text stored in a checkpoint and parses it (validated, text rendered) into r,
 * which owns it afterwards (recipe_free). Errors name the checkpoint. */
int predict_recipe_from_checkpoint(const char *path, rp_recipe *r, rp_error *err);

typedef struct rp_loaded_model {
    rp_recipe recipe;      /* the checkpoint's recipe */
    rp_model model;        /* built from it, parameters loaded */
    rp_run_state state;    /* step, epoch, n_channels, train mean/std, recipe text */
    int has_best;          /* 1: the file held best-validation weights, and P.value holds them */
} rp_loaded_model;

/* Rebuilds the model a checkpoint was trained with and loads its parameters. When the checkpoint
 * holds the weights of the best validation epoch, those are put in P.value (the weights the
 * run's final evaluation used); otherwise the last weights are kept. On failure lm owns nothing
 * (loaded_model_free is still safe). */
int loaded_model_from_checkpoint(rp_loaded_model *lm, const char *path, rp_error *err);
void loaded_model_free(rp_loaded_model *lm);

/* Every level's segmentation of B windows already passed through model_prepare (G = 1), in
 * evaluation mode (model_segment with CUT_EVAL): greedy decoding of the policy's logits for
 * learned levels, uniform spacing for fixed levels, a uniformly random segmentation for random
 * levels (drawn from the streams (seed, stream_base, window), so results repeat). Fills the level
 * buffers b->lv[l].starts and raw_starts (B rows of K_l). */
void predict_segment(rp_model *m, rp_model_buffers *b, int B, unsigned long long seed,
                     unsigned long long stream_base);

/* predict_segment over many windows of a dataset, in batches of b->max_windows: window w is the
 * lookback rows of d's channel channel[w] from row start_row[w] (z-scored values). For every
 * level l, raw_starts[l] (caller-allocated, n × K_l, row-major) receives each window's patch
 * starts in time steps. A batch starting at window w0 draws its random levels from the streams
 * (seed, stream_base + w0). Returns 0, or -1 with err set when memory runs out. */
int predict_segment_windows(rp_model *m, rp_model_buffers *b, const rp_dataset *d, int n,
                            const int32_t *channel, const int32_t *start_row, unsigned long long seed,
                            unsigned long long stream_base, int32_t *const *raw_starts, rp_error *err);

/* The same for every window of a dataset split, in the split's window order. */
int predict_segment_split(rp_model *m, rp_model_buffers *b, const rp_dataset *d, rp_split_id split,
                          unsigned long long seed, unsigned long long stream_base,
                          int32_t *const *raw_starts, rp_error *err);

/* x (C, L) channel-major, z-scored: x[c·L + t] = (v[(row0 + t)·C + c] − mean[c]) / std[c], where
 * v is a row-major (rows × C) table in original units. */
void predict_normalize(const float *v, int C, int row0, int L, const double *mean,
                       const double *std, float *x);
/* out (H, C) row-major in original units from z (C, H) channel-major in z-scored units:
 * out[h·C + c] = z[c·H + h] · std[c] + mean[c]. */
void predict_denormalize(const float *z, int C, int H, const double *mean, const double *std,
                         float *out);

/* The forecast of the H steps after the last L rows of v (rows × C, row-major, original units),
 * in original units: out (H, C) row-major. mean/std are the checkpoint's train statistics
 * ([C]). b must have room for C windows (model_buffers_alloc(b, m, C, 1, ...)). Errors: rows <
 * L, non-finite values in the window or the forecast. */
int predict_last_window(rp_model *m, rp_model_buffers *b, const float *v, int rows, int C,
                        const double *mean, const double *std, float *out, rp_error *err);

#endif
