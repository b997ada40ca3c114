/*
 * What both fuzz targets share: a dispatcher on a small static arena (small,
 * so CONFIGURE's NO_ROOM path is easy to reach and any model that fits
 * trains fast) and checks of every response the device would send.
 * A failed check calls __builtin_trap(), which libFuzzer reports as a crash
 * and saves the input that caused it.
 */
#ifndef TIFED_FUZZ_ENV_H
#define TIFED_FUZZ_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/dispatch.h"

#define FUZZ_ARENA_BYTES 16384u

/* A fresh device, as after power-on. */
void fuzz_start(proto_state *st);

/* The response the dispatcher built (raw, CRC included) must be a frame a
 * server can read: at most WIRE_RAW_MAX bytes, version 1, a status byte, a
 * correct CRC, and, COBS-encoded, no zero byte but its final delimiter that
 * decodes back to the same bytes. */
void fuzz_check_response(const uint8_t *raw, size_t n);

#define FUZZ_CHECK(cond)          \
    do {                          \
        if (!(cond))              \
            __builtin_trap();     \
    } while (0)

#endif
