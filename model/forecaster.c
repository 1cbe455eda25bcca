#include "model/forecaster.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/dist.h"
#include "core/linear.h"
#include "core/loss.h"
#include "core/revin.h"
#include "core/util.h"
#include "levels/changepoint.h"
#include "levels/features.h"

static int declare_level(rp_model *m, int l, int units, rp_error *err) {
    rp_level *lv = &m->levels[l];
    lv->cfg = m->recipe.levels[l];
    lv->n_units = units;
    if (seg_spec_for_rate(&lv->spec, units, lv->cfg.rate, lv->cfg.min_len, lv->cfg.max_len, err))
        return rp_fail_prefix(err, "levels[%d]", l);
    lv->K = lv->spec.K;
    /* Random levels draw from it, and any level may be cut at random by model_override_cuts. */
    if (seg_is_bounded(&lv->spec)) {
        lv->random_table = rp_malloc(seg_random_table_doubles(&lv->spec) * sizeof(double), err);
        if (!lv->random_table) return -1;
        seg_random_table(&lv->spec, lv->random_table);
    }
    lv->has_policy = lv->cfg.patching == PATCHING_LEARNED;
    lv->uses_changepoint = lv->cfg.patching == PATCHING_CHANGEPOINT ||
                           (lv->has_policy && lv->cfg.policy_init == POLICY_INIT_CHANGEPOINT);
    if (lv->has_policy) {
        char name[64];
        snprintf(name, sizeof name, "levels/%d/policy", l);
        lv->n_features = (l == 0 ? POLICY_FEATURES_LEVEL1 : POLICY_FEATURES_PATCHES) + (lv->cfg.policy_position ? 1 : 0);
        if (policy_net_declare(&lv->policy, &m->P, name, units, lv->n_features, lv->cfg.policy_channels,
                               lv->cfg.policy_kernel, lv->cfg.policy_layers, err))
            return -1;
    }
    return 0;
}

/* position: time — "<tokens prefix>/time/w", after the tokenizer's own parameters. */
static int declare_time_position(rp_model *m, int l, const char *prefix, rp_error *err) {
    rp_level *lv = &m->levels[l];
    lv->time_position = lv->cfg.position == POSITION_TIME;
    if (!lv->time_position) return 0;
    return time_position_declare(&lv->time_pos, &m->P, prefix, m->lookback, lv->K, m->d_model, err);
}

static int declare_tokens(rp_model *m, int l, rp_error *err) {
    rp_level *lv = &m->levels[l];
    char name[64];
    snprintf(name, sizeof name, "levels/%d/tokens", l);
    int index_position = lv->cfg.position == POSITION_INDEX;
    if (lv->pooled) {
        if (pooled_tokenizer_declare(&lv->pooled_tok, &m->P, name, lv->n_units, lv->K, m->d_model, index_position,
                                     err))
            return -1;
        return declare_time_position(m, l, name, err);
    }
    /* Level 0 reads (patch_len − rate) steps of context past each patch, so uniform boundaries
     * reproduce PatchTST's overlapping patches; higher levels read their span alone. */
    int overlap = 0;
    if (l == 0) {
        int rate = (int)floor(lv->cfg.rate);
        overlap = lv->cfg.patch_len > rate ? lv->cfg.patch_len - rate : 0;
    }
    if (tokenizer_declare(&lv->raw_tok, &m->P, name, m->lookback, lv->K, lv->cfg.patch_len, overlap, m->d_model,
                          index_position, err))
        return -1;
    return declare_time_position(m, l, name, err);
}

int model_build(rp_model *m, const rp_recipe *r, rp_error *err) {
    memset(m, 0, sizeof *m);
    m->recipe = *r;
    m->recipe.text = NULL;
    m->recipe.path = NULL;
    m->lookback = r->data.lookback;
    m->horizon = r->data.horizon;
    m->d_model = r->backbone.d_model;
    m->n_levels = r->n_levels;
    m->inputs_all = r->backbone.inputs == INPUTS_ALL;
    params_init(&m->P);

    int units = m->lookback;
    for (int l = 0; l < m->n_levels; l++) {
        if (declare_level(m, l, units, err)) return -1;
        units = m->levels[l].K;
    }
    /* Which levels build tokens: the top one, every one with inputs: all, and any level whose
     * tokens the level above pools. */
    int top = m->n_levels - 1;
    for (int l = top; l >= 0; l--) {
        rp_level *lv = &m->levels[l];
        lv->pooled = l > 0 && lv->cfg.tokens == TOKENS_POOLED;
        lv->needs_tokens = l == top || m->inputs_all || (m->levels[l + 1].needs_tokens && m->levels[l + 1].pooled);
    }
    m->n_tokens = 0;
    for (int l = 0; l < m->n_levels; l++) {
        rp_level *lv = &m->levels[l];
        if (!lv->needs_tokens) continue;
        if (declare_tokens(m, l, err)) return -1;
        if (m->inputs_all || l == top) {
            lv->token_offset = m->n_tokens;
            m->n_tokens += lv->K;
        }
    }
    if (m->inputs_all) {
        m->level_emb = params_declare2(&m->P, "backbone/level_emb", m->n_levels, m->d_model, err);
        if (m->level_emb == (size_t)-1) return -1;
    }
    if (backbone_declare(&m->backbone, &m->P, "backbone", r, m->n_tokens, err)) return -1;
    m->head_unpatch = r->backbone.head == HEAD_UNPATCH;
    if (m->head_unpatch) {
        if (unpatch_declare(&m->unpatch, &m->P, m->lookback, m->n_tokens, m->d_model, r->backbone.unpatch_channels,
                            r->backbone.unpatch_knots, m->horizon, err))
            return -1;
    } else if (linear_declare(&m->head, &m->P, "head/w", "head/b", m->n_tokens * m->d_model, m->horizon, err)) {
        return -1;
    }
    return params_alloc(&m->P, err);
}

int model_init(rp_model *m, unsigned long long seed, rp_error *err) {
    rp_rng rng;
    rng_seed(&rng, seed, 0x1417);
    for (int l = 0; l < m->n_levels; l++) {
        rp_level *lv = &m->levels[l];
        /* A changepoint-initialised policy starts from the changepoint scores (added in
         * level_logits), so its prior buffer stays zero. */
        if (lv->has_policy && lv->cfg.policy_init == POLICY_INIT_CHANGEPOINT) {
            policy_net_init(&lv->policy, &m->P, &rng);
        } else if (lv->has_policy) {
            policy_net_init(&lv->policy, &m->P, &rng);
            if (policy_net_set_prior(&lv->policy, &m->P, lv->cfg.rate, lv->cfg.prior_scale, err))
                return rp_fail_prefix(err, "levels[%d]", l);
        }
        if (!lv->needs_tokens) continue;
        if (lv->pooled) pooled_tokenizer_init(&lv->pooled_tok, &m->P, &rng);
        else tokenizer_init(&lv->raw_tok, &m->P, &rng);
        if (lv->time_position) time_position_init(&lv->time_pos, &m->P, &rng);
    }
    if (m->inputs_all) {
        /* Like the positional embedding: small uniform values. */
        float *e = m->P.value + m->level_emb;
        for (int i = 0; i < m->n_levels * m->d_model; i++) e[i] = (float)(0.04 * rng_uniform(&rng) - 0.02);
    }
    backbone_init(&m->backbone, &m->P, &rng);
    if (m->head_unpatch) unpatch_init(&m->unpatch, &m->P, &rng);
    else linear_init(&m->head, &m->P, &rng);
    return 0;
}

#define ALLOC(ptr, n)                                               \
    do {                                                            \
        (ptr) = rp_calloc((size_t)(n), sizeof *(ptr), err);         \
        if (!(ptr)) return -1;                                      \
    } while (0)

int model_buffers_alloc(rp_model_buffers *b, const rp_model *m, int max_windows, int max_group, rp_error *err) {
    memset(b, 0, sizeof *b);
    int L = m->lookback, H = m->horizon, d = m->d_model, T = m->n_tokens;
    int R = max_windows * max_group;
    b->max_windows = max_windows;
    b->max_rows = R;
    ALLOC(b->x_norm, (size_t)max_windows * L);
    ALLOC(b->x_rows, (size_t)R * L);
    ALLOC(b->mean, max_windows);
    ALLOC(b->std, max_windows);
    size_t work = 0;
    for (int l = 0; l < m->n_levels; l++) {
        const rp_level *lv = &m->levels[l];
        rp_level_buffers *lb = &b->lv[l];
        int K = lv->K, n = lv->n_units;
        lb->logit_rows = l == 0 ? max_windows : R;
        ALLOC(lb->starts, (size_t)R * K);
        ALLOC(lb->raw_starts, (size_t)R * K);
        ALLOC(lb->orders, (size_t)R * (K > 1 ? K - 1 : 1));
        if (lv->has_policy) {
            ALLOC(lb->features, (size_t)lb->logit_rows * n * lv->n_features);
            ALLOC(lb->logits, (size_t)lb->logit_rows * n);
            ALLOC(lb->dlogits, (size_t)lb->logit_rows * n);
            ALLOC(lb->policy_act, policy_net_act_floats(&lv->policy, lb->logit_rows));
        }
        if (lv->uses_changepoint) {
            ALLOC(lb->cp_values, (size_t)R * n);
            ALLOC(lb->cp_scores, (size_t)R * n);
        }
        if (lv->needs_tokens) {
            if (lv->pooled) ALLOC(lb->pooled_act, pooled_tokenizer_act_floats(&lv->pooled_tok, R));
            else ALLOC(lb->resampled, (size_t)R * K * lv->cfg.patch_len);
            ALLOC(lb->tokens, (size_t)R * K * d);
            ALLOC(lb->dtokens, (size_t)R * K * d);
            if (lv->time_position) ALLOC(lb->time_act, time_position_act_floats(&lv->time_pos, R));
        }
        size_t w = seg_workspace_bytes(&lv->spec);
        if (w > work) work = w;
    }
    if (m->inputs_all) {
        ALLOC(b->backbone_in, (size_t)R * T * d);
        ALLOC(b->dbackbone_in, (size_t)R * T * d);
    }
    ALLOC(b->encoded, (size_t)R * T * d);
    ALLOC(b->dencoded, (size_t)R * T * d);
    ALLOC(b->backbone_act, backbone_act_floats(&m->backbone, R));
    if (m->head_unpatch) {
        ALLOC(b->span_start, (size_t)R * T);
        ALLOC(b->span_end, (size_t)R * T);
        ALLOC(b->head_act, unpatch_act_floats(&m->unpatch, R));
    }
    ALLOC(b->forecast_norm, (size_t)R * H);
    ALLOC(b->forecast, (size_t)R * H);
    ALLOC(b->dforecast, (size_t)R * H);
    ALLOC(b->row_loss, R);
    b->work_bytes = (work + 63) & ~(size_t)63;
    b->work_threads = omp_get_max_threads();
    ALLOC(b->work, b->work_bytes * (size_t)b->work_threads);
    return 0;
}

void model_buffers_free(rp_model_buffers *b) {
    free(b->x_norm); free(b->x_rows); free(b->mean); free(b->std);
    for (int l = 0; l < RP_MAX_LEVELS; l++) {
        rp_level_buffers *lb = &b->lv[l];
        free(lb->starts); free(lb->raw_starts); free(lb->orders); free(lb->features); free(lb->logits);
        free(lb->dlogits); free(lb->policy_act); free(lb->resampled); free(lb->pooled_act); free(lb->tokens);
        free(lb->dtokens); free(lb->cp_values); free(lb->cp_scores);
        free(lb->time_act);
    }
    free(b->span_start); free(b->span_end); free(b->head_act);
    free(b->backbone_in); free(b->dbackbone_in); free(b->encoded); free(b->dencoded); free(b->backbone_act);
    free(b->forecast_norm); free(b->forecast); free(b->dforecast); free(b->row_loss); free(b->work);
    memset(b, 0, sizeof *b);
}

void model_free(rp_model *m) {
    for (int l = 0; l < m->n_levels; l++) {
        free(m->levels[l].random_table);
        time_position_free(&m->levels[l].time_pos);
    }
    params_free(&m->P);
}

void model_prepare(rp_model *m, rp_model_buffers *b, const float *x, int B, int G) {
    int L = m->lookback;
    revin_forward(b->x_norm, b->mean, b->std, x, B, L);
    for (int r = 0; r < B * G; r++)
        memcpy(b->x_rows + (size_t)r * L, b->x_norm + (size_t)(r / G) * L, (size_t)L * sizeof(float));
}

/* Runs level l's policy: level 0 once per window on the steps, level l > 0 once per row on the
 * statistics of that row's level-(l−1) patches. */
static void level_logits(rp_model *m, rp_model_buffers *b, int l, int B, int G) {
    const rp_level *lv = &m->levels[l];
    rp_level_buffers *lb = &b->lv[l];
    int L = m->lookback, n = lv->n_units, F = lv->n_features;
    int rows = l == 0 ? B : B * G;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < rows; i++) {
        float *feat = lb->features + (size_t)i * n * F;
        if (l == 0) policy_features_level1(b->x_norm + (size_t)i * L, L, feat, F);
        else policy_features_patches(b->x_rows + (size_t)i * L, L, b->lv[l - 1].raw_starts + (size_t)i * n, n, feat, F);
        if (lv->cfg.policy_position) policy_features_position(feat, n, F, F - 1);
    }
    policy_net_forward(&lv->policy, &m->P, lb->logits, lb->features, rows, lb->policy_act);
    if (lv->cfg.policy_init != POLICY_INIT_CHANGEPOINT) return;
    /* policy.init: changepoint: logits = net + prior_scale · changepoint score. The net's output
     * starts at zero, so at initialisation greedy decoding is exactly changepoint patching; the
     * scores are a fixed input of the logits, like the uniform prior, and take no gradient. */
    float scale = (float)lv->cfg.prior_scale;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < rows; i++) {
        float *v = lb->cp_values + (size_t)i * n, *sc = lb->cp_scores + (size_t)i * n;
        changepoint_unit_values(l == 0 ? b->x_norm + (size_t)i * L : b->x_rows + (size_t)i * L, L,
                                l == 0 ? NULL : b->lv[l - 1].raw_starts + (size_t)i * n, n, v);
        changepoint_scores(v, n, sc);
        float *lg = lb->logits + (size_t)i * (n - 1);
        for (int j = 0; j < n - 1; j++) lg[j] += scale * sc[j];
    }
}

void model_segment(rp_model *m, rp_model_buffers *b, int B, int G, rp_cut_phase phase, unsigned long long seed,
                   unsigned long long stream_base) {
    int R = B * G;
    /* Streams are per global row: a shard of a batch (core/dist.h) draws what one process would. */
    const unsigned long long row0 = (unsigned long long)dist_row0();
    for (int l = 0; l < m->n_levels; l++) {
        const rp_level *lv = &m->levels[l];
        rp_level_buffers *lb = &b->lv[l];
        int K = lv->K, n = lv->n_units;
        /* Warm-up (uniform spacing) is for policies still to be trained; a frozen policy is a
         * fixed patcher and decodes greedily in every phase. */
        int use_policy = lv->has_policy && (phase != CUT_WARMUP || !lv->cfg.trainable);
        if (use_policy && !(l == 0 && phase == CUT_EVAL_SAME_LOGITS)) level_logits(m, b, l, B, G);
        const int nt = omp_get_max_threads() < b->work_threads ? omp_get_max_threads() : b->work_threads;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int r = 0; r < R; r++) {
            int *starts = lb->starts + (size_t)r * K;
            void *work = b->work + b->work_bytes * (size_t)omp_get_thread_num();
            if (lv->cfg.patching == PATCHING_CHANGEPOINT) {
                changepoint_segment(&lv->spec, b->x_rows + (size_t)r * m->lookback, m->lookback,
                                    l == 0 ? NULL : b->lv[l - 1].raw_starts + (size_t)r * n,
                                    lb->cp_values + (size_t)r * n, lb->cp_scores + (size_t)r * n, starts, work);
            } else if (lv->cfg.patching == PATCHING_RANDOM) {
                rp_rng rng;
                rng_seed(&rng, seed, rp_mix_seed(rp_mix_seed(stream_base, (unsigned long long)l), row0 + (unsigned long long)r));
                seg_random(&lv->spec, lv->random_table, &rng, starts);
            } else if (!use_policy) {
                seg_uniform(n, lv->cfg.rate, starts);
            } else {
                const float *logits = lb->logits + (size_t)(l == 0 ? r / G : r) * (n - 1);
                /* A frozen policy (trainable: false) is used as a fixed patcher: greedy. */
                if (phase == CUT_EVAL || phase == CUT_EVAL_SAME_LOGITS || !lv->cfg.trainable) {
                    seg_greedy(&lv->spec, logits, starts, NULL, work);
                } else {
                    rp_rng rng;
                    rng_seed(&rng, seed,
                             rp_mix_seed(rp_mix_seed(stream_base, (unsigned long long)l), row0 + (unsigned long long)r));
                    seg_sample_order(&lv->spec, logits, &rng, starts, lb->orders + (size_t)r * (K - 1), work);
                }
            }
            int *raw = lb->raw_starts + (size_t)r * K;
            if (l == 0) memcpy(raw, starts, (size_t)K * sizeof(int));
            else seg_compose(K, starts, b->lv[l - 1].raw_starts + (size_t)r * n, raw);
        }
    }
}

int cuts_parse(const char *text, rp_cuts *cuts, rp_error *err) {
    memset(cuts, 0, sizeof *cuts);
    if (!strcmp(text, "greedy")) cuts->kind = CUTS_OWN;
    else if (!strcmp(text, "uniform")) cuts->kind = CUTS_UNIFORM;
    else if (!strcmp(text, "random")) cuts->kind = CUTS_RANDOM;
    else if (!strncmp(text, "jitter:", 7)) {
        const char *v = text + 7;
        char *end = NULL;
        long S = strtol(v, &end, 10);
        if (!*v || *end || *v == '+' || *v == '-' || S < 1 || S > 1000000)
            return rp_fail(err, "--cuts %s: S must be a positive integer, e.g. jitter:2", text);
        cuts->kind = CUTS_JITTER;
        cuts->jitter = (int)S;
    } else {
        return rp_fail(err, "--cuts %s: expected greedy, uniform, random or jitter:S", text);
    }
    return 0;
}

void cuts_format(rp_cuts cuts, char *buf, int size) {
    static const char *const names[] = {"greedy", "uniform", "random", "jitter"};
    if (cuts.kind == CUTS_JITTER) snprintf(buf, (size_t)size, "jitter:%d", cuts.jitter);
    else snprintf(buf, (size_t)size, "%s", names[cuts.kind]);
}

int model_check_cuts(const rp_model *m, rp_cuts cuts, rp_error *err) {
    if (cuts.kind != CUTS_JITTER) return 0;
    for (int l = 0; l < m->n_levels; l++)
        if (cuts.jitter >= m->levels[l].n_units)
            return rp_fail(err, "--cuts jitter:%d: S must be below level %d's %d units (at most %d)", cuts.jitter,
                           l + 1, m->levels[l].n_units, m->levels[l].n_units - 1);
    return 0;
}

void model_override_cuts(rp_model *m, rp_model_buffers *b, int R, rp_cuts cuts, unsigned level_mask,
                         const unsigned char *rows, unsigned long long seed, unsigned long long stream_base) {
    if (cuts.kind == CUTS_OWN) return;
    /* Streams are per global row, as in model_segment. */
    const unsigned long long row0 = (unsigned long long)dist_row0();
    for (int l = 0; l < m->n_levels; l++) {
        const rp_level *lv = &m->levels[l];
        rp_level_buffers *lb = &b->lv[l];
        int K = lv->K, n = lv->n_units, mine = (level_mask >> l) & 1u;
#pragma omp parallel for schedule(static)
        for (int r = 0; r < R; r++) {
            if (rows && !rows[r]) continue;
            int *starts = lb->starts + (size_t)r * K;
            if (mine) {
                rp_rng rng;
                rng_seed(&rng, seed, rp_mix_seed(rp_mix_seed(stream_base ^ 0xc075ull, (unsigned long long)l),
                                                 row0 + (unsigned long long)r));
                if (cuts.kind == CUTS_UNIFORM) seg_uniform(n, lv->cfg.rate, starts);
                else if (cuts.kind == CUTS_RANDOM) seg_random(&lv->spec, lv->random_table, &rng, starts);
                else seg_jitter(&lv->spec, lv->cfg.rate, cuts.jitter, &rng, starts);
            }
            int *raw = lb->raw_starts + (size_t)r * K;
            if (l == 0) memcpy(raw, starts, (size_t)K * sizeof(int));
            else seg_compose(K, starts, b->lv[l - 1].raw_starts + (size_t)r * n, raw);
        }
    }
}

/* The raw span [start, end) of every backbone token of the R rows (the unpatch head's input). */
static void token_spans(const rp_model *m, rp_model_buffers *b, int R) {
    int T = m->n_tokens, L = m->lookback, top = m->n_levels - 1;
    for (int l = 0; l < m->n_levels; l++) {
        const rp_level *lv = &m->levels[l];
        if (!m->inputs_all && l != top) continue;
        int K = lv->K;
        for (int r = 0; r < R; r++) {
            const int *raw = b->lv[l].raw_starts + (size_t)r * K;
            for (int k = 0; k < K; k++) {
                size_t i = (size_t)r * T + lv->token_offset + k;
                b->span_start[i] = raw[k];
                b->span_end[i] = k + 1 < K ? raw[k + 1] : L;
            }
        }
    }
}

void model_forward(rp_model *m, rp_model_buffers *b, const float *y, int B, int G, rp_pass pass,
                   unsigned long long dropout_seed) {
    int H = m->horizon, d = m->d_model, T = m->n_tokens;
    int R = B * G;
    for (int l = 0; l < m->n_levels; l++) {
        const rp_level *lv = &m->levels[l];
        rp_level_buffers *lb = &b->lv[l];
        if (!lv->needs_tokens) continue;
        if (lv->pooled)
            pooled_tokenizer_forward(&lv->pooled_tok, &m->P, lb->tokens, b->lv[l - 1].tokens, lb->starts, R,
                                     lb->pooled_act);
        else
            tokenizer_forward(&lv->raw_tok, &m->P, lb->tokens, lb->resampled, b->x_rows, lb->raw_starts, R);
        if (lv->time_position) time_position_forward(&lv->time_pos, &m->P, lb->tokens, lb->raw_starts, R, lb->time_act);
    }
    const float *backbone_in = b->lv[m->n_levels - 1].tokens;
    if (m->inputs_all) {
        /* Every level's tokens side by side, each plus its level's embedding. */
        const float *emb = m->P.value + m->level_emb;
        for (int r = 0; r < R; r++)
            for (int l = 0; l < m->n_levels; l++) {
                const rp_level *lv = &m->levels[l];
                const float *src = b->lv[l].tokens + (size_t)r * lv->K * d;
                float *dst = b->backbone_in + ((size_t)r * T + lv->token_offset) * d;
                for (int k = 0; k < lv->K; k++)
                    for (int j = 0; j < d; j++) dst[k * d + j] = src[k * d + j] + emb[l * d + j];
            }
        backbone_in = b->backbone_in;
    }
    backbone_forward(&m->backbone, &m->P, b->encoded, backbone_in, R, pass, dropout_seed, b->backbone_act);
    if (m->head_unpatch) {
        token_spans(m, b, R);
        unpatch_forward(&m->unpatch, &m->P, b->forecast_norm, b->encoded, b->span_start, b->span_end, R, b->head_act);
    } else {
        linear_forward(b->forecast_norm, b->encoded, m->P.value + m->head.weight, m->P.value + m->head.bias, R, T * d,
                       H);
    }
    revin_denorm_forward(b->forecast, b->forecast_norm, b->mean, b->std, R, G, H);
    if (y)
        for (int r = 0; r < R; r++)
            b->row_loss[r] = mse_forward(b->forecast + (size_t)r * H, y + (size_t)(r / G) * H, (size_t)H);
}

void model_backward(rp_model *m, rp_model_buffers *b, int B, int G) {
    int H = m->horizon, d = m->d_model, T = m->n_tokens;
    int R = B * G;
    /* RevIN⁻¹ is y = z·std + mean with statistics of the input alone: dz = dy·std. */
    float *dforecast_norm = b->forecast_norm; /* the forward value is no longer needed: reuse it */
    memset(dforecast_norm, 0, (size_t)R * H * sizeof(float));
    revin_denorm_backward(dforecast_norm, b->dforecast, b->std, R, G, H);
    memset(b->dencoded, 0, (size_t)R * T * d * sizeof(float));
    if (m->head_unpatch)
        unpatch_backward(&m->unpatch, &m->P, b->dencoded, dforecast_norm, b->encoded, b->span_start, b->span_end, R,
                         b->head_act);
    else
        linear_backward(b->dencoded, m->P.grad + m->head.weight, m->P.grad + m->head.bias, dforecast_norm, b->encoded,
                        m->P.value + m->head.weight, R, T * d, H);
    for (int l = 0; l < m->n_levels; l++)
        if (m->levels[l].needs_tokens) memset(b->lv[l].dtokens, 0, (size_t)R * m->levels[l].K * d * sizeof(float));
    int top = m->n_levels - 1;
    float *dbackbone_in = m->inputs_all ? b->dbackbone_in : b->lv[top].dtokens;
    if (m->inputs_all) memset(dbackbone_in, 0, (size_t)R * T * d * sizeof(float));
    backbone_backward(&m->backbone, &m->P, dbackbone_in, b->dencoded, R, b->backbone_act);
    if (m->inputs_all) {
        float *demb = m->P.grad + m->level_emb;
        for (int r = 0; r < R; r++)
            for (int l = 0; l < m->n_levels; l++) {
                const rp_level *lv = &m->levels[l];
                const float *src = b->dbackbone_in + ((size_t)r * T + lv->token_offset) * d;
                float *dst = b->lv[l].dtokens + (size_t)r * lv->K * d;
                for (int k = 0; k < lv->K; k++)
                    for (int j = 0; j < d; j++) {
                        dst[k * d + j] += src[k * d + j];
                        demb[l * d + j] += src[k * d + j];
                    }
            }
    }
    /* Top-down: a pooled level passes its token gradient to the level below before that level's
     * tokenizer runs its own backward. */
    for (int l = top; l >= 0; l--) {
        const rp_level *lv = &m->levels[l];
        rp_level_buffers *lb = &b->lv[l];
        if (!lv->needs_tokens) continue;
        if (lv->time_position) time_position_backward(&lv->time_pos, &m->P, lb->dtokens, R, lb->time_act);
        if (lv->pooled)
            pooled_tokenizer_backward(&lv->pooled_tok, &m->P, b->lv[l - 1].dtokens, lb->dtokens, lb->starts, R,
                                      lb->pooled_act);
        else
            tokenizer_backward(&lv->raw_tok, &m->P, lb->dtokens, lb->resampled, lb->raw_starts, R);
    }
}

double model_flops(const rp_model *m, int rows) {
    double d = m->d_model, H = m->horizon, T = m->n_tokens;
    double tokens = 0;
    for (int l = 0; l < m->n_levels; l++) {
        const rp_level *lv = &m->levels[l];
        if (!lv->needs_tokens) continue;
        tokens += 2.0 * lv->K * d * (lv->pooled ? d : lv->cfg.patch_len);
    }
    double head = m->head_unpatch ? unpatch_flops(&m->unpatch, rows) : 2.0 * T * d * H * rows;
    return tokens * rows + backbone_flops(&m->backbone, rows) + head;
}

double model_policy_flops(const rp_model *m, int B, int G) {
    double f = 0.0;
    for (int l = 0; l < m->n_levels; l++) {
        const rp_level *lv = &m->levels[l];
        if (!lv->has_policy || !lv->cfg.trainable) continue;
        int rows = l == 0 ? B : B * G;
        f += policy_net_flops(&lv->policy, rows, 0) + policy_net_flops(&lv->policy, rows, 1);
    }
    return f;
}
