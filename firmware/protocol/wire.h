/*
 * Constants of PROTOCOL.md and little-endian field access. Frames are byte
 * arrays; fields are read and written byte by byte, so the code is the same
 * on every endianness and never makes an unaligned access.
 */
#ifndef TIFED_WIRE_H
#define TIFED_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "core/tifed_limits.h"

/* Raw frame: version, seq, code, payload, CRC16 (little-endian). */
#define WIRE_HEADER 3u
#define WIRE_CRC 2u
#define WIRE_RAW_MAX (WIRE_HEADER + TIFED_MAX_PAYLOAD + WIRE_CRC)
/* COBS adds one byte per started 254-byte block; plus the 0x00 delimiter. */
#define WIRE_COBS_MAX(n) ((n) + (n) / 254u + 1u)
#define WIRE_ENCODED_MAX (WIRE_COBS_MAX(WIRE_RAW_MAX) + 1u)

/* Payload bytes of a response after its status byte. */
#define WIRE_RESPONSE_ROOM (TIFED_MAX_PAYLOAD - 1u)

#define WIRE_RESPONSE_BIT 0x80u
#define WIRE_NAK_CODE 0xFFu

enum wire_command {
    CMD_IDENTIFY = 0x01,
    CMD_CONFIGURE = 0x02,
    CMD_WRITE_TENSOR = 0x03,
    CMD_READ_TENSOR = 0x04,
    CMD_SET_FEEDBACK_SEED = 0x05,
    CMD_WRITE_SAMPLES = 0x06,
    CMD_TRAIN = 0x07,
    CMD_PREDICT = 0x08,
    CMD_STATS = 0x09,
    CMD_RESET = 0x0A,
    CMD_SESSION = 0x10,
    /* protocol 2 */
    CMD_DIGEST = 0x0B,
    CMD_WRITE_DELTA = 0x0C,
    CMD_READ_LOW_BITS = 0x0D,
    CMD_WRITE_SAMPLES_CODED = 0x0E
};

enum wire_status {
    ST_OK = 0,
    ST_BAD_CRC = 1,
    ST_BAD_VERSION = 2,
    ST_UNKNOWN = 3,
    ST_BAD_LENGTH = 4,
    ST_BAD_ARGUMENT = 5,
    ST_NO_ROOM = 6,
    ST_BAD_STATE = 7,
    ST_TOO_LARGE = 8,
    ST_BAD_CODE = 9 /* protocol 2: a compact code truncated, corrupt or with bytes left over */
};

static inline uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* The int32 whose two's complement pattern is u. */
static inline int32_t i32_of(uint32_t u)
{
    return u <= 0x7FFFFFFFu ? (int32_t)u : -(int32_t)(~u) - 1;
}

/* Two's complement reinterpretation without implementation-defined casts. */
static inline int32_t get_i32(const uint8_t *p)
{
    return i32_of(get_u32(p));
}

static inline void put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline void put_i32(uint8_t *p, int32_t v)
{
    put_u32(p, (uint32_t)v);
}

#endif
