/* Central finite-difference gradient checks, shared by the test suites (header only).
 *
 *   static double loss(void *ctx) { ... run the forward pass, return L ... }
 *   gc_result r = gradcheck(loss, ctx, x, grad, n, GC_OPTIONS(1e-3, 1e-2, 1e-4), "linear dW");
 *   cr_assert(r.ok, "%s", r.msg);
 *
 * x (float, n elements) is perturbed in place and restored; grad holds the analytic ∂L/∂x from the
 * backward under test. For each checked index the numeric derivative is the central difference
 *   (L(x + h) − L(x − h)) / (x₊ − x₋),
 * with x₊, x₋ the float values actually stored (x ± h rounded), so rounding of the step itself
 * adds no error, and L returned in double. Pass: |a − n| ≤ atol + rtol · max(|a|, |n|) for every
 * checked index; the result names the worst one (largest ratio of error to its allowance).
 * atol_scale (optional) adds atol_scale · max_i |grad_i| to atol, so one setting fits gradients of
 * any magnitude: noise in the loss scales with the outputs, and so do the gradients.
 *
 * Use a random linear functional of the output as the loss (L = Σ rᵢ outᵢ, gc_dot) so that every
 * output element matters and no gradient is zero by symmetry.
 *
 * Choosing tolerances for a float32 forward: the loss carries rounding noise ε·|L| with
 * ε ≈ 1e-7·√(outputs); the central difference adds that noise divided by 2h and a truncation error
 * O(h² · f'''). With h ≈ 1e-3 and O(1) values both stay near 1e-4..1e-3, hence rtol ≈ 1e-2 and an
 * atol a little above the noise. A dropped term in a backward is typically an O(1) relative error. */
#ifndef RP_TESTS_GRADCHECK_H
#define RP_TESTS_GRADCHECK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/params.h"

typedef double (*gc_loss_fn)(void *ctx);

typedef struct gc_options {
    double h;             /* step */
    double rtol, atol;    /* per-element tolerance: atol + rtol · max(|analytic|, |numeric|) */
    size_t max_checks;    /* 0 = check every index; else this many indices, spread pseudo-randomly */
    uint64_t seed;        /* chooses the sampled indices */
    double atol_scale;    /* extra absolute allowance: atol_scale · max_i |grad_i| (0 = none) */
} gc_options;

#define GC_OPTIONS(h_, rtol_, atol_) ((gc_options){.h = (h_), .rtol = (rtol_), .atol = (atol_), .max_checks = 0, .seed = 1})
#define GC_OPTIONS_SAMPLED(h_, rtol_, atol_, max_) \
    ((gc_options){.h = (h_), .rtol = (rtol_), .atol = (atol_), .max_checks = (max_), .seed = 1})

typedef struct gc_result {
    int ok;
    size_t checked;
    size_t worst_index;
    double worst_ratio;        /* error / allowance at the worst index (> 1 fails) */
    double analytic, numeric;  /* at the worst index */
    double max_abs_numeric;    /* largest |numeric| seen: guards against an all-zero check */
    double max_abs_grad;       /* largest |analytic| over the whole tensor */
    char msg[512];
} gc_result;

static inline uint64_t gc_splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Deterministic test data: uniform in [lo, hi). */
static inline void gc_fill_uniform(float *x, size_t n, uint64_t seed, double lo, double hi) {
    uint64_t s = seed * 0x2545F4914F6CDD1Dull + 17;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * ((double)(gc_splitmix(&s) >> 11) * 0x1.0p-53));
}

/* L = Σ r·y in double. */
static inline double gc_dot(const float *r, const float *y, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)r[i] * (double)y[i];
    return s;
}

static inline gc_result gradcheck(gc_loss_fn loss, void *ctx, float *x, const float *grad, size_t n,
                                  gc_options opt, const char *what) {
    gc_result res = {0};
    res.ok = 1;
    size_t count = (opt.max_checks == 0 || opt.max_checks >= n) ? n : opt.max_checks;
    uint64_t s = opt.seed ? opt.seed : 1;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)grad[i]) > res.max_abs_grad) res.max_abs_grad = fabs((double)grad[i]);
    const double atol = opt.atol + opt.atol_scale * res.max_abs_grad;
    for (size_t k = 0; k < count; k++) {
        size_t i;
        if (count == n) i = k;
        else if (k == 0) i = 0;
        else if (k == 1) i = n - 1;
        else i = (size_t)(gc_splitmix(&s) % n);
        float x0 = x[i];
        float xp = (float)((double)x0 + opt.h), xm = (float)((double)x0 - opt.h);
        x[i] = xp;
        double lp = loss(ctx);
        x[i] = xm;
        double lm = loss(ctx);
        x[i] = x0;
        double num = (lp - lm) / ((double)xp - (double)xm);
        double ana = grad[i];
        double allow = atol + opt.rtol * fmax(fabs(ana), fabs(num));
        double ratio = fabs(ana - num) / allow;
        if (fabs(num) > res.max_abs_numeric) res.max_abs_numeric = fabs(num);
        if (k == 0 || ratio > res.worst_ratio) {
            res.worst_ratio = ratio;
            res.worst_index = i;
            res.analytic = ana;
            res.numeric = num;
        }
        res.checked++;
    }
    res.ok = res.worst_ratio <= 1.0 && res.max_abs_numeric > 0.0;
    snprintf(res.msg, sizeof res.msg,
             "%s: %s: worst index %zu of %zu (%zu checked): analytic %.8g, numeric %.8g, "
             "error/allowance %.3g (h %g, rtol %g, atol %g; max |grad| %.3g)%s",
             what, res.ok ? "ok" : "FAILED", res.worst_index, n, res.checked, res.analytic, res.numeric,
             res.worst_ratio, opt.h, opt.rtol, atol, res.max_abs_grad,
             res.max_abs_numeric > 0.0 ? "" : "; every numeric derivative is zero");
#ifdef GC_VERBOSE
    fprintf(stderr, "%s\n", res.msg);  /* compile a suite with -DGC_VERBOSE to see every margin */
#endif
    return res;
}

/* gradcheck of each named tensor of P in turn: the first failure (a name P does not declare
 * fails too), else the last tensor's result. */
static inline gc_result gradcheck_tensors(gc_loss_fn loss, void *ctx, rp_params *P, const char *const *names,
                                          int n_names, gc_options opt) {
    gc_result res = {0};
    for (int k = 0; k < n_names; k++) {
        const rp_tensor_info *t = params_find(P, names[k]);
        if (!t) {
            res.ok = 0;
            snprintf(res.msg, sizeof res.msg, "%s not declared", names[k]);
            return res;
        }
        res = gradcheck(loss, ctx, P->value + t->offset, P->grad + t->offset, t->count, opt, names[k]);
        if (!res.ok) return res;
    }
    return res;
}

/* A Criterion assertion on a gc_result. */
#define CHECK(res) cr_assert((res).ok, "%s", (res).msg)

#endif
