/*
 * The device side of PROTOCOL.md: checks a received frame, suppresses
 * retransmitted requests, runs the command and builds the response frame.
 *
 * The dispatcher knows nothing of boards: what it needs from one (name,
 * arena, counter, stack figures) comes in a proto_env of plain values and
 * function pointers, filled by app/ (or by a unit test).
 */
#ifndef TIFED_DISPATCH_H
#define TIFED_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/net.h"
#include "protocol/frame_rx.h"
#include "protocol/wire.h"

typedef struct {
    const char *board_name;
    uint8_t *arena;                 /* 4-byte aligned */
    uint32_t arena_bytes;
    uint32_t counter_kind;          /* 0 none, 1 instructions, 2 cycles */
    uint64_t (*counter_read)(void); /* NULL: no counter */
    uint32_t (*stack_peak)(void);   /* NULL: not measured */
    uint32_t (*stack_size)(void);   /* NULL: not measured */
} proto_env;

typedef struct {
    proto_env env;
    tifed_net net;
    /* The last response sent for an executed request; a request with the
     * same (seq, code) and the same bytes (same CRC) gets these bytes again
     * and is not executed twice. The CRC in the key makes a new request that
     * merely reuses the (seq, code) of the last one (a harness restarted
     * mid-session) execute instead of getting a stale answer. */
    uint8_t resp[WIRE_RAW_MAX];
    size_t resp_len;
    int have_last;
    uint8_t last_seq, last_code;
    uint16_t last_crc;
    /* NAKs and BAD_VERSION answers go here, so they never replace the
     * stored response. */
    uint8_t small[WIRE_HEADER + 1u + WIRE_CRC];
    uint32_t frames_ok, frames_bad;
    /* The harness's session token (SESSION): 0 from power-on, RAM only, so
     * a reset always clears it and a rebooted device cannot pass for one
     * that still holds what the harness gave it. */
    uint32_t session;
} proto_state;

void proto_init(proto_state *st, const proto_env *env);

/* One decoded raw frame from the receiver. Sets *resp to the raw response
 * frame (CRC included, not yet COBS-encoded) and returns its length. */
size_t proto_handle_frame(proto_state *st, const uint8_t *frame, size_t len, const uint8_t **resp);

/* The receiver dropped a frame (RX_BAD or RX_TOO_LARGE): the NAK to send. */
size_t proto_handle_rx_error(proto_state *st, rx_event event, const uint8_t **resp);

/* COBS-encode a raw frame and append the 0x00 delimiter; `out` needs
 * WIRE_ENCODED_MAX bytes. Returns the bytes to write. */
size_t proto_encode_frame(const uint8_t *raw, size_t n, uint8_t *out);

/* Runs one command (commands.c): reads the request payload, writes the
 * response payload after the status byte into out (room for
 * TIFED_MAX_PAYLOAD - 1 bytes) and returns the status. */
uint8_t proto_execute(proto_state *st, uint8_t code, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n);

#endif
