/* Patcher files: a trained level stack alone (the policies of every level and their settings),
 * loadable without a backbone, so that one stack can segment other series or seed another run
 * (recipe key levels_from). Layout in docs/formats.md:
 *
 *   /                 attributes reinpatch_kind="patcher", format_version=1, library_version,
 *                     lookback, n_levels
 *   /levels/<i>       group per level (0-based) with attributes patching ("fixed" | "learned" |
 *                     "random"), rate, patch_len, min_len, max_len, group_size, policy_channels,
 *                     policy_kernel, policy_layers, prior_scale, trainable (0/1),
 *                     tokens ("raw" | "pooled")
 *   /params/<name>    float32, every tensor of P whose name is "levels/<i>/policy" or starts
 *                     with "levels/<i>/policy/"
 *   /recipe           string: the recipe the patcher was trained with
 *
 * Written atomically (see io/h5util.h); loading never modifies the file. */
#ifndef RP_PATCHER_FILE_H
#define RP_PATCHER_FILE_H

#include "core/error.h"
#include "core/params.h"
#include "io/recipe.h"

#define RP_PATCHER_FORMAT_VERSION 1

/* 1 when a tensor name belongs to a level's policy ("levels/<i>/policy[/...]"). */
int patcher_is_policy_tensor(const char *name);

/* Writes r's level stack and lookback, every policy tensor's value from P, and r->text
 * (empty when NULL). */
int patcher_save(const char *path, const rp_params *P, const rp_recipe *r, rp_error *err);

/* Fills levels_out->n_levels, levels_out->levels[] and levels_out->data.lookback from the file;
 * every other field is left as it was. */
int patcher_load_recipe(const char *path, rp_recipe *levels_out, rp_error *err);

/* An error unless the patcher was built for this lookback: a policy's rates, priors and
 * K = ceil(L / rate) are tied to L. */
int patcher_check_lookback(const char *path, int expected_lookback, rp_error *err);

/* Loads the value of every policy tensor into P: the file's policy tensors and P's must match
 * one to one, with equal shapes (errors name the tensor and both shapes). Other tensors of P,
 * gradients and Adam moments are untouched; on failure nothing is changed. */
int patcher_load_params(const char *path, rp_params *P, rp_error *err);

/* The recipe text stored in the file; *recipe_text is malloc'd, the caller frees it. */
int patcher_read_recipe(const char *path, char **recipe_text, rp_error *err);

/* The recipe a model that segments with this patcher is built from: the stored recipe (for the
 * horizon and backbone) when it parses, else the defaults, with the level stack and lookback
 * from the patcher's own attributes and levels_from emptied. r is initialised here and owned by
 * the caller afterwards (recipe_free), also on failure. */
int patcher_read_model_recipe(const char *path, rp_recipe *r, rp_error *err);

#endif
