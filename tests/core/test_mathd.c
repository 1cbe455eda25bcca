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
typedef struct fn_pair {
    const char *name;
    double (*ours)(double), (*glibc)(double);
    long double (*exact)(long double);
} fn_pair;

static double rp_exp_fn(double x) { return rp_exp(x); }
static double rp_log_fn(double x) { return rp_log(x); }

static void check_ulps(fn_pair f, const double *x, int n) {
    double worst = 0.0, worst_libm = 0.0;
    int differs = 0;
    for (int i = 0; i < n; i++) {
        long double exact = f.exact((long double)x[i]);
        if (exact == 0.0L) continue; /* log 1: no last place to measure in */
        double e = ulp_error(f.ours(x[i]), exact), el = ulp_error(f.glibc(x[i]), exact);
        if (e > worst) worst = e;
        if (el > worst_libm) worst_libm = el;
        differs += f.ours(x[i]) != f.glibc(x[i]);
    }
    cr_log_info("%s: worst %.3f ulp (glibc %.3f), %d of %d differ from glibc", f.name, worst, worst_libm, differs, n);
    cr_assert_lt(worst, 1.0, "rp_%s is %.3f ulp off", f.name, worst);
}

enum { N_ULP = 400000 };

Test(mathd, exp_within_one_ulp) {
    static double x[N_ULP];
    rp_rng r;
    rng_seed(&r, 11, 0);
    /* arguments s − max s and s + z: mostly in [−40, 0], some as far as −707 and up to 700 */
    for (int i = 0; i < N_ULP; i++)
        x[i] = i % 10 == 0 ? -707.9 * rng_uniform(&r) : i % 97 == 0 ? 700.0 * rng_uniform(&r) : -40.0 * rng_uniform(&r);
    check_ulps((fn_pair){"exp", rp_exp_fn, exp, expl}, x, N_ULP);
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
    static double x[N_ULP];
    rp_rng r;
    rng_seed(&r, 12, 0);
    /* uniforms in (0, 1), their negated logs (0, 37], and sums of exponentials [1, 10^4] */
    for (int i = 0; i < N_ULP; i++) {
        double u = rng_uniform_open(&r);
        x[i] = i % 3 == 0 ? u : i % 3 == 1 ? -log(u) : 1.0 + 1e4 * u;
    }
    check_ulps((fn_pair){"log", rp_log_fn, log, logl}, x, N_ULP);
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
