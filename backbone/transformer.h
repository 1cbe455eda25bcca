/* PatchTST encoder stack (TSTEncoder with post-norm and res_attention off), over the tokens of each
 * window: for each of n_layers layers,
 *
 *   x = x + dropout(attn(x));   x = norm1(x)
 *   x = x + dropout(FF(x));     x = norm2(x)        FF = Linear(d, d_ff) → GELU → dropout → Linear(d_ff, d)
 *
 * norm is BatchNorm1d over d_model across all B·K tokens (PatchTST default) or LayerNorm(d_model).
 * Dropout on the attention branch: PatchTST drops the attention output twice in a row (the
 * projection's proj_dropout, then the layer's dropout_attn), i.e. a single dropout with keep
 * probability (1 − p)²; we draw that single mask (same distribution, one pass). Attention-weight
 * dropout is PatchTST's attn_dropout = 0.
 *
 * Parameters under "<prefix>/layers/<l>/": attn/{w_qkv,b_qkv,w_out,b_out}, norm1/{gamma,beta},
 * ff/{w1,b1,w2,b2}, norm2/{gamma,beta}, and for batch norm the buffers
 * norm{1,2}/{running_mean,running_var}.
 *
 * Memory: one activation arena of transformer_act_floats(t, batch) floats, allocated once by the
 * caller and reused; forward writes everything backward needs into it (including a copy of the
 * input and the mode it ran in), backward also uses it as workspace. Nothing is allocated per call.
 *
 * Threads: rp_threads() threads (at most one per window and RP_TRANSFORMER_MAX_THREADS) in one
 * parallel region per pass, each owning a contiguous range of windows; see transformer.c. Output
 * and gradients are bit-identical for a given thread count (batch-norm statistics combine
 * per-thread column sums, so different thread counts may differ in the last bits). */
#ifndef RP_TRANSFORMER_H
#define RP_TRANSFORMER_H

#include <stddef.h>

#include "backbone/attention.h"
#include "core/error.h"
#include "core/linear.h"
#include "core/norm.h"
#include "core/params.h"
#include "core/rng.h"
#include "core/kinds.h"

#define RP_TRANSFORMER_MAX_LAYERS 16
#define RP_TRANSFORMER_MAX_THREADS RP_ATTENTION_SLOTS  /* threads beyond this are not used */

typedef struct rp_transformer_layer {
    rp_attention attn;
    rp_norm norm1, norm2;
    rp_linear ff1, ff2;
} rp_transformer_layer;

typedef struct rp_transformer {
    int n_tokens, d_model, n_heads, n_layers, d_ff;
    float dropout;
    rp_norm_kind norm;
    rp_transformer_layer layers[RP_TRANSFORMER_MAX_LAYERS];
} rp_transformer;

int transformer_declare(rp_transformer *t, rp_params *P, const char *prefix, int n_tokens, int d_model,
                        int n_heads, int n_layers, int d_ff, float dropout, rp_norm_kind norm,
                        rp_error *err);
/* PyTorch default inits: Linear W, b ~ U(-1/√in, 1/√in); norms gamma = 1, beta = 0, running
 * mean 0, running var 1. Draws from rng in declaration order. */
void transformer_init(const rp_transformer *t, rp_params *P, rp_rng *rng);
/* Activation floats for a batch of `batch` windows (saved activations + backward workspace). */
size_t transformer_act_floats(const rp_transformer *t, int batch);
/* pass (core/kinds.h) PASS_TRAIN (= 1): dropout on (masks from dropout_seed), batch norm uses
 * batch statistics and updates its running statistics. PASS_EVAL (= 0): no dropout, batch norm
 * uses running statistics, so each window's output depends on that window alone. PASS_SCORE:
 * PASS_EVAL's output, bit for bit, keeping neither the attention weights nor GELU's derivative:
 * no backward may follow (transformer_backward stops the process if one does). */
void transformer_forward(const rp_transformer *t, rp_params *P,
                         float *out,       // (B, K, d)
                         const float *in,  // (B, K, d)
                         int batch, rp_pass pass, unsigned long long dropout_seed, float *act);
/* din += ∂L/∂in and parameter gradients += into P->grad, given dout = ∂L/∂out, after a forward
 * (not a scoring one) with the same batch and act. Backward keeps the saved activations intact (it
 * uses the arena's workspace only), so it may run more than once per forward.
 * Threads: both passes use rp_threads() threads (at most one per window), see transformer.c. */
void transformer_backward(const rp_transformer *t, rp_params *P,
                          float *din,        // (B, K, d), accumulated
                          const float *dout, // (B, K, d)
                          int batch, float *act);
/* Forward multiply-adds ×2 for a batch. */
double transformer_flops(const rp_transformer *t, int batch);

#endif
