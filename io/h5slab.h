/* A parameter slab (core/params.h) in an HDF5 group: one float dataset per tensor, named by the
 * tensor's module path (/params/backbone/layers/0/attn/w_qkv). The checkpoint holds four such
 * groups (values, both Adam moments, best weights), a patcher one (the policy tensors alone). */
#ifndef RP_H5SLAB_H
#define RP_H5SLAB_H

#include "core/params.h"
#include "io/h5util.h"

/* Which of P's tensors a group holds: 1 for a tensor it holds; NULL means every tensor. */
typedef int (*rp_tensor_filter)(const char *name);

/* Writes the selected tensors of P, their values read from slab (P's offsets), as /group/<name>. */
int h5slab_write(hid_t file, const char *group, const rp_params *P, const float *slab, rp_tensor_filter keep,
                 rp_error *err);
/* Checks that /group holds exactly the selected tensors of P, with P's shapes. Messages name path,
 * the tensor and what the file is (`file_kind`: "file", "patcher"):
 * "... tensor 'head/w' has shape [96 x 672] in the file, the model declares [96 x 1344]". */
int h5slab_check(hid_t file, const char *path, const char *file_kind, const char *group, const rp_params *P,
                 rp_tensor_filter keep, rp_error *err);
/* Reads the selected tensors of /group into slab (P's offsets); the others are left as they are. */
int h5slab_read(hid_t file, const char *group, const rp_params *P, float *slab, rp_tensor_filter keep,
                rp_error *err);

#endif
