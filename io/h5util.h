/* Small HDF5 helpers shared by the checkpoint, patcher and segmentation-export files.
 *
 * Every helper returns 0 on success and -1 with err set; messages name the file and the object,
 * e.g. "runs/x/ckpt.h5:/params/head/w: cannot read dataset". The C API's automatic error
 * printing is switched off (h5_quiet) so that nothing is printed from library code; when HDF5
 * itself knows what went wrong, its innermost message is appended in parentheses.
 *
 * Types on disk are fixed little-endian (I32LE, I64LE, U64LE, F32LE, F64LE) whatever the host;
 * strings are variable-length UTF-8, which h5py returns as str and h5dump prints quoted.
 * Readers accept fixed-length strings too.
 *
 * Files are written atomically: h5_atomic_create builds the file in memory (HDF5's core driver)
 * and creates an empty "<path>.tmp.<pid>"; h5_atomic_commit writes the image there, fsyncs it,
 * renames it over path and fsyncs the directory, so a crash or a full disk at any moment leaves
 * either the old file or the new one, whole, and never a temporary file after a failure. */
#ifndef RP_H5UTIL_H
#define RP_H5UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "core/error.h"

/* The library version every file records as its root attribute library_version. */
#ifndef RP_LIBRARY_VERSION
#define RP_LIBRARY_VERSION "0.1.0"
#endif

#define RP_H5_TMP_MAX 1100

/* Switches off HDF5's automatic error printing (idempotent; call at every public entry). */
void h5_quiet(void);

/* Copies the innermost message of HDF5's current error stack into buf ("" when empty) and
 * clears the stack. */
void h5_last_error(char *buf, size_t size);

/* "<file>:<object path>" for messages. */
void h5_where(hid_t obj, char *buf, size_t size);

/* ---- atomic files ---- */

/* Creates "<path>.tmp.<pid>" empty (truncating a leftover) and an in-memory HDF5 file; returns
 * its id, the temporary name in tmp (RP_H5_TMP_MAX bytes); a negative id on failure (an
 * unwritable directory: "cannot write PATH: Permission denied"). */
hid_t h5_atomic_create(const char *path, char *tmp, rp_error *err);
/* Writes file's image to tmp, fsyncs it, closes file, renames tmp over path, fsyncs the
 * directory. On failure ("cannot write PATH: File too large (left as it was)") tmp is removed
 * and path left as it was. */
int h5_atomic_commit(hid_t file, const char *tmp, const char *path, rp_error *err);
/* Closes file (if >= 0) and removes tmp: the failure path of a write. */
void h5_atomic_abort(hid_t file, const char *tmp);
/* The root attributes every reinpatch file starts with, which h5_open_checked reads back:
 * reinpatch_kind, format_version and library_version (RP_LIBRARY_VERSION). */
int h5_write_kind(hid_t file, const char *kind, int format_version, rp_error *err);

/* ---- reading: open with checks ---- */

/* Opens path read-only after checking, in this order: the file exists; it is HDF5
 * ("x.h5: not an HDF5 file"); it opens (a truncated file says so); its root attribute
 * reinpatch_kind equals kind ("x.h5 is a patcher file, not a checkpoint"); its format_version is
 * at most max_version ("x.h5: written by format version 3; this build reads up to 1").
 * kind NULL skips the kind check. The version read is stored in *version (may be NULL).
 * Returns the file id, or a negative id with err set. Never modifies the file. */
hid_t h5_open_checked(const char *path, const char *kind, int max_version, int *version,
                      rp_error *err);
/* "a checkpoint", "a patcher file", "a segmentation export" or "a '<kind>' file". */
const char *h5_kind_noun(const char *kind, char *buf, size_t size);

/* ---- groups ---- */

/* Creates every missing group along path ("a/b/c", relative to loc or absolute). */
int h5_create_groups(hid_t loc, const char *path, rp_error *err);
/* 1 when the link path exists (every component checked), 0 when it does not. */
int h5_exists(hid_t loc, const char *path);
/* Opens group `name` of file (read from `path`, for the message); caller closes it (H5Gclose).
 * A negative id with "PATH: missing group NAME" or "PATH: NAME is not a group". */
hid_t h5_open_group(hid_t file, const char *path, const char *name, rp_error *err);

/* ---- attributes (scalars on any object: file, group or dataset) ---- */

int h5_write_attr_string(hid_t obj, const char *name, const char *value, rp_error *err);
int h5_write_attr_int(hid_t obj, const char *name, int value, rp_error *err);
int h5_write_attr_int64(hid_t obj, const char *name, long long value, rp_error *err);
int h5_write_attr_double(hid_t obj, const char *name, double value, rp_error *err);
/* *value is malloc'd; the caller frees it. */
int h5_read_attr_string(hid_t obj, const char *name, char **value, rp_error *err);
int h5_read_attr_int(hid_t obj, const char *name, int *value, rp_error *err);
/* An attribute newer files carry and older ones lack: *value = absent when it is missing. */
int h5_read_attr_int_or(hid_t obj, const char *name, int absent, int *value, rp_error *err);
int h5_read_attr_int64(hid_t obj, const char *name, long long *value, rp_error *err);
int h5_read_attr_double(hid_t obj, const char *name, double *value, rp_error *err);

/* ---- datasets (contiguous, row-major; missing parent groups are created on write) ---- */

int h5_write_float(hid_t loc, const char *path, int ndim, const hsize_t *dims, const float *data,
                   rp_error *err);
int h5_write_double(hid_t loc, const char *path, int ndim, const hsize_t *dims,
                    const double *data, rp_error *err);
int h5_write_int32(hid_t loc, const char *path, int ndim, const hsize_t *dims,
                   const int32_t *data, rp_error *err);
int h5_write_uint64(hid_t loc, const char *path, int ndim, const hsize_t *dims,
                    const uint64_t *data, rp_error *err);
int h5_write_int64(hid_t loc, const char *path, int ndim, const hsize_t *dims,
                   const int64_t *data, rp_error *err);
/* A scalar variable-length string dataset. */
int h5_write_string(hid_t loc, const char *path, const char *text, rp_error *err);

/* Shape of a dataset: *ndim and dims[0 .. max_dims). An error when absent or of higher rank, and
 * when the dataset is not compact or contiguous with exactly shape x element bytes stored: a
 * shape is believed only when the file holds its values, so a reader may size arrays by it. */
int h5_dataset_shape(hid_t loc, const char *path, int *ndim, hsize_t *dims, int max_dims,
                     rp_error *err);
/* h5_dataset_shape, then an error naming both shapes unless it is exactly dims[0 .. ndim). */
int h5_expect_shape(hid_t loc, const char *path, int ndim, const hsize_t *dims, rp_error *err);
/* The largest number element a reader accepts, in bytes (long double). */
#define RP_H5_NUMBER_MAX 16
/* Reads a whole dataset into data as mem_type (H5T_NATIVE_FLOAT, ...) after checking that its
 * shape is exactly dims[0 .. ndim) (a mismatch names both shapes) and that its elements are
 * numbers of the same class, at most RP_H5_NUMBER_MAX bytes each. */
int h5_read_checked(hid_t loc, const char *path, hid_t mem_type, int ndim, const hsize_t *dims,
                    void *data, rp_error *err);
/* Reads a scalar string dataset; *text is malloc'd, the caller frees it. */
int h5_read_string(hid_t loc, const char *path, char **text, rp_error *err);
/* The same from a file of `kind` (opened and checked by h5_open_checked, then closed). */
int h5_read_file_string(const char *file_path, const char *kind, int max_version, const char *path, char **text,
                        rp_error *err);

/* Formats a shape as "[16 x 48]" (or "[]" for a scalar). */
void h5_format_shape(char *buf, size_t size, int ndim, const hsize_t *dims);

/* Names (relative to the group at path) of every dataset under it, depth-first in creation or
 * name order. *names is an array of *count malloc'd strings; free with h5_free_names. A missing
 * group gives zero names. */
int h5_list_datasets(hid_t loc, const char *path, char ***names, int *count, rp_error *err);
void h5_free_names(char **names, int count);

#endif
