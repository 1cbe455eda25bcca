/* Parameters as one flat slab per role, llm.c style.
 *
 * Building a model is two phases:
 *   1. declare: every layer calls params_declare(name, shape) and keeps the returned offset;
 *   2. params_alloc: one allocation each for values, gradients and the two Adam moments.
 * A tensor is then P->value + off, its gradient P->grad + off, its moments P->adam_m + off, ...
 * Checkpoints loop over P->tensors (name, shape, offset): the names are module paths such as
 * "backbone/layers/0/attn/w_qkv", which become HDF5 dataset paths.
 *
 * Ownership: rp_params owns everything it allocates; params_free releases it. */
#ifndef RP_PARAMS_H
#define RP_PARAMS_H

#include <stddef.h>

#include "core/error.h"

#define RP_PARAM_NAME_MAX 128
#define RP_PARAM_MAX_DIMS 4

typedef struct rp_tensor_info {
    char name[RP_PARAM_NAME_MAX];
    int ndim;
    int shape[RP_PARAM_MAX_DIMS];
    size_t offset;  /* in floats, into each slab */
    size_t count;   /* product of shape */
    int trainable;  /* 0 for buffers such as batch-norm running statistics: saved, never stepped */
} rp_tensor_info;

typedef struct rp_params {
    rp_tensor_info *tensors;
    int n_tensors, cap_tensors;
    size_t total;        /* floats per slab */
    float *value;        /* [total] */
    float *grad;         /* [total], backward passes accumulate (+=) into it */
    float *adam_m;       /* [total] first moment */
    float *adam_v;       /* [total] second moment */
} rp_params;

void params_init(rp_params *p);
/* Declares a tensor; returns its offset. On a bad name or shape it records nothing and returns
 * (size_t)-1 with err set. Names must be unique. */
size_t params_declare(rp_params *p, const char *name, int ndim, const int *shape, rp_error *err);
/* A non-trainable tensor (checkpointed, skipped by the optimizer). */
size_t params_declare_buffer(rp_params *p, const char *name, int ndim, const int *shape, rp_error *err);
/* Shorthands for 1-D and 2-D tensors. */
size_t params_declare1(rp_params *p, const char *name, int n0, rp_error *err);
size_t params_declare2(rp_params *p, const char *name, int n0, int n1, rp_error *err);
/* Allocates the four slabs, zero-filled. */
int params_alloc(rp_params *p, rp_error *err);
void params_zero_grad(rp_params *p);
/* Tensor lookup by name; NULL when absent. */
const rp_tensor_info *params_find(const rp_params *p, const char *name);
/* Sum of counts of tensors whose name starts with prefix ("" for all). */
size_t params_count_prefix(const rp_params *p, const char *prefix);
/* The first tensor of p whose part of slab (laid out like p->value: slab + tensor offset) holds a
 * NaN or an infinity, or NULL when all of it is finite. */
const rp_tensor_info *params_first_nonfinite(const rp_params *p, const float *slab);
void params_free(rp_params *p);

#endif
