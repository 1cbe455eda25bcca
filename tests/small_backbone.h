/* The backbone size of the small models the tests train (header only). */
#ifndef RP_TESTS_SMALL_BACKBONE_H
#define RP_TESTS_SMALL_BACKBONE_H

#include "io/recipe.h"

/* Sets the backbone's width, heads, layers, feed-forward width and dropout; the rest of
 * r->backbone (kind, norm, head, S7/ETSMLP sizes) stays as it is. */
static inline void small_backbone(rp_recipe *r, int d_model, int n_heads, int n_layers, int d_ff, double dropout) {
    r->backbone.d_model = d_model;
    r->backbone.n_heads = n_heads;
    r->backbone.n_layers = n_layers;
    r->backbone.d_ff = d_ff;
    r->backbone.dropout = dropout;
}

#endif
