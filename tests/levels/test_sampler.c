/* The exact-K sampler: strictness, exact distributions, log-probability and its gradient. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "levels/sampler.h"
#include "levels/segmentation.h"

static void *work_for(const rp_seg_spec *spec) {
    void *w = malloc(seg_workspace_bytes(spec));
    cr_assert_not_null(w);
    return w;
}

static void random_logits(rp_rng *r, float *s, int m, double scale) {
    for (int j = 0; j < m; j++) s[j] = (float)(scale * rng_normal(r));
}

/* Every segmentation the sampler, greedy decoding and the uniform-random baseline produce is
 * exactly K non-empty in-order segments covering [0, n) within bounds; the order agrees with
 * starts; the returned log-prob equals seg_log_prob of the order. */
Test(sampler, strict_exact_k_with_random_bounds) {
    rp_rng r;
    rng_seed(&r, 11, 0);
    static const double rates[] = {1.5, 2.0, 3.7, 8.0, 16.0};
    int cases = 0;
    for (int n = 2; n <= 400; n += (n < 30 ? 1 : 37)) {
        for (size_t ri = 0; ri < sizeof rates / sizeof rates[0]; ri++) {
            double rate = rates[ri];
            int K = seg_count(n, rate);
            cr_assert(K >= 1 && K <= n);
            int ceil_avg = (n + K - 1) / K, floor_avg = n / K;
            for (int bounds = 0; bounds < 3; bounds++) {
                int mn = 0, mx = 0;
                if (bounds >= 1) mn = 1 + (int)rng_below(&r, (uint64_t)floor_avg);
                if (bounds == 2 || (bounds == 1 && rng_below(&r, 2)))
                    mx = ceil_avg + (int)rng_below(&r, (uint64_t)(n - ceil_avg + 1));
                rp_seg_spec spec;
                rp_error err;
                cr_assert_eq(seg_spec_init(&spec, n, K, mn, mx, &err), 0, "n=%d K=%d: %s", n, K,
                             err.msg);
                void *work = work_for(&spec);
                float *s = malloc(sizeof(float) * (size_t)n);
                int *starts = malloc(sizeof(int) * (size_t)K), *order = malloc(sizeof(int) * (size_t)K);
                int *starts2 = malloc(sizeof(int) * (size_t)K);
                double *table = NULL; /* only the bounded case reads it */
                if (seg_is_bounded(&spec)) {
                    table = malloc(sizeof(double) * seg_random_table_doubles(&spec));
                    seg_random_table(&spec, table);
                }
                for (int rep = 0; rep < 3; rep++) {
                    random_logits(&r, s, n - 1, rep == 2 ? 6.0 : 1.0);
                    double lp = seg_sample(&spec, s, &r, starts, order, work);
                    cr_assert_eq(seg_check(&spec, starts, &err), 0, "n=%d K=%d [%d,%d]: %s", n, K,
                                 mn, mx, err.msg);
                    cr_assert(isfinite(lp) && lp <= 1e-9, "log-prob %g", lp);
                    seg_starts_from_gaps(K, order, starts2);
                    cr_assert_eq(memcmp(starts, starts2, sizeof(int) * (size_t)K), 0);
                    double lp2 = seg_log_prob(&spec, s, order, work);
                    cr_assert_float_eq(lp, lp2, 1e-9);
                    seg_greedy(&spec, s, starts, order, work);
                    cr_assert_eq(seg_check(&spec, starts, &err), 0, "greedy: %s", err.msg);
                    cr_assert(isfinite(seg_log_prob(&spec, s, order, work)));
                    seg_greedy(&spec, s, starts2, NULL, work);
                    cr_assert_eq(memcmp(starts, starts2, sizeof(int) * (size_t)K), 0);
                    seg_random(&spec, table, &r, starts);
                    cr_assert_eq(seg_check(&spec, starts, &err), 0, "random: %s", err.msg);
                    cases++;
                }
                free(s); free(starts); free(order); free(starts2); free(table); free(work);
            }
        }
    }
    cr_assert_gt(cases, 500);
}

Test(sampler, infeasible_bounds_are_clear_errors) {
    rp_seg_spec spec;
    rp_error err;
    cr_assert_eq(seg_spec_init(&spec, 336, 42, 9, 16, &err), -1);
    cr_assert_not_null(strstr(err.msg, "n=336"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "K=42"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "378"), "%s", err.msg);
    cr_assert_eq(seg_spec_init(&spec, 336, 42, 0, 7, &err), -1);
    cr_assert_not_null(strstr(err.msg, "294"), "%s", err.msg);
    cr_assert_eq(seg_spec_init(&spec, 10, 11, 0, 0, &err), -1);
    cr_assert_not_null(strstr(err.msg, "K=11"), "%s", err.msg);
    cr_assert_eq(seg_spec_init(&spec, 10, 3, 4, 3, &err), -1);
    cr_assert_eq(seg_spec_for_rate(&spec, 336, 8.0, 8, 8, &err), 0, "%s", err.msg);
    cr_assert_eq(spec.K, 42);
}

Test(sampler, uniform_segmentation) {
    int starts[64];
    cr_assert_eq(seg_uniform(336, 8.0, starts), 42);
    for (int k = 0; k < 42; k++) cr_assert_eq(starts[k], 8 * k);
    cr_assert_eq(seg_uniform(10, 3.0, starts), 4);
    int want[] = {0, 3, 6, 9};
    cr_assert_eq(memcmp(starts, want, sizeof want), 0);
    cr_assert_eq(seg_uniform(7, 1.5, starts), 5);
    int want2[] = {0, 1, 3, 4, 6};
    cr_assert_eq(memcmp(starts, want2, sizeof want2), 0);
    cr_assert_eq(seg_uniform(1, 8.0, starts), 1);
    cr_assert_eq(starts[0], 0);
}

/* Unbounded, n = 6, K = 3: the empirical distribution over ordered pairs of gaps matches
 * Plackett–Luce, P(a, b) = p_a p_b / (1 - p_a). Expected TV for 20 outcomes and 200k draws is
 * about 0.003; the bound is 0.01 (the seed is fixed, so the test is deterministic). */
Test(sampler, gumbel_top_k_is_plackett_luce) {
    rp_seg_spec spec;
    cr_assert_eq(seg_spec_init(&spec, 6, 3, 0, 0, NULL), 0);
    void *work = work_for(&spec);
    const float s[5] = {0.3f, -0.5f, 1.2f, 0.0f, -1.0f};
    double z = 0, p[5];
    for (int j = 0; j < 5; j++) z += exp(s[j]);
    for (int j = 0; j < 5; j++) p[j] = exp(s[j]) / z;
    static int counts[5][5];
    rp_rng r;
    rng_seed(&r, 2024, 0);
    const int draws = 200000;
    int starts[3], order[2];
    for (int t = 0; t < draws; t++) {
        seg_sample(&spec, s, &r, starts, order, work);
        counts[order[0]][order[1]]++;
    }
    double tv = 0, tv_sets = 0;
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++) {
            if (a == b) continue;
            double exact = p[a] * p[b] / (1 - p[a]);
            int ord[2] = {a, b};
            cr_assert_float_eq(exp(seg_log_prob(&spec, s, ord, work)), exact, 1e-12);
            tv += fabs((double)counts[a][b] / draws - exact);
            if (a < b) {
                double exact_set = exact + p[b] * p[a] / (1 - p[b]);
                tv_sets += fabs((double)(counts[a][b] + counts[b][a]) / draws - exact_set);
            }
        }
    tv /= 2, tv_sets /= 2;
    cr_assert_lt(tv, 0.01, "ordered TV %g", tv);
    cr_assert_lt(tv_sets, 0.01, "unordered TV %g", tv_sets);
    free(work);
}

/* ---- brute-force reference for the bounded sampler ------------------------------------------ */

/* All valid gap sets of a small spec as bit masks. */
static int valid_sets(const rp_seg_spec *spec, unsigned *sets) {
    int n = spec->n, count = 0;
    for (unsigned m = 0; m < (1u << (n - 1)); m++) {
        if (__builtin_popcount(m) != spec->K - 1) continue;
        int starts[32], k = 1;
        starts[0] = 0;
        for (int j = 0; j < n - 1; j++)
            if (m >> j & 1) starts[k++] = j + 1;
        if (seg_check(spec, starts, NULL) == 0) sets[count++] = m;
    }
    return count;
}

/* Exact probability of an order under "softmax over the gaps that keep a valid completion",
 * with feasibility decided by enumeration (independent of the sampler's O(1) rule). */
static double brute_order_prob(const rp_seg_spec *spec, const float *s, const int *order,
                               const unsigned *sets, int n_sets) {
    unsigned chosen = 0;
    double prob = 1.0;
    for (int i = 0; i < spec->K - 1; i++) {
        unsigned feasible = 0;
        for (int t = 0; t < n_sets; t++)
            if ((sets[t] & chosen) == chosen) feasible |= sets[t] & ~chosen;
        if (!(feasible >> order[i] & 1)) return 0.0;
        double z = 0;
        for (int j = 0; j < spec->n - 1; j++)
            if (feasible >> j & 1) z += exp(s[j]);
        prob *= exp(s[order[i]]) / z;
        chosen |= 1u << order[i];
    }
    return prob;
}

/* The bounded rule, decided by enumeration: at each step the best-ranked gap (higher value, ties
 * to the lower index) among those some valid completion of the chosen ones contains. */
static void brute_bounded_order(const rp_seg_spec *spec, const double *v, const unsigned *sets, int n_sets,
                                int *order) {
    unsigned chosen = 0;
    for (int i = 0; i < spec->K - 1; i++) {
        unsigned feasible = 0;
        for (int t = 0; t < n_sets; t++)
            if ((sets[t] & chosen) == chosen) feasible |= sets[t] & ~chosen;
        int best = -1;
        for (int j = 0; j < spec->n - 1; j++)
            if ((feasible >> j & 1) && (best < 0 || v[j] > v[best])) best = j;
        order[i] = best;
        chosen |= 1u << best;
    }
}

/* Greedy decoding and sampling under length bounds choose, step by step, exactly what the rule
 * above chooses on small random specs (with tied logits, so the tie order is checked too): the
 * sampler's tournament tree drops a gap for good once it is infeasible, which is only right
 * because feasible sets shrink. */
Test(sampler, bounded_choices_match_enumeration) {
    rp_rng r;
    rng_seed(&r, 23, 0);
    static unsigned sets[1u << 17];
    int checked = 0;
    for (int n = 4; n <= 18; n++) {
        for (int rep = 0; rep < 6; rep++) {
            int K = 2 + (int)rng_below(&r, (uint64_t)(n / 2));
            int mn = 1 + (int)rng_below(&r, (uint64_t)(n / K)), mx = 0;
            if (rng_below(&r, 2)) mx = (n + K - 1) / K + (int)rng_below(&r, 3);
            rp_seg_spec spec;
            if (seg_spec_init(&spec, n, K, mn, mx, NULL) != 0 || !seg_is_bounded(&spec)) continue;
            int n_sets = valid_sets(&spec, sets);
            void *work = work_for(&spec);
            float s[32];
            double v[32];
            int starts[32], order[32], want[32];
            for (int j = 0; j < n - 1; j++) s[j] = (float)(int)(3.0 * rng_normal(&r)); /* many ties */
            for (int j = 0; j < n - 1; j++) v[j] = s[j];
            seg_greedy(&spec, s, starts, order, work);
            brute_bounded_order(&spec, v, sets, n_sets, want);
            cr_assert_eq(memcmp(order, want, sizeof(int) * (size_t)(K - 1)), 0, "greedy n=%d K=%d [%d,%d]", n, K,
                         mn, mx);
            rp_rng draw = r, same = r;
            for (int j = 0; j < n - 1; j++) v[j] = (double)s[j] + rng_gumbel(&same);
            seg_sample_order(&spec, s, &draw, starts, order, work);
            brute_bounded_order(&spec, v, sets, n_sets, want);
            cr_assert_eq(memcmp(order, want, sizeof(int) * (size_t)(K - 1)), 0, "sample n=%d K=%d [%d,%d]", n, K,
                         mn, mx);
            r = draw;
            free(work);
            checked++;
        }
    }
    cr_assert_gt(checked, 40);
}

/* Bounded, n = 10, K = 4, lengths in [2, 4]: empirical order distribution vs the sequential
 * softmax over brute-force feasible sets (9*8*7 = 504 ordered triples, most impossible). */
Test(sampler, bounded_sampler_matches_sequential_softmax) {
    rp_seg_spec spec;
    rp_error err;
    cr_assert_eq(seg_spec_init(&spec, 10, 4, 2, 4, &err), 0, "%s", err.msg);
    void *work = work_for(&spec);
    const float s[9] = {0.5f, -0.2f, 1.0f, 0.1f, -0.7f, 0.8f, 0.0f, -1.2f, 0.4f};
    unsigned sets[512];
    int n_sets = valid_sets(&spec, sets);
    cr_assert_gt(n_sets, 3);
    static int counts[9][9][9];
    rp_rng r;
    rng_seed(&r, 77, 0);
    const int draws = 200000;
    int starts[4], order[3];
    for (int t = 0; t < draws; t++) {
        seg_sample(&spec, s, &r, starts, order, work);
        counts[order[0]][order[1]][order[2]]++;
    }
    double tv = 0, total = 0;
    int possible = 0;
    for (int a = 0; a < 9; a++)
        for (int b = 0; b < 9; b++)
            for (int c = 0; c < 9; c++) {
                if (a == b || b == c || a == c) continue;
                int ord[3] = {a, b, c};
                double exact = brute_order_prob(&spec, s, ord, sets, n_sets);
                double lp = seg_log_prob(&spec, s, ord, work);
                if (exact == 0.0) {
                    cr_assert(lp == -INFINITY, "order %d %d %d: lp %g, expected impossible", a, b, c, lp);
                    cr_assert_eq(counts[a][b][c], 0);
                } else {
                    cr_assert_float_eq(exp(lp), exact, 1e-12);
                    possible++;
                }
                total += exact;
                tv += fabs((double)counts[a][b][c] / draws - exact);
            }
    tv /= 2;
    cr_assert_float_eq(total, 1.0, 1e-12);
    cr_assert_lt(tv, 0.015, "TV %g over %d possible orders", tv, possible);
    free(work);
}

/* With bounds that bind nothing, the bounded (sequential) path gives the same draws, log-probs,
 * gradients and entropies as the Plackett–Luce fast path. */
Test(sampler, bounded_path_agrees_with_fast_path) {
    rp_rng r, r1, r2;
    rng_seed(&r, 5, 0);
    for (int n = 2; n <= 60; n += 3) {
        int K = seg_count(n, 3.0);
        rp_seg_spec fast, slow;
        cr_assert_eq(seg_spec_init(&fast, n, K, 0, 0, NULL), 0);
        cr_assert_eq(seg_spec_init(&slow, n, K, 0, n - K + 1, NULL), 0);
        if (!seg_is_bounded(&slow)) continue;
        void *work = work_for(&fast);
        float s[64], g1[64] = {0}, g2[64] = {0};
        int st1[64], st2[64], o1[64], o2[64];
        random_logits(&r, s, n - 1, 2.0);
        rng_seed(&r1, 9, (uint64_t)n);
        rng_seed(&r2, 9, (uint64_t)n);
        double lp1 = seg_sample(&fast, s, &r1, st1, o1, work);
        double lp2 = seg_sample(&slow, s, &r2, st2, o2, work);
        cr_assert_eq(memcmp(o1, o2, sizeof(int) * (size_t)(K - 1)), 0, "n=%d", n);
        cr_assert_float_eq(lp1, lp2, 1e-10);
        seg_log_prob_backward(&fast, s, o1, 0.7f, g1, work);
        seg_log_prob_backward(&slow, s, o1, 0.7f, g2, work);
        for (int j = 0; j < n - 1; j++) cr_assert_float_eq(g1[j], g2[j], 1e-6);
        cr_assert_float_eq(seg_entropy(&fast, s, o1, work), seg_entropy(&slow, s, o1, work), 1e-10);
        free(work);
    }
}

/* Unbounded greedy = the K-1 largest logits. */
Test(sampler, greedy_takes_highest_logits) {
    rp_rng r;
    rng_seed(&r, 3, 0);
    rp_seg_spec spec;
    cr_assert_eq(seg_spec_init(&spec, 50, 7, 0, 0, NULL), 0);
    void *work = work_for(&spec);
    float s[49];
    int starts[7], order[6];
    random_logits(&r, s, 49, 1.0);
    seg_greedy(&spec, s, starts, order, work);
    for (int i = 0; i < 6; i++) {
        if (i) cr_assert_geq(s[order[i - 1]], s[order[i]]);
        int above = 0;
        for (int j = 0; j < 49; j++) above += s[j] > s[order[i]];
        cr_assert_eq(above, i);
    }
    free(work);
}

/* Unbounded greedy decoding's order is the K−1 best gaps by (logit descending, gap ascending),
 * checked against a sort of every gap: many sizes and counts, with heavy ties (logits on a coarse
 * grid, as the uniform prior's are at initialisation) and without. */
static const float *rank_logits;
static int by_rank(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (rank_logits[i] != rank_logits[j]) return rank_logits[i] > rank_logits[j] ? -1 : 1;
    return i < j ? -1 : 1;
}

Test(sampler, greedy_order_is_the_sorted_ranking) {
    rp_rng r;
    rng_seed(&r, 21, 0);
    for (int trial = 0; trial < 600; trial++) {
        int n = 2 + (int)rng_below(&r, 400), K = 1 + (int)rng_below(&r, (uint64_t)n);
        rp_seg_spec spec;
        cr_assert_eq(seg_spec_init(&spec, n, K, 0, 0, NULL), 0);
        void *work = work_for(&spec);
        float *s = malloc(sizeof(float) * (size_t)n);
        int *starts = malloc(sizeof(int) * (size_t)K), *order = malloc(sizeof(int) * (size_t)K);
        int *all = malloc(sizeof(int) * (size_t)n);
        for (int j = 0; j < n - 1; j++)
            s[j] = trial % 2 ? (float)rng_below(&r, 4) - 2.0f : (float)rng_normal(&r);
        seg_greedy(&spec, s, starts, order, work);
        for (int j = 0; j < n - 1; j++) all[j] = j;
        rank_logits = s;
        qsort(all, (size_t)(n - 1), sizeof(int), by_rank);
        for (int i = 0; i < K - 1; i++) cr_assert_eq(order[i], all[i], "trial %d n=%d K=%d: step %d", trial, n, K, i);
        free(s), free(starts), free(order), free(all), free(work);
    }
}

Test(sampler, same_seed_same_segmentation) {
    rp_seg_spec spec;
    cr_assert_eq(seg_spec_init(&spec, 336, 42, 4, 16, NULL), 0);
    void *work = work_for(&spec);
    float s[335];
    rp_rng r, a, b;
    rng_seed(&r, 1, 0);
    random_logits(&r, s, 335, 1.0);
    int sa[42], sb[42], oa[41], ob[41];
    rng_seed(&a, 42, 7);
    rng_seed(&b, 42, 7);
    double la = seg_sample(&spec, s, &a, sa, oa, work);
    double lb = seg_sample(&spec, s, &b, sb, ob, work);
    cr_assert_eq(memcmp(oa, ob, sizeof oa), 0);
    cr_assert(la == lb);
    free(work);
}

/* ---- gradients against central differences ---------------------------------------------------- */

typedef double (*seg_fn)(const rp_seg_spec *, const float *, const int *, void *);
typedef void (*seg_bwd)(const rp_seg_spec *, const float *, const int *, float, float *, void *);

/* The functions evaluate in double from float logits, so the difference quotient uses the actual
 * float step (s+h) - (s-h); with h = 1e-3 the truncation error is O(h^2) ~ 1e-6. */
static void check_gradient(const rp_seg_spec *spec, float *s, const int *order, seg_fn f,
                           seg_bwd df, const char *what) {
    int m = spec->n - 1;
    void *work = work_for(spec);
    float *g = calloc((size_t)m, sizeof(float));
    df(spec, s, order, 1.0f, g, work);
    for (int j = 0; j < m; j++) {
        float keep = s[j];
        s[j] = keep + 1e-3f;
        float up = s[j];
        double fp = f(spec, s, order, work);
        s[j] = keep - 1e-3f;
        float dn = s[j];
        double fm = f(spec, s, order, work);
        s[j] = keep;
        double fd = (fp - fm) / ((double)up - (double)dn);
        cr_assert(fabs(fd - g[j]) < 2e-5, "%s: n=%d K=%d gap %d: analytic %.8f, numeric %.8f", what,
                  spec->n, spec->K, j, g[j], fd);
    }
    free(g);
    free(work);
}

Test(sampler, log_prob_and_entropy_gradients_match_finite_differences) {
    rp_rng r;
    rng_seed(&r, 99, 0);
    static const int cfg[][4] = {{20, 5, 0, 0}, {20, 5, 2, 6}, {33, 9, 3, 0}, {12, 12, 0, 0},
                                 {40, 5, 0, 9}, {2, 2, 0, 0}, {9, 1, 0, 0}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        rp_seg_spec spec;
        rp_error err;
        cr_assert_eq(seg_spec_init(&spec, cfg[c][0], cfg[c][1], cfg[c][2], cfg[c][3], &err), 0, "%s",
                     err.msg);
        void *work = work_for(&spec);
        float s[64];
        int starts[64], order[64];
        random_logits(&r, s, spec.n - 1, 1.5);
        seg_sample(&spec, s, &r, starts, order, work);
        check_gradient(&spec, s, order, seg_log_prob, seg_log_prob_backward, "log-prob");
        check_gradient(&spec, s, order, seg_entropy, seg_entropy_backward, "entropy");
        free(work);
    }
}

/* The log-prob stays finite and exact when the chosen logits dominate (a running sum that
 * subtracts chosen terms would cancel catastrophically here). */
Test(sampler, log_prob_is_stable_for_peaked_logits) {
    rp_seg_spec spec;
    cr_assert_eq(seg_spec_init(&spec, 5, 3, 0, 0, NULL), 0);
    void *work = work_for(&spec);
    const float s[4] = {60.0f, 50.0f, -40.0f, -45.0f};
    int order[2] = {0, 1};
    double lp = seg_log_prob(&spec, s, order, work);
    double exact = -(log1p(exp(-10.0) + exp(-100.0) + exp(-105.0)) + log1p(exp(-90.0) + exp(-95.0)));
    cr_assert_float_eq(lp, exact, 1e-15);
    int rev[2] = {3, 2};
    double lp2 = seg_log_prob(&spec, s, rev, work);
    cr_assert(isfinite(lp2) && lp2 < -180.0, "%g", lp2);
    int bad[2] = {1, 1};
    cr_assert(seg_log_prob(&spec, s, bad, work) == -INFINITY);
    free(work);
}

/* ---- uniform random baseline ------------------------------------------------------------------ */

static void check_uniform_random(int n, int K, int mn, int mx, double bound) {
    rp_seg_spec spec;
    cr_assert_eq(seg_spec_init(&spec, n, K, mn, mx, NULL), 0);
    unsigned sets[4096];
    int n_sets = valid_sets(&spec, sets);
    double *table = malloc(sizeof(double) * seg_random_table_doubles(&spec));
    seg_random_table(&spec, table);
    cr_assert_float_eq(exp(table[(size_t)K * (n + 1) + n]), n_sets, 1e-9 * n_sets);
    int *counts = calloc(1u << (n - 1), sizeof(int));
    rp_rng r;
    rng_seed(&r, 123, (uint64_t)n);
    const int draws = 150000;
    int starts[32];
    for (int t = 0; t < draws; t++) {
        seg_random(&spec, table, &r, starts);
        cr_assert_eq(seg_check(&spec, starts, NULL), 0);
        unsigned m = 0;
        for (int k = 1; k < K; k++) m |= 1u << (starts[k] - 1);
        counts[m]++;
    }
    double tv = 0;
    for (int t = 0; t < n_sets; t++) tv += fabs((double)counts[sets[t]] / draws - 1.0 / n_sets);
    tv /= 2;
    cr_assert_lt(tv, bound, "n=%d K=%d [%d,%d]: TV %g over %d sets", n, K, mn, mx, tv, n_sets);
    free(counts);
    free(table);
}

Test(sampler, random_segmentation_is_uniform_over_valid_sets) {
    check_uniform_random(7, 3, 0, 0, 0.01);   /* C(6,2) = 15 sets */
    check_uniform_random(12, 4, 2, 5, 0.015); /* bounded */
    check_uniform_random(11, 3, 3, 0, 0.01);  /* min only */
}

/* Candidate sets far below the overall maximum (the shared exp(s - max) underflows): the step
 * falls back to its own shift and stays exact. */
Test(sampler, steps_far_below_the_maximum_stay_exact) {
    rp_seg_spec spec;
    cr_assert_eq(seg_spec_init(&spec, 10, 2, 3, 0, NULL), 0); /* feasible gaps: 2..6 */
    void *work = work_for(&spec);
    float s[9] = {800, 800, 0, 0, 0, 0, 0, 800, 800};
    int order[1] = {4};
    cr_assert_float_eq(seg_log_prob(&spec, s, order, work), -log(5.0), 1e-12);
    float g[9] = {0};
    seg_log_prob_backward(&spec, s, order, 1.0f, g, work);
    for (int j = 0; j < 9; j++)
        cr_assert_float_eq(g[j], j == 4 ? 0.8f : (j >= 2 && j <= 6 ? -0.2f : 0.0f), 1e-6);
    cr_assert_float_eq(seg_entropy(&spec, s, order, work), log(5.0), 1e-12);
    rp_seg_spec free_spec;
    cr_assert_eq(seg_spec_init(&free_spec, 5, 3, 0, 0, NULL), 0);
    float t[4] = {800, 0, 0, 0};
    int ord[2] = {0, 1};
    cr_assert_float_eq(seg_entropy(&free_spec, t, ord, work), log(3.0), 1e-12);
    /* Unbounded, the gradient's last step has only candidates 800 below the first pick: its
     * normaliser underflows in linear scale, and the log-space path gives the exact answer (step
     * 0 picks gap 0 surely: 0; step 1 picks gap 1 among three equal ones: 2/3, −1/3, −1/3). */
    float gt[4] = {0};
    seg_log_prob_backward(&free_spec, t, ord, 1.0f, gt, work);
    const float want[4] = {0.0f, 2.0f / 3.0f, -1.0f / 3.0f, -1.0f / 3.0f};
    for (int j = 0; j < 4; j++) cr_assert_float_eq(gt[j], want[j], 1e-6, "gap %d: %g", j, gt[j]);
    free(work);
}

Test(sampler, gaps_lengths_compose_and_check_messages) {
    int gaps[3] = {7, 2, 4}, starts[4], lens[4];
    seg_starts_from_gaps(4, gaps, starts);
    int want[4] = {0, 3, 5, 8};
    cr_assert_eq(memcmp(starts, want, sizeof want), 0);
    seg_lengths(10, 4, starts, lens);
    int want_len[4] = {3, 2, 3, 2};
    cr_assert_eq(memcmp(lens, want_len, sizeof want_len), 0);
    /* Level 2 groups level-1 patches {0,1} {2} {3}: raw starts 0, 5, 8. */
    int upper[3] = {0, 2, 3}, raw[3];
    seg_compose(3, upper, starts, raw);
    int want_raw[3] = {0, 5, 8};
    cr_assert_eq(memcmp(raw, want_raw, sizeof want_raw), 0);
    rp_seg_spec spec;
    rp_error err;
    cr_assert_eq(seg_spec_init(&spec, 10, 4, 0, 0, NULL), 0);
    cr_assert_eq(seg_check(&spec, starts, &err), 0);
    int bad[4] = {0, 5, 5, 8};
    cr_assert_eq(seg_check(&spec, bad, &err), -1);
    cr_assert_not_null(strstr(err.msg, "segment 1"), "%s", err.msg);
    cr_assert_eq(seg_spec_init(&spec, 10, 4, 3, 0, NULL), -1);
    cr_assert_eq(seg_spec_init(&spec, 10, 4, 2, 0, NULL), 0);
    cr_assert_eq(seg_check(&spec, starts, &err), 0);
    int short_seg[4] = {0, 1, 5, 8};
    cr_assert_eq(seg_check(&spec, short_seg, &err), -1);
    cr_assert_not_null(strstr(err.msg, "length 1"), "%s", err.msg);
}

/* Cuts off the uniform grid are counted as a set: an inserted cut counts once, not as a shift of
 * every later index; a dropped grid cut makes no cut off the grid. */
Test(segmentation, cuts_off_uniform_compares_sets) {
    int uniform[5];
    cr_assert_eq(seg_uniform(20, 4.0, uniform), 5);                 /* 0 4 8 12 16 */
    int same[5] = {0, 4, 8, 12, 16}, shifted[5] = {0, 5, 8, 12, 16};
    int inserted[5] = {0, 1, 4, 8, 12};                             /* 1 added, 16 dropped */
    int all_off[5] = {0, 3, 7, 11, 15};
    cr_assert_eq(seg_cuts_off_uniform(same, uniform, 5), 0);
    cr_assert_eq(seg_cuts_off_uniform(shifted, uniform, 5), 1);
    cr_assert_eq(seg_cuts_off_uniform(inserted, uniform, 5), 1);
    cr_assert_eq(seg_cuts_off_uniform(all_off, uniform, 5), 4);
}

/* seg_jitter: exactly K valid segments under any S (clamping keeps order and bounds), every cut
 * within S of its uniform place when nothing needs clamping, every offset in [-S, S] reached, and
 * the same stream gives the same cuts. */
Test(segmentation, jitter_moves_cuts_within_s_and_keeps_k) {
    rp_error err;
    int uniform[64], starts[64], again[64];
    struct { int n, min_len, max_len, S; double rate; } cases[] = {
        {336, 0, 0, 1, 8.0}, {336, 0, 0, 2, 8.0}, {336, 0, 0, 8, 8.0}, {336, 0, 0, 40, 8.0},
        {100, 3, 12, 4, 8.0}, {50, 2, 0, 6, 3.0}, {21, 0, 0, 3, 2.5},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        rp_seg_spec spec;
        cr_assert_eq(seg_spec_for_rate(&spec, cases[c].n, cases[c].rate, cases[c].min_len, cases[c].max_len, &err), 0,
                     "%s", err.msg);
        int K = seg_uniform(spec.n, cases[c].rate, uniform), S = cases[c].S;
        cr_assert_eq(K, spec.K);
        int seen[2 * 40 + 1] = {0}, moved = 0;
        for (int trial = 0; trial < 200; trial++) {
            rp_rng rng, rng2;
            rng_seed(&rng, 5, (unsigned long long)trial);
            rng_seed(&rng2, 5, (unsigned long long)trial);
            seg_jitter(&spec, cases[c].rate, S, &rng, starts);
            seg_jitter(&spec, cases[c].rate, S, &rng2, again);
            cr_assert_eq(memcmp(starts, again, (size_t)K * sizeof(int)), 0, "case %zu: not repeatable", c);
            cr_assert_eq(seg_check(&spec, starts, &err), 0, "case %zu S=%d: %s", c, S, err.msg);
            /* Both draws used the same K-1 integers: the generators are in step. */
            cr_assert_eq(rng_next(&rng), rng_next(&rng2));
            for (int k = 1; k < K; k++) {
                int delta = starts[k] - uniform[k];
                if (2 * S < (int)cases[c].rate - 1 && !cases[c].min_len && !cases[c].max_len)
                    cr_assert(delta >= -S && delta <= S, "case %zu: cut %d moved by %d > S=%d", c, k, delta, S);
                if (delta >= -S && delta <= S) seen[delta + S]++;
                moved += delta != 0;
            }
        }
        cr_expect_gt(moved, 0, "case %zu: no cut moved", c);
        if (S <= 2)
            for (int v = -S; v <= S; v++) cr_expect_gt(seen[v + S], 0, "case %zu: offset %d never drawn", c, v);
    }
}
