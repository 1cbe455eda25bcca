/* Activation arenas: one float buffer per forward call of a layer stack, which its backward reads
 * back. A stack's arena is a 16-float header (the mode the forward ran in), a copy of the stack's
 * input, one block per layer, then workspace; every block starts on a 16-float (64-byte) boundary.
 * The layouts are planned here once, so the backbones differ only in the blocks they name. */
#ifndef RP_ARENA_H
#define RP_ARENA_H

#include <stddef.h>

static inline size_t rp_align16(size_t floats) { return (floats + 15) & ~(size_t)15; }

/* A layout being planned: layout_take reserves a block of `floats` and returns its offset. */
typedef struct rp_layout {
    size_t total;
} rp_layout;

static inline size_t layout_take(rp_layout *l, size_t floats) {
    size_t at = l->total;
    l->total += rp_align16(floats);
    return at;
}

/* The part of a stack's arena that every stack has. */
typedef struct rp_stack_frame {
    size_t input;       /* the forward's input, copied */
    size_t layers;      /* layer l's block starts at layers + l · layer_size */
    size_t layer_size;  /* floats per layer block (a multiple of 16) */
} rp_stack_frame;

/* Reserves, in an empty layout, the header, the input copy and n_layers blocks of layer_floats. */
static inline rp_stack_frame stack_frame(rp_layout *l, size_t input_floats, size_t layer_floats, int n_layers) {
    rp_stack_frame f;
    layout_take(l, 16); /* the header */
    f.input = layout_take(l, input_floats);
    f.layer_size = rp_align16(layer_floats);
    f.layers = l->total;
    l->total += f.layer_size * (size_t)n_layers;
    return f;
}

static inline size_t stack_layer_at(const rp_stack_frame *f, int layer) {
    return f->layers + (size_t)layer * f->layer_size;
}

/* The header: whether the forward ran in training mode, its batch, and whether it kept what a
 * backward reads (0 after a scoring pass, core/kinds.h). */
static inline void stack_header_write(float *act, int training, int batch) {
    act[0] = (float)training;
    act[1] = (float)batch;
    act[2] = 1.0f;
}

static inline int stack_header_training(const float *act) { return act[0] != 0.0f; }
static inline void stack_header_mark_scored(float *act) { act[2] = 0.0f; }
static inline int stack_header_backward_ready(const float *act) { return act[2] != 0.0f; }

#endif
