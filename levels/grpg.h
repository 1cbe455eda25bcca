/* Group-relative policy gradient for the boundary policies (docs/method.md §7).
 *
 * Rollouts are grouped by window: group w holds the G segmentations sampled for window w, rollout
 * g of group w is row w*G + g everywhere below. With N = n_groups * G, the policy loss of a level is
 *     loss = -(1/N) Σ_rollouts A · log π(order)  -  β · (1/N) Σ_rollouts H(order)
 * where H is the policy entropy as seg_entropy reports it (the sum of the step entropies along
 * the rollout's order). The backbone's loss reaches the policies only through the advantages. */
#ifndef RP_GRPG_H
#define RP_GRPG_H

#include "io/recipe.h"
#include "levels/sampler.h"

/* adv[w*G + g] = (r - mean_w) / (std_w + eps), population std over the G rewards of group w.
 * A group whose rewards are all equal gets zeros (never NaN), as does G = 1. */
void grpg_advantages(const float *rewards, int G, int n_groups, float eps, float *adv);

/* The advantages of one batch under train.advantage (docs/levels.md, "Advantage estimators"):
 *   group_std        (r − mean_w) / (std_w + eps), grpg_advantages above (today's default);
 *   group_mean       r − mean_w: no division, so a group of near-equal rewards gives
 *                    near-zero advantages instead of full-size ones;
 *   leave_one_out    r − (mean of the other G−1 rewards of window w) = G/(G−1) · (r − mean_w);
 *   greedy_baseline  r − greedy[w], the reward of window w's greedy segmentation scored by the
 *                    same backbone in the same step (self-critical).
 * greedy (n_groups) is read only by greedy_baseline and may be NULL otherwise. In the three group
 * modes a group of equal rewards gets exact zeros, as does G = 1. */
void grpg_advantages_for(rp_advantage mode, const float *rewards, const float *greedy, int G, int n_groups,
                         float eps, float *adv);

/* Advantage sign agreement (a diagnostic of how noisy the policy's learning signal is): for each
 * window w and gap j of a level with n units, the push an estimator gives the decision "cut at j",
 *     d[w, j] = Σ_g adv[w·G + g] · 1[j is a cut of rollout g],
 * written where 0 < (rollouts of the group cutting j) < G, i.e. where the group explored both
 * choices, and NaN elsewhere. starts (n_groups·G, K) in the level's units; d (n_groups, n−1);
 * count: the caller's scratch of n−1 ints. */
void grpg_decision_advantages(const int *starts, int n, int K, const float *adv, int G, int n_groups, float *d,
                              int *count);
/* Of the entries where da and db (two independent groups for the same windows) are both finite
 * and nonzero, the fraction with the same sign; *pairs gets their number. NaN when there is none.
 * About 0.5 means the sign of a decision's advantage is a coin flip: the policy follows noise. */
double grpg_sign_agreement(const float *da, const float *db, size_t count, long long *pairs);

/* One level's GRPG policy loss,
 *     −(1/(n_groups·G)) Σ_rollouts (adv · log p(order) + beta · H(order)),
 * and its gradient: grpg_policy_dlogits accumulates d(loss)/d(logits) into dlogits (a training
 * step needs the gradient alone: the value costs as much again); grpg_policy_loss returns the value.
 * logits_per_rollout = 0: logits and dlogits are (n_groups, n-1), shared by the G rollouts of a
 *   window (level 1, whose input does not depend on the rollout);
 * logits_per_rollout = 1: (n_groups*G, n-1), one row per rollout (levels > 1, whose units are the
 *   rollout's own lower patches).
 * orders (n_groups*G, K-1) from seg_sample; adv (n_groups*G). work: seg_workspace_bytes(spec). */
void grpg_policy_dlogits(const rp_seg_spec *spec, const float *logits, int logits_per_rollout,
                         const int *orders, const float *adv, int G, int n_groups, float beta,
                         float *dlogits, void *work);
double grpg_policy_loss(const rp_seg_spec *spec, const float *logits, int logits_per_rollout,
                        const int *orders, const float *adv, int G, int n_groups, float beta, void *work);

/* The anchor toward the reference policy: adds to dlogits the gradient of
 *     (beta / 2) · (1/n_rows) Σ_rows Σ_j (logits[row, j] − prior[j])²
 * and returns that penalty. The prior (n_gaps) is the level's uniform-spacing prior, i.e. the
 * logits of the policy at initialisation, so this is a quadratic stand-in for GRPO's KL term to a
 * reference policy: it keeps noisy advantages from walking the policy far from uniform spacing
 * unless the rewards keep pulling it there. */
double grpg_anchor_dlogits(const float *logits, const float *prior, int n_rows, int n_gaps, float beta,
                           float *dlogits);

/* Logging statistic: mean over rows of the entropy of softmax over all n_gaps logits of a row,
 * i.e. the exact entropy of the first draw of an unbounded level (logits (n_rows, n_gaps)). */
double grpg_mean_entropy(const float *logits, int n_rows, int n_gaps);

#endif
