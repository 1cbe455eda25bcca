/* Segmentation exports: for each window of a split, the patches every level cut it into,
 * readable with h5py or h5dump alone (layout in docs/formats.md):
 *
 *   /                      attributes reinpatch_kind="segmentation", format_version=1,
 *                          library_version, source, split, lookback, horizon, n_windows,
 *                          n_levels
 *   /windows/channel       int32 [W]  column index of the window's channel in the source
 *   /windows/start_row     int32 [W]  row of the source series holding the window's first step
 *   /levels/<l>/starts     int32 [W x K]  first step of each patch (attributes rate, K, units)
 *   /levels/<l>/lengths    int32 [W x K]  its length in steps
 *   /recipe                string: the recipe that produced the segmentation
 *
 * Units: for every level, starts and lengths are time steps counted from the window's first step
 * (a level-l patch covers the raw span of the level-(l-1) patches it groups), so each row is a
 * contiguous cover of [0, lookback): starts[0] = 0, starts[k+1] = starts[k] + lengths[k],
 * starts[K-1] + lengths[K-1] = lookback. segexport_write checks this. */
#ifndef RP_SEGEXPORT_H
#define RP_SEGEXPORT_H

#include <stdint.h>

#include "core/error.h"
#include "io/recipe.h"

#define RP_SEGEXPORT_FORMAT_VERSION 1

typedef struct rp_segexport_level {
    double rate;        /* the level's compression rate */
    int K;              /* patches per window */
    int32_t *starts;    /* [n_windows x K] */
    int32_t *lengths;   /* [n_windows x K] */
} rp_segexport_level;

typedef struct rp_segexport {
    char *source;       /* data file the windows come from */
    char *split;        /* "train" | "val" | "test" | "all" */
    int lookback, horizon;
    int n_windows;      /* W >= 1 */
    int32_t *channel;   /* [W] */
    int32_t *start_row; /* [W] */
    int n_levels;
    rp_segexport_level levels[RP_MAX_LEVELS];
    char *recipe_text;
} rp_segexport;

/* Writes e (owned by the caller) atomically to path. */
int segexport_write(const char *path, const rp_segexport *e, rp_error *err);

/* Reads an export; every array and string in *e is allocated here: free with segexport_free.
 * On failure *e is left empty (zeroed). */
int segexport_read(const char *path, rp_segexport *e, rp_error *err);
void segexport_free(rp_segexport *e);

#endif
