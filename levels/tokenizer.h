/* From patches to tokens (docs/method.md §5).
 *
 * Raw tokenizer (level 1, and level l > 1 built "the same way from that span"):
 * a patch [a, b) of the raw window x[L] is read together with `overlap` steps of context past its
 * end, the span [a, b + overlap), where indices >= L repeat x[L-1] (PatchTST's end padding). The
 * span is resampled to patch_len = P points by linear interpolation, endpoint-aligned:
 *     u_p = a + p (S - 1) / (P - 1),   S = b + overlap - a,   p = 0..P-1
 * (P = 1: the centre, u = a + (S-1)/2). When S == P, u_p = a + p and resampling is the identity,
 * so uniform boundaries with rate r and overlap = max(0, P - r) reproduce PatchTST's patches
 * exactly (L = 336, P = 16, stride 8: 42 patches [8k, 8k+16), replication-padded by 8).
 *     token_k = W · patch_k + b  +  pos[k]  +  len[(b - a) - 1]
 * (pos[k] only with index_position; levels[i].position: time adds levels/time_position.h's
 * encoding of the span instead, in model/forecaster.c)
 * W [d, P], b [d]: Linear(P -> d), PyTorch init U(-1/sqrt(P), 1/sqrt(P)); pos [K, d]: learned
 * embedding of the token index, PatchTST's W_pos init U(-0.02, 0.02); len [L, d]: learned
 * embedding of the segment length 1..L (without the overlap), zero-initialised, so a fresh
 * tokenizer with uniform boundaries is PatchTST's patch embedding.
 * Parameter names under prefix (e.g. "levels/0/tokens"): proj/w, proj/b, pos, len.
 *
 * Pooled tokenizer (level l > 1, the alternative): a group of lower tokens [s_g, s_{g+1}) is
 * averaged, then token_g = W · mean + b + pos[g] + len[group_len - 1], with its own Linear(d -> d)
 * (PyTorch init), pos [K, d] (U(-0.02, 0.02)) and len [n_in, d] (zero). Its backward also
 * returns the gradient for the lower tokens, so the lower tokenizer keeps learning through it.
 *
 * Backward passes accumulate (+=) into P->grad (and dlower). The raw data x takes no gradient. */
#ifndef RP_TOKENIZER_H
#define RP_TOKENIZER_H

#include <stddef.h>

#include "core/error.h"
#include "core/params.h"
#include "core/rng.h"

typedef struct rp_tokenizer {
    int L, K, patch_len, overlap, d_model;
    int index_position;     /* 1: pos[k] is declared and added; 0: none (pos = (size_t)-1) */
    size_t w, b, pos, len;
} rp_tokenizer;

int tokenizer_declare(rp_tokenizer *tok, rp_params *P, const char *prefix, int L, int K,
                      int patch_len, int overlap, int d_model, int index_position, rp_error *err);
void tokenizer_init(const rp_tokenizer *tok, rp_params *P, rp_rng *rng);

/* The resampled span of one patch: out[P] from x[L], segment [a, b), overlap steps of context. */
void tokenizer_resample(float *out, const float *x, int L, int a, int b, int overlap, int P);

/* tokens (B, K, d); resampled (B, K, P) is written and must be kept for backward;
 * x (B, L); starts (B, K) raw-step starts of the K patches of each window. */
void tokenizer_forward(const rp_tokenizer *tok, const rp_params *P, float *tokens,
                       float *resampled, const float *x, const int *starts, int B);
void tokenizer_backward(const rp_tokenizer *tok, rp_params *P, const float *dtokens,
                        const float *resampled, const int *starts, int B);

typedef struct rp_pooled_tokenizer {
    int n_in, K, d_model;
    int index_position;     /* as rp_tokenizer's */
    size_t w, b, pos, len;
} rp_pooled_tokenizer;

int pooled_tokenizer_declare(rp_pooled_tokenizer *tok, rp_params *P, const char *prefix, int n_in,
                             int K, int d_model, int index_position, rp_error *err);
void pooled_tokenizer_init(const rp_pooled_tokenizer *tok, rp_params *P, rp_rng *rng);
/* Floats of saved activations and scratch for a batch of B windows. */
size_t pooled_tokenizer_act_floats(const rp_pooled_tokenizer *tok, int B);
/* tokens (B, K, d) from lower (B, n_in, d); starts (B, K) in lower-token units. */
void pooled_tokenizer_forward(const rp_pooled_tokenizer *tok, const rp_params *P, float *tokens,
                              const float *lower, const int *starts, int B, float *act);
/* dlower (B, n_in, d) += ∂/∂lower (NULL to skip); parameter gradients into P->grad. */
void pooled_tokenizer_backward(const rp_pooled_tokenizer *tok, rp_params *P, float *dlower,
                               const float *dtokens, const int *starts, int B, float *act);

#endif
