#include "protocol/frame_rx.h"

#include "protocol/cobs.h"

void frame_rx_init(frame_rx *rx)
{
    rx->len = 0;
    rx->overflow = 0;
}

rx_event frame_rx_push(frame_rx *rx, uint8_t byte, const uint8_t **frame, size_t *len)
{
    size_t n, decoded;
    int overflow;
    if (byte != 0u) {
        if (rx->len < sizeof rx->buf)
            rx->buf[rx->len++] = byte;
        else
            rx->overflow = 1;
        return RX_NONE;
    }
    n = rx->len;
    overflow = rx->overflow;
    frame_rx_init(rx);
    if (overflow)
        return RX_TOO_LARGE;
    if (n == 0u)
        return RX_NONE;
    /* The decoded frame is shorter than its encoding, so it always fits. */
    if (cobs_decode(rx->buf, n, rx->buf, sizeof rx->buf, &decoded) != 0)
        return RX_BAD;
    if (decoded > WIRE_RAW_MAX)
        return RX_TOO_LARGE;
    *frame = rx->buf;
    *len = decoded;
    return RX_FRAME;
}
