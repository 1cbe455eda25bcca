/* Recipes: YAML files that declare a whole run (data, levels, backbone, training, outputs).
 * docs/recipes.md documents every key and its default; recipe_defaults() is the single source of
 * those defaults in code.
 *
 * Errors name file:line:column and the key path, e.g.
 *   recipes/x.yaml:7:5: levels[0].rate: must be > 1, got 0.5
 * Command-line overrides (`--set train.epochs=1`) go through the same validation and are reported
 * as "--set train.epochs=abc: train.epochs: expected an integer, got 'abc'".
 *
 * Ownership: rp_recipe is a plain value except for `text` and `path` strings it owns;
 * recipe_free releases them. */
#ifndef RP_RECIPE_H
#define RP_RECIPE_H

#include <stdbool.h>

#include "core/error.h"
#include "core/kinds.h"

#define RP_MAX_LEVELS 8
#define RP_MAX_COLUMNS 64
#define RP_NAME_MAX 256
#define RP_PATH_MAX 1024

/* The recipe's enums (rp_norm_kind and rp_schedule are in core/kinds.h), each with its one name
 * table, indexed by the enum's values: the names recipes, patcher files and reports spell. */
typedef enum { PATCHING_FIXED, PATCHING_LEARNED, PATCHING_RANDOM, PATCHING_CHANGEPOINT } rp_patching;
enum { RP_PATCHING_KINDS = PATCHING_CHANGEPOINT + 1 };
extern const char *const rp_patching_names[RP_PATCHING_KINDS];
typedef enum { POLICY_INIT_UNIFORM, POLICY_INIT_CHANGEPOINT } rp_policy_init;
enum { RP_POLICY_INITS = POLICY_INIT_CHANGEPOINT + 1 };
extern const char *const rp_policy_init_names[RP_POLICY_INITS];
typedef enum { TOKENS_RAW, TOKENS_POOLED } rp_token_source;
enum { RP_TOKEN_SOURCES = TOKENS_POOLED + 1 };
extern const char *const rp_token_source_names[RP_TOKEN_SOURCES];
typedef enum { BACKBONE_TRANSFORMER, BACKBONE_S7, BACKBONE_ETSMLP } rp_backbone_kind;
enum { RP_BACKBONE_KINDS = BACKBONE_ETSMLP + 1 };
extern const char *const rp_backbone_names[RP_BACKBONE_KINDS];
typedef enum { INPUTS_TOP, INPUTS_ALL } rp_backbone_inputs;
enum { RP_BACKBONE_INPUTS = INPUTS_ALL + 1 };
extern const char *const rp_backbone_inputs_names[RP_BACKBONE_INPUTS];
typedef enum { OPTIMIZER_ADAM, OPTIMIZER_ADAMW } rp_optimizer;
enum { RP_OPTIMIZERS = OPTIMIZER_ADAMW + 1 };
extern const char *const rp_optimizer_names[RP_OPTIMIZERS];
typedef enum { BACKBONE_LOSS_ALL, BACKBONE_LOSS_GREEDY, BACKBONE_LOSS_BEST, BACKBONE_LOSS_MIXED } rp_backbone_loss;
enum { RP_BACKBONE_LOSSES = BACKBONE_LOSS_MIXED + 1 };
extern const char *const rp_backbone_loss_names[RP_BACKBONE_LOSSES];
typedef enum {
    ADVANTAGE_GROUP_STD, ADVANTAGE_GROUP_MEAN, ADVANTAGE_LEAVE_ONE_OUT, ADVANTAGE_GREEDY_BASELINE
} rp_advantage;
enum { RP_ADVANTAGES = ADVANTAGE_GREEDY_BASELINE + 1 };
extern const char *const rp_advantage_names[RP_ADVANTAGES];
/* What train.batch_size counts: univariate windows, or time points with every channel's window
 * (PatchTST's multivariate samples; rectangular datasets only). */
typedef enum { BATCH_UNIT_WINDOW, BATCH_UNIT_SAMPLE } rp_batch_unit;
enum { RP_BATCH_UNITS = BATCH_UNIT_SAMPLE + 1 };
extern const char *const rp_batch_unit_names[RP_BATCH_UNITS];
typedef enum { POSITION_INDEX, POSITION_TIME } rp_position;
enum { RP_POSITIONS = POSITION_TIME + 1 };
extern const char *const rp_position_names[RP_POSITIONS];
typedef enum { HEAD_FLATTEN, HEAD_UNPATCH } rp_head_kind;
enum { RP_HEAD_KINDS = HEAD_UNPATCH + 1 };
extern const char *const rp_head_names[RP_HEAD_KINDS];

typedef struct rp_level_recipe {
    rp_patching patching;     /* patching: fixed | learned | random | changepoint (default fixed) */
    double rate;              /* rate: K = ceil(n / rate), > 1                 (default 8) */
    int patch_len;            /* patch_len: points a level-1 token resamples its span to (16);
                                 the span is the segment plus (patch_len - rate) steps of
                                 context past its end, so fixed rate 8, patch_len 16 is PatchTST's
                                 overlapping P=16, S=8 patching */
    int min_len, max_len;     /* min_len / max_len: bounds on segment length in units
                                 (0 = no bound)                                (0, 0) */
    int group_size;           /* group_size: G rollouts per window for GRPG    (4) */
    int policy_channels;      /* policy.channels: conv width                   (16) */
    int policy_kernel;        /* policy.kernel: conv kernel size (odd)         (5) */
    int policy_layers;        /* policy.layers: conv layers                    (2) */
    double prior_scale;       /* policy.prior_scale: strength of the uniform-spacing prior (2.0) */
    bool policy_position;     /* policy.position: the unit's relative position as one more
                                 policy feature                                 (false) */
    rp_policy_init policy_init; /* policy.init: uniform | changepoint: what the logits start from,
                                 the uniform-spacing prior or the changepoint scores (uniform) */
    bool trainable;           /* trainable                                     (true) */
    rp_token_source tokens;   /* tokens: raw | pooled (levels > 1)             (raw) */
    rp_position position;     /* position: index (a learned embedding of the token index) |
                                 time (an encoding of the patch's span on the time axis,
                                 levels/time_position.h)                        (index) */
} rp_level_recipe;

/* Where a key's value came from, so that cross-field errors can point at it: line/column 1-based
 * in rp_recipe.path; line 0 = a default (or set in code); line -1 = a --set override. */
typedef struct rp_recipe_mark {
    int line, column;
} rp_recipe_mark;

#define RP_RECIPE_MARKS 64        /* >= the top-level schema entries (checked in io/recipe.c) */
#define RP_LEVEL_MARKS 16         /* >= the per-level schema entries */

typedef struct rp_recipe {
    char *path;               /* file the recipe came from (owned), NULL if built in code */
    char *text;               /* the resolved recipe as YAML text (owned), for checkpoints */
    char name[RP_NAME_MAX];   /* name: default = file name without .yaml */

    struct {
        char path[RP_PATH_MAX];   /* data.path: CSV or .tsf file, or "generated" (generated) */
        char resolved_path[RP_PATH_MAX]; /* path after REINPATCH_DATA resolution (set by recipe_resolve_data) */
        int protocol;             /* data.protocol: auto | ett_hourly | ett_minute | ratio (auto),
                                     holds an rp_protocol value from io/dataset.h */
        int n_columns;            /* data.columns: list of names; empty = all   (all) */
        char columns[RP_MAX_COLUMNS][RP_NAME_MAX];
        int lookback;             /* data.lookback                               (336) */
        int horizon;              /* data.horizon                                (96) */
        int generated_rows;       /* data.generated.rows                         (4000) */
        int generated_channels;   /* data.generated.channels                     (3) */
        long long generated_seed; /* data.generated.seed                         (7) */
    } data;

    int n_levels;                 /* levels: list, 1..RP_MAX_LEVELS entries (one fixed level) */
    rp_level_recipe levels[RP_MAX_LEVELS];
    char levels_from[RP_PATH_MAX];/* levels_from: patcher file to load the level stack from ("") */

    struct {
        rp_backbone_kind kind;    /* backbone.kind: transformer | s7 | etsmlp    (transformer) */
        rp_backbone_inputs inputs;/* backbone.inputs: top | all                   (top) */
        int d_model;              /* backbone.d_model                            (16) */
        int n_heads;              /* backbone.n_heads                            (4) */
        int n_layers;             /* backbone.n_layers                           (3) */
        int d_ff;                 /* backbone.d_ff                               (128) */
        double dropout;           /* backbone.dropout, [0, 1)                    (0.3) */
        double head_dropout;      /* backbone.head_dropout, [0, 1)               (0.0) */
        rp_norm_kind norm;        /* backbone.norm: batch | layer                (batch) */
        int state_size;           /* backbone.state_size: S7 state per channel   (16) */
        int expand;               /* backbone.expand: ETSMLP expansion factor    (2) */
        rp_head_kind head;        /* backbone.head: flatten | unpatch (model/unpatch.h) (flatten) */
        int unpatch_channels;     /* backbone.unpatch.channels: C per time step  (2) */
        int unpatch_knots;        /* backbone.unpatch.knots: Q knots per token   (8) */
    } backbone;

    struct {
        int epochs;               /* train.epochs                                (10) */
        int batch_size;           /* train.batch_size                            (128) */
        rp_batch_unit batch_unit; /* train.batch_unit: window | sample           (window) */
        double lr;                /* train.lr                                    (1e-4) */
        double policy_lr;         /* train.policy_lr                             (1e-3) */
        rp_schedule schedule;     /* train.schedule: type3 | onecycle | constant (type3) */
        double pct_start;         /* train.pct_start: one-cycle warm-up fraction (0.3) */
        rp_optimizer optimizer;   /* train.optimizer: adam | adamw               (adam) */
        double weight_decay;      /* train.weight_decay                          (0.0) */
        long long seed;           /* train.seed                                  (2021) */
        int threads;              /* train.threads, 0 = all cores                (0) */
        int patience;             /* train.patience: epochs without val improvement (3) */
        int max_steps_per_epoch;  /* train.max_steps_per_epoch, 0 = full epochs   (0) */
        int warmup_epochs;        /* train.warmup_epochs of fixed patching before policies learn (0) */
        rp_advantage advantage;   /* train.advantage: group_std | group_mean | leave_one_out |
                                     greedy_baseline: GRPG's baseline and scale (group_std) */
        rp_backbone_loss backbone_loss; /* train.backbone_loss: all | greedy | best | mixed (all) */
        double mix_share;         /* train.mix_share: share of windows on moved cuts (mixed) (0.5) */
        int mix_jitter;           /* train.mix_jitter: S of the jitter:S cuts fixed levels train on (2) */
        double entropy_beta;      /* train.entropy_beta                          (0.0) */
        double policy_anchor;     /* train.policy_anchor: pull toward the prior  (0.0) */
        int checkpoint_every;     /* train.checkpoint_every steps, 0 = epochs only (0) */
        int eval_batch_size;      /* train.eval_batch_size                       (256) */
    } train;

    struct {
        char dir[RP_PATH_MAX];    /* output.dir, "" = runs/<name>                ("") */
        bool checkpoint;          /* output.checkpoint: write checkpoints         (true) */
    } output;

    /* Source positions of the keys, indexed by schema entry; maintained by io/recipe.c only. */
    struct {
        rp_recipe_mark key[RP_RECIPE_MARKS];
        rp_recipe_mark level[RP_MAX_LEVELS][RP_LEVEL_MARKS];
        rp_recipe_mark level_item[RP_MAX_LEVELS];   /* the "- " that opens each level */
    } marks;
} rp_recipe;

/* Fills every field with its documented default (one fixed level, generated data). Overwrites r
 * entirely (path and text become NULL; free a previously loaded recipe first). */
void recipe_defaults(rp_recipe *r);
/* Parses a YAML file over the defaults, validates it and renders r->text. Same as recipe_parse
 * on the file's contents with name = path. */
int recipe_load(const char *path, rp_recipe *r, rp_error *err);
/* Parses YAML text over the defaults, validates it and renders r->text. name is used in messages
 * in place of a file path and stored (copied) in r->path; NULL means "recipe". The recipe's name
 * defaults to name's basename without .yaml/.yml. On failure r owns no memory (recipe_free is
 * still safe). */
int recipe_parse(const char *text, const char *name, rp_recipe *r, rp_error *err);
/* Applies one "key.path=value" override, e.g. "train.epochs=1", "levels[0].rate=4",
 * "data.columns=[OT, HUFL]", "levels[1]={rate: 4, patching: learned}", "train={epochs: 1}".
 * The value is parsed as YAML with the same checks as a file. All or nothing: on failure r is
 * unchanged. On success r->text is re-rendered. Call recipe_validate after all overrides. */
int recipe_set(rp_recipe *r, const char *assignment, rp_error *err);
/* Cross-field checks (levels fit the lookback, heads divide d_model, ...). */
int recipe_validate(const rp_recipe *r, rp_error *err);
/* Regenerates r->text from the fields (the resolved recipe, all keys). */
int recipe_render(rp_recipe *r, rp_error *err);
/* Resolves data.path against $REINPATCH_DATA when relative (and not "generated") into
 * data.resolved_path; an absent file is an error that names both the path and REINPATCH_DATA. */
int recipe_resolve_data(rp_recipe *r, rp_error *err);
/* K of every level for this recipe's lookback: K1 = ceil(L / rate1), K_l = ceil(K_{l-1} / rate_l).
 * counts has room for RP_MAX_LEVELS; returns n_levels, or -1 if a rate is <= 1 or lookback < 1. */
int recipe_level_counts(const rp_recipe *r, int *counts);
/* K = ceil(units / rate) for one level, robust to rounding (a rate that divides units exactly
 * gives exactly units / rate); -1 if units < 1 or rate <= 1. Use this, not a local ceil(). */
int recipe_level_count(int units, double rate);
/* Writes the i-th key path of the schema, in render order ("data.lookback", "levels",
 * "levels[].policy.kernel", ...), into out; returns -1 when i is past the last key. */
int recipe_key(int i, char *out, int size);
void recipe_free(rp_recipe *r);

#endif
