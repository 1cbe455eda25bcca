#include "core/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void params_init(rp_params *p) { memset(p, 0, sizeof *p); }

size_t params_declare(rp_params *p, const char *name, int ndim, const int *shape, rp_error *err) {
    if (p->value) {
        rp_fail(err, "parameter '%s' declared after allocation", name);
        return (size_t)-1;
    }
    if (ndim < 1 || ndim > RP_PARAM_MAX_DIMS) {
        rp_fail(err, "parameter '%s': %d dimensions (1..%d allowed)", name, ndim, RP_PARAM_MAX_DIMS);
        return (size_t)-1;
    }
    if (strlen(name) >= RP_PARAM_NAME_MAX) {
        rp_fail(err, "parameter name too long: '%s'", name);
        return (size_t)-1;
    }
    if (params_find(p, name)) {
        rp_fail(err, "parameter '%s' declared twice", name);
        return (size_t)-1;
    }
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) {
            rp_fail(err, "parameter '%s': dimension %d is %d", name, i, shape[i]);
            return (size_t)-1;
        }
        count *= (size_t)shape[i];
    }
    if (p->n_tensors == p->cap_tensors) {
        int cap = p->cap_tensors ? 2 * p->cap_tensors : 64;
        rp_tensor_info *t = realloc(p->tensors, (size_t)cap * sizeof *t);
        if (!t) {
            rp_fail(err, "out of memory declaring parameter '%s'", name);
            return (size_t)-1;
        }
        p->tensors = t;
        p->cap_tensors = cap;
    }
    rp_tensor_info *t = &p->tensors[p->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    /* Align each tensor to 16 floats (64 bytes) so SIMD loads of a tensor start on a line. */
    t->offset = (p->total + 15) & ~(size_t)15;
    t->count = count;
    t->trainable = 1;
    p->total = t->offset + count;
    return t->offset;
}

size_t params_declare_buffer(rp_params *p, const char *name, int ndim, const int *shape, rp_error *err) {
    size_t off = params_declare(p, name, ndim, shape, err);
    if (off != (size_t)-1) p->tensors[p->n_tensors - 1].trainable = 0;
    return off;
}

size_t params_declare1(rp_params *p, const char *name, int n0, rp_error *err) {
    int shape[1] = {n0};
    return params_declare(p, name, 1, shape, err);
}

size_t params_declare2(rp_params *p, const char *name, int n0, int n1, rp_error *err) {
    int shape[2] = {n0, n1};
    return params_declare(p, name, 2, shape, err);
}

int params_alloc(rp_params *p, rp_error *err) {
    size_t n = p->total ? p->total : 1;
    p->value = rp_calloc(n, sizeof(float), err);
    p->grad = rp_calloc(n, sizeof(float), err);
    p->adam_m = rp_calloc(n, sizeof(float), err);
    p->adam_v = rp_calloc(n, sizeof(float), err);
    if (!p->value || !p->grad || !p->adam_m || !p->adam_v) return -1;
    return 0;
}

void params_zero_grad(rp_params *p) {
    if (p->grad) memset(p->grad, 0, p->total * sizeof(float));
}

const rp_tensor_info *params_find(const rp_params *p, const char *name) {
    for (int i = 0; i < p->n_tensors; i++)
        if (strcmp(p->tensors[i].name, name) == 0) return &p->tensors[i];
    return NULL;
}

size_t params_count_prefix(const rp_params *p, const char *prefix) {
    size_t n = 0, len = strlen(prefix);
    for (int i = 0; i < p->n_tensors; i++)
        if (strncmp(p->tensors[i].name, prefix, len) == 0) n += p->tensors[i].count;
    return n;
}

const rp_tensor_info *params_first_nonfinite(const rp_params *p, const float *slab) {
    for (int i = 0; i < p->n_tensors; i++) {
        const rp_tensor_info *t = &p->tensors[i];
        const float *v = slab + t->offset;
        /* A running sum of v * 0 stays 0 for finite values and turns NaN at the first NaN or
         * infinity (NaN != 0): one branch-free pass. */
        float acc = 0.0f;
        for (size_t k = 0; k < t->count; k++) acc += v[k] * 0.0f;
        if (acc != 0.0f) return t;
    }
    return NULL;
}

void params_free(rp_params *p) {
    free(p->tensors);
    free(p->value);
    free(p->grad);
    free(p->adam_m);
    free(p->adam_v);
    memset(p, 0, sizeof *p);
}
