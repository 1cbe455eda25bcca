#include "core/blas.h"

#include <blis.h>
#include <cpuid.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static int g_threads = 1;
/* [pack_b][threaded]: see rp_sgemm on the pair that packs B in BLIS's "sup" path. */
static rntm_t g_rntm[2][2];
static int g_rntm_ready = 0;
/* BLIS's gemm micro-kernel for float and its context, fetched once by rntm_setup. */
typedef void (*sgemm_ukr_fn)(dim_t m, dim_t n, dim_t k, float *alpha, float *a, float *b, float *beta,
                             float *c, inc_t rs_c, inc_t cs_c, auxinfo_t *data, cntx_t *cntx);
static sgemm_ukr_fn g_ukr;
static cntx_t *g_cntx;
static int g_mr, g_nr;

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
    for (int pack_b = 0; pack_b < 2; pack_b++)
        for (int threaded = 0; threaded < 2; threaded++) {
            rntm_t *r = &g_rntm[pack_b][threaded];
            bli_rntm_init(r);
            bli_rntm_set_num_threads(threaded ? g_threads : 1, r);
            if (pack_b) bli_rntm_set_pack_b(1, r);
        }
    bli_init();
    g_cntx = bli_gks_query_cntx();
    g_ukr = (sgemm_ukr_fn)bli_cntx_get_l3_vir_ukr_dt(BLIS_FLOAT, BLIS_GEMM_UKR, g_cntx);
    g_mr = (int)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MR, g_cntx);
    g_nr = (int)bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_NR, g_cntx);
    g_rntm_ready = 1;
}

void rp_set_threads(int threads) {
    g_threads = threads > 0 ? threads : 1;
    omp_set_num_threads(g_threads);
    rntm_setup();
}

int rp_threads(void) { return g_threads; }

static void ensure_setup(void) {
    if (!g_rntm_ready) {
#pragma omp critical(rp_blas_init)
        if (!g_rntm_ready) rntm_setup();
    }
}

const char *rp_blas_kernels(void) {
    ensure_setup(); /* it initialises BLIS: querying the id of an uninitialised BLIS aborts */
    return bli_arch_string(bli_arch_query_id());
}

void rp_sgemm(int m, int n, int k, float alpha,
              const float *a, int rsa, int csa,
              const float *b, int rsb, int csb,
              float beta, float *c, int rsc, int csc) {
    if (m <= 0 || n <= 0) return;
    ensure_setup();
    /* Inside our own parallel loops each worker runs BLIS alone: no nested oversubscription. */
    const int threaded = !omp_in_parallel();
    /* BLIS sends products with a small dimension (all of ours but the bench's reference sgemm) to
     * its "sup" kernels, which by default read A and B where they lie. Asked to pack B first, the
     * zen3 sup kernels ran every product of the model's shapes with more than 32 rows within 2 % of
     * that or faster: up to 3.8× on the k = 16 projections of the ETTh1 model and the policy's
     * convolutions, 1.2–1.3× on most of the d_model 128 ones. With 16 rows and a long k (weight
     * gradients) packing B costs more than it saves, and the packed (non-sup) path was slower than
     * one or the other on every shape (docs/results.md, "Attention on BLIS's micro-kernel, and B
     * packed in the sup path"). Kernel sets without sup kernels (generic) ignore the flag. */
    const int pack_b = m > 32;
    rntm_t rntm = g_rntm[pack_b][threaded];
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

int rp_ukr_mr(void) {
    ensure_setup();
    return g_mr;
}

int rp_ukr_nr(void) {
    ensure_setup();
    return g_nr;
}

void rp_gemm_packed(int m, int n, int k, float alpha, const float *ap, long a_ps, const float *bp,
                    long b_ps, float beta, float *c, long rsc, long csc) {
    if (m <= 0 || n <= 0) return;
    ensure_setup();
    const int mr = g_mr, nr = g_nr;
    auxinfo_t aux = {0};
    bli_auxinfo_set_ps_a(a_ps, &aux);
    bli_auxinfo_set_ps_b(b_ps, &aux);
    /* BLIS's loop order: column panels of B outside, row panels of A inside (B's panel stays in
     * cache while the A panels stream); next_a/next_b are the kernel's prefetch hints. */
    for (int j0 = 0, q = 0; j0 < n; j0 += nr, q++) {
        const int nb = n - j0 < nr ? n - j0 : nr;
        float *b = (float *)bp + (size_t)q * b_ps;
        for (int i0 = 0, r = 0; i0 < m; i0 += mr, r++) {
            const int mb = m - i0 < mr ? m - i0 : mr;
            float *a = (float *)ap + (size_t)r * a_ps;
            bli_auxinfo_set_next_a(i0 + mr < m ? a + a_ps : (float *)ap, &aux);
            bli_auxinfo_set_next_b(i0 + mr < m ? b : b + b_ps, &aux);
            g_ukr(mb, nb, k, &alpha, a, b, &beta, c + (size_t)i0 * rsc + (size_t)j0 * csc, rsc, csc, &aux,
                  g_cntx);
        }
    }
}

size_t rp_pack_a_floats(int m, int k) {
    const int mr = rp_ukr_mr();
    return (size_t)((m + mr - 1) / mr) * mr * k;
}

size_t rp_pack_b_floats(int k, int n) {
    const int nr = rp_ukr_nr();
    return (size_t)((n + nr - 1) / nr) * nr * k;
}

/* Both packed layouts are panels of `width` rows of a matrix, p-major inside a panel: A's panels
 * are MR rows of A, B's are NR rows of Bᵀ. The tile width is a compile-time constant where it is
 * the common one (zen3/haswell: 6 × 16), so the inner loops unroll; any other width takes the
 * same code with the width a variable. Rows past m in the last panel are zero. */
static inline __attribute__((always_inline)) void pack_panels(int m, int k, const float *a, long rs, long cs,
                                                              float *ap, const int width) {
    for (int i0 = 0; i0 < m; i0 += width, ap += (size_t)width * k) {
        const int mb = m - i0 < width ? m - i0 : width;
        const float *src = a + (size_t)i0 * rs;
        if (mb == width && rs == 1) {
            /* the panel's rows are adjacent: each of its k columns is one contiguous copy (2× faster
             * than the strided loop for Qᵀ's panels, 42 × 128 at NR = 16) */
            for (int p = 0; p < k; p++)
                for (int i = 0; i < width; i++) ap[(size_t)p * width + i] = src[(size_t)p * cs + i];
        } else if (mb == width) {
            for (int p = 0; p < k; p++)
                for (int i = 0; i < width; i++) ap[(size_t)p * width + i] = src[(size_t)i * rs + (size_t)p * cs];
        } else {
            for (int p = 0; p < k; p++)
                for (int i = 0; i < width; i++)
                    ap[(size_t)p * width + i] = i < mb ? src[(size_t)i * rs + (size_t)p * cs] : 0.0f;
        }
    }
}

void rp_pack_a(int m, int k, const float *a, long rsa, long csa, float *ap) {
    const int mr = rp_ukr_mr();
    if (mr == 6) pack_panels(m, k, a, rsa, csa, ap, 6);
    else pack_panels(m, k, a, rsa, csa, ap, mr);
}

void rp_pack_b(int k, int n, const float *b, long rsb, long csb, float *bp) {
    const int nr = rp_ukr_nr();
    if (nr == 16) pack_panels(n, k, b, csb, rsb, bp, 16);
    else pack_panels(n, k, b, csb, rsb, bp, nr);
}
