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
#pragma omp parallel for schedule(static) if (n >= RP_PAR_MIN && !omp_in_parallel())
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
#pragma omp parallel for schedule(static) if (n >= RP_PAR_MIN && !omp_in_parallel())
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

/* Drop when the top 24 bits of the hash, read as a uniform in [0, 1), fall below p. The loop runs
 * on a 32-bit counter; a run is split where the low 32 bits of the index would wrap. */
static void dropout_forward_block(float *out, float *restrict mask, const float *in,
                                  rp_dropout_key key, uint32_t threshold, float keep_scale,
                                  uint64_t index0, size_t n) {
    while (n > 0) {
        uint32_t lo = (uint32_t)index0, high = dropout_high_mix(index0);
        size_t run = (size_t)((1ull << 32) - lo);
        if (run > n) run = n;
        for (uint32_t i = 0; i < (uint32_t)run; i++) {
            uint32_t u = dropout_bits_split(key, lo + i, high) >> 8;
            float m = u < threshold ? 0.0f : keep_scale;
            mask[i] = m;
            out[i] = in[i] * m;
        }
        out += run; mask += run; in += run; index0 += run; n -= run;
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
#pragma omp parallel for schedule(static) if (n >= RP_PAR_MIN && !omp_in_parallel())
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

/* ---- fused GELU → dropout ----------------------------------------------------------------------- */

/* The hot loop of the backbone's feed-forward layer. rp_erff and rp_expf with only the clamps
 * this use needs: erf's input clamp (its output stays within 1 ulp of ±1 there, harmless inside
 * 1 + erf), and exp's lower clamp (its argument −x²/2 is never positive). Every clamp costs a
 * compare and a blend per vector: this saves four of each. */
static inline float gelu_cdf(float x) {
    float z = x * 0.70710678118654752f;
    z = z > -4.0f ? z : -4.0f;
    z = z < 4.0f ? z : 4.0f;
    return RP_FMAF(0.5f, rp_erf_rational(z), 0.5f);
}

static inline float gelu_pdf(float x) {
    float t = -0.5f * x * x;
    return 0.39894228040143268f * rp_expf_in_range(t > -87.3f ? t : -87.3f);
}

static void gelu_dropout_block(float *restrict out, float *restrict gate, const float *restrict in,
                               rp_dropout_key key, int32_t threshold, float keep_scale, uint64_t index0,
                               size_t n) {
    while (n > 0) {
        uint32_t lo = (uint32_t)index0, high = dropout_high_mix(index0);
        size_t run = (size_t)((1ull << 32) - lo);
        if (run > n) run = n;
        for (uint32_t i = 0; i < (uint32_t)run; i++) {
            float x = in[i];
            float cdf = gelu_cdf(x), pdf = gelu_pdf(x);
            /* top 24 bits: a non-negative int32, so a signed compare (one instruction) will do */
            int32_t u = (int32_t)(dropout_bits_split(key, lo + i, high) >> 8);
            float m = u < threshold ? 0.0f : keep_scale;
            out[i] = x * cdf * m;
            gate[i] = RP_FMAF(x, pdf, cdf) * m;
        }
        out += run; gate += run; in += run; index0 += run; n -= run;
    }
}

/* p = 0 (evaluation): what gelu_dropout_block computes with every element kept at scale 1, the
 * same bits, without drawing the dropout bits it would not use. */
static void gelu_gate_block(float *restrict out, float *restrict gate, const float *restrict in, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = in[i];
        float cdf = gelu_cdf(x), pdf = gelu_pdf(x);
        out[i] = x * cdf;
        gate[i] = RP_FMAF(x, pdf, cdf);
    }
}

/* A scoring pass (no backward follows): gelu_gate_block's out alone. */
static void gelu_block(float *restrict out, const float *restrict in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] * gelu_cdf(in[i]);
}

void gelu_dropout_forward(float *out, float *gate, const float *in, float p, unsigned long long seed,
                          size_t index0, size_t n) {
    rp_dropout_key key = dropout_key(seed);
    int32_t threshold = p > 0.0f ? (int32_t)((double)p * 16777216.0) : 0;
    float keep_scale = p > 0.0f ? (float)(1.0 / (1.0 - (double)p)) : 1.0f;
    long nb = (long)((n + RP_BLOCK - 1) / RP_BLOCK);
#pragma omp parallel for schedule(static) if (n >= RP_PAR_MIN && !omp_in_parallel())
    for (long b = 0; b < nb; b++) {
        size_t lo = (size_t)b * RP_BLOCK, len = n - lo < RP_BLOCK ? n - lo : RP_BLOCK;
        if (p > 0.0f)
            gelu_dropout_block(out + lo, gate + lo, in + lo, key, threshold, keep_scale, (uint64_t)(index0 + lo), len);
        else if (gate)
            gelu_gate_block(out + lo, gate + lo, in + lo, len);
        else
            gelu_block(out + lo, in + lo, len);
    }
}

void gelu_dropout_backward(float *din, const float *dout, const float *gate, size_t n) {
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * gate[i];
}

/* ---- row softmax -------------------------------------------------------------------------------- */

/* Reductions vectorised through OpenMP SIMD reduction clauses (GCC keeps float sums in order
 * otherwise): the lanes' partial results combine in a fixed order, so results are deterministic
 * for a given build. */
float rp_sumf(const float *x, int n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += x[i];
    return s;
}

float rp_dotf(const float *x, const float *y, int n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

float rp_maxf(const float *x, int n) {
    if (n <= 0) return 0.0f;
    float m = x[0];
#pragma omp simd reduction(max : m)
    for (int i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

void softmax_rows_forward(float *out, const float *in, float scale, int rows, int n) {
    /* The exp runs over the whole block as one flat, fully vectorised loop rather than row by row
     * with scalar tails (rows of K = 42 leave 2 of every 42 scalar), and row-wise work is kept to
     * a sum and a scaling. Softmax is unchanged by any per-row shift, so when the whole block spans
     * less than 80 (after scaling) one shift by the block maximum serves every row: no exp then
     * falls below e^-80 ≈ 2e-35, a normal float, and every row sum is at least that. Otherwise
     * each row is shifted by its own maximum. In place is safe: the choice is made before any
     * write, and each pass reads only what it or an earlier pass wrote at the same index.
     * (A version keeping each row in registers through GCC vector extensions measured 2× slower.) */
    if (rows <= 0 || n <= 0) return;
    const size_t total = (size_t)rows * n;
    float mx = in[0], mn = in[0];
#pragma omp simd reduction(max : mx) reduction(min : mn)
    for (size_t t = 0; t < total; t++) {
        mx = in[t] > mx ? in[t] : mx;
        mn = in[t] < mn ? in[t] : mn;
    }
    if ((mx - mn) * scale <= 80.0f) {
        const float ms = mx * scale;
        for (size_t t = 0; t < total; t++) out[t] = rp_expf(in[t] * scale - ms);
    } else {
        for (int r = 0; r < rows; r++) {
            const float *x = in + (size_t)r * n;
            float *y = out + (size_t)r * n;
            /* scale > 0, so max(scale·x) = scale·max(x) */
            float ms = rp_maxf(x, n) * scale;
            for (int j = 0; j < n; j++) y[j] = x[j] * scale - ms;
        }
        for (size_t t = 0; t < total; t++) out[t] = rp_expf(out[t]);
    }
    for (int r = 0; r < rows; r++) {
        float *y = out + (size_t)r * n;
        float inv = 1.0f / rp_sumf(y, n);
        for (int j = 0; j < n; j++) y[j] *= inv;
    }
}

void softmax_rows_backward_inplace(float *g, const float *y, float scale, int rows, int n) {
    for (int r = 0; r < rows; r++) {
        float *gr = g + (size_t)r * n;
        const float *yr = y + (size_t)r * n;
        float dot = rp_dotf(gr, yr, n);
        for (int j = 0; j < n; j++) gr[j] = scale * yr[j] * (gr[j] - dot);
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
