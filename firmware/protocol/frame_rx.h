/*
 * Byte-at-a-time frame receiver. It buffers the COBS bytes of one frame up
 * to the 0x00 delimiter, then decodes them in place. A frame longer than the
 * buffer is dropped whole (nothing is written past the buffer) and reported
 * once, at its delimiter; every zero byte starts a fresh frame, which is how
 * the receiver resynchronises after garbage.
 */
#ifndef TIFED_FRAME_RX_H
#define TIFED_FRAME_RX_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/wire.h"

typedef enum {
    RX_NONE,      /* nothing complete yet (or an empty frame: ignored) */
    RX_FRAME,     /* a decoded raw frame is ready */
    RX_BAD,       /* the bytes were not valid COBS */
    RX_TOO_LARGE  /* longer than the buffer; dropped */
} rx_event;

typedef struct {
    uint8_t buf[WIRE_COBS_MAX(WIRE_RAW_MAX)];
    size_t len;
    int overflow;
} frame_rx;

void frame_rx_init(frame_rx *rx);

/* Feed one byte. On RX_FRAME, *frame and *len give the decoded raw frame
 * (valid until the next call). */
rx_event frame_rx_push(frame_rx *rx, uint8_t byte, const uint8_t **frame, size_t *len);

#endif
