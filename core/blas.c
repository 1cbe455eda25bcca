#include "core/blas.h"

#include <blis.h>
#include <cpuid.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static int g_threads = 1;
/* [packed][threaded]: see rp_sgemm on the packed (no "sup") pair. */
static rntm_t g_rntm[2][2];
static int g_rntm_ready = 0;

/* BLIS picks its kernels (a "sub-configuration") from the CPU id, once, on its first call, unless
 * BLIS_ARCH_TYPE names one. BLIS 0.9 (Debian 12's) recognises AMD Zen 1–3 but not Zen 4 or later
 * (family 19h models 10h–1Fh and 60h–7Fh, family 1Ah): there it falls back to 'generic', the
 * reference kernels built for plain x86-64 (SSE, no FMA), which ran our products 1.3–5× slower than
 * the zen3 kernels and the 2048³ sgemm at a third of their speed (docs/results.md, "Profile").
 * So on an AMD CPU of family 19h or later with AVX2 and FMA, with BLIS older than 1.0 (which knows
 * Zen 4) and built with the zen3 configuration, we ask for zen3 — what BLIS itself chooses on a
 * Zen 3 — unless the user set BLIS_ARCH_TYPE. BLIS_ARCH_TYPE=generic's id (rp_blas_kernels says
 * which is in use) gives back the reference kernels and the exact numbers of earlier builds. */
static void choose_blis_kernels(void) {
#ifdef BLIS_CONFIG_ZEN3
    if (getenv("BLIS_ARCH_TYPE")) return;
    const char *version = bli_info_get_version_str();
    if (!version || version[0] != '0' || version[1] != '.') return;
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    /* "AuthenticAMD" in EBX, EDX, ECX */
    if (b != 0x68747541u || d != 0x69746e65u || c != 0x444d4163u) return;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    unsigned family = (a >> 8) & 0xf;
    if (family == 0xf) family += (a >> 20) & 0xff;
    if (family < 0x19 || !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
    char id[16];
    snprintf(id, sizeof id, "%d", (int)BLIS_ARCH_ZEN3);
    setenv("BLIS_ARCH_TYPE", id, 0);
#endif
}

static void rntm_setup(void) {
    choose_blis_kernels(); /* before BLIS's first call, which reads BLIS_ARCH_TYPE */
    for (int packed = 0; packed < 2; packed++)
        for (int threaded = 0; threaded < 2; threaded++) {
            rntm_t *r = &g_rntm[packed][threaded];
            bli_rntm_init(r);
            bli_rntm_set_num_threads(threaded ? g_threads : 1, r);
            if (packed) bli_rntm_disable_l3_sup(r);
        }
    g_rntm_ready = 1;
}

void rp_set_threads(int threads) {
    g_threads = threads > 0 ? threads : 1;
    omp_set_num_threads(g_threads);
    rntm_setup();
}

int rp_threads(void) { return g_threads; }

const char *rp_blas_kernels(void) {
    if (!g_rntm_ready) {
#pragma omp critical(rp_blas_init)
        if (!g_rntm_ready) rntm_setup();
    }
    return bli_arch_string(bli_arch_query_id());
}

void rp_sgemm(int m, int n, int k, float alpha,
              const float *a, int rsa, int csa,
              const float *b, int rsb, int csb,
              float beta, float *c, int rsc, int csc) {
    if (m <= 0 || n <= 0) return;
    if (!g_rntm_ready) {
#pragma omp critical(rp_blas_init)
        if (!g_rntm_ready) rntm_setup();
    }
    /* Inside our own parallel loops each worker runs BLIS alone: no nested oversubscription. */
    const int threaded = !omp_in_parallel();
    /* BLIS sends products with a small dimension to its "sup" kernels, which skip packing. With
     * the zen3/haswell kernels those ran our k = 16 products (FF1, the QKV and output
     * projections at d_model 16: thousands of rows × 16) 2.5–3× slower than the packed path,
     * while the k ≥ 48 products and the tiny per-window attention products ran 1.2–2.5× faster
     * with sup (docs/results.md, "Profile"). So a product with k ≤ 16 and at least 16384 outputs
     * takes the packed path. Kernel sets without sup kernels (generic) are unaffected. */
    const int packed = k <= 16 && (long)m * n >= 16384;
    rntm_t rntm = g_rntm[packed][threaded];
    /* BLIS's API takes non-const pointers; it does not write A or B. Cast once, here. */
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &alpha,
                 (float *)a, rsa, csa, (float *)b, rsb, csb, &beta, c, rsc, csc, NULL, &rntm);
}

void rp_matmul(float *c, const float *a, const float *b, int m, int n, int k,
               int ta, int tb, float alpha, float beta) {
    int rsa = ta ? 1 : k, csa = ta ? m : 1;
    int rsb = tb ? 1 : n, csb = tb ? k : 1;
    rp_sgemm(m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, n, 1);
}
