/* A whole training run, the one `reinpatch train` and the C API start: the epoch loop of
 * train/train.h in a run directory, then the final evaluation with the best weights. It sits above
 * train.c (the loop) and window_scores.c (each test window's score, which evaluates through
 * train.c), so neither of those needs the other.
 *
 * Ownership: nothing is allocated for the caller; the run's files are written in the run
 * directory. */
#ifndef RP_RUN_H
#define RP_RUN_H

#include <stdio.h>

#include "core/error.h"
#include "train/train.h"

/* trainer_fit in the run directory (opt->out_dir or the recipe's), with a line per epoch on
 * stderr when verbose; then, unless stopped early, restores the best weights, evaluates val and
 * test, writes <run_dir>/metrics.json and prints it to out (if not NULL). */
int trainer_run(rp_trainer *t, const rp_train_options *opt, FILE *out, rp_error *err);

#endif
