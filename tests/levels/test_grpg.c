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
    grpg_policy_dlogits(&spec, logits, 0, orders, adv, G, W, 0.0f, dlogits, work);
    cr_assert(grpg_policy_loss(&spec, logits, 0, orders, adv, G, W, 0.0f, work) == 0.0);
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
        double fp = grpg_policy_loss(&spec, logits, per_rollout, orders, adv, G, W, beta, work);
        logits[i] = keep - 1e-3f;
        float dn = logits[i];
        double fm = grpg_policy_loss(&spec, logits, per_rollout, orders, adv, G, W, beta, work);
        logits[i] = keep;
        double fd = (fp - fm) / ((double)up - (double)dn);
        cr_assert(fabs(fd - d[i]) < 2e-5, "n=%d K=%d per_rollout=%d beta=%g logit %d: analytic %.7f numeric %.7f", n,
                  K, per_rollout, beta, i, d[i], fd);
    }
    free(logits); free(d); free(orders); free(work);
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

/* ---- train.advantage modes against hand computations ----------------------------------------- */

/* One window, G = 4, rewards −MSE {−0.50, −0.30, −0.40, −0.20}: mean −0.35, population std
 * sqrt((0.0225 + 0.0025 + 0.0025 + 0.0225) / 4) = sqrt(0.0125) = 0.111803. */
static const float hand_rewards[4] = {-0.50f, -0.30f, -0.40f, -0.20f};

Test(grpg_advantage, group_std_by_hand_and_equal_to_grpg_advantages) {
    float adv[4], ref[4];
    grpg_advantages_for(ADVANTAGE_GROUP_STD, hand_rewards, NULL, 4, 1, 1e-6f, adv);
    const double expect[4] = {-0.15 / 0.1118034, 0.05 / 0.1118034, -0.05 / 0.1118034, 0.15 / 0.1118034};
    for (int g = 0; g < 4; g++) cr_assert_float_eq(adv[g], expect[g], 1e-4, "g=%d: %g", g, adv[g]);
    /* The default must stay today's function, bit for bit. */
    grpg_advantages(hand_rewards, 4, 1, 1e-6f, ref);
    cr_assert(memcmp(adv, ref, sizeof adv) == 0);
}

Test(grpg_advantage, group_mean_by_hand) {
    float adv[4];
    grpg_advantages_for(ADVANTAGE_GROUP_MEAN, hand_rewards, NULL, 4, 1, 1e-6f, adv);
    const double expect[4] = {-0.15, 0.05, -0.05, 0.15};
    for (int g = 0; g < 4; g++) cr_assert_float_eq(adv[g], expect[g], 1e-6, "g=%d: %g", g, adv[g]);
}

Test(grpg_advantage, leave_one_out_by_hand) {
    float adv[4];
    grpg_advantages_for(ADVANTAGE_LEAVE_ONE_OUT, hand_rewards, NULL, 4, 1, 1e-6f, adv);
    /* r0 − mean(r1, r2, r3) = −0.50 − (−0.30) = −0.20; r1 − mean(−0.50, −0.40, −0.20) =
     * −0.30 + 0.366667 = 0.066667; r2 − mean(−0.50, −0.30, −0.20) = −0.066667; r3 − (−0.40) = 0.20 */
    const double expect[4] = {-0.20, 0.0666667, -0.0666667, 0.20};
    for (int g = 0; g < 4; g++) cr_assert_float_eq(adv[g], expect[g], 1e-6, "g=%d: %g", g, adv[g]);
}

Test(grpg_advantage, greedy_baseline_by_hand_per_window) {
    /* Two windows: the second is shifted so that the window's own greedy reward is what counts. */
    float rewards[8], adv[8];
    for (int g = 0; g < 4; g++) {
        rewards[g] = hand_rewards[g];
        rewards[4 + g] = hand_rewards[g] - 1.0f;
    }
    const float greedy[2] = {-0.35f, -1.45f};
    grpg_advantages_for(ADVANTAGE_GREEDY_BASELINE, rewards, greedy, 4, 2, 1e-6f, adv);
    const double expect[8] = {-0.15, 0.05, -0.05, 0.15, -0.05, 0.15, 0.05, 0.25};
    for (int i = 0; i < 8; i++) cr_assert_float_eq(adv[i], expect[i], 1e-6, "i=%d: %g", i, adv[i]);
    /* Unlike the group modes it need not sum to zero: all rollouts can beat the greedy one. */
    double sum = 0;
    for (int g = 4; g < 8; g++) sum += adv[g];
    cr_assert(sum > 0.3);
}

Test(grpg_advantage, equal_rewards_give_zeros_in_group_modes) {
    const float same[3] = {-0.25f, -0.25f, -0.25f};
    const rp_advantage modes[3] = {ADVANTAGE_GROUP_STD, ADVANTAGE_GROUP_MEAN, ADVANTAGE_LEAVE_ONE_OUT};
    for (int m = 0; m < 3; m++) {
        float adv[3] = {1, 1, 1};
        grpg_advantages_for(modes[m], same, NULL, 3, 1, 0.0f, adv);
        for (int g = 0; g < 3; g++) cr_assert(adv[g] == 0.0f, "mode %d g %d: %g", m, g, adv[g]);
    }
}

/* ---- sign agreement ---------------------------------------------------------------------------- */

Test(grpg_advantage, decision_advantages_by_hand) {
    /* n = 6 units (5 gaps), K = 3, G = 3, one window. Rollout cuts (gap = start − 1):
     *   g0 starts {0, 2, 4}: gaps 1, 3      adv +1
     *   g1 starts {0, 2, 5}: gaps 1, 4      adv −2
     *   g2 starts {0, 3, 4}: gaps 2, 3      adv +0.5
     * gap 0: never cut -> NaN; gap 1: g0, g1 -> −1; gap 2: g2 -> 0.5; gap 3: g0, g2 -> 1.5;
     * gap 4: g1 -> −2. */
    const int starts[9] = {0, 2, 4, 0, 2, 5, 0, 3, 4};
    const float adv[3] = {1.0f, -2.0f, 0.5f};
    float d[5];
    int count[5];
    grpg_decision_advantages(starts, 6, 3, adv, 3, 1, d, count);
    cr_assert(isnan(d[0]));
    cr_assert_float_eq(d[1], -1.0, 1e-6);
    cr_assert_float_eq(d[2], 0.5, 1e-6);
    cr_assert_float_eq(d[3], 1.5, 1e-6);
    cr_assert_float_eq(d[4], -2.0, 1e-6);
    /* A gap every rollout cuts is no decision the group explored. */
    const int all_cut[6] = {0, 2, 4, 0, 2, 5};
    const float adv2[2] = {1.0f, -1.0f};
    grpg_decision_advantages(all_cut, 6, 3, adv2, 2, 1, d, count);
    cr_assert(isnan(d[1]), "gap 1 is cut by both rollouts: %g", d[1]);
    cr_assert_float_eq(d[3], 1.0, 1e-6);
}

Test(grpg_advantage, sign_agreement_counts_only_both_defined) {
    const float a[6] = {1.0f, -2.0f, 3.0f, NAN, 0.0f, -1.0f};
    const float b[6] = {0.5f, 1.0f, 2.0f, 1.0f, 1.0f, -4.0f};
    long long pairs = -1;
    double agree = grpg_sign_agreement(a, b, 6, &pairs);
    cr_assert_eq(pairs, 4); /* the NaN and the zero are left out */
    cr_assert_float_eq(agree, 0.75, 1e-12);
    const float none[2] = {NAN, NAN};
    cr_assert(isnan(grpg_sign_agreement(none, b, 2, &pairs)));
    cr_assert_eq(pairs, 0);
}
