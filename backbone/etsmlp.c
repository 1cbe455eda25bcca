/* See rp_expf's note in core/activation.c: lets the sigmoid loops vectorise; no result changes. */
#pragma GCC optimize("no-trapping-math")

#include "backbone/etsmlp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backbone/stack.h"
#include "core/activation.h"
#include "core/arena.h"
#include "core/dist.h"

static inline float sigmoidf(float x) { return 1.0f / (1.0f + rp_expf(-x)); }

/* ---- complex exponential smoothing ---------------------------------------------------------------- */

static double softplus(double x) { return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* One channel's coefficients and the intermediate values their gradients need (double: these are
 * E scalars per call, and the clamp decision should not flicker with float rounding). */
typedef struct ces_terms {
    double sig, log_sig, alpha, rho, phi;
    int clamped;  /* ρ = RP_CES_MAX_RHO: no gradient to a, α through ρ */
    double mu_re, mu_im, kappa_re, kappa_im;
} ces_terms;

static ces_terms ces_channel(double a, double theta, double alpha_raw, double beta) {
    ces_terms k;
    k.sig = sigmoid(a);
    k.log_sig = -softplus(-a);
    k.alpha = softplus(alpha_raw);
    double log_rho = k.alpha * k.log_sig;
    const double log_max = log((double)RP_CES_MAX_RHO);
    k.clamped = log_rho > log_max;
    k.rho = exp(k.clamped ? log_max : log_rho);
    k.phi = k.alpha * theta;
    k.mu_re = k.rho * cos(k.phi);
    k.mu_im = k.rho * sin(k.phi);
    k.kappa_re = beta * (1.0 - k.mu_re);
    k.kappa_im = -beta * k.mu_im;
    return k;
}

int ces_declare(rp_ces *m, rp_params *P, const char *prefix, int dim, rp_error *err) {
    if (dim <= 0) return rp_fail(err, "%s: dim %d must be positive", prefix, dim);
    m->dim = dim;
    char name[RP_PARAM_NAME_MAX + 64];
    size_t *slots[5] = {&m->a, &m->theta, &m->alpha, &m->beta, &m->omega};
    const char *names[5] = {"a", "theta", "alpha", "beta", "omega"};
    for (int i = 0; i < 5; i++) {
        if (snprintf(name, sizeof name, "%s/%s", prefix, names[i]) >= (int)sizeof name)
            return rp_fail(err, "%s: parameter name too long", prefix);
        if ((*slots[i] = params_declare1(P, name, dim, err)) == (size_t)-1) return -1;
    }
    return 0;
}

void ces_init(const rp_ces *m, rp_params *P, rp_rng *rng) {
    const double pi = 3.14159265358979323846;
    for (int e = 0; e < m->dim; e++) {
        double r = 0.5 + 0.49 * rng_uniform(rng);
        P->value[m->a + e] = (float)log(r / (1.0 - r));
        P->value[m->theta + e] = (float)(0.25 * pi * rng_uniform(rng));
        P->value[m->alpha + e] = (float)log(exp(1.0) - 1.0);  /* softplus⁻¹(1) */
        P->value[m->beta + e] = 1.0f;
        P->value[m->omega + e] = 0.0f;
    }
}

void ces_coefficients(const rp_ces *m, const rp_params *P, float *coef) {
    const float *v = P->value;
    const int E = m->dim;
    for (int e = 0; e < E; e++) {
        ces_terms k = ces_channel(v[m->a + e], v[m->theta + e], v[m->alpha + e], v[m->beta + e]);
        coef[e] = (float)k.mu_re;
        coef[E + e] = (float)k.mu_im;
        coef[2 * E + e] = (float)k.kappa_re;
        coef[3 * E + e] = (float)k.kappa_im;
    }
}

/* The per-token loops over channels take restrict pointers, and real and imaginary parts live in
 * separate rows (not interleaved), so GCC vectorises them. */

/* s_t = μ s_{t−1} + κ x_t; c_t = Re(s_t) + ω x_t, for the E channels of one token. */
static void ces_step(float *restrict sr, float *restrict si, float *restrict out, const float *restrict pr,
                     const float *restrict pi, const float *restrict x, const float *restrict mr,
                     const float *restrict mi, const float *restrict kr, const float *restrict ki,
                     const float *restrict omega, int E) {
    for (int e = 0; e < E; e++) {
        float re = mr[e] * pr[e] - mi[e] * pi[e] + kr[e] * x[e];
        float im = mr[e] * pi[e] + mi[e] * pr[e] + ki[e] * x[e];
        sr[e] = re;
        si[e] = im;
        out[e] = re + omega[e] * x[e];
    }
}

void ces_forward(const rp_ces *m, const rp_params *P, float *out, float *state, float *coef,
                 const float *in, int in_stride, int batch, int n_tokens) {
    const int E = m->dim;
    const float *omega = P->value + m->omega;
    ces_coefficients(m, P, coef);
    const float *mr = coef, *mi = coef + E, *kr = coef + 2 * E, *ki = coef + 3 * E;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        for (int t = 0; t < n_tokens; t++) {
            size_t row = (size_t)b * n_tokens + t;
            float *s = state + row * 2 * E;
            if (t == 0) {
                /* s_{−1} = 0: s_0 = κ x_0 */
                const float *x = in + row * in_stride;
                for (int e = 0; e < E; e++) {
                    s[e] = kr[e] * x[e];
                    s[E + e] = ki[e] * x[e];
                    out[row * E + e] = s[e] + omega[e] * x[e];
                }
            } else {
                ces_step(s, s + E, out + row * E, s - 2 * E, s - E, in + row * in_stride, mr, mi, kr, ki,
                         omega, E);
            }
        }
    }
}

/* Per window: carry re/im, ∂L/∂μ re/im, ∂L/∂κ re/im, ∂L/∂ω and E zeros standing for s_{−1}. */
size_t ces_work_floats(const rp_ces *m, int batch) { return (size_t)batch * 8 * (size_t)m->dim; }

/* One token backwards, all channels. Complex adjoints G = ∂L/∂re + i ∂L/∂im: for w = μ s,
 * G_s = conj(μ) G_w and G_μ = conj(s) G_w; for w = κ x with x real, G_κ = x G_w and
 * ∂L/∂x = Re(conj(κ) G_w). On entry (cr, ci) = conj(μ) G_{s_{t+1}}, on exit conj(μ) G_{s_t}. */
static void ces_back_step(float *restrict cr, float *restrict ci, float *restrict gmr, float *restrict gmi,
                          float *restrict gkr, float *restrict gki, float *restrict gom, float *restrict dx,
                          const float *restrict dout, const float *restrict x, const float *restrict pr,
                          const float *restrict pi, const float *restrict mr, const float *restrict mi,
                          const float *restrict kr, const float *restrict ki, const float *restrict omega,
                          int E) {
    for (int e = 0; e < E; e++) {
        /* c_t = Re(s_t) + ω x_t: Re(s_t) takes dout, plus the carry from s_{t+1} */
        float gr = cr[e] + dout[e], gi = ci[e];
        gmr[e] += pr[e] * gr + pi[e] * gi;
        gmi[e] += pr[e] * gi - pi[e] * gr;
        gkr[e] += x[e] * gr;
        gki[e] += x[e] * gi;
        gom[e] += dout[e] * x[e];
        dx[e] += kr[e] * gr + ki[e] * gi + omega[e] * dout[e];
        cr[e] = mr[e] * gr + mi[e] * gi;
        ci[e] = mr[e] * gi - mi[e] * gr;
    }
}

void ces_backward(const rp_ces *m, rp_params *P, float *din, int din_stride, const float *dout,
                  const float *in, int in_stride, const float *state, const float *coef, int batch,
                  int n_tokens, float *work) {
    const int E = m->dim;
    const size_t per_window = 8 * (size_t)E;
    const float *omega = P->value + m->omega;
    const float *mr = coef, *mi = coef + E, *kr = coef + 2 * E, *ki = coef + 3 * E;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < batch; b++) {
        float *w = work + (size_t)b * per_window;
        float *cr = w, *ci = w + E, *gmr = w + 2 * E, *gmi = w + 3 * E, *gkr = w + 4 * E, *gki = w + 5 * E;
        float *gom = w + 6 * E, *zeros = w + 7 * E;
        memset(w, 0, per_window * sizeof *w);
        for (int t = n_tokens - 1; t >= 0; t--) {
            size_t row = (size_t)b * n_tokens + t;
            const float *sp = t > 0 ? state + (row - 1) * 2 * E : NULL;
            ces_back_step(cr, ci, gmr, gmi, gkr, gki, gom, din + row * din_stride, dout + row * E,
                          in + row * in_stride, sp ? sp : zeros, sp ? sp + E : zeros, mr, mi, kr, ki, omega, E);
        }
    }
    /* Sum the windows' shares in window order, then the chain rule to the raw parameters. */
    const float *v = P->value;
    float *g = P->grad;
    for (int e = 0; e < E; e++) {
        double gmu_re = 0, gmu_im = 0, gk_re = 0, gk_im = 0, gom = 0;
        for (int b = 0; b < batch; b++) {
            const float *w = work + (size_t)b * per_window;
            gmu_re += w[2 * E + e];
            gmu_im += w[3 * E + e];
            gk_re += w[4 * E + e];
            gk_im += w[5 * E + e];
            gom += w[6 * E + e];
        }
        double beta = v[m->beta + e], theta = v[m->theta + e];
        ces_terms k = ces_channel(v[m->a + e], theta, v[m->alpha + e], beta);
        /* κ = β (1 − μ) */
        double dbeta = (1.0 - k.mu_re) * gk_re - k.mu_im * gk_im;
        gmu_re -= beta * gk_re;
        gmu_im -= beta * gk_im;
        /* μ = ρ (cos φ + i sin φ) */
        double c = cos(k.phi), s = sin(k.phi);
        double drho = gmu_re * c + gmu_im * s;
        double dphi = k.rho * (gmu_im * c - gmu_re * s);
        /* ρ = σ(a)^α = exp(α log σ(a)) unless clamped; φ = α θ */
        double dalpha = dphi * theta, da = 0.0;
        if (!k.clamped) {
            double dlog_rho = drho * k.rho;
            da = dlog_rho * k.alpha * (1.0 - k.sig);
            dalpha += dlog_rho * k.log_sig;
        }
        g[m->a + e] += (float)da;
        g[m->theta + e] += (float)(dphi * k.alpha);
        g[m->alpha + e] += (float)(dalpha * sigmoid(v[m->alpha + e]));
        g[m->beta + e] += (float)dbeta;
        g[m->omega + e] += (float)gom;
    }
}

/* ---- the stack ----------------------------------------------------------------------------------- */

/* Where each activation of one block lives, in floats from the block's start (R = B·K rows). */
typedef struct layer_layout {
    size_t u;      /* norm(x)                                              (R, d) */
    size_t stats;  /* the norm's saved statistics */
    size_t pq;     /* projection [p q]                                     (R, E + d) */
    size_t state;  /* CES states s_t: per row E real parts, then E imaginary (R, 2, E) */
    size_t coef;   /* CES coefficients μ_re, μ_im, κ_re, κ_im              (4, E) */
    size_t c;      /* CES output                                           (R, E) */
    size_t hg;     /* GELU(c): input of the linear down                    (R, E) */
    size_t m;      /* linear down                                          (R, d) */
    size_t mask;   /* dropout mask of the branch                           (R, d) */
    size_t x;      /* x + dropout(m ⊙ σ(q)): the block's output            (R, d) */
    size_t total;
} layer_layout;

typedef struct arena_layout {
    rp_stack_frame frame;
    size_t final_stats, ces_work, gy, gx, du, dpq, dhg, dc, total;
} arena_layout;

static layer_layout layer_layout_of(const rp_etsmlp *e, int batch) {
    size_t R = (size_t)batch * e->n_tokens, d = (size_t)e->d_model, E = (size_t)e->hidden;
    layer_layout o;
    rp_layout l = {0};
    o.u = layout_take(&l, R * d);
    o.stats = layout_take(&l, norm_stat_floats(&e->layers[0].norm, (int)R));
    o.pq = layout_take(&l, R * (E + d));
    o.state = layout_take(&l, R * E * 2);
    o.coef = layout_take(&l, E * 4);
    o.c = layout_take(&l, R * E);
    o.hg = layout_take(&l, R * E);
    o.m = layout_take(&l, R * d);
    o.mask = layout_take(&l, R * d);
    o.x = layout_take(&l, R * d);
    o.total = l.total;
    return o;
}

static arena_layout arena_layout_of(const rp_etsmlp *e, int batch) {
    size_t R = (size_t)batch * e->n_tokens, d = (size_t)e->d_model, E = (size_t)e->hidden;
    arena_layout a;
    rp_layout l = {0};
    a.frame = stack_frame(&l, R * d, layer_layout_of(e, batch).total, e->n_layers);
    a.final_stats = layout_take(&l, norm_stat_floats(&e->norm_final, (int)R));
    a.ces_work = layout_take(&l, ces_work_floats(&e->layers[0].ces, batch));
    a.gy = layout_take(&l, R * d);
    a.gx = layout_take(&l, R * d);
    a.du = layout_take(&l, R * d);
    a.dpq = layout_take(&l, R * (E + d));
    a.dhg = layout_take(&l, R * E);
    a.dc = layout_take(&l, R * E);
    a.total = l.total;
    return a;
}

int etsmlp_declare(rp_etsmlp *e, rp_params *P, const char *prefix, int n_tokens, int d_model,
                   int n_layers, int expand, float dropout, rp_norm_kind norm, rp_error *err) {
    if (stack_check_args(prefix, n_tokens, d_model, "expand", expand, n_layers, RP_ETSMLP_MAX_LAYERS, dropout, norm,
                         err))
        return -1;
    *e = (rp_etsmlp){.n_tokens = n_tokens, .d_model = d_model, .n_layers = n_layers, .expand = expand,
                     .hidden = expand * d_model, .dropout = dropout, .norm = norm};
    const int d = d_model, E = e->hidden;
    char name[RP_PARAM_NAME_MAX + 64], bname[RP_PARAM_NAME_MAX + 64];
    for (int l = 0; l < n_layers; l++) {
        rp_etsmlp_layer *L = &e->layers[l];
        snprintf(name, sizeof name, "%s/layers/%d/norm", prefix, l);
        if (norm_declare(&L->norm, P, name, norm, d, err)) return -1;
        snprintf(name, sizeof name, "%s/layers/%d/in_proj/weight", prefix, l);
        snprintf(bname, sizeof bname, "%s/layers/%d/in_proj/bias", prefix, l);
        if (linear_declare(&L->in_proj, P, name, bname, d, E + d, err)) return -1;
        snprintf(name, sizeof name, "%s/layers/%d/ces", prefix, l);
        if (ces_declare(&L->ces, P, name, E, err)) return -1;
        snprintf(name, sizeof name, "%s/layers/%d/down/weight", prefix, l);
        snprintf(bname, sizeof bname, "%s/layers/%d/down/bias", prefix, l);
        if (linear_declare(&L->down, P, name, bname, E, d, err)) return -1;
    }
    snprintf(name, sizeof name, "%s/norm_final", prefix);
    if (norm_declare(&e->norm_final, P, name, norm, d, err)) return -1;
    return 0;
}

void etsmlp_init(const rp_etsmlp *e, rp_params *P, rp_rng *rng) {
    for (int l = 0; l < e->n_layers; l++) {
        const rp_etsmlp_layer *L = &e->layers[l];
        norm_init(&L->norm, P);
        linear_init(&L->in_proj, P, rng);
        ces_init(&L->ces, P, rng);
        linear_init(&L->down, P, rng);
    }
    norm_init(&e->norm_final, P);
}

size_t etsmlp_act_floats(const rp_etsmlp *e, int batch) { return arena_layout_of(e, batch).total; }

/* Rows below which the elementwise gate loops stay serial. */
#define ETSMLP_PAR_ROWS 2048

void etsmlp_forward(const rp_etsmlp *e, rp_params *P, float *out, const float *in, int batch, int training,
                    unsigned long long dropout_seed, float *act) {
    const int R = batch * e->n_tokens, d = e->d_model, E = e->hidden, w = E + d;
    const size_t Rd = (size_t)R * d, RE = (size_t)R * E;
    const float p = training ? e->dropout : 0.0f;
    /* In a sharded step (core/dist.h): batch norm's rows over all ranks, and the dropout index of
     * this shard's first element, so that the shard draws the masks one process would. */
    const long R_all = (long)dist_batch_rows(R, e->n_tokens);
    const size_t g0 = (size_t)dist_row0() * e->n_tokens * d;
    arena_layout A = arena_layout_of(e, batch);
    layer_layout o = layer_layout_of(e, batch);
    stack_header_write(act, training, batch);
    memcpy(act + A.frame.input, in, Rd * sizeof *act);

    const float *x = act + A.frame.input;
    for (int l = 0; l < e->n_layers; l++) {
        const rp_etsmlp_layer *L = &e->layers[l];
        float *base = act + stack_layer_at(&A.frame, l);
        float *u = base + o.u, *pq = base + o.pq, *c = base + o.c, *hg = base + o.hg, *m = base + o.m;
        float *xo = base + o.x;

        norm_forward(&L->norm, P, u, base + o.stats, x, R, R_all, training);
        linear_forward(pq, u, P->value + L->in_proj.weight, P->value + L->in_proj.bias, R, d, w);
        ces_forward(&L->ces, P, c, base + o.state, base + o.coef, pq, w, batch, e->n_tokens);
        gelu_forward(hg, c, RE);
        linear_forward(m, hg, P->value + L->down.weight, P->value + L->down.bias, R, E, d);
#pragma omp parallel for schedule(static) if (R >= ETSMLP_PAR_ROWS)
        for (int i = 0; i < R; i++) {
            const float *q = pq + (size_t)i * w + E, *mi = m + (size_t)i * d;
            float *xi = xo + (size_t)i * d;
            for (int j = 0; j < d; j++) xi[j] = mi[j] * sigmoidf(q[j]);
        }
        if (p > 0.0f)
            dropout_forward(xo, base + o.mask, xo, p, dropout_seed_derive(dropout_seed, (unsigned long long)l),
                            g0, Rd);
        for (size_t i = 0; i < Rd; i++) xo[i] += x[i];
        x = xo;
    }
    norm_forward(&e->norm_final, P, out, act + A.final_stats, x, R, R_all, training);
}

void etsmlp_backward(const rp_etsmlp *e, rp_params *P, float *din, const float *dout, int batch, float *act) {
    const int R = batch * e->n_tokens, d = e->d_model, E = e->hidden, w = E + d;
    const size_t Rd = (size_t)R * d, RE = (size_t)R * E;
    arena_layout A = arena_layout_of(e, batch);
    layer_layout o = layer_layout_of(e, batch);
    const int training = stack_header_training(act);
    const float p = training ? e->dropout : 0.0f;
    const long R_all = (long)dist_batch_rows(R, e->n_tokens);
    float *gy = act + A.gy, *gx = act + A.gx, *du = act + A.du, *dpq = act + A.dpq;
    float *dhg = act + A.dhg, *dc = act + A.dc;

    /* The final norm: gy = ∂L/∂x_L. */
    const float *xl = e->n_layers > 0 ? act + stack_layer_at(&A.frame, e->n_layers - 1) + o.x
                                      : act + A.frame.input;
    memset(gy, 0, Rd * sizeof *gy);
    norm_backward(&e->norm_final, P, gy, dout, xl, act + A.final_stats, R, R_all, training);

    for (int l = e->n_layers - 1; l >= 0; l--) {
        const rp_etsmlp_layer *L = &e->layers[l];
        const float *base = act + stack_layer_at(&A.frame, l);
        const float *x = l == 0 ? act + A.frame.input : base - A.frame.layer_size + o.x;
        const float *pq = base + o.pq, *m = base + o.m;

        /* x' = x + dropout(m ⊙ σ(q)): the skip gives gx = gy; the branch gets gy ⊙ mask */
        memcpy(gx, gy, Rd * sizeof *gx);
        if (p > 0.0f) {
            const float *mk = base + o.mask;
            for (size_t i = 0; i < Rd; i++) gy[i] *= mk[i];
        }
        /* dpq = [∂L/∂p (from CES, below) | ∂L/∂q]; du reused as ∂L/∂m */
        memset(dpq, 0, (size_t)R * w * sizeof *dpq);
#pragma omp parallel for schedule(static) if (R >= ETSMLP_PAR_ROWS)
        for (int i = 0; i < R; i++) {
            const float *q = pq + (size_t)i * w + E, *mi = m + (size_t)i * d, *gi = gy + (size_t)i * d;
            float *dq = dpq + (size_t)i * w + E, *dm = du + (size_t)i * d;
            for (int j = 0; j < d; j++) {
                float sg = sigmoidf(q[j]);
                dm[j] = gi[j] * sg;
                dq[j] = gi[j] * mi[j] * sg * (1.0f - sg);
            }
        }
        memset(dhg, 0, RE * sizeof *dhg);
        linear_backward(dhg, P->grad + L->down.weight, P->grad + L->down.bias, du, base + o.hg,
                        P->value + L->down.weight, R, E, d);
        memset(dc, 0, RE * sizeof *dc);
        gelu_backward(dc, dhg, base + o.c, RE);
        ces_backward(&L->ces, P, dpq, w, dc, pq, w, base + o.state, base + o.coef, batch, e->n_tokens,
                     act + A.ces_work);
        memset(du, 0, Rd * sizeof *du);
        linear_backward(du, P->grad + L->in_proj.weight, P->grad + L->in_proj.bias, dpq, base + o.u,
                        P->value + L->in_proj.weight, R, d, w);
        /* u = norm(x): gx += ∂L/∂x through the norm */
        norm_backward(&L->norm, P, gx, du, x, base + o.stats, R, R_all, training);
        float *tmp = gy; gy = gx; gx = tmp;
    }
    for (size_t i = 0; i < Rd; i++) din[i] += gy[i];
}

double etsmlp_flops(const rp_etsmlp *e, int batch) {
    double R = (double)batch * e->n_tokens, d = e->d_model, E = e->hidden;
    /* projections (d → E + d, E → d) and ~10 flops per CES step */
    double per_layer = 2.0 * R * d * (E + d) + 2.0 * R * E * d + 10.0 * R * E;
    return per_layer * e->n_layers;
}
