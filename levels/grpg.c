#include "levels/grpg.h"

#include <math.h>
#include <stddef.h>

#include "core/mathd.h"

/* The sum of a group's G rewards; 1 when they are all equal (then the group gets exact zeros,
 * whatever rounding its mean has: equal rewards carry no preference), else 0. */
static int group_sum(const float *r, int G, double *sum) {
    float lo = r[0], hi = r[0];
    *sum = 0.0;
    for (int g = 0; g < G; g++) {
        *sum += r[g];
        if (r[g] < lo) lo = r[g];
        if (r[g] > hi) hi = r[g];
    }
    return lo == hi;
}

void grpg_advantages(const float *rewards, int G, int n_groups, float eps, float *adv) {
    for (int w = 0; w < n_groups; w++) {
        const float *r = rewards + (size_t)w * G;
        float *a = adv + (size_t)w * G;
        double sum;
        if (group_sum(r, G, &sum)) {
            for (int g = 0; g < G; g++) a[g] = 0.0f;
            continue;
        }
        double mean = sum / G, var = 0.0;
        for (int g = 0; g < G; g++) var += ((double)r[g] - mean) * ((double)r[g] - mean);
        double scale = 1.0 / (sqrt(var / G) + (double)eps);
        for (int g = 0; g < G; g++) a[g] = (float)(((double)r[g] - mean) * scale);
    }
}

void grpg_advantages_for(rp_advantage mode, const float *rewards, const float *greedy, int G, int n_groups,
                         float eps, float *adv) {
    if (mode == ADVANTAGE_GROUP_STD) {
        grpg_advantages(rewards, G, n_groups, eps, adv);
        return;
    }
    for (int w = 0; w < n_groups; w++) {
        const float *r = rewards + (size_t)w * G;
        float *a = adv + (size_t)w * G;
        if (mode == ADVANTAGE_GREEDY_BASELINE) {
            for (int g = 0; g < G; g++) a[g] = (float)((double)r[g] - (double)greedy[w]);
            continue;
        }
        double sum;
        if (group_sum(r, G, &sum)) {
            for (int g = 0; g < G; g++) a[g] = 0.0f;
            continue;
        }
        for (int g = 0; g < G; g++) {
            /* leave_one_out: the baseline is the mean of the other G−1 rewards (G >= 2 here:
             * a group of one has lo == hi). */
            double baseline = mode == ADVANTAGE_LEAVE_ONE_OUT ? (sum - r[g]) / (G - 1) : sum / G;
            a[g] = (float)((double)r[g] - baseline);
        }
    }
}

void grpg_decision_advantages(const int *starts, int n, int K, const float *adv, int G, int n_groups, float *d,
                              int *count) {
    int gaps = n - 1;
    for (int w = 0; w < n_groups; w++) {
        float *dw = d + (size_t)w * gaps;
        for (int j = 0; j < gaps; j++) {
            dw[j] = 0.0f;
            count[j] = 0;
        }
        /* Gap j is cut when a segment starts at j + 1. */
        for (int g = 0; g < G; g++) {
            const int *st = starts + ((size_t)w * G + g) * K;
            for (int k = 1; k < K; k++) {
                dw[st[k] - 1] += adv[(size_t)w * G + g];
                count[st[k] - 1]++;
            }
        }
        for (int j = 0; j < gaps; j++)
            if (count[j] == 0 || count[j] == G) dw[j] = NAN;
    }
}

double grpg_sign_agreement(const float *da, const float *db, size_t count, long long *pairs) {
    long long both = 0, same = 0;
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(da[i]) || !isfinite(db[i]) || da[i] == 0.0f || db[i] == 0.0f) continue;
        both++;
        same += (da[i] > 0.0f) == (db[i] > 0.0f);
    }
    *pairs = both;
    return both ? (double)same / both : NAN;
}

void grpg_policy_dlogits(const rp_seg_spec *spec, const float *logits, int logits_per_rollout,
                         const int *orders, const float *adv, int G, int n_groups, float beta,
                         float *dlogits, void *work) {
    int gaps = spec->n - 1, K = spec->K;
    double inv_n = 1.0 / ((double)n_groups * G);
    for (int w = 0; w < n_groups; w++)
        for (int g = 0; g < G; g++) {
            size_t rollout = (size_t)w * G + g;
            size_t row = logits_per_rollout ? rollout : (size_t)w;
            const float *s = logits + row * gaps;
            float *ds = dlogits + row * gaps;
            const int *order = orders + rollout * (size_t)(K - 1);
            float a = adv[rollout];
            if (a != 0.0f) seg_log_prob_backward(spec, s, order, (float)(-inv_n * a), ds, work);
            if (beta != 0.0f) seg_entropy_backward(spec, s, order, (float)(-inv_n * beta), ds, work);
        }
}

double grpg_policy_loss(const rp_seg_spec *spec, const float *logits, int logits_per_rollout,
                        const int *orders, const float *adv, int G, int n_groups, float beta, void *work) {
    int gaps = spec->n - 1, K = spec->K;
    double inv_n = 1.0 / ((double)n_groups * G), loss = 0.0;
    for (int w = 0; w < n_groups; w++)
        for (int g = 0; g < G; g++) {
            size_t rollout = (size_t)w * G + g;
            size_t row = logits_per_rollout ? rollout : (size_t)w;
            const float *s = logits + row * gaps;
            const int *order = orders + rollout * (size_t)(K - 1);
            float a = adv[rollout];
            if (a != 0.0f) loss -= inv_n * a * seg_log_prob(spec, s, order, work);
            if (beta != 0.0f) loss -= inv_n * beta * seg_entropy(spec, s, order, work);
        }
    return loss;
}

double grpg_mean_entropy(const float *logits, int n_rows, int n_gaps) {
    if (n_rows <= 0 || n_gaps <= 0) return 0.0;
    double total = 0.0;
    for (int r = 0; r < n_rows; r++) {
        const float *s = logits + (size_t)r * n_gaps;
        double m = s[0], sum = 0.0, h = 0.0;
        for (int j = 1; j < n_gaps; j++)
            if (s[j] > m) m = s[j];
        /* in chunks: the exponentials in a loop that vectorises (core/mathd.h), the sums in order */
        double e[256];
        for (int j0 = 0; j0 < n_gaps; j0 += 256) {
            int c = n_gaps - j0 < 256 ? n_gaps - j0 : 256;
            for (int j = 0; j < c; j++) e[j] = rp_exp((double)s[j0 + j] - m);
            for (int j = 0; j < c; j++) sum += e[j];
        }
        double logz = m + log(sum);
        for (int j0 = 0; j0 < n_gaps; j0 += 256) {
            int c = n_gaps - j0 < 256 ? n_gaps - j0 : 256;
            for (int j = 0; j < c; j++) e[j] = rp_exp((double)s[j0 + j] - logz);
            for (int j = 0; j < c; j++) h -= e[j] * ((double)s[j0 + j] - logz);
        }
        total += h;
    }
    return total / n_rows;
}

double grpg_anchor_dlogits(const float *logits, const float *prior, int n_rows, int n_gaps, float beta,
                           float *dlogits) {
    if (beta == 0.0f || n_rows <= 0) return 0.0;
    double penalty = 0.0;
    const float scale = beta / (float)n_rows;
    for (int row = 0; row < n_rows; row++) {
        const float *s = logits + (size_t)row * n_gaps;
        float *ds = dlogits + (size_t)row * n_gaps;
        for (int j = 0; j < n_gaps; j++) {
            float dev = s[j] - prior[j];
            penalty += (double)dev * dev;
            ds[j] += scale * dev;
        }
    }
    return 0.5 * beta * penalty / n_rows;
}
