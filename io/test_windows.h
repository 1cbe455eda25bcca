/* DIR/test_windows.h5: what `reinpatch report` needs from a run's final test evaluation, so that
 * it does not score every test window again (layout in docs/formats.md):
 *
 *   /                       attributes reinpatch_kind="test_windows", format_version=1,
 *                           library_version, step, lookback, horizon, n_windows, n_levels
 *   /windows/mse            float64 [W]  each test window's MSE (z-scored units, its H steps)
 *   /windows/channel        int32 [W]    the window's channel
 *   /windows/start_row      int32 [W]    the row of its first lookback step
 *   /levels/<l>             group with attribute K (patches per window)
 *   /levels/<l>/length_count int64 [lookback + 1]  patches of each length (steps) over the split
 *
 * `step` is the optimizer step count of the checkpoint whose best weights were scored: a reader
 * compares it with the checkpoint to know the file is that checkpoint's.
 *
 * Written atomically (io/h5util.h); reading never writes and checks that the file is whole and
 * consistent in itself (every error names the file and what is wrong). Whether it belongs to a
 * given checkpoint and dataset is the caller's check.
 *
 * Ownership: test_windows_alloc and test_windows_read allocate every array of *s; free with
 * test_windows_free. */
#ifndef RP_TEST_WINDOWS_H
#define RP_TEST_WINDOWS_H

#include <stdint.h>

#include "core/error.h"
#include "io/recipe.h"

#define RP_TEST_WINDOWS_FORMAT_VERSION 1

typedef struct rp_test_windows {
    long long step;              /* optimizer steps of the scored checkpoint */
    int lookback, horizon;
    int n_windows;               /* W >= 1 */
    double *mse;                 /* [W] */
    int32_t *channel, *start_row; /* [W] */
    int n_levels;
    int K[RP_MAX_LEVELS];
    int64_t *length_count[RP_MAX_LEVELS]; /* [lookback + 1]; index = length in steps, [0] is 0 */
} rp_test_windows;

/* Zeroed arrays for W windows and n_levels levels of a lookback; s->K is left to the caller. */
int test_windows_alloc(rp_test_windows *s, int n_windows, int n_levels, int lookback, int horizon, rp_error *err);
/* Checks s as test_windows_read would, then writes it to path. */
int test_windows_write(const char *path, const rp_test_windows *s, rp_error *err);
/* On failure *s is left empty (zeroed). */
int test_windows_read(const char *path, rp_test_windows *s, rp_error *err);
void test_windows_free(rp_test_windows *s);

#endif
