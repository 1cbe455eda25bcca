#include "levels/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/blas.h"

static void uniform_fill(float *v, size_t count, double bound, rp_rng *rng) {
    for (size_t i = 0; i < count; i++) v[i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
}

/* ---- raw tokenizer --------------------------------------------------------------------------- */

int tokenizer_declare(rp_tokenizer *tok, rp_params *P, const char *prefix, int L, int K,
                      int patch_len, int overlap, int d_model, int index_position, rp_error *err) {
    if (L < 1 || K < 1 || K > L)
        return rp_fail(err, "%s: L=%d, K=%d: need 1 <= K <= L", prefix, L, K);
    if (patch_len < 1 || d_model < 1 || overlap < 0)
        return rp_fail(err, "%s: patch_len=%d, d_model=%d, overlap=%d: need patch_len, d_model >= 1 "
                       "and overlap >= 0", prefix, patch_len, d_model, overlap);
    *tok = (rp_tokenizer){.L = L, .K = K, .patch_len = patch_len, .overlap = overlap, .d_model = d_model,
                          .index_position = index_position, .pos = (size_t)-1};
    char name[RP_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s/proj/w", prefix);
    if ((tok->w = params_declare2(P, name, d_model, patch_len, err)) == (size_t)-1) return -1;
    snprintf(name, sizeof name, "%s/proj/b", prefix);
    if ((tok->b = params_declare1(P, name, d_model, err)) == (size_t)-1) return -1;
    snprintf(name, sizeof name, "%s/pos", prefix);
    if (index_position && (tok->pos = params_declare2(P, name, K, d_model, err)) == (size_t)-1) return -1;
    snprintf(name, sizeof name, "%s/len", prefix);
    if ((tok->len = params_declare2(P, name, L, d_model, err)) == (size_t)-1) return -1;
    return 0;
}

void tokenizer_init(const rp_tokenizer *tok, rp_params *P, rp_rng *rng) {
    size_t d = (size_t)tok->d_model;
    double bound = 1.0 / sqrt((double)tok->patch_len);
    uniform_fill(P->value + tok->w, d * tok->patch_len, bound, rng);
    uniform_fill(P->value + tok->b, d, bound, rng);
    if (tok->index_position) uniform_fill(P->value + tok->pos, d * tok->K, 0.02, rng);
    memset(P->value + tok->len, 0, sizeof(float) * d * tok->L);
}

void tokenizer_resample(float *out, const float *x, int L, int a, int b, int overlap, int P) {
    int span = b + overlap - a;
    for (int p = 0; p < P; p++) {
        /* Double precision keeps u exact when span == P (step 1), so that case is a copy. */
        double u = P > 1 ? a + (double)p * (span - 1) / (P - 1) : a + 0.5 * (span - 1);
        int i0 = (int)floor(u);
        double f = u - i0;
        float v0 = x[i0 < L ? i0 : L - 1];
        if (f == 0.0) {
            out[p] = v0;
        } else {
            float v1 = x[i0 + 1 < L ? i0 + 1 : L - 1];
            out[p] = (float)((1.0 - f) * v0 + f * v1);
        }
    }
}

void tokenizer_forward(const rp_tokenizer *tok, const rp_params *P, float *tokens,
                       float *resampled, const float *x, const int *starts, int B) {
    int L = tok->L, K = tok->K, Pn = tok->patch_len, d = tok->d_model;
    for (int bi = 0; bi < B; bi++)
        for (int k = 0; k < K; k++) {
            const int *st = starts + (size_t)bi * K;
            int a = st[k], b = k + 1 < K ? st[k + 1] : L;
            tokenizer_resample(resampled + ((size_t)bi * K + k) * Pn, x + (size_t)bi * L, L, a, b,
                               tok->overlap, Pn);
        }
    rp_matmul(tokens, resampled, P->value + tok->w, B * K, d, Pn, 0, 1, 1.0f, 0.0f); // (B*K, d)
    const float *bias = P->value + tok->b, *len = P->value + tok->len;
    const float *pos = tok->index_position ? P->value + tok->pos : NULL;
    for (int bi = 0; bi < B; bi++)
        for (int k = 0; k < K; k++) {
            const int *st = starts + (size_t)bi * K;
            int seg = (k + 1 < K ? st[k + 1] : L) - st[k];
            float *t = tokens + ((size_t)bi * K + k) * d;
            const float *lk = len + (size_t)(seg - 1) * d;
            if (pos)
                for (int c = 0; c < d; c++) t[c] += bias[c] + pos[(size_t)k * d + c] + lk[c];
            else
                for (int c = 0; c < d; c++) t[c] += bias[c] + lk[c];
        }
}

void tokenizer_backward(const rp_tokenizer *tok, rp_params *P, const float *dtokens,
                        const float *resampled, const int *starts, int B) {
    int L = tok->L, K = tok->K, Pn = tok->patch_len, d = tok->d_model;
    rp_matmul(P->grad + tok->w, dtokens, resampled, d, Pn, B * K, 1, 0, 1.0f, 1.0f); // (d, P)
    float *db = P->grad + tok->b, *dlen = P->grad + tok->len;
    float *dpos = tok->index_position ? P->grad + tok->pos : NULL;
    for (int bi = 0; bi < B; bi++)
        for (int k = 0; k < K; k++) {
            const int *st = starts + (size_t)bi * K;
            int seg = (k + 1 < K ? st[k + 1] : L) - st[k];
            const float *g = dtokens + ((size_t)bi * K + k) * d;
            float *dl = dlen + (size_t)(seg - 1) * d;
            for (int c = 0; c < d; c++) {
                db[c] += g[c];
                dl[c] += g[c];
            }
            if (dpos)
                for (int c = 0; c < d; c++) dpos[(size_t)k * d + c] += g[c];
        }
}

/* ---- pooled tokenizer ------------------------------------------------------------------------- */

int pooled_tokenizer_declare(rp_pooled_tokenizer *tok, rp_params *P, const char *prefix, int n_in,
                             int K, int d_model, int index_position, rp_error *err) {
    if (n_in < 1 || K < 1 || K > n_in)
        return rp_fail(err, "%s: n_in=%d, K=%d: need 1 <= K <= n_in", prefix, n_in, K);
    if (d_model < 1) return rp_fail(err, "%s: d_model=%d: must be >= 1", prefix, d_model);
    *tok = (rp_pooled_tokenizer){.n_in = n_in, .K = K, .d_model = d_model, .index_position = index_position,
                                 .pos = (size_t)-1};
    char name[RP_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s/proj/w", prefix);
    if ((tok->w = params_declare2(P, name, d_model, d_model, err)) == (size_t)-1) return -1;
    snprintf(name, sizeof name, "%s/proj/b", prefix);
    if ((tok->b = params_declare1(P, name, d_model, err)) == (size_t)-1) return -1;
    snprintf(name, sizeof name, "%s/pos", prefix);
    if (index_position && (tok->pos = params_declare2(P, name, K, d_model, err)) == (size_t)-1) return -1;
    snprintf(name, sizeof name, "%s/len", prefix);
    if ((tok->len = params_declare2(P, name, n_in, d_model, err)) == (size_t)-1) return -1;
    return 0;
}

void pooled_tokenizer_init(const rp_pooled_tokenizer *tok, rp_params *P, rp_rng *rng) {
    size_t d = (size_t)tok->d_model;
    double bound = 1.0 / sqrt((double)d);
    uniform_fill(P->value + tok->w, d * d, bound, rng);
    uniform_fill(P->value + tok->b, d, bound, rng);
    if (tok->index_position) uniform_fill(P->value + tok->pos, d * tok->K, 0.02, rng);
    memset(P->value + tok->len, 0, sizeof(float) * d * tok->n_in);
}

/* act: pooled means (B, K, d), then backward scratch for d(pooled) (B, K, d). */
size_t pooled_tokenizer_act_floats(const rp_pooled_tokenizer *tok, int B) {
    return 2 * (size_t)B * tok->K * tok->d_model;
}

void pooled_tokenizer_forward(const rp_pooled_tokenizer *tok, const rp_params *P, float *tokens,
                              const float *lower, const int *starts, int B, float *act) {
    int n = tok->n_in, K = tok->K, d = tok->d_model;
    float *pooled = act;
    for (int bi = 0; bi < B; bi++)
        for (int g = 0; g < K; g++) {
            const int *st = starts + (size_t)bi * K;
            int a = st[g], e = g + 1 < K ? st[g + 1] : n;
            float *m = pooled + ((size_t)bi * K + g) * d;
            for (int c = 0; c < d; c++) m[c] = 0.0f;
            for (int u = a; u < e; u++) {
                const float *t = lower + ((size_t)bi * n + u) * d;
                for (int c = 0; c < d; c++) m[c] += t[c];
            }
            float inv = 1.0f / (float)(e - a);
            for (int c = 0; c < d; c++) m[c] *= inv;
        }
    rp_matmul(tokens, pooled, P->value + tok->w, B * K, d, d, 0, 1, 1.0f, 0.0f); // (B*K, d)
    const float *bias = P->value + tok->b, *len = P->value + tok->len;
    const float *pos = tok->index_position ? P->value + tok->pos : NULL;
    for (int bi = 0; bi < B; bi++)
        for (int g = 0; g < K; g++) {
            const int *st = starts + (size_t)bi * K;
            int glen = (g + 1 < K ? st[g + 1] : n) - st[g];
            float *t = tokens + ((size_t)bi * K + g) * d;
            const float *lg = len + (size_t)(glen - 1) * d;
            if (pos)
                for (int c = 0; c < d; c++) t[c] += bias[c] + pos[(size_t)g * d + c] + lg[c];
            else
                for (int c = 0; c < d; c++) t[c] += bias[c] + lg[c];
        }
}

void pooled_tokenizer_backward(const rp_pooled_tokenizer *tok, rp_params *P, float *dlower,
                               const float *dtokens, const int *starts, int B, float *act) {
    int n = tok->n_in, K = tok->K, d = tok->d_model;
    const float *pooled = act;
    float *dpooled = act + (size_t)B * K * d;
    rp_matmul(P->grad + tok->w, dtokens, pooled, d, d, B * K, 1, 0, 1.0f, 1.0f); // (d, d)
    float *db = P->grad + tok->b, *dlen = P->grad + tok->len;
    float *dpos = tok->index_position ? P->grad + tok->pos : NULL;
    for (int bi = 0; bi < B; bi++)
        for (int g = 0; g < K; g++) {
            const int *st = starts + (size_t)bi * K;
            int glen = (g + 1 < K ? st[g + 1] : n) - st[g];
            const float *gr = dtokens + ((size_t)bi * K + g) * d;
            float *dl = dlen + (size_t)(glen - 1) * d;
            for (int c = 0; c < d; c++) {
                db[c] += gr[c];
                dl[c] += gr[c];
            }
            if (dpos)
                for (int c = 0; c < d; c++) dpos[(size_t)g * d + c] += gr[c];
        }
    if (!dlower) return;
    rp_matmul(dpooled, dtokens, P->value + tok->w, B * K, d, d, 0, 0, 1.0f, 0.0f); // (B*K, d)
    for (int bi = 0; bi < B; bi++)
        for (int g = 0; g < K; g++) {
            const int *st = starts + (size_t)bi * K;
            int a = st[g], e = g + 1 < K ? st[g + 1] : n;
            const float *gp = dpooled + ((size_t)bi * K + g) * d;
            float inv = 1.0f / (float)(e - a);
            for (int u = a; u < e; u++) {
                float *dl = dlower + ((size_t)bi * n + u) * d;
                for (int c = 0; c < d; c++) dl[c] += gp[c] * inv;
            }
        }
}
