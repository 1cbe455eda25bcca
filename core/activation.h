/* Elementwise activations and their vectorisable math: GELU (exact erf form), dropout, row softmax.
 *
 * Conventions (llm.c): forward(out, [saved...], in, ..., n); backward(din, dout, saved..., n)
 * ACCUMULATES into din (+=); the caller zeroes gradients. Elementwise forwards may run in place
 * (out == in). Large calls split into blocks over OpenMP threads; every element's result depends
 * only on its own inputs (and, for dropout, on (seed, index)), so outputs are bit-identical for
 * any thread count.
 *
 * Why our own expf/erff: glibc's scalar expf/erff would stop GCC from vectorising the loops (no
 * -ffast-math here), and at ~10 ns per call they would cost more than every GEMM of the backbone.
 * rp_expf is the Cephes single-precision scheme (relative error < 3e-7 on the clamped range);
 * rp_erff is the rational approximation used by Eigen, XLA and TVM for float erf (absolute error
 * < 5e-7 on all of R, a few ulps of 1). Both are checked against double precision in
 * tests/core/test_layers_grad.c. */
#ifndef RP_ACTIVATION_H
#define RP_ACTIVATION_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- vectorisable scalar math (inline so loops that call them vectorise) ---------------------- */

/* a·b + c, fused where the target has FMA. Spelled out because GCC does not contract a*b + c in
 * ISO C mode (-std=c11 implies -ffp-contract=off): without it every polynomial step costs two
 * instructions and two roundings. */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define RP_FMAF(a, b, c) fmaf((a), (b), (c))
#else
#define RP_FMAF(a, b, c) ((a) * (b) + (c))
#endif

/* e^x for x already in [-87.3, 88.3]: callers that know one side of the range skip its clamp
 * (each clamp is a compare and a blend per vector in the hot loops). */
static inline float rp_expf_in_range(float x) {
    /* n = round(x / ln 2) by the 1.5·2^23 trick: exact for |n| < 2^22, no libm call. */
    float fn = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    /* r = x - n ln2 in two parts (Cody–Waite), so r is exact to float precision. */
    float r = RP_FMAF(fn, -0.693359375f, x);
    r = RP_FMAF(fn, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = RP_FMAF(p, r, 1.3981999507e-3f);
    p = RP_FMAF(p, r, 8.3334519073e-3f);
    p = RP_FMAF(p, r, 4.1665795894e-2f);
    p = RP_FMAF(p, r, 1.6666665459e-1f);
    p = RP_FMAF(p, r, 5.0000001201e-1f);
    p = RP_FMAF(p * r, r, r) + 1.0f;
    int32_t bits = ((int32_t)fn + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* e^x for x in [-87.3, 88.3] (clamped outside: tiny/huge but finite). */
static inline float rp_expf(float x) {
    x = x > -87.3f ? x : -87.3f;
    x = x < 88.3f ? x : 88.3f;
    return rp_expf_in_range(x);
}

/* The rational approximation of erf on [-4, 4] (erf(±4) rounds to ±1 in float): x·p(x²)/q(x²).
 * No clamping: callers clamp their argument to [-4, 4] first. */
static inline float rp_erf_rational(float x) {
    float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = RP_FMAF(p, x2, 2.77068142495902e-08f);
    p = RP_FMAF(p, x2, -2.10102402082508e-06f);
    p = RP_FMAF(p, x2, -5.69250639462346e-05f);
    p = RP_FMAF(p, x2, -7.34990630326855e-04f);
    p = RP_FMAF(p, x2, -2.95459980854025e-03f);
    p = RP_FMAF(p, x2, -1.60960333262415e-02f);
    float q = -1.45660718464996e-05f;
    q = RP_FMAF(q, x2, -2.13374055278905e-04f);
    q = RP_FMAF(q, x2, -1.68282697438203e-03f);
    q = RP_FMAF(q, x2, -7.37332916720468e-03f);
    q = RP_FMAF(q, x2, -1.42647390514189e-02f);
    return x * p / q;
}

/* erf(x): odd rational approximation on [-4, 4] (erf(±4) rounds to ±1 in float). */
static inline float rp_erff(float x) {
    x = x > -4.0f ? x : -4.0f;
    x = x < 4.0f ? x : 4.0f;
    float y = rp_erf_rational(x);
    y = y < 1.0f ? y : 1.0f;
    return y > -1.0f ? y : -1.0f;
}

/* ---- GELU: out = x Φ(x) = 0.5 x (1 + erf(x / √2)), PyTorch's default (approximate='none') --- */

static inline float rp_gelu(float x) { return 0.5f * x * (1.0f + rp_erff(x * 0.70710678118654752f)); }
/* dGELU/dx = Φ(x) + x φ(x) */
static inline float rp_gelu_grad(float x) {
    float cdf = 0.5f * (1.0f + rp_erff(x * 0.70710678118654752f));
    return RP_FMAF(x * 0.39894228040143268f, rp_expf(-0.5f * x * x), cdf);
}

void gelu_forward(float *out, const float *in, size_t n);
/* din += dout · (Φ(x) + x φ(x)), with x the forward input. */
void gelu_backward(float *din, const float *dout, const float *in, size_t n);

/* ---- dropout (inverted: kept elements are scaled by 1/(1-p), as in PyTorch) ------------------- */

/* The counter-based random bits behind every dropout mask: a pure function of (seed, index).
 * Two rounds of a 32-bit integer hash (lowbias32) keyed by splitmix64(seed), so nearby seeds give
 * unrelated masks and the mask never depends on how the loop was split across threads. */
typedef struct rp_dropout_key {
    uint32_t k0, k1;
} rp_dropout_key;
rp_dropout_key dropout_key(unsigned long long seed);
static inline uint32_t rp_hash32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}
/* The index enters as its low 32 bits and a mix of its high 32 bits, so loops keep a 32-bit
 * counter (vectorisable with AVX2) and hoist the high part. */
static inline uint32_t dropout_bits_split(rp_dropout_key key, uint32_t index_lo, uint32_t high_mix) {
    return rp_hash32(rp_hash32(index_lo ^ key.k0) ^ key.k1 ^ high_mix);
}
static inline uint32_t dropout_high_mix(uint64_t index) { return (uint32_t)(index >> 32) * 0x9E3779B9U; }
static inline uint32_t dropout_bits(rp_dropout_key key, uint64_t index) {
    return dropout_bits_split(key, (uint32_t)index, dropout_high_mix(index));
}
/* A seed for one dropout site (layer, place) derived from a step's seed: splitmix64 mixing. */
unsigned long long dropout_seed_derive(unsigned long long seed, unsigned long long site);

/* mask[i] = 0 with probability p, else 1/(1-p); out[i] = in[i] * mask[i]. Element i of the mask is
 * decided by dropout_bits(key(seed), index0 + i), so a tensor may be produced in pieces.
 * p == 0: out = in and mask is not touched (may be NULL). In place allowed. p must be in [0, 1). */
void dropout_forward(float *out, float *mask, const float *in, float p, unsigned long long seed,
                     size_t index0, size_t n);
/* din += dout * mask (p == 0: din += dout, mask unused). */
void dropout_backward(float *din, const float *dout, const float *mask, float p, size_t n);

/* ---- fused GELU → dropout (the feed-forward hidden layer) ------------------------------------- */

/* out = dropout(GELU(in)) and gate = mask · GELU'(in), so that backward is din += dout ⊙ gate:
 * erf is evaluated once per element for both passes and neither `in` nor the mask has to be kept.
 * The mask is the one dropout_forward would draw for the same (p, seed, index0 + i). gate = NULL
 * (a scoring pass, p must be 0): out alone, the same bits, without GELU' or its store. */
void gelu_dropout_forward(float *out, float *gate, const float *in, float p, unsigned long long seed,
                          size_t index0, size_t n);
/* din += dout ⊙ gate */
void gelu_dropout_backward(float *din, const float *dout, const float *gate, size_t n);

/* ---- row softmax ------------------------------------------------------------------------------ */

/* out[r, :] = softmax(scale * in[r, :]) over n columns (max-subtracted), scale > 0. In place
 * allowed. Serial: callers parallelise over independent blocks (attention heads). */
void softmax_rows_forward(float *out, const float *in, float scale, int rows, int n);
/* din[r, j] += scale * y[r, j] (dout[r, j] - Σ_k dout[r, k] y[r, k]), y the forward output. */
void softmax_rows_backward(float *din, const float *dout, const float *y, float scale, int rows, int n);
/* The same gradient written over g (g holds dout on entry): g ← scale · y ⊙ (g − Σ g ⊙ y). */
void softmax_rows_backward_inplace(float *g, const float *y, float scale, int rows, int n);

/* Σ x, max x (n ≥ 1; 0 for n ≤ 0), Σ x·y: vectorised reductions (OpenMP SIMD reduction clauses),
 * deterministic for a given build. */
float rp_sumf(const float *x, int n);
float rp_maxf(const float *x, int n);
float rp_dotf(const float *x, const float *y, int n);

#endif
