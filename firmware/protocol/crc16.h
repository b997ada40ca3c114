/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR
 * (check value of "123456789" = 0x29B1). */
#ifndef TIFED_CRC16_H
#define TIFED_CRC16_H

#include <stddef.h>
#include <stdint.h>

uint16_t crc16_ccitt_false(const uint8_t *data, size_t n);

#endif
