/* Time position of a token (levels[i].position: time): an encoding of where its patch lies on the
 * window's time axis, in place of the learned embedding of the token's index k.
 *
 * Why: with `position: index`, token k gets pos[k] whatever span it covers, so a backbone trained
 * on uniform cuts reads token k as "steps 8k..8k+16"; a moved boundary then feeds it a token it has
 * never seen in that slot. Encoding the span itself makes a token's meaning independent of k.
 *
 * For a patch covering the raw steps [a, e) of a window of L steps:
 *     phi(a, e) = [ sin(2π a / T_j), cos(2π a / T_j), sin(2π e / T_j), cos(2π e / T_j) ]_{j < J},
 *                 log(e − a) / log(L)
 * with periods T_j = 2L / 2^j (J = RP_TIME_FREQS: 2L down to 2L / 128, i.e. 672 .. 5.25 steps at
 * L = 336), so F = 4J + 1 features; then
 *     token += W · phi(a, e),     W [d, F], "<prefix>/time/w", init U(−1/√F, 1/√F) (nn.Linear's).
 * The log-length feature makes the duration visible from the start (the length embedding `len`
 * starts at zero). The span is the cut span [a, e), not the tokenizer's overlap context, which is
 * the same for every patch of a level.
 *
 * Backward accumulates (+=) into P->grad; positions take no gradient.
 *
 * Ownership: time_position_declare allocates the struct's step table (every span starts and ends on
 * one of the steps 0..L, so the phases of each step and the log of each length are computed once);
 * time_position_free releases it. Copies of the struct share it, read only. */
#ifndef RP_TIME_POSITION_H
#define RP_TIME_POSITION_H

#include <stddef.h>

#include "core/error.h"
#include "core/params.h"
#include "core/rng.h"

#define RP_TIME_FREQS 8
#define RP_TIME_FEATURES (4 * RP_TIME_FREQS + 1)

typedef struct rp_time_position {
    int L, K, d_model;
    size_t w;
    float *steps; /* (L+1, 2·RP_TIME_FREQS): sin, cos of each frequency's phase at step p; then (L+1) log lengths */
} rp_time_position;

int time_position_declare(rp_time_position *tp, rp_params *P, const char *prefix, int L, int K, int d_model,
                          rp_error *err);
void time_position_free(rp_time_position *tp);
void time_position_init(const rp_time_position *tp, rp_params *P, rp_rng *rng);
/* phi[RP_TIME_FEATURES] of the span [a, e) in a window of L steps (0 <= a < e <= L). */
void time_position_features(float *phi, int a, int e, int L);
/* Floats of saved features for B rows: (B, K, F). */
size_t time_position_act_floats(const rp_time_position *tp, int B);
/* tokens (B, K, d) += W · phi of each patch; raw_starts (B, K) the patches' first steps (the last
 * one ends at L); act (B, K, F) receives the features for backward. */
void time_position_forward(const rp_time_position *tp, const rp_params *P, float *tokens, const int *raw_starts,
                           int B, float *act);
/* dW += Σ dtokens ⊗ phi. */
void time_position_backward(const rp_time_position *tp, rp_params *P, const float *dtokens, int B,
                            const float *act);

#endif
