/* Multi-head self-attention: forward against a plain double-precision reference (catches layout
 * mistakes a gradient check alone would accept), and backward against central finite differences
 * for the input and every parameter tensor, with and without attention-weight dropout.
 *
 * Loss L = Σ r · out, r fixed random. Tolerances: float32 forward, h = 1e-2 (attention is smooth at
 * these O(1) scales: truncation ~1e-5), loss noise ~1e-6 → ~5e-5 in the derivative; gradients are
 * O(0.01..1): rtol 1e-2, atol 2e-4. Dropping the softmax-backward row term or swapping dQ/dK gives
 * errors of O(1) relative (tried by hand). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/attention.h"
#include "core/activation.h"
#include "core/blas.h"
#include "core/params.h"
#include "core/rng.h"
#include "../gradcheck.h"


typedef struct {
    rp_attention a;
    rp_params P;
    int B, K, training;
    unsigned long long seed;
    float *x, *y, *r, *act, *scratch, *dx;
} att_ctx;

static void setup(att_ctx *c, int B, int K, int d, int H, float attn_dropout) {
    memset(c, 0, sizeof *c);
    rp_error err;
    params_init(&c->P);
    cr_assert_eq(attention_declare(&c->a, &c->P, "backbone/layers/0/attn", d, H, attn_dropout, &err), 0, "%s", err.msg);
    cr_assert_eq(params_alloc(&c->P, &err), 0);
    rp_rng rng;
    rng_seed(&rng, 3, 0);
    attention_init(&c->a, &c->P, &rng);
    /* PyTorch's init keeps scores small; scale up so the softmax is far from uniform and the test
     * exercises its curvature. */
    for (size_t i = 0; i < c->P.total; i++) c->P.value[i] *= 2.0f;
    c->B = B;
    c->K = K;
    size_t n = (size_t)B * K * d;
    c->x = malloc(n * 4);
    c->y = malloc(n * 4);
    c->r = malloc(n * 4);
    c->dx = calloc(n, 4);
    c->act = malloc(attention_act_floats(&c->a, B, K) * 4);
    c->scratch = malloc(attention_scratch_floats(&c->a, B, K) * 4);
    gc_fill_uniform(c->x, n, 101, -1.5, 1.5);
    gc_fill_uniform(c->r, n, 102, -1, 1);
}

static void teardown(att_ctx *c) {
    free(c->x); free(c->y); free(c->r); free(c->dx); free(c->act); free(c->scratch);
    params_free(&c->P);
}

static double att_loss(void *p) {
    att_ctx *c = p;
    attention_forward(&c->a, &c->P, c->y, c->x, c->B, c->K, c->training, c->seed, c->act);
    return gc_dot(c->r, c->y, (size_t)c->B * c->K * c->a.d_model);
}

/* Straightforward double-precision attention (no dropout), PyTorch's definition. */
static void reference_forward(const att_ctx *c, double *out) {
    const int B = c->B, K = c->K, d = c->a.d_model, H = c->a.n_heads, dh = c->a.head_dim;
    const float *wq = c->P.value + c->a.qkv.weight, *bq = c->P.value + c->a.qkv.bias;
    const float *wo = c->P.value + c->a.out.weight, *bo = c->P.value + c->a.out.bias;
    double *qkv = malloc(sizeof(double) * K * 3 * d), *ctx = malloc(sizeof(double) * K * d);
    double *s = malloc(sizeof(double) * K);
    for (int b = 0; b < B; b++) {
        const float *xb = c->x + (size_t)b * K * d;
        for (int i = 0; i < K; i++)
            for (int f = 0; f < 3 * d; f++) {
                double v = bq[f];
                for (int j = 0; j < d; j++) v += (double)wq[f * d + j] * xb[i * d + j];
                qkv[i * 3 * d + f] = v;
            }
        for (int h = 0; h < H; h++)
            for (int i = 0; i < K; i++) {
                double m = -1e300, z = 0;
                for (int j = 0; j < K; j++) {
                    double v = 0;
                    for (int p = 0; p < dh; p++) v += qkv[i * 3 * d + h * dh + p] * qkv[j * 3 * d + d + h * dh + p];
                    s[j] = v / sqrt((double)dh);
                    if (s[j] > m) m = s[j];
                }
                for (int j = 0; j < K; j++) { s[j] = exp(s[j] - m); z += s[j]; }
                for (int p = 0; p < dh; p++) {
                    double v = 0;
                    for (int j = 0; j < K; j++) v += s[j] / z * qkv[j * 3 * d + 2 * d + h * dh + p];
                    ctx[i * d + h * dh + p] = v;
                }
            }
        for (int i = 0; i < K; i++)
            for (int f = 0; f < d; f++) {
                double v = bo[f];
                for (int j = 0; j < d; j++) v += (double)wo[f * d + j] * ctx[i * d + j];
                out[((size_t)b * K + i) * d + f] = v;
            }
    }
    free(qkv); free(ctx); free(s);
}

static void check_forward(int B, int K, int d, int H) {
    att_ctx c;
    setup(&c, B, K, d, H, 0.0f);
    size_t n = (size_t)B * K * d;
    double *ref = malloc(n * sizeof(double));
    attention_forward(&c.a, &c.P, c.y, c.x, B, K, 1, 0, c.act);
    reference_forward(&c, ref);
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(c.y[i] - ref[i]) / (1 + fabs(ref[i])));
    cr_assert_lt(worst, 1e-5, "attention forward differs from the reference by %g", worst);
    free(ref);
    teardown(&c);
}

/* Head dimensions 4, 8 and 16 (one micro-kernel tile row or more: MR is 6 with zen3, 4 with
 * generic), odd head counts, and more tokens than one panel of the kernel's tile. */
Test(attention, forward_matches_reference) { check_forward(3, 5, 8, 2); }
Test(attention, forward_matches_reference_three_heads) { check_forward(2, 6, 12, 3); }
Test(attention, forward_matches_reference_patchtst_size) { check_forward(2, 42, 16, 4); }
Test(attention, forward_matches_reference_head_dim_8) { check_forward(2, 7, 32, 4); }
Test(attention, forward_matches_reference_head_dim_16) { check_forward(2, 7, 32, 2); }
Test(attention, forward_matches_reference_tokens_over_panels) { check_forward(3, 37, 32, 4); }

static void check_gradients_k(int K, int d, int H, float attn_dropout, int training) {
    att_ctx c;
    setup(&c, 2, K, d, H, attn_dropout);
    c.training = training;
    c.seed = 77;
    att_loss(&c);
    params_zero_grad(&c.P);
    attention_backward(&c.a, &c.P, c.dx, c.r, c.x, c.B, c.K, c.training, c.act, c.scratch);
    gc_options o = GC_OPTIONS(1e-2, 1e-2, 2e-4);
    size_t n = (size_t)c.B * c.K * c.a.d_model;
    CHECK(gradcheck(att_loss, &c, c.x, c.dx, n, o, "attention din"));
    const char *names[4] = {"backbone/layers/0/attn/w_qkv", "backbone/layers/0/attn/b_qkv",
                            "backbone/layers/0/attn/w_out", "backbone/layers/0/attn/b_out"};
    CHECK(gradcheck_tensors(att_loss, &c, &c.P, names, 4, o));
    teardown(&c);
}

static void check_gradients(int d, int H, float attn_dropout, int training) {
    check_gradients_k(5, d, H, attn_dropout, training);
}

Test(attention, gradients_two_heads) { check_gradients(8, 2, 0.0f, 1); }
Test(attention, gradients_four_heads) { check_gradients(16, 4, 0.0f, 1); }
Test(attention, gradients_three_heads) { check_gradients(12, 3, 0.0f, 1); }
Test(attention, gradients_head_dim_8) { check_gradients(32, 4, 0.3f, 1); }
Test(attention, gradients_head_dim_16) { check_gradients(32, 2, 0.0f, 1); }
Test(attention, gradients_with_attention_dropout) { check_gradients(8, 2, 0.3f, 1); }
Test(attention, gradients_with_attention_dropout_three_heads) { check_gradients(12, 3, 0.3f, 1); }
Test(attention, gradients_eval_mode_ignores_dropout) { check_gradients(8, 2, 0.3f, 0); }
/* More tokens than one micro-kernel panel holds (16 with zen3, 4 with generic), and not a multiple
 * of 8: the padded panels and the 8 × 8 transposes' edges. */
Test(attention, gradients_tokens_over_several_panels) { check_gradients_k(21, 16, 4, 0.0f, 1); }
Test(attention, gradients_tokens_over_several_panels_dropout) { check_gradients_k(19, 16, 2, 0.3f, 1); }

Test(attention, dropout_changes_output_only_in_training) {
    att_ctx c;
    setup(&c, 2, 6, 8, 4, 0.5f);
    size_t n = (size_t)2 * 6 * 8;
    float *y0 = malloc(n * 4), *y1 = malloc(n * 4);
    attention_forward(&c.a, &c.P, y0, c.x, 2, 6, 0, 1, c.act);
    attention_forward(&c.a, &c.P, y1, c.x, 2, 6, 0, 2, c.act);
    cr_assert_eq(memcmp(y0, y1, n * 4), 0, "eval output must not depend on the seed");
    attention_forward(&c.a, &c.P, y1, c.x, 2, 6, 1, 2, c.act);
    cr_assert_neq(memcmp(y0, y1, n * 4), 0, "training with attn_dropout 0.5 must differ");
    free(y0); free(y1);
    teardown(&c);
}

Test(attention, threads_match_one_thread) {
    att_ctx c;
    setup(&c, 8, 42, 16, 4, 0.2f);   /* large enough to take the threaded path */
    size_t n = (size_t)8 * 42 * 16;
    float *y1 = malloc(n * 4), *dx1 = calloc(n, 4), *g1 = malloc(c.P.total * 4);
    rp_set_threads(1);
    attention_forward(&c.a, &c.P, y1, c.x, 8, 42, 1, 5, c.act);
    params_zero_grad(&c.P);
    attention_backward(&c.a, &c.P, dx1, c.r, c.x, 8, 42, 1, c.act, c.scratch);
    memcpy(g1, c.P.grad, c.P.total * 4);
    rp_set_threads(2);
    attention_forward(&c.a, &c.P, c.y, c.x, 8, 42, 1, 5, c.act);
    params_zero_grad(&c.P);
    attention_backward(&c.a, &c.P, c.dx, c.r, c.x, 8, 42, 1, c.act, c.scratch);
    rp_set_threads(1);
    cr_assert_eq(memcmp(c.y, y1, n * 4), 0, "forward is row-wise: identical for any thread count");
    for (size_t i = 0; i < n; i++) cr_assert_float_eq(c.dx[i], dx1[i], 1e-6f * (1 + fabsf(dx1[i])));
    for (size_t i = 0; i < c.P.total; i++) cr_assert_float_eq(c.P.grad[i], g1[i], 1e-5f * (1 + fabsf(g1[i])));
    free(y1); free(dx1); free(g1);
    teardown(&c);
}

Test(attention, flops) {
    att_ctx c;
    setup(&c, 1, 4, 8, 2, 0.0f);
    /* 2 · (N·d·3d + N·d·d + 2·B·H·K²·dh) with N = 4, d = 8, H = 2, dh = 4 */
    double want = 2.0 * (4 * 8 * 24 + 4 * 8 * 8 + 2.0 * 1 * 2 * 16 * 4);
    cr_assert_float_eq(attention_flops(&c.a, 1, 4), want, 1e-9);
    teardown(&c);
}
