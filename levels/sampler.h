/* The exact-K boundary sampler of a patch level (docs/method.md §4) and its log-probability.
 *
 * A policy emits one logit s_j per gap (n-1 of them). A segmentation is K-1 distinct gaps drawn
 * one after another: step i picks gap j_i from softmax(s) restricted to a candidate set F_i.
 *   - No length bounds: F_i = the gaps not chosen yet, i.e. sampling without replacement, done
 *     all at once by Gumbel-top-k (perturb every logit with Gumbel noise, keep the K-1 largest).
 *     The probability of the order is Plackett–Luce.
 *   - min_len / max_len: F_i = the remaining gaps that still leave a valid completion (exactly K
 *     segments, all within bounds). The same Gumbel perturbations are used, taking at each step the
 *     largest perturbed value inside F_i; this is exactly softmax over F_i (docs/levels.md).
 * log π(order) = Σ_i [ s_{j_i} − log Σ_{j∈F_i} exp(s_j) ], computed in double precision.
 *
 * `order[K-1]` is the sequence of chosen gaps (the sampling order, which the log-probability
 * needs); `starts[K]` the resulting segmentation (segmentation.h). Logits must be finite.
 *
 * Workspace: every function that takes `work` needs seg_workspace_bytes(spec) bytes, owned by the
 * caller and reusable across calls with the same or a smaller spec (one per thread). */
#ifndef RP_SAMPLER_H
#define RP_SAMPLER_H

#include <stddef.h>

#include "core/rng.h"
#include "levels/segmentation.h"

size_t seg_workspace_bytes(const rp_seg_spec *spec);

/* Samples one segmentation; writes starts[K] and order[K-1]; returns log π(order).
 * Uses exactly n-1 Gumbel draws from rng (gap 0 first), bounded or not. */
double seg_sample(const rp_seg_spec *spec, const float *logits, rp_rng *rng, int *starts,
                  int *order, void *work);
/* The same draw without its log-probability (a training step never reads it; computing it costs
 * as much as the draw). */
void seg_sample_order(const rp_seg_spec *spec, const float *logits, rp_rng *rng, int *starts, int *order,
                      void *work);

/* log π(order) under the same candidate-set rule; -INFINITY if order is not a possible draw
 * (a gap out of range, repeated, or infeasible under the bounds at its step). */
double seg_log_prob(const rp_seg_spec *spec, const float *logits, const int *order, void *work);

/* dlogits[n-1] += scale * ∂ log π(order) / ∂ logits, where
 * ∂/∂s_j = Σ_i ( 1[j = j_i] − softmax_{F_i}(s)_j ), zero outside F_i. order must be possible. */
void seg_log_prob_backward(const rp_seg_spec *spec, const float *logits, const int *order,
                           float scale, float *dlogits, void *work);

/* Greedy decoding: the K-1 highest logits (with bounds: sequentially the highest feasible one).
 * Ties go to the lower gap index. order may be NULL; else it receives the gaps in pick order. */
void seg_greedy(const rp_seg_spec *spec, const float *logits, int *starts, int *order,
                void *work);

/* Policy entropy, reported as the sum over the steps of `order` of the entropy of the step's
 * distribution softmax_{F_i}(s). By the chain rule this is an unbiased single-sample estimate of
 * the exact entropy of the ordered draw, H(π) = E[ Σ_i H(step i | earlier steps) ], when `order`
 * is a sample from π. The first term alone (i = 0) is the exact entropy of the first draw. */
double seg_entropy(const rp_seg_spec *spec, const float *logits, const int *order, void *work);
/* dlogits += scale * ∂ seg_entropy / ∂ logits with `order` held fixed (the usual surrogate: the
 * dependence of the order on the logits is ignored). */
void seg_entropy_backward(const rp_seg_spec *spec, const float *logits, const int *order,
                          float scale, float *dlogits, void *work);

/* Uniformly random segmentation: every valid set of K-1 gaps has the same probability.
 * Without bounds: selection sampling over the gaps (O(n)), table unused (may be NULL).
 * With bounds: segment lengths are drawn left to right with probability proportional to the
 * number of valid completions, counted by a dynamic program over (segments left, units left)
 * held in log space in `table` (seg_random_table_doubles(spec) doubles, filled once per spec by
 * seg_random_table, read-only afterwards, so threads can share it). */
size_t seg_random_table_doubles(const rp_seg_spec *spec);
void seg_random_table(const rp_seg_spec *spec, double *table);
void seg_random(const rp_seg_spec *spec, const double *table, rp_rng *rng, int *starts);

#endif
