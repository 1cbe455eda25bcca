/* As in core/activation.c: without this GCC treats the float compare in gumbel_of as possibly
 * trapping and will not if-convert it, so rng_gumbels' loop would not vectorise. reinpatch never
 * enables floating-point traps, so this changes no result. */
#pragma GCC optimize("no-trapping-math")

#include "core/rng.h"

#include <math.h>

#include "core/mathd.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void rng_seed(rp_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t rng_next(rp_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(rp_rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

double rng_uniform_open(rp_rng *r) { return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53; }

double rng_normal(rp_rng *r) {
    double u1 = rng_uniform_open(r), u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t rng_below(rp_rng *r, uint64_t n) {
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_next(r); while (x >= limit);
    return x % n;
}

/* −log(−log u) for u from rng_uniform_open. Its largest value, (2^53 − 0.5)·2^−53, rounds to 1,
 * where −log u would be 0 (outside rp_log's domain); it stands for 1 − 2^−54, whose −log is 2^−54,
 * below every other draw's (≥ 1.1·10^−16), so the floor changes that draw alone. */
static inline double gumbel_of(double u) {
    double t = -rp_log(u);
    return -rp_log(t > 0x1p-54 ? t : 0x1p-54);
}

double rng_gumbel(rp_rng *r) { return gumbel_of(rng_uniform_open(r)); }

void rng_gumbels(rp_rng *r, double *out, int n) {
    for (int i = 0; i < n; i++) out[i] = rng_uniform_open(r);
    /* a separate loop: the draws are sequential, the logs vectorise */
    for (int i = 0; i < n; i++) out[i] = gumbel_of(out[i]);
}

void rng_shuffle_int(rp_rng *r, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1);
        int t = a[i]; a[i] = a[j]; a[j] = t;
    }
}
