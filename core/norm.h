/* Normalisation layers: layer norm (over the features of each row) and batch norm (over all rows,
 * per feature: BatchNorm1d on (B·K, d) tokens, as PatchTST applies it). eps = 1e-5 for both.
 *
 * Batch norm follows PyTorch: training normalises with the batch's biased variance and updates
 * running_mean/running_var (the latter with the unbiased variance) with momentum 0.1:
 * running = (1 − momentum)·running + momentum·batch. Eval normalises with the running statistics.
 *
 * Backward ACCUMULATES (+=) into din, dgamma and dbeta; the caller zeroes them. */
#ifndef RP_NORM_H
#define RP_NORM_H

#include <stddef.h>

#include "core/error.h"
#include "core/params.h"
#include "core/kinds.h"

#define RP_NORM_EPS 1e-5f
#define RP_BATCHNORM_MOMENTUM 0.1f

/* mean, rstd: (rows) saved for backward; rstd = 1/sqrt(var + eps). */
void layernorm_forward(float *out,         // (rows, dim)
                       float *mean,        // (rows)
                       float *rstd,        // (rows)
                       const float *in,    // (rows, dim)
                       const float *gamma, // (dim)
                       const float *beta,  // (dim)
                       int rows, int dim);
void layernorm_backward(float *din,          // (rows, dim)
                        float *dgamma,       // (dim)
                        float *dbeta,        // (dim)
                        const float *dout,   // (rows, dim)
                        const float *in,     // (rows, dim)
                        const float *mean,   // (rows)
                        const float *rstd,   // (rows)
                        const float *gamma,  // (dim)
                        int rows, int dim);

/* training: statistics of this batch (saved in mean, rstd) and running_* updated when not NULL.
 * eval: mean/rstd are taken from running_mean/running_var (and saved, for eval backward). */
void batchnorm_forward(float *out,            // (rows, dim)
                       float *mean,           // (dim)
                       float *rstd,           // (dim)
                       const float *in,       // (rows, dim)
                       const float *gamma,    // (dim)
                       const float *beta,     // (dim)
                       float *running_mean,   // (dim), buffer
                       float *running_var,    // (dim), buffer
                       int rows, int dim, int training, float momentum);
/* training = 1: gradient through the batch statistics; 0: through the fixed running statistics. */
void batchnorm_backward(float *din,          // (rows, dim)
                        float *dgamma,       // (dim)
                        float *dbeta,        // (dim)
                        const float *dout,   // (rows, dim)
                        const float *in,     // (rows, dim)
                        const float *mean,   // (dim)
                        const float *rstd,   // (dim)
                        const float *gamma,  // (dim)
                        int rows, int dim, int training);

/* ---- pieces, for callers that split the rows over their own threads ---------------------------
 * The functions above are these pieces run in sequence; a caller with T threads runs the row-wise
 * pieces on its own rows and combines the column sums of all threads (in thread order, so the
 * result is fixed for a given T) between them. Sums are in double. */

/* layer norm backward split in two: din for some rows; dgamma/dbeta for features [j0, j1) over
 * all rows (so threads can own features instead of racing on the same sums). */
void layernorm_backward_input(float *din, const float *dout, const float *in, const float *mean,
                              const float *rstd, const float *gamma, int rows, int dim);
void layernorm_backward_params(float *dgamma, float *dbeta, const float *dout, const float *in,
                               const float *mean, const float *rstd, int rows, int dim, int j0, int j1);

/* sum[j] = Σ_rows in[r, j] (overwrites) */
void batchnorm_column_sums(double *sum, const float *in, int rows, int dim);
/* sq[j] = Σ_rows (in[r, j] − mean[j])² (overwrites) */
void batchnorm_centered_squares(double *sq, const float *in, const double *mean, int rows, int dim);
/* From the totals over all n rows: saved mean/rstd (biased variance) and, when running_mean is not
 * NULL, the running statistics (unbiased variance). */
void batchnorm_finish_stats(float *mean, float *rstd, float *running_mean, float *running_var,
                            const double *mean_total, const double *sq_total, long n, int dim, float momentum);
/* out = (in − mean) · rstd · gamma + beta for some rows */
void batchnorm_normalize(float *out, const float *in, const float *mean, const float *rstd,
                         const float *gamma, const float *beta, int rows, int dim);
/* s1[j] = Σ dout[r, j],  s2[j] = Σ dout[r, j] · x̂[r, j] over some rows (overwrites) */
void batchnorm_backward_sums(double *s1, double *s2, const float *dout, const float *in, const float *mean,
                             const float *rstd, int rows, int dim);
/* din += rstd · gamma · (dout − s1/n − x̂ · s2/n) (training) or rstd · gamma · dout (eval), for some
 * rows, with s1, s2 the totals over all n rows. (dgamma += s2, dbeta += s1 is the caller's.) */
void batchnorm_backward_input(float *din, const float *dout, const float *in, const float *mean,
                              const float *rstd, const float *gamma, const double *s1, const double *s2,
                              long n, int rows, int dim, int training);

/* A norm layer in the parameter slab: "<prefix>/gamma", "<prefix>/beta" and, for batch norm, the
 * buffers "<prefix>/running_mean", "<prefix>/running_var" (checkpointed, never stepped). */
typedef struct rp_norm {
    rp_norm_kind kind;
    int dim;
    size_t gamma, beta, running_mean, running_var;  /* running_* are (size_t)-1 for layer norm */
} rp_norm;

int norm_declare(rp_norm *n, rp_params *P, const char *prefix, rp_norm_kind kind, int dim, rp_error *err);
/* gamma = 1, beta = 0, running_mean = 0, running_var = 1 (PyTorch defaults). */
void norm_init(const rp_norm *n, rp_params *P);
/* Floats of saved statistics for `rows` rows (2·rows for layer norm, 2·dim for batch norm). */
size_t norm_stat_floats(const rp_norm *n, int rows);
/* Dispatch on the kind; stats holds norm_stat_floats floats. rows_all: the rows of the whole batch,
 * dist_batch_rows(rows, tokens per model row) (core/dist.h): in a sharded step batch norm takes its
 * statistics and backward sums over them (a one-thread team, below); otherwise it equals rows.
 * Called from outside a parallel region. */
void norm_forward(const rp_norm *n, rp_params *P, float *out, float *stats, const float *in,
                  int rows, long rows_all, int training);
void norm_backward(const rp_norm *n, rp_params *P, float *din, const float *dout, const float *in,
                   const float *stats, int rows, long rows_all, int training);

/* ---- a norm layer over rows split across threads and ranks ------------------------------------
 * The T threads of a parallel region each hold a contiguous share of the rows, and all of them
 * call the *_team functions together; in a sharded training step (core/dist.h) this process also
 * holds only a share of the batch. Batch norm combines the per-thread column sums in thread order,
 * then sums them over ranks in rank order (dist_sum_doubles), forward and backward, so that its
 * statistics and its input gradient are the whole batch's. Outside a parallel region T = 1 (what
 * norm_forward/norm_backward use in a sharded step, and what every thread of a per-thread sharded
 * step is: its dist_sum_doubles then sums over the step's threads, core/dist.h). The barriers
 * inside make every thread wait for the others; dist_sum_doubles runs on thread 0, the thread that
 * started MPI. Only thread 0 of the team, and of a per-thread sharded step, updates the running
 * statistics. */
#define RP_NORM_TEAM_MAX_DIM 1024  /* dim bound: per-feature sums live on each thread's stack */

typedef struct rp_norm_team {
    int t, T;                  /* this thread, number of threads */
    int n0, rows;              /* this thread's rows [n0, n0 + rows) */
    int N;                     /* rows in this process (layer norm's statistics are per row) */
    long N_all;                /* rows of the whole batch: N, or every rank's (dist_batch_rows) */
    double *reduce1, *reduce2; /* T·2·dim doubles each, shared by the threads */
} rp_norm_team;

/* out = norm(in) on this thread's rows; stats as norm_forward's (thread 0 writes batch norm's, and
 * updates the running statistics in training). Batch norm uses reduce1 and reduce2. */
void norm_forward_team(const rp_norm *n, rp_params *P, float *out, float *stats, const float *in, int training,
                       const rp_norm_team *tm);
/* din (this thread's rows) += the norm's backward of dout; batch norm sums through `reduce` (T·2·dim
 * doubles, one of the team's buffers: callers alternate them between consecutive calls, as nothing
 * waits for the last reader) and thread 0 adds dgamma/dbeta of this process's rows (summed over
 * ranks with the other gradients). Layer norm's dgamma/dbeta are the caller's
 * (layernorm_backward_params), so that threads can own features. */
void norm_backward_team(const rp_norm *n, rp_params *P, float *din, const float *dout, const float *in,
                        const float *stats, int training, const rp_norm_team *tm, double *reduce);

#endif
