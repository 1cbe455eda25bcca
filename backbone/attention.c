#include "backbone/attention.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/activation.h"
#include "core/blas.h"

int attention_declare(rp_attention *a, rp_params *P, const char *prefix, int d_model, int n_heads,
                      float attn_dropout, rp_error *err) {
    if (d_model <= 0 || n_heads <= 0 || d_model % n_heads != 0)
        return rp_fail(err, "%s: d_model %d is not a positive multiple of n_heads %d", prefix, d_model, n_heads);
    if (!(attn_dropout >= 0.0f && attn_dropout < 1.0f))
        return rp_fail(err, "%s: attention dropout %g outside [0, 1)", prefix, (double)attn_dropout);
    a->d_model = d_model;
    a->n_heads = n_heads;
    a->head_dim = d_model / n_heads;
    a->attn_dropout = attn_dropout;
    char w[RP_PARAM_NAME_MAX + 16], b[RP_PARAM_NAME_MAX + 16];
    snprintf(w, sizeof w, "%s/w_qkv", prefix);
    snprintf(b, sizeof b, "%s/b_qkv", prefix);
    if (linear_declare(&a->qkv, P, w, b, d_model, 3 * d_model, err)) return -1;
    snprintf(w, sizeof w, "%s/w_out", prefix);
    snprintf(b, sizeof b, "%s/b_out", prefix);
    if (linear_declare(&a->out, P, w, b, d_model, d_model, err)) return -1;
    return 0;
}

void attention_init(const rp_attention *a, rp_params *P, rp_rng *rng) {
    linear_init(&a->qkv, P, rng);
    linear_init(&a->out, P, rng);
}

/* Saved activations, in order: qkvᵀ (3d × N), probs (B·H, K, K), [dropped probs, mask] (B·H, K, K)
 * when attn_dropout > 0, context (N, d). N = B·K. Each part starts on a 16-float boundary. */
static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

typedef struct act_layout {
    size_t qkvT, probs, pdrop, mask, ctx, total;
} act_layout;

static act_layout layout_of(const rp_attention *a, int batch, int n_tokens) {
    size_t N = (size_t)batch * n_tokens, d = (size_t)a->d_model;
    size_t att = (size_t)batch * a->n_heads * n_tokens * n_tokens;
    act_layout L;
    L.qkvT = 0;
    L.probs = L.qkvT + align16(3 * d * N);
    L.pdrop = L.mask = L.probs + align16(att);
    if (a->attn_dropout > 0.0f) {
        L.mask = L.pdrop + align16(att);
        L.ctx = L.mask + align16(att);
    } else {
        L.ctx = L.pdrop;
    }
    L.total = L.ctx + align16(N * d);
    return L;
}

size_t attention_act_floats(const rp_attention *a, int batch, int n_tokens) {
    return layout_of(a, batch, n_tokens).total;
}

size_t attention_scratch_floats(const rp_attention *a, int batch, int n_tokens) {
    size_t N = (size_t)batch * n_tokens, d = (size_t)a->d_model;
    size_t att = (size_t)batch * a->n_heads * n_tokens * n_tokens;
    return align16(N * d) + align16(3 * d * N) + align16(att);
}

/* Heads run in parallel only when there is enough work to pay for waking the threads. */
static int parallel_heads(int heads, int K) { return heads >= 4 && (size_t)heads * K * K >= 8192; }

void attention_forward(const rp_attention *a, const rp_params *P, float *out, const float *in,
                       int batch, int n_tokens, int training, unsigned long long seed, float *act) {
    const int d = a->d_model, H = a->n_heads, dh = a->head_dim, K = n_tokens;
    const int N = batch * n_tokens;
    const float scale = 1.0f / sqrtf((float)dh);
    const int drop = training && a->attn_dropout > 0.0f;
    act_layout L = layout_of(a, batch, n_tokens);
    float *qkvT = act + L.qkvT, *probs = act + L.probs, *ctx = act + L.ctx;
    float *pdrop = act + L.pdrop, *mask = act + L.mask;

    /* qkvᵀ (3d × N) = W_qkv (3d × d) · inᵀ (d × N) + b_qkv: rows start at the bias, beta = 1. */
    const float *w_qkv = P->value + a->qkv.weight, *b_qkv = P->value + a->qkv.bias;
    for (int f = 0; f < 3 * d; f++) {
        float *row = qkvT + (size_t)f * N, bf = b_qkv[f];
        for (int n = 0; n < N; n++) row[n] = bf;
    }
    rp_sgemm(3 * d, N, d, 1.0f, w_qkv, d, 1, in, 1, d, 1.0f, qkvT, N, 1);

    const size_t KK = (size_t)K * K;
#pragma omp parallel for schedule(static) if (parallel_heads(batch * H, K))
    for (int bh = 0; bh < batch * H; bh++) {
        const int b = bh / H, h = bh % H;
        const float *Q = qkvT + (size_t)(h * dh) * N + (size_t)b * K;          /* (K × dh), col-major */
        const float *Kt = qkvT + (size_t)(d + h * dh) * N + (size_t)b * K;     /* Kᵀ (dh × K), row-major */
        const float *V = qkvT + (size_t)(2 * d + h * dh) * N + (size_t)b * K;  /* (K × dh), col-major */
        float *A = probs + (size_t)bh * KK;
        /* scores (K × K) = scale · Q Kᵀ, then row softmax in place */
        rp_sgemm(K, K, dh, scale, Q, 1, N, Kt, N, 1, 0.0f, A, K, 1);
        softmax_rows_forward(A, A, 1.0f, K, K);
        const float *Ause = A;
        if (drop) {
            dropout_forward(pdrop + (size_t)bh * KK, mask + (size_t)bh * KK, A, a->attn_dropout, seed,
                            (size_t)bh * KK, KK);
            Ause = pdrop + (size_t)bh * KK;
        }
        /* context rows of this window, head h's columns: (K × dh) = A (K × K) · V (K × dh) */
        rp_sgemm(K, dh, K, 1.0f, Ause, K, 1, V, 1, N, 0.0f, ctx + (size_t)b * K * d + h * dh, d, 1);
    }

    linear_forward(out, ctx, P->value + a->out.weight, P->value + a->out.bias, N, d, d);
}

void attention_backward(const rp_attention *a, rp_params *P, float *din, const float *dout,
                        const float *in, int batch, int n_tokens, int training, const float *act,
                        float *scratch) {
    const int d = a->d_model, H = a->n_heads, dh = a->head_dim, K = n_tokens;
    const int N = batch * n_tokens;
    const float scale = 1.0f / sqrtf((float)dh);
    const int drop = training && a->attn_dropout > 0.0f;
    act_layout L = layout_of(a, batch, n_tokens);
    const float *qkvT = act + L.qkvT, *probs = act + L.probs, *ctx = act + L.ctx;
    const float *pdrop = act + L.pdrop, *mask = act + L.mask;
    float *dctx = scratch, *dqkvT = scratch + align16((size_t)N * d);
    float *dscores = dqkvT + align16((size_t)3 * d * N);

    /* output projection */
    memset(dctx, 0, (size_t)N * d * sizeof *dctx);
    linear_backward(dctx, P->grad + a->out.weight, P->grad + a->out.bias, dout, ctx,
                    P->value + a->out.weight, N, d, d);

    /* Every element of dqkvᵀ is written exactly once below (beta = 0), so it needs no zeroing. */
    const size_t KK = (size_t)K * K;
#pragma omp parallel for schedule(static) if (parallel_heads(batch * H, K))
    for (int bh = 0; bh < batch * H; bh++) {
        const int b = bh / H, h = bh % H;
        const size_t qo = (size_t)(h * dh) * N + (size_t)b * K;
        const size_t ko = (size_t)(d + h * dh) * N + (size_t)b * K;
        const size_t vo = (size_t)(2 * d + h * dh) * N + (size_t)b * K;
        const float *A = probs + (size_t)bh * KK;
        const float *Ause = drop ? pdrop + (size_t)bh * KK : A;
        const float *dO = dctx + (size_t)b * K * d + h * dh;                 /* (K × dh), row stride d */
        float *dS = dscores + (size_t)bh * KK;
        /* dA (K × K) = dO · Vᵀ */
        rp_sgemm(K, K, dh, 1.0f, dO, d, 1, qkvT + vo, N, 1, 0.0f, dS, K, 1);
        /* dV (K × dh, stored col-major in dqkvᵀ) = Aᵀ · dO */
        rp_sgemm(K, dh, K, 1.0f, Ause, 1, K, dO, d, 1, 0.0f, dqkvT + vo, 1, N);
        if (drop) {
            const float *m = mask + (size_t)bh * KK;
            for (size_t i = 0; i < KK; i++) dS[i] *= m[i];
        }
        /* softmax backward in place: dscore_ij = A_ij (dA_ij − Σ_k dA_ik A_ik) */
        for (int i = 0; i < K; i++) {
            float *g = dS + (size_t)i * K;
            const float *y = A + (size_t)i * K;
            float dot = rp_dotf(g, y, K);
            for (int j = 0; j < K; j++) g[j] = y[j] * (g[j] - dot);
        }
        /* scores = scale · Q Kᵀ:  dQ = scale · dS · K,  dK = scale · dSᵀ · Q */
        rp_sgemm(K, dh, K, scale, dS, K, 1, qkvT + ko, 1, N, 0.0f, dqkvT + qo, 1, N);
        rp_sgemm(K, dh, K, scale, dS, 1, K, qkvT + qo, 1, N, 0.0f, dqkvT + ko, 1, N);
    }

    /* QKV projection: din (N × d) += dqkvᵀᵀ · W_qkv;  dW_qkv (3d × d) += dqkvᵀ · in;  db = row sums */
    const float *w_qkv = P->value + a->qkv.weight;
    rp_sgemm(N, d, 3 * d, 1.0f, dqkvT, 1, N, w_qkv, d, 1, 1.0f, din, d, 1);
    rp_sgemm(3 * d, d, N, 1.0f, dqkvT, N, 1, in, d, 1, 1.0f, P->grad + a->qkv.weight, d, 1);
    float *db = P->grad + a->qkv.bias;
    for (int f = 0; f < 3 * d; f++) db[f] += rp_sumf(dqkvT + (size_t)f * N, N);
}

double attention_flops(const rp_attention *a, int batch, int n_tokens) {
    double N = (double)batch * n_tokens, d = a->d_model;
    double proj = N * d * 3 * d + N * d * d;
    double heads = 2.0 * batch * a->n_heads * (double)n_tokens * n_tokens * a->head_dim;
    return 2.0 * (proj + heads);
}
