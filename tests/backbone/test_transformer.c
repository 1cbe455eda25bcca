/* The PatchTST encoder stack: gradients of a 2-layer stack (batch norm and layer norm, training
 * mode with dropout at a fixed seed) against central finite differences w.r.t. the input and a
 * sample of every parameter tensor; eval mode determinism and batch independence; the declared
 * parameter set; running statistics; FLOPs.
 *
 * Tolerances as in test_attention_grad.c: float32 forward through two layers, h = 1e-2, loss noise
 * ~1e-6 → ~5e-5 in the derivative, gradients O(0.1..1): rtol 1e-2, atol 2e-4 plus 1e-3·max|grad|
 * (normalisation layers rescale the gradient scale by layer). */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/transformer.h"
#include "core/blas.h"
#include "core/params.h"
#include "core/rng.h"
#include "../gradcheck.h"


typedef struct {
    rp_transformer t;
    rp_params P;
    int B, training;
    unsigned long long seed;
    size_t n;
    float *x, *y, *r, *dx, *act;
} tf_ctx;

static void setup(tf_ctx *c, int B, int K, int d, int H, int layers, int d_ff, float dropout, rp_norm_kind norm) {
    memset(c, 0, sizeof *c);
    rp_error err;
    params_init(&c->P);
    cr_assert_eq(transformer_declare(&c->t, &c->P, "backbone", K, d, H, layers, d_ff, dropout, norm, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(params_alloc(&c->P, &err), 0);
    rp_rng rng;
    rng_seed(&rng, 11, 0);
    transformer_init(&c->t, &c->P, &rng);
    /* Non-trivial norm affine parameters, so their gradients and effects are exercised. */
    for (int l = 0; l < layers; l++) {
        const rp_norm *ns[2] = {&c->t.layers[l].norm1, &c->t.layers[l].norm2};
        for (int k = 0; k < 2; k++) {
            gc_fill_uniform(c->P.value + ns[k]->gamma, (size_t)d, 200 + 2 * l + k, 0.6, 1.4);
            gc_fill_uniform(c->P.value + ns[k]->beta, (size_t)d, 300 + 2 * l + k, -0.3, 0.3);
        }
    }
    c->B = B;
    c->n = (size_t)B * K * d;
    c->x = malloc(c->n * 4);
    c->y = malloc(c->n * 4);
    c->r = malloc(c->n * 4);
    c->dx = calloc(c->n, 4);
    c->act = malloc(transformer_act_floats(&c->t, B) * 4);
    gc_fill_uniform(c->x, c->n, 401, -1.5, 1.5);
    gc_fill_uniform(c->r, c->n, 402, -1, 1);
}

static void teardown(tf_ctx *c) {
    free(c->x); free(c->y); free(c->r); free(c->dx); free(c->act);
    params_free(&c->P);
}

static double tf_loss(void *p) {
    tf_ctx *c = p;
    transformer_forward(&c->t, &c->P, c->y, c->x, c->B, c->training, c->seed, c->act);
    return gc_dot(c->r, c->y, c->n);
}

static void check_gradients(rp_norm_kind norm, float dropout, int training) {
    tf_ctx c;
    setup(&c, 3, 5, 8, 2, 2, 16, dropout, norm);
    c.training = training;
    c.seed = 4242;
    tf_loss(&c);
    params_zero_grad(&c.P);
    transformer_backward(&c.t, &c.P, c.dx, c.r, c.B, c.act);
    /* a sample of each tensor keeps the suite within seconds: 2·(48 + 24·12) forwards */
    gc_options o = GC_OPTIONS_SAMPLED(1e-2, 1e-2, 2e-4, 12);
    o.atol_scale = 1e-3;
    gc_options all = o;
    all.max_checks = 48;
    const char *what = norm == NORM_BATCH ? "transformer (batch norm) din" : "transformer (layer norm) din";
    CHECK(gradcheck(tf_loss, &c, c.x, c.dx, c.n, all, what));
    int checked = 0;
    for (int k = 0; k < c.P.n_tensors; k++) {
        const rp_tensor_info *ti = &c.P.tensors[k];
        if (!ti->trainable) continue;
        CHECK(gradcheck(tf_loss, &c, c.P.value + ti->offset, c.P.grad + ti->offset, ti->count, o, ti->name));
        checked++;
    }
    cr_assert_eq(checked, 2 * 12, "every trainable tensor of both layers is checked");
    teardown(&c);
}

Test(transformer, gradients_batchnorm_training_dropout) { check_gradients(NORM_BATCH, 0.2f, 1); }
Test(transformer, gradients_layernorm_training_dropout) { check_gradients(NORM_LAYER, 0.2f, 1); }
Test(transformer, gradients_batchnorm_eval) { check_gradients(NORM_BATCH, 0.2f, 0); }

Test(transformer, backward_accumulates_and_is_repeatable) {
    tf_ctx c;
    setup(&c, 2, 4, 8, 2, 2, 16, 0.1f, NORM_BATCH);
    transformer_forward(&c.t, &c.P, c.y, c.x, c.B, 1, 9, c.act);
    params_zero_grad(&c.P);
    transformer_backward(&c.t, &c.P, c.dx, c.r, c.B, c.act);
    float *g1 = malloc(c.P.total * 4), *dx1 = malloc(c.n * 4);
    memcpy(g1, c.P.grad, c.P.total * 4);
    memcpy(dx1, c.dx, c.n * 4);
    transformer_backward(&c.t, &c.P, c.dx, c.r, c.B, c.act);
    for (size_t i = 0; i < c.P.total; i++)
        cr_assert_float_eq(c.P.grad[i], 2 * g1[i], 1e-5f * (1 + fabsf(g1[i])), "param grad %zu", i);
    for (size_t i = 0; i < c.n; i++) cr_assert_float_eq(c.dx[i], 2 * dx1[i], 1e-5f * (1 + fabsf(dx1[i])));
    free(g1); free(dx1);
    teardown(&c);
}

static void check_eval_batch_independence(rp_norm_kind norm) {
    enum { B = 4, K = 7, D = 16 };
    tf_ctx c;
    setup(&c, B, K, D, 4, 3, 32, 0.3f, norm);
    if (norm == NORM_BATCH) {
        /* a few training passes so the running statistics are not the identity */
        for (int s = 0; s < 3; s++) transformer_forward(&c.t, &c.P, c.y, c.x, B, 1, (unsigned long long)s, c.act);
    }
    transformer_forward(&c.t, &c.P, c.y, c.x, B, 0, 1, c.act);
    float *y2 = malloc(c.n * 4);
    transformer_forward(&c.t, &c.P, y2, c.x, B, 0, 2, c.act);
    cr_assert_eq(memcmp(c.y, y2, c.n * 4), 0, "eval mode must be deterministic and ignore the seed");
    /* each window alone, with an arena sized for one window */
    float *act1 = malloc(transformer_act_floats(&c.t, 1) * 4), *y1 = malloc((size_t)K * D * 4);
    for (int b = 0; b < B; b++) {
        transformer_forward(&c.t, &c.P, y1, c.x + (size_t)b * K * D, 1, 0, 3, act1);
        for (int i = 0; i < K * D; i++) {
            float want = c.y[(size_t)b * K * D + i];
            cr_assert_float_eq(y1[i], want, 1e-5f * (1 + fabsf(want)), "window %d element %d: alone %g, in batch %g",
                               b, i, y1[i], want);
        }
    }
    free(y2); free(act1); free(y1);
    teardown(&c);
}

/* A scoring pass (PASS_SCORE) gives the eval pass's output bit for bit: tokens over more than one
 * micro-kernel panel, both norms (batch norm after training passes, so its running statistics are
 * not the identity), in an arena that held NaN before, so nothing unwritten is read. */
static void check_score_is_eval(rp_norm_kind norm) {
    enum { B = 5, K = 37, D = 16 };
    tf_ctx c;
    setup(&c, B, K, D, 4, 2, 32, 0.3f, norm);
    if (norm == NORM_BATCH)
        for (int s = 0; s < 2; s++) transformer_forward(&c.t, &c.P, c.y, c.x, B, PASS_TRAIN, (unsigned long long)s, c.act);
    transformer_forward(&c.t, &c.P, c.y, c.x, B, PASS_EVAL, 1, c.act);
    const size_t floats = transformer_act_floats(&c.t, B);
    float *act2 = malloc(floats * 4), *y2 = malloc(c.n * 4);
    for (size_t i = 0; i < floats; i++) act2[i] = NAN;
    transformer_forward(&c.t, &c.P, y2, c.x, B, PASS_SCORE, 1, act2);
    cr_assert_eq(memcmp(c.y, y2, c.n * 4), 0, "a scoring pass differs from an eval pass");
    free(act2); free(y2);
    teardown(&c);
}

Test(transformer, scoring_pass_is_the_eval_pass_layernorm) { check_score_is_eval(NORM_LAYER); }
Test(transformer, scoring_pass_is_the_eval_pass_batchnorm) { check_score_is_eval(NORM_BATCH); }

/* A backward after a scoring pass would read attention weights that were never kept: it stops the
 * process with a message instead. */
Test(transformer, backward_after_a_scoring_pass_stops, .signal = SIGABRT) {
    tf_ctx c;
    setup(&c, 2, 5, 8, 2, 2, 16, 0.0f, NORM_LAYER);
    transformer_forward(&c.t, &c.P, c.y, c.x, c.B, PASS_SCORE, 0, c.act);
    transformer_backward(&c.t, &c.P, c.dx, c.r, c.B, c.act);
}

Test(transformer, eval_is_deterministic_and_batch_independent_layernorm) { check_eval_batch_independence(NORM_LAYER); }
Test(transformer, eval_is_deterministic_and_batch_independent_batchnorm) { check_eval_batch_independence(NORM_BATCH); }

Test(transformer, training_dropout_depends_on_seed_only) {
    tf_ctx c;
    setup(&c, 2, 5, 8, 2, 2, 16, 0.3f, NORM_LAYER);
    float *y2 = malloc(c.n * 4);
    transformer_forward(&c.t, &c.P, c.y, c.x, c.B, 1, 5, c.act);
    transformer_forward(&c.t, &c.P, y2, c.x, c.B, 1, 5, c.act);
    cr_assert_eq(memcmp(c.y, y2, c.n * 4), 0);
    transformer_forward(&c.t, &c.P, y2, c.x, c.B, 1, 6, c.act);
    cr_assert_neq(memcmp(c.y, y2, c.n * 4), 0);
    free(y2);
    teardown(&c);
}

Test(transformer, batchnorm_running_statistics_update_in_training_only) {
    tf_ctx c;
    setup(&c, 2, 5, 8, 2, 1, 16, 0.0f, NORM_BATCH);
    const rp_tensor_info *rm = params_find(&c.P, "backbone/layers/0/norm1/running_mean");
    const rp_tensor_info *rv = params_find(&c.P, "backbone/layers/0/norm2/running_var");
    cr_assert(rm && rv && !rm->trainable && !rv->trainable);
    cr_assert_eq(c.P.value[rv->offset], 1.0f);
    transformer_forward(&c.t, &c.P, c.y, c.x, c.B, 0, 0, c.act);
    cr_assert_eq(c.P.value[rm->offset], 0.0f);
    cr_assert_eq(c.P.value[rv->offset], 1.0f);
    transformer_forward(&c.t, &c.P, c.y, c.x, c.B, 1, 0, c.act);
    cr_assert_neq(c.P.value[rm->offset], 0.0f);
    cr_assert_neq(c.P.value[rv->offset], 1.0f);
    teardown(&c);
}

Test(transformer, declares_patchtst_parameters) {
    tf_ctx c;
    setup(&c, 1, 42, 16, 4, 3, 128, 0.3f, NORM_BATCH);
    const char *names[] = {"backbone/layers/0/attn/w_qkv", "backbone/layers/0/attn/b_qkv",
                           "backbone/layers/0/attn/w_out", "backbone/layers/0/attn/b_out",
                           "backbone/layers/1/ff/w1", "backbone/layers/1/ff/b1", "backbone/layers/1/ff/w2",
                           "backbone/layers/1/ff/b2", "backbone/layers/2/norm1/gamma",
                           "backbone/layers/2/norm2/beta", "backbone/layers/2/norm2/running_mean"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        cr_assert_not_null(params_find(&c.P, names[i]), "%s", names[i]);
    const rp_tensor_info *w1 = params_find(&c.P, "backbone/layers/1/ff/w1");
    cr_assert(w1->shape[0] == 128 && w1->shape[1] == 16, "w1 is [d_ff × d_model]");
    /* per layer: 3d·d + 3d + d·d + d + d_ff·d + d_ff + d·d_ff + d + 4d trainable */
    size_t d = 16, f = 128;
    size_t per = 3 * d * d + 3 * d + d * d + d + f * d + f + d * f + d + 4 * d;
    size_t trainable = 0;
    for (int k = 0; k < c.P.n_tensors; k++)
        if (c.P.tensors[k].trainable) trainable += c.P.tensors[k].count;
    cr_assert_eq(trainable, 3 * per);
    /* PyTorch Linear init bound 1/√in */
    const float *w = c.P.value + w1->offset;
    float worst = 0;
    for (size_t i = 0; i < w1->count; i++) worst = fmaxf(worst, fabsf(w[i]));
    cr_assert(worst <= 0.25f && worst > 0.2f, "max |w1| %g for bound 0.25", worst);
    /* flops: per layer 2·(N·d·3d + N·d·d + 2·B·H·K²·dh + 2·N·d·d_ff), here B = 1 */
    double N = 42;
    double want = 3 * 2.0 * (N * 16 * 48 + N * 16 * 16 + 2.0 * 4 * 42 * 42 * 4 + 2 * N * 16 * 128);
    cr_assert_float_eq(transformer_flops(&c.t, 1), want, 1e-6 * want);
    teardown(&c);
}

/* The threaded passes (threads own windows, batch norm sums combined across threads, parameter
 * gradients split by output feature) against one thread: equal up to the rounding of the
 * combined batch-norm sums. */
static void check_threads_match(rp_norm_kind norm) {
    tf_ctx c;
    setup(&c, 6, 42, 16, 4, 2, 32, 0.2f, norm);
    float *y1 = malloc(c.n * 4), *g1 = malloc(c.P.total * 4), *dx1 = calloc(c.n, 4);
    rp_set_threads(1);
    transformer_forward(&c.t, &c.P, y1, c.x, c.B, 1, 17, c.act);
    params_zero_grad(&c.P);
    transformer_backward(&c.t, &c.P, dx1, c.r, c.B, c.act);
    memcpy(g1, c.P.grad, c.P.total * 4);
    rp_set_threads(3);
    transformer_forward(&c.t, &c.P, c.y, c.x, c.B, 1, 17, c.act);
    params_zero_grad(&c.P);
    transformer_backward(&c.t, &c.P, c.dx, c.r, c.B, c.act);
    rp_set_threads(1);
    for (size_t i = 0; i < c.n; i++) {
        cr_assert_float_eq(c.y[i], y1[i], 1e-5f * (1 + fabsf(y1[i])), "out %zu: %g vs %g", i, c.y[i], y1[i]);
        cr_assert_float_eq(c.dx[i], dx1[i], 1e-4f * (1 + fabsf(dx1[i])), "din %zu: %g vs %g", i, c.dx[i], dx1[i]);
    }
    for (size_t i = 0; i < c.P.total; i++)
        cr_assert_float_eq(c.P.grad[i], g1[i], 1e-4f * (1 + fabsf(g1[i])), "grad %zu: %g vs %g", i, c.P.grad[i], g1[i]);
    free(y1); free(g1); free(dx1);
    teardown(&c);
}

Test(transformer, threaded_runs_are_bit_identical) {
    tf_ctx c;
    setup(&c, 5, 42, 16, 4, 2, 32, 0.2f, NORM_BATCH);
    float *y1 = malloc(c.n * 4), *g1 = malloc(c.P.total * 4), *dx1 = calloc(c.n, 4);
    rp_set_threads(2);
    for (int run = 0; run < 2; run++) {
        float *rm = c.P.value + c.t.layers[0].norm1.running_mean;
        for (int j = 0; j < 16; j++) rm[j] = 0.0f;   /* same starting running statistics */
        transformer_forward(&c.t, &c.P, run ? c.y : y1, c.x, c.B, 1, 99, c.act);
        params_zero_grad(&c.P);
        transformer_backward(&c.t, &c.P, run ? c.dx : dx1, c.r, c.B, c.act);
        if (!run) memcpy(g1, c.P.grad, c.P.total * 4);
    }
    rp_set_threads(1);
    cr_assert_eq(memcmp(c.y, y1, c.n * 4), 0);
    cr_assert_eq(memcmp(c.dx, dx1, c.n * 4), 0);
    cr_assert_eq(memcmp(c.P.grad, g1, c.P.total * 4), 0);
    free(y1); free(g1); free(dx1);
    teardown(&c);
}

Test(transformer, threads_match_one_thread_batchnorm) { check_threads_match(NORM_BATCH); }
Test(transformer, threads_match_one_thread_layernorm) { check_threads_match(NORM_LAYER); }

Test(transformer, rejects_bad_configuration) {
    rp_params P;
    params_init(&P);
    rp_transformer t;
    rp_error err;
    cr_assert_eq(transformer_declare(&t, &P, "backbone", 42, 16, 3, 2, 64, 0.1f, NORM_BATCH, &err), -1);
    cr_assert(strstr(err.msg, "n_heads"), "%s", err.msg);
    cr_assert_eq(transformer_declare(&t, &P, "bb", 42, 16, 4, 2, 64, 1.0f, NORM_BATCH, &err), -1);
    cr_assert(strstr(err.msg, "dropout"), "%s", err.msg);
    params_free(&P);
}
