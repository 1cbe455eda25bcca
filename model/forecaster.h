/* The forecaster: RevIN → level stack (segmentation → tokens) → shared backbone → flatten head
 * → RevIN⁻¹. One code path for fixed, random and learned patching: they differ only in where the
 * boundaries come from (docs/method.md §5).
 *
 * Levels: level 0 cuts the L steps into K_0 = ceil(L / rate_0) patches; level l > 0 groups the
 * K_{l-1} patches below into K_l = ceil(K_{l-1} / rate_l) contiguous groups. A rollout's
 * segmentation is chosen top-down from level 0 (a level's policy sees statistics of the patches
 * below it, never backbone activations). Each level's tokens are built from the raw span of its
 * patches (raw) or by pooling the tokens of the level below (pooled); the backbone reads the top
 * level's tokens (inputs: top) or every level's tokens plus a level embedding (inputs: all).
 *
 * A training batch is B windows × G rollouts = R rows; row r belongs to window r / G.
 * Ownership: model_build allocates the parameter slab inside the model; model_free releases it.
 * Work buffers are allocated once per batch size by model_buffers_alloc. */
#ifndef RP_FORECASTER_H
#define RP_FORECASTER_H

#include "backbone/backbone.h"
#include "core/linear.h"
#include "core/params.h"
#include "core/rng.h"
#include "io/recipe.h"
#include "levels/sampler.h"
#include "levels/time_position.h"
#include "levels/tokenizer.h"
#include "levels/policy_net.h"
#include "model/unpatch.h"

typedef struct rp_level {
    rp_level_recipe cfg;
    int n_units;            /* units this level cuts: L for level 0, K of the level below otherwise */
    int K;                  /* patches it produces: ceil(n_units / rate) */
    rp_seg_spec spec;
    double *random_table;   /* seg_random's counting table (bounded random levels), owned */
    int has_policy;         /* patching: learned */
    int uses_changepoint;   /* patching: changepoint, or a learned level with policy.init: changepoint */
    int n_features;         /* policy inputs per unit */
    rp_policy_net policy;
    int needs_tokens;       /* the backbone reads this level's tokens, or the level above pools them */
    int pooled;             /* tokens pooled from the level below (levels > 0 with tokens: pooled) */
    rp_tokenizer raw_tok;
    rp_pooled_tokenizer pooled_tok;
    int time_position;      /* position: time — time_pos adds the span encoding to the tokens */
    rp_time_position time_pos;
    int token_offset;       /* first backbone token of this level (inputs: all) */
} rp_level;

typedef struct rp_model {
    rp_recipe recipe;       /* copy; recipe.text and recipe.path are not owned here */
    int lookback, horizon, d_model, n_levels, n_tokens;
    rp_level levels[RP_MAX_LEVELS];
    int inputs_all;
    size_t level_emb;       /* (n_levels, d) level embedding, inputs: all */
    rp_backbone backbone;   /* transformer | s7 | etsmlp (backbone.kind) */
    int head_unpatch;       /* backbone.head: unpatch */
    rp_linear head;         /* flatten head: Linear(n_tokens·d → horizon), "head/w", "head/b" */
    rp_unpatch_head unpatch;/* unpatch head (model/unpatch.h) */
    rp_params P;
} rp_model;

/* How a level's boundaries are chosen for a batch. */
typedef enum {
    CUT_TRAIN,  /* fixed: uniform; random: uniform over sets; changepoint: the highest changepoint
                   scores (every phase); learned: sampled from the policy
                   (greedy when the level is frozen, trainable: false) */
    CUT_EVAL,   /* fixed: uniform; random: uniform over sets; learned: greedy */
    CUT_WARMUP, /* trainable learned levels use uniform spacing (warm-up epochs); others, frozen
                   learned levels included (greedy), as CUT_TRAIN */
    CUT_EVAL_SAME_LOGITS, /* CUT_EVAL for the windows and parameters of the model_segment call just
                   before (any phase, any G): level 0's logits, one row per window, are still in
                   the buffers and its policy does not run again (GRPG's greedy pass after the
                   rollouts; levels above 0 run theirs, on this call's rows) */
} rp_cut_phase;

/* Another segmentation than the model's own at every level, with the same K: for evaluating how
 * much a trained backbone depends on where the cuts are (`reinpatch eval --cuts`) and for
 * training a backbone on cuts that move (train.backbone_loss: mixed).
 *   CUTS_OWN      "greedy": the level's own cuts in the phase (uniform for fixed levels, greedy or
 *                 sampled for learned ones, random for random ones), i.e. no override
 *   CUTS_UNIFORM  "uniform": fixed patching's cuts (seg_uniform)
 *   CUTS_RANDOM   "random": a uniformly random valid segmentation (seg_random, bounds kept)
 *   CUTS_JITTER   "jitter:S": the uniform cuts each moved by a random integer in [-S, S]
 *                 (seg_jitter, order and bounds kept), S >= 1 in the level's units */
typedef enum { CUTS_OWN = 0, CUTS_UNIFORM, CUTS_RANDOM, CUTS_JITTER } rp_cuts_kind;
typedef struct rp_cuts {
    rp_cuts_kind kind;
    int jitter;             /* S of CUTS_JITTER */
} rp_cuts;

/* Parses "greedy", "uniform", "random" or "jitter:S" (S a positive integer); the error names the
 * value ("--cuts jitter:0: S must be a positive integer"). */
int cuts_parse(const char *text, rp_cuts *cuts, rp_error *err);
/* The text cuts_parse reads back, into buf. */
void cuts_format(rp_cuts cuts, char *buf, int size);
/* 0 when every level can be cut this way: jitter's S must be below each level's unit count n
 * (a larger move is only clamping). */
int model_check_cuts(const rp_model *m, rp_cuts cuts, rp_error *err);

typedef struct rp_level_buffers {
    int logit_rows;         /* B for level 0 (its input is the window), R above (the rollout's patches) */
    int *starts;            /* (R, K) in this level's units */
    int *raw_starts;        /* (R, K) in raw steps */
    int *orders;            /* (R, K-1) sampled gap order (learned levels) */
    float *features;        /* (logit_rows, n, F) policy inputs */
    float *logits;          /* (logit_rows, n-1) */
    float *dlogits;         /* (logit_rows, n-1) */
    float *policy_act;
    float *resampled;       /* (R, K, P) raw tokenizer */
    float *pooled_act;      /* pooled tokenizer */
    float *tokens, *dtokens;/* (R, K, d) */
    float *cp_values;       /* (R, n) changepoint unit values (levels that use changepoint scores) */
    float *cp_scores;       /* (R, n-1) changepoint scores */
    float *time_act;        /* (R, K, F) time-position features (position: time) */
} rp_level_buffers;

typedef struct rp_model_buffers {
    int max_windows, max_rows;
    float *x_norm;          /* (B, L)  RevIN-normalised windows */
    float *x_rows;          /* (R, L)  x_norm repeated per rollout */
    float *mean, *std;      /* (B)     RevIN statistics */
    rp_level_buffers lv[RP_MAX_LEVELS];
    float *backbone_in, *dbackbone_in; /* (R, n_tokens, d) when inputs: all */
    float *encoded, *dencoded; /* (R, n_tokens, d) */
    float *backbone_act;
    int *span_start, *span_end; /* (R, n_tokens) raw span of each backbone token (head: unpatch) */
    float *head_act;        /* unpatch head activations */
    float *forecast_norm;   /* (R, H) */
    float *forecast;        /* (R, H) in z-scored data units */
    float *dforecast;       /* (R, H) */
    float *row_loss;        /* (R) per-rollout MSE */
    size_t work_bytes;      /* sampler workspace per thread */
    int work_threads;       /* the threads work has room for: omp_get_max_threads() when allocated;
                             * a later, larger thread count (rp_set_threads) runs the sampler on
                             * at most this many */
    unsigned char *work;    /* (work_threads × work_bytes) */
} rp_model_buffers;

int model_build(rp_model *m, const rp_recipe *r, rp_error *err);
int model_init(rp_model *m, unsigned long long seed, rp_error *err);
int model_buffers_alloc(rp_model_buffers *b, const rp_model *m, int max_windows, int max_group, rp_error *err);
void model_buffers_free(rp_model_buffers *b);
void model_free(rp_model *m);

/* RevIN of B windows x (B, L), repeated into G rows each. */
void model_prepare(rp_model *m, rp_model_buffers *b, const float *x, int B, int G);
/* Chooses every level's segmentation for the R = B·G rows, top-down from level 0, running each
 * learned level's policy on the patches below it. Random draws come from one stream per
 * (seed, stream_base, row), so the result does not depend on the thread count. Fills the level
 * buffers' starts, raw_starts, orders and logits (seg_log_prob of a row's orders under its logits is
 * that level's log-probability of the draw: GRPG's backward reads them). */
void model_segment(rp_model *m, rp_model_buffers *b, int B, int G, rp_cut_phase phase, unsigned long long seed,
                   unsigned long long stream_base);
/* Replaces, after model_segment, the segmentation of the levels in level_mask (bit l = level l)
 * by `cuts` for the rows r < R with rows[r] != 0 (rows NULL: every row), and recomposes every
 * level's raw_starts of those rows. Random draws come from one stream per (seed, stream_base,
 * level, row), the row counted in the whole batch in a sharded step (core/dist.h). orders and
 * logits are left as they were (they describe the policy's draw, which GRPG may still need).
 * CUTS_OWN changes nothing. */
void model_override_cuts(rp_model *m, rp_model_buffers *b, int R, rp_cuts cuts, unsigned level_mask,
                         const unsigned char *rows, unsigned long long seed, unsigned long long stream_base);
/* Forward over the R = B·G rows: tokens, backbone, head; fills forecast and, when y is given
 * (B, H), row_loss. pass (core/kinds.h): PASS_TRAIN dropout on, batch-norm batch statistics;
 * PASS_EVAL without; PASS_SCORE as PASS_EVAL for a forward no model_backward follows (GRPG's
 * rollouts, evaluation, prediction), which keeps less. */
void model_forward(rp_model *m, rp_model_buffers *b, const float *y, int B, int G, rp_pass pass,
                   unsigned long long dropout_seed);
/* Backward from b->dforecast (R, H): accumulates every backbone-side parameter gradient
 * (tokenizers, level embedding, backbone, head). Policies get theirs from GRPG. */
void model_backward(rp_model *m, rp_model_buffers *b, int B, int G);
/* Forward FLOPs for R rows (for the benchmark). */
double model_flops(const rp_model *m, int rows);
/* Policy FLOPs of one GRPG step over B windows × G rollouts: every trainable learned level's
 * policy forward and backward (level 1's once per window, higher levels' once per rollout). */
double model_policy_flops(const rp_model *m, int B, int G);

#endif
