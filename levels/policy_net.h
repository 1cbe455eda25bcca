/* The boundary policy of one level: a small 1-D convolutional net over the n units of a window
 * that scores each of the n-1 gaps between them (docs/method.md §3).
 *
 *   h_0 = features                                             (n, F)
 *   h_l = GELU(conv_l(h_{l-1})),  l = 1..layers                (n, channels), kernel odd,
 *         'same' zero padding, im2col + one GEMM per layer over the whole batch
 *   z   = h_last · W_out^T                                     (n, 2)
 *   score_j = z[j][0] + z[j+1][1] + b_out,  j = 0..n-2         (a convolution of kernel 2)
 *
 * Parameters (names under the prefix, e.g. "levels/0/policy"):
 *   conv<l>/w [channels, kernel, C_in]  (im2col order: kernel offset, then input channel)
 *   conv<l>/b [channels]
 *   out/w     [2, C_last]               out/b [1]
 * Init: convolutions like PyTorch's Conv1d default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight
 * and bias; out/w and out/b zero, so the net's scores start at exactly 0.
 *
 * The uniform-spacing prior is added INSIDE the net: logits = scores + prior, where prior [n-1]
 * is a non-trainable buffer "<prefix>/prior" (params_declare_buffer: checkpointed and exported with
 * the patcher, never stepped by the optimizer, no gradient). It is zero after policy_net_declare;
 * policy_net_set_prior fills it from the level's rate once parameters are allocated. With the
 * zero-initialised output layer the logits then start at exactly the prior, whose K-1 highest
 * gaps are the uniform segmentation (docs/levels.md).
 *
 * Activations live in a caller-owned buffer of policy_net_act_floats(net, B) floats, written by
 * forward and read (and used as scratch) by backward. */
#ifndef RP_POLICY_NET_H
#define RP_POLICY_NET_H

#include <stddef.h>

#include "core/error.h"
#include "core/params.h"
#include "core/rng.h"

#define RP_POLICY_MAX_LAYERS 16

typedef struct rp_policy_net {
    int n_units, n_features, channels, kernel, layers;
    size_t conv_w[RP_POLICY_MAX_LAYERS], conv_b[RP_POLICY_MAX_LAYERS];
    size_t out_w, out_b;
    size_t prior;  /* buffer [n_units-1] */
} rp_policy_net;

/* Declares the parameters under prefix. layers may be 0 (the output reads the features
 * directly); kernel must be odd; n_units >= 2. */
int policy_net_declare(rp_policy_net *net, rp_params *P, const char *prefix, int n_units,
                       int n_features, int channels, int kernel, int layers, rp_error *err);
/* Random conv weights, zero output layer. Leaves the prior alone. */
void policy_net_init(const rp_policy_net *net, rp_params *P, rp_rng *rng);
/* Writes policy_prior(n_units, rate, prior_scale) into the net's prior buffer. */
int policy_net_set_prior(const rp_policy_net *net, rp_params *P, double rate, double prior_scale,
                         rp_error *err);
size_t policy_net_act_floats(const rp_policy_net *net, int B);

/* logits (B, n-1), prior included, from feat (B, n, F). */
void policy_net_forward(const rp_policy_net *net, const rp_params *P, float *logits,
                        const float *feat, int B, float *act);
/* Accumulates parameter gradients into P->grad from dlogits (B, n-1); the features and the prior
 * get none. */
void policy_net_backward(const rp_policy_net *net, rp_params *P, const float *dlogits, int B,
                         float *act);
/* Multiply-adds × 2 of the products of policy_net_forward (backward = 0) or policy_net_backward
 * (backward = 1) over B windows. */
double policy_net_flops(const rp_policy_net *net, int B, int backward);

/* The fixed uniform-spacing prior of a level, prior[n_units-1]:
 *   prior_j = -prior_scale * d_j,
 * d_j = distance in units from (j+1), the start that gap j creates, to the nearest start of the
 * uniform segmentation seg_uniform(n_units, rate) (k >= 1). The K-1 uniform gaps get 0, every
 * other gap at least prior_scale less, so greedy decoding of the prior alone is seg_uniform, and
 * each step off the grid costs a factor exp(-prior_scale) in sampling weight. */
int policy_prior(float *prior, int n_units, double rate, double prior_scale, rp_error *err);

#endif
