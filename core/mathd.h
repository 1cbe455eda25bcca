/* exp and log in double precision as branch-free inline functions, so that a loop over an array
 * of them vectorises: glibc's exp and log are opaque calls the compiler cannot vectorise, and the
 * GRPG sampler and policy gradient make ~10^6 of them per training step (docs/results.md, "The
 * learned step's policy side").
 *
 * The algorithms are fdlibm's (Sun Microsystems, e_exp.c and e_log.c: argument reduction by ln 2,
 * then a minimax polynomial in a rational form), written without the special-case branches the
 * callers' domains make unnecessary. Both stay within 1 ulp of the exact result, as glibc's do;
 * a result can differ from glibc's in the last bit (tests/core/test_mathd.c measures both). */
#ifndef RP_MATHD_H
#define RP_MATHD_H

#include <stdint.h>
#include <string.h>

static inline uint64_t rp_bits_of(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline double rp_double_of(uint64_t u) {
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* e^x for x <= 709.78 (the largest finite result). Below −708, where the result is under
 * 3.3·10^−308 (the last normal numbers, then subnormals), it returns 0: the callers add these
 * terms to sums of at least 1 or round them to float, where both are 0. NaN in gives NaN out. */
static inline double rp_exp(double x) {
    const double invln2 = 1.44269504088896338700e+00, ln2_hi = 6.93147180369123816490e-01,
                 ln2_lo = 1.90821492927058770002e-10;
    const double P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03,
                 P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06,
                 P5 = 4.13813679705723846039e-08;
    /* k = round(x / ln 2), read off the low mantissa bits of x / ln 2 + 1.5·2^52 */
    const double shifter = 6755399441055744.0;
    double big = x * invln2 + shifter;
    double k = big - shifter;
    double hi = x - k * ln2_hi, lo = k * ln2_lo, r = hi - lo;
    double rr = r * r;
    double c = r - rr * (P1 + rr * (P2 + rr * (P3 + rr * (P4 + rr * P5))));
    double y = 1.0 + (r * c / (2.0 - c) - lo + hi);
    /* y·2^k by adding k to y's exponent: the low 12 bits of big's integer part are k's. */
    uint64_t scaled = rp_bits_of(y) + (rp_bits_of(big) << 52);
    double out = rp_double_of(scaled);
    return x < -708.0 ? 0.0 : out; /* from −708.04 down, y·2^k leaves the normal range */
}

/* log x for positive, normal, finite x (no zero, subnormal, negative, infinite or NaN input: the
 * callers' arguments are uniforms in (0, 1) with 53 random bits, their negated logs, and sums of
 * exponentials that include a 1). */
static inline double rp_log(double x) {
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01,
                 Lg4 = 2.222219843214978396e-01, Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                 Lg7 = 1.479819860511658591e-01;
    /* x = 2^k · m with m in [√2/2, √2): shift the high word so that the exponent field rounds. */
    uint64_t ix = rp_bits_of(x);
    uint64_t hx = (ix >> 32) + (0x3ff00000u - 0x3fe6a09eu);
    double k = (double)((int64_t)(hx >> 20) - 0x3ff);
    hx = (hx & 0x000fffffu) + 0x3fe6a09eu;
    double m = rp_double_of((hx << 32) | (ix & 0xffffffffu));
    double f = m - 1.0, hfsq = 0.5 * f * f, s = f / (2.0 + f), z = s * s, w = z * z;
    double t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
    double t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
    return s * (hfsq + (t1 + t2)) + k * ln2_lo - hfsq + f + k * ln2_hi;
}

#endif
