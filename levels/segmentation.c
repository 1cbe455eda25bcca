#include "levels/segmentation.h"

#include <math.h>

int seg_count(int n, double rate) {
    if (n <= 1) return 1;
    double k = ceil((double)n / rate);
    if (!(k >= 1.0)) return 1;  /* also catches NaN */
    if (k > (double)n) return n;
    return (int)k;
}

int seg_min_len(const rp_seg_spec *spec) { return spec->min_len > 1 ? spec->min_len : 1; }

int seg_max_len(const rp_seg_spec *spec) {
    return spec->max_len > 0 && spec->max_len < spec->n ? spec->max_len : spec->n;
}

int seg_is_bounded(const rp_seg_spec *spec) {
    return seg_min_len(spec) > 1 || seg_max_len(spec) < spec->n;
}

int seg_spec_init(rp_seg_spec *spec, int n, int K, int min_len, int max_len, rp_error *err) {
    if (n < 1) return rp_fail(err, "segmentation: n=%d units: need at least 1", n);
    if (K < 1 || K > n)
        return rp_fail(err, "segmentation: K=%d segments for n=%d units: need 1 <= K <= n", K, n);
    if (min_len < 0 || max_len < 0)
        return rp_fail(err, "segmentation: min_len=%d, max_len=%d: bounds must be >= 0 (0 = none)",
                       min_len, max_len);
    spec->n = n;
    spec->K = K;
    spec->min_len = min_len;
    spec->max_len = max_len;
    long long mn = seg_min_len(spec), mx = seg_max_len(spec);
    if (max_len > 0 && max_len < mn)
        return rp_fail(err, "segmentation: max_len=%d is below min_len=%d", max_len, min_len);
    if ((long long)K * mn > n)
        return rp_fail(err,
                       "segmentation: n=%d units cannot be cut into K=%d segments of length in "
                       "[%lld, %lld]: K*min_len = %lld > n",
                       n, K, mn, mx, (long long)K * mn);
    if ((long long)K * mx < n)
        return rp_fail(err,
                       "segmentation: n=%d units cannot be cut into K=%d segments of length in "
                       "[%lld, %lld]: K*max_len = %lld < n",
                       n, K, mn, mx, (long long)K * mx);
    return 0;
}

int seg_spec_for_rate(rp_seg_spec *spec, int n, double rate, int min_len, int max_len,
                      rp_error *err) {
    if (!(rate > 0.0)) return rp_fail(err, "segmentation: rate %g: must be > 0", rate);
    return seg_spec_init(spec, n, seg_count(n, rate), min_len, max_len, err);
}

int seg_check(const rp_seg_spec *spec, const int *starts, rp_error *err) {
    int n = spec->n, K = spec->K, mn = seg_min_len(spec), mx = seg_max_len(spec);
    if (starts[0] != 0) return rp_fail(err, "segmentation: starts[0] = %d, expected 0", starts[0]);
    for (int k = 0; k < K; k++) {
        int end = k + 1 < K ? starts[k + 1] : n;
        if (end > n)
            return rp_fail(err, "segmentation: segment %d starts at %d, beyond n=%d", k + 1, end, n);
        int len = end - starts[k];
        if (len < 1)
            return rp_fail(err, "segmentation: segment %d [%d, %d) is empty or out of order", k,
                           starts[k], end);
        if (len < mn || len > mx)
            return rp_fail(err, "segmentation: segment %d [%d, %d) has length %d outside [%d, %d]",
                           k, starts[k], end, len, mn, mx);
    }
    return 0;
}

void seg_starts_from_gaps(int K, const int *gaps, int *starts) {
    /* Insertion sort: K-1 is small (tens), and the input is often nearly sorted. */
    starts[0] = 0;
    for (int i = 0; i < K - 1; i++) {
        int v = gaps[i] + 1, p = i + 1;
        while (p > 1 && starts[p - 1] > v) {
            starts[p] = starts[p - 1];
            p--;
        }
        starts[p] = v;
    }
}

void seg_lengths(int n, int K, const int *starts, int *lens) {
    for (int k = 0; k < K; k++) lens[k] = (k + 1 < K ? starts[k + 1] : n) - starts[k];
}

int seg_uniform(int n, double rate, int *starts) {
    int K = seg_count(n, rate);
    starts[0] = 0;
    for (int k = 1; k < K; k++) {
        double s = floor((double)k * rate);
        int v = s < (double)n ? (int)s : n;
        /* Rounding guards: keep strictly increasing and leave room for the remaining segments. */
        if (v <= starts[k - 1]) v = starts[k - 1] + 1;
        if (v > n - (K - k)) v = n - (K - k);
        starts[k] = v;
    }
    return K;
}

void seg_jitter(const rp_seg_spec *spec, double rate, int S, rp_rng *rng, int *starts) {
    int n = spec->n, K = spec->K, min = seg_min_len(spec), max = seg_max_len(spec);
    seg_uniform(n, rate, starts);
    for (int k = 1; k < K; k++) {
        int v = starts[k] + (int)rng_below(rng, (uint64_t)(2 * S + 1)) - S;
        /* Segment k-1 within [min, max], and room for the K-k segments left of each length in
         * [min, max]; the previous cut was feasible, so lo <= hi. */
        int lo = starts[k - 1] + min, hi = starts[k - 1] + max;
        if (lo < n - (K - k) * max) lo = n - (K - k) * max;
        if (hi > n - (K - k) * min) hi = n - (K - k) * min;
        starts[k] = v < lo ? lo : v > hi ? hi : v;
    }
}

int seg_cuts_off_uniform(const int *starts, const int *uniform, int K) {
    int off = 0, u = 1;
    for (int k = 1; k < K; k++) {  /* both ascending: one merge pass */
        while (u < K && uniform[u] < starts[k]) u++;
        off += !(u < K && uniform[u] == starts[k]);
    }
    return off;
}

void seg_compose(int K_upper, const int *upper_starts, const int *lower_raw_starts,
                 int *raw_starts) {
    for (int k = 0; k < K_upper; k++) raw_starts[k] = lower_raw_starts[upper_starts[k]];
}
