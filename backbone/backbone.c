#include "backbone/backbone.h"

#include <string.h>

int backbone_declare(rp_backbone *bb, rp_params *P, const char *prefix, const rp_recipe *r, int n_tokens,
                     rp_error *err) {
    memset(bb, 0, sizeof *bb);
    bb->kind = r->backbone.kind;
    const int d = r->backbone.d_model, layers = r->backbone.n_layers;
    const float dropout = (float)r->backbone.dropout;
    switch (r->backbone.kind) {
    case BACKBONE_TRANSFORMER:
        return transformer_declare(&bb->transformer, P, prefix, n_tokens, d, r->backbone.n_heads, layers,
                                   r->backbone.d_ff, dropout, r->backbone.norm, err);
    case BACKBONE_S7:
        return s7_declare(&bb->s7, P, prefix, n_tokens, d, layers, r->backbone.state_size, dropout,
                          r->backbone.norm, err);
    case BACKBONE_ETSMLP:
        return etsmlp_declare(&bb->etsmlp, P, prefix, n_tokens, d, layers, r->backbone.expand, dropout,
                              r->backbone.norm, err);
    }
    return rp_fail(err, "%s: unknown backbone kind %d", prefix, (int)r->backbone.kind);
}

void backbone_init(const rp_backbone *bb, rp_params *P, rp_rng *rng) {
    switch (bb->kind) {
    case BACKBONE_TRANSFORMER: transformer_init(&bb->transformer, P, rng); break;
    case BACKBONE_S7: s7_init(&bb->s7, P, rng); break;
    case BACKBONE_ETSMLP: etsmlp_init(&bb->etsmlp, P, rng); break;
    }
}

size_t backbone_act_floats(const rp_backbone *bb, int batch) {
    switch (bb->kind) {
    case BACKBONE_TRANSFORMER: return transformer_act_floats(&bb->transformer, batch);
    case BACKBONE_S7: return s7_act_floats(&bb->s7, batch);
    case BACKBONE_ETSMLP: return etsmlp_act_floats(&bb->etsmlp, batch);
    }
    return 0;
}

void backbone_forward(const rp_backbone *bb, rp_params *P, float *out, const float *in, int batch,
                      rp_pass pass, unsigned long long dropout_seed, float *act) {
    /* S7 and ETSMLP keep the same activations whether a backward follows or not */
    const int training = pass == PASS_TRAIN;
    switch (bb->kind) {
    case BACKBONE_TRANSFORMER:
        transformer_forward(&bb->transformer, P, out, in, batch, pass, dropout_seed, act);
        break;
    case BACKBONE_S7: s7_forward(&bb->s7, P, out, in, batch, training, dropout_seed, act); break;
    case BACKBONE_ETSMLP: etsmlp_forward(&bb->etsmlp, P, out, in, batch, training, dropout_seed, act); break;
    }
}

void backbone_backward(const rp_backbone *bb, rp_params *P, float *din, const float *dout, int batch,
                       float *act) {
    switch (bb->kind) {
    case BACKBONE_TRANSFORMER: transformer_backward(&bb->transformer, P, din, dout, batch, act); break;
    case BACKBONE_S7: s7_backward(&bb->s7, P, din, dout, batch, act); break;
    case BACKBONE_ETSMLP: etsmlp_backward(&bb->etsmlp, P, din, dout, batch, act); break;
    }
}

double backbone_flops(const rp_backbone *bb, int batch) {
    switch (bb->kind) {
    case BACKBONE_TRANSFORMER: return transformer_flops(&bb->transformer, batch);
    case BACKBONE_S7: return s7_flops(&bb->s7, batch);
    case BACKBONE_ETSMLP: return etsmlp_flops(&bb->etsmlp, batch);
    }
    return 0.0;
}

