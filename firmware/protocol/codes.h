/*
 * Protocol 2's codes on the device (PROTOCOL.md "Protocol 2"): reading the
 * MSB-first bit code of WRITE_DELTA and WRITE_SAMPLES_CODED, packing the
 * low bits of READ_LOW_BITS. Nothing here allocates: a reader is three
 * words on the stack over the request's own bytes.
 */
#ifndef TIFED_CODES_H
#define TIFED_CODES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *p;
    size_t bits; /* bits in the code */
    size_t pos;  /* next bit */
} bit_reader;

void br_init(bit_reader *br, const uint8_t *p, size_t n);

/* The next `count` (0..32) bits as a number, MSB first. -1 past the end. */
int br_read(bit_reader *br, uint32_t count, uint32_t *out);

/* One Rice code with parameter k (0..31): q zero bits, a one bit, k low
 * bits, value (q << k) | low. -1 past the end or when the value would
 * leave 32 bits. */
int br_rice(bit_reader *br, uint32_t k, uint32_t *out);

/* 0 when the code ends here: fewer than 8 bits left, all of them zero. */
int br_finish(const bit_reader *br);

/* Zig-zag decoding: 0, 1, 2, 3, ... -> 0, -1, 1, -2, ... as a 32-bit
 * two's complement pattern (the caller adds it modulo 2^32). */
static inline uint32_t unzigzag32(uint32_t z)
{
    return (z >> 1) ^ (0u - (z & 1u));
}

#endif
