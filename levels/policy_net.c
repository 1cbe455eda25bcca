#include "levels/policy_net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/activation.h"
#include "core/blas.h"
#include "core/linear.h"
#include "levels/segmentation.h"

/* ---- layout ------------------------------------------------------------------------------------ */

static int in_channels(const rp_policy_net *net, int l) { return l ? net->channels : net->n_features; }
static int last_channels(const rp_policy_net *net) {
    return net->layers ? net->channels : net->n_features;
}

/* Offsets (in floats) of each saved activation and scratch buffer inside act. */
typedef struct layout {
    size_t col[RP_POLICY_MAX_LAYERS], pre[RP_POLICY_MAX_LAYERS], h[RP_POLICY_MAX_LAYERS];
    size_t in;  /* layers = 0: a copy of the features, the output layer's input */
    size_t z, dh, dpre, dcol, dz, total;
} layout;

static layout make_layout(const rp_policy_net *net, int B) {
    layout o;
    size_t M = (size_t)B * net->n_units, C = (size_t)net->channels, k = (size_t)net->kernel;
    size_t at = 0;
    for (int l = 0; l < net->layers; l++) {
        o.col[l] = at, at += M * k * (size_t)in_channels(net, l);
        o.pre[l] = at, at += M * C;
        o.h[l] = at, at += M * C;
    }
    o.in = at;
    if (net->layers == 0) at += M * (size_t)net->n_features;
    o.z = at, at += M * 2;
    o.dh = at, at += M * C;
    o.dpre = at, at += M * C;
    o.dcol = at, at += M * k * C;
    o.dz = at, at += M * 2;
    o.total = at;
    return o;
}

size_t policy_net_act_floats(const rp_policy_net *net, int B) { return make_layout(net, B).total; }

/* ---- declare / init ------------------------------------------------------------------------- */

int policy_net_declare(rp_policy_net *net, rp_params *P, const char *prefix, int n_units,
                       int n_features, int channels, int kernel, int layers, rp_error *err) {
    if (n_units < 2)
        return rp_fail(err, "%s: n_units=%d: a policy needs at least 2 units (1 gap)", prefix, n_units);
    if (n_features < 1 || channels < 1)
        return rp_fail(err, "%s: n_features=%d, channels=%d: must be >= 1", prefix, n_features,
                       channels);
    if (kernel < 1 || kernel % 2 == 0)
        return rp_fail(err, "%s: kernel=%d: must be odd and >= 1", prefix, kernel);
    if (layers < 0 || layers > RP_POLICY_MAX_LAYERS)
        return rp_fail(err, "%s: layers=%d: must be in [0, %d]", prefix, layers, RP_POLICY_MAX_LAYERS);
    *net = (rp_policy_net){.n_units = n_units, .n_features = n_features, .channels = channels, .kernel = kernel,
                           .layers = layers};
    char name[RP_PARAM_NAME_MAX];
    for (int l = 0; l < layers; l++) {
        int shape[3] = {channels, kernel, in_channels(net, l)};
        snprintf(name, sizeof name, "%s/conv%d/w", prefix, l);
        if ((net->conv_w[l] = params_declare(P, name, 3, shape, err)) == (size_t)-1) return -1;
        snprintf(name, sizeof name, "%s/conv%d/b", prefix, l);
        if ((net->conv_b[l] = params_declare1(P, name, channels, err)) == (size_t)-1) return -1;
    }
    snprintf(name, sizeof name, "%s/out/w", prefix);
    if ((net->out_w = params_declare2(P, name, 2, last_channels(net), err)) == (size_t)-1) return -1;
    snprintf(name, sizeof name, "%s/out/b", prefix);
    if ((net->out_b = params_declare1(P, name, 1, err)) == (size_t)-1) return -1;
    int prior_shape[1] = {n_units - 1};
    snprintf(name, sizeof name, "%s/prior", prefix);
    if ((net->prior = params_declare_buffer(P, name, 1, prior_shape, err)) == (size_t)-1) return -1;
    return 0;
}

void policy_net_init(const rp_policy_net *net, rp_params *P, rp_rng *rng) {
    for (int l = 0; l < net->layers; l++) {
        int fan_in = net->kernel * in_channels(net, l);
        double bound = 1.0 / sqrt((double)fan_in);
        float *w = P->value + net->conv_w[l], *b = P->value + net->conv_b[l];
        for (int i = 0; i < net->channels * fan_in; i++)
            w[i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
        for (int i = 0; i < net->channels; i++) b[i] = (float)((2.0 * rng_uniform(rng) - 1.0) * bound);
    }
    memset(P->value + net->out_w, 0, sizeof(float) * 2 * (size_t)last_channels(net));
    P->value[net->out_b] = 0.0f;
}

int policy_net_set_prior(const rp_policy_net *net, rp_params *P, double rate, double prior_scale,
                         rp_error *err) {
    return policy_prior(P->value + net->prior, net->n_units, rate, prior_scale, err);
}

/* ---- pieces ------------------------------------------------------------------------------------ */

/* Exact GELU (erf form, PyTorch's nn.GELU default) and its derivative Φ(x) + x φ(x). */
/* GELU and its derivative: core/activation.h's rp_gelu / rp_gelu_grad (vectorisable, no libm). */

/* col (B*n, k*Cin): row (b, t) holds h at units t-r..t+r of window b, zeros past either end. */
static void im2col(float *col, const float *h, int B, int n, int cin, int k) {
    int r = k / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < n; t++) {
            float *row = col + ((size_t)b * n + t) * (size_t)(k * cin);
            for (int o = 0; o < k; o++) {
                int u = t + o - r;
                if (u < 0 || u >= n)
                    memset(row + o * cin, 0, sizeof(float) * (size_t)cin);
                else
                    memcpy(row + o * cin, h + ((size_t)b * n + u) * cin, sizeof(float) * (size_t)cin);
            }
        }
}

/* The adjoint of im2col: dh (B*n, Cin) += scatter of dcol. */
static void col2im(float *dh, const float *dcol, int B, int n, int cin, int k) {
    int r = k / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < n; t++) {
            const float *row = dcol + ((size_t)b * n + t) * (size_t)(k * cin);
            for (int o = 0; o < k; o++) {
                int u = t + o - r;
                if (u < 0 || u >= n) continue;
                float *d = dh + ((size_t)b * n + u) * cin;
                for (int c = 0; c < cin; c++) d[c] += row[o * cin + c];
            }
        }
}

/* ---- forward / backward -------------------------------------------------------------------------- */

void policy_net_forward(const rp_policy_net *net, const rp_params *P, float *logits,
                        const float *feat, int B, float *act) {
    layout o = make_layout(net, B);
    int n = net->n_units, C = net->channels, k = net->kernel, M = B * n;
    const float *h = feat;
    for (int l = 0; l < net->layers; l++) {
        int cin = in_channels(net, l);
        float *col = act + o.col[l], *pre = act + o.pre[l], *out = act + o.h[l];
        const float *w = P->value + net->conv_w[l], *bias = P->value + net->conv_b[l];
        im2col(col, h, B, n, cin, k);
        rp_matmul(pre, col, w, M, C, k * cin, 0, 1, 1.0f, 0.0f);        // (M, C)
        for (int i = 0; i < M; i++)
            for (int c = 0; c < C; c++) pre[(size_t)i * C + c] += bias[c];
        gelu_forward(out, pre, (size_t)M * C); /* flat and vectorised, threaded over blocks */
        h = out;
    }
    if (net->layers == 0) {
        memcpy(act + o.in, feat, sizeof(float) * (size_t)M * net->n_features);
        h = act + o.in;
    }
    float *z = act + o.z;
    rp_matmul(z, h, P->value + net->out_w, M, 2, last_channels(net), 0, 1, 1.0f, 0.0f); // (M, 2)
    float bias = P->value[net->out_b];
    const float *prior = P->value + net->prior;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < n - 1; j++) {
            const float *zb = z + (size_t)b * n * 2;
            /* Score first, then the prior: at init the score is exactly 0 and logits == prior. */
            logits[(size_t)b * (n - 1) + j] = (zb[2 * j] + zb[2 * (j + 1) + 1] + bias) + prior[j];
        }
}

void policy_net_backward(const rp_policy_net *net, rp_params *P, const float *dlogits, int B,
                         float *act) {
    layout o = make_layout(net, B);
    int n = net->n_units, C = net->channels, k = net->kernel, M = B * n, cl = last_channels(net);
    float *dz = act + o.dz;
    memset(dz, 0, sizeof(float) * (size_t)M * 2);
    float dbias = 0.0f;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < n - 1; j++) {
            float g = dlogits[(size_t)b * (n - 1) + j];
            float *zb = dz + (size_t)b * n * 2;
            zb[2 * j] += g;
            zb[2 * (j + 1) + 1] += g;
            dbias += g;
        }
    P->grad[net->out_b] += dbias;
    const float *h_last = net->layers ? act + o.h[net->layers - 1] : act + o.in;
    rp_matmul(P->grad + net->out_w, dz, h_last, 2, cl, M, 1, 0, 1.0f, 1.0f);  // (2, C)
    if (net->layers == 0) return;
    float *dh = act + o.dh, *dpre = act + o.dpre, *dcol = act + o.dcol;
    rp_matmul(dh, dz, P->value + net->out_w, M, cl, 2, 0, 0, 1.0f, 0.0f);      // (M, C)
    for (int l = net->layers - 1; l >= 0; l--) {
        int cin = in_channels(net, l);
        const float *pre = act + o.pre[l], *col = act + o.col[l];
        float *db = P->grad + net->conv_b[l];
        memset(dpre, 0, sizeof(float) * (size_t)M * C);
        gelu_backward(dpre, dh, pre, (size_t)M * C); /* accumulates: dpre starts at zero */
        rp_add_column_sums(db, dpre, M, C);
        rp_matmul(P->grad + net->conv_w[l], dpre, col, C, k * cin, M, 1, 0, 1.0f, 1.0f); // (C, k*cin)
        if (l == 0) break; /* the features take no gradient */
        rp_matmul(dcol, dpre, P->value + net->conv_w[l], M, k * cin, C, 0, 0, 1.0f, 0.0f); // (M, k*cin)
        memset(dh, 0, sizeof(float) * (size_t)M * cin);
        col2im(dh, dcol, B, n, cin, k);
    }
}

double policy_net_flops(const rp_policy_net *net, int B, int backward) {
    /* the products of the two functions above, one term each */
    const double M = (double)B * net->n_units, C = net->channels, k = net->kernel, cl = last_channels(net);
    double f = 2.0 * M * cl * 2.0; /* z = h · out_wᵀ; backward: out_w's gradient */
    for (int l = 0; l < net->layers; l++) f += 2.0 * M * k * in_channels(net, l) * C; /* conv; its weight gradient */
    if (!backward) return f;
    if (net->layers > 0) f += 2.0 * M * 2.0 * cl;                                      /* dh = dz · out_w */
    for (int l = 1; l < net->layers; l++) f += 2.0 * M * k * in_channels(net, l) * C;  /* dcol, above layer 0 */
    return f;
}

/* ---- prior ------------------------------------------------------------------------------------- */

int policy_prior(float *prior, int n_units, double rate, double prior_scale, rp_error *err) {
    if (n_units < 2) return rp_fail(err, "policy prior: n_units=%d: need at least 2", n_units);
    if (!(rate > 0.0)) return rp_fail(err, "policy prior: rate %g: must be > 0", rate);
    int K = seg_count(n_units, rate);
    int *starts = rp_malloc(sizeof(int) * (size_t)K, err);
    if (!starts) return -1;
    seg_uniform(n_units, rate, starts);
    /* Walk the gaps with the nearest uniform starts on either side (starts[1..K-1]). */
    int next = 1;
    for (int j = 0; j < n_units - 1; j++) {
        int q = j + 1;
        while (next < K && starts[next] < q) next++;
        int d = n_units; /* K = 1: no interior start, every gap is equally far */
        if (next < K) d = starts[next] - q;
        if (next - 1 >= 1 && q - starts[next - 1] < d) d = q - starts[next - 1];
        prior[j] = K > 1 ? (float)(-prior_scale * d) : 0.0f;
    }
    free(starts);
    return 0;
}
