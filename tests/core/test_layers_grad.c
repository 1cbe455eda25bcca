/* Every backward in core/ against central finite differences (tests/gradcheck.h), plus the exact
 * behaviours of dropout, batch-norm running statistics, Adam and the learning-rate schedules.
 *
 * Loss: L = Σ r · out with a fixed random r, computed in double. Tolerances: the forward runs in
 * float32 and the step is h = 1e-3 (1e-2 where the function is smooth and curvature small), so the
 * numeric derivative carries ~1e-4 of rounding noise; rtol 1e-2 with atol 1e-4..1e-3 sits a decade
 * above that and a decade below the O(1) relative error a missing term produces (checked by hand:
 * dropping the mean term of layer norm's or batch norm's backward fails by ratios > 10). */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/activation.h"
#include "core/adam.h"
#include "core/linear.h"
#include "core/loss.h"
#include "core/norm.h"
#include "core/params.h"
#include "core/revin.h"
#include "../gradcheck.h"


/* ---- linear --------------------------------------------------------------------------------------- */

typedef struct {
    int rows, in, out;
    float *x, *w, *b, *y, *r;
} linear_ctx;

static double linear_loss(void *p) {
    linear_ctx *c = p;
    linear_forward(c->y, c->x, c->w, c->b, c->rows, c->in, c->out);
    return gc_dot(c->r, c->y, (size_t)c->rows * c->out);
}

static void check_linear(int with_bias) {
    linear_ctx c = {.rows = 5, .in = 7, .out = 6};
    size_t nx = (size_t)c.rows * c.in, nw = (size_t)c.out * c.in, ny = (size_t)c.rows * c.out;
    float x[35], w[42], b[6], y[30], r[30], dx[35], dw[42], db[6];
    c.x = x; c.w = w; c.b = with_bias ? b : NULL; c.y = y; c.r = r;
    gc_fill_uniform(x, nx, 1, -1, 1);
    gc_fill_uniform(w, nw, 2, -1, 1);
    gc_fill_uniform(b, 6, 3, -1, 1);
    gc_fill_uniform(r, ny, 4, -1, 1);
    memset(dx, 0, sizeof dx); memset(dw, 0, sizeof dw); memset(db, 0, sizeof db);
    linear_backward(dx, dw, with_bias ? db : NULL, r, x, w, c.rows, c.in, c.out);
    gc_options o = GC_OPTIONS(1e-2, 1e-3, 1e-4);  /* linear: the central difference is exact up to rounding */
    CHECK(gradcheck(linear_loss, &c, x, dx, nx, o, "linear din"));
    CHECK(gradcheck(linear_loss, &c, w, dw, nw, o, "linear dW"));
    if (with_bias) CHECK(gradcheck(linear_loss, &c, b, db, 6, o, "linear db"));
}

Test(linear, gradients_with_bias) { check_linear(1); }
Test(linear, gradients_without_bias) { check_linear(0); }

Test(linear, forward_matches_definition_and_backward_accumulates) {
    float x[6] = {1, 2, 3, -1, 0.5f, 2};        /* 2 rows × 3 */
    float w[6] = {1, 0, -1, 2, 1, 0.5f};        /* 2 out × 3 in */
    float b[2] = {0.25f, -1};
    float y[4];
    linear_forward(y, x, w, b, 2, 3, 2);
    cr_assert_float_eq(y[0], 1 - 3 + 0.25f, 1e-6);
    cr_assert_float_eq(y[1], 2 + 2 + 1.5f - 1, 1e-6);
    cr_assert_float_eq(y[2], -1 - 2 + 0.25f, 1e-6);
    cr_assert_float_eq(y[3], -2 + 0.5f + 1 - 1, 1e-6);
    float dy[4] = {1, 2, 3, 4}, dx[6] = {0}, dw[6] = {0}, db[2] = {0};
    linear_backward(dx, dw, db, dy, x, w, 2, 3, 2);
    float dx1[6], dw1[6], db1[2];
    memcpy(dx1, dx, sizeof dx); memcpy(dw1, dw, sizeof dw); memcpy(db1, db, sizeof db);
    linear_backward(dx, dw, db, dy, x, w, 2, 3, 2);
    for (int i = 0; i < 6; i++) {
        cr_assert_float_eq(dx[i], 2 * dx1[i], 1e-6);
        cr_assert_float_eq(dw[i], 2 * dw1[i], 1e-6);
    }
    cr_assert_float_eq(db[0], 8, 1e-6);
    cr_assert_float_eq(db[1], 12, 1e-6);
}

Test(linear, backward_pieces_match_whole) {
    enum { R = 9, I = 5, O = 7 };
    float x[R * I], w[O * I], dy[R * O];
    float dx1[R * I] = {0}, dw1[O * I] = {0}, db1[O] = {0}, dx2[R * I], dw2[O * I] = {0}, db2[O] = {0};
    gc_fill_uniform(x, R * I, 5, -1, 1);
    gc_fill_uniform(w, O * I, 6, -1, 1);
    gc_fill_uniform(dy, R * O, 7, -1, 1);
    linear_backward(dx1, dw1, db1, dy, x, w, R, I, O);
    for (int i = 0; i < R * I; i++) dx2[i] = 123.0f;   /* beta = 0 overwrites */
    linear_backward_input(dx2, dy, w, R, I, O, 0.0f);
    linear_backward_params(dw2, db2, dy, x, R, I, O, 0, 3);
    linear_backward_params(dw2, db2, dy, x, R, I, O, 3, O);
    for (int i = 0; i < R * I; i++) cr_assert_float_eq(dx2[i], dx1[i], 1e-6f);
    for (int i = 0; i < O * I; i++) cr_assert_float_eq(dw2[i], dw1[i], 1e-6f);
    for (int i = 0; i < O; i++) cr_assert_float_eq(db2[i], db1[i], 1e-6f);
}

Test(linear, bias_gradient_column_sums_large) {
    /* big enough to take the threaded path; each column must equal its sum over the rows */
    enum { R = 5000, C = 40 };
    float *x = malloc((size_t)R * C * 4), acc[C];
    gc_fill_uniform(x, (size_t)R * C, 9, -1, 1);
    for (int j = 0; j < C; j++) acc[j] = 1.0f;
    rp_add_column_sums(acc, x, R, C);
    for (int j = 0; j < C; j++) {
        double s = 1.0;
        for (int r = 0; r < R; r++) s += x[(size_t)r * C + j];
        cr_assert_lt(fabs(acc[j] - s), 1e-3, "column %d: %g vs %g", j, acc[j], s);
    }
    free(x);
}

/* ---- layer norm ----------------------------------------------------------------------------------- */

typedef struct {
    int rows, dim;
    float *x, *g, *b, *y, *r, *mean, *rstd;
} ln_ctx;

static double ln_loss(void *p) {
    ln_ctx *c = p;
    layernorm_forward(c->y, c->mean, c->rstd, c->x, c->g, c->b, c->rows, c->dim);
    return gc_dot(c->r, c->y, (size_t)c->rows * c->dim);
}

static void check_layernorm(int rows, int dim) {
    size_t n = (size_t)rows * dim;
    float *x = malloc(n * 4), *y = malloc(n * 4), *r = malloc(n * 4), *dx = calloc(n, 4);
    float g[32], b[32], dg[32] = {0}, db[32] = {0}, mean[64], rstd[64];
    gc_fill_uniform(x, n, 11, -2, 3);
    gc_fill_uniform(g, dim, 12, 0.5, 1.5);
    gc_fill_uniform(b, dim, 13, -0.5, 0.5);
    gc_fill_uniform(r, n, 14, -1, 1);
    ln_ctx c = {rows, dim, x, g, b, y, r, mean, rstd};
    ln_loss(&c);
    layernorm_backward(dx, dg, db, r, x, mean, rstd, g, rows, dim);
    /* rounding noise of the 64-term float loss is ~1e-6, i.e. ~5e-5 in the derivative at h = 1e-2;
     * truncation ~h²·rstd³/6 ≈ 2e-5. Entries of the gradient are O(0.1..1). */
    gc_options o = GC_OPTIONS(1e-2, 1e-2, 2e-4);
    CHECK(gradcheck(ln_loss, &c, x, dx, n, o, "layernorm din"));
    CHECK(gradcheck(ln_loss, &c, g, dg, (size_t)dim, o, "layernorm dgamma"));
    CHECK(gradcheck(ln_loss, &c, b, db, (size_t)dim, o, "layernorm dbeta"));
    free(x); free(y); free(r); free(dx);
}

Test(layernorm, gradients) { check_layernorm(4, 16); }
Test(layernorm, gradients_odd_width) { check_layernorm(3, 5); }

Test(layernorm, rows_are_normalised) {
    float x[16], y[16], g[16], b[16], mean[1], rstd[1];
    gc_fill_uniform(x, 16, 5, 10, 12);
    for (int j = 0; j < 16; j++) { g[j] = 1; b[j] = 0; }
    layernorm_forward(y, mean, rstd, x, g, b, 1, 16);
    double s = 0, s2 = 0;
    for (int j = 0; j < 16; j++) { s += y[j]; s2 += (double)y[j] * y[j]; }
    cr_assert_lt(fabs(s / 16), 1e-5);
    /* biased variance with eps = 1e-5 in the denominator */
    double var = 0, m = 0;
    for (int j = 0; j < 16; j++) m += x[j];
    m /= 16;
    for (int j = 0; j < 16; j++) var += (x[j] - m) * (x[j] - m);
    var /= 16;
    cr_assert_lt(fabs(s2 / 16 - var / (var + 1e-5)), 1e-5);
}

/* ---- batch norm ----------------------------------------------------------------------------------- */

typedef struct {
    int rows, dim, training;
    float *x, *g, *b, *y, *r, *mean, *rstd, *rm, *rv;
} bn_ctx;

static double bn_loss(void *p) {
    bn_ctx *c = p;
    /* Running statistics are not part of the training-mode function: leave them out (NULL). */
    batchnorm_forward(c->y, c->mean, c->rstd, c->x, c->g, c->b, c->training ? NULL : c->rm,
                      c->training ? NULL : c->rv, c->rows, c->dim, c->training, 0.1f);
    return gc_dot(c->r, c->y, (size_t)c->rows * c->dim);
}

static void check_batchnorm(int training) {
    enum { R = 9, D = 6 };
    float x[R * D], y[R * D], r[R * D], dx[R * D] = {0};
    float g[D], b[D], dg[D] = {0}, db[D] = {0}, mean[D], rstd[D], rm[D], rv[D];
    gc_fill_uniform(x, R * D, 21, -1, 2);
    gc_fill_uniform(g, D, 22, 0.5, 1.5);
    gc_fill_uniform(b, D, 23, -0.5, 0.5);
    gc_fill_uniform(r, R * D, 24, -1, 1);
    gc_fill_uniform(rm, D, 25, -0.5, 0.5);
    gc_fill_uniform(rv, D, 26, 0.5, 2);
    bn_ctx c = {R, D, training, x, g, b, y, r, mean, rstd, rm, rv};
    bn_loss(&c);
    batchnorm_backward(dx, dg, db, r, x, mean, rstd, g, R, D, training);
    gc_options o = GC_OPTIONS(1e-2, 1e-2, 2e-4);   /* as for layer norm */
    CHECK(gradcheck(bn_loss, &c, x, dx, R * D, o, training ? "batchnorm din (training)" : "batchnorm din (eval)"));
    CHECK(gradcheck(bn_loss, &c, g, dg, D, o, "batchnorm dgamma"));
    CHECK(gradcheck(bn_loss, &c, b, db, D, o, "batchnorm dbeta"));
}

Test(batchnorm, gradients_training) { check_batchnorm(1); }
Test(batchnorm, gradients_eval) { check_batchnorm(0); }

Test(batchnorm, running_statistics_follow_pytorch) {
    /* one feature, rows {1, 2, 3, 6}: mean 3, biased var 3.5, unbiased var 14/3 */
    float x[4] = {1, 2, 3, 6}, y[4], g[1] = {1}, b[1] = {0}, mean[1], rstd[1];
    float rm[1] = {0.5f}, rv[1] = {2.0f};
    batchnorm_forward(y, mean, rstd, x, g, b, rm, rv, 4, 1, 1, 0.1f);
    cr_assert_float_eq(mean[0], 3.0f, 1e-6);
    cr_assert_float_eq(rstd[0], (float)(1.0 / sqrt(3.5 + 1e-5)), 1e-6);
    cr_assert_float_eq(rm[0], 0.9f * 0.5f + 0.1f * 3.0f, 1e-6);
    cr_assert_float_eq(rv[0], (float)(0.9 * 2.0 + 0.1 * 14.0 / 3.0), 1e-6);
    cr_assert_float_eq(y[3], (float)(3.0 / sqrt(3.5 + 1e-5)), 1e-5);
    /* eval: normalise with the running statistics, leave them alone */
    float rm0 = rm[0], rv0 = rv[0];
    batchnorm_forward(y, mean, rstd, x, g, b, rm, rv, 4, 1, 0, 0.1f);
    cr_assert_eq(rm[0], rm0);
    cr_assert_eq(rv[0], rv0);
    cr_assert_float_eq(y[0], (float)((1.0 - rm0) / sqrt(rv0 + 1e-5)), 1e-5);
}

Test(batchnorm, gradients_wide_layer) {
    /* more features than one block of column statistics (64) */
    enum { R = 7, D = 70 };
    float *x = malloc(R * D * 4), *y = malloc(R * D * 4), *r = malloc(R * D * 4), *dx = calloc(R * D, 4);
    float g[D], b[D], dg[D] = {0}, db[D] = {0}, mean[D], rstd[D];
    gc_fill_uniform(x, R * D, 27, -1, 2);
    gc_fill_uniform(g, D, 28, 0.5, 1.5);
    gc_fill_uniform(b, D, 29, -0.5, 0.5);
    gc_fill_uniform(r, R * D, 30, -1, 1);
    bn_ctx c = {R, D, 1, x, g, b, y, r, mean, rstd, NULL, NULL};
    bn_loss(&c);
    batchnorm_backward(dx, dg, db, r, x, mean, rstd, g, R, D, 1);
    gc_options o = GC_OPTIONS_SAMPLED(1e-2, 1e-2, 2e-4, 120);
    CHECK(gradcheck(bn_loss, &c, x, dx, R * D, o, "batchnorm din (70 features)"));
    CHECK(gradcheck(bn_loss, &c, g, dg, D, o, "batchnorm dgamma (70 features)"));
    free(x); free(y); free(r); free(dx);
}

Test(batchnorm, pieces_over_row_blocks_match_whole) {
    /* what a caller splitting rows over threads does: column sums per block, combined in order */
    enum { R = 11, D = 5, PARTS = 3 };
    float x[R * D], g[D], b[D], dout[R * D], y1[R * D], y2[R * D], dx1[R * D] = {0}, dx2[R * D] = {0};
    float mean1[D], rstd1[D], mean2[D], rstd2[D], dg1[D] = {0}, db1[D] = {0};
    gc_fill_uniform(x, R * D, 91, -2, 3);
    gc_fill_uniform(g, D, 92, 0.5, 1.5);
    gc_fill_uniform(b, D, 93, -1, 1);
    gc_fill_uniform(dout, R * D, 94, -1, 1);
    batchnorm_forward(y1, mean1, rstd1, x, g, b, NULL, NULL, R, D, 1, 0.1f);
    batchnorm_backward(dx1, dg1, db1, dout, x, mean1, rstd1, g, R, D, 1);
    int cut[PARTS + 1] = {0, 4, 7, R};
    double part[PARTS][2 * D], tot[D] = {0}, sq[D] = {0}, s1[D] = {0}, s2[D] = {0};
    for (int k = 0; k < PARTS; k++) batchnorm_column_sums(part[k], x + cut[k] * D, cut[k + 1] - cut[k], D);
    for (int k = 0; k < PARTS; k++) for (int j = 0; j < D; j++) tot[j] += part[k][j];
    for (int j = 0; j < D; j++) tot[j] /= R;
    for (int k = 0; k < PARTS; k++) batchnorm_centered_squares(part[k], x + cut[k] * D, tot, cut[k + 1] - cut[k], D);
    for (int k = 0; k < PARTS; k++) for (int j = 0; j < D; j++) sq[j] += part[k][j];
    batchnorm_finish_stats(mean2, rstd2, NULL, NULL, tot, sq, R, D, 0.1f);
    for (int k = 0; k < PARTS; k++)
        batchnorm_normalize(y2 + cut[k] * D, x + cut[k] * D, mean2, rstd2, g, b, cut[k + 1] - cut[k], D);
    for (int k = 0; k < PARTS; k++)
        batchnorm_backward_sums(part[k], part[k] + D, dout + cut[k] * D, x + cut[k] * D, mean2, rstd2, cut[k + 1] - cut[k], D);
    for (int k = 0; k < PARTS; k++) for (int j = 0; j < D; j++) { s1[j] += part[k][j]; s2[j] += part[k][D + j]; }
    for (int k = 0; k < PARTS; k++)
        batchnorm_backward_input(dx2 + cut[k] * D, dout + cut[k] * D, x + cut[k] * D, mean2, rstd2, g, s1, s2, R,
                                 cut[k + 1] - cut[k], D, 1);
    for (int i = 0; i < R * D; i++) {
        cr_assert_float_eq(y2[i], y1[i], 1e-5f);
        cr_assert_float_eq(dx2[i], dx1[i], 1e-5f);
    }
    for (int j = 0; j < D; j++) {
        cr_assert_float_eq((float)s2[j], dg1[j], 1e-5f);
        cr_assert_float_eq((float)s1[j], db1[j], 1e-5f);
    }
}

Test(layernorm, split_backward_matches_whole) {
    enum { R = 6, D = 9 };
    float x[R * D], y[R * D], dout[R * D], g[D], b[D], mean[R], rstd[R];
    float dx1[R * D] = {0}, dx2[R * D] = {0}, dg1[D] = {0}, db1[D] = {0}, dg2[D] = {0}, db2[D] = {0};
    gc_fill_uniform(x, R * D, 95, -2, 2);
    gc_fill_uniform(g, D, 96, 0.5, 1.5);
    gc_fill_uniform(b, D, 97, -1, 1);
    gc_fill_uniform(dout, R * D, 98, -1, 1);
    layernorm_forward(y, mean, rstd, x, g, b, R, D);
    layernorm_backward(dx1, dg1, db1, dout, x, mean, rstd, g, R, D);
    layernorm_backward_input(dx2, dout, x, mean, rstd, g, 2, D);
    layernorm_backward_input(dx2 + 2 * D, dout + 2 * D, x + 2 * D, mean + 2, rstd + 2, g, R - 2, D);
    layernorm_backward_params(dg2, db2, dout, x, mean, rstd, R, D, 0, 4);
    layernorm_backward_params(dg2, db2, dout, x, mean, rstd, R, D, 4, D);
    cr_assert_eq(memcmp(dx1, dx2, sizeof dx1), 0);
    cr_assert_eq(memcmp(dg1, dg2, sizeof dg1), 0);
    cr_assert_eq(memcmp(db1, db2, sizeof db1), 0);
}

Test(norm, declare_names_and_init) {
    rp_params P;
    params_init(&P);
    rp_error err;
    rp_norm bn, ln;
    cr_assert_eq(norm_declare(&bn, &P, "x/norm1", NORM_BATCH, 4, &err), 0);
    cr_assert_eq(norm_declare(&ln, &P, "x/norm2", NORM_LAYER, 4, &err), 0);
    cr_assert_eq(params_alloc(&P, &err), 0);
    norm_init(&bn, &P);
    norm_init(&ln, &P);
    cr_assert(params_find(&P, "x/norm1/gamma") && params_find(&P, "x/norm1/beta"));
    const rp_tensor_info *rv = params_find(&P, "x/norm1/running_var");
    cr_assert(rv && !rv->trainable);
    cr_assert_null(params_find(&P, "x/norm2/running_mean"));
    cr_assert_eq(P.value[rv->offset], 1.0f);
    cr_assert_eq(P.value[bn.gamma + 3], 1.0f);
    cr_assert_eq(P.value[ln.beta], 0.0f);
    params_free(&P);
}

/* ---- GELU, fast math ------------------------------------------------------------------------------ */

Test(activation, erf_and_exp_match_libm) {
    double worst_erf = 0, worst_exp = 0;
    for (int i = -80000; i <= 80000; i++) {
        float x = i * 1e-4f;   /* [-8, 8] */
        worst_erf = fmax(worst_erf, fabs((double)rp_erff(x) - erf((double)x)));
    }
    for (int i = -8700; i <= 8800; i++) {
        float x = i * 0.01f;
        double ref = exp((double)x);
        worst_exp = fmax(worst_exp, fabs((double)rp_expf(x) - ref) / ref);
    }
    /* ~6 float ulps of 1: far below what GELU's 0.5·x·(1 + erf) can resolve in float anyway */
    cr_assert_lt(worst_erf, 5e-7, "erf abs error %g", worst_erf);
    cr_assert_lt(worst_exp, 3e-7, "exp rel error %g", worst_exp);
    cr_assert_eq(rp_erff(100.0f), 1.0f);
    cr_assert_eq(rp_erff(-100.0f), -1.0f);
}

typedef struct {
    size_t n;
    float *x, *y, *r;
} ew_ctx;

static double gelu_loss(void *p) {
    ew_ctx *c = p;
    gelu_forward(c->y, c->x, c->n);
    return gc_dot(c->r, c->y, c->n);
}

Test(activation, gelu_values_and_gradient) {
    enum { N = 300 };
    float x[N], y[N], r[N], dx[N] = {0};
    gc_fill_uniform(x, N, 31, -5, 5);
    gc_fill_uniform(r, N, 32, -1, 1);
    ew_ctx c = {N, x, y, r};
    gelu_loss(&c);
    for (int i = 0; i < N; i++) {
        double ref = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
        cr_assert_lt(fabs(y[i] - ref), 1e-6 * (1 + fabs(ref)), "gelu(%g) = %g, want %g", x[i], y[i], ref);
    }
    gelu_backward(dx, r, x, N);
    /* h = 1e-2: in the left tail 1 + erf cancels to a few float ulps, whose steps divided by a
     * smaller 2h would swamp the derivative there; GELU is smooth, so truncation stays ~1e-5. */
    CHECK(gradcheck(gelu_loss, &c, x, dx, N, GC_OPTIONS(1e-2, 1e-2, 1e-4), "gelu din"));
}

/* ---- dropout ------------------------------------------------------------------------------------- */

typedef struct {
    size_t n;
    float p;
    unsigned long long seed;
    float *x, *y, *mask, *r;
} drop_ctx;

static double drop_loss(void *q) {
    drop_ctx *c = q;
    dropout_forward(c->y, c->mask, c->x, c->p, c->seed, 0, c->n);
    return gc_dot(c->r, c->y, c->n);
}

Test(dropout, gradient_with_fixed_mask) {
    enum { N = 257 };
    float x[N], y[N], m[N], r[N], dx[N] = {0};
    gc_fill_uniform(x, N, 41, -2, 2);
    gc_fill_uniform(r, N, 42, -1, 1);
    drop_ctx c = {N, 0.4f, 99, x, y, m, r};
    drop_loss(&c);
    dropout_backward(dx, r, m, 0.4f, N);
    CHECK(gradcheck(drop_loss, &c, x, dx, N, GC_OPTIONS(1e-2, 1e-3, 1e-5), "dropout din"));
}

Test(dropout, mask_statistics_and_identity) {
    enum { N = 200000 };
    float *x = malloc(N * 4), *y = malloc(N * 4), *m = malloc(N * 4);
    for (int i = 0; i < N; i++) x[i] = 1.0f;
    dropout_forward(y, m, x, 0.3f, 7, 0, N);
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        cr_assert(m[i] == 0.0f || fabsf(m[i] - 1.0f / 0.7f) < 1e-6f);
        cr_assert_eq(y[i], x[i] * m[i]);
        dropped += m[i] == 0.0f;
    }
    /* 5-sigma band around p·N */
    double sd = sqrt(N * 0.3 * 0.7);
    cr_assert_lt(fabs(dropped - 0.3 * N), 5 * sd, "dropped %d of %d", dropped, N);
    /* p = 0 is the identity and leaves the mask alone */
    for (int i = 0; i < N; i++) x[i] = (float)i;
    m[0] = -1.0f;
    dropout_forward(y, m, x, 0.0f, 7, 0, N);
    cr_assert_eq(memcmp(x, y, N * 4), 0);
    cr_assert_eq(m[0], -1.0f);
    float dx[3] = {0}, dy[3] = {1, 2, 3};
    dropout_backward(dx, dy, NULL, 0.0f, 3);
    cr_assert(dx[0] == 1 && dx[1] == 2 && dx[2] == 3);
    free(x); free(y); free(m);
}

Test(dropout, mask_depends_only_on_seed_and_index) {
    enum { N = 100000 };
    float *x = malloc(N * 4), *y = malloc(N * 4), *m1 = malloc(N * 4), *m2 = malloc(N * 4), *m3 = malloc(N * 4);
    for (int i = 0; i < N; i++) x[i] = 1.0f;
    omp_set_num_threads(1);
    dropout_forward(y, m1, x, 0.5f, 1234, 0, N);
    omp_set_num_threads(2);
    dropout_forward(y, m2, x, 0.5f, 1234, 0, N);
    /* the same tensor produced in two pieces */
    dropout_forward(y, m3, x, 0.5f, 1234, 0, 777);
    dropout_forward(y + 777, m3 + 777, x + 777, 0.5f, 1234, 777, N - 777);
    cr_assert_eq(memcmp(m1, m2, N * 4), 0);
    cr_assert_eq(memcmp(m1, m3, N * 4), 0);
    /* a neighbouring seed gives an unrelated mask (agreement ≈ 1/2) */
    dropout_forward(y, m2, x, 0.5f, 1235, 0, N);
    int same = 0;
    for (int i = 0; i < N; i++) same += m1[i] == m2[i];
    cr_assert_lt(fabs(same - N / 2.0), 5 * sqrt(N / 4.0), "%d of %d agree", same, N);
    free(x); free(y); free(m1); free(m2); free(m3);
}

/* ---- fused GELU → dropout -------------------------------------------------------------------------- */

typedef struct {
    size_t n;
    float p;
    float *x, *y, *gate, *r;
} gd_ctx;

static double gd_loss(void *q) {
    gd_ctx *c = q;
    gelu_dropout_forward(c->y, c->gate, c->x, c->p, 5, 0, c->n);
    return gc_dot(c->r, c->y, c->n);
}

Test(activation, gelu_dropout_fused_matches_separate_and_gradient) {
    enum { N = 400 };
    float x[N], y[N], gate[N], r[N], dx[N] = {0}, y2[N], m[N];
    gc_fill_uniform(x, N, 51, -4, 4);
    gc_fill_uniform(r, N, 52, -1, 1);
    gd_ctx c = {N, 0.25f, x, y, gate, r};
    gd_loss(&c);
    gelu_forward(y2, x, N);
    dropout_forward(y2, m, y2, 0.25f, 5, 0, N);
    for (int i = 0; i < N; i++) cr_assert_float_eq(y[i], y2[i], 1e-6f * (1 + fabsf(y2[i])));
    gelu_dropout_backward(dx, r, gate, N);
    CHECK(gradcheck(gd_loss, &c, x, dx, N, GC_OPTIONS(1e-2, 1e-2, 1e-4), "gelu_dropout din"));
    c.p = 0.0f;  /* no dropout: plain GELU (same maths, rounding may differ in the last bit) */
    gd_loss(&c);
    gelu_forward(y2, x, N);
    for (int i = 0; i < N; i++) cr_assert_float_eq(y[i], y2[i], 1e-6f * (1 + fabsf(y2[i])));
    /* ... and its gate (a path of its own, which draws no dropout bits) is GELU′ */
    float dx0[N] = {0};
    gelu_dropout_backward(dx0, r, gate, N);
    CHECK(gradcheck(gd_loss, &c, x, dx0, N, GC_OPTIONS(1e-2, 1e-2, 1e-4), "gelu_dropout din, p = 0"));
    /* a scoring pass (gate NULL) computes the same output, bit for bit, over a length that is
     * not a multiple of the vector width and across the threaded blocks */
    enum { M = 70001 };
    float *xs = malloc(M * sizeof *xs), *ya = malloc(M * sizeof *ya), *yb = malloc(M * sizeof *yb),
          *ga = malloc(M * sizeof *ga);
    gc_fill_uniform(xs, M, 53, -9, 9);
    gelu_dropout_forward(ya, ga, xs, 0.0f, 5, 0, M);
    gelu_dropout_forward(yb, NULL, xs, 0.0f, 5, 0, M);
    cr_assert_eq(memcmp(ya, yb, M * sizeof *ya), 0, "gelu without its derivative differs from gelu with it");
    free(xs), free(ya), free(yb), free(ga);
}

/* ---- softmax -------------------------------------------------------------------------------------- */

typedef struct {
    int rows, n;
    float scale;
    float *x, *y, *r;
} sm_ctx;

static double sm_loss(void *q) {
    sm_ctx *c = q;
    softmax_rows_forward(c->y, c->x, c->scale, c->rows, c->n);
    return gc_dot(c->r, c->y, (size_t)c->rows * c->n);
}

Test(activation, softmax_rows_gradient) {
    enum { R = 3, C = 21 };
    float x[R * C], y[R * C], r[R * C], dx[R * C] = {0};
    gc_fill_uniform(x, R * C, 61, -3, 3);
    gc_fill_uniform(r, R * C, 62, -1, 1);
    sm_ctx c = {R, C, 0.7f, x, y, r};
    sm_loss(&c);
    for (int i = 0; i < R; i++) {
        double s = 0;
        for (int j = 0; j < C; j++) s += y[i * C + j];
        cr_assert_lt(fabs(s - 1.0), 1e-6);
    }
    softmax_rows_backward(dx, r, y, 0.7f, R, C);
    /* gradients here are O(1e-2): atol 2e-5 is still < 1% of a typical entry */
    CHECK(gradcheck(sm_loss, &c, x, dx, R * C, GC_OPTIONS(1e-2, 1e-2, 2e-5), "softmax din"));
    /* the in-place form gives the same gradient (y again at the unperturbed x) */
    float g[R * C];
    sm_loss(&c);
    memcpy(g, r, sizeof g);
    softmax_rows_backward_inplace(g, y, 0.7f, R, C);
    for (int i = 0; i < R * C; i++) cr_assert_float_eq(g[i], dx[i], 1e-6f);
}

Test(activation, softmax_rows_against_double) {
    /* widths a multiple of 8 and ragged; a block spanning < 80 (one shift for the whole block) and
     * one spanning more (each row shifted by its own maximum) */
    const int widths[3] = {16, 42, 700};
    for (int w = 0; w < 6; w++) {
        int n = widths[w % 3];
        double span = w < 3 ? 30 : 200;
        float *x = malloc((size_t)n * 2 * 4), *y = malloc((size_t)n * 2 * 4);
        gc_fill_uniform(x, (size_t)n * 2, 63 + w, -span, span);
        softmax_rows_forward(y, x, 1.0f, 2, n);
        for (int r = 0; r < 2; r++) {
            double m = -1e300, z = 0;
            for (int j = 0; j < n; j++) m = fmax(m, x[r * n + j]);
            for (int j = 0; j < n; j++) z += exp(x[r * n + j] - m);
            for (int j = 0; j < n; j++) {
                double want = exp(x[r * n + j] - m) / z;
                /* float rounding of the shifted argument (|x − max| up to 60) costs ~1e-5 relative */
                cr_assert_lt(fabs(y[r * n + j] - want), 2e-5 * want + 1e-30, "width %d span %g row %d col %d: %g vs %g",
                             n, span, r, j, y[r * n + j], want);
            }
        }
        free(x); free(y);
    }
}

/* ---- MSE ------------------------------------------------------------------------------------------ */

typedef struct {
    size_t n;
    float *pred, *target;
} mse_ctx;

static double mse_loss(void *q) {
    mse_ctx *c = q;
    return mse_forward(c->pred, c->target, c->n);
}

Test(loss, mse_value_and_gradient) {
    float pred[4] = {1, 2, 3, 4}, target[4] = {0, 2, 5, 3};
    cr_assert_float_eq(mse_forward(pred, target, 4), (1 + 0 + 4 + 1) / 4.0f, 1e-7);
    enum { N = 50 };
    float p[N], t[N], dp[N] = {0};
    gc_fill_uniform(p, N, 71, -2, 2);
    gc_fill_uniform(t, N, 72, -2, 2);
    mse_backward(dp, p, t, N, N);
    mse_ctx c = {N, p, t};
    /* quadratic: the central difference is exact, only the float loss rounds (~1e-7 / 2h) */
    CHECK(gradcheck(mse_loss, &c, p, dp, N, GC_OPTIONS(1e-1, 1e-3, 1e-5), "mse dpred"));
    /* a mean over more elements than one call sees (a batch's rows one by one): the same
     * gradient as one call over all of them */
    float dsplit[N] = {0};
    mse_backward(dsplit, p, t, N / 2, N);
    mse_backward(dsplit + N / 2, p + N / 2, t + N / 2, N - N / 2, N);
    cr_assert(memcmp(dsplit, dp, sizeof dp) == 0, "row by row differs from one call");
    /* accumulates */
    float acc[2] = {1.0f, 1.0f};
    mse_backward(acc, pred, target, 2, 4);
    cr_assert_float_eq(acc[0], 1.5f, 1e-7);     /* 1 + 2 · (1 − 0) / 4 */
    cr_assert_float_eq(acc[1], 1.0f, 1e-7);
}

/* ---- RevIN ---------------------------------------------------------------------------------------- */

typedef struct {
    int rows, group, len;
    float *z, *y, *mean, *std, *r;
} revin_ctx;

static double revin_loss(void *q) {
    revin_ctx *c = q;
    revin_denorm_forward(c->y, c->z, c->mean, c->std, c->rows, c->group, c->len);
    return gc_dot(c->r, c->y, (size_t)c->rows * c->len);
}

Test(revin, normalise_denormalise_and_gradient) {
    enum { R = 3, L = 40, H = 12 };
    float x[R * L], xn[R * L], back[R * L], mean[R], sd[R];
    gc_fill_uniform(x, R * L, 81, 5, 9);
    revin_forward(xn, mean, sd, x, R, L);
    for (int r = 0; r < R; r++) {
        double s = 0, s2 = 0;
        for (int j = 0; j < L; j++) { s += xn[r * L + j]; s2 += (double)xn[r * L + j] * xn[r * L + j]; }
        cr_assert_lt(fabs(s / L), 1e-5);
        cr_assert_lt(fabs(s2 / L - 1.0), 1e-4);   /* var/(var+eps) with var ≈ 1.3 */
    }
    revin_denorm_forward(back, xn, mean, sd, R, 1, L);
    for (int i = 0; i < R * L; i++) cr_assert_float_eq(back[i], x[i], 1e-5f * fabsf(x[i]));
    /* backward w.r.t. the forecast only: dz = dy · std */
    float z[R * H], y[R * H], rr[R * H], dz[R * H] = {0};
    gc_fill_uniform(z, R * H, 82, -2, 2);
    gc_fill_uniform(rr, R * H, 83, -1, 1);
    revin_denorm_backward(dz, rr, sd, R, 1, H);
    revin_ctx c = {R, 1, H, z, y, mean, sd, rr};
    CHECK(gradcheck(revin_loss, &c, z, dz, R * H, GC_OPTIONS(1e-2, 1e-3, 1e-5), "revin denorm dz"));
    /* G rollouts per window share its statistics: rows r and r + 1 of a group of 2 use window r / 2's */
    enum { G = 2 };
    float zg[R * G * H], yg[R * G * H], dzg[R * G * H] = {0}, rg[R * G * H];
    gc_fill_uniform(zg, R * G * H, 84, -2, 2);
    gc_fill_uniform(rg, R * G * H, 85, -1, 1);
    revin_denorm_forward(yg, zg, mean, sd, R * G, G, H);
    for (int r = 0; r < R * G; r++)
        for (int j = 0; j < H; j++)
            cr_assert_eq(yg[r * H + j], zg[r * H + j] * sd[r / G] + mean[r / G]);
    revin_denorm_backward(dzg, rg, sd, R * G, G, H);
    revin_ctx cg = {R * G, G, H, zg, yg, mean, sd, rg};
    CHECK(gradcheck(revin_loss, &cg, zg, dzg, R * G * H, GC_OPTIONS(1e-2, 1e-3, 1e-5), "revin denorm grouped dz"));
}

/* ---- Adam ----------------------------------------------------------------------------------------- */

Test(adam, two_steps_match_hand_computation) {
    rp_params P;
    params_init(&P);
    rp_error err;
    size_t a = params_declare1(&P, "backbone/w", 2, &err);
    size_t b = params_declare1(&P, "backbone2/w", 1, &err);
    int shape[1] = {1};
    size_t buf = params_declare_buffer(&P, "backbone/running", 1, shape, &err);
    cr_assert_eq(params_alloc(&P, &err), 0);
    P.value[a] = 1.0f; P.value[a + 1] = -2.0f; P.value[b] = 3.0f; P.value[buf] = 5.0f;
    const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01;

    /* Hand computation (PyTorch Adam with L2 weight decay), element 0: w = 1 */
    double w = 1.0, m = 0, v = 0;
    double grads[2] = {0.5, -0.25};
    for (int t = 1; t <= 2; t++) {
        P.grad[a] = (float)grads[t - 1];
        P.grad[a + 1] = 1.0f;
        P.grad[b] = 1.0f;
        P.grad[buf] = 1.0f;
        adam_update(&P, "backbone", (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, 0, t);
        double g = grads[t - 1] + wd * w;
        m = b1 * m + (1 - b1) * g;
        v = b2 * v + (1 - b2) * g * g;
        double mhat_lr = lr / (1 - pow(b1, t));
        w -= mhat_lr * m / (sqrt(v) / sqrt(1 - pow(b2, t)) + eps);
    }
    cr_assert_float_eq(P.value[a], (float)w, 1e-6, "adam: %.9g vs %.9g", P.value[a], w);
    /* step 1 with bias correction moves each weight by ≈ lr·sign(g) */
    cr_assert_lt(fabs(P.value[a + 1] - (-2.0 - 2 * 0.1)), 2e-3);
    cr_assert_eq(P.value[b], 3.0f, "prefix 'backbone' must not touch 'backbone2/w'");
    cr_assert_eq(P.value[buf], 5.0f, "buffers are never stepped");

    /* AdamW: decoupled decay w ← w(1 − lr·wd) then the plain Adam step */
    memset(P.adam_m, 0, P.total * 4);
    memset(P.adam_v, 0, P.total * 4);
    P.value[a] = 1.0f;
    w = 1.0; m = 0; v = 0;
    for (int t = 1; t <= 2; t++) {
        P.grad[a] = (float)grads[t - 1];
        adam_update(&P, "", (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, 1, t);
        double g = grads[t - 1];
        w *= 1 - lr * wd;
        m = b1 * m + (1 - b1) * g;
        v = b2 * v + (1 - b2) * g * g;
        w -= lr / (1 - pow(b1, t)) * m / (sqrt(v) / sqrt(1 - pow(b2, t)) + eps);
    }
    cr_assert_float_eq(P.value[a], (float)w, 1e-6, "adamw: %.9g vs %.9g", P.value[a], w);
    cr_assert_neq(P.value[b], 3.0f, "prefix '' updates everything trainable");
    cr_assert_eq(P.value[buf], 5.0f);
    /* the literal numbers for step 1, w = 1, g = 0.5, Adam L2 wd = 0.01: g' = 0.51,
     * m̂ = 0.51, v̂ = 0.2601, w = 1 − 0.1 · 0.51 / (0.51 + 1e-8) = 0.9 (to 1e-7) */
    params_free(&P);
}

/* ---- schedules ------------------------------------------------------------------------------------ */

Test(schedule, type3_follows_patchtst) {
    const double base = 1e-4;
    /* epoch 0: OneCycleLR's constructor left max_lr/25; epochs 1..3: base; then ×0.9 per epoch */
    cr_assert_float_eq(lr_schedule(SCHEDULE_TYPE3, base, 0, 5, 100, 10, 0.3), 4e-6f, 1e-12);
    cr_assert_float_eq(lr_schedule(SCHEDULE_TYPE3, base, 1, 0, 100, 10, 0.3), 1e-4f, 1e-12);
    cr_assert_float_eq(lr_schedule(SCHEDULE_TYPE3, base, 3, 99, 100, 10, 0.3), 1e-4f, 1e-12);
    cr_assert_float_eq(lr_schedule(SCHEDULE_TYPE3, base, 4, 0, 100, 10, 0.3), 9e-5f, 1e-12);
    cr_assert_float_eq(lr_schedule(SCHEDULE_TYPE3, base, 5, 0, 100, 10, 0.3), 8.1e-5f, 1e-12);
    cr_assert_float_eq(lr_schedule(SCHEDULE_TYPE3, base, 13, 0, 100, 20, 0.3), (float)(1e-4 * pow(0.9, 10)), 1e-12);
    cr_assert_float_eq(lr_schedule(SCHEDULE_CONSTANT, base, 0, 0, 100, 10, 0.3), 1e-4f, 1e-12);
    cr_assert_float_eq(lr_schedule(SCHEDULE_CONSTANT, base, 9, 7, 100, 10, 0.3), 1e-4f, 1e-12);
}

Test(schedule, onecycle_matches_torch) {
    /* torch.optim.lr_scheduler.OneCycleLR(max_lr=1e-3, epochs=10, steps_per_epoch=100,
     * pct_start=0.3): total 1000 steps, warm-up ends at step 299 (= 0.3·1000 − 1). */
    const double base = 1e-3;
    const double initial = base / 25, min_lr = initial / 1e4;
#define OC(e, s) lr_schedule(SCHEDULE_ONECYCLE, base, (e), (s), 100, 10, 0.3)
    cr_assert_float_eq(OC(0, 0), (float)initial, 1e-12);                 /* 4e-5 */
    cr_assert_float_eq(OC(2, 99), (float)base, 1e-12);                    /* step 299: peak */
    cr_assert_float_eq(OC(9, 99), (float)min_lr, 1e-15);                  /* step 999: 4e-9 */
    cr_assert_float_eq(OC(6, 49), (float)((base + min_lr) / 2), 1e-12);   /* step 649: halfway down */
    /* step 100 of the warm-up: pct = 100/299, lr = max + (initial − max)/2 · (1 + cos(π pct)) */
    double pct = 100.0 / 299.0;
    double want = base + (initial - base) / 2 * (1 + cos(3.14159265358979323846 * pct));
    cr_assert_float_eq(OC(1, 0), (float)want, 1e-12);
    /* the literal value (Python: 1e-3 + (4e-5 - 1e-3)/2 * (1 + cos(pi*100/299))) */
    cr_assert_float_eq(OC(1, 0), 2.8145736e-4f, 1e-9);
#undef OC
}
