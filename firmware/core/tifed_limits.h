/*
 * Static limits of the firmware, in one place. A board may lower
 * TIFED_MAX_PAYLOAD from its board.mk (-DTIFED_MAX_PAYLOAD=256) to save RAM:
 * the receive, response and transmit buffers are sized from it.
 */
#ifndef TIFED_LIMITS_H
#define TIFED_LIMITS_H

#define TIFED_FW_VERSION "0.1.0"
/* The framing's version: the first byte of every frame (PROTOCOL.md). */
#define TIFED_FRAME_VERSION 1u

/* The newest protocol the device speaks, as IDENTIFY reports it. Protocol 2
 * adds commands (DIGEST, WRITE_DELTA, READ_LOW_BITS, WRITE_SAMPLES_CODED)
 * to protocol 1 and keeps its frames; -DTIFED_PROTO_VERSION=1 builds a
 * protocol 1 device (the new commands answer UNKNOWN), as tests need. */
#ifndef TIFED_PROTO_VERSION
#define TIFED_PROTO_VERSION 2u
#endif

/* Layers of a model (PROTOCOL.md CONFIGURE: 1 <= n_layers <= 8). */
#define TIFED_MAX_LAYERS 8u

/* Classes travel as u8 labels and u8 predictions, so at most 256. This bound
 * also keeps the feedback product e @ B_l exact in 32 bits (see train.c). */
#define TIFED_MAX_CLASSES 256u

/* Layer sizes, buffer and batch capacities travel as u16. */
#define TIFED_MAX_DIM 65535u

/* Largest frame payload accepted or sent (IDENTIFY reports it). 1024 lets
 * WRITE_SAMPLES carry whole 784-input (MNIST) samples: 4 + 785 bytes each. */
#ifndef TIFED_MAX_PAYLOAD
#define TIFED_MAX_PAYLOAD 1024u
#endif

/* IDENTIFY's response and CONFIGURE's request must fit; 64 leaves room for a
 * 32-character board name. */
typedef char tifed_check_max_payload[(TIFED_MAX_PAYLOAD >= 64u && TIFED_MAX_PAYLOAD <= 65535u) ? 1 : -1];

#endif
