#include "protocol/crc16.h"

/* A 16-entry table, one nibble at a time: 32 bytes of flash instead of 512,
 * and still only two lookups per byte. */
static const uint16_t nibble_table[16] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50A5, 0x60C6, 0x70E7,
    0x8108, 0x9129, 0xA14A, 0xB16B, 0xC18C, 0xD1AD, 0xE1CE, 0xF1EF,
};

uint16_t crc16_ccitt_false(const uint8_t *data, size_t n)
{
    uint16_t crc = 0xFFFFu;
    size_t i;
    for (i = 0; i < n; i++) {
        crc = (uint16_t)((crc << 4) ^ nibble_table[(crc >> 12) ^ (data[i] >> 4)]);
        crc = (uint16_t)((crc << 4) ^ nibble_table[(crc >> 12) ^ (data[i] & 0x0Fu)]);
    }
    return crc;
}
