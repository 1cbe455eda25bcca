/* What a boundary policy sees: per-unit features computed from the data alone (docs/method.md §3), never
 * from the backbone, so a trained policy stack is a standalone patcher.
 *
 * Level 1 (units = time steps of the RevIN-normalised window x[L]), POLICY_FEATURES_LEVEL1 per step:
 *   0 value x_t
 *   1 first difference x_t - x_{t-1} (0 at t = 0)
 *   2 local mean over the centred window of POLICY_FEATURES_LOCAL_WINDOW steps, clipped at the ends
 *   3 local (population) standard deviation over the same window
 * Level l > 1 (units = the K patches of the level below, given by their raw starts),
 * POLICY_FEATURES_PATCHES per patch, all over the patch's raw steps [a, b):
 *   0 mean   1 standard deviation (population)   2 least-squares slope per step (0 for length 1)
 *   3 length, normalised: len * K / L - 1 (0 when every patch has the average length)
 *   4 first value x_a   5 last value x_{b-1}
 * With policy.position, one more column follows (policy_features_position): the unit's relative
 * position 2u/(n−1) − 1 in [−1, 1], so a policy can tell the end of the window (next to the
 * forecast) from its start; the conv net alone is translation-invariant.
 * Features are row-major (units, stride), stride >= the count above. */
#ifndef RP_FEATURES_H
#define RP_FEATURES_H

#define POLICY_FEATURES_LEVEL1 4
#define POLICY_FEATURES_PATCHES 6
#define POLICY_FEATURES_LOCAL_WINDOW 5

void policy_features_level1(const float *x, int L, float *feat, int stride);  /* feat (L, stride) */
/* starts[K]: raw-step starts of the lower level's patches (seg_compose for levels > 2). */
void policy_features_patches(const float *x, int L, const int *starts, int K, float *feat,
                             int stride);                                      /* feat (K, stride) */
/* Writes column col of feat (n, stride): 2u/(n−1) − 1 for unit u (0 when n = 1). */
void policy_features_position(float *feat, int n, int stride, int col);

#endif
