/* How an epoch's training windows are grouped into steps (train.batch_unit).
 *
 * `window` (the default): train.batch_size univariate windows per step, drawn from one shuffle of
 * every training window.
 * `sample` (PatchTST's batching): train.batch_size time points per step, each with the window of
 * every channel, so a step holds batch_size × channels windows and the windows of one time point
 * are always in the same step. PatchTST's loader drops the last partial batch (drop_last); we keep
 * it, so an epoch has ceil(samples / batch_size) steps in both units.
 *
 * Nothing here allocates: the caller owns `order`. */
#ifndef RP_BATCHING_H
#define RP_BATCHING_H

#include "core/error.h"
#include "core/rng.h"
#include "io/dataset.h"
#include "io/recipe.h"

/* Windows per full training step: batch_size, or batch_size × channels for `sample`. */
int batching_step_windows(const rp_recipe *r, const rp_dataset *d);
/* Checks that the recipe's batch unit applies to the dataset: `sample` needs the rectangular
 * layout (one row range shared by every channel); a pool of ragged series has no time points
 * common to its channels. */
int batching_check(const rp_recipe *r, const rp_dataset *d, rp_error *err);
/* Fills order[0 .. n_windows of the train split) with the epoch's window order, drawing the
 * shuffle from rng: step s takes order[s·W .. min((s+1)·W, n)) with W = batching_step_windows.
 * For `sample`, the time points are shuffled and each is followed by its channels' windows in
 * channel order. */
void batching_epoch_order(const rp_recipe *r, const rp_dataset *d, rp_rng *rng, int *order);

#endif
