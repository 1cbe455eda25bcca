/* Checkpoints: everything a run needs to resume, in one HDF5 file (layout in docs/formats.md).
 *
 *   /                     attributes reinpatch_kind="checkpoint", format_version=1,
 *                         library_version, step, epoch, best_val, best_epoch, epochs_since_best
 *   /rng_state            uint64 [4]
 *   /recipe               string: the resolved recipe's YAML text
 *   /normalization/mean   float64 [C]   train-split statistics used to z-score the data
 *   /normalization/std    float64 [C]
 *   /params/<name>        float32, the tensor's shape, for every tensor of rp_params
 *   /adam_m/<name>        float32, Adam's first moment
 *   /adam_v/<name>        float32, Adam's second moment
 *   /best/<name>          float32, optional: the weights of the best validation epoch
 *   /epoch_sums           group, only mid-epoch: the interrupted epoch's running sums
 *
 * Files are written to "<path>.tmp.<pid>" and renamed over path (see io/h5util.h), so a crash
 * leaves either the old checkpoint or the new one. Loading never modifies the file, and on
 * failure leaves P and the run state untouched. */
#ifndef RP_CHECKPOINT_H
#define RP_CHECKPOINT_H

#include "core/error.h"
#include "core/params.h"
#include "core/rng.h"
#include "io/recipe.h"


/* The newest checkpoint layout this build writes and reads. */
#define RP_CHECKPOINT_FORMAT_VERSION 1

/* The running sums of an epoch that a mid-epoch checkpoint (train.checkpoint_every) interrupts,
 * over the steps taken so far, as the trainer accumulates them: a resumed epoch adds its steps to
 * these and writes the history row the uninterrupted epoch writes. */
typedef struct rp_epoch_sums {
    int present;              /* 0: none (an epoch's end, or a file from before they were kept) */
    double loss;              /* sum of the steps' mean training MSE */
    double windows;           /* training windows seen */
    double seconds, policy_seconds; /* wall-clock time spent so far */
    double mean_reward, advantage_spread;
    double sign_agreement;    /* the epoch's advantage sign agreement (NaN: not measured) */
    long long sign_pairs;
    int n_levels;
    double entropy[RP_MAX_LEVELS], patch_len_mean[RP_MAX_LEVELS], patch_len_std[RP_MAX_LEVELS];
    double cuts_off_uniform[RP_MAX_LEVELS];
} rp_epoch_sums;

typedef struct rp_run_state {
    long long step;           /* optimizer steps taken */
    int epoch;                /* epochs completed */
    int step_in_epoch;        /* steps of epoch `epoch` already taken (a mid-epoch checkpoint);
                                 0 at an epoch's end */
    double best_val;          /* best validation loss so far */
    int best_epoch;           /* epoch that reached it */
    int epochs_since_best;    /* for early stopping */
    rp_rng rng;               /* the training generator: at an epoch's end, as it stands after
                                 `step`; mid-epoch, as it stood when the epoch began, so the
                                 epoch's shuffle can be drawn again on resume */
    int n_channels;
    double *mean, *std;       /* [n_channels] train-split statistics */
    char *recipe_text;        /* the resolved recipe (YAML) */
    rp_epoch_sums sums;       /* written when present and step_in_epoch > 0 */
} rp_run_state;

/* Writes P's values and both Adam moments, the run state and, when best_values is not NULL, a
 * copy of the best weights (a slab laid out like P->value: best_values + tensor offset).
 * The caller keeps ownership of everything passed in. */
int checkpoint_save(const char *path, const rp_params *P, const rp_run_state *s,
                    const float *best_values, rp_error *err);

/* Loads into P, which must already be declared and allocated from the same recipe: every tensor
 * in the file must exist in P with the same shape and every tensor of P must be in the file
 * (errors name the tensor and both shapes). Fills values and Adam moments (gradients are left
 * alone). When the file holds best weights and best_values is not NULL, they are copied into
 * best_values (a slab of P->total floats); *has_best (may be NULL) says whether the file held
 * them. s->mean, s->std and s->recipe_text are allocated here and owned by the caller (free with
 * checkpoint_state_free); their previous values are overwritten, not freed.
 * On failure nothing of P, s or best_values is changed. */
int checkpoint_load(const char *path, rp_params *P, rp_run_state *s, float *best_values,
                    int *has_best, rp_error *err);

/* Reads the recipe text alone, so that the caller can rebuild the model before loading.
 * *recipe_text is malloc'd; the caller frees it. */
int checkpoint_read_recipe(const char *path, char **recipe_text, rp_error *err);

/* Frees what checkpoint_load allocated in s (mean, std, recipe_text) and sets them to NULL. */
void checkpoint_state_free(rp_run_state *s);

#endif
