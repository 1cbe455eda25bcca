/* DIR/history.csv: one row per finished epoch of `train` and `pretrain-patcher`, for
 * `reinpatch report` and for anyone with a spreadsheet (docs/formats.md).
 *
 * Columns: epoch (1-based), step (optimizer steps after the epoch), lr, policy_lr, train_loss,
 * val_mse, val_mae, seconds, train_windows_per_second, mean_reward, advantage_spread, then per
 * level l = 1..M: level<l>_entropy, level<l>_patch_len_mean, level<l>_patch_len_std,
 * level<l>_cuts_off_uniform (the statistics of the epoch log, train/train.h rp_epoch_log).
 *
 * Resume: history_append rewrites the file with the rows of earlier epochs kept and any row of
 * this epoch or later dropped, so an epoch repeated after an interruption (the process died
 * between the row and the checkpoint) is written once, and a fresh run in an old directory
 * starts a new file.
 *
 * Ownership: rp_history owns its rows (history_free). */
#ifndef RP_HISTORY_H
#define RP_HISTORY_H

#include "train/train.h"

typedef struct rp_history_row {
    int epoch;                 /* 1-based */
    long long step;
    double lr, policy_lr, train_loss, val_mse, val_mae, seconds, windows_per_second;
    double mean_reward, advantage_spread;
    double entropy[RP_MAX_LEVELS], patch_len_mean[RP_MAX_LEVELS], patch_len_std[RP_MAX_LEVELS];
    double cuts_off_uniform[RP_MAX_LEVELS];
} rp_history_row;

typedef struct rp_history {
    int n_rows, n_levels;
    rp_history_row *rows;      /* [n_rows], in epoch order */
} rp_history;

/* The row of a finished epoch: log from trainer_train_epoch (its epoch is 0-based), the
 * validation result (NULL: NaN), the step count after the epoch and the policy learning rate. */
void history_row_from_log(rp_history_row *row, const rp_epoch_log *log, const rp_eval_result *val,
                          long long step, double policy_lr);
/* Writes row to <run_dir>/history.csv (atomically, through a temporary file), after the rows of
 * earlier epochs already there. n_levels: the model's level count (the level columns). */
int history_append(const char *run_dir, const rp_history_row *row, int n_levels, rp_error *err);
/* The row of the epoch t just finished (t->step, t->run_dir, the recipe's policy_lr), appended:
 * the one call the epoch loops make. val: NULL when there is no validation split. */
int history_record(const rp_trainer *t, const rp_epoch_log *log, const rp_eval_result *val, rp_error *err);
/* Reads a history file. Errors (file:line: what): unreadable file, a missing column, a value that
 * is not a number, epochs not increasing. */
int history_read(const char *path, rp_history *h, rp_error *err);
void history_free(rp_history *h);

#endif
