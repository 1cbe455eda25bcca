#include "levels/time_position.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/blas.h"

/* sin and cos of every frequency's phase at step p: out[2j], out[2j + 1]. */
static void step_phases(float *out, int p, int L) {
    const double two_pi = 6.283185307179586;
    for (int j = 0; j < RP_TIME_FREQS; j++) {
        double omega = two_pi * (double)(1 << j) / (2.0 * L);
        out[2 * j + 0] = (float)sin(omega * p);
        out[2 * j + 1] = (float)cos(omega * p);
    }
}

static float log_length(int len, int L) { return (float)(log((double)len) / log((double)L)); }

/* phi from the phases of the span's two ends. */
static void features_from_phases(float *phi, const float *start, const float *end, float log_len) {
    for (int j = 0; j < RP_TIME_FREQS; j++) {
        phi[4 * j + 0] = start[2 * j];
        phi[4 * j + 1] = start[2 * j + 1];
        phi[4 * j + 2] = end[2 * j];
        phi[4 * j + 3] = end[2 * j + 1];
    }
    phi[4 * RP_TIME_FREQS] = log_len;
}

int time_position_declare(rp_time_position *tp, rp_params *P, const char *prefix, int L, int K, int d_model,
                          rp_error *err) {
    if (L < 2 || K < 1 || d_model < 1)
        return rp_fail(err, "%s: L=%d, K=%d, d_model=%d: need L >= 2, K >= 1, d_model >= 1", prefix, L, K, d_model);
    tp->L = L;
    tp->K = K;
    tp->d_model = d_model;
    char name[RP_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s/time/w", prefix);
    tp->w = params_declare2(P, name, d_model, RP_TIME_FEATURES, err);
    if (tp->w == (size_t)-1) return -1;
    const int P2 = 2 * RP_TIME_FREQS;
    tp->steps = rp_malloc(sizeof(float) * (size_t)(L + 1) * (P2 + 1), err);
    if (!tp->steps) return -1;
    float *log_len = tp->steps + (size_t)(L + 1) * P2;
    for (int p = 0; p <= L; p++) step_phases(tp->steps + (size_t)p * P2, p, L);
    for (int len = 0; len <= L; len++) log_len[len] = log_length(len, L);
    return 0;
}

void time_position_free(rp_time_position *tp) {
    free(tp->steps);
    tp->steps = NULL;
}

void time_position_init(const rp_time_position *tp, rp_params *P, rp_rng *rng) {
    double bound = 1.0 / sqrt((double)RP_TIME_FEATURES);
    float *w = P->value + tp->w;
    for (int i = 0; i < tp->d_model * RP_TIME_FEATURES; i++) w[i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
}

void time_position_features(float *phi, int a, int e, int L) {
    float start[2 * RP_TIME_FREQS], end[2 * RP_TIME_FREQS];
    step_phases(start, a, L);
    step_phases(end, e, L);
    features_from_phases(phi, start, end, log_length(e - a, L));
}

size_t time_position_act_floats(const rp_time_position *tp, int B) {
    return (size_t)B * tp->K * RP_TIME_FEATURES;
}

void time_position_forward(const rp_time_position *tp, const rp_params *P, float *tokens, const int *raw_starts,
                           int B, float *act) {
    int K = tp->K, L = tp->L, F = RP_TIME_FEATURES, P2 = 2 * RP_TIME_FREQS;
    /* From the step table: the very floats time_position_features computes for the span's ends. */
    const float *log_len = tp->steps + (size_t)(L + 1) * P2;
    for (int r = 0; r < B; r++) {
        const int *st = raw_starts + (size_t)r * K;
        for (int k = 0; k < K; k++) {
            int a = st[k], e = k + 1 < K ? st[k + 1] : L;
            features_from_phases(act + ((size_t)r * K + k) * F, tp->steps + (size_t)a * P2, tp->steps + (size_t)e * P2,
                                 log_len[e - a]);
        }
    }
    rp_matmul(tokens, act, P->value + tp->w, B * K, tp->d_model, F, 0, 1, 1.0f, 1.0f); // (B*K, d)
}

void time_position_backward(const rp_time_position *tp, rp_params *P, const float *dtokens, int B,
                            const float *act) {
    rp_matmul(P->grad + tp->w, dtokens, act, tp->d_model, RP_TIME_FEATURES, B * tp->K, 1, 0, 1.0f, 1.0f); // (d, F)
}
