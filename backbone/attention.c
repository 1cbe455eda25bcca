#include "backbone/attention.h"

#include <math.h>
#if defined(__AVX__)
#include <immintrin.h>
#endif
#include <stdint.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/activation.h"
#include "core/arena.h"
#include "core/blas.h"
#include "core/dist.h"

/* The widest micro-kernel tile (NR) the per-column work below keeps on the stack; BLIS's float
 * kernels have NR ≤ 32. attention_declare refuses a BLIS whose NR is wider. */
#define RP_ATTENTION_MAX_NR 64

int attention_declare(rp_attention *a, rp_params *P, const char *prefix, int d_model, int n_heads,
                      float attn_dropout, rp_error *err) {
    if (d_model <= 0 || n_heads <= 0 || d_model % n_heads != 0)
        return rp_fail(err, "%s: d_model %d is not a positive multiple of n_heads %d", prefix, d_model, n_heads);
    if (!(attn_dropout >= 0.0f && attn_dropout < 1.0f))
        return rp_fail(err, "%s: attention dropout %g outside [0, 1)", prefix, (double)attn_dropout);
    if (rp_ukr_nr() > RP_ATTENTION_MAX_NR)
        return rp_fail(err, "%s: BLIS's micro-kernel tile is %d columns wide, more than the %d the attention supports",
                       prefix, rp_ukr_nr(), RP_ATTENTION_MAX_NR);
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

/* The per-window products run on BLIS's micro-kernel directly (rp_gemm_packed, core/blas.h): at
 * K = 42 tokens and head dimension 4 each is ~14 kflop, and bli_sgemm's set-up and its pool lock
 * cost more than that (docs/results.md, "Attention on BLIS's micro-kernel"). Every product is
 * arranged so that its operands are cheap to pack and its output lands where the next step wants
 * it, which is why the attention works with transposed scores, keys × queries:
 *
 *   Sᵀ  = scale · K_h Q_hᵀ      (K × K)    A = K_h, packed once per window for all heads;
 *                                          B = Q_hᵀ, likewise; C written straight into Pᵀ's panels
 *   Pᵀ  = softmax over keys      in place, one query per column, vectorised across queries
 *   O_hᵀ = V_hᵀ Pᵀ               (dh × K)   B = Pᵀ as the kernel reads it: no packing
 *
 * Pᵀ is kept in the micro-kernel's B layout ("panels"): column panel q, kp·NR floats after panel
 * q − 1, holds queries q·NR .. q·NR + NR − 1, and within it element (key j, query i) sits at
 * [j·NR + i − q·NR]; the last panel's columns beyond K are padding (scores of zero queries), and
 * rows K .. kp − 1 of a panel are slack for the 8 × 8 transposes: neither reaches an output. Backward, per
 * head, with dOᵀ packed once per window:
 *
 *   dPᵀ = V_h dO_hᵀ              (K × K)    into panels, like Sᵀ
 *   dSᵀ = Pᵀ ⊙ (dPᵀ − Σ_keys dPᵀ ⊙ Pᵀ)      softmax backward, in place, per query column
 *   dQ_hᵀ = scale · K_hᵀ dSᵀ     (dh × K)   B = dSᵀ's panels as they are
 *   dK_hᵀ = scale · Q_hᵀ dS      (dh × K)   B = dS: dSᵀ's panels transposed into key panels
 *   dV_hᵀ = dO_hᵀ P              (dh × K)   B = P: Pᵀ's panels transposed likewise
 *
 * and the three (dh × K) outputs are rows of the feature-major dqkvᵀ, written by the kernel with
 * row stride N. */

/* The micro-kernel's tile and the padded extents of the packed operands. */
typedef struct tiles {
    int mr, nr;
    int kq;   /* K rounded up to nr: the columns of a Pᵀ block (queries), likewise keys in key panels */
    int kp;   /* rows of a panel of a K × K block: K, rounded up to 8 where the transposes move 8 × 8
               * blocks (what they carry beyond K never reaches an output) */
    int km;   /* K rounded up to mr: the rows of a packed K or V (A operand over keys) */
    int dhm;  /* head dim rounded up to mr: rows of a packed V_hᵀ, K_hᵀ, Q_hᵀ or dO_hᵀ */
} tiles;

static tiles tiles_of(const rp_attention *a, int K) {
    tiles t;
    t.mr = rp_ukr_mr();
    t.nr = rp_ukr_nr();
    t.kq = (K + t.nr - 1) / t.nr * t.nr;
    t.km = (K + t.mr - 1) / t.mr * t.mr;
    t.kp = t.nr % 8 == 0 ? (K + 7) / 8 * 8 : K;
    t.dhm = (a->head_dim + t.mr - 1) / t.mr * t.mr;
    return t;
}

/* The kernel loads B with aligned vector loads: every B operand starts on a 64-byte boundary. The
 * buffers come from calloc/malloc (16-byte aligned), so each region a B operand lives in reserves
 * 16 floats of slack and is aligned at run time; forward and backward see the same base pointer,
 * so they find the same aligned start. */
static float *align64(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }
#define SLACK 16

/* Saved activations, in order: qkvᵀ (3d × N); probs: per (window, head) Pᵀ in panels (kp × kq);
 * [dropped probs, mask] of the same size when attn_dropout > 0; context (N, d); then per
 * workspace slot (one per concurrent thread, see attention.h) the window's packed Qᵀ (B, d × kq)
 * and K (A, km × d), the head's packed V_hᵀ (A, dhm × K), and one Pᵀ block that a scoring pass
 * (PASS_SCORE) reuses for every head instead of keeping each in probs: small enough to stay in
 * L1/L2. N = B·K. */
typedef struct act_layout {
    size_t qkvT, probs, pdrop, mask, ctx, slots, total;
    size_t block;                             /* floats of one (window, head) Pᵀ: kp × kq */
    size_t slot_size, s_qT, s_kA, s_vA, s_P;  /* a forward slot and offsets within it */
} act_layout;

static act_layout layout_of(const rp_attention *a, int batch, int n_tokens) {
    const tiles t = tiles_of(a, n_tokens);
    const size_t N = (size_t)batch * n_tokens, d = (size_t)a->d_model, K = (size_t)n_tokens;
    act_layout L;
    L.block = (size_t)t.kp * t.kq;
    const size_t att = (size_t)batch * a->n_heads * L.block + SLACK;
    L.qkvT = 0;
    L.probs = L.qkvT + rp_align16(3 * d * N);
    L.pdrop = L.mask = L.probs + rp_align16(att);
    if (a->attn_dropout > 0.0f) {
        L.mask = L.pdrop + rp_align16(att);
        L.ctx = L.mask + rp_align16(att);
    } else {
        L.ctx = L.pdrop;
    }
    L.s_qT = 0;
    L.s_kA = L.s_qT + rp_align16(d * t.kq + SLACK);
    L.s_vA = L.s_kA + rp_align16((size_t)t.km * d);
    L.s_P = L.s_vA + rp_align16((size_t)t.dhm * K);
    L.slot_size = L.s_P + rp_align16(L.block + SLACK);
    L.slots = L.ctx + rp_align16(N * d);
    L.total = L.slots + (size_t)RP_ATTENTION_SLOTS * L.slot_size;
    return L;
}

size_t attention_act_floats(const rp_attention *a, int batch, int n_tokens) {
    return layout_of(a, batch, n_tokens).total;
}

/* Backward workspace: dcontext (N, d), dqkvᵀ (3d × N), and per slot: the window's packed dOᵀ (B,
 * d × kq) and V (A, km × d); the head's dPᵀ/dSᵀ panels (K × kq); dS and P in key panels (B,
 * K × kq each); one A pack (dhm × K) reused for K_hᵀ, Q_hᵀ and dO_hᵀ in turn. */
typedef struct scratch_layout {
    size_t dctx, dqkvT, slots, slot_size, dOT, vA, dST, dSk, Pk, hA, total;
} scratch_layout;

static scratch_layout scratch_layout_of(const rp_attention *a, int batch, int n_tokens) {
    const tiles t = tiles_of(a, n_tokens);
    const size_t N = (size_t)batch * n_tokens, d = (size_t)a->d_model, K = (size_t)n_tokens;
    const size_t kk = rp_align16((size_t)t.kp * t.kq + SLACK);
    scratch_layout S;
    S.dctx = 0;
    S.dqkvT = S.dctx + rp_align16(N * d);
    S.slots = S.dqkvT + rp_align16(3 * d * N);
    /* offsets within a slot */
    S.dOT = 0;
    S.vA = S.dOT + rp_align16(d * t.kq + SLACK);
    S.dST = S.vA + rp_align16((size_t)t.km * d);
    S.dSk = S.dST + kk;
    S.Pk = S.dSk + kk;
    S.hA = S.Pk + kk;
    S.slot_size = S.hA + rp_align16((size_t)t.dhm * K);
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

/* Columns of panel q that are real queries. */
static int panel_cols(int K, int nr, int q) { return K - q * nr < nr ? K - q * nr : nr; }

/* Cᵀ-shaped products into panels: for each column panel q, C panel (K × nr, row stride nr) =
 * alpha · A (K × k, packed, panel stride a_ps) · B panel q (k × nr, b panels b_ps apart). */
static void gemm_into_panels(int K, int k, float alpha, const float *ap, long a_ps, const float *bp, long b_ps,
                             float *c, const tiles *t) {
    for (int q = 0; q * t->nr < K; q++)
        rp_gemm_packed(K, t->nr, k, alpha, ap, a_ps, bp + (size_t)q * b_ps, b_ps, 0.0f,
                       c + (size_t)q * t->kp * t->nr, t->nr, 1);
}

/* The per-column loops below run over whole panels, padding columns included (finite, never
 * read into an output), with the panel width a compile-time constant for the common tile
 * (NR = 16: zen3, haswell) so that each row of a panel is one or two vector operations. */
#define WIDTH_DISPATCH(fn, nr, ...) \
    do {                            \
        if ((nr) == 16)             \
            fn(__VA_ARGS__, 16);    \
        else                        \
            fn(__VA_ARGS__, (nr));  \
    } while (0)

/* Softmax over the keys (rows) of every query column of a Pᵀ block (panels kp rows apart), in
 * place: each column shifted by its own maximum, its sum taken over the keys in order. */
static inline __attribute__((always_inline)) void softmax_keys_w(float *PT, int K, int kp, const int nr) {
    float shift[RP_ATTENTION_MAX_NR], sum[RP_ATTENTION_MAX_NR];
    for (int q = 0; q * nr < K; q++) {
        float *p = PT + (size_t)q * kp * nr;
        for (int i = 0; i < nr; i++) shift[i] = p[i];
        for (int j = 1; j < K; j++)
            for (int i = 0; i < nr; i++) shift[i] = p[(size_t)j * nr + i] > shift[i] ? p[(size_t)j * nr + i] : shift[i];
        for (int i = 0; i < nr; i++) sum[i] = 0.0f;
        for (int j = 0; j < K; j++) {
            float *row = p + (size_t)j * nr;
            for (int i = 0; i < nr; i++) {
                /* the argument is ≤ 0: only exp's lower clamp is needed */
                float x = row[i] - shift[i];
                row[i] = rp_expf_in_range(x > -87.3f ? x : -87.3f);
                sum[i] += row[i];
            }
        }
        for (int i = 0; i < nr; i++) sum[i] = 1.0f / sum[i];
        for (int j = 0; j < K; j++) {
            float *row = p + (size_t)j * nr;
            for (int i = 0; i < nr; i++) row[i] *= sum[i];
        }
    }
}

static void softmax_keys(float *PT, int K, const tiles *t) { WIDTH_DISPATCH(softmax_keys_w, t->nr, PT, K, t->kp); }

/* Softmax backward per query column, in place on dPᵀ: dSᵀ = Pᵀ ⊙ (dPᵀ − Σ_keys dPᵀ ⊙ Pᵀ). */
static inline __attribute__((always_inline)) void softmax_keys_backward_w(float *dPT, const float *PT, int K,
                                                                          int kp, const int nr) {
    float dot[RP_ATTENTION_MAX_NR];
    for (int q = 0; q * nr < K; q++) {
        float *g = dPT + (size_t)q * kp * nr;
        const float *y = PT + (size_t)q * kp * nr;
        for (int i = 0; i < nr; i++) dot[i] = 0.0f;
        for (int j = 0; j < K; j++)
            for (int i = 0; i < nr; i++) dot[i] += g[(size_t)j * nr + i] * y[(size_t)j * nr + i];
        for (int j = 0; j < K; j++)
            for (int i = 0; i < nr; i++) g[(size_t)j * nr + i] = y[(size_t)j * nr + i] * (g[(size_t)j * nr + i] - dot[i]);
    }
}

static void softmax_keys_backward(float *dPT, const float *PT, int K, const tiles *t) {
    WIDTH_DISPATCH(softmax_keys_backward_w, t->nr, dPT, PT, K, t->kp);
}

#if defined(__AVX__)
/* dst rows 0..7 (stride lds) = the columns of the 8 × 8 block at src (row stride lss). */
static inline void transpose8(float *dst, size_t lds, const float *src, size_t lss) {
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lss), r2 = _mm256_loadu_ps(src + 2 * lss),
           r3 = _mm256_loadu_ps(src + 3 * lss), r4 = _mm256_loadu_ps(src + 4 * lss),
           r5 = _mm256_loadu_ps(src + 5 * lss), r6 = _mm256_loadu_ps(src + 6 * lss),
           r7 = _mm256_loadu_ps(src + 7 * lss);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
           t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)),
           s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)),
           s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2)),
           s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + lds, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * lds, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * lds, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * lds, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * lds, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * lds, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * lds, _mm256_permute2f128_ps(s3, s7, 0x31));
}
#endif

/* The transpose of a (key × query) block in query panels, packed as a B operand over keys: the
 * (query × key) matrix in key panels, element (query i, key j) at [(j / nr)·kp·nr + i·nr + j mod nr].
 * With 8-row-aligned panels (kp a multiple of 8) the whole block moves as 8 × 8 tiles through
 * vector registers, padding rows and columns included: what lands beyond K is never read. */
static void transpose_panels(float *dst, const float *src, int K, const tiles *t) {
    const size_t nr = (size_t)t->nr, ps = (size_t)t->kp * nr;
#if defined(__AVX__)
    if (t->kp % 8 == 0 && nr % 8 == 0) {
        /* key panel qk, keys j0 = qk·nr + jj .. + 7; query panel q, queries q·nr + ii .. + 7 */
        for (size_t qk = 0, j0 = 0; j0 < (size_t)t->kp; qk++)
            for (size_t jj = 0; jj < nr && j0 < (size_t)t->kp; jj += 8, j0 += 8)
                for (size_t q = 0, i0 = 0; i0 < (size_t)t->kp; q++)
                    for (size_t ii = 0; ii < nr && i0 < (size_t)t->kp; ii += 8, i0 += 8)
                        transpose8(dst + qk * ps + i0 * nr + jj, nr, src + q * ps + j0 * nr + ii, nr);
        return;
    }
#endif
    for (int j = 0; j < K; j++)
        for (int i = 0; i < K; i++)
            dst[(j / nr) * ps + (size_t)i * nr + j % nr] = src[(i / nr) * ps + (size_t)j * nr + i % nr];
}

/* Attention dropout on a Pᵀ block: each (key j, query i) weight's mask is decided by its global
 * index ((window · H + head) · K + j) · K + i, whatever the panel layout and thread count. */
static void dropout_panels(float *out, float *mask, const float *PT, float p, unsigned long long seed,
                           size_t index0, int K, const tiles *t) {
    const int nr = t->nr;
    for (int q = 0; q * nr < K; q++)
        for (int j = 0; j < K; j++) {
            const size_t at = (size_t)q * t->kp * nr + (size_t)j * nr;
            dropout_forward(out + at, mask + at, PT + at, p, seed, index0 + (size_t)j * K + (size_t)q * nr,
                            (size_t)panel_cols(K, nr, q));
        }
}

void attention_forward_range(const rp_attention *a, const rp_params *P, float *out, const float *in,
                             int batch, int n_tokens, int b0, int b1, rp_pass pass, unsigned long long seed,
                             float *act, int slot) {
    if (b1 <= b0) return;
    const int training = pass == PASS_TRAIN, keep = pass != PASS_SCORE;
    const int d = a->d_model, H = a->n_heads, dh = a->head_dim, K = n_tokens;
    const int N = batch * n_tokens;
    const int n0 = b0 * K, rows = (b1 - b0) * K;
    const float scale = 1.0f / sqrtf((float)dh);
    const int drop = training && a->attn_dropout > 0.0f;
    const tiles t = tiles_of(a, K);
    const act_layout L = layout_of(a, batch, n_tokens);
    float *qkvT = act + L.qkvT, *ctx = act + L.ctx;
    float *probs = align64(act + L.probs), *pdrop = align64(act + L.pdrop), *mask = align64(act + L.mask);
    float *ws = act + L.slots + (size_t)slot * L.slot_size;
    float *qT = align64(ws + L.s_qT), *kA = ws + L.s_kA, *vA = ws + L.s_vA, *slotP = align64(ws + L.s_P);
    const long q_ps = (long)d * t.nr, k_ps = (long)d * t.mr, v_ps = (long)K * t.mr, p_ps = (long)t.kp * t.nr;

    /* qkvᵀ[:, n0 .. n0+rows) (3d × rows) = W_qkv (3d × d) · inᵀ + b_qkv. The bias is added window
     * by window below, on the block the packing is about to read, rather than in a pass of its own
     * over the 3d × rows block before the product (which then read it back): the same sums,
     * fl(bias + product), bit for bit. */
    const float *w_qkv = P->value + a->qkv.weight, *b_qkv = P->value + a->qkv.bias;
    rp_sgemm(3 * d, rows, d, 1.0f, w_qkv, d, 1, in + (size_t)n0 * d, 1, d, 0.0f, qkvT + n0, N, 1);

    for (int b = b0; b < b1; b++) {
        float *qkv_b = qkvT + (size_t)b * K;
        for (int f = 0; f < 3 * d; f++) {
            float *row = qkv_b + (size_t)f * N, bf = b_qkv[f];
            for (int n = 0; n < K; n++) row[n] = bf + row[n];
        }
        rp_pack_b(d, K, qkv_b, N, 1, qT);                    /* Qᵀ (d × K), every head */
        rp_pack_a(K, d, qkv_b + (size_t)d * N, 1, N, kA);    /* K (K × d), every head */
        for (int h = 0; h < H; h++) {
            const size_t bh = (size_t)b * H + h;
            float *PT = keep ? probs + bh * L.block : slotP;
            /* Sᵀ = scale · K_h Q_hᵀ: head h is features h·dh.. of both packs */
            gemm_into_panels(K, dh, scale, kA + (size_t)h * dh * t.mr, k_ps, qT + (size_t)h * dh * t.nr, q_ps, PT, &t);
            softmax_keys(PT, K, &t);
            const float *Puse = PT;
            if (drop) {
                const size_t window = (size_t)dist_row0() + (size_t)b;
                dropout_panels(pdrop + bh * L.block, mask + bh * L.block, PT, a->attn_dropout, seed,
                               ((window * H + (size_t)h) * K) * K, K, &t);
                Puse = pdrop + bh * L.block;
            }
            /* O_hᵀ = V_hᵀ Pᵀ into ctx columns h·dh.. (ctx is token-major: row stride 1, column stride d) */
            rp_pack_a(dh, K, qkv_b + (size_t)(2 * d + h * dh) * N, N, 1, vA);
            rp_gemm_packed(dh, K, K, 1.0f, vA, v_ps, Puse, p_ps, 0.0f, ctx + (size_t)b * K * d + h * dh, 1, d);
        }
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
        attention_forward_range(a, P, out, in, batch, n_tokens, lo, hi, training ? PASS_TRAIN : PASS_EVAL, seed,
                                act, omp_get_thread_num());
    }
}

void attention_backward_range(const rp_attention *a, const rp_params *P, float *din, const float *dout,
                              const float *in, int batch, int n_tokens, int b0, int b1, int training,
                              const float *act, float *scratch, int slot) {
    if (b1 <= b0) return;
    const int d = a->d_model, H = a->n_heads, dh = a->head_dim, K = n_tokens;
    const int N = batch * n_tokens;
    const int n0 = b0 * K, rows = (b1 - b0) * K;
    const float scale = 1.0f / sqrtf((float)dh);
    const int drop = training && a->attn_dropout > 0.0f;
    const tiles t = tiles_of(a, K);
    const act_layout L = layout_of(a, batch, n_tokens);
    const scratch_layout S = scratch_layout_of(a, batch, n_tokens);
    const float *qkvT = act + L.qkvT;
    const float *probs = align64((float *)act + L.probs), *pdrop = align64((float *)act + L.pdrop);
    const float *mask = align64((float *)act + L.mask);
    float *dctx = scratch + S.dctx, *dqkvT = scratch + S.dqkvT;
    float *ws = scratch + S.slots + (size_t)slot * S.slot_size;
    float *dOT = align64(ws + S.dOT), *vA = ws + S.vA, *dST = align64(ws + S.dST);
    float *dSk = align64(ws + S.dSk), *Pk = align64(ws + S.Pk), *hA = ws + S.hA;
    const long o_ps = (long)d * t.nr, v_ps = (long)d * t.mr, h_ps = (long)K * t.mr, p_ps = (long)t.kp * t.nr;
    (void)in;

    /* output projection, this range's rows: dctx = dout · W_out (scratch: overwritten) */
    linear_backward_input(dctx + (size_t)n0 * d, dout + (size_t)n0 * d, P->value + a->out.weight, rows, d, d, 0.0f);

    /* Every element of this range's columns of dqkvᵀ is written exactly once below. */
    for (int b = b0; b < b1; b++) {
        const float *qkv_b = qkvT + (size_t)b * K, *dctx_b = dctx + (size_t)b * K * d;
        float *dqkv_b = dqkvT + (size_t)b * K;
        rp_pack_b(d, K, dctx_b, 1, d, dOT);                  /* dOᵀ (d × K), every head */
        rp_pack_a(K, d, qkv_b + (size_t)2 * d * N, 1, N, vA); /* V (K × d), every head */
        for (int h = 0; h < H; h++) {
            const size_t bh = (size_t)b * H + h;
            const float *PT = probs + bh * L.block, *Puse = drop ? pdrop + bh * L.block : PT;
            /* dPᵀ = V_h dO_hᵀ (the gradient of the dropped weights when dropout ran) */
            gemm_into_panels(K, dh, 1.0f, vA + (size_t)h * dh * t.mr, v_ps, dOT + (size_t)h * dh * t.nr, o_ps, dST, &t);
            /* dV_hᵀ = dO_hᵀ P: P's key panels from the weights the forward multiplied by */
            transpose_panels(Pk, Puse, K, &t);
            rp_pack_a(dh, K, dctx_b + h * dh, 1, d, hA);
            rp_gemm_packed(dh, K, K, 1.0f, hA, h_ps, Pk, p_ps, 0.0f, dqkv_b + (size_t)(2 * d + h * dh) * N, N, 1);
            if (drop) {
                const float *m = mask + bh * L.block;
                for (int q = 0; q * t.nr < K; q++)
                    for (int j = 0; j < K; j++) {
                        const size_t at = (size_t)q * t.kp * t.nr + (size_t)j * t.nr;
                        for (int i = 0; i < panel_cols(K, t.nr, q); i++) dST[at + i] *= m[at + i];
                    }
            }
            softmax_keys_backward(dST, PT, K, &t);
            /* dQ_hᵀ = scale · K_hᵀ dSᵀ */
            rp_pack_a(dh, K, qkv_b + (size_t)(d + h * dh) * N, N, 1, hA);
            rp_gemm_packed(dh, K, K, scale, hA, h_ps, dST, p_ps, 0.0f, dqkv_b + (size_t)(h * dh) * N, N, 1);
            /* dK_hᵀ = scale · Q_hᵀ dS */
            transpose_panels(dSk, dST, K, &t);
            rp_pack_a(dh, K, qkv_b + (size_t)(h * dh) * N, N, 1, hA);
            rp_gemm_packed(dh, K, K, scale, hA, h_ps, dSk, p_ps, 0.0f, dqkv_b + (size_t)(d + h * dh) * N, N, 1);
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
