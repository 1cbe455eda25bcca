/* Each test window's score and the split's patch lengths, gathered while a split is evaluated:
 * the content of DIR/test_windows.h5 (io/test_windows.h), which `train` writes after its final
 * test evaluation and `reinpatch report` reads instead of scoring every window again. Both the
 * trainer and the report's own full evaluation gather through window_scores_collect, so the two
 * agree bit for bit.
 *
 * Ownership: trainer_score_windows allocates *s (test_windows_free). */
#ifndef RP_WINDOW_SCORES_H
#define RP_WINDOW_SCORES_H

#include "io/test_windows.h"
#include "train/train.h"

/* One window's MSE over its H steps, in double: the number the report ranks windows by. */
double window_mse(const float *forecast, const float *truth, int H);
/* An rp_eval_batch_fn (ctx: an rp_test_windows allocated for the split, K filled): each window's
 * MSE, and every level's patches counted by length. */
void window_scores_collect(void *ctx, const rp_model *m, const rp_model_buffers *b, int first, int B, const float *y);
/* trainer_evaluate_with(split) that also fills *s: allocated here (left empty when the split has
 * no window), every window's MSE, channel and start row, the length counts, and step = t->step.
 * Under MPI every rank calls it and every rank ends with the whole split's scores. */
int trainer_score_windows(rp_trainer *t, rp_split_id split, rp_eval_result *res, rp_test_windows *s, rp_error *err);

/* A split scored the way PatchTST's test loader scores it (its data_factory: drop_last = True for
 * the test flag, batches of batch_size samples): the split's samples, i.e. its time points with
 * every channel's window there, in time order and in batches of `batch` samples, the last partial
 * batch left out. res gets the kept windows' MSE, MAE and count (cuts_off_uniform over every
 * window). Published PatchTST numbers are scored so; docs/results.md ("PatchTST's batching").
 * Fails on a pool dataset (no common time points) and on a split of fewer than `batch` samples. */
int trainer_evaluate_drop_last(rp_trainer *t, rp_split_id split, int batch, rp_eval_result *res, rp_error *err);

#endif
