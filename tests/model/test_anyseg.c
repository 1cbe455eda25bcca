/* A backbone that reads any segmentation (issue 14): the time-position encoding, the unpatch
 * head, both against central finite differences (alone and through the whole forecaster), and the
 * new recipe keys' checks (train.backbone_loss: mixed is tested in test_train.c).
 *
 * Loss L = Σ r · out with r fixed random. Tolerances as in the attention test: float32 forward,
 * h = 1e-2 on O(1) values; both layers are linear in their parameters and inputs, so truncation
 * error is nil there and only loss rounding (~1e-6 relative) is left: rtol 1e-2, atol 2e-4. A
 * dropped interpolation weight or a missing 1/count gives O(1) relative errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "core/rng.h"
#include "levels/time_position.h"
#include "model/forecaster.h"
#include "model/unpatch.h"
#include "../gradcheck.h"
#include "tests/small_backbone.h"


/* ---- the unpatch head alone ---- */

#define UL 24
#define UT 8
typedef struct {
    rp_unpatch_head h;
    rp_params P;
    int R;
    float *enc, *denc, *out, *r, *act;
    int start[2 * UT], end[2 * UT];
} unpatch_ctx;

/* Row 0: a 6-patch level (lengths 3, 1, 5, 6, 5, 4: shorter and longer than Q) plus a 2-patch
 * level over it, so every step is covered twice (inputs: all); row 1: the same with other cuts. */
static void unpatch_setup(unpatch_ctx *c, int d, int C, int Q, int H) {
    memset(c, 0, sizeof *c);
    rp_error err;
    params_init(&c->P);
    cr_assert_eq(unpatch_declare(&c->h, &c->P, UL, UT, d, C, Q, H, &err), 0, "%s", err.msg);
    cr_assert_eq(params_alloc(&c->P, &err), 0);
    rp_rng rng;
    rng_seed(&rng, 9, 0);
    unpatch_init(&c->h, &c->P, &rng);
    c->R = 2;
    const int rows[2][UT + 2] = {{0, 3, 4, 9, 15, 20, 24, 0, 10, 24}, {0, 2, 10, 12, 13, 19, 24, 0, 13, 24}};
    for (int r = 0; r < 2; r++) {
        for (int k = 0; k < 6; k++) {
            c->start[r * UT + k] = rows[r][k];
            c->end[r * UT + k] = rows[r][k + 1];
        }
        for (int k = 0; k < 2; k++) {
            c->start[r * UT + 6 + k] = rows[r][7 + k];
            c->end[r * UT + 6 + k] = rows[r][8 + k];
        }
    }
    size_t n = (size_t)c->R * UT * d;
    c->enc = malloc(n * sizeof(float));
    c->denc = calloc(n, sizeof(float));
    c->out = malloc((size_t)c->R * H * sizeof(float));
    c->r = malloc((size_t)c->R * H * sizeof(float));
    c->act = malloc(unpatch_act_floats(&c->h, c->R) * sizeof(float));
    gc_fill_uniform(c->enc, n, 11, -1.5, 1.5);
    gc_fill_uniform(c->r, (size_t)c->R * H, 12, -1, 1);
}

static void unpatch_teardown(unpatch_ctx *c) {
    free(c->enc); free(c->denc); free(c->out); free(c->r); free(c->act);
    params_free(&c->P);
}

static double unpatch_loss(void *ctx) {
    unpatch_ctx *c = ctx;
    unpatch_forward(&c->h, &c->P, c->out, c->enc, c->start, c->end, c->R, c->act);
    return gc_dot(c->r, c->out, (size_t)c->R * c->h.horizon);
}

static void check_unpatch_gradients(int d, int C, int Q, int H) {
    unpatch_ctx c;
    unpatch_setup(&c, d, C, Q, H);
    unpatch_loss(&c);
    params_zero_grad(&c.P);
    unpatch_backward(&c.h, &c.P, c.denc, c.r, c.enc, c.start, c.end, c.R, c.act);
    gc_options o = GC_OPTIONS(1e-2, 1e-2, 2e-4);
    CHECK(gradcheck(unpatch_loss, &c, c.enc, c.denc, (size_t)c.R * UT * d, o, "unpatch dencoded"));
    const char *names[4] = {"head/token/w", "head/token/b", "head/w", "head/b"};
    CHECK(gradcheck_tensors(unpatch_loss, &c, &c.P, names, 4, o));
    unpatch_teardown(&c);
}

Test(unpatch, gradients_two_channels_four_knots) { check_unpatch_gradients(6, 2, 4, 5); }
Test(unpatch, gradients_one_channel_one_knot) { check_unpatch_gradients(4, 1, 1, 3); }
Test(unpatch, gradients_three_channels_seven_knots) { check_unpatch_gradients(5, 3, 7, 4); }

/* Spans of exactly Q steps read one knot each: with the time map set to the identity
 * (H = L·C), out[t·C + c] is knot t − a of the token covering t, bit for bit; steps covered by
 * two tokens get their mean. */
Test(unpatch, spans_of_q_steps_read_one_knot_per_step) {
    const int d = 3, C = 2, Q = 4, L = 12, T = 3 + 1, H = L * C;
    rp_params P;
    rp_unpatch_head h;
    rp_error err;
    params_init(&P);
    cr_assert_eq(unpatch_declare(&h, &P, L, T, d, C, Q, H, &err), 0, "%s", err.msg);
    cr_assert_eq(params_alloc(&P, &err), 0);
    rp_rng rng;
    rng_seed(&rng, 4, 0);
    unpatch_init(&h, &P, &rng);
    float *V = P.value + h.time_map.weight;
    memset(V, 0, (size_t)H * L * C * sizeof(float));
    for (int i = 0; i < H; i++) V[(size_t)i * L * C + i] = 1.0f;
    memset(P.value + h.time_map.bias, 0, (size_t)H * sizeof(float));
    /* Three tokens of 4 steps, plus one more covering [4, 8) again. */
    int start[4] = {0, 4, 8, 4}, end[4] = {4, 8, 12, 8};
    float enc[4 * 3], out[24], *act = malloc(unpatch_act_floats(&h, 1) * sizeof(float));
    gc_fill_uniform(enc, 12, 5, -1, 1);
    unpatch_forward(&h, &P, out, enc, start, end, 1, act);
    const float *U = P.value + h.token_map.weight, *c0 = P.value + h.token_map.bias;
    for (int t = 0; t < L; t++)
        for (int c = 0; c < C; c++) {
            double want = 0;
            int n = 0;
            for (int k = 0; k < T; k++) {
                if (t < start[k] || t >= end[k]) continue;
                int q = t - start[k];
                double z = c0[q * C + c];
                for (int j = 0; j < d; j++) z += (double)U[(size_t)(q * C + c) * d + j] * enc[k * d + j];
                want += z;
                n++;
            }
            cr_assert_float_eq(out[t * C + c], want / n, 1e-5, "step %d channel %d", t, c);
        }
    free(act);
    params_free(&P);
}

/* ---- the time position alone ---- */

typedef struct {
    rp_time_position tp;
    rp_params P;
    int B;
    int starts[2 * 5];
    float tokens[2 * 5 * 6], r[2 * 5 * 6], act[2 * 5 * RP_TIME_FEATURES];
} time_ctx;

static double time_loss(void *ctx) {
    time_ctx *c = ctx;
    memset(c->tokens, 0, sizeof c->tokens);
    time_position_forward(&c->tp, &c->P, c->tokens, c->starts, c->B, c->act);
    return gc_dot(c->r, c->tokens, sizeof c->tokens / sizeof(float));
}

Test(time_position, gradient_and_features_depend_on_the_span_only) {
    time_ctx c;
    memset(&c, 0, sizeof c);
    rp_error err;
    params_init(&c.P);
    cr_assert_eq(time_position_declare(&c.tp, &c.P, "levels/0/tokens", 40, 5, 6, &err), 0, "%s", err.msg);
    cr_assert_eq(params_alloc(&c.P, &err), 0);
    cr_assert_not_null(params_find(&c.P, "levels/0/tokens/time/w"));
    rp_rng rng;
    rng_seed(&rng, 2, 0);
    time_position_init(&c.tp, &c.P, &rng);
    c.B = 2;
    /* Row 1 has the span [8, 16) as its token 1, row 0 as its token 2. */
    const int s[10] = {0, 3, 8, 16, 30, 0, 8, 16, 17, 39};
    memcpy(c.starts, s, sizeof s);
    gc_fill_uniform(c.r, sizeof c.r / sizeof(float), 3, -1, 1);
    time_loss(&c);
    for (int j = 0; j < 6; j++) cr_assert_eq(c.tokens[(0 * 5 + 2) * 6 + j], c.tokens[(1 * 5 + 1) * 6 + j]);
    /* Different spans, different encodings; start 0: sin 0, cos 1; a span of all L steps: log-length 1. */
    cr_assert_neq(c.tokens[(0 * 5 + 1) * 6], c.tokens[(1 * 5 + 1) * 6]);
    float phi[RP_TIME_FEATURES];
    time_position_features(phi, 0, 40, 40);
    cr_assert_eq(phi[0], 0.0f);
    cr_assert_eq(phi[1], 1.0f);
    cr_assert_float_eq(phi[RP_TIME_FEATURES - 1], 1.0f, 1e-6);
    time_position_features(phi, 5, 6, 40);
    cr_assert_eq(phi[RP_TIME_FEATURES - 1], 0.0f);
    /* The forward's saved features (made from per-step tables) are time_position_features', bit for bit. */
    for (int r = 0; r < c.B; r++)
        for (int k = 0; k < 5; k++) {
            int a = s[r * 5 + k], e = k + 1 < 5 ? s[r * 5 + k + 1] : 40;
            time_position_features(phi, a, e, 40);
            cr_assert_eq(memcmp(phi, c.act + (r * 5 + k) * RP_TIME_FEATURES, sizeof phi), 0, "row %d token %d", r, k);
        }
    params_zero_grad(&c.P);
    time_position_backward(&c.tp, &c.P, c.r, c.B, c.act);
    CHECK(gradcheck(time_loss, &c, c.P.value + c.tp.w, c.P.grad + c.tp.w, (size_t)6 * RP_TIME_FEATURES,
                    GC_OPTIONS(1e-2, 1e-2, 2e-4), "time/w"));
    time_position_free(&c.tp);
    params_free(&c.P);
}

/* ---- through the whole forecaster ---- */

typedef struct {
    rp_model m;
    rp_model_buffers b;
    int B;
    float *r;
} model_ctx;

static double model_loss(void *ctx) {
    model_ctx *c = ctx;
    model_forward(&c->m, &c->b, NULL, c->B, 1, 1, 5);
    return gc_dot(c->r, c->b.forecast, (size_t)c->B * c->m.horizon);
}

/* Two levels (raw, then pooled tokens), inputs: all, position: time at both, head: unpatch, cut
 * at random: the gradient reaches each level's time map, the head and the tokenizers. Dropout 0 and
 * layer norm keep the forward deterministic and smooth. */
Test(anyseg, model_gradients_with_time_position_and_unpatch_head) {
    rp_recipe r;
    recipe_defaults(&r);
    r.data.lookback = 40;
    r.data.horizon = 6;
    r.n_levels = 2;
    r.levels[0].rate = 4;
    r.levels[0].patch_len = 6;
    r.levels[0].position = POSITION_TIME;
    r.levels[1].rate = 2;
    r.levels[1].tokens = TOKENS_POOLED;
    r.levels[1].position = POSITION_TIME;
    r.backbone.inputs = INPUTS_ALL;
    r.backbone.head = HEAD_UNPATCH;
    r.backbone.unpatch_knots = 3;
    small_backbone(&r, 8, 2, 1, 8, 0);
    r.backbone.norm = NORM_LAYER;
    rp_error err = {{0}};
    cr_assert_eq(recipe_validate(&r, &err), 0, "%s", err.msg);
    model_ctx c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(model_build(&c.m, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(model_init(&c.m, 3, &err), 0, "%s", err.msg);
    cr_assert_null(params_find(&c.m.P, "levels/0/tokens/pos"), "position: time declares no index embedding");
    c.B = 3;
    cr_assert_eq(model_buffers_alloc(&c.b, &c.m, c.B, 1, &err), 0, "%s", err.msg);
    float x[3 * 40];
    gc_fill_uniform(x, sizeof x / sizeof *x, 21, -2, 2);
    c.r = malloc((size_t)c.B * 6 * sizeof(float));
    gc_fill_uniform(c.r, (size_t)c.B * 6, 22, -1, 1);
    model_prepare(&c.m, &c.b, x, c.B, 1);
    model_segment(&c.m, &c.b, c.B, 1, CUT_EVAL, 1, 0);
    rp_cuts cuts = {CUTS_RANDOM, 0};
    model_override_cuts(&c.m, &c.b, c.B, cuts, ~0u, NULL, 7, 1);
    model_loss(&c);
    params_zero_grad(&c.m.P);
    memcpy(c.b.dforecast, c.r, (size_t)c.B * 6 * sizeof(float));
    model_backward(&c.m, &c.b, c.B, 1);
    gc_options o = GC_OPTIONS_SAMPLED(1e-2, 2e-2, 5e-4, 40);
    const char *names[] = {"levels/0/tokens/time/w", "levels/1/tokens/time/w", "head/token/w", "head/token/b",
                           "head/w", "levels/0/tokens/proj/w"};
    CHECK(gradcheck_tensors(model_loss, &c, &c.m.P, names, 6, o));
    free(c.r);
    model_buffers_free(&c.b);
    model_free(&c.m);
    recipe_free(&r);
}

/* Bad values name the key. */
Test(anyseg, recipe_keys_are_checked) {
    rp_recipe r;
    rp_error err = {{0}};
    recipe_defaults(&r);
    cr_assert_neq(recipe_set(&r, "train.mix_share=1.5", &err), 0);
    cr_assert_not_null(strstr(err.msg, "train.mix_share"), "%s", err.msg);
    cr_assert_neq(recipe_set(&r, "levels[0].position=span", &err), 0);
    cr_assert_not_null(strstr(err.msg, "position"), "%s", err.msg);
    cr_assert_neq(recipe_set(&r, "backbone.head=pool", &err), 0);
    cr_assert_not_null(strstr(err.msg, "backbone.head"), "%s", err.msg);
    cr_assert_eq(recipe_set(&r, "train.backbone_loss=mixed", &err), 0, "%s", err.msg);
    cr_assert_eq(recipe_set(&r, "train.mix_jitter=336", &err), 0, "%s", err.msg);
    cr_assert_neq(recipe_validate(&r, &err), 0);
    cr_assert_not_null(strstr(err.msg, "train.mix_jitter"), "%s", err.msg);
    recipe_free(&r);
}
