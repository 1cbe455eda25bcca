#include "levels/time_position.h"

#include <math.h>
#include <stdio.h>

#include "core/blas.h"

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
    return tp->w == (size_t)-1 ? -1 : 0;
}

void time_position_init(const rp_time_position *tp, rp_params *P, rp_rng *rng) {
    double bound = 1.0 / sqrt((double)RP_TIME_FEATURES);
    float *w = P->value + tp->w;
    for (int i = 0; i < tp->d_model * RP_TIME_FEATURES; i++) w[i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
}

void time_position_features(float *phi, int a, int e, int L) {
    const double two_pi = 6.283185307179586;
    for (int j = 0; j < RP_TIME_FREQS; j++) {
        double omega = two_pi * (double)(1 << j) / (2.0 * L);
        phi[4 * j + 0] = (float)sin(omega * a);
        phi[4 * j + 1] = (float)cos(omega * a);
        phi[4 * j + 2] = (float)sin(omega * e);
        phi[4 * j + 3] = (float)cos(omega * e);
    }
    phi[4 * RP_TIME_FREQS] = (float)(log((double)(e - a)) / log((double)L));
}

size_t time_position_act_floats(const rp_time_position *tp, int B) {
    return (size_t)B * tp->K * RP_TIME_FEATURES;
}

void time_position_forward(const rp_time_position *tp, const rp_params *P, float *tokens, const int *raw_starts,
                           int B, float *act) {
    int K = tp->K, L = tp->L, F = RP_TIME_FEATURES;
    for (int r = 0; r < B; r++) {
        const int *st = raw_starts + (size_t)r * K;
        for (int k = 0; k < K; k++) time_position_features(act + ((size_t)r * K + k) * F, st[k], k + 1 < K ? st[k + 1] : L, L);
    }
    rp_matmul(tokens, act, P->value + tp->w, B * K, tp->d_model, F, 0, 1, 1.0f, 1.0f); // (B*K, d)
}

void time_position_backward(const rp_time_position *tp, rp_params *P, const float *dtokens, int B,
                            const float *act) {
    rp_matmul(P->grad + tp->w, dtokens, act, tp->d_model, RP_TIME_FEATURES, B * tp->K, 1, 0, 1.0f, 1.0f); // (d, F)
}
