/* Data-parallel collectives on MPI, or one rank without it (core/dist.h). */
#include "core/dist.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef RP_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;
#ifdef RP_HAVE_MPI
static int g_started = 0;
#endif
static long long g_row0 = 0, g_rows_total = 0;
static unsigned long long g_bytes = 0;
static double g_scratch[RP_DIST_SCRATCH];

/* A thread of a team (dist_team_join): its index and its own shard context. */
static _Thread_local int tl_member = 0, tl_thread = 0;
static _Thread_local long long tl_row0 = 0, tl_rows_total = 0;

/* The team: a counting barrier (spin, then sleep on a condition variable) and the slots through
 * which the threads show each other their vectors in a sum. */
#define TEAM_SCRATCH_BYTES (64 * 1024)
static struct {
    int size;
    int spins;
    atomic_int arrived;
    atomic_uint generation;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    void *slot[RP_DIST_MAX_THREADS];
    void *sum;        /* the thread-order sum: scratch, or a larger allocation thread 0 made */
    _Alignas(16) unsigned char scratch[TEAM_SCRATCH_BYTES];
} g_team = {.size = 1, .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

int dist_compiled(void) {
#ifdef RP_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int dist_init(int *argc, char ***argv, rp_error *err) {
#ifdef RP_HAVE_MPI
    /* Only under a launcher: a plain `reinpatch ...` must not start MPI's singleton machinery. */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK")) return 0;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return rp_fail(err, "MPI_Init_thread failed");
    g_started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    if (provided < MPI_THREAD_FUNNELED) return rp_fail(err, "MPI gives no MPI_THREAD_FUNNELED support");
#else
    (void)argc; (void)argv; (void)err;
#endif
    return 0;
}

void dist_finalize(void) {
#ifdef RP_HAVE_MPI
    if (g_started) MPI_Finalize();
    g_started = 0;
#endif
}

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }
unsigned long long dist_bytes_exchanged(void) { return g_bytes; }

void dist_split(long long n, int rank, int size, long long *lo, long long *hi) {
    *lo = n * rank / size;
    *hi = n * (rank + 1) / size;
}

#ifdef RP_HAVE_MPI
/* Chunk c of n elements, chunk sizes differing by at most one: [n·c/N, n·(c+1)/N). */
static void chunks(size_t n, int N, int *counts, int *displs) {
    for (int c = 0; c < N; c++) {
        long long lo, hi;
        dist_split((long long)n, c, N, &lo, &hi);
        counts[c] = (int)(hi - lo);
        displs[c] = (int)lo;
    }
}

/* Reduce-scatter by hand: rank r receives every rank's chunk r (MPI_Alltoallv into `gathered`,
 * rank-major), sums them in rank order, then the sums are all-gathered in place. MPI_Allreduce
 * would leave the order of the sum to the library's algorithm choice. */
#define DIST_SUM(NAME, T, MPI_T)                                                                             \
    static void NAME(T *x, size_t n) {                                                                       \
        if (g_size <= 1 || n == 0) return;                                                                   \
        int N = g_size, *cnt = malloc(4 * (size_t)N * sizeof(int));                                          \
        if (!cnt) abort();                                                                                   \
        int *dsp = cnt + N, *rcnt = cnt + 2 * N, *rdsp = cnt + 3 * N;                                        \
        chunks(n, N, cnt, dsp);                                                                                     \
        int mine = cnt[g_rank];                                                                              \
        for (int r = 0; r < N; r++) {                                                                        \
            rcnt[r] = mine;                                                                                  \
            rdsp[r] = r * mine;                                                                              \
        }                                                                                                    \
        T *gathered = malloc(((size_t)N * (size_t)mine + 1) * sizeof(T));                                    \
        if (!gathered) abort();                                                                              \
        MPI_Alltoallv(x, cnt, dsp, MPI_T, gathered, rcnt, rdsp, MPI_T, MPI_COMM_WORLD);                      \
        T *out = x + dsp[g_rank];                                                                            \
        for (int i = 0; i < mine; i++) {                                                                     \
            T s = gathered[i];                                                                               \
            for (int r = 1; r < N; r++) s += gathered[(size_t)r * mine + i];                                 \
            out[i] = s;                                                                                      \
        }                                                                                                    \
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, cnt, dsp, MPI_T, MPI_COMM_WORLD);              \
        /* sent plus received, both phases: (n - mine) + (N - 1)·mine elements each way */                 \
        g_bytes += 2ull * ((unsigned long long)(n - (size_t)mine) + (unsigned long long)(N - 1) * mine) *      \
                   sizeof(T);                                                                                \
        free(gathered);                                                                                      \
        free(cnt);                                                                                           \
    }
DIST_SUM(ranks_sum_floats, float, MPI_FLOAT)
DIST_SUM(ranks_sum_doubles, double, MPI_DOUBLE)
#else
static void ranks_sum_floats(float *x, size_t n) { (void)x; (void)n; }
static void ranks_sum_doubles(double *x, size_t n) { (void)x; (void)n; }
#endif

/* ---- teams ---------------------------------------------------------------------------------------- */

/* How long a waiting thread spins before it sleeps, from the same settings as libgomp's waiting
 * (core/util.h, rp_choose_omp_waiting): PASSIVE sleeps at once. */
static int team_spins(void) {
    const char *policy = getenv("OMP_WAIT_POLICY"), *count = getenv("GOMP_SPINCOUNT");
    if (policy && (!strcmp(policy, "PASSIVE") || !strcmp(policy, "passive"))) return 0;
    if (count) {
        long v = strtol(count, NULL, 10);
        return v < 0 ? 0 : v > 10000000 ? 10000000 : (int)v;
    }
    return 30000;
}

void dist_team_open(int threads) {
    static int spins = -1; /* the environment is read once (one team at a time: no race) */
    if (spins < 0) spins = team_spins();
    g_team.size = threads < 1 ? 1 : threads > RP_DIST_MAX_THREADS ? RP_DIST_MAX_THREADS : threads;
    g_team.spins = spins;
    atomic_store(&g_team.arrived, 0);
}

void dist_team_close(void) { g_team.size = 1; }

void dist_team_join(int t) {
    tl_member = 1;
    tl_thread = t;
    tl_row0 = tl_rows_total = 0;
}

void dist_team_leave(void) { tl_member = tl_thread = 0; tl_row0 = tl_rows_total = 0; }
int dist_thread(void) { return tl_member ? tl_thread : 0; }
int dist_team_size(void) { return tl_member ? g_team.size : 1; }

/* Every thread of the team waits here until all have arrived. The last to arrive starts a new
 * generation; the others spin on it for a while, then sleep until it changes. */
static void team_barrier(void) {
    unsigned gen = atomic_load_explicit(&g_team.generation, memory_order_acquire);
    if (atomic_fetch_add_explicit(&g_team.arrived, 1, memory_order_acq_rel) + 1 == g_team.size) {
        atomic_store_explicit(&g_team.arrived, 0, memory_order_relaxed);
        pthread_mutex_lock(&g_team.lock);
        atomic_store_explicit(&g_team.generation, gen + 1, memory_order_release);
        pthread_cond_broadcast(&g_team.wake);
        pthread_mutex_unlock(&g_team.lock);
        return;
    }
    for (int i = 0; i < g_team.spins; i++) {
        if (atomic_load_explicit(&g_team.generation, memory_order_acquire) != gen) return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause(); /* let a sibling hyper-thread run while this one waits */
#endif
    }
    pthread_mutex_lock(&g_team.lock);
    while (atomic_load_explicit(&g_team.generation, memory_order_acquire) == gen)
        pthread_cond_wait(&g_team.wake, &g_team.lock);
    pthread_mutex_unlock(&g_team.lock);
}

/* The team's sum: each thread shows its x; thread t sums element chunk t over the threads in
 * thread order into the shared result; thread 0 sums that over ranks; every thread copies it
 * back. The result is the same bits on every thread, whatever the timing. */
#define TEAM_SUM(NAME, T, RANKS_SUM)                                                                         \
    static void NAME(T *x, size_t n) {                                                                       \
        const int size = g_team.size, me = tl_thread;                                                        \
        const int big = n * sizeof(T) > TEAM_SCRATCH_BYTES;                                                  \
        if (me == 0) {                                                                                       \
            g_team.sum = big ? malloc(n * sizeof(T)) : (void *)g_team.scratch;                               \
            if (!g_team.sum) abort();                                                                        \
        }                                                                                                    \
        g_team.slot[me] = x;                                                                                 \
        team_barrier();                                                                                      \
        T *sum = g_team.sum;                                                                                 \
        long long lo, hi;                                                                                    \
        dist_split((long long)n, me, size, &lo, &hi);                                                        \
        for (long long i = lo; i < hi; i++) {                                                                \
            T s = ((const T *)g_team.slot[0])[i];                                                            \
            for (int u = 1; u < size; u++) s += ((const T *)g_team.slot[u])[i];                              \
            sum[i] = s;                                                                                      \
        }                                                                                                    \
        team_barrier();                                                                                      \
        if (g_size > 1) {                                                                                    \
            if (me == 0) RANKS_SUM(sum, n);                                                                  \
            team_barrier();                                                                                  \
        }                                                                                                    \
        memcpy(x, sum, n * sizeof(T));                                                                       \
        if (big) {                                                                                           \
            team_barrier();                                                                                  \
            if (me == 0) free(sum);                                                                          \
        }                                                                                                    \
    }
TEAM_SUM(team_sum_floats, float, ranks_sum_floats)
TEAM_SUM(team_sum_doubles, double, ranks_sum_doubles)

void dist_sum_floats(float *x, size_t n) {
    if (tl_member && g_team.size > 1) team_sum_floats(x, n);
    else ranks_sum_floats(x, n);
}

void dist_sum_doubles(double *x, size_t n) {
    if (tl_member && g_team.size > 1) team_sum_doubles(x, n);
    else ranks_sum_doubles(x, n);
}

void dist_shard_set(long long row0, long long rows_total) {
    if (tl_member) {
        tl_row0 = row0;
        tl_rows_total = rows_total;
    } else {
        g_row0 = row0;
        g_rows_total = rows_total;
    }
}

void dist_shard_clear(void) {
    if (tl_member) tl_row0 = tl_rows_total = 0;
    else g_row0 = g_rows_total = 0;
}

int dist_sharded(void) { return tl_member ? tl_rows_total > 0 : g_size > 1 && g_rows_total > 0; }
long long dist_row0(void) { return tl_member ? tl_row0 : g_size > 1 ? g_row0 : 0; }
long long dist_rows_total(void) { return tl_member ? tl_rows_total : g_rows_total; }
long long dist_batch_rows(long long local, int per_row) {
    return dist_sharded() ? dist_rows_total() * per_row : local;
}
double *dist_scratch(void) { return g_scratch; }

int dist_agree(int rc, rp_error *err) {
#ifdef RP_HAVE_MPI
    if (g_size > 1) {
        int failed = rc ? g_rank : g_size, first = g_size;
        MPI_Allreduce(&failed, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (first == g_size) return 0;
        char msg[RP_ERROR_MSG_MAX];
        if (g_rank == first) snprintf(msg, sizeof msg, "%s", err ? err->msg : "failed");
        MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, MPI_COMM_WORLD);
        msg[sizeof msg - 1] = 0;
        rp_fail(err, "rank %d: %s", first, msg);
        return -1;
    }
#endif
    return rc ? -1 : 0;
}

void dist_abort_if_parallel(const char *what, const rp_error *err) {
#ifdef RP_HAVE_MPI
    if (g_size > 1) {
        fprintf(stderr, "%s: rank %d: %s\n", what, g_rank, err ? err->msg : "failed");
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
#endif
    (void)what; (void)err;
}
