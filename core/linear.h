/* Fully connected layer: out = in · Wᵀ + b, weight stored [out_dim × in_dim] as in PyTorch.
 *
 * Both products go through rp_sgemm (core/blas.h); the transposes are strides, not copies.
 * Backward ACCUMULATES (+=) into din, dweight and dbias; the caller zeroes them. */
#ifndef RP_LINEAR_H
#define RP_LINEAR_H

#include <stddef.h>

#include "core/error.h"
#include "core/params.h"
#include "core/rng.h"

/* A linear layer's place in the parameter slab. bias == (size_t)-1 when the layer has none. */
typedef struct rp_linear {
    int in_dim, out_dim;
    size_t weight, bias;
} rp_linear;

/* Declares "<weight_name>" [out_dim × in_dim] and, unless bias_name is NULL, "<bias_name>" [out_dim]. */
int linear_declare(rp_linear *l, rp_params *P, const char *weight_name, const char *bias_name,
                   int in_dim, int out_dim, rp_error *err);
/* PyTorch's nn.Linear default: W and b ~ U(-1/√in, 1/√in) (kaiming_uniform with a = √5). */
void linear_init(const rp_linear *l, rp_params *P, rp_rng *rng);

/* out = in · Wᵀ + bias (bias may be NULL). */
void linear_forward(float *out,          // (rows, out_dim)
                    const float *in,     // (rows, in_dim)
                    const float *weight, // (out_dim, in_dim)
                    const float *bias,   // (out_dim) or NULL
                    int rows, int in_dim, int out_dim);
/* din += dout · W; dweight += doutᵀ · in; dbias += Σ_rows dout. din or dbias may be NULL (skipped). */
void linear_backward(float *din,           // (rows, in_dim) or NULL
                     float *dweight,       // (out_dim, in_dim)
                     float *dbias,         // (out_dim) or NULL
                     const float *dout,    // (rows, out_dim)
                     const float *in,      // (rows, in_dim)
                     const float *weight,  // (out_dim, in_dim)
                     int rows, int in_dim, int out_dim);

/* Pieces of linear_backward, for callers that split the work over their own threads:
 *   input:  din = beta · din + dout · W for some rows (beta = 1 accumulates, 0 overwrites scratch);
 *   params: dweight rows [o0, o1) += dout[:, o0:o1]ᵀ · in and dbias[o0:o1] += Σ_rows dout[:, o0:o1],
 *           over all rows, so threads can own disjoint output features. */
void linear_backward_input(float *din, const float *dout, const float *weight, int rows, int in_dim,
                           int out_dim, float beta);
void linear_backward_params(float *dweight, float *dbias, const float *dout, const float *in, int rows,
                            int in_dim, int out_dim, int o0, int o1);

/* Σ over rows of a row-major (rows, cols) matrix, added into acc[cols] (a bias gradient). Columns
 * [c0, c1) only in the _range form. */
void rp_add_column_sums(float *acc, const float *x, int rows, int cols);
void rp_add_column_sums_range(float *acc, const float *x, int rows, int cols, int c0, int c1);

#endif
