/* core/blas: products against a double-precision reference on the paths rp_sgemm picks between
 * (packed for k <= 16 with many outputs, BLIS's default otherwise; threaded outside a parallel
 * region, single-threaded inside), and the user's BLIS_ARCH_TYPE taking precedence over the kernel
 * set core/blas.c would choose. Criterion runs each test in its own process, so each starts with
 * BLIS uninitialised. */
#include <blis.h>
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"

static float value(unsigned i, unsigned salt) {
    unsigned h = (i + 1) * 2654435761u ^ salt * 40503u;
    return (float)((h >> 8) % 2001) / 1000.0f - 1.0f;
}

/* C = A·B for row-major A (ta: stored transposed) and B (tb: stored transposed), checked against
 * a double sum with a bound on float rounding: |error| <= k · 2^-22 · Σ|a·b| per element. */
static void check_product(int m, int n, int k, int ta, int tb, int inside_parallel) {
    float *a = malloc((size_t)m * k * sizeof *a), *b = malloc((size_t)k * n * sizeof *b);
    float *c = malloc((size_t)m * n * sizeof *c);
    for (int i = 0; i < m * k; i++) a[i] = value((unsigned)i, 1);
    for (int i = 0; i < k * n; i++) b[i] = value((unsigned)i, 2);
    if (inside_parallel) {
        /* each thread its own rows: the single-threaded path inside our parallel regions */
#pragma omp parallel num_threads(2)
        {
            int t = omp_get_thread_num(), r0 = m * t / 2, r1 = m * (t + 1) / 2;
            int rsa = ta ? 1 : k, csa = ta ? m : 1, rsb = tb ? 1 : n, csb = tb ? k : 1;
            rp_sgemm(r1 - r0, n, k, 1.0f, a + (size_t)r0 * rsa, rsa, csa, b, rsb, csb, 0.0f,
                     c + (size_t)r0 * n, n, 1);
        }
    } else {
        rp_matmul(c, a, b, m, n, k, ta, tb, 1.0f, 0.0f);
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int p = 0; p < k; p++) {
                double x = ta ? a[(size_t)p * m + i] : a[(size_t)i * k + p];
                double y = tb ? b[(size_t)j * k + p] : b[(size_t)p * n + j];
                s += x * y;
                mag += fabs(x * y);
            }
            double err = fabs((double)c[(size_t)i * n + j] - s);
            cr_assert_leq(err, k * ldexp(1.0, -22) * mag + 1e-30, "%dx%dx%d (ta %d tb %d, parallel %d): C[%d,%d] = %g, "
                          "reference %g", m, n, k, ta, tb, inside_parallel, i, j, c[(size_t)i * n + j], s);
        }
    free(a); free(b); free(c);
}

Test(blas, products_match_reference_on_every_path) {
    rp_set_threads(2);
    for (int inside = 0; inside < 2; inside++) {
        check_product(600, 128, 16, 0, 1, inside);  /* k <= 16, 76,800 outputs: packed path */
        check_product(48, 700, 16, 0, 1, inside);   /* the QKV projection's shape */
        check_product(600, 16, 128, 0, 1, inside);  /* k > 16: BLIS's default (sup) path */
        check_product(42, 84, 8, 1, 0, inside);     /* small: default path */
        check_product(128, 16, 600, 1, 0, inside);  /* weight gradient: long k */
    }
}

Test(blas, user_blis_arch_type_wins) {
    char id[16];
    snprintf(id, sizeof id, "%d", (int)BLIS_ARCH_GENERIC);
    cr_assert_eq(setenv("BLIS_ARCH_TYPE", id, 1), 0);
    rp_set_threads(1);
    cr_assert_str_eq(rp_blas_kernels(), "generic");
    check_product(300, 64, 16, 0, 1, 0);
}

Test(blas, kernel_set_is_named) {
    const char *k = rp_blas_kernels();
    cr_assert(k && k[0], "rp_blas_kernels gave an empty name");
}
