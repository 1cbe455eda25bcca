/* The model the checkpoint and patcher harnesses load into: declared once from TINY_RECIPE, the
 * recipe the seed files (tests/fuzz/corpus/checkpoint, patcher) were trained from, so that a
 * seed loads whole and mutations reach every check after the file opens. Header only. */
#ifndef RP_FUZZ_MODEL_H
#define RP_FUZZ_MODEL_H

#include "model/forecaster.h"

#define TINY_RECIPE                                                                               \
    "name: tiny\n"                                                                                \
    "data:\n"                                                                                     \
    "  path: generated\n"                                                                         \
    "  lookback: 32\n"                                                                            \
    "  horizon: 8\n"                                                                              \
    "  generated: {rows: 400, channels: 2, seed: 7}\n"                                            \
    "levels:\n"                                                                                   \
    "  - {patching: learned, rate: 4, patch_len: 8}\n"                                            \
    "backbone: {d_model: 8, n_heads: 2, n_layers: 1, d_ff: 16}\n"                                 \
    "train: {epochs: 1, batch_size: 32, max_steps_per_epoch: 2, threads: 1}\n"

/* The model, built on the first call (aborts when the recipe does not build: a harness bug). */
static inline rp_model *fuzz_model(rp_recipe **recipe) {
    static rp_model m;
    static rp_recipe r;
    static int built;
    if (!built) {
        rp_error err;
        recipe_defaults(&r);
        if (recipe_parse(TINY_RECIPE, "tiny.yaml", &r, &err) || recipe_validate(&r, &err) ||
            recipe_render(&r, &err) || model_build(&m, &r, &err) || model_init(&m, 1, &err)) {
            fprintf(stderr, "fuzz_model: %s\n", err.msg);
            abort();
        }
        built = 1;
    }
    if (recipe) *recipe = &r;
    return &m;
}

#endif
