/* GRPG: group-relative advantages and the policy-loss gradient with respect to the logits. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "levels/sampler.h"
#include "levels/grpg.h"

Test(grpg, advantages_zero_mean_unit_std_per_group) {
    enum { G = 5, W = 4 };
    float rewards[W * G], adv[W * G];
    rp_rng r;
    rng_seed(&r, 1, 0);
    for (int i = 0; i < W * G; i++) rewards[i] = (float)(rng_normal(&r) * (1 + i / G) - 3 * (i / G));
    grpg_advantages(rewards, G, W, 1e-8f, adv);
    for (int w = 0; w < W; w++) {
        double m = 0, v = 0;
        for (int g = 0; g < G; g++) m += adv[w * G + g];
        m /= G;
        for (int g = 0; g < G; g++) v += (adv[w * G + g] - m) * (adv[w * G + g] - m);
        cr_assert_float_eq(m, 0.0, 1e-6);
        cr_assert_float_eq(sqrt(v / G), 1.0, 1e-5); /* population std */
        /* Order is kept: a better reward gets a larger advantage. */
        for (int g = 1; g < G; g++)
            cr_assert((rewards[w * G + g] > rewards[w * G]) == (adv[w * G + g] > adv[w * G]));
    }
}

Test(grpg, equal_rewards_give_zero_advantage_and_gradient) {
    enum { G = 4, W = 3, n = 30, K = 5 };
    float rewards[W * G], adv[W * G];
    for (int i = 0; i < W * G; i++) rewards[i] = 0.1f * (float)(i / G) + 0.3f; /* equal within group */
    rewards[G] = rewards[G + 1] = rewards[G + 2] = rewards[G + 3] = 1e30f;
    grpg_advantages(rewards, G, W, 0.0f, adv); /* eps = 0 must not divide by zero either */
    for (int i = 0; i < W * G; i++) cr_assert(adv[i] == 0.0f, "adv[%d] = %g", i, adv[i]);
    float one[1] = {2.0f}, a1[1];
    grpg_advantages(one, 1, 1, 1e-6f, a1);
    cr_assert(a1[0] == 0.0f);

    rp_seg_spec spec;
    cr_assert_eq(seg_spec_init(&spec, n, K, 0, 0, NULL), 0);
    void *work = malloc(seg_workspace_bytes(&spec));
    float logits[W * (n - 1)], dlogits[W * (n - 1)];
    int orders[W * G * (K - 1)], starts[K];
    rp_rng r;
    rng_seed(&r, 2, 0);
    for (int i = 0; i < W * (n - 1); i++) logits[i] = (float)rng_normal(&r);
    for (int i = 0; i < W * G; i++)
        seg_sample(&spec, logits + (i / G) * (n - 1), &r, starts, orders + i * (K - 1), work);
    memset(dlogits, 0, sizeof dlogits);
    double loss = grpg_policy_dlogits(&spec, logits, 0, orders, adv, G, W, 0.0f, dlogits, work);
    cr_assert(loss == 0.0);
    for (int i = 0; i < W * (n - 1); i++) cr_assert(dlogits[i] == 0.0f);
    free(work);
}

/* d(loss)/d(logits) against central differences of the returned loss, for shared (level 1) and
 * per-rollout (levels > 1) logits, with an entropy bonus, with and without length bounds. */
static void check_policy_gradient(int n, int K, int mn, int mx, int per_rollout, float beta) {
    enum { G = 3, W = 2 };
    rp_seg_spec spec;
    rp_error err;
    cr_assert_eq(seg_spec_init(&spec, n, K, mn, mx, &err), 0, "%s", err.msg);
    void *work = malloc(seg_workspace_bytes(&spec));
    int rows = per_rollout ? W * G : W;
    float *logits = malloc(sizeof(float) * rows * (n - 1)), *d = calloc((size_t)rows * (n - 1), sizeof(float));
    float *scratch = calloc((size_t)rows * (n - 1), sizeof(float));
    int *orders = malloc(sizeof(int) * W * G * (K - 1)), starts[64];
    float rewards[W * G], adv[W * G];
    rp_rng r;
    rng_seed(&r, (uint64_t)n, (uint64_t)per_rollout);
    for (int i = 0; i < rows * (n - 1); i++) logits[i] = (float)rng_normal(&r);
    for (int i = 0; i < W * G; i++) {
        const float *s = logits + (per_rollout ? i : i / G) * (n - 1);
        seg_sample(&spec, s, &r, starts, orders + i * (K - 1), work);
        rewards[i] = (float)rng_normal(&r);
    }
    grpg_advantages(rewards, G, W, 1e-6f, adv);
    grpg_policy_dlogits(&spec, logits, per_rollout, orders, adv, G, W, beta, d, work);
    for (int i = 0; i < rows * (n - 1); i++) {
        float keep = logits[i];
        logits[i] = keep + 1e-3f;
        float up = logits[i];
        double fp = grpg_policy_dlogits(&spec, logits, per_rollout, orders, adv, G, W, beta, scratch, work);
        logits[i] = keep - 1e-3f;
        float dn = logits[i];
        double fm = grpg_policy_dlogits(&spec, logits, per_rollout, orders, adv, G, W, beta, scratch, work);
        logits[i] = keep;
        double fd = (fp - fm) / ((double)up - (double)dn);
        cr_assert(fabs(fd - d[i]) < 2e-5, "n=%d K=%d per_rollout=%d beta=%g logit %d: analytic %.7f numeric %.7f", n,
                  K, per_rollout, beta, i, d[i], fd);
    }
    free(logits); free(d); free(scratch); free(orders); free(work);
}

Test(grpg, policy_gradient_matches_finite_differences) {
    check_policy_gradient(20, 5, 0, 0, 0, 0.0f);
    check_policy_gradient(20, 5, 0, 0, 1, 0.05f);
    check_policy_gradient(24, 6, 2, 6, 0, 0.1f);
    check_policy_gradient(24, 6, 2, 6, 1, 0.0f);
}

Test(grpg, mean_entropy) {
    float flat[2 * 7] = {0};
    cr_assert_float_eq(grpg_mean_entropy(flat, 2, 7), log(7.0), 1e-12);
    float peaked[3] = {100.0f, 0.0f, 0.0f};
    cr_assert_lt(grpg_mean_entropy(peaked, 1, 3), 1e-30);
}

/* The anchor's gradient is the derivative of the penalty it returns (central differences in
 * float64 of the returned value), it accumulates into dlogits, and it vanishes at the prior. */
Test(grpg, anchor_gradient_matches_finite_differences) {
    enum { ROWS = 3, GAPS = 7 };
    rp_rng rng;
    rng_seed(&rng, 11, 0);
    float logits[ROWS * GAPS], prior[GAPS], dl[ROWS * GAPS];
    for (int j = 0; j < GAPS; j++) prior[j] = -2.0f * (float)(j % 4);
    for (int i = 0; i < ROWS * GAPS; i++) logits[i] = prior[i % GAPS] + (float)(rng_uniform(&rng) * 2.0 - 1.0);
    for (int i = 0; i < ROWS * GAPS; i++) dl[i] = 0.25f;  /* accumulates on top of what is there */
    const float beta = 0.7f;
    grpg_anchor_dlogits(logits, prior, ROWS, GAPS, beta, dl);
    float scratch[ROWS * GAPS];
    for (int i = 0; i < ROWS * GAPS; i++) {
        const float h = 1e-2f, keep = logits[i];
        logits[i] = keep + h;
        double up = grpg_anchor_dlogits(logits, prior, ROWS, GAPS, beta, scratch);
        logits[i] = keep - h;
        double down = grpg_anchor_dlogits(logits, prior, ROWS, GAPS, beta, scratch);
        logits[i] = keep;
        double fd = (up - down) / (2.0 * h);  /* exact for a quadratic, up to float rounding */
        cr_assert_float_eq(dl[i] - 0.25f, fd, 1e-4, "logit %d: analytic %g, finite difference %g", i, dl[i] - 0.25f, fd);
    }
    float at_prior[ROWS * GAPS], zero[ROWS * GAPS] = {0};
    for (int i = 0; i < ROWS * GAPS; i++) at_prior[i] = prior[i % GAPS];
    cr_assert_float_eq(grpg_anchor_dlogits(at_prior, prior, ROWS, GAPS, beta, zero), 0.0, 1e-12);
    for (int i = 0; i < ROWS * GAPS; i++) cr_assert_eq(zero[i], 0.0f);
}
