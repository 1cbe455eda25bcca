/* Statistics of segmentation exports (`reinpatch segment --out`), printed as markdown tables for
 * docs/foundation.md ("What the patcher does on unseen data"; scripts/foundation_insight runs it).
 *
 * usage: segment_stats activity [options] SEG.h5...  (a) where boundaries fall, against the local
 *                                                     activity of the series (one row per export,
 *                                                     level and measure)
 *        segment_stats lengths  [options] SEG.h5...  (b) patch-length distribution per level
 *        segment_stats agree    [options] A.h5 B.h5  (c) boundary agreement of two exports of the
 *                                                     same windows, against uniform and random
 *        segment_stats position [options] SEG.h5...  where in the window the short and the long
 *                                                     patches lie (one row per export and level)
 * options: --seed N    random-boundary baseline (default 2021; window w draws from stream w)
 *          --half H    half-width of the local windows of the activity measures (default 4)
 *          --every N   use every N-th window only (default 1: all)
 *
 * Exports are read with segexport_read (io/segexport.h, HDF5 C API); every row is checked to be
 * a contiguous cover of [0, L). The activity measures need the series: the CSV named by the
 * export's `source` attribute, or $REINPATCH_DATA/<its file name> when that path is gone.
 *
 * Definitions (gap j, 1 <= j <= L-1, lies between steps j-1 and j of a window; a segmentation
 * puts a boundary in gap j when a patch starts at step j; each level has K-1 boundaries):
 *   x            the window RevIN-normalised: (v - mean) / std over its L steps, as the policy
 *                sees it (windows with std 0 are skipped and counted)
 *   |dx|         |x_j - x_{j-1}|
 *   local sd     population std of x over steps [j-H, j+H) (clipped to the window)
 *   mean shift   |mean x[j, j+H) - mean x[j-H, j)| (clipped): a two-sample change-point score
 *   rise         the same difference, signed: > 0 where the series steps up across the gap
 *   level        (x_{j-1} + x_j) / 2, signed
 *   AUC          per window, the Mann-Whitney probability that a boundary gap has a higher
 *                measure than a non-boundary gap (ties count 1/2; average ranks), averaged over
 *                windows. 0.5 = no relation; it is the within-window rank correlation between
 *                "boundary in gap j" and the measure, rescaled: Spearman = (2 AUC - 1) *
 *                sqrt(3 p (1 - p)) * (L-1) / sqrt((L-1)^2 - 1) with p = (K-1)/(L-1) (no ties).
 *   block SE     windows overlap (stride 1), so the standard error is taken over blocks: runs
 *                of consecutive windows of one channel whose start rows lie in the same L-row
 *                block (about one independent stretch of series each).
 *   uniform      boundaries at floor(k L / K), k = 1..K-1 (for L = 336, K = 42: multiples of 8)
 *   random       K-1 distinct gaps drawn uniformly, per window (seeded)
 *   lengths      per level, over every patch of every window: mean, sd, quantiles (the smallest
 *                length whose cumulative share reaches q), shares of length 1, 1-3, r +- 1 and
 *                >= 2r; "off the grid": interior boundaries not at a uniform position, "k-th !=
 *                uniform k-th": the pretraining report's frac_moved (index by index)
 *   position     the window cut into 8 equal parts by time step, oldest first: per part, the mean
 *                length of the patches that cover its steps, each step weighted once (so a part
 *                covered by one 42-step patch reads 42, by 8-step patches 8; uniform patching
 *                reads L/K everywhere); then the mean length of the last patch (the most recent
 *                steps, those next to the forecast)
 *   agreement    exact: |S ∩ T| / (K-1); within ±d: the share of the boundaries of S with a
 *                boundary of T at most d steps away, averaged with the same share from T to S;
 *                both averaged over windows. "moved" rows restrict S to its boundaries that are
 *                off the uniform grid. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "io/segexport.h"
#include "io/series.h"

typedef struct opts {
    unsigned long long seed;
    int half, every;
} opts;

/* ---- inputs ---- */

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The export's name in tables: its file name without ".h5". */
static void export_label(const char *path, char *buf, size_t size) {
    snprintf(buf, size, "%s", base_name(path));
    size_t n = strlen(buf);
    if (n > 3 && !strcmp(buf + n - 3, ".h5")) buf[n - 3] = 0;
}

/* segexport_read plus the cover invariant of docs/formats.md, so that nothing below reads a
 * boundary outside the window. */
static int load_export(const char *path, rp_segexport *e, rp_error *err) {
    if (segexport_read(path, e, err)) return -1;
    int L = e->lookback;
    for (int l = 0; l < e->n_levels; l++) {
        const rp_segexport_level *lv = &e->levels[l];
        if (lv->K < 1 || lv->K > L) return rp_fail(err, "%s: level %d has K = %d for lookback %d", path, l, lv->K, L);
        for (int w = 0; w < e->n_windows; w++) {
            const int32_t *st = lv->starts + (size_t)w * lv->K, *ln = lv->lengths + (size_t)w * lv->K;
            for (int k = 0; k < lv->K; k++) {
                int expect = k ? st[k - 1] + ln[k - 1] : 0;
                if (st[k] != expect || ln[k] < 1 || st[k] + ln[k] > L || (k == lv->K - 1 && st[k] + ln[k] != L))
                    return rp_fail(err, "%s: level %d, window %d, patch %d: start %d length %d is not a contiguous "
                                   "cover of [0, %d)", path, l, w, k, st[k], ln[k], L);
            }
        }
    }
    return 0;
}

/* load_export and export_label for the one-export-per-row tables; says what failed on stderr. */
static int open_export(const char *path, rp_segexport *e, char *label, size_t size) {
    rp_error err = {{0}};
    if (load_export(path, e, &err)) {
        fprintf(stderr, "segment_stats: %s\n", err.msg);
        return -1;
    }
    export_label(path, label, size);
    return 0;
}

/* The export's source CSV; $REINPATCH_DATA/<file name> when the recorded path cannot be read. */
static int load_source(const rp_segexport *e, rp_series *s, rp_error *err) {
    if (!e->source) return rp_fail(err, "the export names no source");
    if (!csv_read(e->source, s, err)) return 0;
    const char *dir = getenv("REINPATCH_DATA");
    if (!dir) return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, base_name(e->source));
    rp_error second;
    if (csv_read(path, s, &second)) return -1; /* keep the first message: it names the recorded path */
    return 0;
}

/* ---- reference segmentations ---- */

static void uniform_starts(int L, int K, int *starts) {
    for (int k = 0; k < K; k++) starts[k] = (int)((long long)k * L / K);
}

/* K-1 distinct gaps in 1..L-1, uniformly (partial Fisher-Yates), as sorted starts[0..K-1]. */
static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void random_starts(rp_rng *rng, int L, int K, int *pool, int *starts) {
    for (int j = 0; j < L - 1; j++) pool[j] = j + 1;
    for (int i = 0; i < K - 1; i++) {
        int j = i + (int)rng_below(rng, (uint64_t)(L - 1 - i));
        int t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
    }
    qsort(pool, (size_t)(K - 1), sizeof(int), cmp_int);
    starts[0] = 0;
    for (int k = 1; k < K; k++) starts[k] = pool[k - 1];
}

/* The random baseline of window w: its own stream, so a rerun or a subset repeats it. */
static void window_random_starts(const opts *o, int level, int w, int L, int K, int *pool, int *starts) {
    rp_rng rng;
    rng_seed(&rng, o->seed + 7919ull * (unsigned long long)level, (uint64_t)w);
    random_starts(&rng, L, K, pool, starts);
}

/* ---- (a) activity ---- */

enum { ACT_DIFF, ACT_SD, ACT_SHIFT, ACT_RISE, ACT_LEVEL, N_ACT };
static const char *ACT_NAME[N_ACT] = {"\\|dx\\|", "local sd", "mean shift", "rise", "level"};
enum { REF_EXPORT, REF_UNIFORM, REF_RANDOM, N_REF };

/* Measures at every gap j = 1..L-1 (stored at j-1) of the raw window v[L]; x[L] is scratch.
 * Returns 0 for a constant window (nothing to normalise by). */
static int window_activity(const float *v, size_t stride, int L, int half, double *x, double *act[N_ACT]) {
    double mean = 0, var = 0;
    for (int i = 0; i < L; i++) mean += v[(size_t)i * stride];
    mean /= L;
    for (int i = 0; i < L; i++) {
        double d = v[(size_t)i * stride] - mean;
        var += d * d;
    }
    double sd = sqrt(var / L);
    if (!(sd > 0)) return 0;
    for (int i = 0; i < L; i++) x[i] = (v[(size_t)i * stride] - mean) / sd;
    for (int j = 1; j < L; j++) {
        int a = j - half > 0 ? j - half : 0, b = j + half < L ? j + half : L;
        double s = 0, s2 = 0, left = 0, right = 0;
        for (int i = a; i < b; i++) {
            s += x[i];
            s2 += x[i] * x[i];
        }
        for (int i = a; i < j; i++) left += x[i];
        for (int i = j; i < b; i++) right += x[i];
        double m = s / (b - a), lv = s2 / (b - a) - m * m;
        act[ACT_DIFF][j - 1] = fabs(x[j] - x[j - 1]);
        act[ACT_SD][j - 1] = sqrt(lv > 0 ? lv : 0);
        act[ACT_RISE][j - 1] = right / (b - j) - left / (j - a);
        act[ACT_SHIFT][j - 1] = fabs(act[ACT_RISE][j - 1]);
        act[ACT_LEVEL][j - 1] = 0.5 * (x[j - 1] + x[j]);
    }
    return 1;
}

typedef struct ranked {
    double v;
    int i;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    double x = ((const ranked *)a)->v, y = ((const ranked *)b)->v;
    return (x > y) - (x < y);
}

/* rank[i] = the 1-based rank of a[i] among a[0..n-1], ties sharing their average rank. */
static void average_ranks(const double *a, int n, ranked *tmp, double *rank) {
    for (int i = 0; i < n; i++) tmp[i] = (ranked){a[i], i};
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_ranked);
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && tmp[j + 1].v == tmp[i].v) j++;
        double r = 0.5 * (i + j) + 1;
        for (int k = i; k <= j; k++) rank[tmp[k].i] = r;
        i = j + 1;
    }
}

/* Mean of per-window values with a standard error over blocks of windows. */
typedef struct block_mean {
    double sum;        /* over windows */
    long long n;
    double bsum, bsum2; /* over closed blocks: sum and sum of squares of block means */
    long long nb;
    double cur_sum;    /* the open block */
    long long cur_n;
} block_mean;

static void bm_close(block_mean *m) {
    if (m->cur_n == 0) return;
    double b = m->cur_sum / (double)m->cur_n;
    m->bsum += b;
    m->bsum2 += b * b;
    m->nb++;
    m->cur_sum = 0;
    m->cur_n = 0;
}

static void bm_add(block_mean *m, double v) {
    m->sum += v;
    m->n++;
    m->cur_sum += v;
    m->cur_n++;
}

static double bm_mean(const block_mean *m) { return m->n ? m->sum / (double)m->n : NAN; }

static double bm_se(const block_mean *m) {
    if (m->nb < 2) return NAN;
    double mu = m->bsum / (double)m->nb, var = (m->bsum2 - (double)m->nb * mu * mu) / (double)(m->nb - 1);
    return sqrt(var > 0 ? var : 0) / sqrt((double)m->nb);
}

static int cmd_activity(const opts *o, int n_files, char **files) {
    printf("| export | level | windows (blocks) | measure | AUC export ± block SE | AUC uniform | AUC random "
           "| mean at export boundaries | mean at uniform boundaries | mean over all gaps |\n");
    printf("|---|---:|---|---|---|---:|---:|---:|---:|---:|\n");
    char notes[4096] = ""; /* footnotes, printed under the table */
    for (int fi = 0; fi < n_files; fi++) {
        rp_error err = {{0}};
        rp_segexport e;
        rp_series s;
        memset(&s, 0, sizeof s);
        if (load_export(files[fi], &e, &err) || load_source(&e, &s, &err)) {
            fprintf(stderr, "segment_stats: %s\n", err.msg);
            segexport_free(&e);
            return 1;
        }
        char label[256];
        export_label(files[fi], label, sizeof label);
        int L = e.lookback, n = L - 1;
        double *x = malloc((size_t)L * sizeof *x), *rank = malloc((size_t)N_ACT * n * sizeof *rank);
        double *actbuf = malloc((size_t)N_ACT * n * sizeof *actbuf);
        ranked *tmp = malloc((size_t)n * sizeof *tmp);
        int *ref = malloc((size_t)N_REF * L * sizeof *ref), *pool = malloc((size_t)L * sizeof *pool);
        if (!x || !rank || !actbuf || !tmp || !ref || !pool) {
            fprintf(stderr, "segment_stats: out of memory\n");
            return 1;
        }
        double *act[N_ACT];
        for (int a = 0; a < N_ACT; a++) act[a] = actbuf + (size_t)a * n;
        for (int l = 0; l < e.n_levels; l++) {
            int K = e.levels[l].K, nb = K - 1;
            if (nb < 1) continue;
            block_mean auc[N_ACT][N_REF];
            memset(auc, 0, sizeof auc);
            double at_b[N_ACT][N_REF], at_all[N_ACT];
            memset(at_b, 0, sizeof at_b);
            memset(at_all, 0, sizeof at_all);
            long long used = 0, constant = 0, bounds = 0;
            long long prev_block = -1;
            int bad = 0;
            for (int w = 0; w < e.n_windows; w += o->every) {
                int c = e.channel[w], r0 = e.start_row[w];
                if (c < 0 || c >= s.cols || r0 < 0 || r0 + L > s.rows) {
                    fprintf(stderr, "segment_stats: %s: window %d (channel %d, row %d) lies outside %s (%d rows x %d "
                            "columns)\n", files[fi], w, c, r0, e.source, s.rows, s.cols);
                    bad = 1;
                    break;
                }
                if (!window_activity(s.values + (size_t)r0 * s.cols + c, (size_t)s.cols, L, o->half, x, act)) {
                    constant++;
                    continue;
                }
                long long block = (long long)c * (s.rows / L + 1) + r0 / L;
                if (block != prev_block) {
                    for (int a = 0; a < N_ACT; a++)
                        for (int q = 0; q < N_REF; q++) bm_close(&auc[a][q]);
                    prev_block = block;
                }
                for (int k = 0; k < K; k++) ref[REF_EXPORT * L + k] = e.levels[l].starts[(size_t)w * K + k];
                uniform_starts(L, K, ref + REF_UNIFORM * L);
                window_random_starts(o, l, w, L, K, pool, ref + REF_RANDOM * L);
                for (int a = 0; a < N_ACT; a++) {
                    average_ranks(act[a], n, tmp, rank + (size_t)a * n);
                    for (int j = 0; j < n; j++) at_all[a] += act[a][j];
                    for (int q = 0; q < N_REF; q++) {
                        double r1 = 0;
                        for (int k = 1; k < K; k++) {
                            int g = ref[q * L + k] - 1;
                            r1 += rank[(size_t)a * n + g];
                            at_b[a][q] += act[a][g];
                        }
                        double u = r1 - 0.5 * nb * (nb + 1.0);
                        bm_add(&auc[a][q], u / ((double)nb * (n - nb)));
                    }
                }
                used++;
                bounds += nb;
            }
            if (bad) return 1;
            for (int a = 0; a < N_ACT; a++)
                for (int q = 0; q < N_REF; q++) bm_close(&auc[a][q]);
            for (int a = 0; a < N_ACT; a++) {
                printf("| %s | %d | %lld (%lld)%s | %s | %.3f ± %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", label,
                       l + 1, used, auc[a][0].nb, constant ? " †" : "", ACT_NAME[a], bm_mean(&auc[a][REF_EXPORT]),
                       bm_se(&auc[a][REF_EXPORT]), bm_mean(&auc[a][REF_UNIFORM]), bm_mean(&auc[a][REF_RANDOM]),
                       at_b[a][REF_EXPORT] / (double)bounds, at_b[a][REF_UNIFORM] / (double)bounds,
                       at_all[a] / ((double)used * n));
            }
            if (constant) {
                size_t len = strlen(notes);
                snprintf(notes + len, sizeof notes - len, "%s† %s, level %d: %lld constant window%s skipped (no RevIN "
                         "scale).", len ? " " : "", label, l + 1, constant, constant == 1 ? "" : "s");
            }
        }
        free(x);
        free(rank);
        free(actbuf);
        free(tmp);
        free(ref);
        free(pool);
        series_free(&s);
        segexport_free(&e);
    }
    if (notes[0]) printf("\n%s\n", notes);
    return 0;
}

/* ---- (b) lengths ---- */

/* The smallest length whose cumulative count reaches q of the total (the lower q-quantile). */
static int hist_quantile(const long long *hist, int max_len, long long total, double q) {
    long long need = (long long)ceil(q * (double)total), acc = 0;
    if (need < 1) need = 1;
    for (int v = 1; v <= max_len; v++) {
        acc += hist[v];
        if (acc >= need) return v;
    }
    return max_len;
}

static int cmd_lengths(const opts *o, int n_files, char **files) {
    printf("| export | level | rate | K | windows | mean | sd | min | 5%% | 25%% | median | 75%% | 95%% | 99%% | max "
           "| length 1 | lengths 1–3 | r ± 1 | ≥ 2r | boundaries off the grid | of those, ±1 from it | k-th ≠ uniform k-th |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int fi = 0; fi < n_files; fi++) {
        rp_segexport e;
        char label[256];
        if (open_export(files[fi], &e, label, sizeof label)) return 1;
        int L = e.lookback;
        long long *hist = calloc((size_t)L + 1, sizeof *hist);
        int *uni = malloc((size_t)L * sizeof *uni);
        char *on_grid = calloc((size_t)L + 1, 1);
        if (!hist || !uni || !on_grid) {
            fprintf(stderr, "segment_stats: out of memory\n");
            return 1;
        }
        for (int l = 0; l < e.n_levels; l++) {
            int K = e.levels[l].K;
            double rate = e.levels[l].rate, sum = 0, sum2 = 0;
            memset(hist, 0, ((size_t)L + 1) * sizeof *hist);
            memset(on_grid, 0, (size_t)L + 1);
            uniform_starts(L, K, uni);
            for (int k = 1; k < K; k++) on_grid[uni[k]] = 1;
            long long total = 0, moved = 0, moved_near = 0, shifted = 0, used = 0;
            for (int w = 0; w < e.n_windows; w += o->every) {
                const int32_t *ln = e.levels[l].lengths + (size_t)w * K, *st = e.levels[l].starts + (size_t)w * K;
                for (int k = 0; k < K; k++) {
                    hist[ln[k]]++;
                    sum += ln[k];
                    sum2 += (double)ln[k] * ln[k];
                    if (k && !on_grid[st[k]]) {
                        moved++;
                        moved_near += on_grid[st[k] - 1] || on_grid[st[k] + 1];
                    }
                    if (k && st[k] != uni[k]) shifted++;
                }
                total += K;
                used++;
            }
            double mean = sum / (double)total, var = sum2 / (double)total - mean * mean;
            int lo = 1, hi = L;
            while (lo < L && !hist[lo]) lo++;
            while (hi > 1 && !hist[hi]) hi--;
            long long short3 = 0, near = 0, twice = 0;
            for (int v = 1; v <= L; v++) {
                if (v <= 3) short3 += hist[v];
                if (fabs(v - rate) <= 1) near += hist[v];
                if (v >= 2 * rate) twice += hist[v];
            }
            printf("| %s | %d | %g | %d | %lld | %.2f | %.2f | %d | %d | %d | %d | %d | %d | %d | %d | %.1f%% | %.1f%% | %.1f%% "
                   "| %.1f%% | %.1f%% | %.1f%% | %.1f%% |\n", label, l + 1, rate, K, used, mean, sqrt(var > 0 ? var : 0), lo,
                   hist_quantile(hist, L, total, 0.05), hist_quantile(hist, L, total, 0.25),
                   hist_quantile(hist, L, total, 0.5), hist_quantile(hist, L, total, 0.75),
                   hist_quantile(hist, L, total, 0.95), hist_quantile(hist, L, total, 0.99), hi, 100.0 * hist[1] / total,
                   100.0 * short3 / total, 100.0 * near / total, 100.0 * twice / total,
                   K > 1 ? 100.0 * moved / ((double)used * (K - 1)) : 0.0, moved ? 100.0 * moved_near / moved : 0.0,
                   K > 1 ? 100.0 * shifted / ((double)used * (K - 1)) : 0.0);
        }
        free(hist);
        free(uni);
        free(on_grid);
        segexport_free(&e);
    }
    return 0;
}

/* ---- where the long patches lie ---- */

enum { POSITION_PARTS = 8 };

static int cmd_position(const opts *o, int n_files, char **files) {
    printf("| export | level | K | windows | 1st eighth (oldest) | 2nd | 3rd | 4th | 5th | 6th | 7th | 8th (newest) "
           "| last patch | uniform |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int fi = 0; fi < n_files; fi++) {
        rp_segexport e;
        char label[256];
        if (open_export(files[fi], &e, label, sizeof label)) return 1;
        int L = e.lookback;
        for (int l = 0; l < e.n_levels; l++) {
            int K = e.levels[l].K;
            double part_sum[POSITION_PARTS] = {0}, last = 0;
            long long part_steps[POSITION_PARTS] = {0}, used = 0;
            for (int w = 0; w < e.n_windows; w += o->every) {
                const int32_t *ln = e.levels[l].lengths + (size_t)w * K, *st = e.levels[l].starts + (size_t)w * K;
                for (int k = 0; k < K; k++)
                    for (int t = st[k]; t < st[k] + ln[k]; t++) {
                        int part = (int)((long long)t * POSITION_PARTS / L);
                        part_sum[part] += ln[k];
                        part_steps[part]++;
                    }
                last += ln[K - 1];
                used++;
            }
            printf("| %s | %d | %d | %lld |", label, l + 1, K, used);
            for (int q = 0; q < POSITION_PARTS; q++) printf(" %.2f |", part_steps[q] ? part_sum[q] / part_steps[q] : 0.0);
            printf(" %.2f | %.2f |\n", used ? last / used : 0.0, (double)L / K);
        }
        segexport_free(&e);
    }
    return 0;
}

/* ---- (c) agreement ---- */

/* Shares of S's interior boundaries (starts[1..K-1]) with a boundary of T within d steps;
 * near_t[g] = distance from gap g to T's nearest boundary (precomputed). only_moved restricts S
 * to boundaries off the uniform grid; *n_counted receives how many of S were counted. */
static double share_near(const int *s, int K, const int *near_t, int d, const char *on_grid, int only_moved,
                         int *n_counted) {
    int hit = 0, cnt = 0;
    for (int k = 1; k < K; k++) {
        if (only_moved && on_grid[s[k]]) continue;
        cnt++;
        hit += near_t[s[k]] <= d;
    }
    *n_counted = cnt;
    return cnt ? (double)hit / cnt : 0;
}

/* near[g] for g in 0..L: distance to the nearest of starts[1..K-1] (two sweeps). */
static void nearest_distance(const int *starts, int K, int L, int *near) {
    const int far = 1 << 28;
    for (int g = 0; g <= L; g++) near[g] = far;
    for (int k = 1; k < K; k++) near[starts[k]] = 0;
    for (int g = 1; g <= L; g++)
        if (near[g - 1] + 1 < near[g]) near[g] = near[g - 1] + 1;
    for (int g = L - 1; g >= 0; g--)
        if (near[g + 1] + 1 < near[g]) near[g] = near[g + 1] + 1;
}

enum { SEG_A, SEG_B, SEG_U, SEG_R, SEG_R2, N_SEG };

static int cmd_agree(const opts *o, char *path_a, char *path_b) {
    rp_error err = {{0}};
    rp_segexport A, B;
    memset(&B, 0, sizeof B);
    if (load_export(path_a, &A, &err) || load_export(path_b, &B, &err)) {
        fprintf(stderr, "segment_stats: %s\n", err.msg);
        return 1;
    }
    char la[256], lb[256];
    export_label(path_a, la, sizeof la);
    export_label(path_b, lb, sizeof lb);
    if (A.lookback != B.lookback || A.n_windows != B.n_windows || A.n_levels != B.n_levels ||
        memcmp(A.channel, B.channel, (size_t)A.n_windows * sizeof(int32_t)) ||
        memcmp(A.start_row, B.start_row, (size_t)A.n_windows * sizeof(int32_t))) {
        fprintf(stderr, "segment_stats: %s and %s do not cover the same windows (lookback, windows, channels and "
                "start rows must match)\n", path_a, path_b);
        return 1;
    }
    int L = A.lookback;
    int *seg = malloc((size_t)N_SEG * L * sizeof *seg), *near = malloc((size_t)N_SEG * (L + 1) * sizeof *near);
    int *pool = malloc((size_t)L * sizeof *pool);
    char *on_grid = calloc((size_t)L + 1, 1);
    if (!seg || !near || !pool || !on_grid) {
        fprintf(stderr, "segment_stats: out of memory\n");
        return 1;
    }
    /* rows: (S, T, only S's moved boundaries) */
    struct { int s, t, moved; const char *fmt; } rows[] = {
        {SEG_A, SEG_B, 0, "%s vs %s"}, {SEG_A, SEG_U, 0, "%s vs uniform"}, {SEG_B, SEG_U, 0, "%s vs uniform"},
        {SEG_A, SEG_R, 0, "%s vs random"}, {SEG_B, SEG_R, 0, "%s vs random"}, {SEG_U, SEG_R, 0, "uniform vs random"},
        {SEG_R, SEG_R2, 0, "random vs another random"},
        {SEG_A, SEG_B, 1, "moved boundaries of %s → %s"}, {SEG_B, SEG_A, 1, "moved boundaries of %s → %s"},
        {SEG_A, SEG_U, 1, "moved boundaries of %s → uniform"}, {SEG_B, SEG_U, 1, "moved boundaries of %s → uniform"},
        {SEG_A, SEG_R, 1, "moved boundaries of %s → random"}, {SEG_B, SEG_R, 1, "moved boundaries of %s → random"},
    };
    enum { N_ROWS = sizeof rows / sizeof rows[0] };
    const int dist[3] = {0, 1, 2};
    for (int l = 0; l < A.n_levels; l++) {
        int K = A.levels[l].K;
        if (B.levels[l].K != K) {
            fprintf(stderr, "segment_stats: level %d: K = %d in %s, %d in %s\n", l + 1, K, path_a, B.levels[l].K,
                    path_b);
            return 1;
        }
        if (K < 2) continue;
        memset(on_grid, 0, (size_t)L + 1);
        uniform_starts(L, K, seg + SEG_U * L);
        for (int k = 1; k < K; k++) on_grid[seg[SEG_U * L + k]] = 1;
        double sum[N_ROWS][3];
        long long counted[N_ROWS], wins[N_ROWS];
        memset(sum, 0, sizeof sum);
        memset(counted, 0, sizeof counted);
        memset(wins, 0, sizeof wins);
        long long used = 0;
        for (int w = 0; w < A.n_windows; w += o->every) {
            for (int k = 0; k < K; k++) {
                seg[SEG_A * L + k] = A.levels[l].starts[(size_t)w * K + k];
                seg[SEG_B * L + k] = B.levels[l].starts[(size_t)w * K + k];
            }
            window_random_starts(o, l, w, L, K, pool, seg + SEG_R * L);
            rp_rng rng;
            rng_seed(&rng, o->seed ^ 0x9e3779b97f4a7c15ull, (uint64_t)w);
            random_starts(&rng, L, K, pool, seg + SEG_R2 * L);
            for (int q = 0; q < N_SEG; q++) nearest_distance(seg + q * L, K, L, near + (size_t)q * (L + 1));
            for (int r = 0; r < N_ROWS; r++) {
                const int *s = seg + rows[r].s * L, *t = seg + rows[r].t * L;
                const int *ns = near + (size_t)rows[r].s * (L + 1), *nt = near + (size_t)rows[r].t * (L + 1);
                for (int di = 0; di < 3; di++) {
                    int cnt;
                    double v = share_near(s, K, nt, dist[di], on_grid, rows[r].moved, &cnt);
                    if (rows[r].moved) {
                        /* pooled over windows: a window with no moved boundary adds nothing */
                        sum[r][di] += v * cnt;
                        if (di == 0) counted[r] += cnt;
                    } else {
                        int cnt2;
                        double v2 = share_near(t, K, ns, dist[di], on_grid, 0, &cnt2);
                        sum[r][di] += 0.5 * (v + v2);
                    }
                }
                wins[r]++;
            }
            used++;
        }
        printf("Level %d (K = %d, %lld windows; shares of the K−1 = %d boundaries per window)\n\n", l + 1, K, used,
               K - 1);
        printf("| pair | exact | within ±1 | within ±2 |\n|---|---:|---:|---:|\n");
        for (int r = 0; r < N_ROWS; r++) {
            char name[600];
            const char *ns = rows[r].s == SEG_A ? la : lb, *nt = rows[r].t == SEG_A ? la : lb;
            snprintf(name, sizeof name, rows[r].fmt, ns, nt);
            double den = rows[r].moved ? (double)counted[r] : (double)wins[r];
            printf("| %s | %.1f%% | %.1f%% | %.1f%% |\n", name, 100 * sum[r][0] / den, 100 * sum[r][1] / den,
                   100 * sum[r][2] / den);
        }
        printf("\n");
    }
    free(seg);
    free(near);
    free(pool);
    free(on_grid);
    segexport_free(&A);
    segexport_free(&B);
    return 0;
}

/* ---- main ---- */

static const char *usage =
    "usage: segment_stats activity|lengths|position [--seed N] [--half H] [--every N] SEG.h5...\n"
    "       segment_stats agree [--seed N] [--every N] A.h5 B.h5\n"
    "(definitions: the comment at the top of bench/segment_stats.c)\n";

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    opts o = {2021, 4, 1};
    char **files = malloc((size_t)argc * sizeof *files);
    int n_files = 0;
    if (!files) return 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--seed") || !strcmp(a, "--half") || !strcmp(a, "--every")) {
            char *end = NULL;
            long long v = i + 1 < argc ? strtoll(argv[i + 1], &end, 10) : 0;
            if (i + 1 >= argc || !*argv[i + 1] || *end || v < (a[2] == 's' ? 0 : 1) || v > 1000000) {
                fprintf(stderr, "segment_stats: %s needs a %s integer\n", a, a[2] == 's' ? "non-negative" : "positive");
                free(files);
                return 2;
            }
            if (a[2] == 's') o.seed = (unsigned long long)v;
            else if (a[2] == 'h') o.half = (int)v;
            else o.every = (int)v;
            i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "segment_stats: unknown option '%s'\n%s", a, usage);
            free(files);
            return 2;
        } else {
            files[n_files++] = argv[i];
        }
    }
    int rc;
    if (!strcmp(cmd, "activity") && n_files >= 1) rc = cmd_activity(&o, n_files, files);
    else if (!strcmp(cmd, "lengths") && n_files >= 1) rc = cmd_lengths(&o, n_files, files);
    else if (!strcmp(cmd, "position") && n_files >= 1) rc = cmd_position(&o, n_files, files);
    else if (!strcmp(cmd, "agree") && n_files == 2) rc = cmd_agree(&o, files[0], files[1]);
    else {
        fputs(usage, stderr);
        rc = 2;
    }
    free(files);
    return rc;
}
