/* The recipe the command, library and robustness tests train: the generated series, one level of
 * rate 4 over a lookback of 32 (8 patches), a one-layer transformer of width 8, a few steps of two
 * epochs; seconds per run. TINY_RECIPE(name, rows, level) is a string literal; `level` is the
 * inside of the level's flow mapping. tests/data/tiny.yaml is the same recipe for the shell
 * tests. */
#ifndef RP_TESTS_TINY_RECIPE_H
#define RP_TESTS_TINY_RECIPE_H

#define TINY_RECIPE(name, rows, level)                                                                                 \
    "name: " name "\n"                                                                                                 \
    "data:\n"                                                                                                          \
    "  path: generated\n"                                                                                              \
    "  lookback: 32\n"                                                                                                 \
    "  horizon: 8\n"                                                                                                   \
    "  generated: {rows: " #rows ", channels: 2, seed: 7}\n"                                                           \
    "levels:\n"                                                                                                        \
    "  - {" level "}\n"                                                                                                \
    "backbone: {d_model: 8, n_heads: 2, n_layers: 1, d_ff: 16}\n"

/* The train line of TINY_RECIPE's runs; steps is the number of steps per epoch. */
#define TINY_TRAIN(steps) "train: {epochs: 2, batch_size: 32, max_steps_per_epoch: " #steps ", threads: 1}\n"

#endif
