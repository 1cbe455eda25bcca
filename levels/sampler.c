#include "levels/sampler.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/mathd.h"

/* ---- workspace ------------------------------------------------------------------------------ */

typedef struct workspace {
    double *values;  /* [n-1] perturbed logits (sampling) or logits (greedy) */
    double *z;       /* [K]   per-step log-normalisers */
    double *e;       /* [n-1] exp(s_j - max s) during a walk */
    int *starts;     /* [K+1] current segment starts during a sequential walk */
    int *mark;       /* [n]   per gap: 0 = free, i+1 = chosen at step i / feasibility flag */
    int *order;      /* [K]   greedy's order when the caller passes none */
    int *lo, *hi;    /* [n+1] fewest / most further cuts a segment of each length can take */
    int *tree;       /* [4n]  tournament tree over the gaps (top_feasible) */
    double *part_v;  /* [2n]  top_k: two buffers of candidate values, */
    int *part_i;     /* [2n]  and of their gaps */
    double *sel_v;   /* [K]   top_k: the chosen gaps' values, */
    int *sel;        /* [K]   and the chosen gaps */
} workspace;

size_t seg_workspace_bytes(const rp_seg_spec *spec) {
    size_t n = (size_t)spec->n, K = (size_t)spec->K;
    return (4 * n + 2 * K + 4) * sizeof(double) + (9 * n + 3 * K + 9) * sizeof(int);
}

static workspace carve(const rp_seg_spec *spec, void *work) {
    size_t n = (size_t)spec->n, K = (size_t)spec->K;
    workspace w;
    w.values = work;
    w.z = w.values + n + 1;
    w.e = w.z + K + 1;
    w.part_v = w.e + n + 1;
    w.sel_v = w.part_v + 2 * n;
    int *ints = (int *)(w.sel_v + K + 1);
    w.starts = ints;
    w.order = w.starts + K + 2;
    w.mark = w.order + K + 2;
    w.lo = w.mark + n + 1;
    w.hi = w.lo + n + 1;
    w.tree = w.hi + n + 1;
    w.sel = w.tree + 4 * n;
    w.part_i = w.sel + K + 1;
    return w;
}

static double logaddexp(double a, double b) {
    if (a == -INFINITY) return b;
    if (b == -INFINITY) return a;
    return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

/* ---- feasibility under length bounds -------------------------------------------------------- */

/* A segment of length len splits into p pieces with lengths in [mn, mx] iff
 * ceil(len/mx) <= p <= floor(len/mn), so it can take between lo = ceil(len/mx) - 1 and
 * hi = floor(len/mn) - 1 more cuts (lo > hi: it cannot be completed). Tabulated once per call so
 * that the per-candidate check below is a few lookups. */
static void fill_cut_tables(const rp_seg_spec *spec, workspace *w) {
    int mn = seg_min_len(spec), mx = seg_max_len(spec);
    for (int len = 0; len <= spec->n; len++) {
        w->lo[len] = (len + mx - 1) / mx - 1;
        w->hi[len] = len / mn - 1;
    }
}

/* Marks mark[j] = 1 for every gap j that may be chosen next, 0 otherwise; returns how many.
 * starts[n_seg] are the current (sorted) segment starts; R cuts remain, this one included.
 * Adding gap j splits its segment s into len1 + len2; the state stays completable iff both halves
 * are completable and the remaining R-1 cuts fit between the summed lower and upper capacities
 * (each segment's possible cut counts form an integer interval, and sums of integer intervals
 * are integer intervals). O(n) per step. */
static int feasible_gaps(int n, const int *lo, const int *hi, const int *starts, int n_seg, int R,
                         int *mark) {
    long lo_sum = 0, hi_sum = 0;
    for (int s = 0; s < n_seg; s++) {
        int len = (s + 1 < n_seg ? starts[s + 1] : n) - starts[s];
        lo_sum += lo[len];
        hi_sum += hi[len];
    }
    int count = 0;
    for (int s = 0; s < n_seg; s++) {
        int a = starts[s], b = s + 1 < n_seg ? starts[s + 1] : n, len = b - a;
        long lo_rest = lo_sum - lo[len], hi_rest = hi_sum - hi[len];
        if (a > 0) mark[a - 1] = 0; /* the gap that starts this segment is taken */
        for (int j = a; j <= b - 2; j++) {
            int len1 = j + 1 - a, len2 = b - j - 1;
            int ok = lo[len1] <= hi[len1] && lo[len2] <= hi[len2] &&
                     lo_rest + lo[len1] + lo[len2] <= R - 1 && R - 1 <= hi_rest + hi[len1] + hi[len2];
            mark[j] = ok;
            count += ok;
        }
    }
    return count;
}

static void insert_start(int *starts, int *n_seg, int gap) {
    int v = gap + 1, p = *n_seg;
    while (p > 1 && starts[p - 1] > v) {
        starts[p] = starts[p - 1];
        p--;
    }
    starts[p] = v;
    (*n_seg)++;
}

/* ---- choosing K-1 gaps by value ------------------------------------------------------------ */

/* Total order used everywhere: higher value first, ties to the lower gap index. */
static int ranks_above(const double *v, int a, int b) { return v[a] > v[b] || (v[a] == v[b] && a < b); }

/* order[k] = the k = K-1 top-ranked gaps of v, best first (0 <= k <= n_gaps). A quickselect
 * whose partition has no data-dependent branch: each (value, gap) pair is written to both ends of
 * the other buffer and only the cursor of its side moves. The order of random values is what a
 * branch cannot predict: the branchy quickselect and insertion sort this replaces spent most of
 * their ~6 µs per call (n = 336, k = 41) on mispredictions (docs/results.md, "The learned step's
 * policy side"). The k chosen are then ordered by counting, for each, how many of the others rank
 * above it, a loop that vectorises. The result is the same: the ranking is a total order. */
static void top_k(int n_gaps, int k, const double *v, workspace *w, int *order) {
    if (k <= 0) return;
    double *src_v = w->part_v;
    int *src_i = w->part_i;
    for (int j = 0; j < n_gaps; j++) {
        src_v[j] = v[j];
        src_i[j] = j;
    }
    int m = n_gaps, need = k, got = 0;
    while (need > 0) {
        if (m == need) { /* every candidate left is chosen */
            for (int j = 0; j < m; j++) w->sel[got++] = src_i[j];
            break;
        }
        /* the other of the two buffers */
        const int second = src_v >= w->part_v + n_gaps;
        double *dst_v = second ? w->part_v : w->part_v + n_gaps;
        int *dst_i = second ? w->part_i : w->part_i + n_gaps;
        /* pivot: the median of the first, middle and last candidates */
        int x = 0, y = m / 2, z = m - 1, p;
#define ABOVE(a, b) (src_v[a] > src_v[b] || (src_v[a] == src_v[b] && src_i[a] < src_i[b]))
        if (ABOVE(x, y)) p = ABOVE(y, z) ? y : ABOVE(x, z) ? z : x;
        else p = ABOVE(x, z) ? x : ABOVE(y, z) ? z : y;
#undef ABOVE
        const double pv = src_v[p];
        const int pi = src_i[p];
        int na = 0, nb = 0; /* above the pivot: dst[0, na); below it: dst[m − nb, m) */
        for (int j = 0; j < m; j++) {
            double xv = src_v[j];
            int xi = src_i[j];
            int above = (xv > pv) | ((xv == pv) & (xi < pi));
            int below = !above & (xi != pi);
            dst_v[m - 1 - nb] = xv, dst_i[m - 1 - nb] = xi;
            dst_v[na] = xv, dst_i[na] = xi;
            na += above;
            nb += below;
        }
        if (na >= need) { /* the k best are all above the pivot */
            src_v = dst_v, src_i = dst_i, m = na;
        } else { /* those above and the pivot are chosen; the rest come from below it */
            for (int j = 0; j < na; j++) w->sel[got++] = dst_i[j];
            w->sel[got++] = pi;
            need -= na + 1;
            src_v = dst_v + (m - nb), src_i = dst_i + (m - nb), m = nb;
        }
    }
    for (int i = 0; i < k; i++) w->sel_v[i] = v[w->sel[i]];
    for (int i = 0; i < k; i++) {
        const double vi = w->sel_v[i];
        const int gi = w->sel[i];
        int rank = 0;
        for (int j = 0; j < k; j++) rank += (w->sel_v[j] > vi) | ((w->sel_v[j] == vi) & (w->sel[j] < gi));
        order[rank] = gi;
    }
}

/* The better-ranked of two gaps; -1 (no gap) ranks below every gap. */
static int better_gap(const double *v, int a, int b) {
    if (a < 0) return b;
    if (b < 0) return a;
    return ranks_above(v, a, b) ? a : b;
}

/* Removes the gaps [g0, g1] from a tournament tree of `size` leaves (tree[1] = the best gap
 * left), recomputing only the nodes above them. */
static void tree_remove(int *tree, int size, const double *v, int g0, int g1) {
    int lo = g0 + size, hi = g1 + size;
    for (int i = lo; i <= hi; i++) tree[i] = -1;
    while (lo > 1) {
        lo >>= 1;
        hi >>= 1;
        for (int i = lo; i <= hi; i++) tree[i] = better_gap(v, tree[2 * i], tree[2 * i + 1]);
    }
}

/* The segment holding gap j: the last of the sorted starts[0..n_seg) that is <= j. */
static int segment_of(const int *starts, int n_seg, int j) {
    int lo = 0, hi = n_seg - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (starts[mid] <= j) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* Sequentially the top-ranked feasible gap (bounded specs). Feasible sets only shrink
 * (docs/levels.md, "Feasibility in O(1) per candidate"): a gap infeasible at one step is
 * infeasible at every later one, so it can be dropped for good. The gaps sit in a tournament
 * tree whose root is the best one left; a step takes the root, and either chooses it (every
 * better gap was dropped as infeasible) or drops it. A chosen cut at gap j also drops the gaps
 * closer to it than min_len, infeasible from then on, in one pass up the tree. Each check is
 * feasible_gaps' test of the one split the gap would make. About O(n + K · (min_len + log n))
 * per call, against O(n K) for a scan of every gap at every step; the choices are the same. */
static void top_feasible(const rp_seg_spec *spec, const double *v, workspace *w, int *order) {
    const int n = spec->n, K = spec->K, m = n - 1, mn = seg_min_len(spec);
    const int *lo = w->lo, *hi = w->hi;
    int size = 1;
    while (size < m) size <<= 1;
    int *tree = w->tree; /* [2 size] <= [4n] */
    fill_cut_tables(spec, w);
    for (int i = 0; i < size; i++) tree[size + i] = i < m ? i : -1;
    for (int i = size - 1; i >= 1; i--) tree[i] = better_gap(v, tree[2 * i], tree[2 * i + 1]);
    int n_seg = 1;
    w->starts[0] = 0;
    long lo_sum = lo[n], hi_sum = hi[n];
    for (int i = 0; i < K - 1; i++) {
        const int R = K - 1 - i; /* cuts still to place, this one included */
        /* The tree never runs dry: a completable state always has a feasible next gap. */
        for (int j = tree[1]; j >= 0; j = tree[1]) {
            int s = segment_of(w->starts, n_seg, j);
            int a = w->starts[s], b = s + 1 < n_seg ? w->starts[s + 1] : n, len = b - a;
            int len1 = j + 1 - a, len2 = b - j - 1; /* both >= 1: gap j is not a start yet */
            long lo_new = lo_sum - lo[len] + lo[len1] + lo[len2];
            long hi_new = hi_sum - hi[len] + hi[len1] + hi[len2];
            if (lo[len1] <= hi[len1] && lo[len2] <= hi[len2] && lo_new <= R - 1 && R - 1 <= hi_new) {
                order[i] = j;
                insert_start(w->starts, &n_seg, j);
                lo_sum = lo_new;
                hi_sum = hi_new;
                tree_remove(tree, size, v, j - mn + 1 > 0 ? j - mn + 1 : 0, j + mn - 1 < m - 1 ? j + mn - 1 : m - 1);
                break;
            }
            tree_remove(tree, size, v, j, j);
        }
    }
}

static void select_order(const rp_seg_spec *spec, const double *v, workspace *w, int *order) {
    if (seg_is_bounded(spec))
        top_feasible(spec, v, w, order);
    else
        top_k(spec->n - 1, spec->K - 1, v, w, order);
}

/* ---- walking the steps of an order ---------------------------------------------------------- */

typedef enum { WALK_LOGP, WALK_LOGP_BACKWARD, WALK_ENTROPY, WALK_ENTROPY_BACKWARD } walk_mode;

/* Visits the K-1 steps of `order`, building each candidate set F_i in w->mark, and evaluates or
 * differentiates the log-probability or the step entropies. Returns -INFINITY for an impossible
 * order (only checked in the forward modes). O(n K) with n exponentials in all: e_j =
 * exp(s_j - max s) is computed once and each step's normaliser is a plain sum over F_i; a step
 * whose candidates all sit ~700 nats below the overall maximum (the sum would underflow) is
 * recomputed with its own shift. */
static double walk(const rp_seg_spec *spec, const float *s, const int *order, walk_mode mode,
                   float scale, float *ds, workspace *w) {
    int n = spec->n, K = spec->K;
    int bounded = seg_is_bounded(spec);
    int n_seg = 1;
    double total = 0.0;
    if (K < 2) return 0.0;
    w->starts[0] = 0;
    if (bounded)
        fill_cut_tables(spec, w);
    else
        for (int j = 0; j < n - 1; j++) w->mark[j] = 1;
    double top = -INFINITY;
    for (int j = 0; j < n - 1; j++)
        if (s[j] > top) top = s[j];
    for (int j = 0; j < n - 1; j++) w->e[j] = exp((double)s[j] - top);
    for (int i = 0; i < K - 1; i++) {
        int g = order[i];
        if (g < 0 || g >= n - 1) return -INFINITY;
        if (bounded) feasible_gaps(n, w->lo, w->hi, w->starts, n_seg, K - 1 - i, w->mark);
        if (!w->mark[g]) return -INFINITY;
        double sum = 0.0;
        for (int j = 0; j < n - 1; j++)
            if (w->mark[j]) sum += w->e[j];
        double logz;
        if (sum > 1e-280) {
            logz = top + log(sum);
        } else {
            double m = -INFINITY;
            for (int j = 0; j < n - 1; j++)
                if (w->mark[j] && s[j] > m) m = s[j];
            double sm = 0.0;
            for (int j = 0; j < n - 1; j++)
                if (w->mark[j]) sm += exp((double)s[j] - m);
            logz = m + log(sm);
            sum = 0.0; /* marks the slow path below */
        }
        /* p_j = softmax over F_i: e_j / sum on the fast path. */
#define STEP_PROB(j) (sum > 0.0 ? w->e[j] / sum : exp((double)s[j] - logz))
        switch (mode) {
        case WALK_LOGP:
            total += (double)s[g] - logz;
            break;
        case WALK_LOGP_BACKWARD:
            for (int j = 0; j < n - 1; j++)
                if (w->mark[j]) ds[j] -= scale * (float)STEP_PROB(j);
            ds[g] += scale;
            break;
        case WALK_ENTROPY:
        case WALK_ENTROPY_BACKWARD: {
            double h = 0.0;
            for (int j = 0; j < n - 1; j++)
                if (w->mark[j]) h -= STEP_PROB(j) * ((double)s[j] - logz);
            total += h;
            if (mode == WALK_ENTROPY_BACKWARD)
                /* H = -Σ p log p over F:  ∂H/∂s_j = -p_j (log p_j + H). */
                for (int j = 0; j < n - 1; j++)
                    if (w->mark[j])
                        ds[j] -= scale * (float)(STEP_PROB(j) * ((double)s[j] - logz + h));
            break;
        }
        }
#undef STEP_PROB
        if (bounded)
            insert_start(w->starts, &n_seg, g);
        else
            w->mark[g] = 0;
    }
    return total;
}

/* ---- Plackett–Luce without bounds: O(n + K) -------------------------------------------------- */

/* w->mark[j] = i + 1 for the gap j chosen at step i, 0 for gaps never chosen. Returns 0, or -1 if
 * the order repeats a gap or leaves [0, n-2]. */
static int mark_order(int n, int K, const int *order, workspace *w) {
    for (int j = 0; j < n - 1; j++) w->mark[j] = 0;
    for (int i = 0; i < K - 1; i++) {
        int g = order[i];
        if (g < 0 || g >= n - 1 || w->mark[g]) return -1;
        w->mark[g] = i + 1;
    }
    return 0;
}

/* Fills w->z[i] = log Σ_{j not chosen before step i} exp(s_j) for i = 0..K-2, accumulated from the
 * last step backwards: the never-chosen gaps first, then each chosen gap added on top. Only
 * additions (logaddexp), so no cancellation, unlike a running sum that subtracts chosen terms.
 * Returns 0, or -1 if the order repeats a gap or leaves [0, n-2]. */
static int pl_normalisers(int n, int K, const float *s, const int *order, workspace *w) {
    if (mark_order(n, K, order, w)) return -1;
    double m = -INFINITY;
    for (int j = 0; j < n - 1; j++)
        if (!w->mark[j] && s[j] > m) m = s[j];
    double rest = -INFINITY;
    if (m > -INFINITY) {
        /* the exponentials in a loop that vectorises (core/mathd.h), then summed in gap order; the
         * chosen gaps' terms are not summed, and are clamped into rp_exp's domain (they may lie
         * above m) */
        for (int j = 0; j < n - 1; j++) {
            double x = (double)s[j] - m;
            w->e[j] = rp_exp(x < 0.0 ? x : 0.0);
        }
        double sum = 0.0;
        for (int j = 0; j < n - 1; j++)
            if (!w->mark[j]) sum += w->e[j];
        rest = m + log(sum);
    }
    for (int i = K - 2; i >= 0; i--) {
        rest = logaddexp(rest, (double)s[order[i]]);
        w->z[i] = rest;
    }
    return 0;
}

static double pl_log_prob(int n, int K, const float *s, const int *order, workspace *w) {
    if (pl_normalisers(n, K, s, order, w)) return -INFINITY;
    double lp = 0.0;
    for (int i = 0; i < K - 1; i++) lp += (double)s[order[i]] - w->z[i];
    return lp;
}

/* ∂/∂s_j = 1[j chosen] − exp(s_j) Σ_{i <= t_j} exp(−z_i), t_j = the step j was chosen (the last
 * step for never-chosen gaps). The prefix sums are kept in log space: every term exp(s_j − z_i)
 * is <= 1 because j is still a candidate at step i. The general path, for pl_backward. */
static void pl_backward_logspace(int n, int K, const float *s, const int *order, float scale, float *ds,
                                 workspace *w) {
    if (pl_normalisers(n, K, s, order, w)) return;
    double acc = -INFINITY;
    for (int i = 0; i < K - 1; i++) {
        acc = logaddexp(acc, -w->z[i]);
        w->z[i] = acc; /* now log Σ_{i' <= i} exp(−z_i') */
    }
    for (int j = 0; j < n - 1; j++) w->e[j] = (double)s[j] + w->z[w->mark[j] ? w->mark[j] - 1 : K - 2];
    for (int j = 0; j < n - 1; j++) {
        double g = (w->mark[j] ? 1.0 : 0.0) - rp_exp(w->e[j]);
        ds[j] += scale * (float)g;
    }
}

/* The same gradient in linear scale, shifted by the largest logit: e_j = exp(s_j − max s), the
 * normalisers Z_i = Σ_{j still a candidate at step i} e_j (sums from the last step back, additions
 * only, as pl_normalisers'), and ∂/∂s_j = 1[j chosen] − e_j Σ_{i <= t_j} 1/Z_i. No logarithm and
 * one vectorised exponential per gap, where the log-space path takes two libm calls per step on
 * top (docs/results.md, "The learned step's policy side"). When the last step's candidates all
 * lie so far below the largest logit that Z would lose digits to underflow, the log-space path
 * takes over. */
static void pl_backward(int n, int K, const float *s, const int *order, float scale, float *ds,
                        workspace *w) {
    if (K < 2 || mark_order(n, K, order, w)) return;
    float top = s[0];
    for (int j = 1; j < n - 1; j++) top = s[j] > top ? s[j] : top;
    for (int j = 0; j < n - 1; j++) w->e[j] = rp_exp((double)s[j] - (double)top);
    double Z = 0.0;
    for (int j = 0; j < n - 1; j++)
        if (!w->mark[j]) Z += w->e[j];
    for (int i = K - 2; i >= 0; i--) {
        Z += w->e[order[i]];
        w->z[i] = Z;
    }
    /* Z_{K−2} is the smallest; terms under 1e−308 are flushed to 0 (rp_exp), negligible above 1e−250 */
    if (!(w->z[K - 2] >= 1e-250)) {
        pl_backward_logspace(n, K, s, order, scale, ds, w);
        return;
    }
    double acc = 0.0;
    for (int i = 0; i < K - 1; i++) {
        acc += 1.0 / w->z[i];
        w->z[i] = acc; /* now Σ_{i' <= i} 1/Z_i' */
    }
    for (int j = 0; j < n - 1; j++) {
        double g = (w->mark[j] ? 1.0 : 0.0) - w->e[j] * w->z[w->mark[j] ? w->mark[j] - 1 : K - 2];
        ds[j] += scale * (float)g;
    }
}

/* ---- public -------------------------------------------------------------------------------- */

double seg_log_prob(const rp_seg_spec *spec, const float *logits, const int *order, void *work) {
    workspace w = carve(spec, work);
    if (seg_is_bounded(spec)) return walk(spec, logits, order, WALK_LOGP, 0.0f, NULL, &w);
    return pl_log_prob(spec->n, spec->K, logits, order, &w);
}

void seg_log_prob_backward(const rp_seg_spec *spec, const float *logits, const int *order,
                           float scale, float *dlogits, void *work) {
    workspace w = carve(spec, work);
    if (seg_is_bounded(spec))
        walk(spec, logits, order, WALK_LOGP_BACKWARD, scale, dlogits, &w);
    else
        pl_backward(spec->n, spec->K, logits, order, scale, dlogits, &w);
}

void seg_sample_order(const rp_seg_spec *spec, const float *logits, rp_rng *rng, int *starts, int *order,
                      void *work) {
    workspace w = carve(spec, work);
    rng_gumbels(rng, w.values, spec->n - 1);
    for (int j = 0; j < spec->n - 1; j++) w.values[j] += (double)logits[j];
    select_order(spec, w.values, &w, order);
    seg_starts_from_gaps(spec->K, order, starts);
}

double seg_sample(const rp_seg_spec *spec, const float *logits, rp_rng *rng, int *starts,
                  int *order, void *work) {
    seg_sample_order(spec, logits, rng, starts, order, work);
    return seg_log_prob(spec, logits, order, work);
}

void seg_greedy(const rp_seg_spec *spec, const float *logits, int *starts, int *order,
                void *work) {
    workspace w = carve(spec, work);
    for (int j = 0; j < spec->n - 1; j++) w.values[j] = logits[j];
    int *ord = order ? order : w.order;
    select_order(spec, w.values, &w, ord);
    seg_starts_from_gaps(spec->K, ord, starts);
}

double seg_entropy(const rp_seg_spec *spec, const float *logits, const int *order, void *work) {
    workspace w = carve(spec, work);
    return walk(spec, logits, order, WALK_ENTROPY, 0.0f, NULL, &w);
}

void seg_entropy_backward(const rp_seg_spec *spec, const float *logits, const int *order,
                          float scale, float *dlogits, void *work) {
    workspace w = carve(spec, work);
    walk(spec, logits, order, WALK_ENTROPY_BACKWARD, scale, dlogits, &w);
}

/* ---- uniform random segmentations ------------------------------------------------------------ */

size_t seg_random_table_doubles(const rp_seg_spec *spec) {
    /* The table, then one row of long double scratch (counted in doubles, rounded up). */
    size_t scratch = ((size_t)spec->n + 1) * sizeof(long double) / sizeof(double) + 4;
    return (size_t)(spec->K + 1) * (size_t)(spec->n + 1) + scratch;
}

/* table[p*(n+1) + m] = log(number of ways to cut m units into p segments within bounds).
 * Each row is the previous one convolved with the indicator of [mn, mx]. The previous row is
 * brought to linear scale once (shifted by its maximum, in long double, whose range covers the
 * ratios of counts up to n ~ 16000), then every window is summed directly: no subtraction of
 * running sums, so no cancellation, O(n K (mx - mn + 1)) additions. */
void seg_random_table(const rp_seg_spec *spec, double *table) {
    int n = spec->n, K = spec->K, mn = seg_min_len(spec), mx = seg_max_len(spec);
    /* Scratch after the table, 16-byte aligned for long double (table comes from malloc). */
    size_t off = ((size_t)(K + 1) * (n + 1) + 1) & ~(size_t)1;
    long double *lin = (long double *)(void *)(table + off);
    for (int m = 0; m <= n; m++) table[m] = m == 0 ? 0.0 : -INFINITY;
    for (int p = 1; p <= K; p++) {
        const double *prev = table + (size_t)(p - 1) * (n + 1);
        double *row = table + (size_t)p * (n + 1);
        double top = -INFINITY;
        for (int m = 0; m <= n; m++)
            if (prev[m] > top) top = prev[m];
        if (top == -INFINITY) { /* more segments than units: nothing is reachable any more */
            for (int m = 0; m <= n; m++) row[m] = -INFINITY;
            continue;
        }
        for (int m = 0; m <= n; m++) lin[m] = expl((long double)prev[m] - (long double)top);
        for (int m = 0; m <= n; m++) {
            long double sum = 0.0L;
            /* Only m - len in the support of the previous row, [(p-1) mn, (p-1) mx], counts. */
            int lo = m - mx, hi = m - mn;
            if (lo < 0) lo = 0;
            for (int y = lo; y <= hi; y++) sum += lin[y];
            row[m] = sum > 0.0L ? top + (double)logl(sum) : -INFINITY;
        }
    }
}

void seg_random(const rp_seg_spec *spec, const double *table, rp_rng *rng, int *starts) {
    int n = spec->n, K = spec->K;
    starts[0] = 0;
    if (!seg_is_bounded(spec)) {
        /* Selection sampling (Knuth's algorithm S): each gap in turn is taken with probability
         * needed / left, which makes every (K-1)-subset equally likely. */
        int need = K - 1, k = 1;
        for (int j = 0; j < n - 1 && need > 0; j++) {
            if (rng_below(rng, (uint64_t)(n - 1 - j)) < (uint64_t)need) {
                starts[k++] = j + 1;
                need--;
            }
        }
        return;
    }
    int mn = seg_min_len(spec), mx = seg_max_len(spec);
    int m = n, pos = 0;
    for (int p = K; p >= 2; p--) {
        /* First of the p remaining segments: length len with weight #completions(m-len, p-1). */
        const double *row = table + (size_t)(p - 1) * (n + 1);
        double best = -INFINITY;
        for (int len = mn; len <= mx && len <= m; len++)
            if (row[m - len] > best) best = row[m - len];
        double sum = 0.0;
        for (int len = mn; len <= mx && len <= m; len++) sum += exp(row[m - len] - best);
        double u = rng_uniform(rng) * sum;
        int pick = -1;
        for (int len = mn; len <= mx && len <= m; len++) {
            double wgt = exp(row[m - len] - best);
            if (wgt <= 0.0) continue;
            pick = len;
            if (u < wgt) break;
            u -= wgt;
        }
        pos += pick;
        m -= pick;
        starts[K - p + 1] = pos;
    }
}
