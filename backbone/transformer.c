#include "backbone/transformer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/activation.h"
#include "core/blas.h"

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Where each activation of one layer lives, in floats from the layer's start. */
typedef struct layer_layout {
    size_t attn;    /* attention's saved activations */
    size_t r1;      /* x + dropout(attn(x)): norm1's input               (N, d) */
    size_t mask1;   /* its dropout mask                                  (N, d) */
    size_t y1;      /* norm1(r1)                                         (N, d) */
    size_t stats1;  /* norm1's saved statistics */
    size_t g;       /* dropout(GELU(h)), h = FF1(y1): FF2's input         (N, d_ff) */
    size_t gate;    /* mask2 ⊙ GELU'(h): backward of GELU→dropout is ⊙ gate (N, d_ff) */
    size_t r2;      /* y1 + dropout(FF(y1)): norm2's input               (N, d) */
    size_t mask3;   /*                                                   (N, d) */
    size_t y2;      /* norm2(r2): the layer's output                     (N, d) */
    size_t stats2;
    size_t total;
} layer_layout;

/* The whole arena: header (mode), a copy of the input, the layers, then workspace: backward's
 * gradients, and `dg`, which also holds the FF hidden pre-activation h during forward. */
typedef struct arena_layout {
    size_t header, input, layers, layer_size;
    size_t attn_scratch, gy, gx, dr, dy1, dg, total;
} arena_layout;

static layer_layout layer_layout_of(const rp_transformer *t, const rp_transformer_layer *L, int batch) {
    size_t N = (size_t)batch * t->n_tokens, d = (size_t)t->d_model, f = (size_t)t->d_ff;
    layer_layout o;
    size_t at = 0;
    o.attn = at;   at += align16(attention_act_floats(&L->attn, batch, t->n_tokens));
    o.r1 = at;     at += align16(N * d);
    o.mask1 = at;  at += align16(N * d);
    o.y1 = at;     at += align16(N * d);
    o.stats1 = at; at += align16(norm_stat_floats(&L->norm1, (int)N));
    o.g = at;      at += align16(N * f);
    o.gate = at;   at += align16(N * f);
    o.r2 = at;     at += align16(N * d);
    o.mask3 = at;  at += align16(N * d);
    o.y2 = at;     at += align16(N * d);
    o.stats2 = at; at += align16(norm_stat_floats(&L->norm2, (int)N));
    o.total = at;
    return o;
}

static arena_layout arena_layout_of(const rp_transformer *t, int batch) {
    size_t N = (size_t)batch * t->n_tokens, d = (size_t)t->d_model, f = (size_t)t->d_ff;
    arena_layout a;
    a.header = 0;
    a.input = 16;
    a.layers = a.input + align16(N * d);
    a.layer_size = layer_layout_of(t, &t->layers[0], batch).total;
    size_t at = a.layers + a.layer_size * (size_t)t->n_layers;
    a.attn_scratch = at; at += align16(attention_scratch_floats(&t->layers[0].attn, batch, t->n_tokens));
    a.gy = at;  at += align16(N * d);
    a.gx = at;  at += align16(N * d);
    a.dr = at;  at += align16(N * d);
    a.dy1 = at; at += align16(N * d);
    a.dg = at;  at += align16(N * f);
    a.total = at;
    return a;
}

int transformer_declare(rp_transformer *t, rp_params *P, const char *prefix, int n_tokens, int d_model,
                        int n_heads, int n_layers, int d_ff, float dropout, rp_norm_kind norm,
                        rp_error *err) {
    if (n_tokens <= 0 || d_model <= 0 || d_ff <= 0)
        return rp_fail(err, "%s: n_tokens %d, d_model %d and d_ff %d must be positive", prefix, n_tokens,
                       d_model, d_ff);
    if (n_layers < 1 || n_layers > RP_TRANSFORMER_MAX_LAYERS)
        return rp_fail(err, "%s: n_layers %d outside 1..%d", prefix, n_layers, RP_TRANSFORMER_MAX_LAYERS);
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return rp_fail(err, "%s: dropout %g outside [0, 1)", prefix, (double)dropout);
    if (norm != NORM_BATCH && norm != NORM_LAYER)
        return rp_fail(err, "%s: unknown norm kind %d", prefix, (int)norm);
    memset(t, 0, sizeof *t);
    t->n_tokens = n_tokens;
    t->d_model = d_model;
    t->n_heads = n_heads;
    t->n_layers = n_layers;
    t->d_ff = d_ff;
    t->dropout = dropout;
    t->norm = norm;
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

/* Dropout sites of layer l: 0 attention branch, 1 FF hidden, 2 FF branch. */
static unsigned long long site_seed(unsigned long long seed, int layer, int site) {
    return dropout_seed_derive(seed, (unsigned long long)layer * 8 + (unsigned long long)site);
}

/* r = x + dropout(r), in place on the branch output r. */
static void residual_dropout(float *r, float *mask, const float *x, float p, unsigned long long seed,
                             size_t n) {
    if (p > 0.0f) dropout_forward(r, mask, r, p, seed, 0, n);
    for (size_t i = 0; i < n; i++) r[i] += x[i];
}

void transformer_forward(const rp_transformer *t, rp_params *P, float *out, const float *in, int batch,
                         int training, unsigned long long dropout_seed, float *act) {
    const int N = batch * t->n_tokens, d = t->d_model, f = t->d_ff;
    const size_t Nd = (size_t)N * d, Nf = (size_t)N * f;
    const float p = training ? t->dropout : 0.0f;
    /* Two dropouts in a row on the attention branch (see transformer.h): keep (1 − p)². */
    const float p_attn = 1.0f - (1.0f - p) * (1.0f - p);
    arena_layout A = arena_layout_of(t, batch);
    act[A.header + 0] = (float)training;
    act[A.header + 1] = (float)batch;
    memcpy(act + A.input, in, Nd * sizeof *act);

    const float *x = act + A.input;
    for (int l = 0; l < t->n_layers; l++) {
        const rp_transformer_layer *L = &t->layers[l];
        float *base = act + A.layers + (size_t)l * A.layer_size;
        layer_layout o = layer_layout_of(t, L, batch);

        attention_forward(&L->attn, P, base + o.r1, x, batch, t->n_tokens, training,
                          site_seed(dropout_seed, l, 3), base + o.attn);
        residual_dropout(base + o.r1, base + o.mask1, x, p_attn, site_seed(dropout_seed, l, 0), Nd);
        norm_forward(&L->norm1, P, base + o.y1, base + o.stats1, base + o.r1, N, training);

        float *h = act + A.dg;
        linear_forward(h, base + o.y1, P->value + L->ff1.weight, P->value + L->ff1.bias, N, d, f);
        gelu_dropout_forward(base + o.g, base + o.gate, h, p, site_seed(dropout_seed, l, 1), 0, Nf);
        linear_forward(base + o.r2, base + o.g, P->value + L->ff2.weight, P->value + L->ff2.bias, N, f, d);
        residual_dropout(base + o.r2, base + o.mask3, base + o.y1, p, site_seed(dropout_seed, l, 2), Nd);
        norm_forward(&L->norm2, P, base + o.y2, base + o.stats2, base + o.r2, N, training);
        x = base + o.y2;
    }
    memcpy(out, x, Nd * sizeof *out);
}

/* Backward of r = x + dropout(a): skip = ∂L/∂r, then ∂L/∂r ⊙ mask in place (the branch). */
static void split_residual(float *restrict skip, float *restrict branch, const float *restrict mask,
                           float p, size_t n) {
    memcpy(skip, branch, n * sizeof *skip);
    if (p > 0.0f)
        for (size_t i = 0; i < n; i++) branch[i] *= mask[i];
}

static void mul_inplace(float *x, const float *y, size_t n) {
    long nb = (long)((n + 4095) / 4096);
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (long b = 0; b < nb; b++) {
        size_t lo = (size_t)b * 4096, hi = n - lo < 4096 ? n : lo + 4096;
        for (size_t i = lo; i < hi; i++) x[i] *= y[i];
    }
}

void transformer_backward(const rp_transformer *t, rp_params *P, float *din, const float *dout, int batch,
                          float *act) {
    const int N = batch * t->n_tokens, d = t->d_model, f = t->d_ff;
    const size_t Nd = (size_t)N * d, Nf = (size_t)N * f;
    arena_layout A = arena_layout_of(t, batch);
    const int training = act[A.header + 0] != 0.0f;
    const float p = training ? t->dropout : 0.0f;
    const float p_attn = 1.0f - (1.0f - p) * (1.0f - p);
    float *gy = act + A.gy, *gx = act + A.gx, *dr = act + A.dr, *dy1 = act + A.dy1;
    float *dg = act + A.dg;

    memcpy(gy, dout, Nd * sizeof *gy);
    for (int l = t->n_layers - 1; l >= 0; l--) {
        const rp_transformer_layer *L = &t->layers[l];
        const float *base = act + A.layers + (size_t)l * A.layer_size;
        layer_layout o = layer_layout_of(t, L, batch);
        const float *x = l == 0 ? act + A.input : act + A.layers + (size_t)(l - 1) * A.layer_size + o.y2;

        /* norm2: gy = ∂L/∂y2 → dr = ∂L/∂r2 */
        memset(dr, 0, Nd * sizeof *dr);
        norm_backward(&L->norm2, P, dr, gy, base + o.r2, base + o.stats2, N, training);
        /* r2 = y1 + dropout(FF(y1)): dy1 = dr (skip path); dr ← dr ⊙ mask3 (branch) */
        split_residual(dy1, dr, base + o.mask3, p, Nd);
        /* FF2: dg = dr · W2 (written, not accumulated: dg is workspace); dW2 += drᵀ g */
        rp_sgemm(N, f, d, 1.0f, dr, d, 1, P->value + L->ff2.weight, f, 1, 0.0f, dg, f, 1);
        linear_backward(NULL, P->grad + L->ff2.weight, P->grad + L->ff2.bias, dr, base + o.g,
                        P->value + L->ff2.weight, N, f, d);
        /* g = dropout(GELU(h)): dh = dg ⊙ gate, in place */
        mul_inplace(dg, base + o.gate, Nf);
        /* FF1: dy1 += dh · W1 */
        linear_backward(dy1, P->grad + L->ff1.weight, P->grad + L->ff1.bias, dg, base + o.y1,
                        P->value + L->ff1.weight, N, d, f);
        /* norm1: dy1 → dr = ∂L/∂r1 */
        memset(dr, 0, Nd * sizeof *dr);
        norm_backward(&L->norm1, P, dr, dy1, base + o.r1, base + o.stats1, N, training);
        /* r1 = x + dropout(attn(x)): gx = dr (skip path) + attention backward of dr ⊙ mask1 */
        split_residual(gx, dr, base + o.mask1, p_attn, Nd);
        attention_backward(&L->attn, P, gx, dr, x, batch, t->n_tokens, training, base + o.attn,
                           act + A.attn_scratch);
        float *tmp = gy; gy = gx; gx = tmp;
    }
    for (size_t i = 0; i < Nd; i++) din[i] += gy[i];
}

double transformer_flops(const rp_transformer *t, int batch) {
    double N = (double)batch * t->n_tokens;
    double per_layer = attention_flops(&t->layers[0].attn, batch, t->n_tokens) +
                       2.0 * (2.0 * N * t->d_model * t->d_ff);
    return per_layer * t->n_layers;
}
