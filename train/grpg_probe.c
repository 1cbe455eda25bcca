#include "train/grpg_probe.h"

#include <math.h>
#include <stdlib.h>

#include "core/util.h"
#include "levels/grpg.h"

void grpg_greedy_rewards(rp_model *m, rp_model_buffers *b, const float *x, const float *y, int B,
                         unsigned long long seed, float *rewards) {
    model_prepare(m, b, x, B, 1);
    model_segment(m, b, B, 1, CUT_EVAL, seed, 0);
    model_forward(m, b, y, B, 1, PASS_SCORE, 0);
    for (int w = 0; w < B; w++) rewards[w] = -b->row_loss[w];
}

int grpg_sign_agreement_probe(rp_trainer *t, const float *x, const float *y, int B, int epoch, double *agreement,
                              long long *pairs, rp_error *err) {
    rp_model *m = &t->model;
    rp_model_buffers *b = &t->buf;
    const rp_recipe *r = t->recipe;
    int G = t->group, R = B * G, level = -1;
    *agreement = NAN;
    *pairs = 0;
    for (int l = 0; l < m->n_levels && level < 0; l++)
        if (m->levels[l].has_policy && m->levels[l].cfg.trainable) level = l;
    if (level < 0 || G < 2) return 0;
    const rp_level *lv = &m->levels[level];
    int gaps = lv->n_units - 1;
    unsigned long long seed = (unsigned long long)r->train.seed;
    float *d = rp_malloc((size_t)2 * B * gaps * sizeof(float), err);
    int *count = rp_malloc((size_t)gaps * sizeof(int), err);
    if (!d || !count) {
        free(d);
        free(count);
        return -1;
    }
    if (r->train.advantage == ADVANTAGE_GREEDY_BASELINE)
        grpg_greedy_rewards(m, b, x, y, B, seed, t->greedy_rewards);
    for (int k = 0; k < 2; k++) {
        model_prepare(m, b, x, B, G);
        /* Streams apart from the training steps' (0x7a1, step). */
        model_segment(m, b, B, G, CUT_TRAIN, seed, rp_mix_seed(0x5167, 2 * (unsigned long long)epoch + k));
        model_forward(m, b, y, B, G, PASS_SCORE, 0);
        for (int i = 0; i < R; i++) t->rewards[i] = -b->row_loss[i];
        grpg_advantages_for(r->train.advantage, t->rewards, t->greedy_rewards, G, B, 1e-6f, t->advantages);
        grpg_decision_advantages(b->lv[level].starts, lv->n_units, lv->K, t->advantages, G, B,
                                 d + (size_t)k * B * gaps, count);
    }
    *agreement = grpg_sign_agreement(d, d + (size_t)B * gaps, (size_t)B * gaps, pairs);
    free(d);
    free(count);
    return 0;
}
