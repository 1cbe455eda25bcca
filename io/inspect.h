/* `reinpatch inspect`: a human-readable summary of any reinpatch HDF5 file (checkpoint, patcher
 * or segmentation export): its kind, format and library version, run state, level stack,
 * parameter counts per top-level module, and the first lines of the recipe. */
#ifndef RP_INSPECT_H
#define RP_INSPECT_H

#include <stdio.h>

#include "core/error.h"

/* Prints the summary of path to out. Errors (not HDF5, not a reinpatch file, truncated, ...) are
 * the same as when loading. A file from a newer format version is summarised as far as it can
 * be read, with a note. */
int h5_inspect(const char *path, FILE *out, rp_error *err);

#endif
