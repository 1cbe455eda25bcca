/* The door to matrix products: every GEMM in reinpatch goes through rp_sgemm (BLIS), or, for
 * products too small for its set-up, through rp_gemm_packed (BLIS's micro-kernel, below).
 *
 * Strides follow BLIS: element (i, j) of A lives at a[i*rsa + j*csa]. A row-major m×k array has
 * rsa = k, csa = 1; its transpose is the same memory with rsa = 1, csa = k. No copies to transpose.
 *
 *   C[m×n] = alpha * A[m×k] · B[k×n] + beta * C
 *
 * Threading: called outside an OpenMP parallel region, BLIS uses rp_threads() threads;
 * called inside one (we parallelise over batch items there), BLIS runs single-threaded, so the
 * two never oversubscribe the cores. Results are deterministic for a fixed thread count. */
#ifndef RP_BLAS_H
#define RP_BLAS_H

#include <stddef.h>

void rp_sgemm(int m, int n, int k, float alpha,
              const float *a, int rsa, int csa,
              const float *b, int rsb, int csb,
              float beta, float *c, int rsc, int csc);

/* Row-major shorthands. ta / tb nonzero: use the transpose of the stored row-major matrix.
 * a is stored as (ta ? k×m : m×k), b as (tb ? n×k : k×n), c is m×n, all contiguous. */
void rp_matmul(float *c, const float *a, const float *b, int m, int n, int k,
               int ta, int tb, float alpha, float beta);

/* ---- BLIS's micro-kernel, called directly -----------------------------------------------------
 *
 * For products so small that bli_sgemm's per-call set-up outweighs the arithmetic: the attention's
 * per-window products (42 × 42 × 4 at ETTh1 size, ~4,600 per training step) cost ~2–3 µs each
 * through bli_sgemm — objects, a control tree, a thread decorator that checks an array out of a
 * process-wide pool under a mutex (docs/results.md, "Where the second thread's time goes") — for
 * ~14 kflop. The caller packs the operands the way BLIS's own packing does and rp_gemm_packed runs
 * BLIS's gemm micro-kernel (the one bli_sgemm would run, from the same context) over the tiles:
 * no set-up, no lock. Still BLIS's kernel for every multiply-add; we only lay out the operands.
 *
 * Packed layouts (MR × NR is the kernel's tile, rp_ukr_mr() × rp_ukr_nr(), e.g. 6 × 16 for zen3):
 *   A (m × k): ceil(m / MR) micro-panels, panel r holding rows r·MR ..; element (i, p) of a panel
 *              at [p·MR + i]. Panels a_ps floats apart (≥ k·MR).
 *   B (k × n): ceil(n / NR) micro-panels, panel q holding columns q·NR ..; element (p, j) of a
 *              panel at [p·NR + j]. Panels b_ps floats apart (≥ k·NR), each starting on a 64-byte
 *              boundary (the kernel loads B with aligned vector loads).
 * Rows of A beyond m and columns of B beyond n in the last panel are read but never reach C, so
 * they may hold anything finite. A panel stride larger than k·MR (k·NR) lets a product use the first
 * k rows of a deeper panel, or a caller step into one at an offset: the attention packs all heads'
 * features once per window and runs each head on its slice. */
int rp_ukr_mr(void);
int rp_ukr_nr(void);
/* C[m×n] = alpha · A · B + beta · C, A and B packed as above; any strides for C; beta = 0 never
 * reads C. Single-threaded, lock-free, allocates nothing: safe inside our parallel regions. */
void rp_gemm_packed(int m, int n, int k, float alpha, const float *ap, long a_ps, const float *bp,
                    long b_ps, float beta, float *c, long rsc, long csc);
/* Pack A[m×k] (element (i, p) at a[i·rsa + p·csa]) into ap with panel stride k·MR, zero padding;
 * ap holds rp_pack_a_floats(m, k) floats. Likewise B[k×n] into bp (panel stride k·NR). */
void rp_pack_a(int m, int k, const float *a, long rsa, long csa, float *ap);
void rp_pack_b(int k, int n, const float *b, long rsb, long csb, float *bp);
size_t rp_pack_a_floats(int m, int k);
size_t rp_pack_b_floats(int k, int n);

/* Number of threads for top-level work (BLIS outside parallel regions, our own OpenMP loops). */
void rp_set_threads(int threads);
int rp_threads(void);

/* The name of the BLIS kernel set in use ("zen3", "generic", ...): see blas.c on how it is chosen. */
const char *rp_blas_kernels(void);

#endif
