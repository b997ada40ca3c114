/* CRC-64/XZ of DIGEST (crc64.c). Start with CRC64_INIT, feed bytes with
 * crc64_update, finish with crc64_final. */
#ifndef TIFED_CRC64_H
#define TIFED_CRC64_H

#include <stddef.h>
#include <stdint.h>

#define CRC64_INIT (~(uint64_t)0)

uint64_t crc64_update(uint64_t crc, const uint8_t *p, size_t n);

static inline uint64_t crc64_final(uint64_t crc)
{
    return ~crc;
}

#endif
