#include "core/blas.h"

#include <blis.h>
#include <omp.h>

static int g_threads = 1;
static rntm_t g_rntm_top;
static rntm_t g_rntm_serial;
static int g_rntm_ready = 0;

static void rntm_setup(void) {
    bli_rntm_init(&g_rntm_top);
    bli_rntm_set_num_threads(g_threads, &g_rntm_top);
    bli_rntm_init(&g_rntm_serial);
    bli_rntm_set_num_threads(1, &g_rntm_serial);
    g_rntm_ready = 1;
}

void rp_set_threads(int threads) {
    g_threads = threads > 0 ? threads : 1;
    omp_set_num_threads(g_threads);
    rntm_setup();
}

int rp_threads(void) { return g_threads; }

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
    rntm_t rntm = omp_in_parallel() ? g_rntm_serial : g_rntm_top;
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
