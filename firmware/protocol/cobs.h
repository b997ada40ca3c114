/* Consistent Overhead Byte Stuffing (Cheshire & Baker), as Python's `cobs`. */
#ifndef TIFED_COBS_H
#define TIFED_COBS_H

#include <stddef.h>
#include <stdint.h>

/* Encode n bytes; `out` needs n + n / 254 + 1 bytes. Returns the encoded
 * length (no zero byte in the output, no delimiter appended). */
size_t cobs_encode(const uint8_t *in, size_t n, uint8_t *out);

/* Decode n bytes into out (capacity cap; out may equal in: decoding in place
 * is safe). Returns 0 and sets *out_len, or -1 on a zero byte in the input,
 * a block running past the end, or an output longer than cap. */
int cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len);

#endif
