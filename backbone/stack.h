/* What the three layer stacks (transformer, s7, etsmlp) share beyond their arenas (core/arena.h):
 * the check of the arguments every one of them declares with. */
#ifndef RP_STACK_H
#define RP_STACK_H

#include "core/error.h"
#include "core/kinds.h"

/* 0 when n_tokens, d_model and the stack's own size (`size_name`: d_ff, state_size, expand) are
 * positive, n_layers lies in 1..max_layers, dropout in [0, 1) and norm is a known kind; else -1
 * with a message that names prefix and the offending value. */
int stack_check_args(const char *prefix, int n_tokens, int d_model, const char *size_name, int size, int n_layers,
                     int max_layers, float dropout, rp_norm_kind norm, rp_error *err);

#endif
