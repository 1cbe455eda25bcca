/* Tokenizers: resampling, PatchTST equivalence, backward vs finite differences. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "core/rng.h"
#include "levels/segmentation.h"
#include "levels/tokenizer.h"

Test(tokenizer, resample_identity_and_interpolation) {
    float x[20], out[16];
    for (int t = 0; t < 20; t++) x[t] = (float)(t * t) * 0.25f - 3.0f;
    /* span == P: a copy, with replication past the end. */
    tokenizer_resample(out, x, 20, 8, 12, 4, 8);
    for (int p = 0; p < 8; p++) cr_assert(out[p] == x[8 + p < 20 ? 8 + p : 19]);
    tokenizer_resample(out, x, 20, 14, 18, 4, 8); /* span [14, 22): indices 20, 21 repeat x[19] */
    for (int p = 0; p < 8; p++) cr_assert(out[p] == x[14 + p < 20 ? 14 + p : 19]);
    /* A linear series is reproduced exactly by linear interpolation, up- or down-sampled. */
    float lin[30];
    for (int t = 0; t < 30; t++) lin[t] = 0.5f * t + 1.0f;
    tokenizer_resample(out, lin, 30, 3, 6, 0, 7); /* 3 points -> 7: u = 3, 3.333, ..., 5 */
    for (int p = 0; p < 7; p++) cr_assert_float_eq(out[p], 0.5f * (3.0f + p / 3.0f) + 1.0f, 1e-6);
    tokenizer_resample(out, lin, 30, 0, 29, 0, 8); /* 29 points -> 8: u = 4p */
    for (int p = 0; p < 8; p++) cr_assert_float_eq(out[p], 0.5f * 4 * p + 1.0f, 1e-6);
    tokenizer_resample(out, lin, 30, 10, 11, 0, 4); /* length 1: constant */
    for (int p = 0; p < 4; p++) cr_assert(out[p] == lin[10]);
}

typedef struct tok_case {
    rp_params P;
    rp_tokenizer tok;
} tok_case;

static void tok_build(tok_case *c, int L, int K, int Pn, int overlap, int d, uint64_t seed) {
    rp_error err;
    params_init(&c->P);
    cr_assert_eq(tokenizer_declare(&c->tok, &c->P, "levels/0/tokens", L, K, Pn, overlap, d, 1, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(params_alloc(&c->P, &err), 0);
    rp_rng r;
    rng_seed(&r, seed, 0);
    tokenizer_init(&c->tok, &c->P, &r);
}

/* Uniform boundaries at rate 8 with P = 16 and overlap 8 are PatchTST's patches (L = 336,
 * stride 8, ReplicationPad1d((0, 8)) at the end, 42 patches), and the token is a plain
 * Linear(16 -> d) of each patch plus the positional embedding (the length embedding starts at 0). */
Test(tokenizer, uniform_boundaries_equal_patchtst_patching) {
    const int L = 336, Pn = 16, S = 8, d = 12, B = 2;
    int starts1[64];
    int K = seg_uniform(L, (double)S, starts1);
    cr_assert_eq(K, 42);
    tok_case c;
    tok_build(&c, L, K, Pn, Pn - S, d, 4);
    float *x = malloc(sizeof(float) * B * L);
    int *starts = malloc(sizeof(int) * B * K);
    rp_rng r;
    rng_seed(&r, 8, 0);
    for (int i = 0; i < B * L; i++) x[i] = (float)rng_normal(&r);
    for (int b = 0; b < B; b++) memcpy(starts + b * K, starts1, sizeof(int) * K);
    float *tokens = malloc(sizeof(float) * B * K * d), *res = malloc(sizeof(float) * B * K * Pn);
    tokenizer_forward(&c.tok, &c.P, tokens, res, x, starts, B);
    const float *W = c.P.value + c.tok.w, *bias = c.P.value + c.tok.b, *pos = c.P.value + c.tok.pos;
    for (int b = 0; b < B; b++) {
        float padded[344];
        for (int t = 0; t < L + S; t++) padded[t] = x[b * L + (t < L ? t : L - 1)];
        int n_patches = (L + S - Pn) / S + 1;
        cr_assert_eq(n_patches, K);
        for (int k = 0; k < n_patches; k++) {
            const float *patch = padded + k * S;
            for (int p = 0; p < Pn; p++) cr_assert(res[(b * K + k) * Pn + p] == patch[p]);
            for (int o = 0; o < d; o++) {
                double v = bias[o] + pos[k * d + o];
                for (int p = 0; p < Pn; p++) v += (double)W[o * Pn + p] * patch[p];
                cr_assert_float_eq(tokens[(b * K + k) * d + o], v, 1e-5, "window %d patch %d", b, k);
            }
        }
    }
    /* pos init is PatchTST's U(-0.02, 0.02); len starts at zero. */
    for (int i = 0; i < K * d; i++) cr_assert(fabsf(pos[i]) <= 0.02f);
    for (int i = 0; i < L * d; i++) cr_assert(c.P.value[c.tok.len + i] == 0.0f);
    free(x); free(starts); free(tokens); free(res);
    params_free(&c.P);
}

/* Tokens are linear in every parameter, so central differences are exact up to rounding. */
Test(tokenizer, backward_matches_finite_differences) {
    enum { L = 40, K = 6, Pn = 5, d = 4, B = 3 };
    tok_case c;
    tok_build(&c, L, K, Pn, 3, d, 9);
    rp_rng r;
    rng_seed(&r, 10, 0);
    float *len = c.P.value + c.tok.len;
    for (int i = 0; i < L * d; i++) len[i] = (float)(0.1 * rng_normal(&r));
    float x[B * L], coef[B * K * d], tokens[B * K * d], res[B * K * Pn];
    int starts[B * K];
    for (int i = 0; i < B * L; i++) x[i] = (float)rng_normal(&r);
    for (int i = 0; i < B * K * d; i++) coef[i] = (float)rng_normal(&r);
    int fixed[3][6] = {{0, 3, 10, 11, 20, 33}, {0, 7, 14, 21, 28, 35}, {0, 1, 2, 3, 4, 39}};
    memcpy(starts, fixed, sizeof starts);
    for (int b = 0; b < B; b++) cr_assert_eq(seg_check(&(rp_seg_spec){L, K, 0, 0}, starts + b * K, NULL), 0);
    params_zero_grad(&c.P);
    tokenizer_forward(&c.tok, &c.P, tokens, res, x, starts, B);
    tokenizer_backward(&c.tok, &c.P, coef, res, starts, B);
    for (size_t i = 0; i < c.P.total; i++) {
        float *v = c.P.value + i, keep = *v;
        double f[2];
        for (int s = 0; s < 2; s++) {
            *v = keep + (s ? -0.05f : 0.05f);
            tokenizer_forward(&c.tok, &c.P, tokens, res, x, starts, B);
            f[s] = 0;
            for (int j = 0; j < B * K * d; j++) f[s] += (double)coef[j] * tokens[j];
        }
        *v = keep;
        double fd = (f[0] - f[1]) / 0.1;
        cr_assert(fabs(fd - c.P.grad[i]) <= 1e-3 + 1e-3 * fabs(fd), "param %zu: analytic %.6f, numeric %.6f", i,
                  c.P.grad[i], fd);
    }
    params_free(&c.P);
}

Test(tokenizer, pooled_backward_matches_finite_differences) {
    enum { n_in = 9, K = 3, d = 4, B = 2 };
    rp_params P;
    rp_pooled_tokenizer tok;
    rp_error err;
    params_init(&P);
    cr_assert_eq(pooled_tokenizer_declare(&tok, &P, "levels/1/tokens", n_in, K, d, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(params_alloc(&P, &err), 0);
    rp_rng r;
    rng_seed(&r, 21, 0);
    pooled_tokenizer_init(&tok, &P, &r);
    for (int i = 0; i < n_in * d; i++) P.value[tok.len + i] = (float)(0.1 * rng_normal(&r));
    float lower[B * n_in * d], dlower[B * n_in * d], coef[B * K * d], tokens[B * K * d];
    float *act = malloc(sizeof(float) * pooled_tokenizer_act_floats(&tok, B));
    int starts[B * K] = {0, 2, 7, 0, 3, 6};
    for (int i = 0; i < B * n_in * d; i++) lower[i] = (float)rng_normal(&r);
    for (int i = 0; i < B * K * d; i++) coef[i] = (float)rng_normal(&r);
    params_zero_grad(&P);
    memset(dlower, 0, sizeof dlower);
    pooled_tokenizer_forward(&tok, &P, tokens, lower, starts, B, act);
    pooled_tokenizer_backward(&tok, &P, dlower, coef, starts, B, act);
    /* Mean pooling of group [2, 7) of window 0, checked directly for one channel. */
    double m = 0;
    for (int u = 2; u < 7; u++) m += lower[u * d + 1];
    cr_assert_float_eq(act[1 * d + 1], m / 5, 1e-6);
    for (int which = 0; which < 2; which++) {
        size_t count = which ? (size_t)B * n_in * d : P.total;
        for (size_t i = 0; i < count; i++) {
            float *v = which ? lower + i : P.value + i, keep = *v;
            double f[2];
            for (int s = 0; s < 2; s++) {
                *v = keep + (s ? -0.05f : 0.05f);
                pooled_tokenizer_forward(&tok, &P, tokens, lower, starts, B, act);
                f[s] = 0;
                for (int j = 0; j < B * K * d; j++) f[s] += (double)coef[j] * tokens[j];
            }
            *v = keep;
            double fd = (f[0] - f[1]) / 0.1, an = which ? dlower[i] : P.grad[i];
            cr_assert(fabs(fd - an) <= 1e-3 + 1e-3 * fabs(fd), "%s %zu: analytic %.6f, numeric %.6f",
                      which ? "lower" : "param", i, an, fd);
        }
    }
    free(act);
    params_free(&P);
}

Test(tokenizer, declare_errors) {
    rp_params P;
    rp_tokenizer tok;
    rp_error err;
    params_init(&P);
    cr_assert_eq(tokenizer_declare(&tok, &P, "levels/0/tokens", 336, 400, 16, 8, 16, 1, &err), -1);
    cr_assert_not_null(strstr(err.msg, "K=400"), "%s", err.msg);
    cr_assert_eq(tokenizer_declare(&tok, &P, "levels/0/tokens", 336, 42, 16, -1, 16, 1, &err), -1);
    cr_assert_eq(tokenizer_declare(&tok, &P, "levels/0/tokens", 336, 42, 16, 8, 16, 1, &err), 0);
    cr_assert_not_null(params_find(&P, "levels/0/tokens/proj/w"));
    cr_assert_not_null(params_find(&P, "levels/0/tokens/len"));
    params_free(&P);
}
