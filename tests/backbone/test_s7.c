/* S7: the selective scan against a double-precision reference and central finite differences
 * (w.r.t. its input, projection, Λ and D, over several tokens so the recurrence matters, with maps
 * inside and far outside the bound's bend); the maps' bound for any magnitude; the full stack's
 * gradients (every trainable tensor and the input, layer and batch norm, with dropout on);
 * stability of the transition for extreme inputs and over a 10,000-step sequence, and the stack's
 * output growing at most linearly with its input (what the bounded maps guarantee). */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../gradcheck.h"
#include "backbone/s7.h"
#include "stack_harness.h"

/* ---- the scan on its own -------------------------------------------------------------------- */

typedef struct scan_case {
    int B, K, d, N;
    float *x, *z, *lambda, *skip, *y, *h, *r;
} scan_case;

static scan_case scan_case_new(int B, int K, int d, int N) {
    scan_case c = {.B = B, .K = K, .d = d, .N = N};
    size_t R = (size_t)B * K;
    c.x = malloc(R * d * sizeof(float));
    c.z = malloc(R * (d + 2 * N) * sizeof(float));
    c.lambda = malloc((size_t)d * N * sizeof(float));
    c.skip = malloc((size_t)d * sizeof(float));
    c.y = malloc(R * d * sizeof(float));
    c.h = malloc(R * d * N * sizeof(float));
    c.r = malloc(R * d * sizeof(float));
    gc_fill_uniform(c.x, R * d, 1, -1.0, 1.0);
    gc_fill_uniform(c.z, R * (d + 2 * N), 2, -1.0, 1.0);
    /* Λ over a range that gives transitions from negative through ~0.9, A = Λ + δ crossing 0 nowhere
     * near a kink (the map is smooth everywhere). */
    gc_fill_uniform(c.lambda, (size_t)d * N, 3, -3.0, 3.0);
    gc_fill_uniform(c.skip, (size_t)d, 4, -1.0, 1.0);
    gc_fill_uniform(c.r, R * d, 5, -1.0, 1.0);
    return c;
}

static void scan_case_free(scan_case *c) {
    free(c->x); free(c->z); free(c->lambda); free(c->skip); free(c->y); free(c->h); free(c->r);
}

/* Multiplies the input and output maps β̃, γ̃ of every token (not δ) by k. */
static void scale_maps(scan_case *c, float k) {
    const int zw = c->d + 2 * c->N;
    for (size_t row = 0; row < (size_t)c->B * c->K; row++)
        for (int j = c->d; j < zw; j++) c->z[row * zw + j] *= k;
}

static double scan_loss(void *ctx) {
    scan_case *c = ctx;
    s7_scan_forward(c->y, c->h, c->x, c->z, c->lambda, c->skip, c->B, c->K, c->d, c->N);
    return gc_dot(c->r, c->y, (size_t)c->B * c->K * c->d);
}

Test(s7_scan, forward_matches_double_reference) {
    scan_case c = scan_case_new(2, 9, 3, 4);
    scale_maps(&c, 3.0f); /* maps well into the bound's bend (‖v‖²/N ≈ 3) */
    s7_scan_forward(c.y, c.h, c.x, c.z, c.lambda, c.skip, c.B, c.K, c.d, c.N);
    const int d = c.d, N = c.N, zw = d + 2 * N;
    for (int b = 0; b < c.B; b++) {
        double h[3][4] = {{0}};
        for (int t = 0; t < c.K; t++) {
            size_t row = (size_t)b * c.K + t;
            const float *z = c.z + row * zw, *x = c.x + row * d;
            /* the bounded maps β = β̃ / sqrt(1 + ‖β̃‖²/N), γ likewise */
            double qb = 0, qg = 0, beta[4], gamma[4];
            for (int n = 0; n < N; n++) {
                qb += (double)z[d + n] * z[d + n];
                qg += (double)z[d + N + n] * z[d + N + n];
            }
            for (int n = 0; n < N; n++) {
                beta[n] = z[d + n] / sqrt(1.0 + qb / N);
                gamma[n] = z[d + N + n] / sqrt(1.0 + qg / N);
            }
            for (int ch = 0; ch < d; ch++) {
                double y = c.skip[ch] * (double)x[ch];
                for (int n = 0; n < N; n++) {
                    double a = (double)c.lambda[ch * N + n] + z[ch];
                    double abar = (1.0 - RP_S7_EPS) * (1.0 - 1.0 / (a * a + 0.5));
                    h[ch][n] = abar * h[ch][n] + (1.0 - abar) * beta[n] * x[ch];
                    y += gamma[n] * h[ch][n];
                }
                cr_assert(fabs(y - c.y[row * d + ch]) < 1e-5, "b %d t %d c %d: %g vs %g", b, t, ch, y,
                          (double)c.y[row * d + ch]);
            }
        }
    }
    scan_case_free(&c);
}

static void check_scan_gradients(float map_scale, double atol_scale) {
    scan_case c = scan_case_new(2, 7, 3, 4);
    scale_maps(&c, map_scale);
    const int d = c.d, N = c.N;
    size_t R = (size_t)c.B * c.K, nz = R * (d + 2 * N);
    float *dx = calloc(R * d, sizeof(float)), *dz = calloc(nz, sizeof(float));
    float *dlambda = calloc((size_t)d * N, sizeof(float)), *dskip = calloc((size_t)d, sizeof(float));
    float *work = malloc(s7_scan_work_floats(c.B, d, N) * sizeof(float));
    s7_scan_forward(c.y, c.h, c.x, c.z, c.lambda, c.skip, c.B, c.K, d, N);
    s7_scan_backward(dx, dz, dlambda, dskip, work, c.r, c.x, c.z, c.h, c.lambda, c.skip, c.B, c.K, d, N);

    gc_options opt = GC_OPTIONS(1e-3, 1e-2, 1e-4);
    opt.atol_scale = atol_scale;
    gc_result r;
    r = gradcheck(scan_loss, &c, c.x, dx, R * d, opt, "scan dx");
    cr_assert(r.ok, "%s", r.msg);
    r = gradcheck(scan_loss, &c, c.z, dz, nz, opt, "scan dz (delta, beta, gamma)");
    cr_assert(r.ok, "%s", r.msg);
    r = gradcheck(scan_loss, &c, c.lambda, dlambda, (size_t)d * N, opt, "scan dlambda");
    cr_assert(r.ok, "%s", r.msg);
    r = gradcheck(scan_loss, &c, c.skip, dskip, (size_t)d, opt, "scan dskip");
    cr_assert(r.ok, "%s", r.msg);

    /* Backward accumulates: a second call adds the same amounts again. */
    float *dx2 = malloc(R * d * sizeof(float));
    memcpy(dx2, dx, R * d * sizeof(float));
    memset(dz, 0, nz * sizeof(float));
    s7_scan_backward(dx2, dz, dlambda, dskip, work, c.r, c.x, c.z, c.h, c.lambda, c.skip, c.B, c.K, d, N);
    for (size_t i = 0; i < R * d; i++) cr_assert_float_eq(dx2[i], 2.0f * dx[i], 1e-5f * (1.0f + fabsf(dx[i])));

    free(dx); free(dx2); free(dz); free(dlambda); free(dskip); free(work);
    scan_case_free(&c);
}

Test(s7_scan, gradients_match_finite_differences) { check_scan_gradients(1.0f, 0.0); }

/* Maps of norm well past √N, where the bound bends them most (s ≈ 0.5). The outputs, and with them
 * the loss's rounding noise, are larger: the smallest gradients get an allowance of 1e-4 × the
 * largest (4.5 here; a δ entry of −1.75e-3 has numeric −1.59e-3 at h = 1e-3, −1.80e-3 at 3e-3 and
 * −1.88e-3 at 3e-4: noise, not a bias). */
Test(s7_scan, gradients_match_finite_differences_large_maps) { check_scan_gradients(3.0f, 1e-4); }

Test(s7_scan, backward_independent_of_thread_count) {
    /* Each window sums its own share of ∂L/∂Λ and ∂L/∂D; the shares are added in window order. */
    scan_case c = scan_case_new(5, 6, 3, 4);
    const int d = c.d, N = c.N;
    size_t R = (size_t)c.B * c.K, nz = R * (d + 2 * N);
    float *work = malloc(s7_scan_work_floats(c.B, d, N) * sizeof(float));
    float *dz[2], *dlambda[2], *dskip[2], *dx[2];
    s7_scan_forward(c.y, c.h, c.x, c.z, c.lambda, c.skip, c.B, c.K, d, N);
    for (int k = 0; k < 2; k++) {
        dx[k] = calloc(R * d, sizeof(float));
        dz[k] = calloc(nz, sizeof(float));
        dlambda[k] = calloc((size_t)d * N, sizeof(float));
        dskip[k] = calloc((size_t)d, sizeof(float));
        omp_set_num_threads(k == 0 ? 1 : 3);
        s7_scan_backward(dx[k], dz[k], dlambda[k], dskip[k], work, c.r, c.x, c.z, c.h, c.lambda, c.skip, c.B,
                         c.K, d, N);
    }
    cr_assert(memcmp(dx[0], dx[1], R * d * sizeof(float)) == 0);
    cr_assert(memcmp(dz[0], dz[1], nz * sizeof(float)) == 0);
    cr_assert(memcmp(dlambda[0], dlambda[1], (size_t)d * N * sizeof(float)) == 0);
    cr_assert(memcmp(dskip[0], dskip[1], (size_t)d * sizeof(float)) == 0);
    for (int k = 0; k < 2; k++) { free(dx[k]); free(dz[k]); free(dlambda[k]); free(dskip[k]); }
    free(work);
    scan_case_free(&c);
}

/* ---- the bound of the input and output maps ------------------------------------------------- */

Test(s7_maps, bound_holds_for_every_magnitude) {
    /* Maps of every magnitude, from 1e-6 (s ≈ 1: a token can still write or read nothing) to the end
     * of the float range (the double path): s matches a double reference and the bounded map stays
     * in the ball of radius √N (strictly in exact arithmetic; after float rounding, once ‖v‖² ≫ N,
     * it may land on the sphere itself). */
    const int N = 16;
    const float scales[] = {1e-6f, 1e-2f, 0.3f, 1.0f, 3.0f, 1e2f, 1e4f, 1e10f, 1e18f, 1e20f, 1e30f, 3e38f};
    float v[16];
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
        gc_fill_uniform(v, N, 41 + k, -1.0, 1.0);
        double q = 0;
        for (int n = 0; n < N; n++) {
            v[n] *= scales[k];
            q += (double)v[n] * v[n];
        }
        float s = s7_map_scale(v, N);
        double ref = 1.0 / sqrt(1.0 + q / N), norm2 = 0;
        cr_assert(fabs(s - ref) <= 1e-6 * ref, "scale %g: s = %g, reference %g", (double)scales[k], (double)s, ref);
        for (int n = 0; n < N; n++) norm2 += ((double)s * v[n]) * ((double)s * v[n]);
        cr_assert(norm2 <= N * (1.0 + 1e-6), "scale %g: |s v|^2 = %.9g > N = %d", (double)scales[k], norm2, N);
        if (scales[k] <= 1e-2f) cr_assert(s > 1.0f - 1e-4f);
    }
}

/* ---- the stack ------------------------------------------------------------------------------ */

static size_t s7_stack_act_floats(const stack_case *c) { return s7_act_floats(&c->s, c->B); }

static void s7_stack_forward(stack_case *c) {
    s7_forward(&c->s, &c->P, c->out, c->in, c->B, c->training, c->seed, c->act);
}

static void s7_stack_backward(stack_case *c) { s7_backward(&c->s, &c->P, c->din, c->r, c->B, c->act); }

static const stack_ops S7_STACK = {"s7", s7_stack_act_floats, s7_stack_forward, s7_stack_backward};

static void stack_case_init(stack_case *c, int B, int K, int d, int N, int layers, float dropout,
                            rp_norm_kind norm, int training) {
    memset(c, 0, sizeof *c);
    rp_error err;
    params_init(&c->P);
    cr_assert_eq(s7_declare(&c->s, &c->P, "backbone", K, d, layers, N, dropout, norm, &err), 0, "%s", err.msg);
    cr_assert_eq(params_alloc(&c->P, &err), 0, "%s", err.msg);
    rp_rng rng;
    rng_seed(&rng, 11, 0);
    s7_init(&c->s, &c->P, &rng);
    stack_case_buffers(c, &S7_STACK, B, K, d, training, 1234, 21, 22);
}

Test(s7_stack, gradients_layer_norm_eval) {
    stack_case c;
    stack_case_init(&c, 2, 6, 4, 3, 2, 0.0f, NORM_LAYER, 0);
    check_stack_gradients(&c, GC_OPTIONS(1e-2, 1e-2, 1e-4));
    stack_case_free(&c);
}

Test(s7_stack, gradients_batch_norm_training_with_dropout) {
    /* Dropout masks depend only on (seed, index): the same seed gives the same function, so finite
     * differences see exactly the network backward differentiates. */
    stack_case c;
    stack_case_init(&c, 3, 5, 4, 3, 2, 0.2f, NORM_BATCH, 1);
    check_stack_gradients(&c, GC_OPTIONS(1e-2, 1e-2, 1e-4));
    stack_case_free(&c);
}

Test(s7_stack, parameter_names_and_shapes) {
    stack_case c;
    stack_case_init(&c, 1, 4, 4, 3, 2, 0.0f, NORM_BATCH, 0);
    const rp_tensor_info *t = params_find(&c.P, "backbone/layers/1/in_proj/weight");
    cr_assert(t && t->shape[0] == 4 + 2 * 3 && t->shape[1] == 4);
    t = params_find(&c.P, "backbone/layers/0/lambda");
    cr_assert(t && t->shape[0] == 4 && t->shape[1] == 3);
    cr_assert(params_find(&c.P, "backbone/layers/0/skip"));
    t = params_find(&c.P, "backbone/layers/0/out_proj/weight");
    cr_assert(t && t->shape[0] == 8 && t->shape[1] == 4);
    t = params_find(&c.P, "backbone/layers/1/norm/running_var");
    cr_assert(t && !t->trainable);
    stack_case_free(&c);
}

Test(s7_stack, declare_rejects_bad_sizes) {
    rp_s7 s;
    rp_params P;
    rp_error err;
    params_init(&P);
    cr_assert_eq(s7_declare(&s, &P, "backbone", 4, 8, 2, 0, 0.0f, NORM_BATCH, &err), -1);
    cr_assert(strstr(err.msg, "state_size 0"), "%s", err.msg);
    cr_assert_eq(s7_declare(&s, &P, "backbone", 4, 8, 0, 4, 0.0f, NORM_BATCH, &err), -1);
    cr_assert_eq(s7_declare(&s, &P, "backbone", 4, 8, 2, 4, 1.0f, NORM_BATCH, &err), -1);
    params_free(&P);
}

/* ---- stability -------------------------------------------------------------------------------- */

Test(s7_stability, transition_map_stays_inside_unit_circle) {
    const float a[] = {0.0f, -0.0f, 1e-20f, 0.7071f, 1.0f, -1.0f, 1e2f, -1e2f, 1e4f, -1e4f, 1e8f, -1e8f,
                       1e20f, -1e20f, 3e38f, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        float t = s7_transition(a[i]);
        cr_assert(fabsf(t) < 1.0f, "a = %g gives transition %.9g", (double)a[i], (double)t);
        cr_assert(fabsf(t) <= 1.0f - RP_S7_EPS + 1e-7f, "a = %g gives transition %.9g", (double)a[i], (double)t);
        if (isfinite(a[i])) cr_assert(isfinite(s7_transition_grad(a[i])), "a = %g", (double)a[i]);
    }
}

Test(s7_stability, extreme_inputs_keep_transitions_stable) {
    const int B = 2, K = 16, d = 4, N = 3;
    stack_case c;
    stack_case_init(&c, B, K, d, N, 2, 0.0f, NORM_BATCH, 1);
    for (size_t i = 0; i < c.n; i++) c.in[i] = (i * 2654435761u) % 3 == 0 ? -1e4f : 1e4f;
    s7_forward(&c.s, &c.P, c.out, c.in, B, 1, 0, c.act);
    size_t na = (size_t)B * K * d * N;
    float *abar = malloc(na * sizeof(float));
    for (int l = 0; l < 2; l++) {
        s7_transitions(&c.s, &c.P, l, B, c.act, abar);
        for (size_t i = 0; i < na; i++)
            cr_assert(isfinite(abar[i]) && fabsf(abar[i]) < 1.0f, "layer %d: |A| = %g", l, (double)abar[i]);
    }
    for (size_t i = 0; i < c.n; i++) cr_assert(isfinite(c.out[i]));
    free(abar);
    stack_case_free(&c);
}

Test(s7_stability, ten_thousand_steps_stay_finite) {
    const int K = 10000, d = 4, N = 4;
    stack_case c;
    stack_case_init(&c, 1, K, d, N, 2, 0.0f, NORM_BATCH, 1);
    /* Large, persistent inputs: the worst case for a recurrence that could drift. */
    gc_fill_uniform(c.in, c.n, 31, -1e4, 1e4);
    s7_forward(&c.s, &c.P, c.out, c.in, 1, 1, 0, c.act);
    for (size_t i = 0; i < c.n; i++) cr_assert(isfinite(c.out[i]), "out[%zu] = %g", i, (double)c.out[i]);
    params_zero_grad(&c.P);
    s7_backward(&c.s, &c.P, c.din, c.r, 1, c.act);
    for (size_t i = 0; i < c.n; i++) cr_assert(isfinite(c.din[i]), "din[%zu] = %g", i, (double)c.din[i]);
    for (size_t i = 0; i < c.P.total; i++) cr_assert(isfinite(c.P.grad[i]), "grad[%zu] = %g", i, (double)c.P.grad[i]);
    stack_case_free(&c);
}

Test(s7_stability, output_grows_at_most_linearly_with_input) {
    /* The failure the bounded maps remove: with raw maps, y = γ(x)·h(β(x)·x) is cubic in a layer's
     * input and three layers a polynomial of degree 27, which batch norm in evaluation (an affine
     * map with running statistics) passes on unchecked: on ETTh1, validation windows whose tokens
     * reached |x| ~13 (typical ~3) got forecast errors of ~4,000 (window MSE up to 1.9e7).
     * Bounded, every part of a layer (projections, scan, GELU, gate, residual, affine norm) grows
     * at most linearly, so scaling the input by s scales the output by at most about s. Checked on the deployed shape
     * (3 layers, batch norm, evaluation) with inputs scaled 1× … 1e4×: the ratio below stays under
     * 2 (worst at s = 10); with raw maps it is 124 at s = 3, 2e10 at s = 10, and the output is NaN
     * at s = 1000. */
    const int B = 4, K = 12, d = 8, N = 8;
    stack_case c;
    stack_case_init(&c, B, K, d, N, 3, 0.0f, NORM_BATCH, 0);
    float *base = malloc(c.n * sizeof(float));
    memcpy(base, c.in, c.n * sizeof(float));
    double out1 = 0;
    const float scales[] = {1.0f, 3.0f, 10.0f, 30.0f, 100.0f, 1e3f, 1e4f};
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
        for (size_t i = 0; i < c.n; i++) c.in[i] = scales[k] * base[i];
        s7_forward(&c.s, &c.P, c.out, c.in, B, 0, 0, c.act);
        double mx = 0;
        for (size_t i = 0; i < c.n; i++) {
            cr_assert(isfinite(c.out[i]), "scale %g: out[%zu] = %g", (double)scales[k], i, (double)c.out[i]);
            if (fabs(c.out[i]) > mx) mx = fabs(c.out[i]);
        }
        if (k == 0) out1 = mx;
        double ratio = mx / (scales[k] * out1);
        cr_assert(ratio < 8.0, "scale %g: max |out| %g = %g x scale x max |out| at scale 1", (double)scales[k],
                  mx, ratio);
    }
    free(base);
    stack_case_free(&c);
}
