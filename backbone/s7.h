/* S7 backbone: a stack of selective, stably reparameterised diagonal state-space layers, after
 * "S7: Selective and Simplified State Space Layers for Sequence Modeling" (Soydan, Zubić et al.,
 * 2024), over the tokens of each window. For each of n_layers layers, with x the layer input
 * (B, K, d), N = state_size:
 *
 *   [δ_t  β̃_t  γ̃_t] = x_t · W_inᵀ + b_in                one projection of the token: d + 2N outputs
 *   β_t = β̃_t / sqrt(1 + ‖β̃_t‖²/N),  γ_t likewise        bounded maps: ‖β_t‖₂, ‖γ_t‖₂ < √N
 *   A_t[c,n]  = Λ[c,n] + δ_t[c]                          static base + input-dependent shift
 *   Ā_t[c,n]  = (1 − ε) (1 − 1 / (A_t[c,n]² + 1/2))      ∈ [−(1 − ε), 1 − ε), ε = S7_EPS
 *   h_t[c,n]  = Ā_t[c,n] h_{t−1}[c,n] + (1 − Ā_t[c,n]) β_t[n] x_t[c]        h_{−1} = 0
 *   y_t[c]    = Σ_n γ_t[n] h_t[c,n] + D[c] x_t[c]
 *   [v q]     = GELU(y_t) · W_outᵀ + b_out               gated output (GLU): d → 2d
 *   x'        = norm(x + dropout(v ⊙ σ(q)))              residual, then norm (post-norm, as PatchTST)
 *
 * State: every channel c carries its own diagonal state of size N (d·N numbers per window, as in
 * Mamba), while the input and output maps β_t, γ_t ∈ R^N are shared by the channels of a token.
 * The transition map of S7's reparameterisation, 1 − 1/(A² + 1/2), takes every real A into
 * [−1, 1); the factor (1 − ε) keeps it strictly inside the unit circle even where float rounding
 * would give exactly ±1 (A = 0, or A² ≳ 2^24), so no input, however large, makes a step unstable.
 * The (1 − Ā) factor on the input map makes a channel's state a weighted average of past inputs
 * when Ā ∈ [0, 1) (gain ≤ 1), which keeps state magnitudes independent of the memory length.
 * The input and output maps are bounded. With raw maps (β_t = β̃_t), y = γ(x)·h(β(x)·x) is cubic
 * in the layer input and a stack of three layers a polynomial of degree 27. On ETTh1 this gave
 * windows with large tokens (|x| ≈ 13 against ≈ 3) forecast errors of thousands in evaluation,
 * where batch norm's running statistics are affine and bound nothing. Bounded, the scan grows at
 * most linearly with its input. docs/backbones.md says which parts are input-dependent and why,
 * and what the bound guarantees.
 *
 * Parameters under "<prefix>/layers/<l>/": in_proj/{weight,bias} [(d + 2N) × d], lambda [d × N],
 * skip [d], out_proj/{weight,bias} [2d × d], norm/{gamma,beta} (+ running statistics for batch norm).
 *
 * Memory: one activation arena of s7_act_floats(s, batch) floats, allocated once by the caller;
 * forward saves everything backward needs in it (a copy of the input, every state h_t, the mode it
 * ran in); backward also uses it as workspace. Nothing is allocated per call. */
#ifndef RP_S7_H
#define RP_S7_H

#include <stddef.h>

#include "core/error.h"
#include "core/linear.h"
#include "core/norm.h"
#include "core/params.h"
#include "core/rng.h"
#include "core/kinds.h"

#define RP_S7_MAX_LAYERS 16
#define RP_S7_EPS 1e-3f

/* S7's stable transition map, scaled into the open unit disc: |s7_transition(a)| ≤ 1 − RP_S7_EPS
 * for every a (±inf included). */
static inline float s7_transition(float a) { return (1.0f - RP_S7_EPS) * (1.0f - 1.0f / (a * a + 0.5f)); }
/* d s7_transition / da = (1 − ε) 2a / (a² + 1/2)²; 0 where a² overflows. */
static inline float s7_transition_grad(float a) {
    float q = a * a + 0.5f;
    return (1.0f - RP_S7_EPS) * 2.0f * (a / q) / q;  /* a / q first: no inf / inf for huge a */
}

typedef struct rp_s7_layer {
    rp_linear in_proj, out_proj;
    size_t lambda, skip;
    rp_norm norm;
} rp_s7_layer;

typedef struct rp_s7 {
    int n_tokens, d_model, n_layers, state_size;
    float dropout;
    rp_norm_kind norm;
    rp_s7_layer layers[RP_S7_MAX_LAYERS];
} rp_s7;

int s7_declare(rp_s7 *s, rp_params *P, const char *prefix, int n_tokens, int d_model, int n_layers,
               int state_size, float dropout, rp_norm_kind norm, rp_error *err);
/* Projections: PyTorch Linear defaults; Λ[c,n] such that Ā spans 0.5 … 0.99 over n at δ = 0
 * (memories of ~2 to ~100 tokens); D = 1; norm gamma = 1, beta = 0. Draws from rng in declaration
 * order. */
void s7_init(const rp_s7 *s, rp_params *P, rp_rng *rng);
size_t s7_act_floats(const rp_s7 *s, int batch);
/* Same conventions as transformer_forward: training = 1 turns on dropout (masks from dropout_seed)
 * and batch statistics for batch norm. */
void s7_forward(const rp_s7 *s, rp_params *P,
                float *out,       // (B, K, d)
                const float *in,  // (B, K, d)
                int batch, int training, unsigned long long dropout_seed, float *act);
/* din += ∂L/∂in and parameter gradients += into P->grad, after a forward with the same batch and
 * act. act is used as workspace: run backward once per forward. */
void s7_backward(const rp_s7 *s, rp_params *P,
                 float *din,        // (B, K, d), accumulated
                 const float *dout, // (B, K, d)
                 int batch, float *act);
/* Forward multiply-adds ×2 (plus the scan's elementwise work) for a batch. */
double s7_flops(const rp_s7 *s, int batch);
/* Ā_t[c,n] of layer `layer` as the last forward computed them, from its saved projection: for tests
 * and diagnostics. */
void s7_transitions(const rp_s7 *s, const rp_params *P, int layer, int batch, const float *act,
                    float *abar);  // (B, K, d, N)

/* ---- the selective scan on its own (used by the layer; exposed for gradient checks) ----------- */

/* The bound of a map v (β̃_t or γ̃_t, N entries): s = 1 / sqrt(1 + ‖v‖²/N), so that the bounded map
 * s·v has ‖s·v‖₂ < √N for every finite v (≤ √N after float rounding), and s·v ≈ v for small v (a
 * token can still write or read nothing). Where ‖v‖² overflows float it is taken in double. */
float s7_map_scale(const float *v, int n_state);

/* y, h from x, the projection z = [δ β̃ γ̃] (raw maps: the scan applies their bound, as scales
 * folded into x and y, so the bounded maps are never stored) and the static Λ, D. One window per
 * OpenMP iteration. */
void s7_scan_forward(float *y,             // (B, K, d)
                     float *h,             // (B, K, d, N) every state, saved for backward
                     const float *x,       // (B, K, d)
                     const float *z,       // (B, K, d + 2N)
                     const float *lambda,  // (d, N)
                     const float *skip,    // (d)
                     int batch, int n_tokens, int d, int n_state);
/* Floats of workspace s7_scan_backward needs: per window a carry, partial sums for Λ and D, and
 * what a token's ∂L/∂β̃, ∂L/∂γ̃ held on entry (backward accumulates into dz). */
size_t s7_scan_work_floats(int batch, int d, int n_state);
/* dx += ∂L/∂x, dz += ∂L/∂z, dlambda += ∂L/∂Λ, dskip += ∂L/∂D given dy. work holds
 * s7_scan_work_floats floats: each window sums its own share of ∂L/∂Λ and ∂L/∂D there, added up
 * after the parallel loop in window order, so no two threads share a sum and results do not depend
 * on the thread count. */
void s7_scan_backward(float *dx,            // (B, K, d)
                      float *dz,            // (B, K, d + 2N)
                      float *dlambda,       // (d, N)
                      float *dskip,         // (d)
                      float *work,          // s7_scan_work_floats(B, d, N)
                      const float *dy,      // (B, K, d)
                      const float *x, const float *z, const float *h,
                      const float *lambda, const float *skip,
                      int batch, int n_tokens, int d, int n_state);

#endif
