/* core/blas: products against a double-precision reference on the paths rp_sgemm picks between
 * (BLIS's sup path with B packed above 32 rows, without packing otherwise; threaded outside a
 * parallel region, single-threaded inside), rp_gemm_packed on BLIS's micro-kernel, and the user's
 * BLIS_ARCH_TYPE taking precedence over the kernel set core/blas.c would choose. Criterion runs
 * each test in its own process, so each starts with BLIS uninitialised. */
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
        check_product(600, 128, 16, 0, 1, inside);  /* FF1's shape: B packed */
        check_product(48, 700, 16, 0, 1, inside);   /* the QKV projection's shape */
        check_product(600, 16, 128, 0, 1, inside);  /* FF2's shape */
        check_product(16, 84, 8, 1, 0, inside);     /* 16 rows: B read in place */
        check_product(128, 16, 600, 1, 0, inside);  /* weight gradient: long k */
        check_product(16, 128, 600, 1, 0, inside);  /* the same with 16 rows */
        check_product(700, 256, 256, 0, 1, inside);   /* the d_model 128 layers' size */
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

/* rp_gemm_packed on operands packed by rp_pack_a/b, against a double reference: every edge of the
 * micro-kernel's tile (m, n below, at and above MR, NR), alpha and beta, row- and column-stored C,
 * beta = 0 ignoring NaN in C, a head-style slice (the first k rows of deeper panels, entered at
 * an offset), and operands stored either way round (the packers copy adjacent panel rows as one
 * run). Run by two threads at once, each on its own buffers: the path holds no lock. */
/* 64-byte aligned (the micro-kernel's B panels), the size a multiple of it as C11 requires. */
static float *aligned_floats(size_t n) { return aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64); }

static void check_packed(int m, int n, int k, float alpha, float beta, int col_major_c, int slice, int transposed) {
    const int mr = rp_ukr_mr(), nr = rp_ukr_nr();
    const int kk = slice ? k + 5 : k, off = slice ? 3 : 0;  /* operands with kk rows; use rows off .. off+k */
    float *a = malloc((size_t)m * kk * sizeof *a), *b = malloc((size_t)kk * n * sizeof *b);
    for (int i = 0; i < m * kk; i++) a[i] = value((unsigned)i, 3);
    for (int i = 0; i < kk * n; i++) b[i] = value((unsigned)i, 4);
    float *ap = aligned_floats(rp_pack_a_floats(m, kk)), *bp = aligned_floats(rp_pack_b_floats(kk, n));
    /* a: row-major m × kk, or column-major; b: column-major kk × n (stored as n × kk), or row-major */
    const long rsa = transposed ? 1 : kk, csa = transposed ? m : 1, rsb = transposed ? n : 1, csb = transposed ? 1 : kk;
    rp_pack_a(m, kk, a, rsa, csa, ap);
    rp_pack_b(kk, n, b, rsb, csb, bp);
    const long rsc = col_major_c ? 1 : n + 2, csc = col_major_c ? m + 3 : 1;
    const size_t csize = col_major_c ? (size_t)(m + 3) * n : (size_t)m * (n + 2);
    float *c = malloc(csize * sizeof *c), *c0 = malloc(csize * sizeof *c0);
    for (size_t i = 0; i < csize; i++) c0[i] = beta == 0.0f ? NAN : value((unsigned)i, 5);
    memcpy(c, c0, csize * sizeof *c);
    rp_gemm_packed(m, n, k, alpha, ap + (size_t)off * mr, (long)kk * mr, bp + (size_t)off * nr, (long)kk * nr,
                   beta, c, rsc, csc);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int p = off; p < off + k; p++) {
                double x = a[(size_t)i * rsa + (size_t)p * csa], y = b[(size_t)p * rsb + (size_t)j * csb];
                s += x * y;
                mag += fabs(x * y);
            }
            const float old = beta == 0.0f ? 0.0f : c0[(size_t)i * rsc + (size_t)j * csc];  /* NaN: not read */
            double want = alpha * s + beta * (double)old;
            double err = fabs((double)c[(size_t)i * rsc + (size_t)j * csc] - want);
            cr_assert_leq(err, (k + 2) * ldexp(1.0, -22) * (fabs(alpha) * mag + fabs(beta * old)) + 1e-30,
                          "packed %dx%dx%d (alpha %g beta %g col %d slice %d transposed %d): C[%d,%d] = %g, reference %g",
                          m, n, k, alpha, beta, col_major_c, slice, transposed, i, j, c[(size_t)i * rsc + (size_t)j * csc],
                          want);
        }
    /* nothing outside the m × n block is written */
    for (size_t e = 0; e < csize; e++) {
        const size_t ld = (size_t)(col_major_c ? csc : rsc);
        const size_t i = col_major_c ? e % ld : e / ld, j = col_major_c ? e / ld : e % ld;
        if ((int)i >= m || (int)j >= n) {
            int same = isnan(c0[e]) ? isnan(c[e]) : c[e] == c0[e];
            cr_assert(same, "packed %dx%dx%d wrote outside C at %zu", m, n, k, e);
        }
    }
    free(a); free(b); free(ap); free(bp); free(c); free(c0);
}

Test(blas, packed_products_match_reference) {
    rp_set_threads(2);
    const int mr = rp_ukr_mr(), nr = rp_ukr_nr();
    const int ms[] = {1, mr - 1, mr, mr + 1, 3 * mr + 2}, ns[] = {1, nr - 1, nr, nr + 3, 2 * nr + 5};
#pragma omp parallel num_threads(2)
    for (int x = 0; x < 5; x++)
        for (int y = 0; y < 5; y++) {
            if (ms[x] < 1 || ns[y] < 1) continue;
            int t = omp_get_thread_num();
            check_packed(ms[x], ns[y], t ? 4 : 42, 1.0f, 0.0f, 0, 0, 0);
            check_packed(ms[x], ns[y], 7, 0.5f, -1.5f, t, 0, 0);
            check_packed(ms[x], ns[y], 4, -2.0f, 0.0f, 1 - t, 1, 0);
            check_packed(ms[x], ns[y], t ? 42 : 8, 1.0f, 0.5f, t, 1 - t, 1);
        }
}
