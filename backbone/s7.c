/* See rp_expf's note in core/activation.c: lets the sigmoid loops vectorise; no result changes.
 * no-math-errno lets the maps' square roots vectorise (arguments ≥ 1; errno is never read). */
#pragma GCC optimize("no-trapping-math", "no-math-errno")

#include "backbone/s7.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backbone/stack.h"
#include "core/activation.h"
#include "core/arena.h"
#include "core/dist.h"

static inline float sigmoidf(float x) { return 1.0f / (1.0f + rp_expf(-x)); }

/* ---- the selective scan -------------------------------------------------------------------------- */

/* The inner loops over the N states of one channel take restrict pointers and keep sums over n
 * out of the loop (float reductions do not vectorise without -ffast-math; dot_states/sum_states then
 * add in a fixed order), so GCC vectorises them: the scan is most of the layer's time. */

/* Σ x[n] y[n] over the N states in 8 interleaved lanes: rp_dotf's fixed order, inlined here because
 * with N = 16 the call itself costs as much as the sum. */
static inline float dot_states(const float *restrict x, const float *restrict y, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k] * y[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

static inline float sum_states(const float *restrict x, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += x[i];
    return s;
}

float s7_map_scale(const float *v, int n_state) {
    float q = dot_states(v, v, n_state);
    if (q <= FLT_MAX) return 1.0f / sqrtf(1.0f + q / (float)n_state);
    /* ‖v‖² overflows float (|v| ≳ 4e18, far outside training): the same scale in double */
    double qd = 0.0;
    for (int n = 0; n < n_state; n++) qd += (double)v[n] * v[n];
    return (float)(1.0 / sqrt(1.0 + qd / n_state));
}

/* Tokens whose map scales are computed together before the scan walks them. */
#define SCALE_CHUNK 64

/* sc[2i] = s_β, sc[2i + 1] = s_γ of the n_rows tokens at z (rows of d + 2N), equal to
 * s7_map_scale's: the sums first, then one vectorised pass of square roots and divisions, so the
 * latency of each token's sum → sqrt → division chain is not paid one token at a time. */
static void map_scales(float *restrict sc, const float *z, int n_rows, int d, int N) {
    const size_t zw = (size_t)d + 2 * (size_t)N;
    for (int i = 0; i < n_rows; i++) {
        const float *beta = z + i * zw + d, *gamma = beta + N;
        sc[2 * i] = dot_states(beta, beta, N);
        sc[2 * i + 1] = dot_states(gamma, gamma, N);
    }
    int overflow = 0;
    for (int j = 0; j < 2 * n_rows; j++) overflow |= !(sc[j] <= FLT_MAX);
    for (int j = 0; j < 2 * n_rows; j++) sc[j] = 1.0f / sqrtf(1.0f + sc[j] / (float)N);
    if (overflow)
        for (int i = 0; i < n_rows; i++)
            for (int m = 0; m < 2; m++) sc[2 * i + m] = s7_map_scale(z + i * zw + d + m * N, N);
}

/* The gradient of a bounded map v̂ = s v, s = s7_map_scale(v), taken in place: on entry slot holds
 * acc = s ∂L/∂v̂ (the scan sums the gradient with the scale folded in), and prior what the slot held
 * before (backward accumulates); on exit slot = prior + ∂L/∂v, where
 * ∂L/∂v = s ∂L/∂v̂ − (s³/N)(v · ∂L/∂v̂) v = acc − (s²/N)(v · acc) v, grouped as (s (s (v · acc)) / N) v
 * so that nothing underflows for large v. */
static void map_backward(float *restrict slot, const float *restrict prior, const float *restrict v, float s, int N) {
    const float w = s * (s * dot_states(v, slot, N)) / (float)N;
    for (int n = 0; n < N; n++) slot[n] = prior[n] + (slot[n] - w * v[n]);
}

/* h[n] = Ā[n] prev[n] + (1 − Ā[n]) β[n] x for one channel; prev NULL = zero state. The callers pass
 * the raw map β̃ and x scaled by β's bound: β[n] x = β̃[n] (s_β x). */
static void scan_step(float *restrict h, const float *restrict prev, const float *restrict lam, float delta,
                      const float *restrict beta, float x, int N) {
    if (prev) {
        for (int n = 0; n < N; n++) {
            float abar = s7_transition(lam[n] + delta);
            h[n] = abar * prev[n] + (1.0f - abar) * beta[n] * x;
        }
    } else {
        for (int n = 0; n < N; n++) {
            float abar = s7_transition(lam[n] + delta);
            h[n] = (1.0f - abar) * beta[n] * x;
        }
    }
}

void s7_scan_forward(float *y, float *h, const float *x, const float *z, const float *lambda,
                     const float *skip, int batch, int n_tokens, int d, int n_state) {
    const int N = n_state, zw = d + 2 * N;
    const size_t dN = (size_t)d * N;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        float sc[2 * SCALE_CHUNK];
        for (int t = 0; t < n_tokens; t++) {
            size_t row = (size_t)b * n_tokens + t;
            if (t % SCALE_CHUNK == 0)
                map_scales(sc, z + row * zw, n_tokens - t < SCALE_CHUNK ? n_tokens - t : SCALE_CHUNK, d, N);
            const float *zt = z + row * zw, *xt = x + row * d;
            const float *delta = zt, *beta = zt + d, *gamma = zt + d + N;
            /* The bounded maps β = s_β β̃, γ = s_γ γ̃, applied through their scales. */
            const float s_beta = sc[2 * (t % SCALE_CHUNK)], s_gamma = sc[2 * (t % SCALE_CHUNK) + 1];
            float *ht = h + row * dN;
            /* The state of token t − 1; the first token starts from zero. */
            const float *hp = t > 0 ? ht - dN : NULL;
            for (int c = 0; c < d; c++) {
                float *hc = ht + (size_t)c * N;
                scan_step(hc, hp ? hp + (size_t)c * N : NULL, lambda + (size_t)c * N, delta[c], beta,
                          s_beta * xt[c], N);
                y[row * d + c] = s_gamma * dot_states(gamma, hc, N) + skip[c] * xt[c];
            }
        }
    }
}

/* One channel of one token, backwards. On entry carry[n] = Ā_{t+1}[n] ∂L/∂h_{t+1}[n]; on exit
 * Ā_t[n] ∂L/∂h_t[n]. Writes wx[n] = ∂L/∂h_t (1 − Ā_t) (summed against β for ∂L/∂x) and
 * wa[n] = ∂L/∂A_t (summed for ∂L/∂δ); accumulates this window's ∂L/∂Λ and, for the bounded maps,
 * s_γ ∂L/∂γ and s_β ∂L/∂β. It takes the raw maps β̃, γ̃ with the scales folded into the scalars:
 * x = s_β x_t[c] and dy = s_γ ∂L/∂y_t[c] (β x_t = β̃ (s_β x_t), γ ∂L/∂y = γ̃ (s_γ ∂L/∂y)). */
static void scan_back_step(float *restrict carry, float *restrict dgamma, float *restrict dbeta,
                           float *restrict dlam, float *restrict wx, float *restrict wa,
                           const float *restrict h, const float *restrict prev, const float *restrict lam,
                           const float *restrict beta, const float *restrict gamma, float delta, float x,
                           float dy, int N) {
    for (int n = 0; n < N; n++) {
        float a = lam[n] + delta;
        /* s7_transition and its derivative from one reciprocal; (a·inv)·inv stays finite for huge a */
        float inv = 1.0f / (a * a + 0.5f);
        float abar = (1.0f - RP_S7_EPS) * (1.0f - inv);
        float dabar_da = (1.0f - RP_S7_EPS) * 2.0f * ((a * inv) * inv);
        float dh = dy * gamma[n] + carry[n];            /* ∂L/∂h_t */
        dgamma[n] += dy * h[n];
        float w = dh * (1.0f - abar);
        dbeta[n] += w * x;
        wx[n] = w;
        /* ∂h_t/∂Ā_t = h_{t−1} − β_t x_t */
        float da = dh * (prev[n] - beta[n] * x) * dabar_da;
        dlam[n] += da;
        wa[n] = da;
        carry[n] = abar * dh;
    }
}

void s7_scan_backward(float *dx, float *dz, float *dlambda, float *dskip, float *work, const float *dy,
                      const float *x, const float *z, const float *h, const float *lambda,
                      const float *skip, int batch, int n_tokens, int d, int n_state) {
    const int N = n_state, zw = d + 2 * N;
    const size_t dN = (size_t)d * N, per_window = s7_scan_work_floats(1, d, n_state);
#pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        /* Per window: the carry (d·N), this window's share of ∂L/∂Λ (d·N) and ∂L/∂D (d), summed over
         * windows after the loop in a fixed order, two rows of N for scan_back_step's terms, N
         * zeros standing for h_{−1} (a branch in the loop would cost a masked load per state), and
         * what a token's ∂L/∂β̃, ∂L/∂γ̃ held on entry (2N): the channels sum s_β ∂L/∂β, s_γ ∂L/∂γ of
         * the bounded maps in those slots of dz, taken through the bound after the last channel. */
        float *carry = work + (size_t)b * per_window, *dlam = carry + dN, *dsk = dlam + dN;
        float *wx = dsk + d, *wa = wx + N, *zeros = wa + N;  /* zeros: h_{−1} */
        float *prior = zeros + N;
        memset(carry, 0, per_window * sizeof *carry);
        /* Backpropagation through the scan, last token first. Ā and the maps' scales are recomputed
         * from z, not saved (the scales chunk by chunk, as forward did). */
        float sc[2 * SCALE_CHUNK];
        for (int t = n_tokens - 1; t >= 0; t--) {
            size_t row = (size_t)b * n_tokens + t;
            if (t == n_tokens - 1 || t % SCALE_CHUNK == SCALE_CHUNK - 1) {
                int first = t - t % SCALE_CHUNK;
                map_scales(sc, z + ((size_t)b * n_tokens + first) * zw, t - first + 1, d, N);
            }
            const float *zt = z + row * zw, *xt = x + row * d, *dyt = dy + row * d;
            const float *delta = zt, *beta = zt + d, *gamma = zt + d + N;
            const float s_beta = sc[2 * (t % SCALE_CHUNK)], s_gamma = sc[2 * (t % SCALE_CHUNK) + 1];
            float *dzt = dz + row * zw;
            float *ddelta = dzt, *dbeta = dzt + d, *dgamma = dzt + d + N;
            const float *ht = h + row * dN;
            const float *hp = t > 0 ? ht - dN : NULL;
            memcpy(prior, dbeta, 2 * (size_t)N * sizeof *prior);
            memset(dbeta, 0, 2 * (size_t)N * sizeof *dbeta);
            for (int c = 0; c < d; c++) {
                size_t off = (size_t)c * N;
                scan_back_step(carry + off, dgamma, dbeta, dlam + off, wx, wa, ht + off, hp ? hp + off : zeros,
                               lambda + off, beta, gamma, delta[c], s_beta * xt[c], s_gamma * dyt[c], N);
                dsk[c] += dyt[c] * xt[c];
                ddelta[c] += sum_states(wa, N);
                dx[row * d + c] += skip[c] * dyt[c] + s_beta * dot_states(wx, beta, N);
            }
            map_backward(dbeta, prior, beta, s_beta, N);
            map_backward(dgamma, prior + N, gamma, s_gamma, N);
        }
    }
    for (int b = 0; b < batch; b++) {
        const float *dlam = work + (size_t)b * per_window + dN, *dsk = dlam + dN;
        for (size_t i = 0; i < dN; i++) dlambda[i] += dlam[i];
        for (int c = 0; c < d; c++) dskip[c] += dsk[c];
    }
}

size_t s7_scan_work_floats(int batch, int d, int n_state) {
    return (size_t)batch * (2 * (size_t)d * n_state + (size_t)d + 5 * (size_t)n_state);
}

/* ---- the layer stack ----------------------------------------------------------------------------- */

/* Where each activation of one layer lives, in floats from the layer's start (R = B·K rows). */
typedef struct layer_layout {
    size_t z;      /* projection [δ β̃ γ̃] (raw maps; the scan bounds them)   (R, d + 2N) */
    size_t h;      /* every state                                         (R, d, N) */
    size_t y;      /* scan output                                         (R, d) */
    size_t g;      /* GELU(y): input of the output projection             (R, d) */
    size_t vq;     /* output projection [v q]                             (R, 2d) */
    size_t r;      /* x + dropout(v ⊙ σ(q)): the norm's input             (R, d) */
    size_t mask;   /* its dropout mask                                    (R, d) */
    size_t out;    /* norm(r): the layer's output                         (R, d) */
    size_t stats;  /* the norm's saved statistics */
    size_t total;
} layer_layout;

/* The whole arena: header (mode), a copy of the input, the layers, then backward workspace. */
typedef struct arena_layout {
    rp_stack_frame frame;
    size_t scan_work, gy, gx, dr, dy, dg, dvq, dz, total;
} arena_layout;

static layer_layout layer_layout_of(const rp_s7 *s, int batch) {
    size_t R = (size_t)batch * s->n_tokens, d = (size_t)s->d_model, N = (size_t)s->state_size;
    layer_layout o;
    rp_layout l = {0};
    o.z = layout_take(&l, R * (d + 2 * N));
    o.h = layout_take(&l, R * d * N);
    o.y = layout_take(&l, R * d);
    o.g = layout_take(&l, R * d);
    o.vq = layout_take(&l, R * 2 * d);
    o.r = layout_take(&l, R * d);
    o.mask = layout_take(&l, R * d);
    o.out = layout_take(&l, R * d);
    o.stats = layout_take(&l, norm_stat_floats(&s->layers[0].norm, (int)R));
    o.total = l.total;
    return o;
}

static arena_layout arena_layout_of(const rp_s7 *s, int batch) {
    size_t R = (size_t)batch * s->n_tokens, d = (size_t)s->d_model, N = (size_t)s->state_size;
    arena_layout a;
    rp_layout l = {0};
    a.frame = stack_frame(&l, R * d, layer_layout_of(s, batch).total, s->n_layers);
    a.scan_work = layout_take(&l, s7_scan_work_floats(batch, s->d_model, s->state_size));
    a.gy = layout_take(&l, R * d);
    a.gx = layout_take(&l, R * d);
    a.dr = layout_take(&l, R * d);
    a.dy = layout_take(&l, R * d);
    a.dg = layout_take(&l, R * d);
    a.dvq = layout_take(&l, R * 2 * d);
    a.dz = layout_take(&l, R * (d + 2 * N));
    a.total = l.total;
    return a;
}

int s7_declare(rp_s7 *s, rp_params *P, const char *prefix, int n_tokens, int d_model, int n_layers,
               int state_size, float dropout, rp_norm_kind norm, rp_error *err) {
    if (stack_check_args(prefix, n_tokens, d_model, "state_size", state_size, n_layers, RP_S7_MAX_LAYERS, dropout,
                         norm, err))
        return -1;
    *s = (rp_s7){.n_tokens = n_tokens, .d_model = d_model, .n_layers = n_layers, .state_size = state_size,
                 .dropout = dropout, .norm = norm};
    char name[RP_PARAM_NAME_MAX + 64], bname[RP_PARAM_NAME_MAX + 64];
    for (int l = 0; l < n_layers; l++) {
        rp_s7_layer *L = &s->layers[l];
        snprintf(name, sizeof name, "%s/layers/%d/in_proj/weight", prefix, l);
        snprintf(bname, sizeof bname, "%s/layers/%d/in_proj/bias", prefix, l);
        if (linear_declare(&L->in_proj, P, name, bname, d_model, d_model + 2 * state_size, err)) return -1;
        snprintf(name, sizeof name, "%s/layers/%d/lambda", prefix, l);
        if ((L->lambda = params_declare2(P, name, d_model, state_size, err)) == (size_t)-1) return -1;
        snprintf(name, sizeof name, "%s/layers/%d/skip", prefix, l);
        if ((L->skip = params_declare1(P, name, d_model, err)) == (size_t)-1) return -1;
        snprintf(name, sizeof name, "%s/layers/%d/out_proj/weight", prefix, l);
        snprintf(bname, sizeof bname, "%s/layers/%d/out_proj/bias", prefix, l);
        if (linear_declare(&L->out_proj, P, name, bname, d_model, 2 * d_model, err)) return -1;
        snprintf(name, sizeof name, "%s/layers/%d/norm", prefix, l);
        if (norm_declare(&L->norm, P, name, norm, d_model, err)) return -1;
    }
    return 0;
}

void s7_init(const rp_s7 *s, rp_params *P, rp_rng *rng) {
    const int d = s->d_model, N = s->state_size;
    for (int l = 0; l < s->n_layers; l++) {
        const rp_s7_layer *L = &s->layers[l];
        linear_init(&L->in_proj, P, rng);
        /* Ā_n = 1 − 0.5·0.02^(n/(N−1)) at δ = 0: geometric memories from ~2 to ~100 tokens,
         * solved from Ā = (1 − ε)(1 − 1/(Λ² + 1/2)) for Λ ≥ 0. */
        float *lam = P->value + L->lambda;
        for (int n = 0; n < N; n++) {
            double frac = N > 1 ? (double)n / (N - 1) : 0.0;
            double target = 1.0 - 0.5 * pow(0.02, frac);
            double sq = 1.0 / (1.0 - target / (1.0 - (double)RP_S7_EPS)) - 0.5;
            for (int c = 0; c < d; c++) lam[(size_t)c * N + n] = (float)sqrt(sq);
        }
        float *skip = P->value + L->skip;
        for (int c = 0; c < d; c++) skip[c] = 1.0f;
        linear_init(&L->out_proj, P, rng);
        norm_init(&L->norm, P);
    }
}

size_t s7_act_floats(const rp_s7 *s, int batch) { return arena_layout_of(s, batch).total; }

static unsigned long long site_seed(unsigned long long seed, int layer) {
    return dropout_seed_derive(seed, (unsigned long long)layer * 8);
}

/* Rows per OpenMP chunk below which the elementwise gate loops stay serial. */
#define S7_PAR_ROWS 2048

void s7_forward(const rp_s7 *s, rp_params *P, float *out, const float *in, int batch, int training,
                unsigned long long dropout_seed, float *act) {
    const int R = batch * s->n_tokens, d = s->d_model, N = s->state_size;
    const size_t Rd = (size_t)R * d;
    const float p = training ? s->dropout : 0.0f;
    /* In a sharded step (core/dist.h): batch norm's rows over all ranks, and the dropout index of
     * this shard's first element, so that the shard draws the masks one process would. */
    const long R_all = (long)dist_batch_rows(R, s->n_tokens);
    const size_t g0 = (size_t)dist_row0() * s->n_tokens * d;
    arena_layout A = arena_layout_of(s, batch);
    layer_layout o = layer_layout_of(s, batch);
    stack_header_write(act, training, batch);
    memcpy(act + A.frame.input, in, Rd * sizeof *act);

    const float *x = act + A.frame.input;
    for (int l = 0; l < s->n_layers; l++) {
        const rp_s7_layer *L = &s->layers[l];
        float *base = act + stack_layer_at(&A.frame, l);
        float *z = base + o.z, *y = base + o.y, *g = base + o.g, *vq = base + o.vq, *r = base + o.r;

        linear_forward(z, x, P->value + L->in_proj.weight, P->value + L->in_proj.bias, R, d, d + 2 * N);
        s7_scan_forward(y, base + o.h, x, z, P->value + L->lambda, P->value + L->skip, batch,
                        s->n_tokens, d, N);
        gelu_forward(g, y, Rd);
        linear_forward(vq, g, P->value + L->out_proj.weight, P->value + L->out_proj.bias, R, d, 2 * d);
#pragma omp parallel for schedule(static) if (R >= S7_PAR_ROWS)
        for (int i = 0; i < R; i++) {
            const float *v = vq + (size_t)i * 2 * d, *q = v + d;
            float *ri = r + (size_t)i * d;
            for (int c = 0; c < d; c++) ri[c] = v[c] * sigmoidf(q[c]);
        }
        if (p > 0.0f) dropout_forward(r, base + o.mask, r, p, site_seed(dropout_seed, l), g0, Rd);
        for (size_t i = 0; i < Rd; i++) r[i] += x[i];
        norm_forward(&L->norm, P, base + o.out, base + o.stats, r, R, R_all, training);
        x = base + o.out;
    }
    memcpy(out, x, Rd * sizeof *out);
}

void s7_backward(const rp_s7 *s, rp_params *P, float *din, const float *dout, int batch, float *act) {
    const int R = batch * s->n_tokens, d = s->d_model, N = s->state_size, zw = d + 2 * N;
    const size_t Rd = (size_t)R * d;
    arena_layout A = arena_layout_of(s, batch);
    layer_layout o = layer_layout_of(s, batch);
    const int training = stack_header_training(act);
    const float p = training ? s->dropout : 0.0f;
    const long R_all = (long)dist_batch_rows(R, s->n_tokens);
    float *gy = act + A.gy, *gx = act + A.gx, *dr = act + A.dr, *dy = act + A.dy, *dg = act + A.dg;
    float *dvq = act + A.dvq, *dz = act + A.dz;

    memcpy(gy, dout, Rd * sizeof *gy);
    for (int l = s->n_layers - 1; l >= 0; l--) {
        const rp_s7_layer *L = &s->layers[l];
        const float *base = act + stack_layer_at(&A.frame, l);
        const float *x = l == 0 ? act + A.frame.input : base - A.frame.layer_size + o.out;
        const float *vq = base + o.vq;

        /* norm: gy = ∂L/∂out → dr = ∂L/∂r */
        memset(dr, 0, Rd * sizeof *dr);
        norm_backward(&L->norm, P, dr, gy, base + o.r, base + o.stats, R, R_all, training);
        /* r = x + dropout(v ⊙ σ(q)): the skip path gives gx = dr */
        memcpy(gx, dr, Rd * sizeof *gx);
        if (p > 0.0f) {
            const float *m = base + o.mask;
            for (size_t i = 0; i < Rd; i++) dr[i] *= m[i];
        }
#pragma omp parallel for schedule(static) if (R >= S7_PAR_ROWS)
        for (int i = 0; i < R; i++) {
            const float *v = vq + (size_t)i * 2 * d, *q = v + d, *dri = dr + (size_t)i * d;
            float *dv = dvq + (size_t)i * 2 * d, *dq = dv + d;
            for (int c = 0; c < d; c++) {
                float sg = sigmoidf(q[c]);
                dv[c] = dri[c] * sg;
                dq[c] = dri[c] * v[c] * sg * (1.0f - sg);
            }
        }
        memset(dg, 0, Rd * sizeof *dg);
        linear_backward(dg, P->grad + L->out_proj.weight, P->grad + L->out_proj.bias, dvq, base + o.g,
                        P->value + L->out_proj.weight, R, d, 2 * d);
        memset(dy, 0, Rd * sizeof *dy);
        gelu_backward(dy, dg, base + o.y, Rd);
        /* the scan (bounded maps included): gx += ∂L/∂x through y, dz = ∂L/∂[δ β̃ γ̃] */
        memset(dz, 0, (size_t)R * zw * sizeof *dz);
        s7_scan_backward(gx, dz, P->grad + L->lambda, P->grad + L->skip, act + A.scan_work, dy, x,
                         base + o.z, base + o.h, P->value + L->lambda, P->value + L->skip, batch,
                         s->n_tokens, d, N);
        linear_backward(gx, P->grad + L->in_proj.weight, P->grad + L->in_proj.bias, dz, x,
                        P->value + L->in_proj.weight, R, d, zw);
        float *tmp = gy; gy = gx; gx = tmp;
    }
    for (size_t i = 0; i < Rd; i++) din[i] += gy[i];
}

double s7_flops(const rp_s7 *s, int batch) {
    double R = (double)batch * s->n_tokens, d = s->d_model, N = s->state_size;
    /* two projections, per state ~8 flops (transition, update, output), ~2 per map entry (bound) */
    double per_layer = 2.0 * R * d * (d + 2 * N) + 2.0 * R * d * 2 * d + 8.0 * R * d * N + 4.0 * R * N;
    return per_layer * s->n_layers;
}

void s7_transitions(const rp_s7 *s, const rp_params *P, int layer, int batch, const float *act,
                    float *abar) {
    const int d = s->d_model, N = s->state_size, zw = d + 2 * N;
    const size_t R = (size_t)batch * s->n_tokens;
    arena_layout A = arena_layout_of(s, batch);
    layer_layout o = layer_layout_of(s, batch);
    const float *z = act + stack_layer_at(&A.frame, layer) + o.z;
    const float *lam = P->value + s->layers[layer].lambda;
    for (size_t i = 0; i < R; i++)
        for (int c = 0; c < d; c++)
            for (int n = 0; n < N; n++)
                abar[(i * d + c) * N + n] = s7_transition(lam[(size_t)c * N + n] + z[i * zw + c]);
}
