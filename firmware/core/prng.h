/*
 * The feedback PRNG of models/README.md: a counter-based hash, so entry i of
 * the stream needs no state and every entry costs a few 32-bit multiplies.
 */
#ifndef TIFED_PRNG_H
#define TIFED_PRNG_H

#include <stdint.h>

/* "lowbias32" integer hash (C. Wellons). */
uint32_t prng_mix32(uint32_t x);

/* r of algorithm.md: entries of B_l are uniform in [-r, r-1]. */
uint32_t prng_feedback_range(uint32_t classes, uint32_t units);

/* Entry i of the stream keyed by key = prng_mix32(seed), for range r. */
int16_t prng_feedback_value(uint32_t key, uint32_t i, uint32_t r);

#endif
