/* Data-parallel runs on MPI (issue 21): which rank this process is, and the few collectives the
 * trainer needs, each with a result that does not depend on the message sizes or timing.
 *
 * Built with MPI (meson option `mpi`, on when Open MPI is found, RP_HAVE_MPI) and started by
 * mpirun, dist_init initialises MPI; otherwise, or when the binary is started without mpirun,
 * there is one rank and every function below is a no-op, so a single process behaves exactly as
 * a build without MPI.
 *
 * The shard context: during a sharded training step, rank r holds rows [row0, row0 + rows) of
 * a global batch of `rows_total` model rows (windows × rollouts). Layers that couple rows (batch
 * norm) or draw per-row random numbers (dropout, boundary sampling) read it, so that the step
 * computes what one process would on the whole batch: batch-norm statistics are summed over
 * ranks, random streams are indexed by global row. Outside a sharded step (evaluation, one
 * rank) it is {0, 0, 0} and those layers work on their local batch as before.
 *
 * Nothing here allocates memory a caller frees. */
#ifndef RP_DIST_H
#define RP_DIST_H

#include <stddef.h>

#include "core/error.h"

/* Initialises MPI when the build has it and the process was started by an MPI launcher (its
 * environment says so); thread support FUNNELED (only the thread that called it talks MPI).
 * Returns 0, or -1 with err set when MPI fails to start. */
int dist_init(int *argc, char ***argv, rp_error *err);
/* Finalises MPI if dist_init started it. */
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);
/* 1 when this build can run on several ranks (compiled with MPI). */
int dist_compiled(void);

/* Sums x[0..n) over ranks, in place, in rank order 0, 1, ..., N-1, so that every rank gets the
 * same bits and a run is reproducible for a given N (a reduce-scatter into per-rank chunks, each
 * summed in rank order, then an all-gather). No-op with one rank. Called by a thread of a team
 * (below), it sums over the team's threads first. */
void dist_sum_floats(float *x, size_t n);
void dist_sum_doubles(double *x, size_t n);
/* Bytes this rank has sent and received in dist_sum_* since the start (the benchmark's
 * per-step communication). */
unsigned long long dist_bytes_exchanged(void);

/* Rows [lo, hi) of n that rank `rank` of `size` takes: contiguous, in rank order, sizes
 * differing by at most one. */
void dist_split(long long n, int rank, int size, long long *lo, long long *hi);

/* The shard context (see above). dist_shard_set(row0, rows_total) opens it, dist_shard_clear
 * closes it; dist_sharded() is 1 while a context with more than one rank (or a thread of a team,
 * below) is open. In a team each thread has its own context; elsewhere it is the process's, which
 * the threads of an OpenMP region inside the step read. */
void dist_shard_set(long long row0, long long rows_total);
void dist_shard_clear(void);
int dist_sharded(void);
long long dist_row0(void);
long long dist_rows_total(void);
/* Rows of the whole batch for a layer that sees `per_row` of its rows (tokens) per model row and
 * `local` rows in this process: dist_rows_total() · per_row in a sharded step, else local. */
long long dist_batch_rows(long long local, int per_row);
/* A scratch vector shared by the threads of a process, for handing one thread's
 * dist_sum_doubles result to the others (RP_DIST_SCRATCH doubles). */
#define RP_DIST_SCRATCH 4096
double *dist_scratch(void);

/* ---- thread shards (issue 15) ------------------------------------------------------------------
 * With train.threads = T > 1 a training step runs as a team of T threads (an OpenMP parallel
 * region), each taking a contiguous share of this process's windows with its own activations and
 * gradient, the way ranks do (train/train.c, train_step; docs/method.md §8). For the functions
 * above a team thread is one more "rank": after dist_team_join its shard context is its own, and
 * dist_sum_floats/doubles become collectives of the team and the ranks: the T threads' vectors are
 * summed in thread order (0, 1, ..., T−1), that sum over ranks in rank order by thread 0 (the
 * thread that started MPI), and every thread gets the result. So every thread of a team must make
 * the same dist_sum_* calls in the same order, with the same n. The barriers are this file's own
 * (they do not bind to an OpenMP team, so they work from inside a layer's one-thread region); a
 * waiting thread spins as OMP_WAIT_POLICY / GOMP_SPINCOUNT say (core/util.h), then sleeps.
 *
 * One team at a time per process. dist_team_open(T) is called by one thread of the region (in an
 * `omp single`, whose closing barrier the others wait at) before any thread joins;
 * dist_team_close after every thread has left (after the region). No memory to free. */
#define RP_DIST_MAX_THREADS 256
void dist_team_open(int threads);
/* This thread is thread t (0 ≤ t < T) of the open team; t = 0 must be the thread that started
 * MPI (the region's primary thread). dist_team_leave clears its thread-local shard context. */
void dist_team_join(int t);
void dist_team_leave(void);
void dist_team_close(void);
/* This thread's index in the team, and the team's size: 0 and 1 outside a team. */
int dist_thread(void);
int dist_team_size(void);

/* Every rank calls it at the same point with its own status: returns 0 when every rank had
 * rc == 0; otherwise -1 on every rank, with err holding the message of the lowest failing rank,
 * prefixed "rank K: " when there are several ranks. */
int dist_agree(int rc, rp_error *err);
/* A failure after the ranks have agreed to start (one rank alone failed, the others would wait
 * for it forever): prints "<what>: rank K: <message>" on stderr and aborts every rank with exit
 * status 1. With one rank it returns and the caller handles the error as usual. */
void dist_abort_if_parallel(const char *what, const rp_error *err);

#endif
