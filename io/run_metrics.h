/* Reading DIR/metrics.json, the file `reinpatch train` writes at the end of a run (docs/cli.md),
 * for `reinpatch report`. JSON is read with libyaml (a JSON document is a YAML flow mapping).
 *
 * Every number keeps the text it was written with, so that a table drawn from it shows exactly
 * the file's digits, and its value.
 *
 * Ownership: rp_run_metrics owns its strings (run_metrics_free). */
#ifndef RP_RUN_METRICS_H
#define RP_RUN_METRICS_H

#include "core/error.h"
#include "io/recipe.h"

typedef struct rp_metric {
    char text[40];     /* as written in the file ("0.412345") */
    double value;
} rp_metric;

typedef struct rp_run_metrics {
    char *recipe_name, *data, *resolved_recipe;   /* "" when absent (resolved_recipe: older files) */
    rp_metric test_mse, test_mae, test_windows, val_mse, val_mae, val_windows;
    rp_metric epochs, best_epoch, steps, wall_seconds, train_windows_per_second, parameters, threads;
    int n_levels;                                 /* entries of test.cuts_off_uniform */
    rp_metric cuts_off_uniform[RP_MAX_LEVELS];
} rp_run_metrics;

/* Reads a metrics.json. Errors (one line naming the file): unreadable, not JSON (with line and
 * column), not an object, a required key missing (test.mse, test.mae, val.mse, val.mae, epochs,
 * best_epoch) or a value that is not a number. Keys other files lack (older versions) are left
 * with text "" and value NaN. On failure m owns nothing. */
int run_metrics_read(const char *path, rp_run_metrics *m, rp_error *err);
void run_metrics_free(rp_run_metrics *m);

#endif
