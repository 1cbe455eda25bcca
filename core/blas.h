/* The one door to matrix products: every GEMM in reinpatch goes through rp_sgemm (BLIS).
 *
 * Strides follow BLIS: element (i, j) of A lives at a[i*rsa + j*csa]. A row-major m×k array has
 * rsa = k, csa = 1; its transpose is the same memory with rsa = 1, csa = k. No copies to transpose.
 *
 *   C[m×n] = alpha * A[m×k] · B[k×n] + beta * C
 *
 * Threading: called outside an OpenMP parallel region, BLIS uses rp_blas_threads() threads;
 * called inside one (we parallelise over batch items there), BLIS runs single-threaded, so the
 * two never oversubscribe the cores. Results are deterministic for a fixed thread count. */
#ifndef RP_BLAS_H
#define RP_BLAS_H

void rp_sgemm(int m, int n, int k, float alpha,
              const float *a, int rsa, int csa,
              const float *b, int rsb, int csb,
              float beta, float *c, int rsc, int csc);

/* Row-major shorthands. ta / tb nonzero: use the transpose of the stored row-major matrix.
 * a is stored as (ta ? k×m : m×k), b as (tb ? n×k : k×n), c is m×n, all contiguous. */
void rp_matmul(float *c, const float *a, const float *b, int m, int n, int k,
               int ta, int tb, float alpha, float beta);

/* Number of threads for top-level work (BLIS outside parallel regions, our own OpenMP loops). */
void rp_set_threads(int threads);
int rp_threads(void);

/* The name of the BLIS kernel set in use ("zen3", "generic", ...): see blas.c on how it is chosen. */
const char *rp_blas_kernels(void);

#endif
