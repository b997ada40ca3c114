/* Test fixture: a dispatcher with fake board functions, and request helpers
 * that build frames, run them and check the response frame's envelope. */
#ifndef TIFED_TEST_SUPPORT_PROTO_H
#define TIFED_TEST_SUPPORT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/dispatch.h"
#include "protocol/wire.h"

#define FIXTURE_ARENA_BYTES 65536u

extern proto_state st;
extern unsigned counter_reads;              /* calls of the fake counter */
extern uint8_t frame_buf[WIRE_RAW_MAX + 16]; /* the last request built */

typedef struct {
    uint8_t seq, code, status;
    const uint8_t *body; /* after the status byte */
    size_t body_len;
    const uint8_t *raw;
    size_t raw_len;
} response;

/* A fresh dispatcher: 64 KiB arena reported as arena_bytes, board
 * "test-board", instruction counter 1000, 1500, 2000, ... per read, stack
 * peak 123 of 4096. setup() is start(64 KiB) as a cmocka setup. */
void start(uint32_t arena_bytes);
int setup(void **state);

/* Check a response frame's CRC and version and split it. */
response parse(const uint8_t *raw, size_t n);

/* Build a raw request frame in frame_buf; returns its length. */
size_t build(uint8_t version, uint8_t seq, uint8_t code, const uint8_t *payload, size_t n);

/* Hand frame_buf[0..len) to the dispatcher. */
response send_frame(size_t len);

/* A request with this seq (response seq and code checked), or with the
 * next seq of a private counter (req). */
response request(uint8_t seq, uint8_t code, const uint8_t *payload, size_t n);
response req(uint8_t code, const uint8_t *payload, size_t n);

response configure(uint32_t n_layers, const uint16_t *dims, uint16_t buffer_cap, uint16_t batch_cap);
/* The same with CONFIGURE's optional weight_bits byte (none when < 0). */
response configure_bits(uint32_t n_layers, const uint16_t *dims, uint16_t buffer_cap, uint16_t batch_cap,
                        int weight_bits);
response read_tensor(uint8_t id, uint32_t offset, uint16_t count);
response write_tensor(uint8_t id, uint32_t offset, const int32_t *v, uint16_t count); /* count <= 16 */
response train(uint16_t n, uint16_t batch, uint16_t epochs, uint32_t lr_inv, int8_t layer);

/* 2-2 model, buffer 4, batch 4, sample 0 = (label 0, x = (3, -5)). */
void tiny_model(void);

#endif
