#include "backbone/forecaster.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/linear.h"
#include "core/revin.h"
#include "policy/features.h"

int model_build(rp_model *m, const rp_recipe *r, rp_error *err) {
    memset(m, 0, sizeof *m);
    m->recipe = *r;
    m->recipe.text = NULL;
    m->recipe.path = NULL;
    m->lookback = r->data.lookback;
    m->horizon = r->data.horizon;
    m->d_model = r->backbone.d_model;
    m->n_levels = r->n_levels;
    params_init(&m->P);

    int units = m->lookback;
    for (int l = 0; l < m->n_levels; l++) {
        rp_level *lv = &m->levels[l];
        lv->cfg = r->levels[l];
        lv->n_units = units;
        if (seg_spec_for_rate(&lv->spec, units, lv->cfg.rate, lv->cfg.min_len, lv->cfg.max_len, err))
            return rp_fail_prefix(err, "levels[%d]", l);
        lv->K = lv->spec.K;
        if (lv->cfg.patching == PATCHING_RANDOM && seg_is_bounded(&lv->spec)) {
            lv->random_table = rp_malloc(seg_random_table_doubles(&lv->spec) * sizeof(double), err);
            if (!lv->random_table) return -1;
            seg_random_table(&lv->spec, lv->random_table);
        }
        lv->has_policy = lv->cfg.patching == PATCHING_LEARNED;
        if (lv->has_policy) {
            char name[64];
            snprintf(name, sizeof name, "levels/%d/policy", l);
            lv->n_features = l == 0 ? POLICY_FEATURES_LEVEL1 : POLICY_FEATURES_PATCHES;
            if (policy_net_declare(&lv->policy, &m->P, name, units, lv->n_features, lv->cfg.policy_channels,
                                   lv->cfg.policy_kernel, lv->cfg.policy_layers, err))
                return -1;
        }
        units = lv->K;
    }
    if (m->n_levels != 1)
        return rp_fail(err, "levels: %d levels given; this build trains one level (stacks are not implemented yet)",
                       m->n_levels);
    m->n_tokens = m->levels[0].K;

    const rp_level_recipe *top = &m->levels[0].cfg;
    int rate = (int)lround(top->rate);
    int overlap = top->patch_len > rate ? top->patch_len - rate : 0;
    if (tokenizer_declare(&m->tokenizer, &m->P, "levels/0/tokens", m->lookback, m->n_tokens, top->patch_len,
                          overlap, m->d_model, err))
        return -1;
    if (transformer_declare(&m->backbone, &m->P, "backbone", m->n_tokens, m->d_model, r->backbone.n_heads,
                            r->backbone.n_layers, r->backbone.d_ff, (float)r->backbone.dropout, r->backbone.norm,
                            err))
        return -1;
    size_t flat = (size_t)m->n_tokens * (size_t)m->d_model;
    m->head_w = params_declare2(&m->P, "head/w", m->horizon, (int)flat, err);
    if (m->head_w == (size_t)-1) return -1;
    m->head_b = params_declare1(&m->P, "head/b", m->horizon, err);
    if (m->head_b == (size_t)-1) return -1;
    return params_alloc(&m->P, err);
}

int model_init(rp_model *m, unsigned long long seed, rp_error *err) {
    rp_rng rng;
    rng_seed(&rng, seed, 0x1417);
    for (int l = 0; l < m->n_levels; l++) {
        rp_level *lv = &m->levels[l];
        if (!lv->has_policy) continue;
        policy_net_init(&lv->policy, &m->P, &rng);
        if (policy_net_set_prior(&lv->policy, &m->P, lv->cfg.rate, lv->cfg.prior_scale, err))
            return rp_fail_prefix(err, "levels[%d]", l);
    }
    tokenizer_init(&m->tokenizer, &m->P, &rng);
    transformer_init(&m->backbone, &m->P, &rng);
    /* PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias. */
    int fan_in = m->n_tokens * m->d_model;
    float bound = 1.0f / sqrtf((float)fan_in);
    float *w = m->P.value + m->head_w, *b = m->P.value + m->head_b;
    for (size_t i = 0; i < (size_t)m->horizon * (size_t)fan_in; i++) w[i] = (float)((2 * rng_uniform(&rng) - 1) * bound);
    for (int i = 0; i < m->horizon; i++) b[i] = (float)((2 * rng_uniform(&rng) - 1) * bound);
    return 0;
}

#define ALLOC_FLOATS(ptr, n)                                        \
    do {                                                            \
        (ptr) = rp_calloc((size_t)(n), sizeof *(ptr), err);         \
        if (!(ptr)) return -1;                                      \
    } while (0)

int model_buffers_alloc(rp_model_buffers *b, const rp_model *m, int max_windows, int max_group, rp_error *err) {
    memset(b, 0, sizeof *b);
    int L = m->lookback, H = m->horizon, K = m->n_tokens, d = m->d_model;
    int R = max_windows * max_group;
    int P = m->tokenizer.patch_len;
    b->max_windows = max_windows;
    b->max_rows = R;
    ALLOC_FLOATS(b->x_norm, (size_t)max_windows * L);
    ALLOC_FLOATS(b->x_rows, (size_t)R * L);
    ALLOC_FLOATS(b->mean, max_windows);
    ALLOC_FLOATS(b->std, max_windows);
    ALLOC_FLOATS(b->starts, (size_t)R * K);
    ALLOC_FLOATS(b->orders, (size_t)R * (K > 1 ? K - 1 : 1));
    ALLOC_FLOATS(b->log_prob, R);
    const rp_level *lv = &m->levels[0];
    if (lv->has_policy) {
        ALLOC_FLOATS(b->features, (size_t)max_windows * L * lv->n_features);
        ALLOC_FLOATS(b->logits, (size_t)max_windows * L);
        ALLOC_FLOATS(b->dlogits, (size_t)max_windows * L);
        ALLOC_FLOATS(b->policy_act, policy_net_act_floats(&lv->policy, max_windows));
    }
    ALLOC_FLOATS(b->resampled, (size_t)R * K * P);
    ALLOC_FLOATS(b->tokens, (size_t)R * K * d);
    ALLOC_FLOATS(b->dtokens, (size_t)R * K * d);
    ALLOC_FLOATS(b->encoded, (size_t)R * K * d);
    ALLOC_FLOATS(b->dencoded, (size_t)R * K * d);
    ALLOC_FLOATS(b->backbone_act, transformer_act_floats(&m->backbone, R));
    ALLOC_FLOATS(b->forecast_norm, (size_t)R * H);
    ALLOC_FLOATS(b->forecast, (size_t)R * H);
    ALLOC_FLOATS(b->dforecast, (size_t)R * H);
    ALLOC_FLOATS(b->row_loss, R);
    b->work_bytes = (seg_workspace_bytes(&m->levels[0].spec) + 63) & ~(size_t)63;
    ALLOC_FLOATS(b->work, b->work_bytes * (size_t)omp_get_max_threads());
    return 0;
}

void model_buffers_free(rp_model_buffers *b) {
    free(b->x_norm); free(b->x_rows); free(b->mean); free(b->std); free(b->starts); free(b->orders);
    free(b->log_prob); free(b->features); free(b->logits); free(b->dlogits); free(b->policy_act);
    free(b->resampled); free(b->tokens); free(b->dtokens); free(b->encoded); free(b->dencoded);
    free(b->backbone_act); free(b->forecast_norm); free(b->forecast); free(b->dforecast); free(b->row_loss);
    free(b->work);
    memset(b, 0, sizeof *b);
}

void model_free(rp_model *m) {
    for (int l = 0; l < m->n_levels; l++) free(m->levels[l].random_table);
    params_free(&m->P);
}

void model_prepare(rp_model *m, rp_model_buffers *b, const float *x, int B) {
    int L = m->lookback;
    revin_forward(b->x_norm, b->mean, b->std, x, B, L);
    const rp_level *lv = &m->levels[0];
    if (lv->has_policy) {
        for (int i = 0; i < B; i++)
            policy_features_level1(b->x_norm + (size_t)i * L, L, b->features + (size_t)i * L * lv->n_features);
        policy_net_forward(&lv->policy, &m->P, b->logits, b->features, B, b->policy_act);
    }
}

void model_forward(rp_model *m, rp_model_buffers *b, const float *y, int B, int G, int training,
                   unsigned long long dropout_seed) {
    int L = m->lookback, H = m->horizon, K = m->n_tokens, d = m->d_model;
    int R = B * G;
    for (int r = 0; r < R; r++) memcpy(b->x_rows + (size_t)r * L, b->x_norm + (size_t)(r / G) * L, (size_t)L * sizeof(float));
    tokenizer_forward(&m->tokenizer, &m->P, b->tokens, b->resampled, b->x_rows, b->starts, R);
    transformer_forward(&m->backbone, &m->P, b->encoded, b->tokens, R, training, dropout_seed, b->backbone_act);
    linear_forward(b->forecast_norm, b->encoded, m->P.value + m->head_w, m->P.value + m->head_b, R, K * d, H);
    for (int r = 0; r < R; r++) {
        const float mu = b->mean[r / G], sd = b->std[r / G];
        const float *fn = b->forecast_norm + (size_t)r * H;
        float *f = b->forecast + (size_t)r * H;
        for (int t = 0; t < H; t++) f[t] = fn[t] * sd + mu;
        if (y) {
            const float *yt = y + (size_t)(r / G) * H;
            double s = 0;
            for (int t = 0; t < H; t++) s += (double)(f[t] - yt[t]) * (f[t] - yt[t]);
            b->row_loss[r] = (float)(s / H);
        }
    }
}

void model_backward(rp_model *m, rp_model_buffers *b, int B, int G) {
    int H = m->horizon, K = m->n_tokens, d = m->d_model;
    int R = B * G;
    /* RevIN⁻¹ is y = z·std + mean with statistics of the input alone: dz = dy·std. */
    float *dforecast_norm = b->forecast_norm; /* forward value no longer needed: reuse its storage */
    for (int r = 0; r < R; r++) {
        const float sd = b->std[r / G];
        for (int t = 0; t < H; t++) dforecast_norm[(size_t)r * H + t] = b->dforecast[(size_t)r * H + t] * sd;
    }
    memset(b->dencoded, 0, (size_t)R * K * d * sizeof(float));
    memset(b->dtokens, 0, (size_t)R * K * d * sizeof(float));
    linear_backward(b->dencoded, m->P.grad + m->head_w, m->P.grad + m->head_b, dforecast_norm, b->encoded,
                    m->P.value + m->head_w, R, K * d, H);
    transformer_backward(&m->backbone, &m->P, b->dtokens, b->dencoded, R, b->backbone_act);
    tokenizer_backward(&m->tokenizer, &m->P, b->dtokens, b->resampled, b->starts, R);
}

double model_flops(const rp_model *m, int rows) {
    double K = m->n_tokens, d = m->d_model, H = m->horizon, P = m->tokenizer.patch_len;
    double tokens = 2.0 * K * P * d * rows;
    double head = 2.0 * K * d * H * rows;
    return tokens + transformer_flops(&m->backbone, rows) + head;
}
