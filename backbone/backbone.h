/* One interface over the three backbones (docs/backbones.md): tokens (B, K, d) → representation
 * (B, K, d). backbone.kind in the recipe picks one; the others stay unused in the struct. Every
 * call forwards to the chosen backbone with the same arguments, so the conventions are those of
 * backbone/transformer.h: one activation arena of backbone_act_floats floats, allocated by the
 * caller; backward ACCUMULATES into din and into P->grad, once per forward. */
#ifndef RP_BACKBONE_H
#define RP_BACKBONE_H

#include <stddef.h>

#include "backbone/etsmlp.h"
#include "backbone/s7.h"
#include "backbone/transformer.h"
#include "core/error.h"
#include "core/params.h"
#include "core/rng.h"
#include "io/recipe.h"

typedef struct rp_backbone {
    rp_backbone_kind kind;
    rp_transformer transformer;
    rp_s7 s7;
    rp_etsmlp etsmlp;
} rp_backbone;

/* Declares the chosen backbone's parameters under prefix (normally "backbone") from the recipe's
 * backbone section (kind, d_model, n_layers, dropout, norm; n_heads and d_ff for the transformer,
 * state_size for s7, expand for etsmlp) for windows of n_tokens tokens. */
int backbone_declare(rp_backbone *bb, rp_params *P, const char *prefix, const rp_recipe *r, int n_tokens,
                     rp_error *err);
void backbone_init(const rp_backbone *bb, rp_params *P, rp_rng *rng);
size_t backbone_act_floats(const rp_backbone *bb, int batch);
/* pass: core/kinds.h (PASS_SCORE: no backbone_backward may follow; the transformer then keeps
 * less, S7 and ETSMLP run as PASS_EVAL). */
void backbone_forward(const rp_backbone *bb, rp_params *P,
                      float *out,       // (B, K, d)
                      const float *in,  // (B, K, d)
                      int batch, rp_pass pass, unsigned long long dropout_seed, float *act);
void backbone_backward(const rp_backbone *bb, rp_params *P,
                       float *din,        // (B, K, d), accumulated
                       const float *dout, // (B, K, d)
                       int batch, float *act);
double backbone_flops(const rp_backbone *bb, int batch);

#endif
