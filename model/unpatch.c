#include "model/unpatch.h"

#include <math.h>
#include <string.h>

int unpatch_declare(rp_unpatch_head *h, rp_params *P, int L, int T, int d_model, int channels, int knots,
                    int horizon, rp_error *err) {
    if (L < 1 || T < 1 || d_model < 1 || channels < 1 || knots < 1 || horizon < 1)
        return rp_fail(err, "unpatch head: L=%d, T=%d, d_model=%d, channels=%d, knots=%d, horizon=%d: all must be >= 1",
                       L, T, d_model, channels, knots, horizon);
    *h = (rp_unpatch_head){.L = L, .T = T, .d_model = d_model, .channels = channels, .knots = knots,
                           .horizon = horizon};
    if (linear_declare(&h->token_map, P, "head/token/w", "head/token/b", d_model, knots * channels, err)) return -1;
    return linear_declare(&h->time_map, P, "head/w", "head/b", L * channels, horizon, err);
}

void unpatch_init(const rp_unpatch_head *h, rp_params *P, rp_rng *rng) {
    linear_init(&h->token_map, P, rng);
    linear_init(&h->time_map, P, rng);
}

/* act: z (R, T, Q·C) | s (R, L, C) | 1/count (R, L) | dz (R, T, Q·C) | ds (R, L, C) */
size_t unpatch_act_floats(const rp_unpatch_head *h, int R) {
    size_t z = (size_t)R * h->T * h->knots * h->channels, s = (size_t)R * h->L * h->channels;
    return 2 * z + 2 * s + (size_t)R * h->L;
}

/* Where step t of the span [a, a + len) reads the knots: q0, q1 = q0 + 1 (or q0 at the last knot)
 * with weights 1 − f and f. Double precision keeps u exact when len == Q (one knot per step). */
static inline void knot_weights(int t, int a, int len, int Q, int *q0, int *q1, float *f) {
    double u = ((double)(t - a) + 0.5) * Q / len - 0.5;
    if (u < 0) u = 0;
    if (u > Q - 1) u = Q - 1;
    int i = (int)floor(u);
    if (i > Q - 2) i = Q > 1 ? Q - 2 : 0;
    *q0 = i;
    *q1 = Q > 1 ? i + 1 : 0;
    *f = Q > 1 ? (float)(u - i) : 0.0f;
}

void unpatch_forward(const rp_unpatch_head *h, const rp_params *P, float *out, const float *encoded,
                     const int *span_start, const int *span_end, int R, float *act) {
    int T = h->T, L = h->L, C = h->channels, Q = h->knots, QC = Q * C;
    float *z = act, *s = z + (size_t)R * T * QC, *inv = s + (size_t)R * L * C;
    linear_forward(z, encoded, P->value + h->token_map.weight, P->value + h->token_map.bias, R * T, h->d_model, QC);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        float *sr = s + (size_t)r * L * C, *ir = inv + (size_t)r * L;
        memset(sr, 0, (size_t)L * C * sizeof(float));
        memset(ir, 0, (size_t)L * sizeof(float));
        for (int k = 0; k < T; k++) {
            int a = span_start[(size_t)r * T + k], e = span_end[(size_t)r * T + k];
            const float *zk = z + ((size_t)r * T + k) * QC;
            for (int t = a; t < e; t++) {
                int q0, q1;
                float f;
                knot_weights(t, a, e - a, Q, &q0, &q1, &f);
                for (int c = 0; c < C; c++) sr[t * C + c] += (1.0f - f) * zk[q0 * C + c] + f * zk[q1 * C + c];
                ir[t] += 1.0f;
            }
        }
        /* A step no token covers keeps 0; covered steps average their tokens. */
        for (int t = 0; t < L; t++) {
            ir[t] = ir[t] > 0 ? 1.0f / ir[t] : 0.0f;
            if (ir[t] != 1.0f)
                for (int c = 0; c < C; c++) sr[t * C + c] *= ir[t];
        }
    }
    linear_forward(out, s, P->value + h->time_map.weight, P->value + h->time_map.bias, R, L * C, h->horizon);
}

void unpatch_backward(const rp_unpatch_head *h, rp_params *P, float *dencoded, const float *dout,
                      const float *encoded, const int *span_start, const int *span_end, int R, float *act) {
    int T = h->T, L = h->L, C = h->channels, Q = h->knots, QC = Q * C;
    float *z = act, *s = z + (size_t)R * T * QC, *inv = s + (size_t)R * L * C;
    float *dz = inv + (size_t)R * L, *ds = dz + (size_t)R * T * QC;
    memset(ds, 0, (size_t)R * L * C * sizeof(float));
    linear_backward(ds, P->grad + h->time_map.weight, P->grad + h->time_map.bias, dout, s,
                    P->value + h->time_map.weight, R, L * C, h->horizon);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        const float *dsr = ds + (size_t)r * L * C, *ir = inv + (size_t)r * L;
        for (int k = 0; k < T; k++) {
            int a = span_start[(size_t)r * T + k], e = span_end[(size_t)r * T + k];
            float *dzk = dz + ((size_t)r * T + k) * QC;
            memset(dzk, 0, (size_t)QC * sizeof(float));
            for (int t = a; t < e; t++) {
                int q0, q1;
                float f;
                knot_weights(t, a, e - a, Q, &q0, &q1, &f);
                for (int c = 0; c < C; c++) {
                    float g = dsr[t * C + c] * ir[t];
                    dzk[q0 * C + c] += (1.0f - f) * g;
                    dzk[q1 * C + c] += f * g;
                }
            }
        }
    }
    linear_backward(dencoded, P->grad + h->token_map.weight, P->grad + h->token_map.bias, dz, encoded,
                    P->value + h->token_map.weight, R * T, h->d_model, QC);
}

double unpatch_flops(const rp_unpatch_head *h, int R) {
    double QC = (double)h->knots * h->channels;
    return 2.0 * R * ((double)h->T * h->d_model * QC + (double)h->L * h->channels * h->horizon);
}
