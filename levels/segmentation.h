/* Segmentations: how a level cuts n units into exactly K contiguous, non-empty segments.
 *
 * A segmentation is stored as K start offsets: starts[0] = 0, strictly increasing, all < n;
 * segment k is [starts[k], starts[k+1]) and the last one ends at n. A boundary "gap" j in
 * [0, n-2] is the cut between unit j and unit j+1, so choosing gap j makes a segment start at
 * j + 1. A segmentation is therefore also a set of K-1 gaps.
 *
 * K comes from the level's compression rate: K = ceil(n / rate) (docs/method.md §2), and optional bounds
 * on segment length (min_len, max_len; 0 = unbounded) restrict which sets of gaps are valid.
 * rp_seg_spec holds these four numbers; seg_spec_init checks that at least one valid
 * segmentation exists, so every sampler below can always finish with exactly K segments. */
#ifndef RP_SEGMENTATION_H
#define RP_SEGMENTATION_H

#include "core/error.h"
#include "core/rng.h"

typedef struct rp_seg_spec {
    int n;        /* units to cut (level 1: time steps; level l > 1: patches of level l-1) */
    int K;        /* segments, exactly */
    int min_len;  /* shortest allowed segment, 0 = no bound (every segment has >= 1 unit anyway) */
    int max_len;  /* longest allowed segment, 0 = no bound */
} rp_seg_spec;

/* K = ceil(n / rate), clamped to [1, n]. rate must be > 0. */
int seg_count(int n, double rate);

/* Fills spec and checks feasibility: 1 <= K <= n, 0 <= min_len, 0 <= max_len, and
 * K*min <= n <= K*max with min = max(1, min_len), max = max_len or n when 0. The error names the
 * numbers, e.g. "n=336 units cannot be cut into K=42 segments of length in [9, 16]: K*min_len =
 * 378 > n". */
int seg_spec_init(rp_seg_spec *spec, int n, int K, int min_len, int max_len, rp_error *err);
/* The same with K = seg_count(n, rate). */
int seg_spec_for_rate(rp_seg_spec *spec, int n, double rate, int min_len, int max_len,
                      rp_error *err);

/* Effective bounds: seg_min_len >= 1, seg_max_len = max_len or n. */
int seg_min_len(const rp_seg_spec *spec);
int seg_max_len(const rp_seg_spec *spec);
/* 1 when min_len or max_len can restrict anything (the samplers then use the sequential,
 * feasibility-checked path); 0 for the plain exact-K case. */
int seg_is_bounded(const rp_seg_spec *spec);

/* Checks a segmentation against spec: starts[0] == 0, strictly increasing, < n, every length
 * within the bounds. The error says which segment breaks which rule. */
int seg_check(const rp_seg_spec *spec, const int *starts, rp_error *err);

/* starts[K] from a set of K-1 gaps in any order (they must be distinct and in [0, n-2]). */
void seg_starts_from_gaps(int K, const int *gaps, int *starts);
/* lens[K] from starts[K]. */
void seg_lengths(int n, int K, const int *starts, int *lens);

/* The fixed segmentation at this rate: starts[k] = floor(k * rate) for k < K = seg_count(n, rate),
 * i.e. segments of length rate (the last one shorter) when rate is an integer; for n = 336,
 * rate 8: 42 segments of 8. Returns K; starts must hold seg_count(n, rate) ints. */
int seg_uniform(int n, double rate, int *starts);

/* The uniform segmentation at this rate with every interior cut moved by an independent random
 * integer in [-S, S] (S >= 0), left to right: cut k goes to uniform[k] + delta_k, clamped so that
 * the cuts stay strictly increasing and every segment, the remaining ones included, can still keep
 * spec's length bounds; the result always has exactly spec->K segments and passes seg_check.
 * Draws exactly K-1 integers from rng, so streams do not depend on the clamping. spec->K must be
 * seg_count(spec->n, rate). */
void seg_jitter(const rp_seg_spec *spec, double rate, int S, rp_rng *rng, int *starts);

/* How many of the K-1 interior cuts starts[1..K-1] are not cuts of the uniform segmentation
 * uniform[0..K) (seg_uniform's output for the same n and rate). Compared as sets, so one
 * inserted cut counts once, not as a shift of every later index. */
int seg_cuts_off_uniform(const int *starts, const int *uniform, int K);

/* Maps an upper level's segmentation, expressed in lower-level units, to raw steps:
 * raw_starts[k] = lower_raw_starts[upper_starts[k]] (k < K_upper). A level-l patch covers the
 * raw span from raw_starts[k] to raw_starts[k+1] (or the window end). */
void seg_compose(int K_upper, const int *upper_starts, const int *lower_raw_starts,
                 int *raw_starts);

#endif
