/* Training and evaluation of a forecaster from a recipe.
 *
 * One loop serves every patching kind: fixed and random levels use one rollout per window
 * (plain supervised training); a learned level samples G rollouts per window and trains its
 * policy with GRPG (docs/method.md §7) while the backbone trains on the same batched pass.
 *
 * Ownership: rp_trainer owns the series, dataset, model and buffers it loads; trainer_free. */
#ifndef RP_TRAIN_H
#define RP_TRAIN_H

#include <stdio.h>

#include "model/forecaster.h"
#include "io/checkpoint.h"
#include "io/dataset.h"
#include "io/recipe.h"
#include "io/series.h"

typedef struct rp_eval_result {
    double mse, mae;
    long long windows;
    /* Per level: the fraction of the evaluated cuts (interior boundaries) that are not at a
     * uniform-spacing position of that level, i.e. where the segmentation differs from fixed
     * patching's. 0 for fixed levels; near 1 - (K-1)/(n-1) for random ones. */
    int n_levels;
    double off_uniform[RP_MAX_LEVELS];
} rp_eval_result;

typedef struct rp_epoch_log {
    int epoch;
    int steps;               /* optimizer steps taken in this call */
    int policy_active;       /* 1 once the warm-up epochs are over and a learned level trains */
    double train_loss, val_mse, val_mae, lr, seconds, windows_per_second;
    /* Of `seconds`: segmentation (policy forward, sampling) and the policies' GRPG backward. */
    double policy_seconds;
    /* GRPG statistics (learned levels; zero otherwise) */
    double mean_reward, advantage_spread;
    /* Advantage sign agreement on the epoch's first batch (train/grpg_probe.h); NaN when not
     * measured (no trainable learned level, warm-up, a resumed epoch). */
    double sign_agreement;
    long long sign_pairs;
    /* Per level: policy entropy (first draw), patch length in raw steps (mean, spread), and the
     * fraction of boundaries that differ from uniform spacing. */
    double policy_entropy[RP_MAX_LEVELS];
    double patch_len_mean[RP_MAX_LEVELS], patch_len_std[RP_MAX_LEVELS], frac_moved[RP_MAX_LEVELS];
} rp_epoch_log;

/* What the epoch loop knows at the end of an epoch. */
typedef struct rp_epoch_report {
    rp_epoch_log log;
    rp_eval_result val;      /* greedy segmentation; windows 0 and NaN metrics when the split is empty */
    int best;                /* 1 when this epoch's weights became the best (copied to best_values) */
} rp_epoch_report;

struct rp_trainer;
/* Called by trainer_fit after each epoch's validation and best-weights bookkeeping, before the
 * epoch's checkpoint. A non-zero return (with err filled) ends the loop with that status. */
typedef int (*rp_epoch_callback)(struct rp_trainer *t, const rp_epoch_report *e, void *ctx, rp_error *err);

enum { RP_PROGRESS_OFF = 0, RP_PROGRESS_TERMINAL = 1, RP_PROGRESS_LOG = 2 };

typedef struct rp_train_options {
    int progress;            /* RP_PROGRESS_TERMINAL: one line rewritten in place on stderr;
                                RP_PROGRESS_LOG: a new line every 15 s (stderr is a file); 0: quiet */
    const char *out_dir;     /* run directory; NULL = recipe's output.dir or runs/<name> */
    int verbose;             /* 1: a line per epoch on stderr even when progress is off */
    int stop_after_epoch;    /* > 0: return after this epoch's checkpoint, as an interrupted run
                                would (no final evaluation, no metrics.json) */
    long long stop_after_step; /* > 0: the same right after a mid-epoch checkpoint written at this
                                  optimizer step (train.checkpoint_every must divide it) */
    rp_epoch_callback on_epoch; /* NULL: none */
    void *epoch_ctx;         /* passed to on_epoch */
} rp_train_options;

/* train.threads = T > 1 (issue 15): what thread u ≥ 1 of a per-thread sharded training step owns
 * (train/train.c, train_step); thread 0 uses the trainer's own model, buffers and GRPG scratch.
 * Allocated by trainer_setup*, freed by trainer_free. */
typedef struct rp_step_thread {
    rp_model model;          /* a copy of the trainer's made every step: the same parameter values
                                (read only during the step), grad pointing at `grad` */
    float *grad;             /* (P.total) this thread's gradient */
    rp_model_buffers buf;    /* activations for ceil(batch / T) windows × group */
    float *rewards, *advantages, *greedy_rewards;
    int *mix_store;
    rp_model_buffers eval_buf; /* activations for eval_batch_size windows, for evaluation batches
                                  spread over the threads (allocated at the first such evaluation) */
} rp_step_thread;

struct rp_step_stats;

typedef struct rp_trainer {
    rp_recipe *recipe;       /* not owned */
    rp_series series;
    rp_dataset data;
    rp_model model;
    rp_model_buffers buf;
    int group;               /* rollouts per window in training */
    float *best_values;      /* copy of the parameters at the best validation loss */
    float *rewards, *advantages; /* (batch × group) GRPG work */
    float *greedy_rewards;   /* (batch) the greedy segmentation's reward (train.advantage: greedy_baseline) */
    unsigned char *mix_rows; /* (batch) train.backbone_loss: mixed — windows on moved cuts */
    int *mix_store;          /* their sampled cuts, kept across the greedy pass */
    long long step;
    int epoch, best_epoch, epochs_since_best;
    int step_in_epoch;       /* steps of epoch `epoch` already taken (after a mid-epoch resume) */
    rp_rng epoch_rng;        /* t->rng as it was when the current epoch began */
    rp_epoch_sums epoch_sums; /* the current epoch's running sums at its last mid-epoch checkpoint;
                                 after a mid-epoch resume, the ones the checkpoint held */
    long long stop_at_step;  /* > 0: trainer_train_epoch stops after the checkpoint at this step */
    int stopped;             /* set when it did */
    unsigned long long dist_train_bytes; /* under MPI: bytes this rank exchanged in training steps
                                            (this process's steps; not checkpointed) */
    int step_threads;        /* threads a training step is sharded over (1: the OpenMP layout) */
    rp_step_thread *threads; /* [step_threads − 1]: threads 1 .. T−1 */
    struct rp_step_stats *step_stats; /* [step_threads]: each shard's statistics (train.c) */
    double best_val;
    rp_cuts eval_cuts;       /* trainer_evaluate cuts every level this way (zero: the model's own) */
    rp_rng rng;
    char run_dir[RP_PATH_MAX];
    int lock_fd;             /* > 0 while this trainer holds run_dir's lock (rp_lock_dir) */
} rp_trainer;

/* Loads the recipe's data (CSV file or the generated series) into t->series. */
int trainer_load_data(rp_trainer *t, rp_recipe *r, rp_error *err);
int trainer_setup(rp_trainer *t, rp_recipe *r, rp_error *err);
/* The same with a series the caller built (tests, generated data of a special shape): the trainer
 * takes ownership of *series (and zeroes it); the recipe's data.path is not read. */
int trainer_setup_series(rp_trainer *t, rp_recipe *r, rp_series *series, rp_error *err);
/* The same with a dataset the caller built (a pool of many series, io/pool.h): the trainer takes
 * ownership of *data (and zeroes it, even on failure); t->series stays empty. The dataset's
 * lookback and horizon must be the recipe's. A split may hold no window (a pool's test split):
 * trainer_evaluate then reports windows 0 and NaN metrics. */
int trainer_setup_dataset(rp_trainer *t, rp_recipe *r, rp_dataset *data, rp_error *err);
/* The epoch loop, the one every training path runs (train, pretrain-patcher, the change-point
 * bench, the learning test): from epoch t->epoch to train.epochs, each epoch trained
 * (trainer_train_epoch), validated, the best weights kept in best_values (by validation MSE; the
 * last epoch when the split is empty), opt->on_epoch called, a checkpoint written when
 * output.checkpoint is on, and early stopping after train.patience epochs without improvement.
 * Leaves the last epoch's weights in the model (trainer_restore_best). Sets t->stopped when it
 * returned early because of opt->stop_after_epoch or opt->stop_after_step; opt->out_dir is not
 * read (trainer_run's, train/run.h). opt may be NULL. */
int trainer_fit(rp_trainer *t, const rp_train_options *opt, rp_error *err);
/* Copies best_values into the model's parameters. */
void trainer_restore_best(rp_trainer *t);
/* Trains one epoch (at most `max_steps` steps when > 0) over shuffled training windows, with
 * progress on stderr as rp_train_options.progress says; fills log
 * (train loss, seconds, windows/s and, for learned levels, the GRPG statistics). */
int trainer_train_epoch(rp_trainer *t, int epoch, int max_steps, int progress, rp_epoch_log *log, rp_error *err);
/* What trainer_update steps: the backbone, head and tokenizers at the given lr, and the trainable
 * learned levels' policies at train.policy_lr. */
enum { TRAIN_BACKBONE = 1, TRAIN_POLICIES = 2 };
/* One optimizer step (t->step advances first, 1-based as PyTorch counts): Adam or AdamW as the
 * recipe says, with PyTorch's defaults (β1 0.9, β2 0.999, eps 1e-8); policies without weight
 * decay. Reads the gradients in the parameter slab, does not clear them. */
void trainer_update(rp_trainer *t, double lr, int parts);
/* Greedy-segmentation evaluation of a split (all windows, no dropped last batch); with
 * t->eval_cuts set, every level is cut that way instead (model_override_cuts; the draws of a
 * window repeat from run to run). With t->step_threads = T > 1 whole batches are spread over T
 * threads, each scoring its batches alone on one thread (a batch's forecasts are the same on any
 * thread); their sums are combined in thread order, so a given T repeats bit for bit and differs
 * from one thread only in the rounding of the double sums. */
int trainer_evaluate(rp_trainer *t, rp_split_id split, rp_eval_result *res, rp_error *err);
/* Called by trainer_evaluate_with after each batch of windows [first, first + B) of the split,
 * with the batch's truth y (B, H): b->forecast holds the forecasts (z-scored units) and
 * b->lv[l].raw_starts every level's patch starts (reinpatch report draws them). */
typedef void (*rp_eval_batch_fn)(void *ctx, const rp_model *m, const rp_model_buffers *b, int first, int B,
                                 const float *y);
/* trainer_evaluate that also hands every batch to fn (when not NULL). */
int trainer_evaluate_with(rp_trainer *t, rp_split_id split, rp_eval_result *res, rp_eval_batch_fn fn, void *ctx,
                          rp_error *err);
/* The one batch of trainer_evaluate_with that holds window `window`, scored alone and handed to fn
 * exactly as the whole-split pass hands it (same windows, same cuts, same forecasts): how
 * `reinpatch report` draws a few windows without scoring the split. This process only (no MPI). */
int trainer_evaluate_window_batch(rp_trainer *t, rp_split_id split, int window, rp_eval_batch_fn fn, void *ctx,
                                  rp_error *err);
/* Writes <run_dir>/checkpoint.h5 (atomically): parameters, Adam moments, best weights, step,
 * epoch, RNG, early-stopping state, normalisation statistics and the recipe text. */
int trainer_save_checkpoint(rp_trainer *t, rp_error *err);
/* Restores everything trainer_save_checkpoint wrote into a trainer set up from the same recipe,
 * so that training continues exactly where it stopped. */
int trainer_load_checkpoint(rp_trainer *t, const char *path, rp_error *err);
void trainer_free(rp_trainer *t);

#endif
