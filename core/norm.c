#include "core/norm.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/activation.h"
#include "core/dist.h"

/* Row loops split over threads only when there is enough work to pay for a parallel region, and
 * never from inside one (a caller that already split the rows). */
#define RP_NORM_PAR_ROWS 1024
#define PAR_ROWS(rows) ((rows) >= RP_NORM_PAR_ROWS && !omp_in_parallel())

/* ---- layer norm --------------------------------------------------------------------------------- */

void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *gamma,
                       const float *beta, int rows, int dim) {
#pragma omp parallel for schedule(static) if (PAR_ROWS(rows))
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * dim;
        float *y = out + (size_t)r * dim;
        /* Two passes (mean, then centred squares): no cancellation for rows far from zero. */
        float m = rp_sumf(x, dim) / dim;
        float v = 0.0f;
        for (int j = 0; j < dim; j++) v += (x[j] - m) * (x[j] - m);
        float s = 1.0f / sqrtf(v / dim + RP_NORM_EPS);
        for (int j = 0; j < dim; j++) y[j] = (x[j] - m) * s * gamma[j] + beta[j];
        mean[r] = m;
        rstd[r] = s;
    }
}

void layernorm_backward_input(float *din, const float *dout, const float *in, const float *mean,
                              const float *rstd, const float *gamma, int rows, int dim) {
    /* din = rstd · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)), ĝ = dout ⊙ gamma, x̂ the normalised input. */
#pragma omp parallel for schedule(static) if (PAR_ROWS(rows))
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * dim, *g = dout + (size_t)r * dim;
        float *dx = din + (size_t)r * dim;
        float m = mean[r], s = rstd[r];
        float sum_g = 0.0f, sum_gx = 0.0f;
        for (int j = 0; j < dim; j++) {
            float gh = g[j] * gamma[j];
            sum_g += gh;
            sum_gx += gh * (x[j] - m) * s;
        }
        sum_g /= dim;
        sum_gx /= dim;
        for (int j = 0; j < dim; j++) {
            float xh = (x[j] - m) * s;
            dx[j] += s * (g[j] * gamma[j] - sum_g - xh * sum_gx);
        }
    }
}

void layernorm_backward_params(float *dgamma, float *dbeta, const float *dout, const float *in,
                               const float *mean, const float *rstd, int rows, int dim, int j0, int j1) {
    /* Sums over rows in row order (deterministic); features [j0, j1) only. */
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * dim, *g = dout + (size_t)r * dim;
        float m = mean[r], s = rstd[r];
        for (int j = j0; j < j1; j++) {
            dgamma[j] += g[j] * (x[j] - m) * s;
            dbeta[j] += g[j];
        }
    }
}

void layernorm_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                        const float *mean, const float *rstd, const float *gamma, int rows, int dim) {
    layernorm_backward_input(din, dout, in, mean, rstd, gamma, rows, dim);
    layernorm_backward_params(dgamma, dbeta, dout, in, mean, rstd, rows, dim, 0, dim);
}

/* ---- batch norm pieces -------------------------------------------------------------------------- */

void batchnorm_column_sums(double *sum, const float *in, int rows, int dim) {
    for (int j = 0; j < dim; j++) sum[j] = 0.0;
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * dim;
        for (int j = 0; j < dim; j++) sum[j] += x[j];
    }
}

void batchnorm_centered_squares(double *sq, const float *in, const double *mean, int rows, int dim) {
    for (int j = 0; j < dim; j++) sq[j] = 0.0;
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * dim;
        for (int j = 0; j < dim; j++) {
            double c = x[j] - mean[j];
            sq[j] += c * c;
        }
    }
}

void batchnorm_finish_stats(float *mean, float *rstd, float *running_mean, float *running_var,
                            const double *mean_total, const double *sq_total, long n, int dim, float momentum) {
    for (int j = 0; j < dim; j++) {
        double var = sq_total[j] / n;
        mean[j] = (float)mean_total[j];
        rstd[j] = (float)(1.0 / sqrt(var + RP_NORM_EPS));
        if (running_mean) {
            /* PyTorch updates running_var with the unbiased variance. */
            double unbiased = n > 1 ? sq_total[j] / (n - 1) : var;
            running_mean[j] = (float)((1.0 - momentum) * running_mean[j] + momentum * mean_total[j]);
            running_var[j] = (float)((1.0 - momentum) * running_var[j] + momentum * unbiased);
        }
    }
}

void batchnorm_normalize(float *out, const float *in, const float *mean, const float *rstd,
                         const float *gamma, const float *beta, int rows, int dim) {
#pragma omp parallel for schedule(static) if (PAR_ROWS(rows))
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * dim;
        float *y = out + (size_t)r * dim;
        for (int j = 0; j < dim; j++) y[j] = (x[j] - mean[j]) * rstd[j] * gamma[j] + beta[j];
    }
}

void batchnorm_backward_sums(double *s1, double *s2, const float *dout, const float *in, const float *mean,
                             const float *rstd, int rows, int dim) {
    for (int j = 0; j < dim; j++) s1[j] = s2[j] = 0.0;
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * dim, *g = dout + (size_t)r * dim;
        for (int j = 0; j < dim; j++) {
            s1[j] += g[j];
            s2[j] += g[j] * ((x[j] - mean[j]) * rstd[j]);
        }
    }
}

void batchnorm_backward_input(float *din, const float *dout, const float *in, const float *mean,
                              const float *rstd, const float *gamma, const double *s1, const double *s2,
                              long n, int rows, int dim, int training) {
    /* din = rstd · gamma · (dout − s1/n − x̂ · s2/n) in training; rstd · gamma · dout in eval.
     * Per-feature coefficients first, in blocks of 64 features kept on the stack. */
    for (int j0 = 0; j0 < dim; j0 += 64) {
        int w = dim - j0 < 64 ? dim - j0 : 64;
        float a[64], c1[64], c2[64], m[64], s[64];
        for (int j = 0; j < w; j++) {
            a[j] = rstd[j0 + j] * gamma[j0 + j];
            c1[j] = training ? (float)(s1[j0 + j] / n) : 0.0f;
            c2[j] = training ? (float)(s2[j0 + j] / n) : 0.0f;
            m[j] = mean[j0 + j];
            s[j] = rstd[j0 + j];
        }
#pragma omp parallel for schedule(static) if (PAR_ROWS(rows))
        for (int r = 0; r < rows; r++) {
            const float *x = in + (size_t)r * dim + j0, *g = dout + (size_t)r * dim + j0;
            float *dx = din + (size_t)r * dim + j0;
            for (int j = 0; j < w; j++) {
                float xh = (x[j] - m[j]) * s[j];
                dx[j] += a[j] * (g[j] - c1[j] - xh * c2[j]);
            }
        }
    }
}

/* ---- batch norm --------------------------------------------------------------------------------- */

/* Column statistics live on the stack, for blocks of RP_BN_BLOCK features at a time (features are
 * independent in batch norm). */
#define RP_BN_BLOCK 64

void batchnorm_forward(float *out, float *mean, float *rstd, const float *in, const float *gamma,
                       const float *beta, float *running_mean, float *running_var, int rows, int dim,
                       int training, float momentum) {
    if (training) {
        double m[RP_BN_BLOCK], sq[RP_BN_BLOCK];
        for (int j0 = 0; j0 < dim; j0 += RP_BN_BLOCK) {
            int w = dim - j0 < RP_BN_BLOCK ? dim - j0 : RP_BN_BLOCK;
            /* one block of columns: strided views with row stride dim */
            for (int j = 0; j < w; j++) m[j] = sq[j] = 0.0;
            for (int r = 0; r < rows; r++) {
                const float *x = in + (size_t)r * dim + j0;
                for (int j = 0; j < w; j++) m[j] += x[j];
            }
            for (int j = 0; j < w; j++) m[j] /= rows;
            for (int r = 0; r < rows; r++) {
                const float *x = in + (size_t)r * dim + j0;
                for (int j = 0; j < w; j++) {
                    double c = x[j] - m[j];
                    sq[j] += c * c;
                }
            }
            batchnorm_finish_stats(mean + j0, rstd + j0, running_mean ? running_mean + j0 : NULL,
                                   running_var ? running_var + j0 : NULL, m, sq, rows, w, momentum);
        }
    } else {
        for (int j = 0; j < dim; j++) {
            mean[j] = running_mean[j];
            rstd[j] = (float)(1.0 / sqrt((double)running_var[j] + RP_NORM_EPS));
        }
    }
    batchnorm_normalize(out, in, mean, rstd, gamma, beta, rows, dim);
}

void batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                        const float *mean, const float *rstd, const float *gamma, int rows, int dim,
                        int training) {
    /* Blocks of features are independent: sums over the rows of the block's columns, then din. */
    for (int j0 = 0; j0 < dim; j0 += RP_BN_BLOCK) {
        int w = dim - j0 < RP_BN_BLOCK ? dim - j0 : RP_BN_BLOCK;
        double s1[RP_BN_BLOCK], s2[RP_BN_BLOCK];
        for (int j = 0; j < w; j++) s1[j] = s2[j] = 0.0;
        for (int r = 0; r < rows; r++) {
            const float *x = in + (size_t)r * dim + j0, *g = dout + (size_t)r * dim + j0;
            for (int j = 0; j < w; j++) {
                s1[j] += g[j];
                s2[j] += g[j] * ((x[j] - mean[j0 + j]) * rstd[j0 + j]);
            }
        }
        for (int j = 0; j < w; j++) {
            dbeta[j0 + j] += (float)s1[j];
            dgamma[j0 + j] += (float)s2[j];
        }
        float a[RP_BN_BLOCK], c1[RP_BN_BLOCK], c2[RP_BN_BLOCK];
        for (int j = 0; j < w; j++) {
            a[j] = rstd[j0 + j] * gamma[j0 + j];
            c1[j] = training ? (float)(s1[j] / rows) : 0.0f;
            c2[j] = training ? (float)(s2[j] / rows) : 0.0f;
        }
#pragma omp parallel for schedule(static) if (PAR_ROWS(rows))
        for (int r = 0; r < rows; r++) {
            const float *x = in + (size_t)r * dim + j0, *g = dout + (size_t)r * dim + j0;
            float *dx = din + (size_t)r * dim + j0;
            for (int j = 0; j < w; j++) {
                float xh = (x[j] - mean[j0 + j]) * rstd[j0 + j];
                dx[j] += a[j] * (g[j] - c1[j] - xh * c2[j]);
            }
        }
    }
}

/* ---- layer struct ------------------------------------------------------------------------------- */

int norm_declare(rp_norm *n, rp_params *P, const char *prefix, rp_norm_kind kind, int dim, rp_error *err) {
    char name[RP_PARAM_NAME_MAX + 32];
    n->kind = kind;
    n->dim = dim;
    n->running_mean = n->running_var = (size_t)-1;
    snprintf(name, sizeof name, "%s/gamma", prefix);
    if ((n->gamma = params_declare1(P, name, dim, err)) == (size_t)-1) return -1;
    snprintf(name, sizeof name, "%s/beta", prefix);
    if ((n->beta = params_declare1(P, name, dim, err)) == (size_t)-1) return -1;
    if (kind == NORM_BATCH) {
        int shape[1] = {dim};
        snprintf(name, sizeof name, "%s/running_mean", prefix);
        if ((n->running_mean = params_declare_buffer(P, name, 1, shape, err)) == (size_t)-1) return -1;
        snprintf(name, sizeof name, "%s/running_var", prefix);
        if ((n->running_var = params_declare_buffer(P, name, 1, shape, err)) == (size_t)-1) return -1;
    }
    return 0;
}

void norm_init(const rp_norm *n, rp_params *P) {
    for (int j = 0; j < n->dim; j++) {
        P->value[n->gamma + j] = 1.0f;
        P->value[n->beta + j] = 0.0f;
        if (n->kind == NORM_BATCH) {
            P->value[n->running_mean + j] = 0.0f;
            P->value[n->running_var + j] = 1.0f;
        }
    }
}

size_t norm_stat_floats(const rp_norm *n, int rows) {
    return n->kind == NORM_BATCH ? 2 * (size_t)n->dim : 2 * (size_t)rows;
}

/* The batch of a sharded step as a team of this one thread (core/norm.h): its sums are the
 * whole batch's. reduce: room for the team's per-thread sums, one thread's worth. */
static rp_norm_team one_thread_team(int rows, long rows_all, double *reduce) {
    return (rp_norm_team){.t = 0, .T = 1, .n0 = 0, .rows = rows, .N = rows, .N_all = rows_all,
                          .reduce1 = reduce, .reduce2 = reduce + 2 * RP_NORM_TEAM_MAX_DIM};
}

void norm_forward(const rp_norm *n, rp_params *P, float *out, float *stats, const float *in,
                  int rows, long rows_all, int training) {
    const float *gamma = P->value + n->gamma, *beta = P->value + n->beta;
    if (n->kind == NORM_BATCH && dist_sharded()) {
        double reduce[4 * RP_NORM_TEAM_MAX_DIM];
        const rp_norm_team one = one_thread_team(rows, rows_all, reduce);
        norm_forward_team(n, P, out, stats, in, training, &one);
    } else if (n->kind == NORM_BATCH) {
        batchnorm_forward(out, stats, stats + n->dim, in, gamma, beta, P->value + n->running_mean,
                          P->value + n->running_var, rows, n->dim, training, RP_BATCHNORM_MOMENTUM);
    } else {
        layernorm_forward(out, stats, stats + rows, in, gamma, beta, rows, n->dim);
    }
}

void norm_backward(const rp_norm *n, rp_params *P, float *din, const float *dout, const float *in,
                   const float *stats, int rows, long rows_all, int training) {
    const float *gamma = P->value + n->gamma;
    float *dgamma = P->grad + n->gamma, *dbeta = P->grad + n->beta;
    if (n->kind == NORM_BATCH && dist_sharded()) {
        double reduce[4 * RP_NORM_TEAM_MAX_DIM];
        const rp_norm_team one = one_thread_team(rows, rows_all, reduce);
        norm_backward_team(n, P, din, dout, in, stats, training, &one, one.reduce1);
    } else if (n->kind == NORM_BATCH) {
        batchnorm_backward(din, dgamma, dbeta, dout, in, stats, stats + n->dim, gamma, rows, n->dim, training);
    } else {
        layernorm_backward(din, dgamma, dbeta, dout, in, stats, stats + rows, gamma, rows, n->dim);
    }
}

/* ---- across threads and ranks ------------------------------------------------------------------- */

/* The threads of a team wait for each other. A one-thread team has no one to wait for, and its
 * caller may be a thread of a per-thread sharded step outside any region of its own, where an
 * orphaned barrier would bind to the step's region. */
static void team_barrier(const rp_norm_team *tm) {
    if (tm->T > 1) {
#pragma omp barrier
    }
}

/* In a sharded step (core/dist.h) every thread's x[0..n) becomes the sum over ranks, in rank
 * order, of thread 0's x (the threads' x are equal on entry). All threads of the team call it. */
static void team_sum_ranks(double *x, int n, const rp_norm_team *tm) {
    if (!dist_sharded()) return;
    /* A one-thread team (norm_forward, or a thread of a per-thread sharded step, core/dist.h):
     * the sum is this thread's own call, which also sums over the other threads of a team. */
    if (tm->T == 1) {
        dist_sum_doubles(x, (size_t)n);
        return;
    }
    double *shared = dist_scratch();
#pragma omp barrier
    if (tm->t == 0) {
        memcpy(shared, x, (size_t)n * sizeof *x);
        dist_sum_doubles(shared, (size_t)n);
    }
#pragma omp barrier
    memcpy(x, shared, (size_t)n * sizeof *x);
#pragma omp barrier
}

/* Norm forward of this thread's rows; batch norm in training combines column sums of all threads
 * (double, thread order). Thread 0 writes the saved statistics and the running statistics. */
void norm_forward_team(const rp_norm *n, rp_params *P, float *out, float *stats, const float *in, int training,
                       const rp_norm_team *tm) {
    const int d = n->dim;
    const float *gamma = P->value + n->gamma, *beta = P->value + n->beta;
    const size_t o = (size_t)tm->n0 * d;
    if (n->kind == NORM_LAYER) {
        layernorm_forward(out + o, stats + tm->n0, stats + tm->N + tm->n0, in + o, gamma, beta, tm->rows, d);
        return;
    }
    float mean[RP_NORM_TEAM_MAX_DIM], rstd[RP_NORM_TEAM_MAX_DIM];
    if (training) {
        double tot[RP_NORM_TEAM_MAX_DIM], sq[RP_NORM_TEAM_MAX_DIM];
        batchnorm_column_sums(tm->reduce1 + (size_t)tm->t * d, in + o, tm->rows, d);
        team_barrier(tm);
        for (int j = 0; j < d; j++) tot[j] = 0.0;
        for (int u = 0; u < tm->T; u++)
            for (int j = 0; j < d; j++) tot[j] += tm->reduce1[(size_t)u * d + j];
        team_sum_ranks(tot, d, tm);
        for (int j = 0; j < d; j++) tot[j] /= tm->N_all;
        batchnorm_centered_squares(tm->reduce2 + (size_t)tm->t * d, in + o, tot, tm->rows, d);
        team_barrier(tm);
        for (int j = 0; j < d; j++) sq[j] = 0.0;
        for (int u = 0; u < tm->T; u++)
            for (int j = 0; j < d; j++) sq[j] += tm->reduce2[(size_t)u * d + j];
        team_sum_ranks(sq, d, tm);
        /* One writer of the running statistics: thread 0 of the team, and of a per-thread sharded
         * step's threads (each of which is a one-thread team here, core/dist.h). */
        int lead = tm->t == 0 && dist_thread() == 0;
        batchnorm_finish_stats(mean, rstd, lead ? P->value + n->running_mean : NULL,
                               lead ? P->value + n->running_var : NULL, tot, sq, tm->N_all, d, RP_BATCHNORM_MOMENTUM);
    } else {
        const float *rm = P->value + n->running_mean, *rv = P->value + n->running_var;
        for (int j = 0; j < d; j++) {
            mean[j] = rm[j];
            rstd[j] = (float)(1.0 / sqrt((double)rv[j] + RP_NORM_EPS));
        }
    }
    if (tm->t == 0) {
        memcpy(stats, mean, (size_t)d * sizeof *stats);
        memcpy(stats + d, rstd, (size_t)d * sizeof *stats);
    }
    batchnorm_normalize(out + o, in + o, mean, rstd, gamma, beta, tm->rows, d);
}

/* din (this thread's rows) += norm backward of dout; batch norm combines the column sums of all
 * threads through `reduce` and thread 0 adds dgamma/dbeta. Layer norm's dgamma/dbeta are left to
 * the parameter phase (layernorm_backward_params). */
void norm_backward_team(const rp_norm *n, rp_params *P, float *din, const float *dout, const float *in,
                        const float *stats, int training, const rp_norm_team *tm, double *reduce) {
    const int d = n->dim;
    const float *gamma = P->value + n->gamma;
    const size_t o = (size_t)tm->n0 * d;
    if (n->kind == NORM_LAYER) {
        layernorm_backward_input(din + o, dout + o, in + o, stats + tm->n0, stats + tm->N + tm->n0, gamma,
                                 tm->rows, d);
        return;
    }
    double s1[RP_NORM_TEAM_MAX_DIM], s2[RP_NORM_TEAM_MAX_DIM];
    double *mine = reduce + (size_t)tm->t * 2 * d;
    batchnorm_backward_sums(mine, mine + d, dout + o, in + o, stats, stats + d, tm->rows, d);
    team_barrier(tm);
    for (int j = 0; j < d; j++) s1[j] = s2[j] = 0.0;
    for (int u = 0; u < tm->T; u++) {
        const double *theirs = reduce + (size_t)u * 2 * d;
        for (int j = 0; j < d; j++) {
            s1[j] += theirs[j];
            s2[j] += theirs[d + j];
        }
    }
    if (tm->t == 0) {
        float *dgamma = P->grad + n->gamma, *dbeta = P->grad + n->beta;
        for (int j = 0; j < d; j++) {
            dbeta[j] += (float)s1[j];
            dgamma[j] += (float)s2[j];
        }
    }
    /* dgamma/dbeta above take this rank's rows (the gradients are summed over ranks later); the
     * input gradient needs the sums over the whole batch. */
    if (dist_sharded()) {
        double both[2 * RP_NORM_TEAM_MAX_DIM];
        memcpy(both, s1, (size_t)d * sizeof *s1);
        memcpy(both + d, s2, (size_t)d * sizeof *s2);
        team_sum_ranks(both, 2 * d, tm);
        memcpy(s1, both, (size_t)d * sizeof *s1);
        memcpy(s2, both + d, (size_t)d * sizeof *s2);
    }
    batchnorm_backward_input(din + o, dout + o, in + o, stats, stats + d, gamma, s1, s2, tm->N_all, tm->rows, d,
                             training);
}
