/* ETSMLP: complex exponential smoothing against a complex double reference and central finite
 * differences (w.r.t. its strided input and a, θ, α, β, ω, over several tokens); the clamp on the
 * damping; the full stack's gradients (every trainable tensor and the input); a 10,000-step
 * sequence stays finite forward and backward. */
#include <complex.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../gradcheck.h"
#include "backbone/etsmlp.h"
#include "stack_harness.h"

/* ---- complex exponential smoothing on its own ----------------------------------------------- */

typedef struct ces_case {
    rp_ces m;
    rp_params P;
    int B, K, E, stride;
    float *in, *out, *state, *coef, *r, *din, *work;
} ces_case;

/* Input rows of stride E + 3: the module reads a slice of a wider projection, as in the block. */
static void ces_case_init(ces_case *c, int B, int K, int E) {
    memset(c, 0, sizeof *c);
    rp_error err;
    params_init(&c->P);
    cr_assert_eq(ces_declare(&c->m, &c->P, "ces", E, &err), 0, "%s", err.msg);
    cr_assert_eq(params_alloc(&c->P, &err), 0, "%s", err.msg);
    /* Parameters away from their init so no term vanishes: a ∈ [−1, 3], θ ∈ [−1, 1], α_raw ∈ [−1, 1],
     * β ∈ [0.5, 1.5], ω ∈ [−1, 1]. */
    gc_fill_uniform(c->P.value + c->m.a, E, 41, -1.0, 3.0);
    gc_fill_uniform(c->P.value + c->m.theta, E, 42, -1.0, 1.0);
    gc_fill_uniform(c->P.value + c->m.alpha, E, 43, -1.0, 1.0);
    gc_fill_uniform(c->P.value + c->m.beta, E, 44, 0.5, 1.5);
    gc_fill_uniform(c->P.value + c->m.omega, E, 45, -1.0, 1.0);
    c->B = B; c->K = K; c->E = E; c->stride = E + 3;
    size_t R = (size_t)B * K;
    c->in = malloc(R * c->stride * sizeof(float));
    c->din = calloc(R * c->stride, sizeof(float));
    c->out = malloc(R * E * sizeof(float));
    c->r = malloc(R * E * sizeof(float));
    c->state = malloc(R * E * 2 * sizeof(float));
    c->coef = malloc((size_t)E * 4 * sizeof(float));
    c->work = malloc(ces_work_floats(&c->m, B) * sizeof(float));
    gc_fill_uniform(c->in, R * c->stride, 46, -1.0, 1.0);
    gc_fill_uniform(c->r, R * E, 47, -1.0, 1.0);
}

static void ces_case_free(ces_case *c) {
    free(c->in); free(c->din); free(c->out); free(c->r); free(c->state); free(c->coef); free(c->work);
    params_free(&c->P);
}

static double ces_loss(void *ctx) {
    ces_case *c = ctx;
    ces_forward(&c->m, &c->P, c->out, c->state, c->coef, c->in, c->stride, c->B, c->K);
    return gc_dot(c->r, c->out, (size_t)c->B * c->K * c->E);
}

Test(ces, forward_matches_complex_reference) {
    ces_case c;
    ces_case_init(&c, 2, 12, 5);
    ces_forward(&c.m, &c.P, c.out, c.state, c.coef, c.in, c.stride, c.B, c.K);
    const float *v = c.P.value;
    for (int e = 0; e < c.E; e++) {
        double a = v[c.m.a + e], theta = v[c.m.theta + e], alpha = log1p(exp(v[c.m.alpha + e]));
        double complex lambda = (1.0 / (1.0 + exp(-a))) * cexp(I * theta);
        double complex mu = cpow(lambda, alpha);
        double beta = v[c.m.beta + e], omega = v[c.m.omega + e];
        for (int b = 0; b < c.B; b++) {
            double complex s = 0;
            for (int t = 0; t < c.K; t++) {
                size_t row = (size_t)b * c.K + t;
                double x = c.in[row * c.stride + e];
                s = mu * s + beta * (1.0 - mu) * x;
                double want = creal(s) + omega * x, got = c.out[row * c.E + e];
                cr_assert(fabs(want - got) < 1e-5, "e %d b %d t %d: %g vs %g", e, b, t, want, got);
            }
        }
    }
    ces_case_free(&c);
}

Test(ces, gradients_match_finite_differences) {
    ces_case c;
    ces_case_init(&c, 2, 9, 5);
    const int E = c.E;
    size_t R = (size_t)c.B * c.K;
    params_zero_grad(&c.P);
    ces_forward(&c.m, &c.P, c.out, c.state, c.coef, c.in, c.stride, c.B, c.K);
    ces_backward(&c.m, &c.P, c.din, c.stride, c.r, c.in, c.stride, c.state, c.coef, c.B, c.K, c.work);

    gc_options opt = GC_OPTIONS(1e-3, 1e-2, 1e-4);
    gc_result r = gradcheck(ces_loss, &c, c.in, c.din, R * c.stride, opt, "ces din");
    cr_assert(r.ok, "%s", r.msg);
    /* The columns past E are not the module's input: their gradient must stay exactly zero. */
    for (size_t row = 0; row < R; row++)
        for (int j = E; j < c.stride; j++) cr_assert_eq(c.din[row * c.stride + j], 0.0f);
    const char *names[] = {"ces/a", "ces/theta", "ces/alpha", "ces/beta", "ces/omega"};
    for (int i = 0; i < 5; i++) {
        const rp_tensor_info *t = params_find(&c.P, names[i]);
        cr_assert(t);
        r = gradcheck(ces_loss, &c, c.P.value + t->offset, c.P.grad + t->offset, t->count, opt, names[i]);
        cr_assert(r.ok, "%s", r.msg);
    }
    ces_case_free(&c);
}

Test(ces, damping_is_clamped_below_one) {
    ces_case c;
    ces_case_init(&c, 1, 4, 3);
    /* σ(40) and σ(5)^softplus(−20) both round to 1 in float: the clamp holds |μ| at RP_CES_MAX_RHO. */
    c.P.value[c.m.a + 0] = 40.0f;
    c.P.value[c.m.a + 1] = 5.0f;
    c.P.value[c.m.alpha + 1] = -20.0f;
    ces_coefficients(&c.m, &c.P, c.coef);
    for (int e = 0; e < 3; e++) {
        float mod = hypotf(c.coef[e], c.coef[3 + e]);
        cr_assert(mod <= RP_CES_MAX_RHO * (1.0f + 1e-6f), "channel %d: |mu| = %.9g", e, (double)mod);
    }
    cr_assert_float_eq(hypotf(c.coef[0], c.coef[3]), RP_CES_MAX_RHO, 1e-6f);
    /* Where the clamp binds, a gets no gradient (ρ does not depend on it there). */
    params_zero_grad(&c.P);
    ces_forward(&c.m, &c.P, c.out, c.state, c.coef, c.in, c.stride, c.B, c.K);
    ces_backward(&c.m, &c.P, c.din, c.stride, c.r, c.in, c.stride, c.state, c.coef, c.B, c.K, c.work);
    cr_assert_eq(c.P.grad[c.m.a + 0], 0.0f);
    cr_assert_eq(c.P.grad[c.m.a + 1], 0.0f);
    cr_assert_neq(c.P.grad[c.m.a + 2], 0.0f);
    ces_case_free(&c);
}

/* ---- the stack ------------------------------------------------------------------------------ */

static size_t etsmlp_stack_act_floats(const stack_case *c) { return etsmlp_act_floats(&c->e, c->B); }

static void etsmlp_stack_forward(stack_case *c) {
    etsmlp_forward(&c->e, &c->P, c->out, c->in, c->B, c->training, c->seed, c->act);
}

static void etsmlp_stack_backward(stack_case *c) { etsmlp_backward(&c->e, &c->P, c->din, c->r, c->B, c->act); }

static const stack_ops ETSMLP_STACK = {"etsmlp", etsmlp_stack_act_floats, etsmlp_stack_forward,
                                       etsmlp_stack_backward};

static void stack_case_init(stack_case *c, int B, int K, int d, int expand, int layers, float dropout,
                            rp_norm_kind norm, int training) {
    memset(c, 0, sizeof *c);
    rp_error err;
    params_init(&c->P);
    cr_assert_eq(etsmlp_declare(&c->e, &c->P, "backbone", K, d, layers, expand, dropout, norm, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(params_alloc(&c->P, &err), 0, "%s", err.msg);
    rp_rng rng;
    rng_seed(&rng, 12, 0);
    etsmlp_init(&c->e, &c->P, &rng);
    /* ω = 0 and β = 1 at init: move them so their gradients are checked away from a special point. */
    for (int l = 0; l < layers; l++) {
        const rp_ces *m = &c->e.layers[l].ces;
        gc_fill_uniform(c->P.value + m->omega, m->dim, 50 + l, -0.5, 0.5);
        gc_fill_uniform(c->P.value + m->beta, m->dim, 60 + l, 0.5, 1.5);
    }
    stack_case_buffers(c, &ETSMLP_STACK, B, K, d, training, 99, 71, 72);
}

Test(etsmlp_stack, gradients_layer_norm_eval) {
    stack_case c;
    stack_case_init(&c, 2, 6, 4, 2, 2, 0.0f, NORM_LAYER, 0);
    check_stack_gradients(&c, GC_OPTIONS(1e-2, 1e-2, 1e-4));
    stack_case_free(&c);
}

Test(etsmlp_stack, gradients_batch_norm_training_with_dropout) {
    stack_case c;
    stack_case_init(&c, 3, 5, 4, 2, 2, 0.2f, NORM_BATCH, 1);
    check_stack_gradients(&c, GC_OPTIONS(1e-2, 1e-2, 1e-4));
    stack_case_free(&c);
}

Test(etsmlp_stack, causal_over_tokens) {
    /* Changing token t of a window changes no earlier token's output (layer norm, eval mode: each
     * token's output depends on its own window's past only). */
    stack_case c;
    stack_case_init(&c, 2, 8, 4, 2, 2, 0.0f, NORM_LAYER, 0);
    float *before = malloc(c.n * sizeof(float));
    etsmlp_forward(&c.e, &c.P, before, c.in, c.B, 0, 0, c.act);
    const int K = 8, d = 4, t_changed = 5;
    for (int j = 0; j < d; j++) c.in[(size_t)(1 * K + t_changed) * d + j] += 0.3f * (float)(j * j);  /* not a shift: layer norm would erase it */
    etsmlp_forward(&c.e, &c.P, c.out, c.in, c.B, 0, 0, c.act);
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < K; t++)
            for (int j = 0; j < d; j++) {
                size_t i = ((size_t)b * K + t) * d + j;
                if (b == 1 && t >= t_changed) continue;
                cr_assert_eq(before[i], c.out[i], "window %d token %d changed", b, t);
            }
    cr_assert_neq(before[(size_t)(1 * K + t_changed) * d], c.out[(size_t)(1 * K + t_changed) * d]);
    free(before);
    stack_case_free(&c);
}

Test(etsmlp_stack, parameter_names_and_shapes) {
    stack_case c;
    stack_case_init(&c, 1, 4, 4, 3, 2, 0.0f, NORM_BATCH, 0);
    const rp_tensor_info *t = params_find(&c.P, "backbone/layers/1/in_proj/weight");
    cr_assert(t && t->shape[0] == 12 + 4 && t->shape[1] == 4);
    t = params_find(&c.P, "backbone/layers/0/ces/theta");
    cr_assert(t && t->shape[0] == 12);
    t = params_find(&c.P, "backbone/layers/0/down/weight");
    cr_assert(t && t->shape[0] == 4 && t->shape[1] == 12);
    cr_assert(params_find(&c.P, "backbone/norm_final/gamma"));
    stack_case_free(&c);
}

Test(etsmlp_stability, ten_thousand_steps_stay_finite) {
    const int K = 10000, d = 4;
    stack_case c;
    stack_case_init(&c, 1, K, d, 2, 2, 0.0f, NORM_BATCH, 1);
    gc_fill_uniform(c.in, c.n, 81, -1e4, 1e4);
    etsmlp_forward(&c.e, &c.P, c.out, c.in, 1, 1, 0, c.act);
    for (size_t i = 0; i < c.n; i++) cr_assert(isfinite(c.out[i]), "out[%zu] = %g", i, (double)c.out[i]);
    params_zero_grad(&c.P);
    etsmlp_backward(&c.e, &c.P, c.din, c.r, 1, c.act);
    for (size_t i = 0; i < c.n; i++) cr_assert(isfinite(c.din[i]), "din[%zu] = %g", i, (double)c.din[i]);
    for (size_t i = 0; i < c.P.total; i++) cr_assert(isfinite(c.P.grad[i]), "grad[%zu] = %g", i, (double)c.P.grad[i]);
    stack_case_free(&c);
}
