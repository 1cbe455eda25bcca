#include <criterion/criterion.h>
#include <math.h>

#include "core/rng.h"

Test(rng, same_seed_same_stream) {
    rp_rng a, b;
    rng_seed(&a, 42, 3);
    rng_seed(&b, 42, 3);
    for (int i = 0; i < 1000; i++) cr_assert_eq(rng_next(&a), rng_next(&b));
}

Test(rng, streams_differ) {
    rp_rng a, b;
    rng_seed(&a, 42, 0);
    rng_seed(&b, 42, 1);
    int same = 0;
    for (int i = 0; i < 100; i++) same += rng_next(&a) == rng_next(&b);
    cr_assert_eq(same, 0);
}

Test(rng, uniform_and_normal_moments) {
    rp_rng r;
    rng_seed(&r, 7, 0);
    double s = 0, s2 = 0, n1 = 0, n2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(&r);
        cr_assert(u >= 0.0 && u < 1.0);
        s += u; s2 += u * u;
        double z = rng_normal(&r);
        n1 += z; n2 += z * z;
    }
    /* 5-sigma bounds for the sample means: fixed seed, so this is deterministic. */
    cr_assert_lt(fabs(s / n - 0.5), 5 * sqrt(1.0 / 12 / n));
    cr_assert_lt(fabs(n1 / n), 5 / sqrt((double)n));
    cr_assert_lt(fabs(n2 / n - 1.0), 5 * sqrt(2.0 / n));
}

Test(rng, below_is_in_range_and_covers) {
    rp_rng r;
    rng_seed(&r, 1, 0);
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint64_t x = rng_below(&r, 7);
        cr_assert_lt(x, 7);
        seen[x]++;
    }
    for (int i = 0; i < 7; i++) cr_assert_gt(seen[i], 800);
}

/* rng_gumbels is n calls of rng_gumbel, value for value, and the values are standard Gumbels:
 * mean γ (Euler's constant), variance π²/6. */
Test(rng, gumbels_are_the_single_draws) {
    enum { N = 100001 };
    static double v[N];
    rp_rng a, b;
    rng_seed(&a, 5, 2);
    rng_seed(&b, 5, 2);
    rng_gumbels(&a, v, N);
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(v[i], rng_gumbel(&b), "draw %d", i);
        s += v[i];
        s2 += v[i] * v[i];
    }
    cr_assert_eq(rng_next(&a), rng_next(&b), "both streams are at the same place after the draws");
    double mean = s / N, var = s2 / N - mean * mean, pi = 3.14159265358979;
    /* 5-sigma bounds (the variance of a Gumbel's square is finite); fixed seed, deterministic */
    cr_assert_lt(fabs(mean - 0.5772156649), 5 * sqrt(pi * pi / 6 / N));
    /* the sample variance's sd: σ² √((μ4/σ⁴ − 1) / N), μ4/σ⁴ = 5.4 for a Gumbel */
    cr_assert_lt(fabs(var - pi * pi / 6), 5 * (pi * pi / 6) * sqrt(4.4 / N));
}

/* The largest uniform rng_uniform_open returns rounds to 1; its Gumbel is the one of 1 − 2^−54
 * (about 37.4, the largest any draw gives), neither infinite nor at the far negative end. */
Test(rng, gumbel_of_the_largest_uniform_is_finite_and_largest) {
    rp_rng r;
    /* a state whose next output is all ones: xoshiro256**'s result is rotl(s1 · 5, 7) · 9 */
    uint64_t want = ~0ull, inv9 = 0x8e38e38e38e38e39ull, inv5 = 0xcccccccccccccccdull;
    uint64_t x = want * inv9;
    x = (x >> 7) | (x << 57);
    r.s[0] = 1, r.s[1] = x * inv5, r.s[2] = 2, r.s[3] = 3;
    rp_rng copy = r;
    cr_assert_eq(rng_uniform_open(&copy), 1.0, "the largest uniform rounds to 1");
    double g = rng_gumbel(&r), want_g = -log(0x1p-54);
    cr_assert(isfinite(g));
    cr_assert_float_eq(g, want_g, 1e-12, "%.17g", g);
}
