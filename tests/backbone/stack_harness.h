/* A whole recurrent backbone stack under test, shared by the S7 and ETSMLP suites (header only):
 * the stack's parameters, a batch of inputs, a fixed random linear functional of the output as
 * the loss (gc_dot), and the check of the backward against central finite differences for the
 * input and every trainable tensor.
 *
 * A suite declares its backbone into c->P itself (the union member s or e), then hands the case
 * its stack_ops (forward, backward, activation size of that backbone) with stack_case_buffers. */
#ifndef RP_TESTS_STACK_HARNESS_H
#define RP_TESTS_STACK_HARNESS_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gradcheck.h"
#include "backbone/etsmlp.h"
#include "backbone/s7.h"
#include "core/params.h"

typedef struct stack_case stack_case;

typedef struct stack_ops {
    const char *name;                            /* names the input's check: "<name> stack din" */
    size_t (*act_floats)(const stack_case *c);   /* activation arena for c->B windows */
    void (*forward)(stack_case *c);              /* out = stack(in), c->training, dropout seed c->seed */
    void (*backward)(stack_case *c);             /* din += ∂(r·out)/∂in, P->grad += ∂(r·out)/∂P */
} stack_ops;

struct stack_case {
    union {   /* the backbone under test, declared into P */
        rp_s7 s;
        rp_etsmlp e;
    };
    const stack_ops *ops;
    rp_params P;
    int B, training;
    unsigned long long seed;   /* dropout masks: the same seed, the same function */
    float *in, *out, *act, *r, *din;
    size_t n;                  /* B × K × d */
};

/* The batch of a case whose backbone is already declared into c->P, allocated and initialised:
 * inputs uniform in [−1.5, 1.5) from in_seed, loss weights r uniform in [−1, 1) from r_seed. */
static inline void stack_case_buffers(stack_case *c, const stack_ops *ops, int B, int K, int d, int training,
                                      unsigned long long dropout_seed, uint64_t in_seed, uint64_t r_seed) {
    c->ops = ops;
    c->B = B;
    c->training = training;
    c->seed = dropout_seed;
    c->n = (size_t)B * K * d;
    c->in = malloc(c->n * sizeof(float));
    c->out = malloc(c->n * sizeof(float));
    c->r = malloc(c->n * sizeof(float));
    c->din = calloc(c->n, sizeof(float));
    c->act = malloc(ops->act_floats(c) * sizeof(float));
    gc_fill_uniform(c->in, c->n, in_seed, -1.5, 1.5);
    gc_fill_uniform(c->r, c->n, r_seed, -1.0, 1.0);
}

static inline void stack_case_free(stack_case *c) {
    free(c->in); free(c->out); free(c->r); free(c->din); free(c->act);
    params_free(&c->P);
}

static inline double stack_loss(void *ctx) {
    stack_case *c = ctx;
    c->ops->forward(c);
    return gc_dot(c->r, c->out, c->n);
}

/* Use h = 1e-2 for the stacks: their loss sums ~100 float outputs through several layers, whose
 * rounding noise divided by 2h would otherwise reach the small gradients' allowance (for S7 at
 * h = 1e-3 a few in_proj entries of ~5e-4 miss by 3e-4; at 1e-2 all pass with 10× tighter
 * tolerances too). */
static inline void check_stack_gradients(stack_case *c, gc_options opt) {
    params_zero_grad(&c->P);
    memset(c->din, 0, c->n * sizeof(float));
    c->ops->forward(c);
    c->ops->backward(c);

    /* The analytic gradients are taken before any perturbation touches batch-norm buffers; those
     * only change running statistics, which training-mode outputs do not read. */
    char what[64];
    snprintf(what, sizeof what, "%s stack din", c->ops->name);
    gc_result r = gradcheck(stack_loss, c, c->in, c->din, c->n, opt, what);
    cr_assert(r.ok, "%s", r.msg);
    for (int i = 0; i < c->P.n_tensors; i++) {
        const rp_tensor_info *t = &c->P.tensors[i];
        if (!t->trainable) continue;
        r = gradcheck(stack_loss, c, c->P.value + t->offset, c->P.grad + t->offset, t->count, opt, t->name);
        cr_assert(r.ok, "%s", r.msg);
    }
}

#endif
