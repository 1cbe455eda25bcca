/* The level stack: random stacks of 1-4 levels with random rates and patching kinds. Every level
 * of every sampled and greedy segmentation has exactly its K patches, nests inside the level below
 * and covers the window; training runs through the stack with top or all tokens, raw or pooled. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/forecaster.h"
#include "core/adam.h"
#include "core/rng.h"
#include "levels/features.h"
#include "levels/grpg.h"
#include "levels/sampler.h"
#include "tests/small_backbone.h"

static void stack_recipe(rp_recipe *r, rp_rng *rng, int n_levels) {
    recipe_defaults(r);
    r->data.lookback = 48 + (int)rng_below(rng, 80);
    r->data.horizon = 8;
    r->n_levels = n_levels;
    int units = r->data.lookback;
    for (int l = 0; l < n_levels; l++) {
        rp_level_recipe *lv = &r->levels[l];
        *lv = r->levels[0];
        /* Rates between 1.5 and 4 keep K >= 2 at every level of a 4-level stack. */
        lv->rate = l == 0 ? (double)(2 + rng_below(rng, 3)) : 1.5 + rng_uniform(rng) * 1.5;
        lv->patching = (rp_patching)rng_below(rng, 3);
        /* A fixed level cuts segments of exactly `rate` units: its rate must be an integer. */
        if (lv->patching == PATCHING_FIXED) lv->rate = l == 0 ? lv->rate : 2.0;
        if (l == 0 && lv->patching == PATCHING_FIXED) lv->patch_len = (int)lv->rate * 2;
        lv->tokens = l > 0 && rng_below(rng, 2) ? TOKENS_POOLED : TOKENS_RAW;
        lv->policy_channels = 4;
        lv->policy_layers = 1;
        lv->policy_kernel = 3;
        lv->group_size = 3;
        lv->policy_position = rng_below(rng, 2);
        units = recipe_level_count(units, lv->rate);
    }
    r->backbone.inputs = rng_below(rng, 2) ? INPUTS_ALL : INPUTS_TOP;
    small_backbone(r, 8, 2, 1, 8, 0);
}

/* Checks row r of every level: exact K, in order, non-empty, nested, covering [0, L). */
static void check_rows(const rp_model *m, const rp_model_buffers *b, int R) {
    int L = m->lookback;
    for (int r = 0; r < R; r++) {
        for (int l = 0; l < m->n_levels; l++) {
            const rp_level *lv = &m->levels[l];
            int K = lv->K;
            const int *st = b->lv[l].starts + (size_t)r * K;
            const int *raw = b->lv[l].raw_starts + (size_t)r * K;
            rp_error err = {{0}};
            cr_assert_eq(seg_check(&lv->spec, st, &err), 0, "level %d row %d: %s", l, r, err.msg);
            cr_assert_eq(raw[0], 0);
            for (int k = 1; k < K; k++) cr_assert_lt(raw[k - 1], raw[k], "level %d not in order", l);
            cr_assert_lt(raw[K - 1], L);
            if (l > 0) {
                /* Nesting: every boundary of level l is a boundary of level l-1. */
                const int *below = b->lv[l - 1].raw_starts + (size_t)r * m->levels[l - 1].K;
                for (int k = 0; k < K; k++) {
                    int found = 0;
                    for (int j = 0; j < m->levels[l - 1].K; j++) found |= below[j] == raw[k];
                    cr_assert(found, "level %d boundary %d not on level %d", l, raw[k], l - 1);
                }
            }
        }
    }
}

Test(stack, random_stacks_exact_counts_nested_and_covering) {
    rp_rng rng;
    rng_seed(&rng, 2024, 0);
    for (int trial = 0; trial < 24; trial++) {
        int n_levels = 1 + trial % 4;
        rp_recipe r;
        stack_recipe(&r, &rng, n_levels);
        rp_error err = {{0}};
        cr_assert_eq(recipe_validate(&r, &err), 0, "trial %d: %s", trial, err.msg);
        rp_model m;
        cr_assert_eq(model_build(&m, &r, &err), 0, "trial %d: %s", trial, err.msg);
        cr_assert_eq(model_init(&m, 7, &err), 0, "%s", err.msg);
        int counts[RP_MAX_LEVELS];
        cr_assert_eq(recipe_level_counts(&r, counts), n_levels);
        for (int l = 0; l < n_levels; l++) cr_assert_eq(m.levels[l].K, counts[l]);
        int B = 5, G = 3, L = m.lookback;
        rp_model_buffers b;
        cr_assert_eq(model_buffers_alloc(&b, &m, B, G, &err), 0, "%s", err.msg);
        float x[5 * 200];
        for (int i = 0; i < B * L; i++) x[i] = (float)(sin(0.3 * i) + 0.3 * rng_normal(&rng));
        /* The policies' logits get random perturbations so sampling and greedy move off uniform. */
        for (size_t i = 0; i < m.P.total; i++)
            if (m.P.value[i] == 0.0f) m.P.value[i] = (float)(0.5 * rng_normal(&rng));
        model_prepare(&m, &b, x, B, G);
        model_segment(&m, &b, B, G, CUT_TRAIN, 11, (unsigned long long)trial);
        check_rows(&m, &b, B * G);
        /* every sampled row's draw is a possible one under its logits (level 0: one row per window) */
        for (int l = 0; l < n_levels; l++) {
            const rp_level *lv = &m.levels[l];
            if (!lv->has_policy) continue;
            void *work = malloc(seg_workspace_bytes(&lv->spec));
            for (int row = 0; row < B * G; row++) {
                const float *lg = b.lv[l].logits + (size_t)(l == 0 ? row / G : row) * (lv->n_units - 1);
                double lp = seg_log_prob(&lv->spec, lg, b.lv[l].orders + (size_t)row * (lv->K - 1), work);
                cr_assert(isfinite(lp) && lp <= 0, "level %d row %d: log p %g", l, row, lp);
            }
            free(work);
        }
        /* policy.position: one more feature column, running from -1 to 1 over the level's units. */
        for (int l = 0; l < n_levels; l++) {
            const rp_level *lv = &m.levels[l];
            if (!lv->has_policy) continue;
            int base = l == 0 ? POLICY_FEATURES_LEVEL1 : POLICY_FEATURES_PATCHES, F = lv->n_features, n = lv->n_units;
            cr_assert_eq(F, base + (lv->cfg.policy_position ? 1 : 0), "level %d features", l);
            if (lv->cfg.policy_position) {
                cr_assert_eq(b.lv[l].features[F - 1], -1.0f);
                cr_assert_eq(b.lv[l].features[(size_t)(n - 1) * F + F - 1], 1.0f);
            }
        }
        model_forward(&m, &b, NULL, B, G, 1, 3);
        for (int i = 0; i < B * G * m.horizon; i++) cr_assert(isfinite(b.forecast[i]));
        model_prepare(&m, &b, x, B, 1);
        model_segment(&m, &b, B, 1, CUT_EVAL, 11, 0);
        check_rows(&m, &b, B);
        /* GRPG's greedy pass after the rollouts reuses level 0's logits: the same cuts at every
         * level as a greedy segmentation from scratch. */
        int greedy[RP_MAX_LEVELS][5 * 200];
        for (int l = 0; l < n_levels; l++)
            memcpy(greedy[l], b.lv[l].raw_starts, (size_t)B * m.levels[l].K * sizeof(int));
        model_prepare(&m, &b, x, B, G);
        model_segment(&m, &b, B, G, CUT_TRAIN, 11, (unsigned long long)trial + 100);
        model_prepare(&m, &b, x, B, 1);
        model_segment(&m, &b, B, 1, CUT_EVAL_SAME_LOGITS, 11, 0);
        for (int l = 0; l < n_levels; l++)
            cr_assert_eq(memcmp(greedy[l], b.lv[l].raw_starts, (size_t)B * m.levels[l].K * sizeof(int)), 0,
                         "trial %d level %d: greedy cuts from the rollouts' logits differ", trial, l);
        /* eval --cuts / mixed training: every other segmentation of the same K, at every level or
         * at some levels of some rows, is still exact, nested and covering; uniform is seg_uniform. */
        const char *modes[] = {"uniform", "random", "jitter:1", "jitter:3"};
        for (int i = 0; i < 4; i++) {
            rp_cuts cuts;
            cr_assert_eq(cuts_parse(modes[i], &cuts, &err), 0, "%s", err.msg);
            cr_assert_eq(model_check_cuts(&m, cuts, &err), 0, "%s", err.msg);
            unsigned char rows[5] = {1, 0, 1, 1, 0};
            unsigned mask = i < 2 ? ~0u : 1u + (unsigned)trial % 3;
            model_override_cuts(&m, &b, B, cuts, mask, i == 3 ? rows : NULL, 11, (unsigned long long)trial);
            check_rows(&m, &b, B);
            for (int l = 0; l < n_levels; l++) {
                int uniform[200], K = m.levels[l].K;
                seg_uniform(m.levels[l].n_units, m.levels[l].cfg.rate, uniform);
                if (i == 0) cr_assert_eq(memcmp(b.lv[l].starts, uniform, (size_t)K * sizeof(int)), 0);
            }
            model_forward(&m, &b, NULL, B, 1, 0, 0);
            for (int j = 0; j < B * m.horizon; j++) cr_assert(isfinite(b.forecast[j]), "%s", modes[i]);
        }
        model_buffers_free(&b);
        model_free(&m);
        recipe_free(&r);
    }
}

Test(stack, backward_reaches_every_level_tokenizer_and_level_embedding) {
    rp_rng rng;
    rng_seed(&rng, 5, 0);
    rp_recipe r;
    stack_recipe(&r, &rng, 3);
    r.backbone.inputs = INPUTS_ALL;
    for (int l = 1; l < 3; l++) r.levels[l].tokens = l == 1 ? TOKENS_POOLED : TOKENS_RAW;
    rp_error err = {{0}};
    cr_assert_eq(recipe_validate(&r, &err), 0, "%s", err.msg);
    rp_model m;
    cr_assert_eq(model_build(&m, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(model_init(&m, 3, &err), 0, "%s", err.msg);
    cr_assert_eq(m.n_tokens, m.levels[0].K + m.levels[1].K + m.levels[2].K);
    int B = 4, L = m.lookback, H = m.horizon;
    rp_model_buffers b;
    cr_assert_eq(model_buffers_alloc(&b, &m, B, 1, &err), 0, "%s", err.msg);
    float x[4 * 200], y[4 * 8];
    for (int i = 0; i < B * L; i++) x[i] = (float)rng_normal(&rng);
    for (int i = 0; i < B * H; i++) y[i] = (float)rng_normal(&rng);
    model_prepare(&m, &b, x, B, 1);
    model_segment(&m, &b, B, 1, CUT_EVAL, 1, 0);
    params_zero_grad(&m.P);
    model_forward(&m, &b, y, B, 1, 1, 9);
    for (int i = 0; i < B * H; i++) b.dforecast[i] = b.forecast[i] - y[i / H * H + i % H];
    model_backward(&m, &b, B, 1);
    const char *must_move[] = {"levels/0/tokens", "levels/1/tokens", "levels/2/tokens", "backbone/level_emb", "head/"};
    for (size_t i = 0; i < sizeof must_move / sizeof must_move[0]; i++) {
        double g = 0;
        size_t len = strlen(must_move[i]);
        for (int t = 0; t < m.P.n_tensors; t++)
            if (!strncmp(m.P.tensors[t].name, must_move[i], len) && m.P.tensors[t].trainable)
                for (size_t j = 0; j < m.P.tensors[t].count; j++) g += fabs(m.P.grad[m.P.tensors[t].offset + j]);
        cr_assert_gt(g, 0.0, "no gradient reaches %s", must_move[i]);
    }
    model_buffers_free(&b);
    model_free(&m);
    recipe_free(&r);
}
