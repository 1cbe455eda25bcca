/* The GRPG pieces of a training step that need whole model passes: the greedy segmentation's
 * reward (train.advantage: greedy_baseline) and the per-epoch advantage sign agreement
 * (docs/levels.md, "Advantage estimators").
 *
 * Both run the model in inference mode (no dropout, batch-norm running statistics, which they do
 * not update), touch no parameter and no RNG of the trainer, and overwrite the model's work
 * buffers: call them before a step's own passes. */
#ifndef RP_GRPG_PROBE_H
#define RP_GRPG_PROBE_H

#include "train/train.h"

/* rewards[w] = −MSE of window w's greedy segmentation (CUT_EVAL), w < B. x (B, L), y (B, H). */
void grpg_greedy_rewards(rp_model *m, rp_model_buffers *b, const float *x, const float *y, int B,
                         unsigned long long seed, float *rewards);

/* Draws two independent groups of t->group rollouts for the same B windows (random streams of
 * their own, fixed by the seed and the epoch), turns each group's rewards into advantages with
 * the recipe's train.advantage, and returns in *agreement the fraction of the boundary decisions
 * of the first trainable learned level whose advantage has the same sign in both groups
 * (grpg_decision_advantages / grpg_sign_agreement; NaN when no decision was explored by both),
 * and their number in *pairs. Returns 0, or -1 with err set when memory runs out. */
int grpg_sign_agreement_probe(rp_trainer *t, const float *x, const float *y, int B, int epoch, double *agreement,
                              long long *pairs, rp_error *err);

#endif
