/* Multi-head self-attention over the tokens of each window, as PatchTST's _MultiheadAttention
 * without residual attention:
 *
 *   [Q K V] = in · W_qkvᵀ + b_qkv                     one fused linear [3d × d], bias
 *   A_bh    = softmax(Q_bh K_bhᵀ / √dh)               per window b and head h (dh = d / H)
 *   O_bh    = dropout(A_bh) · V_bh                    attn_dropout (PatchTST default 0)
 *   out     = concat_h(O_bh) · W_outᵀ + b_out
 *
 * PatchTST also applies Dropout(dropout) right after the output projection (proj_dropout); the
 * transformer folds it into its residual dropout (see backbone/transformer.h), so `out` here is the
 * undropped projection.
 *
 * Layout: the QKV projection is stored feature-major, qkvᵀ (3d × B·K), so each head's Q, K and V
 * are strided views of it. The per-window products (K × K × dh: 42 × 42 × 4 at ETTh1 size) are too
 * small for bli_sgemm's per-call set-up, so they run on BLIS's micro-kernel directly over packed
 * operands (core/blas.h, rp_gemm_packed), with the scores kept transposed (keys × queries) in the
 * kernel's own panel layout: see attention.c for the arrangement.
 *
 * Threads: attention_forward/backward split the windows over rp_threads() threads (at most one
 * per window and RP_ATTENTION_SLOTS), each running its windows' projections and heads with
 * single-threaded BLIS; backward then splits the parameter gradients by output feature. Called
 * from inside a parallel region they run on the calling thread; the _range functions below let a
 * caller that owns the threads (the transformer) do the split itself.
 *
 * Parameters (module paths under prefix): w_qkv [3d × d], b_qkv [3d], w_out [d × d], b_out [d].
 * Rows 0..d-1 of w_qkv make Q, d..2d-1 K, 2d..3d-1 V; head h owns features h·dh .. h·dh+dh-1 of
 * each (PyTorch's view(B, K, H, dh) of separate W_Q, W_K, W_V). */
#ifndef RP_ATTENTION_H
#define RP_ATTENTION_H

#include <stddef.h>

#include "core/error.h"
#include "core/kinds.h"
#include "core/linear.h"
#include "core/params.h"
#include "core/rng.h"

/* Concurrent threads one activation arena and one workspace can serve (each needs its own small
 * slot of per-group workspace); calls use at most this many threads. */
#define RP_ATTENTION_SLOTS 16

typedef struct rp_attention {
    int d_model, n_heads, head_dim;
    float attn_dropout;
    rp_linear qkv, out;
} rp_attention;

int attention_declare(rp_attention *a, rp_params *P, const char *prefix, int d_model, int n_heads,
                      float attn_dropout, rp_error *err);
/* PyTorch Linear defaults for both projections. */
void attention_init(const rp_attention *a, rp_params *P, rp_rng *rng);

/* Floats the forward saves for backward (qkvᵀ, attention weights, their dropout, context). The
 * layout follows BLIS's micro-kernel tile, so an arena is only meaningful within one process. */
size_t attention_act_floats(const rp_attention *a, int batch, int n_tokens);
/* Floats of backward workspace (dcontext, dqkvᵀ, per-thread slots); may be shared by the layers
 * of a stack since it is dead between backward calls. */
size_t attention_scratch_floats(const rp_attention *a, int batch, int n_tokens);

/* training = 0 or attn_dropout = 0: no dropout. The mask of each attention weight is decided by
 * (seed, ((window · H + head) · K + key) · K + query), the window counted across the whole batch
 * (every rank and shard), so it depends neither on the thread count nor on the kernel's tile. */
void attention_forward(const rp_attention *a, const rp_params *P,
                       float *out,        // (B, K, d)
                       const float *in,   // (B, K, d)
                       int batch, int n_tokens, int training, unsigned long long seed,
                       float *act);       // attention_act_floats
/* din += ∂L/∂in; parameter gradients += into P->grad. `in`, `training` and `act` as the forward
 * had them; scratch holds attention_scratch_floats floats. */
void attention_backward(const rp_attention *a, rp_params *P,
                        float *din,        // (B, K, d)
                        const float *dout, // (B, K, d)
                        const float *in,   // (B, K, d)
                        int batch, int n_tokens, int training,
                        const float *act, float *scratch);

/* Pieces for callers that split the batch over their own threads (each thread its windows
 * [b0, b1) of the same full-batch buffers). attention_forward is forward_range over every window;
 * attention_backward is backward_range over every window (activation gradients only), then
 * backward_params, which adds the parameter gradients over all windows and may be split by output
 * features into `parts` disjoint parts (part = 0 .. parts − 1) run after every range is done.
 * slot (0 .. RP_ATTENTION_SLOTS − 1) picks the calling thread's workspace: concurrent calls must
 * use distinct slots. pass (core/kinds.h): PASS_TRAIN as training = 1; PASS_EVAL as training = 0;
 * PASS_SCORE the same outputs as PASS_EVAL without keeping the attention weights (each head's
 * go through the slot's one block), so no backward may read act afterwards. */
void attention_forward_range(const rp_attention *a, const rp_params *P, float *out, const float *in,
                             int batch, int n_tokens, int b0, int b1, rp_pass pass, unsigned long long seed,
                             float *act, int slot);
void attention_backward_range(const rp_attention *a, const rp_params *P, float *din, const float *dout,
                              const float *in, int batch, int n_tokens, int b0, int b1, int training,
                              const float *act, float *scratch, int slot);
void attention_backward_params(const rp_attention *a, rp_params *P, const float *dout, const float *in,
                               int batch, int n_tokens, const float *act, const float *scratch, int part,
                               int parts);

/* Multiply-adds ×2 of one forward pass. */
double attention_flops(const rp_attention *a, int batch, int n_tokens);

#endif
