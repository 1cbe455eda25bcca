/* Seeded random numbers: xoshiro256** seeded through splitmix64.
 * A generator is a plain value (copy it to snapshot, store its state in a checkpoint).
 * rng_seed(seed, stream) gives independent streams, so per-window randomness can be derived from
 * (seed, step, window) and stays identical whatever the thread count. */
#ifndef RP_RNG_H
#define RP_RNG_H

#include <stdint.h>

typedef struct rp_rng {
    uint64_t s[4];
} rp_rng;

void rng_seed(rp_rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(rp_rng *r);
double rng_uniform(rp_rng *r);           /* [0, 1) with 53 random bits */
double rng_uniform_open(rp_rng *r);      /* (0, 1): safe for log() */
double rng_normal(rp_rng *r);            /* standard normal (Box-Muller, no cached state) */
uint64_t rng_below(rp_rng *r, uint64_t n); /* uniform integer in [0, n), unbiased */
double rng_gumbel(rp_rng *r);            /* standard Gumbel: -log(-log U), U = rng_uniform_open */
/* out[0..n) = n standard Gumbels, the same values as n calls of rng_gumbel, in less time (the
 * logarithms are core/mathd.h's, in a loop that vectorises). The caller owns out. */
void rng_gumbels(rp_rng *r, double *out, int n);
void rng_shuffle_int(rp_rng *r, int *a, int n);

#endif
