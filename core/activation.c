/* GCC treats float comparisons as possibly trapping unless told otherwise, and then refuses to
 * if-convert the clamps inside rp_expf/rp_erff, so no loop calling them vectorises (4-8x slower).
 * reinpatch never enables floating-point traps, so this changes no result. */
#pragma GCC optimize("no-trapping-math")

#include "core/activation.h"

#include <omp.h>

/* Elementwise loops run in blocks of RP_BLOCK elements spread over the threads; below RP_PAR_MIN
 * elements a parallel region costs more than it saves. */
#define RP_BLOCK 4096
#define RP_PAR_MIN 32768

/* ---- GELU --------------------------------------------------------------------------------------- */

static void gelu_forward_block(float *restrict out, const float *restrict in, size_t n) {
    for (size_t i = 0; i < n; i++) {
        out[i] = rp_gelu(in[i]);
    }
}

/* in and out may alias (in place), so the block function above is only called on separate
 * buffers; the in-place case goes through a copy of each input element first. */
static void gelu_forward_block_inplace(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        x[i] = rp_gelu(x[i]);
    }
}

void gelu_forward(float *out, const float *in, size_t n) {
    long nb = (long)((n + RP_BLOCK - 1) / RP_BLOCK);
#pragma omp parallel for schedule(static) if (n >= RP_PAR_MIN)
    for (long b = 0; b < nb; b++) {
        size_t lo = (size_t)b * RP_BLOCK, len = n - lo < RP_BLOCK ? n - lo : RP_BLOCK;
        if (out == in) gelu_forward_block_inplace(out + lo, len);
        else gelu_forward_block(out + lo, in + lo, len);
    }
}

static void gelu_backward_block(float *restrict din, const float *restrict dout,
                                const float *restrict in, size_t n) {
    for (size_t i = 0; i < n; i++) {
        din[i] += dout[i] * rp_gelu_grad(in[i]);
    }
}

void gelu_backward(float *din, const float *dout, const float *in, size_t n) {
    long nb = (long)((n + RP_BLOCK - 1) / RP_BLOCK);
#pragma omp parallel for schedule(static) if (n >= RP_PAR_MIN)
    for (long b = 0; b < nb; b++) {
        size_t lo = (size_t)b * RP_BLOCK, len = n - lo < RP_BLOCK ? n - lo : RP_BLOCK;
        gelu_backward_block(din + lo, dout + lo, in + lo, len);
    }
}

/* ---- dropout ------------------------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

rp_dropout_key dropout_key(unsigned long long seed) {
    uint64_t k = splitmix64((uint64_t)seed);
    rp_dropout_key key = {(uint32_t)k, (uint32_t)(k >> 32)};
    return key;
}

unsigned long long dropout_seed_derive(unsigned long long seed, unsigned long long site) {
    return splitmix64(splitmix64((uint64_t)seed) ^ (0xD1B54A32D192ED03ull * ((uint64_t)site + 1)));
}

/* Drop when the top 24 bits of the hash, read as a uniform in [0, 1), fall below p. */
static void dropout_forward_block(float *out, float *restrict mask, const float *in,
                                  rp_dropout_key key, uint32_t threshold, float keep_scale,
                                  uint64_t index0, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = dropout_bits(key, index0 + i) >> 8;
        float m = u < threshold ? 0.0f : keep_scale;
        mask[i] = m;
        out[i] = in[i] * m;
    }
}

void dropout_forward(float *out, float *mask, const float *in, float p, unsigned long long seed,
                     size_t index0, size_t n) {
    if (p <= 0.0f) {
        if (out != in) memcpy(out, in, n * sizeof *out);
        return;
    }
    rp_dropout_key key = dropout_key(seed);
    uint32_t threshold = (uint32_t)((double)p * 16777216.0);
    float keep_scale = (float)(1.0 / (1.0 - (double)p));
    long nb = (long)((n + RP_BLOCK - 1) / RP_BLOCK);
#pragma omp parallel for schedule(static) if (n >= RP_PAR_MIN)
    for (long b = 0; b < nb; b++) {
        size_t lo = (size_t)b * RP_BLOCK, len = n - lo < RP_BLOCK ? n - lo : RP_BLOCK;
        dropout_forward_block(out + lo, mask + lo, in + lo, key, threshold, keep_scale,
                              (uint64_t)(index0 + lo), len);
    }
}

void dropout_backward(float *din, const float *dout, const float *mask, float p, size_t n) {
    if (p <= 0.0f) {
        for (size_t i = 0; i < n; i++) din[i] += dout[i];
        return;
    }
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * mask[i];
}

/* ---- row softmax -------------------------------------------------------------------------------- */

float rp_sumf(const float *x, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += x[i];
    return s;
}

float rp_dotf(const float *x, const float *y, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k] * y[i + k];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

void softmax_rows_forward(float *out, const float *in, float scale, int rows, int n) {
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * n;
        float *y = out + (size_t)r * n;
        float m = x[0];
        for (int j = 1; j < n; j++) m = x[j] > m ? x[j] : m;
        /* scale > 0, so max(scale·x) = scale·max(x). */
        float ms = m * scale;
        for (int j = 0; j < n; j++) y[j] = rp_expf(x[j] * scale - ms);
        float inv = 1.0f / rp_sumf(y, n);
        for (int j = 0; j < n; j++) y[j] *= inv;
    }
}

void softmax_rows_backward(float *din, const float *dout, const float *y, float scale, int rows, int n) {
    for (int r = 0; r < rows; r++) {
        const float *g = dout + (size_t)r * n, *yr = y + (size_t)r * n;
        float *d = din + (size_t)r * n;
        float dot = rp_dotf(g, yr, n);
        for (int j = 0; j < n; j++) d[j] += scale * yr[j] * (g[j] - dot);
    }
}
