/* Group-relative policy gradient for the boundary policies (docs/method.md §7).
 *
 * Rollouts are grouped by window: group w holds the G segmentations sampled for window w, rollout
 * g of group w is row w*G + g everywhere below. With N = n_groups * G, the policy loss of a level is
 *     loss = -(1/N) Σ_rollouts A · log π(order)  -  β · (1/N) Σ_rollouts H(order)
 * where H is the policy entropy as seg_entropy reports it (the sum of the step entropies along
 * the rollout's order). The backbone's loss reaches the policies only through the advantages. */
#ifndef RP_GRPG_H
#define RP_GRPG_H

#include "levels/sampler.h"

/* adv[w*G + g] = (r - mean_w) / (std_w + eps), population std over the G rewards of group w.
 * A group whose rewards are all equal gets zeros (never NaN), as does G = 1. */
void grpg_advantages(const float *rewards, int G, int n_groups, float eps, float *adv);

/* Accumulates d(loss)/d(logits) for one level into dlogits and returns the loss.
 * logits_per_rollout = 0: logits and dlogits are (n_groups, n-1), shared by the G rollouts of a
 *   window (level 1, whose input does not depend on the rollout);
 * logits_per_rollout = 1: (n_groups*G, n-1), one row per rollout (levels > 1, whose units are the
 *   rollout's own lower patches).
 * orders (n_groups*G, K-1) from seg_sample; adv (n_groups*G). work: seg_workspace_bytes(spec). */
double grpg_policy_dlogits(const rp_seg_spec *spec, const float *logits, int logits_per_rollout,
                           const int *orders, const float *adv, int G, int n_groups, float beta,
                           float *dlogits, void *work);

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
