/* The backbone dispatcher: for each kind it declares the same parameters and gives bit-identical
 * outputs, input gradients and parameter gradients to calling that backbone directly; and each
 * backbone, behind the dispatcher, learns a small generated sequence task with Adam. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../gradcheck.h"
#include "backbone/backbone.h"
#include "core/adam.h"
#include "core/linear.h"
#include "tests/small_backbone.h"

static void small_recipe(rp_recipe *r, rp_backbone_kind kind) {
    recipe_defaults(r);
    r->backbone.kind = kind;
    small_backbone(r, 8, 2, 2, 16, 0.1);
    r->backbone.state_size = 4;
    r->backbone.expand = 2;
    r->backbone.norm = NORM_BATCH;
}

/* Declares the same backbone directly (not through the dispatcher) and runs it. */
typedef struct direct {
    rp_backbone_kind kind;
    rp_transformer t;
    rp_s7 s;
    rp_etsmlp e;
} direct;

static int direct_declare(direct *x, rp_params *P, const rp_recipe *r, int K, rp_error *err) {
    x->kind = r->backbone.kind;
    float p = (float)r->backbone.dropout;
    switch (x->kind) {
    case BACKBONE_TRANSFORMER:
        return transformer_declare(&x->t, P, "backbone", K, r->backbone.d_model, r->backbone.n_heads,
                                   r->backbone.n_layers, r->backbone.d_ff, p, r->backbone.norm, err);
    case BACKBONE_S7:
        return s7_declare(&x->s, P, "backbone", K, r->backbone.d_model, r->backbone.n_layers,
                          r->backbone.state_size, p, r->backbone.norm, err);
    case BACKBONE_ETSMLP:
        return etsmlp_declare(&x->e, P, "backbone", K, r->backbone.d_model, r->backbone.n_layers,
                              r->backbone.expand, p, r->backbone.norm, err);
    }
    return -1;
}

static void direct_run(const direct *x, rp_params *P, rp_rng *rng, float *out, float *din, const float *in,
                       const float *dout, int B, size_t *act_floats, double *flops) {
    float *act = NULL;
    switch (x->kind) {
    case BACKBONE_TRANSFORMER:
        transformer_init(&x->t, P, rng);
        *act_floats = transformer_act_floats(&x->t, B);
        *flops = transformer_flops(&x->t, B);
        act = malloc(*act_floats * sizeof(float));
        transformer_forward(&x->t, P, out, in, B, 1, 77, act);
        transformer_backward(&x->t, P, din, dout, B, act);
        break;
    case BACKBONE_S7:
        s7_init(&x->s, P, rng);
        *act_floats = s7_act_floats(&x->s, B);
        *flops = s7_flops(&x->s, B);
        act = malloc(*act_floats * sizeof(float));
        s7_forward(&x->s, P, out, in, B, 1, 77, act);
        s7_backward(&x->s, P, din, dout, B, act);
        break;
    case BACKBONE_ETSMLP:
        etsmlp_init(&x->e, P, rng);
        *act_floats = etsmlp_act_floats(&x->e, B);
        *flops = etsmlp_flops(&x->e, B);
        act = malloc(*act_floats * sizeof(float));
        etsmlp_forward(&x->e, P, out, in, B, 1, 77, act);
        etsmlp_backward(&x->e, P, din, dout, B, act);
        break;
    }
    free(act);
}

static void check_dispatch_identical(rp_backbone_kind kind) {
    const int B = 3, K = 5, d = 8;
    const size_t n = (size_t)B * K * d;
    rp_recipe r;
    small_recipe(&r, kind);
    rp_error err;
    rp_params P1, P2;
    params_init(&P1);
    params_init(&P2);
    rp_backbone bb;
    direct x;
    cr_assert_eq(backbone_declare(&bb, &P1, "backbone", &r, K, &err), 0, "%s", err.msg);
    cr_assert_eq(direct_declare(&x, &P2, &r, K, &err), 0, "%s", err.msg);
    cr_assert_eq(params_alloc(&P1, &err), 0, "%s", err.msg);
    cr_assert_eq(params_alloc(&P2, &err), 0, "%s", err.msg);
    cr_assert_eq(P1.n_tensors, P2.n_tensors);
    cr_assert_eq(P1.total, P2.total);
    for (int i = 0; i < P1.n_tensors; i++) cr_assert_str_eq(P1.tensors[i].name, P2.tensors[i].name);

    float *in = malloc(n * sizeof(float)), *dout = malloc(n * sizeof(float));
    float *out1 = malloc(n * sizeof(float)), *out2 = malloc(n * sizeof(float));
    float *din1 = calloc(n, sizeof(float)), *din2 = calloc(n, sizeof(float));
    gc_fill_uniform(in, n, 5, -1.0, 1.0);
    gc_fill_uniform(dout, n, 6, -1.0, 1.0);

    rp_rng rng1, rng2;
    rng_seed(&rng1, 3, 0);
    rng_seed(&rng2, 3, 0);
    backbone_init(&bb, &P1, &rng1);
    size_t act1 = backbone_act_floats(&bb, B);
    double flops1 = backbone_flops(&bb, B);
    float *act = malloc(act1 * sizeof(float));
    backbone_forward(&bb, &P1, out1, in, B, 1, 77, act);
    backbone_backward(&bb, &P1, din1, dout, B, act);
    free(act);

    size_t act2;
    double flops2;
    direct_run(&x, &P2, &rng2, out2, din2, in, dout, B, &act2, &flops2);

    cr_assert_eq(act1, act2);
    cr_assert(flops1 == flops2 && flops1 > 0.0);
    cr_assert(memcmp(P1.value, P2.value, P1.total * sizeof(float)) == 0, "%s: init differs",
              rp_backbone_names[kind]);
    cr_assert(memcmp(out1, out2, n * sizeof(float)) == 0, "%s: outputs differ", rp_backbone_names[kind]);
    cr_assert(memcmp(din1, din2, n * sizeof(float)) == 0, "%s: input gradients differ", rp_backbone_names[kind]);
    cr_assert(memcmp(P1.grad, P2.grad, P1.total * sizeof(float)) == 0, "%s: parameter gradients differ",
              rp_backbone_names[kind]);
    free(in); free(dout); free(out1); free(out2); free(din1); free(din2);
    params_free(&P1);
    params_free(&P2);
}

Test(backbone_dispatch, transformer_identical_to_direct_call) { check_dispatch_identical(BACKBONE_TRANSFORMER); }
Test(backbone_dispatch, s7_identical_to_direct_call) { check_dispatch_identical(BACKBONE_S7); }
Test(backbone_dispatch, etsmlp_identical_to_direct_call) { check_dispatch_identical(BACKBONE_ETSMLP); }

Test(backbone_dispatch, recipe_keys_reach_the_backbone) {
    rp_recipe r;
    rp_error err;
    rp_params P;
    rp_backbone bb;

    small_recipe(&r, BACKBONE_S7);
    r.backbone.state_size = 6;
    params_init(&P);
    cr_assert_eq(backbone_declare(&bb, &P, "backbone", &r, 7, &err), 0, "%s", err.msg);
    const rp_tensor_info *t = params_find(&P, "backbone/layers/1/lambda");
    cr_assert(t && t->shape[0] == 8 && t->shape[1] == 6);
    cr_assert_null(params_find(&P, "backbone/layers/2/lambda"));
    cr_assert_eq(bb.s7.n_tokens, 7);
    params_free(&P);

    small_recipe(&r, BACKBONE_ETSMLP);
    r.backbone.expand = 3;
    r.backbone.norm = NORM_LAYER;
    params_init(&P);
    cr_assert_eq(backbone_declare(&bb, &P, "backbone", &r, 7, &err), 0, "%s", err.msg);
    t = params_find(&P, "backbone/layers/0/ces/alpha");
    cr_assert(t && t->shape[0] == 24);
    cr_assert_null(params_find(&P, "backbone/layers/0/norm/running_mean"));  /* layer norm: no buffers */
    params_free(&P);

    small_recipe(&r, BACKBONE_S7);
    r.backbone.state_size = 0;
    params_init(&P);
    cr_assert_eq(backbone_declare(&bb, &P, "backbone", &r, 7, &err), -1);
    cr_assert(strstr(err.msg, "state_size"), "%s", err.msg);
    params_free(&P);
    cr_assert_str_eq(rp_backbone_names[BACKBONE_ETSMLP], "etsmlp");
}

/* ---- learning a generated task ---------------------------------------------------------------- */

/* Windows of K tokens with F random features each (N(0, 1)); the target of token t is
 *   causal:     τ_t = 0.7 τ_{t−1} + 0.3 x_t (an exponential smoothing), scaled to unit variance;
 *   non-causal: τ_t = (x_t + mean_k x_k) / 2 (the transformer sees no positions, so no causality).
 * Model: tokens = x · W_embᵀ + b (F → d), the backbone, then ŷ = out · W_headᵀ + b (d → F), as the
 * forecaster wraps a backbone between an embedding and a head. */
enum { LEARN_F = 4, LEARN_K = 12, LEARN_D = 16, LEARN_TRAIN = 64, LEARN_TEST = 64 };

static void make_task(float *x, float *y, int B, int causal, rp_rng *rng) {
    const int K = LEARN_K, F = LEARN_F;
    for (size_t i = 0; i < (size_t)B * K * F; i++) x[i] = (float)rng_normal(rng);
    const float scale = 1.0f / sqrtf(0.09f / 0.51f);  /* stationary std of the smoothing */
    for (int b = 0; b < B; b++)
        for (int f = 0; f < F; f++) {
            float s = 0.0f, mean = 0.0f;
            for (int t = 0; t < K; t++) mean += x[((size_t)b * K + t) * F + f] / K;
            for (int t = 0; t < K; t++) {
                size_t i = ((size_t)b * K + t) * F + f;
                s = 0.7f * s + 0.3f * x[i];
                y[i] = causal ? s * scale : 0.5f * (x[i] + mean);
            }
        }
}

typedef struct learner {
    rp_backbone bb;
    rp_linear embed, head;
    rp_params P;
    float *tokens, *out, *pred, *dpred, *dout, *dtokens, *act;
} learner;

static double learner_mse(learner *m, const float *x, const float *y, int B, int training, int backward) {
    const int K = LEARN_K, F = LEARN_F, d = LEARN_D, R = B * K;
    const size_t n = (size_t)R * F;
    linear_forward(m->tokens, x, m->P.value + m->embed.weight, m->P.value + m->embed.bias, R, F, d);
    backbone_forward(&m->bb, &m->P, m->out, m->tokens, B, training, 0, m->act);
    linear_forward(m->pred, m->out, m->P.value + m->head.weight, m->P.value + m->head.bias, R, d, F);
    double mse = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)m->pred[i] - y[i];
        mse += e * e;
        m->dpred[i] = (float)(2.0 * e / (double)n);
    }
    if (backward) {
        memset(m->dout, 0, (size_t)R * d * sizeof(float));
        memset(m->dtokens, 0, (size_t)R * d * sizeof(float));
        linear_backward(m->dout, m->P.grad + m->head.weight, m->P.grad + m->head.bias, m->dpred, m->out,
                        m->P.value + m->head.weight, R, d, F);
        backbone_backward(&m->bb, &m->P, m->dtokens, m->dout, B, m->act);
        linear_backward(NULL, m->P.grad + m->embed.weight, m->P.grad + m->embed.bias, m->dtokens, x,
                        m->P.value + m->embed.weight, R, F, d);
    }
    return mse / (double)n;
}

/* Trains for `steps` full-batch Adam steps and returns the held-out MSE (eval mode) before and after. */
static void learn(rp_backbone_kind kind, int causal, int steps, float lr, double *initial, double *final) {
    const int K = LEARN_K, F = LEARN_F, d = LEARN_D, B = LEARN_TRAIN;
    rp_recipe r;
    recipe_defaults(&r);
    r.backbone.kind = kind;
    small_backbone(&r, d, 4, 2, 32, 0.0);
    r.backbone.state_size = 8;
    r.backbone.expand = 2;
    r.backbone.norm = NORM_BATCH;
    learner m;
    memset(&m, 0, sizeof m);
    rp_error err;
    params_init(&m.P);
    cr_assert_eq(linear_declare(&m.embed, &m.P, "embed/weight", "embed/bias", F, d, &err), 0, "%s", err.msg);
    cr_assert_eq(backbone_declare(&m.bb, &m.P, "backbone", &r, K, &err), 0, "%s", err.msg);
    cr_assert_eq(linear_declare(&m.head, &m.P, "head/weight", "head/bias", d, F, &err), 0, "%s", err.msg);
    cr_assert_eq(params_alloc(&m.P, &err), 0, "%s", err.msg);
    rp_rng rng;
    rng_seed(&rng, 2021, 0);
    linear_init(&m.embed, &m.P, &rng);
    backbone_init(&m.bb, &m.P, &rng);
    linear_init(&m.head, &m.P, &rng);

    const int Bmax = B > LEARN_TEST ? B : LEARN_TEST;
    size_t rows = (size_t)Bmax * K;
    float *xtr = malloc(rows * F * sizeof(float)), *ytr = malloc(rows * F * sizeof(float));
    float *xte = malloc(rows * F * sizeof(float)), *yte = malloc(rows * F * sizeof(float));
    m.tokens = malloc(rows * d * sizeof(float));
    m.out = malloc(rows * d * sizeof(float));
    m.dout = malloc(rows * d * sizeof(float));
    m.dtokens = malloc(rows * d * sizeof(float));
    m.pred = malloc(rows * F * sizeof(float));
    m.dpred = malloc(rows * F * sizeof(float));
    m.act = malloc(backbone_act_floats(&m.bb, Bmax) * sizeof(float));
    rp_rng data;
    rng_seed(&data, 5, 1);
    make_task(xtr, ytr, B, causal, &data);
    make_task(xte, yte, LEARN_TEST, causal, &data);

    *initial = learner_mse(&m, xte, yte, LEARN_TEST, 0, 0);
    for (int step = 1; step <= steps; step++) {
        params_zero_grad(&m.P);
        learner_mse(&m, xtr, ytr, B, 1, 1);
        adam_update(&m.P, "", lr, 0.9f, 0.999f, 1e-8f, 0.0f, 0, step);
    }
    *final = learner_mse(&m, xte, yte, LEARN_TEST, 0, 0);
    cr_log_info("%s: held-out MSE %.4f -> %.4f after %d steps", rp_backbone_names[kind], *initial, *final, steps);

    free(xtr); free(ytr); free(xte); free(yte);
    free(m.tokens); free(m.out); free(m.dout); free(m.dtokens); free(m.pred); free(m.dpred); free(m.act);
    params_free(&m.P);
}

Test(backbone_learns, s7_causal_smoothing) {
    double initial, final;
    learn(BACKBONE_S7, 1, 150, 1e-2f, &initial, &final);
    cr_assert(final < 0.02 && final < 0.1 * initial, "s7: held-out MSE %.4f -> %.4f", initial, final);
}

Test(backbone_learns, etsmlp_causal_smoothing) {
    double initial, final;
    learn(BACKBONE_ETSMLP, 1, 150, 1e-2f, &initial, &final);
    cr_assert(final < 0.02 && final < 0.1 * initial, "etsmlp: held-out MSE %.4f -> %.4f", initial, final);
}

Test(backbone_learns, transformer_window_smoothing) {
    double initial, final;
    learn(BACKBONE_TRANSFORMER, 0, 150, 1e-2f, &initial, &final);
    cr_assert(final < 0.02 && final < 0.1 * initial, "transformer: held-out MSE %.4f -> %.4f", initial, final);
}
