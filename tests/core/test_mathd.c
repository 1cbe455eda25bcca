#include <criterion/criterion.h>
#include <math.h>

#include "core/mathd.h"
#include "core/rng.h"

/* |r − exact| in units of the last place of a double at exact; the exact value comes from long
 * double (64-bit mantissa, 11 more bits than double). */
static double ulp_error(double r, long double exact) {
    int e;
    frexpl(exact, &e);
    long double ulp = ldexpl(1.0L, e - 53);
    return (double)(fabsl((long double)r - exact) / ulp);
}

/* Over the domains the samplers use, both functions are within 1 ulp of the exact result, as
 * glibc's are (its error over the same inputs is logged beside ours, and so is how often the two
 * differ: in the last bit, in some percent of the results). */
Test(mathd, exp_within_one_ulp) {
    rp_rng r;
    rng_seed(&r, 11, 0);
    double worst = 0.0, worst_libm = 0.0;
    int differs = 0;
    for (int i = 0; i < 400000; i++) {
        /* arguments s − max s and s + z: mostly in [−40, 0], some as far as −707 and up to 700 */
        double x = i % 10 == 0 ? -707.9 * rng_uniform(&r) : i % 97 == 0 ? 700.0 * rng_uniform(&r) : -40.0 * rng_uniform(&r);
        long double exact = expl((long double)x);
        double e = ulp_error(rp_exp(x), exact), el = ulp_error(exp(x), exact);
        if (e > worst) worst = e;
        if (el > worst_libm) worst_libm = el;
        differs += rp_exp(x) != exp(x);
    }
    cr_log_info("exp: worst %.3f ulp (glibc %.3f), %d of 400000 differ from glibc", worst, worst_libm, differs);
    cr_assert_lt(worst, 1.0, "rp_exp is %.3f ulp off", worst);
}

Test(mathd, exp_edges) {
    cr_assert_eq(rp_exp(0.0), 1.0);
    cr_assert_eq(rp_exp(-708.5), 0.0);
    cr_assert_eq(rp_exp(-1000.0), 0.0);
    cr_assert(isnan(rp_exp(NAN)));
    /* the last normal results and the largest finite one are still exact to 1 ulp */
    cr_assert_lt(ulp_error(rp_exp(-707.99), expl((long double)-707.99)), 1.0);
    cr_assert_lt(ulp_error(rp_exp(709.7), expl((long double)709.7)), 1.0);
}

Test(mathd, log_within_one_ulp) {
    rp_rng r;
    rng_seed(&r, 12, 0);
    double worst = 0.0, worst_libm = 0.0;
    int differs = 0;
    for (int i = 0; i < 400000; i++) {
        /* uniforms in (0, 1), their negated logs (0, 37], and sums of exponentials [1, 10^4] */
        double u = rng_uniform_open(&r);
        double x = i % 3 == 0 ? u : i % 3 == 1 ? -log(u) : 1.0 + 1e4 * u;
        long double exact = logl((long double)x);
        if (exact == 0.0L) continue;
        double e = ulp_error(rp_log(x), exact), el = ulp_error(log(x), exact);
        if (e > worst) worst = e;
        if (el > worst_libm) worst_libm = el;
        differs += rp_log(x) != log(x);
    }
    cr_log_info("log: worst %.3f ulp (glibc %.3f), %d of 400000 differ from glibc", worst, worst_libm, differs);
    cr_assert_lt(worst, 1.0, "rp_log is %.3f ulp off", worst);
}

Test(mathd, log_edges) {
    cr_assert_eq(rp_log(1.0), 0.0);
    cr_assert_eq(rp_log(2.0), log(2.0));
    cr_assert_lt(ulp_error(rp_log(0x1p-1022), logl(0x1p-1022L)), 1.0);
    cr_assert_lt(ulp_error(rp_log(1.0 - 0x1p-53), logl(1.0L - 0x1p-53L)), 1.0);
    cr_assert_lt(ulp_error(rp_log(1.7976931348623157e308), logl((long double)1.7976931348623157e308)), 1.0);
}

/* The loops the sampler writes over arrays vectorise; a vectorised result must be the scalar one
 * (the same operations, lane by lane). */
Test(mathd, array_loop_matches_scalar_calls) {
    enum { N = 1003 };
    static double x[N], ye[N], yl[N];
    rp_rng r;
    rng_seed(&r, 13, 0);
    for (int i = 0; i < N; i++) x[i] = rng_uniform_open(&r);
    for (int i = 0; i < N; i++) yl[i] = -rp_log(-rp_log(x[i]));
    for (int i = 0; i < N; i++) ye[i] = rp_exp(-30.0 * x[i]);
    for (int i = 0; i < N; i++) {
        volatile double xi = x[i];
        cr_assert_eq(yl[i], -rp_log(-rp_log(xi)), "log at %d", i);
        cr_assert_eq(ye[i], rp_exp(-30.0 * xi), "exp at %d", i);
    }
}
