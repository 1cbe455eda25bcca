/* Policy features, the boundary net (backward vs finite differences) and its prior/init. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "core/rng.h"
#include "levels/sampler.h"
#include "levels/features.h"
#include "levels/policy_net.h"

Test(policy_features, level1_on_a_ramp) {
    float x[12], f[12 * POLICY_FEATURES_LEVEL1];
    for (int t = 0; t < 12; t++) x[t] = 2.0f * t + 1.0f;
    policy_features_level1(x, 12, f, POLICY_FEATURES_LEVEL1);
    for (int t = 0; t < 12; t++) {
        const float *ft = f + t * POLICY_FEATURES_LEVEL1;
        cr_assert_float_eq(ft[0], x[t], 0);
        cr_assert_float_eq(ft[1], t ? 2.0f : 0.0f, 0);
        if (t >= 2 && t <= 9) {
            cr_assert_float_eq(ft[2], x[t], 1e-5);
            cr_assert_float_eq(ft[3], 2.0f * sqrtf(2.0f), 1e-5); /* std of {-4,-2,0,2,4} */
        }
    }
    /* Clipped window at t = 0: {1, 3, 5}: mean 3, std sqrt(8/3). */
    cr_assert_float_eq(f[2], 3.0f, 1e-6);
    cr_assert_float_eq(f[3], sqrtf(8.0f / 3.0f), 1e-6);
}

/* policy.position: one more column, 2u/(n-1) - 1, written at any stride without touching the
 * other columns; the base features are the same at a wider stride. */
Test(policy_features, position_column) {
    enum { L = 9, F = POLICY_FEATURES_LEVEL1 + 1 };
    float x[L], narrow[L * POLICY_FEATURES_LEVEL1], wide[L * F];
    for (int t = 0; t < L; t++) x[t] = sinf(0.7f * t);
    policy_features_level1(x, L, narrow, POLICY_FEATURES_LEVEL1);
    for (int i = 0; i < L * F; i++) wide[i] = 99.0f;
    policy_features_level1(x, L, wide, F);
    for (int t = 0; t < L; t++) {
        for (int j = 0; j < POLICY_FEATURES_LEVEL1; j++)
            cr_assert_eq(wide[t * F + j], narrow[t * POLICY_FEATURES_LEVEL1 + j], "t=%d j=%d", t, j);
        cr_assert_eq(wide[t * F + F - 1], 99.0f, "the base features leave the extra column alone");
    }
    policy_features_position(wide, L, F, F - 1);
    cr_assert_float_eq(wide[F - 1], -1.0f, 0);
    cr_assert_float_eq(wide[(L - 1) * F + F - 1], 1.0f, 0);
    cr_assert_float_eq(wide[4 * F + F - 1], 0.0f, 1e-7);
    cr_assert_float_eq(wide[2 * F + F - 1], -0.5f, 1e-7);
    for (int t = 0; t < L; t++) cr_assert_eq(wide[t * F], narrow[t * POLICY_FEATURES_LEVEL1], "column 0 kept");
    float one[1] = {5.0f};
    policy_features_position(one, 1, 1, 0);
    cr_assert_eq(one[0], 0.0f, "a single unit sits at 0");
}

Test(policy_features, patches_mean_std_slope_length_ends) {
    float x[10] = {1, 3, 5, 7, 0, 0, 4, 2, 2, 2};
    int starts[3] = {0, 4, 6};
    float f[3 * POLICY_FEATURES_PATCHES];
    policy_features_patches(x, 10, starts, 3, f, POLICY_FEATURES_PATCHES);
    const float *a = f, *b = f + POLICY_FEATURES_PATCHES, *c = f + 2 * POLICY_FEATURES_PATCHES;
    cr_assert_float_eq(a[0], 4.0f, 1e-6);
    cr_assert_float_eq(a[1], sqrtf(5.0f), 1e-6);
    cr_assert_float_eq(a[2], 2.0f, 1e-6);
    cr_assert_float_eq(a[3], 4.0f * 3 / 10 - 1, 1e-6);
    cr_assert_float_eq(a[4], 1.0f, 0);
    cr_assert_float_eq(a[5], 7.0f, 0);
    cr_assert_float_eq(b[1], 0.0f, 0);
    cr_assert_float_eq(b[2], 0.0f, 0);
    cr_assert_float_eq(c[0], 2.5f, 1e-6);
    cr_assert_float_eq(c[2], -0.6f, 1e-6); /* LS slope of {4,2,2,2} over t = 0..3 */
    cr_assert_float_eq(c[4], 4.0f, 0);
    cr_assert_float_eq(c[5], 2.0f, 0);
}

/* ---- net ------------------------------------------------------------------------------------- */

typedef struct net_case {
    rp_params P;
    rp_policy_net net;
    float *feat, *logits, *act, *coef;
    int B;
} net_case;

static void net_case_build(net_case *c, int n, int F, int C, int k, int layers, int B, double rate) {
    rp_error err;
    params_init(&c->P);
    cr_assert_eq(policy_net_declare(&c->net, &c->P, "levels/0/policy", n, F, C, k, layers, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(params_alloc(&c->P, &err), 0);
    rp_rng r;
    rng_seed(&r, 17, (uint64_t)layers);
    policy_net_init(&c->net, &c->P, &r);
    cr_assert_eq(policy_net_set_prior(&c->net, &c->P, rate, 2.0, &err), 0, "%s", err.msg);
    c->B = B;
    c->feat = malloc(sizeof(float) * (size_t)B * n * F);
    c->logits = malloc(sizeof(float) * (size_t)B * (n - 1));
    c->coef = malloc(sizeof(float) * (size_t)B * (n - 1));
    c->act = malloc(sizeof(float) * policy_net_act_floats(&c->net, B));
    for (int i = 0; i < B * n * F; i++) c->feat[i] = (float)rng_normal(&r);
    for (int i = 0; i < B * (n - 1); i++) c->coef[i] = (float)rng_normal(&r);
}

static void net_case_free(net_case *c) {
    free(c->feat); free(c->logits); free(c->coef); free(c->act);
    params_free(&c->P);
}

static double net_loss(net_case *c) {
    policy_net_forward(&c->net, &c->P, c->logits, c->feat, c->B, c->act);
    double s = 0;
    for (int i = 0; i < c->B * (c->net.n_units - 1); i++) s += (double)c->coef[i] * c->logits[i];
    return s;
}

static void check_net_gradients(int n, int F, int C, int k, int layers, int B) {
    net_case c;
    net_case_build(&c, n, F, C, k, layers, B, 4.0);
    rp_rng r;
    rng_seed(&r, 5, 0);
    /* A non-zero output layer, so that gradients reach the convolutions. */
    float *ow = c.P.value + c.net.out_w;
    for (int i = 0; i < 2 * (layers ? C : F); i++) ow[i] = (float)(0.5 * rng_normal(&r));
    c.P.value[c.net.out_b] = 0.3f;
    params_zero_grad(&c.P);
    net_loss(&c);
    policy_net_backward(&c.net, &c.P, c.coef, B, c.act);
    int checked = 0;
    for (int t = 0; t < c.P.n_tensors; t++) {
        const rp_tensor_info *ti = &c.P.tensors[t];
        for (size_t i = 0; i < ti->count; i++) {
            float *v = c.P.value + ti->offset + i;
            float keep = *v;
            const float h = 1e-2f;
            *v = keep + h;
            double up = net_loss(&c);
            *v = keep - h;
            double dn = net_loss(&c);
            *v = keep;
            double fd = (up - dn) / (2.0 * h), an = c.P.grad[ti->offset + i];
            if (!ti->trainable) {
                cr_assert_eq(an, 0.0, "%s gets a gradient", ti->name);
                continue;
            }
            cr_assert(fabs(fd - an) <= 2e-3 + 1e-2 * fabs(fd), "layers=%d %s[%zu]: analytic %.6f, numeric %.6f",
                      layers, ti->name, i, an, fd);
            checked++;
        }
    }
    cr_assert_gt(checked, 5);
    net_case_free(&c);
}

typedef struct net_shape {
    int n, features, channels, kernel, layers, batch;
} net_shape;

ParameterizedTestParameters(policy_net, backward_matches_finite_differences) {
    static net_shape shapes[] = {{17, 4, 6, 3, 2, 3}, {9, 6, 5, 5, 1, 2}, {6, 4, 3, 1, 3, 2}, {8, 4, 3, 3, 0, 2}};
    return cr_make_param_array(net_shape, shapes, sizeof shapes / sizeof *shapes);
}

ParameterizedTest(net_shape *s, policy_net, backward_matches_finite_differences) {
    check_net_gradients(s->n, s->features, s->channels, s->kernel, s->layers, s->batch);
}

/* Backward accumulates: two calls give twice the gradient. */
Test(policy_net, backward_accumulates) {
    net_case c;
    net_case_build(&c, 12, 4, 4, 3, 2, 2, 3.0);
    float *ow = c.P.value + c.net.out_w;
    for (int i = 0; i < 8; i++) ow[i] = 0.1f * (float)(i + 1);
    params_zero_grad(&c.P);
    net_loss(&c);
    policy_net_backward(&c.net, &c.P, c.coef, c.B, c.act);
    float *once = malloc(sizeof(float) * c.P.total);
    memcpy(once, c.P.grad, sizeof(float) * c.P.total);
    net_loss(&c);
    policy_net_backward(&c.net, &c.P, c.coef, c.B, c.act);
    for (size_t i = 0; i < c.P.total; i++) cr_assert_float_eq(c.P.grad[i], 2 * once[i], 1e-5 * (1 + fabsf(once[i])));
    free(once);
    net_case_free(&c);
}

/* FLOPs from the declared weights: every weight multiplies once per unit of every window forward
 * (a 1-D conv is a product over the units), once more for its gradient, and once for the input
 * gradient of every layer but the first (conv 0, or the output layer of a net without convs): the
 * features take none. */
Test(policy_net, flops_follow_the_weights) {
    static const int shapes[][6] = {{17, 4, 6, 3, 2, 3}, {336, 4, 16, 5, 2, 128}, {8, 4, 3, 3, 0, 2}, {9, 6, 5, 5, 1, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int *sh = shapes[s];
        net_case c;
        net_case_build(&c, sh[0], sh[1], sh[2], sh[3], sh[4], sh[5], 3.0);
        double all = 0.0, first = 0.0, out = 0.0; /* weights (no biases, no prior); conv 0's; the output's */
        for (int k = 0; k < c.P.n_tensors; k++) {
            const rp_tensor_info *ti = &c.P.tensors[k];
            const char *name = ti->name + strlen("levels/0/policy/");
            if (strcmp(name + strlen(name) - 2, "/w") != 0) continue;
            all += (double)ti->count;
            if (!strcmp(name, "conv0/w")) first = (double)ti->count;
            if (!strcmp(name, "out/w")) out = (double)ti->count;
        }
        if (sh[4] == 0) first = out;
        const double rows = 2.0 * sh[5] * sh[0]; /* 2 × B × units */
        cr_assert_float_eq(policy_net_flops(&c.net, sh[5], 0), rows * all, 1e-9 * rows * all, "shape %zu", s);
        cr_assert_float_eq(policy_net_flops(&c.net, sh[5], 1), rows * (2.0 * all - first), 1e-9 * rows * all,
                           "shape %zu", s);
        net_case_free(&c);
    }
}

Test(policy_net, declare_errors_and_names) {
    rp_params P;
    rp_policy_net net;
    rp_error err;
    params_init(&P);
    cr_assert_eq(policy_net_declare(&net, &P, "levels/0/policy", 336, 4, 16, 4, 2, &err), -1);
    cr_assert_not_null(strstr(err.msg, "kernel=4"), "%s", err.msg);
    cr_assert_eq(policy_net_declare(&net, &P, "levels/0/policy", 1, 4, 16, 5, 2, &err), -1);
    cr_assert_eq(policy_net_declare(&net, &P, "levels/0/policy", 336, 4, 16, 5, 2, &err), 0);
    const rp_tensor_info *w = params_find(&P, "levels/0/policy/conv0/w");
    cr_assert_not_null(w);
    cr_assert_eq(w->ndim, 3);
    cr_assert_eq(w->shape[0], 16);
    cr_assert_eq(w->shape[1], 5);
    cr_assert_eq(w->shape[2], 4);
    cr_assert_not_null(params_find(&P, "levels/0/policy/conv1/b"));
    cr_assert_not_null(params_find(&P, "levels/0/policy/out/w"));
    const rp_tensor_info *prior = params_find(&P, "levels/0/policy/prior");
    cr_assert_not_null(prior);
    cr_assert_eq(prior->trainable, 0);
    cr_assert_eq(prior->shape[0], 335);
    params_free(&P);
}

/* ---- prior and initial behaviour ----------------------------------------------------------------- */

Test(policy_net, prior_shape) {
    float prior[335];
    cr_assert_eq(policy_prior(prior, 336, 8.0, 2.0, NULL), 0);
    for (int j = 0; j < 335; j++) {
        /* Distance to the nearest interior uniform start 8, 16, ..., 328 (none at 0 or 336). */
        int q = j + 1, d = 1000;
        for (int s = 8; s <= 328; s += 8) d = abs(q - s) < d ? abs(q - s) : d;
        cr_assert_float_eq(prior[j], -2.0f * d, 0, "gap %d", j);
    }
}

/* At init the net's scores are exactly zero, so logits == prior, greedy decoding reproduces
 * seg_uniform exactly, and sampling stays near it. */
typedef struct init_case {
    int n;
    double rate;
    int mn, mx;
    int stream; /* the sampling stream */
} init_case;

ParameterizedTestParameters(policy_net, init_greedy_is_uniform_and_sampling_stays_near) {
    static init_case cases[] = {
        {336, 8.0, 0, 0, 0}, {336, 8.0, 4, 16, 1}, {42, 4.0, 0, 0, 2}, {100, 3.7, 0, 0, 3},
        {50, 1.5, 0, 0, 4},  {96, 12.0, 0, 0, 5},  {337, 16.0, 1, 0, 6}, {10, 3.0, 0, 0, 7}};
    return cr_make_param_array(init_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(init_case *ic, policy_net, init_greedy_is_uniform_and_sampling_stays_near) {
    int n = ic->n;
    double rate = ic->rate;
    net_case c;
    net_case_build(&c, n, POLICY_FEATURES_LEVEL1, 8, 5, 2, 2, rate);
    net_loss(&c);
    float prior[400];
    cr_assert_eq(policy_prior(prior, n, rate, 2.0, NULL), 0);
    for (int b = 0; b < c.B; b++)
        for (int j = 0; j < n - 1; j++) cr_assert(c.logits[b * (n - 1) + j] == prior[j]);
    rp_seg_spec spec;
    rp_error err;
    cr_assert_eq(seg_spec_for_rate(&spec, n, rate, ic->mn, ic->mx, &err), 0, "%s", err.msg);
    void *work = malloc(seg_workspace_bytes(&spec));
    int uni[400], starts[400], order[400];
    cr_assert_eq(seg_uniform(n, rate, uni), spec.K);
    for (int b = 0; b < c.B; b++) {
        seg_greedy(&spec, c.logits + b * (n - 1), starts, order, work);
        cr_assert_eq(memcmp(starts, uni, sizeof(int) * (size_t)spec.K), 0, "n=%d rate=%g", n, rate);
    }
    /* Sampling: most boundaries land on the uniform grid (about 2/3 at prior_scale 2 for
     * n = 336, rate 8; docs/levels.md). */
    rp_rng r;
    rng_seed(&r, 3, (unsigned long long)ic->stream);
    int on = 0, total = 0;
    for (int t = 0; t < 200; t++) {
        seg_sample(&spec, c.logits, &r, starts, order, work);
        for (int k = 1; k < spec.K; k++) on += prior[starts[k] - 1] == 0.0f, total++;
    }
    if (total) cr_assert_gt((double)on / total, 0.5, "n=%d rate=%g: %d of %d on grid", n, rate, on, total);
    free(work);
    net_case_free(&c);
}
