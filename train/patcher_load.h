/* The recipe key levels_from: a run whose level stack comes from a patcher file (a pretrained
 * patcher, docs/foundation.md), most often frozen for zero-shot transfer.
 *
 * Rules (docs/foundation.md, docs/recipes.md):
 *   - the path is used as written: a relative path is relative to the current directory, like
 *     output.dir (not to the recipe's directory, not to $REINPATCH_DATA);
 *   - the patcher must have been built for the recipe's data.lookback (an error names both);
 *   - the patcher's levels replace the recipe's `levels` entirely (count, patching, rates,
 *     policy sizes, ...), except `trainable`: a level whose `levels[i].trainable` the recipe
 *     writes (in the file or with --set) keeps that value; every other level is frozen
 *     (trainable: false: greedy segmentation, no gradient, no optimizer step);
 *   - after the model is built and initialised, the policy tensors get the patcher's values;
 *   - the run's recipe then holds the loaded levels inline and levels_from is emptied, so a
 *     checkpoint's recipe rebuilds the same model without the patcher file (eval, predict,
 *     segment, --resume). */
#ifndef RP_PATCHER_LOAD_H
#define RP_PATCHER_LOAD_H

#include "core/error.h"
#include "io/recipe.h"
#include "train/train.h"

/* Replaces r's levels with the patcher's as above, validates, empties levels_from and re-renders
 * r->text. A no-op when levels_from is empty. On failure r is unchanged. */
int recipe_apply_levels_from(rp_recipe *r, rp_error *err);

/* For a trainer whose model was built and initialised from t->recipe (trainer_setup_model calls
 * this right after model_init): when the recipe sets levels_from, applies it to the recipe,
 * rebuilds and re-initialises the model (same seed) with the patcher's levels and loads the
 * patcher's policy tensors. A no-op when levels_from is empty. Errors name the patcher file. */
int trainer_apply_levels_from(rp_trainer *t, rp_error *err);

#endif
