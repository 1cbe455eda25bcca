#include "backbone/transformer.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/stack.h"
#include "core/activation.h"
#include "core/arena.h"
#include "core/blas.h"
#include "core/dist.h"

/* Threading: one parallel region per forward and per backward. Each thread owns a contiguous range
 * of windows and carries it through every layer with single-threaded BLIS (rp_sgemm runs BLIS on
 * one thread inside a parallel region); threads meet only where the maths couples windows:
 * batch norm's statistics (two barriers forward, one backward, per norm) and the parameter
 * gradients (each thread then owns a share of the output features of every weight, summed over all
 * windows), plus one barrier ending each layer's backward. Compared with a parallel loop per
 * operation this removes ~100 fork/joins per step and keeps each thread's rows in its own cache.
 * Results are bit-identical for a given thread count; batch-norm statistics (column sums combined
 * in thread order) may differ in the last bit between thread counts. */

/* Where each activation of one layer lives, in floats from the layer's start. */
typedef struct layer_layout {
    size_t attn;    /* attention's saved activations */
    size_t r1;      /* x + dropout(attn(x)): norm1's input               (N, d) */
    size_t mask1;   /* its dropout mask                                  (N, d) */
    size_t y1;      /* norm1(r1)                                         (N, d) */
    size_t stats1;  /* norm1's saved statistics */
    size_t g;       /* dropout(GELU(h)), h = FF1(y1): FF2's input        (N, d_ff) */
    size_t gate;    /* mask2 ⊙ GELU'(h): backward of GELU→dropout is ⊙ gate (N, d_ff) */
    size_t r2;      /* y1 + dropout(FF(y1)): norm2's input               (N, d) */
    size_t mask3;   /*                                                   (N, d) */
    size_t y2;      /* norm2(r2): the layer's output                     (N, d) */
    size_t stats2;
    size_t total;
} layer_layout;

static layer_layout layer_layout_of(const rp_transformer *t, const rp_transformer_layer *L, int batch) {
    size_t N = (size_t)batch * t->n_tokens, d = (size_t)t->d_model, f = (size_t)t->d_ff;
    layer_layout o;
    rp_layout l = {0};
    o.attn = layout_take(&l, attention_act_floats(&L->attn, batch, t->n_tokens));
    o.r1 = layout_take(&l, N * d);
    o.mask1 = layout_take(&l, N * d);
    o.y1 = layout_take(&l, N * d);
    o.stats1 = layout_take(&l, norm_stat_floats(&L->norm1, (int)N));
    o.g = layout_take(&l, N * f);
    o.gate = layout_take(&l, N * f);
    o.r2 = layout_take(&l, N * d);
    o.mask3 = layout_take(&l, N * d);
    o.y2 = layout_take(&l, N * d);
    o.stats2 = layout_take(&l, norm_stat_floats(&L->norm2, (int)N));
    o.total = l.total;
    return o;
}

/* The whole arena: header (mode), a copy of the input, the layers, then workspace: backward's
 * gradients, two buffers of per-thread column sums that batch norm combines across threads, and a
 * per-thread chunk of the FF hidden pre-activation h (forward runs FF1 → GELU → dropout over
 * FF_CHUNK floats of h at a time, so h stays in cache and never goes out to memory). */
#define FF_CHUNK 32768

typedef struct arena_layout {
    rp_stack_frame frame;
    size_t attn_scratch, gy, gx, dr2, dy1, dr1, dh, reduce1, reduce2, hchunk, total;
} arena_layout;

static arena_layout arena_layout_of(const rp_transformer *t, int batch) {
    size_t N = (size_t)batch * t->n_tokens, d = (size_t)t->d_model, f = (size_t)t->d_ff;
    arena_layout a;
    rp_layout l = {0};
    a.frame = stack_frame(&l, N * d, layer_layout_of(t, &t->layers[0], batch).total, t->n_layers);
    a.attn_scratch = layout_take(&l, attention_scratch_floats(&t->layers[0].attn, batch, t->n_tokens));
    a.gy = layout_take(&l, N * d);
    a.gx = layout_take(&l, N * d);
    a.dr2 = layout_take(&l, N * d);
    a.dy1 = layout_take(&l, N * d);
    a.dr1 = layout_take(&l, N * d);
    a.dh = layout_take(&l, N * f);
    /* RP_TRANSFORMER_MAX_THREADS × 2d doubles each (a double is two floats of the arena) */
    a.reduce1 = layout_take(&l, (size_t)RP_TRANSFORMER_MAX_THREADS * 2 * d * 2);
    a.reduce2 = layout_take(&l, (size_t)RP_TRANSFORMER_MAX_THREADS * 2 * d * 2);
    a.hchunk = layout_take(&l, (size_t)RP_TRANSFORMER_MAX_THREADS * rp_align16(f > FF_CHUNK ? f : FF_CHUNK));
    a.total = l.total;
    return a;
}

int transformer_declare(rp_transformer *t, rp_params *P, const char *prefix, int n_tokens, int d_model,
                        int n_heads, int n_layers, int d_ff, float dropout, rp_norm_kind norm,
                        rp_error *err) {
    if (stack_check_args(prefix, n_tokens, d_model, "d_ff", d_ff, n_layers, RP_TRANSFORMER_MAX_LAYERS, dropout, norm,
                         err))
        return -1;
    if (d_model > RP_NORM_TEAM_MAX_DIM)
        return rp_fail(err, "%s: d_model %d above the supported %d", prefix, d_model, RP_NORM_TEAM_MAX_DIM);
    *t = (rp_transformer){.n_tokens = n_tokens, .d_model = d_model, .n_heads = n_heads, .n_layers = n_layers,
                          .d_ff = d_ff, .dropout = dropout, .norm = norm};
    char name[RP_PARAM_NAME_MAX + 64], bname[RP_PARAM_NAME_MAX + 64];
    for (int l = 0; l < n_layers; l++) {
        rp_transformer_layer *L = &t->layers[l];
        snprintf(name, sizeof name, "%s/layers/%d/attn", prefix, l);
        if (attention_declare(&L->attn, P, name, d_model, n_heads, 0.0f, err)) return -1;
        snprintf(name, sizeof name, "%s/layers/%d/norm1", prefix, l);
        if (norm_declare(&L->norm1, P, name, norm, d_model, err)) return -1;
        snprintf(name, sizeof name, "%s/layers/%d/ff/w1", prefix, l);
        snprintf(bname, sizeof bname, "%s/layers/%d/ff/b1", prefix, l);
        if (linear_declare(&L->ff1, P, name, bname, d_model, d_ff, err)) return -1;
        snprintf(name, sizeof name, "%s/layers/%d/ff/w2", prefix, l);
        snprintf(bname, sizeof bname, "%s/layers/%d/ff/b2", prefix, l);
        if (linear_declare(&L->ff2, P, name, bname, d_ff, d_model, err)) return -1;
        snprintf(name, sizeof name, "%s/layers/%d/norm2", prefix, l);
        if (norm_declare(&L->norm2, P, name, norm, d_model, err)) return -1;
    }
    return 0;
}

void transformer_init(const rp_transformer *t, rp_params *P, rp_rng *rng) {
    for (int l = 0; l < t->n_layers; l++) {
        const rp_transformer_layer *L = &t->layers[l];
        attention_init(&L->attn, P, rng);
        norm_init(&L->norm1, P);
        linear_init(&L->ff1, P, rng);
        linear_init(&L->ff2, P, rng);
        norm_init(&L->norm2, P);
    }
}

size_t transformer_act_floats(const rp_transformer *t, int batch) {
    return arena_layout_of(t, batch).total;
}

/* Dropout sites of layer l: 0 attention branch, 1 FF hidden, 2 FF branch, 3 attention weights. */
static unsigned long long site_seed(unsigned long long seed, int layer, int site) {
    return dropout_seed_derive(seed, (unsigned long long)layer * 8 + (unsigned long long)site);
}

static void split_range(int n, int part, int parts, int *lo, int *hi) {
    *lo = (int)((long)n * part / parts);
    *hi = (int)((long)n * (part + 1) / parts);
}

/* Threads for one pass: one window each at least, none from inside another parallel region. */
static int transformer_threads(int batch) {
    int T = omp_in_parallel() ? 1 : rp_threads();
    if (T > batch) T = batch;
    if (T > RP_TRANSFORMER_MAX_THREADS) T = RP_TRANSFORMER_MAX_THREADS;
    return T < 1 ? 1 : T;
}

/* Inside a parallel region: this thread's share of the batch's windows [*b0, *b1), as a team of
 * its rows for the norms (core/norm.h) with the arena's buffers of per-thread batch-norm sums. */
static rp_norm_team team_of_this_thread(int batch, int K, const arena_layout *A, float *act, int *b0, int *b1) {
    rp_norm_team tm;
    tm.t = omp_get_thread_num();
    tm.T = omp_get_num_threads();
    split_range(batch, tm.t, tm.T, b0, b1);
    tm.N = batch * K;
    tm.N_all = (long)dist_batch_rows(tm.N, K);
    tm.n0 = *b0 * K;
    tm.rows = (*b1 - *b0) * K;
    tm.reduce1 = (double *)(act + A->reduce1);
    tm.reduce2 = (double *)(act + A->reduce2);
    return tm;
}

/* Rows [n0, n0 + rows) of r: r = x + dropout(r), mask indexed by global element (shifted by
 * `shift`, the elements of the rows other ranks hold before this one's in a sharded step). */
static void residual_dropout(float *r, float *mask, const float *x, float p, unsigned long long seed,
                             size_t first, size_t n, size_t shift) {
    if (p > 0.0f) dropout_forward(r + first, mask + first, r + first, p, seed, first + shift, n);
    for (size_t i = first; i < first + n; i++) r[i] += x[i];
}

/* Its backward on elements [first, first + n): the skip path's gradient is dr itself (copied to
 * dskip), the branch's is dr ⊙ mask (in place; the mask already holds the 1/(1 − p) scale). */
static void residual_dropout_backward(float *dskip, float *dr, const float *mask, float p, size_t first, size_t n) {
    memcpy(dskip + first, dr + first, n * sizeof *dskip);
    if (p > 0.0f)
        for (size_t i = first; i < first + n; i++) dr[i] *= mask[i];
}

void transformer_forward(const rp_transformer *t, rp_params *P, float *out, const float *in, int batch,
                         rp_pass pass, unsigned long long dropout_seed, float *act) {
    const int K = t->n_tokens, d = t->d_model, f = t->d_ff;
    const int training = pass == PASS_TRAIN, keep = pass != PASS_SCORE;
    const float p = training ? t->dropout : 0.0f;
    /* Dropout indices of a shard continue those of the rows before it (rank-count independent). */
    const size_t g0 = (size_t)dist_row0() * K;
    /* Two dropouts in a row on the attention branch (see transformer.h): keep (1 − p)². */
    const float p_attn = 1.0f - (1.0f - p) * (1.0f - p);
    const arena_layout A = arena_layout_of(t, batch);
    stack_header_write(act, training, batch);
    if (!keep) stack_header_mark_scored(act);
    const int T = transformer_threads(batch);

#pragma omp parallel num_threads(T) if (T > 1)
    {
        int b0, b1;
        const rp_norm_team tm = team_of_this_thread(batch, K, &A, act, &b0, &b1);
        const size_t od = (size_t)tm.n0 * d, of = (size_t)tm.n0 * f;
        const size_t nd = (size_t)tm.rows * d;

        memcpy(act + A.frame.input + od, in + od, nd * sizeof *act);
        const float *x = act + A.frame.input;
        for (int l = 0; l < t->n_layers; l++) {
            const rp_transformer_layer *L = &t->layers[l];
            float *base = act + stack_layer_at(&A.frame, l);
            const layer_layout o = layer_layout_of(t, L, batch);

            attention_forward_range(&L->attn, P, base + o.r1, x, batch, K, b0, b1, pass,
                                    site_seed(dropout_seed, l, 3), base + o.attn, tm.t);
            residual_dropout(base + o.r1, base + o.mask1, x, p_attn, site_seed(dropout_seed, l, 0), od, nd, g0 * d);
            norm_forward_team(&L->norm1, P, base + o.y1, base + o.stats1, base + o.r1, training, &tm);

            /* FF1 → GELU → dropout in chunks of rows whose h fits this thread's cache-sized buffer */
            float *h = act + A.hchunk + (size_t)tm.t * rp_align16(f > FF_CHUNK ? f : FF_CHUNK);
            const int chunk = f > FF_CHUNK ? 1 : FF_CHUNK / f;
            for (int r0 = 0; r0 < tm.rows; r0 += chunk) {
                const int nr = tm.rows - r0 < chunk ? tm.rows - r0 : chunk;
                const size_t at_d = (size_t)(tm.n0 + r0) * d, at_f = (size_t)(tm.n0 + r0) * f;
                linear_forward(h, base + o.y1 + at_d, P->value + L->ff1.weight, P->value + L->ff1.bias, nr, d, f);
                float *gate = keep ? base + o.gate + at_f : NULL; /* scoring: no GELU' to keep */
                gelu_dropout_forward(base + o.g + at_f, gate, h, p, site_seed(dropout_seed, l, 1),
                                     at_f + g0 * f, (size_t)nr * f);
            }
            linear_forward(base + o.r2 + od, base + o.g + of, P->value + L->ff2.weight, P->value + L->ff2.bias,
                           tm.rows, f, d);
            residual_dropout(base + o.r2, base + o.mask3, base + o.y1, p, site_seed(dropout_seed, l, 2), od, nd, g0 * d);
            norm_forward_team(&L->norm2, P, base + o.y2, base + o.stats2, base + o.r2, training, &tm);
            x = base + o.y2;
        }
        memcpy(out + od, x + od, nd * sizeof *out);
    }
}

void transformer_backward(const rp_transformer *t, rp_params *P, float *din, const float *dout, int batch,
                          float *act) {
    const int K = t->n_tokens, N = batch * K, d = t->d_model, f = t->d_ff;
    const arena_layout A = arena_layout_of(t, batch);
    if (!stack_header_backward_ready(act)) {
        /* a caller's bug, not a data error: the arena holds no attention weights or GELU' */
        fprintf(stderr, "reinpatch: internal error: transformer_backward after a scoring forward (PASS_SCORE)\n");
        abort();
    }
    const int training = stack_header_training(act);
    const float p = training ? t->dropout : 0.0f;
    const float p_attn = 1.0f - (1.0f - p) * (1.0f - p);
    const int T = transformer_threads(batch);

#pragma omp parallel num_threads(T) if (T > 1)
    {
        int b0, b1;
        const rp_norm_team tm = team_of_this_thread(batch, K, &A, act, &b0, &b1);
        const size_t od = (size_t)tm.n0 * d, of = (size_t)tm.n0 * f;
        const size_t nd = (size_t)tm.rows * d, nf = (size_t)tm.rows * f;
        float *gy = act + A.gy, *gx = act + A.gx, *dr2 = act + A.dr2, *dy1 = act + A.dy1, *dr1 = act + A.dr1;
        float *dh = act + A.dh;

        memcpy(gy + od, dout + od, nd * sizeof *gy);
        for (int l = t->n_layers - 1; l >= 0; l--) {
            const rp_transformer_layer *L = &t->layers[l];
            const float *base = act + stack_layer_at(&A.frame, l);
            const layer_layout o = layer_layout_of(t, L, batch);
            const float *x = l == 0 ? act + A.frame.input : act + stack_layer_at(&A.frame, l - 1) + o.y2;

            /* norm2: gy = ∂L/∂y2 → dr2 = ∂L/∂r2 */
            memset(dr2 + od, 0, nd * sizeof *dr2);
            norm_backward_team(&L->norm2, P, dr2, gy, base + o.r2, base + o.stats2, training, &tm, tm.reduce1);
            /* r2 = y1 + dropout(FF(y1)): dy1 = dr2 (skip path); dr2 ← dr2 ⊙ mask3 (branch) */
            residual_dropout_backward(dy1, dr2, base + o.mask3, p, od, nd);
            /* FF2: dh = dr2 · W2 (workspace, overwritten); g = dropout(GELU(h)): dh ⊙= gate */
            linear_backward_input(dh + of, dr2 + od, P->value + L->ff2.weight, tm.rows, f, d, 0.0f);
            {
                const float *gate = base + o.gate;
                for (size_t i = of; i < of + nf; i++) dh[i] *= gate[i];
            }
            /* FF1: dy1 += dh · W1 */
            linear_backward_input(dy1 + od, dh + of, P->value + L->ff1.weight, tm.rows, d, f, 1.0f);
            /* norm1: dy1 → dr1 = ∂L/∂r1 */
            memset(dr1 + od, 0, nd * sizeof *dr1);
            norm_backward_team(&L->norm1, P, dr1, dy1, base + o.r1, base + o.stats1, training, &tm, tm.reduce2);
            /* r1 = x + dropout(attn(x)): gx = dr1 (skip path) + attention backward of dr1 ⊙ mask1 */
            residual_dropout_backward(gx, dr1, base + o.mask1, p_attn, od, nd);
            attention_backward_range(&L->attn, P, gx, dr1, x, batch, K, b0, b1, training, base + o.attn,
                                     act + A.attn_scratch, tm.t);
#pragma omp barrier
            /* Parameter gradients over all rows; this thread owns a share of each output dimension. */
            int lo, hi;
            split_range(d, tm.t, tm.T, &lo, &hi);
            linear_backward_params(P->grad + L->ff2.weight, P->grad + L->ff2.bias, dr2, base + o.g, N, f, d, lo, hi);
            if (L->norm2.kind == NORM_LAYER)
                layernorm_backward_params(P->grad + L->norm2.gamma, P->grad + L->norm2.beta, gy, base + o.r2,
                                          base + o.stats2, base + o.stats2 + N, N, d, lo, hi);
            if (L->norm1.kind == NORM_LAYER)
                layernorm_backward_params(P->grad + L->norm1.gamma, P->grad + L->norm1.beta, dy1, base + o.r1,
                                          base + o.stats1, base + o.stats1 + N, N, d, lo, hi);
            split_range(f, tm.t, tm.T, &lo, &hi);
            linear_backward_params(P->grad + L->ff1.weight, P->grad + L->ff1.bias, dh, base + o.y1, N, d, f, lo, hi);
            attention_backward_params(&L->attn, P, dr1, x, batch, K, base + o.attn, act + A.attn_scratch,
                                      tm.t, tm.T);
            /* the workspace is reused by the next layer */
#pragma omp barrier
            float *tmp = gy; gy = gx; gx = tmp;
        }
        for (size_t i = od; i < od + nd; i++) din[i] += gy[i];
    }
}

double transformer_flops(const rp_transformer *t, int batch) {
    double N = (double)batch * t->n_tokens;
    double per_layer = attention_flops(&t->layers[0].attn, batch, t->n_tokens) +
                       2.0 * (2.0 * N * t->d_model * t->d_ff);
    return per_layer * t->n_layers;
}
