/* The unpatch head (backbone.head: unpatch): a forecast head whose weights are indexed by time
 * steps, not by token index, so that it accepts any exact-K segmentation.
 *
 * Why: the flatten head (PatchTST's) is Linear(K·d → H): its k-th block of weights belongs to
 * token k, whatever span that token covers. Under cuts that move, the k-th token covers a
 * different stretch of time in every window and that block cannot mean anything stable.
 *
 * Forward, for each row (window × rollout) with T encoded tokens h_k ∈ R^d covering the raw spans
 * [a_k, e_k) (cut spans, which tile the window at every level):
 *   1. z_k = U · h_k + c ∈ R^{Q·C}: Q knots of C channels per token (shared Linear(d → Q·C),
 *      "head/token/w", "head/token/b").
 *   2. Unpatch: step t of the span gets the knots interpolated at its relative place: knot q sits
 *      at u = q, step t at u = (t − a + ½)·Q/len − ½ (clamped to [0, Q−1]), linear interpolation
 *      between the two nearest knots. When several tokens cover a step (backbone.inputs: all,
 *      one token per level), their values average. s ∈ R^{L×C}: a sequence tied to time.
 *   3. y = V · vec(s) + b_V: Linear(L·C → H), "head/w", "head/b".
 * At uniform spans of length Q (rate 8, Q = 8) every step gets exactly one knot, and with Q·C = d
 * the head has the flatten head's function class (h_k ↦ V_k·U·h_k with V_k free per span and U
 * invertible) at the same parameter count (L·C·H = K·d·H at L = K·Q).
 *
 * Ownership: parameters live in the caller's slab; act (unpatch_act_floats) is caller-owned.
 * Backward accumulates (+=) into P->grad and dencoded. */
#ifndef RP_UNPATCH_H
#define RP_UNPATCH_H

#include <stddef.h>

#include "core/error.h"
#include "core/linear.h"
#include "core/params.h"
#include "core/rng.h"

typedef struct rp_unpatch_head {
    int L, T, d_model, channels, knots, horizon;
    rp_linear token_map;   /* Linear(d → knots·channels) */
    rp_linear time_map;    /* Linear(L·channels → horizon) */
} rp_unpatch_head;

int unpatch_declare(rp_unpatch_head *h, rp_params *P, int L, int T, int d_model, int channels, int knots,
                    int horizon, rp_error *err);
void unpatch_init(const rp_unpatch_head *h, rp_params *P, rp_rng *rng);
/* Floats of saved activations and backward scratch for R rows. */
size_t unpatch_act_floats(const rp_unpatch_head *h, int R);
/* out (R, H) from encoded (R, T, d); span_start, span_end (R, T): each token's raw span [a, e). */
void unpatch_forward(const rp_unpatch_head *h, const rp_params *P, float *out, const float *encoded,
                     const int *span_start, const int *span_end, int R, float *act);
/* dencoded (R, T, d) += ∂/∂encoded; parameter gradients into P->grad. */
void unpatch_backward(const rp_unpatch_head *h, rp_params *P, float *dencoded, const float *dout,
                      const float *encoded, const int *span_start, const int *span_end, int R, float *act);
/* Forward FLOPs for R rows. */
double unpatch_flops(const rp_unpatch_head *h, int R);

#endif
