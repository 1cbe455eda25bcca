/* ETSMLP backbone: a channel MLP made into a sequence learner by complex exponential smoothing,
 * after "Incorporating Exponential Smoothing into MLP" (Chu & Lin, 2024), over the tokens of each
 * window. For each of n_layers blocks, with x the block input (B, K, d) and E = expand·d:
 *
 *   u      = norm(x)
 *   [p q]  = u · W_inᵀ + b_in                 one projection: p (E) = the linear up, q (d) the gate
 *   s_t    = μ s_{t−1} + κ p_t   (complex)    CES per channel e, causal over tokens, s_{−1} = 0
 *   c_t    = Re(s_t) + ω p_t
 *   m      = GELU(c) · W_downᵀ + b_down       linear down: E → d
 *   x'     = x + dropout(m ⊙ σ(q))            gated branch plus skip
 *
 * and after the last block out = norm_final(x) (the blocks are pre-norm, so the stack ends with one
 * more norm; a head then sees normalised tokens as it does after the transformer).
 *
 * Complex exponential smoothing (CES), per channel e, with learnable a, θ, α_raw, β, ω:
 *   λ = σ(a) e^{iθ} (|λ| < 1),   α = softplus(α_raw) > 0,
 *   μ = λ^α = ρ e^{iφ},  ρ = min(σ(a)^α, RP_CES_MAX_RHO),  φ = αθ,    κ = β (1 − μ)
 * i.e. s_t = λ^α s_{t−1} + β(1 − λ^α) p_t. The clamp keeps every step strictly inside the unit
 * circle in float (σ(a)^α rounds to 1 for large a or tiny α); where it binds, a and α get no
 * gradient through ρ. ρ ≤ 0.999 still remembers ~1000 tokens, 3× the longest window we use.
 *
 * Forward is a recurrence, not an FFT convolution: with K ≤ 336 tokens the recurrence costs ~10 flops
 * per token and channel, an FFT of the zero-padded length several hundred (docs/backbones.md has
 * the measurement).
 *
 * Parameters under "<prefix>/layers/<l>/": norm/{gamma,beta}, in_proj/{weight,bias} [(E + d) × d],
 * ces/{a,theta,alpha,beta,omega} [E], down/{weight,bias} [d × E]; then "<prefix>/norm_final".
 *
 * Memory: one activation arena of etsmlp_act_floats(e, batch) floats, as for the transformer. */
#ifndef RP_ETSMLP_H
#define RP_ETSMLP_H

#include <stddef.h>

#include "core/error.h"
#include "core/linear.h"
#include "core/norm.h"
#include "core/params.h"
#include "core/rng.h"
#include "core/kinds.h"

#define RP_ETSMLP_MAX_LAYERS 16
#define RP_CES_MAX_RHO 0.999f

/* ---- complex exponential smoothing (one module; exposed for gradient checks) ------------------- */

typedef struct rp_ces {
    int dim;
    size_t a, theta, alpha, beta, omega;  /* each [dim] */
} rp_ces;

int ces_declare(rp_ces *m, rp_params *P, const char *prefix, int dim, rp_error *err);
/* σ(a) ~ U(0.5, 0.99) (memories of 2 to 100 tokens), θ ~ U(0, π/4), α = 1, β = 1, ω = 0. */
void ces_init(const rp_ces *m, rp_params *P, rp_rng *rng);
/* The per-step coefficients of every channel from the parameters: rows μ_re, μ_im, κ_re, κ_im. */
void ces_coefficients(const rp_ces *m, const rp_params *P, float *coef /* (4, dim) */);
/* out = CES(in) with in read at row stride in_stride (a slice of a wider projection); state saves
 * every s_t for backward; coef receives ces_coefficients. One window per OpenMP iteration. */
void ces_forward(const rp_ces *m, const rp_params *P,
                 float *out,         // (B, K, E)
                 float *state,       // (B, K, 2, E): per token E real parts, then E imaginary
                 float *coef,        // (4, E)
                 const float *in,    // (B, K) rows of stride in_stride, first E used
                 int in_stride, int batch, int n_tokens);
/* Floats of workspace ces_backward needs (per window: carries and partial sums). */
size_t ces_work_floats(const rp_ces *m, int batch);
/* din += ∂L/∂in (row stride din_stride) and the module's parameter gradients += into P->grad. */
void ces_backward(const rp_ces *m, rp_params *P,
                  float *din, int din_stride,   // (B, K) rows, first E accumulated
                  const float *dout,            // (B, K, E)
                  const float *in, int in_stride,
                  const float *state, const float *coef,
                  int batch, int n_tokens, float *work);

/* ---- the stack ----------------------------------------------------------------------------------- */

typedef struct rp_etsmlp_layer {
    rp_norm norm;
    rp_linear in_proj, down;
    rp_ces ces;
} rp_etsmlp_layer;

typedef struct rp_etsmlp {
    int n_tokens, d_model, n_layers, expand, hidden;  /* hidden = expand · d_model */
    float dropout;
    rp_norm_kind norm;
    rp_etsmlp_layer layers[RP_ETSMLP_MAX_LAYERS];
    rp_norm norm_final;
} rp_etsmlp;

int etsmlp_declare(rp_etsmlp *e, rp_params *P, const char *prefix, int n_tokens, int d_model,
                   int n_layers, int expand, float dropout, rp_norm_kind norm, rp_error *err);
/* Linear layers: PyTorch defaults; CES as ces_init; norms gamma = 1, beta = 0. Draws from rng in
 * declaration order. */
void etsmlp_init(const rp_etsmlp *e, rp_params *P, rp_rng *rng);
size_t etsmlp_act_floats(const rp_etsmlp *e, int batch);
/* Same conventions as transformer_forward / transformer_backward. */
void etsmlp_forward(const rp_etsmlp *e, rp_params *P,
                    float *out,       // (B, K, d)
                    const float *in,  // (B, K, d)
                    int batch, int training, unsigned long long dropout_seed, float *act);
void etsmlp_backward(const rp_etsmlp *e, rp_params *P,
                     float *din,        // (B, K, d), accumulated
                     const float *dout, // (B, K, d)
                     int batch, float *act);
double etsmlp_flops(const rp_etsmlp *e, int batch);

#endif
