/* The forecaster: RevIN → level stack (segmentation → tokens) → shared backbone → flatten head
 * → RevIN⁻¹. One code path for fixed, random and learned patching: they differ only in where the
 * boundaries come from (DESIGN.md §3).
 *
 * A training batch is B windows × G rollouts = R rows; row r belongs to window r / G.
 * Ownership: model_build allocates the parameter slab inside the model; model_free releases it.
 * Activation buffers are allocated once per batch size by model_buffers_alloc. */
#ifndef RP_FORECASTER_H
#define RP_FORECASTER_H

#include "backbone/transformer.h"
#include "core/params.h"
#include "core/rng.h"
#include "io/recipe.h"
#include "levels/sampler.h"
#include "levels/tokenizer.h"
#include "policy/policy_net.h"

typedef struct rp_level {
    rp_level_recipe cfg;
    int n_units;            /* units this level cuts: L for level 1, K of the level below otherwise */
    int K;                  /* patches it produces: ceil(n_units / rate) */
    rp_seg_spec spec;
    double *random_table;   /* seg_random's counting table (bounded random levels), owned */
    int has_policy;         /* patching: learned */
    int n_features;
    rp_policy_net policy;
} rp_level;

typedef struct rp_model {
    rp_recipe recipe;       /* copy; recipe.text and recipe.path are not owned here */
    int lookback, horizon, d_model, n_levels, n_tokens;
    rp_level levels[RP_MAX_LEVELS];
    rp_tokenizer tokenizer; /* builds the backbone's tokens from the top level's raw spans */
    rp_transformer backbone;
    size_t head_w, head_b;  /* flatten head: Linear(n_tokens·d → horizon) */
    rp_params P;
} rp_model;

/* Per-batch work buffers, sized for up to max_windows windows × max_group rollouts. */
typedef struct rp_model_buffers {
    int max_windows, max_rows;
    float *x_norm;          /* (B, L)  RevIN-normalised windows */
    float *x_rows;          /* (R, L)  x_norm repeated per rollout */
    float *mean, *std;      /* (B)     RevIN statistics */
    int *starts;            /* (R, K)  level-1 segment starts of each rollout */
    int *orders;            /* (R, K-1) sampled gap order (learned levels) */
    double *log_prob;       /* (R) */
    float *features;        /* (B, L, F) policy inputs */
    float *logits;          /* (B, L-1) */
    float *dlogits;         /* (B, L-1) */
    float *policy_act;
    float *resampled;       /* (R, K, P) */
    float *tokens, *dtokens;/* (R, K, d) */
    float *encoded, *dencoded; /* (R, K, d) */
    float *backbone_act;
    float *forecast_norm;   /* (R, H) */
    float *forecast;        /* (R, H) in z-scored data units */
    float *dforecast;       /* (R, H) */
    float *row_loss;        /* (R) per-rollout MSE */
    size_t work_bytes;      /* sampler workspace per thread */
    unsigned char *work;    /* (threads × work_bytes) */
} rp_model_buffers;

int model_build(rp_model *m, const rp_recipe *r, rp_error *err);
int model_init(rp_model *m, unsigned long long seed, rp_error *err);
int model_buffers_alloc(rp_model_buffers *b, const rp_model *m, int max_windows, int max_group, rp_error *err);
void model_buffers_free(rp_model_buffers *b);
void model_free(rp_model *m);

/* RevIN and the policy's logits for B windows x (B, L). */
void model_prepare(rp_model *m, rp_model_buffers *b, const float *x, int B);
/* Forward over R = B·G rows whose segment starts are in b->starts; fills forecast and, when y is
 * given (B, H), row_loss. training: dropout on, batch-norm batch statistics. */
void model_forward(rp_model *m, rp_model_buffers *b, const float *y, int B, int G, int training,
                   unsigned long long dropout_seed);
/* Backward from b->dforecast (R, H): accumulates every backbone-side parameter gradient. */
void model_backward(rp_model *m, rp_model_buffers *b, int B, int G);
/* Forward FLOPs for R rows (for the benchmark). */
double model_flops(const rp_model *m, int rows);

#endif
