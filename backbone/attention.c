#include "backbone/attention.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/activation.h"
#include "core/arena.h"
#include "core/blas.h"
#include "core/dist.h"

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

/* Heads are processed in groups of g (1 or 2): one BLIS call covers all g heads of a window,
 * with the keys and values of the group copied into block-diagonal matrices
 *
 *   Kbdᵀ (g·dh × g·K): rows hl·dh.., columns hl·K.. hold K_hᵀ of head h0 + hl, zeros elsewhere,
 *   Vbdᵀ likewise with V,
 *
 * so that scores_grp (K × g·K) = Q_grp (K × g·dh) · Kbdᵀ holds the g heads' scores side by side
 * and ctx_grp (K × g·dh) = A_grp (K × g·K) · Vbd is every head's context at once. With dh = 4,
 * each BLIS call costs ~2 µs of fixed overhead against ~14 kflop of work, so halving the number of
 * calls at the price of doubling the (tiny) flops pays: for K = 42, g = 2 ran a window's six
 * products ~1.8× faster than g = 1; g = 4 executed 5% more instructions per training step than
 * g = 2 (callgrind) and was not measurably faster. Heads go in pairs while a pair spans at most
 * RP_ATTENTION_GROUP_WIDTH features: dh = 4 (ETTh) and dh = 8 (ETTm1/weather, d 128 over 16 heads,
 * where pairs trained 1.05–1.13× faster than single heads in paired 2-thread rounds; results.md). */
#ifndef RP_ATTENTION_GROUP_WIDTH
#define RP_ATTENTION_GROUP_WIDTH 16
#endif
static int head_group(const rp_attention *a) {
    return a->n_heads % 2 == 0 && 2 * a->head_dim <= RP_ATTENTION_GROUP_WIDTH ? 2 : 1;
}

/* Saved activations, in order: qkvᵀ (3d × N); probs: per (window, head group) the attention
 * weights A_grp (K × g·K), i.e. B·H·K² floats; [dropped probs, mask] of the same size when
 * attn_dropout > 0; context (N, d); then per workspace slot (one per concurrent thread, see
 * attention.h) the block-diagonal Kbdᵀ and Vbdᵀ of the group in hand: rebuilt for every group and
 * small enough to stay in L1, instead of B·H/g copies going out to memory and back.
 * N = B·K. Each part starts on a 16-float boundary. */

typedef struct act_layout {
    size_t qkvT, probs, pdrop, mask, ctx, slots, total;
    size_t group_block;  /* floats of one block-diagonal matrix: g·dh × g·K */
    size_t slot_size;    /* floats of one forward workspace slot: Kbdᵀ, Vbdᵀ */
} act_layout;

static act_layout layout_of(const rp_attention *a, int batch, int n_tokens) {
    size_t N = (size_t)batch * n_tokens, d = (size_t)a->d_model;
    size_t att = (size_t)batch * a->n_heads * n_tokens * n_tokens;
    size_t g = (size_t)head_group(a);
    act_layout L;
    L.group_block = g * a->head_dim * g * n_tokens;
    L.slot_size = 2 * rp_align16(L.group_block);
    L.qkvT = 0;
    L.probs = L.qkvT + rp_align16(3 * d * N);
    L.pdrop = L.mask = L.probs + rp_align16(att);
    if (a->attn_dropout > 0.0f) {
        L.mask = L.pdrop + rp_align16(att);
        L.ctx = L.mask + rp_align16(att);
    } else {
        L.ctx = L.pdrop;
    }
    L.slots = L.ctx + rp_align16(N * d);
    L.total = L.slots + (size_t)RP_ATTENTION_SLOTS * L.slot_size;
    return L;
}

size_t attention_act_floats(const rp_attention *a, int batch, int n_tokens) {
    return layout_of(a, batch, n_tokens).total;
}

/* Backward workspace: dcontext (N, d), dqkvᵀ (3d × N), and per slot, for the group in hand:
 * Kbdᵀ, Vbdᵀ (rebuilt), the score gradients (K × g·K) and the full products dVbd, dKbd
 * (g·K × g·dh) whose diagonal blocks are kept. */
typedef struct scratch_layout {
    size_t dctx, dqkvT, slots, slot_size, kbd, vbd, dscores, dvfull, dkfull, total;
} scratch_layout;

static scratch_layout scratch_layout_of(const rp_attention *a, int batch, int n_tokens) {
    size_t N = (size_t)batch * n_tokens, d = (size_t)a->d_model;
    size_t g = (size_t)head_group(a);
    size_t blk = rp_align16(g * a->head_dim * g * n_tokens), scores = rp_align16(g * (size_t)n_tokens * n_tokens);
    scratch_layout S;
    S.dctx = 0;
    S.dqkvT = S.dctx + rp_align16(N * d);
    S.slots = S.dqkvT + rp_align16(3 * d * N);
    /* offsets within a slot */
    S.kbd = 0;
    S.vbd = S.kbd + blk;
    S.dscores = S.vbd + blk;
    S.dvfull = S.dscores + scores;
    S.dkfull = S.dvfull + blk;
    S.slot_size = S.dkfull + blk;
    S.total = S.slots + (size_t)RP_ATTENTION_SLOTS * S.slot_size;
    return S;
}

size_t attention_scratch_floats(const rp_attention *a, int batch, int n_tokens) {
    return scratch_layout_of(a, batch, n_tokens).total;
}

/* Windows [lo, hi) of n for part `part` of `parts`. */
static void split_range(int n, int part, int parts, int *lo, int *hi) {
    *lo = (int)((long)n * part / parts);
    *hi = (int)((long)n * (part + 1) / parts);
}

/* Threads for a call made outside any parallel region: one per window at most, and only when the
 * work pays for waking them. */
static int attention_threads(int batch, int K) {
    int t = omp_in_parallel() ? 1 : rp_threads();
    if (t > batch) t = batch;
    if (t > RP_ATTENTION_SLOTS) t = RP_ATTENTION_SLOTS;
    if ((size_t)batch * K * K < 8192) t = 1;
    return t < 1 ? 1 : t;
}

/* Copies rows first_row .. first_row + g·dh − 1 of qkvᵀ, window b, into a block-diagonal
 * (g·dh × g·K) matrix: local head hl's dh rows go to columns hl·K .. hl·K + K − 1. Only the
 * diagonal blocks are written: the caller zeroes the matrix once, and every group writes the same
 * positions, so the off-diagonal zeros stay. */
static void fill_block_diagonal(float *bd, const float *qkvT, size_t first_row, int g, int dh, int K,
                                int N, int b) {
    const int cols = g * K;
    for (int hl = 0; hl < g; hl++)
        for (int p = 0; p < dh; p++) {
            int row = hl * dh + p;
            memcpy(bd + (size_t)row * cols + hl * K, qkvT + (first_row + (size_t)row) * N + (size_t)b * K,
                   (size_t)K * sizeof *bd);
        }
}

void attention_forward_range(const rp_attention *a, const rp_params *P, float *out, const float *in,
                             int batch, int n_tokens, int b0, int b1, int training, unsigned long long seed,
                             float *act, int slot) {
    if (b1 <= b0) return;
    const int d = a->d_model, H = a->n_heads, dh = a->head_dim, K = n_tokens;
    const int N = batch * n_tokens, g = head_group(a), G = H / g, gK = g * K, gdh = g * dh;
    const int n0 = b0 * K, rows = (b1 - b0) * K;
    const float scale = 1.0f / sqrtf((float)dh);
    const int drop = training && a->attn_dropout > 0.0f;
    act_layout L = layout_of(a, batch, n_tokens);
    float *qkvT = act + L.qkvT, *probs = act + L.probs, *ctx = act + L.ctx;
    float *pdrop = act + L.pdrop, *mask = act + L.mask;

    /* qkvᵀ[:, n0 .. n0+rows) (3d × rows) = W_qkv (3d × d) · inᵀ + b_qkv: rows start at the bias. */
    const float *w_qkv = P->value + a->qkv.weight, *b_qkv = P->value + a->qkv.bias;
    for (int f = 0; f < 3 * d; f++) {
        float *row = qkvT + (size_t)f * N + n0, bf = b_qkv[f];
        for (int n = 0; n < rows; n++) row[n] = bf;
    }
    rp_sgemm(3 * d, rows, d, 1.0f, w_qkv, d, 1, in + (size_t)n0 * d, 1, d, 1.0f, qkvT + n0, N, 1);

    const size_t block = (size_t)K * gK;  /* attention weights of one (window, group) */
    float *kbd = act + L.slots + (size_t)slot * L.slot_size;
    float *vbd = kbd + rp_align16(L.group_block);
    memset(kbd, 0, L.slot_size * sizeof *kbd);
    for (int bg = b0 * G; bg < b1 * G; bg++) {
        const int b = bg / G, h0 = (bg % G) * g;
        fill_block_diagonal(kbd, qkvT, (size_t)(d + h0 * dh), g, dh, K, N, b);
        fill_block_diagonal(vbd, qkvT, (size_t)(2 * d + h0 * dh), g, dh, K, N, b);
        const float *Q = qkvT + (size_t)(h0 * dh) * N + (size_t)b * K;   /* (K × g·dh), col-major */
        float *A = probs + (size_t)bg * block;                               /* (K × g·K) */
        /* scores of the group's heads side by side: scale · Q · Kbdᵀ, then softmax per head */
        rp_sgemm(K, gK, gdh, scale, Q, 1, N, kbd, gK, 1, 0.0f, A, gK, 1);
        softmax_rows_forward(A, A, 1.0f, K * g, K);
        const float *Ause = A;
        if (drop) {
            /* indexed by global (window, group): rank-count independent in a sharded step */
            dropout_forward(pdrop + (size_t)bg * block, mask + (size_t)bg * block, A, a->attn_dropout, seed,
                            ((size_t)bg + (size_t)dist_row0() * G) * block, block);
            Ause = pdrop + (size_t)bg * block;
        }
        /* context of the group's heads: A (K × g·K) · Vbd (g·K × g·dh) into ctx columns h0·dh.. */
        rp_sgemm(K, gdh, gK, 1.0f, Ause, gK, 1, vbd, 1, gK, 0.0f, ctx + (size_t)b * K * d + h0 * dh, d, 1);
    }

    linear_forward(out + (size_t)n0 * d, ctx + (size_t)n0 * d, P->value + a->out.weight,
                   P->value + a->out.bias, rows, d, d);
}

void attention_forward(const rp_attention *a, const rp_params *P, float *out, const float *in,
                       int batch, int n_tokens, int training, unsigned long long seed, float *act) {
    int T = attention_threads(batch, n_tokens);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int lo, hi;
        split_range(batch, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        attention_forward_range(a, P, out, in, batch, n_tokens, lo, hi, training, seed, act,
                                omp_get_thread_num());
    }
}

void attention_backward_range(const rp_attention *a, const rp_params *P, float *din, const float *dout,
                              const float *in, int batch, int n_tokens, int b0, int b1, int training,
                              const float *act, float *scratch, int slot) {
    if (b1 <= b0) return;
    const int d = a->d_model, H = a->n_heads, dh = a->head_dim, K = n_tokens;
    const int N = batch * n_tokens, g = head_group(a), G = H / g, gK = g * K, gdh = g * dh;
    const int n0 = b0 * K, rows = (b1 - b0) * K;
    const float scale = 1.0f / sqrtf((float)dh);
    const int drop = training && a->attn_dropout > 0.0f;
    act_layout L = layout_of(a, batch, n_tokens);
    scratch_layout S = scratch_layout_of(a, batch, n_tokens);
    const float *qkvT = act + L.qkvT, *probs = act + L.probs;
    const float *pdrop = act + L.pdrop, *mask = act + L.mask;
    float *dctx = scratch + S.dctx, *dqkvT = scratch + S.dqkvT;
    float *ws = scratch + S.slots + (size_t)slot * S.slot_size;
    float *kbd = ws + S.kbd, *vbd = ws + S.vbd, *dS = ws + S.dscores, *dvfull = ws + S.dvfull, *dkfull = ws + S.dkfull;
    (void)in;

    /* output projection, this range's rows: dctx = dout · W_out (scratch: overwritten) */
    linear_backward_input(dctx + (size_t)n0 * d, dout + (size_t)n0 * d, P->value + a->out.weight, rows, d, d, 0.0f);

    /* Every element of this range's columns of dqkvᵀ is written exactly once below. */
    const size_t block = (size_t)K * gK;
    memset(kbd, 0, (S.dscores - S.kbd) * sizeof *kbd);  /* Kbdᵀ and Vbdᵀ: off-diagonal zeros */
    for (int bg = b0 * G; bg < b1 * G; bg++) {
        const int b = bg / G, h0 = (bg % G) * g;
        fill_block_diagonal(kbd, qkvT, (size_t)(d + h0 * dh), g, dh, K, N, b);
        fill_block_diagonal(vbd, qkvT, (size_t)(2 * d + h0 * dh), g, dh, K, N, b);
        const size_t qo = (size_t)(h0 * dh) * N + (size_t)b * K;
        const size_t ko = (size_t)(d + h0 * dh) * N + (size_t)b * K;
        const size_t vo = (size_t)(2 * d + h0 * dh) * N + (size_t)b * K;
        const float *A = probs + (size_t)bg * block;
        const float *Ause = drop ? pdrop + (size_t)bg * block : A;
        const float *dO = dctx + (size_t)b * K * d + h0 * dh;               /* (K × g·dh), row stride d */
        /* dA (K × g·K) = dO · Vbdᵀ: exact per head, Vbdᵀ's zeros keep heads apart */
        rp_sgemm(K, gK, gdh, 1.0f, dO, d, 1, vbd, gK, 1, 0.0f, dS, gK, 1);
        /* dVbd (g·K × g·dh) = Aᵀ · dO; its diagonal blocks are the heads' dV (below) */
        rp_sgemm(gK, gdh, K, 1.0f, Ause, 1, gK, dO, d, 1, 0.0f, dvfull, gdh, 1);
        if (drop) {
            const float *m = mask + (size_t)bg * block;
            for (size_t i = 0; i < block; i++) dS[i] *= m[i];
        }
        /* softmax backward in place, per (query, head) row of K: dscore = A (dA − Σ dA·A) */
        softmax_rows_backward_inplace(dS, A, 1.0f, K * g, K);
        /* scores = scale · Q Kᵀ per head:  dQ = scale · dS · Kbd (exact),  dKbd = scale · dSᵀ · Q */
        rp_sgemm(K, gdh, gK, scale, dS, gK, 1, kbd, 1, gK, 0.0f, dqkvT + qo, 1, N);
        rp_sgemm(gK, gdh, K, scale, dS, 1, gK, qkvT + qo, 1, N, 0.0f, dkfull, gdh, 1);
        /* keep the diagonal blocks: head hl's rows hl·K.., columns hl·dh.. → dqkvᵀ rows (col-major) */
        for (int hl = 0; hl < g; hl++)
            for (int p = 0; p < dh; p++) {
                float *dv = dqkvT + vo + (size_t)(hl * dh + p) * N, *dk = dqkvT + ko + (size_t)(hl * dh + p) * N;
                const float *sv = dvfull + (size_t)hl * K * gdh + hl * dh + p;
                const float *sk = dkfull + (size_t)hl * K * gdh + hl * dh + p;
                for (int j = 0; j < K; j++) {
                    dv[j] = sv[(size_t)j * gdh];
                    dk[j] = sk[(size_t)j * gdh];
                }
            }
    }

    /* QKV projection, this range's rows: din (rows × d) += dqkvᵀ[:, rows]ᵀ · W_qkv */
    rp_sgemm(rows, d, 3 * d, 1.0f, dqkvT + n0, 1, N, P->value + a->qkv.weight, d, 1, 1.0f,
             din + (size_t)n0 * d, d, 1);
}

void attention_backward_params(const rp_attention *a, rp_params *P, const float *dout, const float *in,
                               int batch, int n_tokens, const float *act, const float *scratch, int part,
                               int parts) {
    const int d = a->d_model, N = batch * n_tokens;
    act_layout L = layout_of(a, batch, n_tokens);
    scratch_layout S = scratch_layout_of(a, batch, n_tokens);
    const float *ctx = act + L.ctx, *dqkvT = scratch + S.dqkvT;
    int lo, hi;
    /* output projection: this part's output features */
    split_range(d, part, parts, &lo, &hi);
    linear_backward_params(P->grad + a->out.weight, P->grad + a->out.bias, dout, ctx, N, d, d, lo, hi);
    /* QKV projection (dqkvᵀ is feature-major): dW_qkv[f] += dqkvᵀ[f] · in, db[f] += Σ dqkvᵀ[f] */
    split_range(3 * d, part, parts, &lo, &hi);
    if (hi > lo)
        rp_sgemm(hi - lo, d, N, 1.0f, dqkvT + (size_t)lo * N, N, 1, in, d, 1, 1.0f,
                 P->grad + a->qkv.weight + (size_t)lo * d, d, 1);
    float *db = P->grad + a->qkv.bias;
    for (int f = lo; f < hi; f++) db[f] += rp_sumf(dqkvT + (size_t)f * N, N);
}

void attention_backward(const rp_attention *a, rp_params *P, float *din, const float *dout,
                        const float *in, int batch, int n_tokens, int training, const float *act,
                        float *scratch) {
    int T = attention_threads(batch, n_tokens);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads(), lo, hi;
        split_range(batch, t, nt, &lo, &hi);
        attention_backward_range(a, P, din, dout, in, batch, n_tokens, lo, hi, training, act, scratch, t);
#pragma omp barrier
        attention_backward_params(a, P, dout, in, batch, n_tokens, act, scratch, t, nt);
    }
}

double attention_flops(const rp_attention *a, int batch, int n_tokens) {
    double N = (double)batch * n_tokens, d = a->d_model;
    double proj = N * d * 3 * d + N * d * d;
    double heads = 2.0 * batch * a->n_heads * (double)n_tokens * n_tokens * a->head_dim;
    return 2.0 * (proj + heads);
}
