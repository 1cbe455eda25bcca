#include "core/linear.h"

#include <math.h>
#include <omp.h>

#include "core/blas.h"

/* Below this many output elements a parallel region costs more than the loop. */
#define RP_LINEAR_PAR_MIN 65536

int linear_declare(rp_linear *l, rp_params *P, const char *weight_name, const char *bias_name,
                   int in_dim, int out_dim, rp_error *err) {
    l->in_dim = in_dim;
    l->out_dim = out_dim;
    l->bias = (size_t)-1;
    l->weight = params_declare2(P, weight_name, out_dim, in_dim, err);
    if (l->weight == (size_t)-1) return -1;
    if (bias_name) {
        l->bias = params_declare1(P, bias_name, out_dim, err);
        if (l->bias == (size_t)-1) return -1;
    }
    return 0;
}

void linear_init(const rp_linear *l, rp_params *P, rp_rng *rng) {
    double bound = 1.0 / sqrt((double)l->in_dim);
    float *w = P->value + l->weight;
    for (size_t i = 0; i < (size_t)l->out_dim * l->in_dim; i++)
        w[i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
    if (l->bias != (size_t)-1) {
        float *b = P->value + l->bias;
        for (int i = 0; i < l->out_dim; i++) b[i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
    }
}

void linear_forward(float *out, const float *in, const float *weight, const float *bias,
                    int rows, int in_dim, int out_dim) {
    float beta = 0.0f;
    if (bias) {
        /* Start every row at the bias and let the GEMM add onto it (beta = 1): one pass over out. */
#pragma omp parallel for schedule(static) if ((size_t)rows * out_dim >= RP_LINEAR_PAR_MIN && !omp_in_parallel())
        for (int r = 0; r < rows; r++) {
            float *o = out + (size_t)r * out_dim;
            for (int j = 0; j < out_dim; j++) o[j] = bias[j];
        }
        beta = 1.0f;
    }
    /* out (rows × out) = in (rows × in) · Wᵀ (in × out): Wᵀ is W read with swapped strides. */
    rp_sgemm(rows, out_dim, in_dim, 1.0f, in, in_dim, 1, weight, 1, in_dim, beta, out, out_dim, 1);
}

void rp_add_column_sums_range(float *acc, const float *x, int rows, int cols, int c0, int c1) {
    for (int j0 = c0; j0 < c1; j0 += 16) {
        int w = c1 - j0 < 16 ? c1 - j0 : 16;
        float s[16] = {0};
        for (int r = 0; r < rows; r++) {
            const float *row = x + (size_t)r * cols + j0;
            for (int j = 0; j < w; j++) s[j] += row[j];
        }
        for (int j = 0; j < w; j++) acc[j0 + j] += s[j];
    }
}

/* Each column is summed over the rows in row order by one thread (threads own blocks of 16
 * columns), so the result is the same for any thread count. */
void rp_add_column_sums(float *acc, const float *x, int rows, int cols) {
    int nb = (cols + 15) / 16;
#pragma omp parallel for schedule(static) if ((size_t)rows * cols >= RP_LINEAR_PAR_MIN && nb > 1 && !omp_in_parallel())
    for (int cb = 0; cb < nb; cb++) {
        int c0 = cb * 16, c1 = c0 + 16 < cols ? c0 + 16 : cols;
        rp_add_column_sums_range(acc, x, rows, cols, c0, c1);
    }
}

void linear_backward_input(float *din, const float *dout, const float *weight, int rows, int in_dim,
                           int out_dim, float beta) {
    /* din (rows × in) = beta · din + dout (rows × out) · W (out × in) */
    rp_sgemm(rows, in_dim, out_dim, 1.0f, dout, out_dim, 1, weight, in_dim, 1, beta, din, in_dim, 1);
}

void linear_backward_params(float *dweight, float *dbias, const float *dout, const float *in, int rows,
                            int in_dim, int out_dim, int o0, int o1) {
    if (o1 <= o0) return;
    /* dW[o0:o1] (o × in) += dout[:, o0:o1]ᵀ (o × rows) · in (rows × in) */
    rp_sgemm(o1 - o0, in_dim, rows, 1.0f, dout + o0, 1, out_dim, in, in_dim, 1, 1.0f,
             dweight + (size_t)o0 * in_dim, in_dim, 1);
    if (dbias) rp_add_column_sums_range(dbias, dout, rows, out_dim, o0, o1);
}

void linear_backward(float *din, float *dweight, float *dbias, const float *dout, const float *in,
                     const float *weight, int rows, int in_dim, int out_dim) {
    if (din) linear_backward_input(din, dout, weight, rows, in_dim, out_dim, 1.0f);
    /* dW (out × in) += doutᵀ (out × rows) · in (rows × in) */
    rp_sgemm(out_dim, in_dim, rows, 1.0f, dout, 1, out_dim, in, in_dim, 1, 1.0f, dweight, in_dim, 1);
    if (dbias) rp_add_column_sums(dbias, dout, rows, out_dim);
}
