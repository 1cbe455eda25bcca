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
