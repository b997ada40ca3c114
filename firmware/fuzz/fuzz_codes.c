/*
 * libFuzzer target: protocol 2's coded commands on a configured device.
 * The input is
 *
 *     model u8, then records  command u8, length u16 (little-endian), payload[length]
 *
 * `model` picks one of a few small models (bits 0-1) and the storage of its
 * weights and biases (bit 2: int16, else int32); CONFIGURE, feedback seed
 * and nonzero weights are set up first, so every decoder runs deep; `command`
 * picks DIGEST, WRITE_DELTA, READ_LOW_BITS or WRITE_SAMPLES_CODED (mod 4),
 * and the payload goes in a frame with a correct CRC.
 *
 * Beyond the sanitizers, each answer is checked against PROTOCOL.md's rule
 * for coded transfers: a request that is refused (any status but OK)
 * changes nothing on the device, byte for byte of the arena (weights,
 * biases, feedback, samples, labels); DIGEST and READ_LOW_BITS never
 * change anything; and an accepted WRITE_DELTA changes the tensor it names
 * only.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/panel.h"
#include "fuzz/fuzz_env.h"
#include "protocol/crc16.h"
#include "protocol/crc64.h"
#include "protocol/dispatch.h"
#include "protocol/wire.h"

static proto_state st;
static uint8_t frame[WIRE_RAW_MAX + 64u];

/* n_layers, then dims (make_corpus.py's CODE_MODELS, in order). */
static const uint16_t models[][4] = {
    {2, 4, 5, 3},
    {1, 6, 4, 0},
    {1, 12, 2, 0},
    {2, 9, 1, 2},
};
static const uint8_t commands[4] = {CMD_DIGEST, CMD_WRITE_DELTA, CMD_READ_LOW_BITS, CMD_WRITE_SAMPLES_CODED};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t send(uint8_t seq, uint8_t code, const uint8_t *payload, size_t n)
{
    const uint8_t *resp;
    size_t k;
    frame[0] = TIFED_FRAME_VERSION;
    frame[1] = seq;
    frame[2] = code;
    memcpy(frame + WIRE_HEADER, payload, n);
    put_u16(frame + WIRE_HEADER + n, crc16_ccitt_false(frame, WIRE_HEADER + n));
    k = proto_handle_frame(&st, frame, WIRE_HEADER + n + WIRE_CRC, &resp);
    fuzz_check_response(resp, k);
    FUZZ_CHECK(resp[1] == seq && resp[2] == (uint8_t)(code | WIRE_RESPONSE_BIT));
    return resp[WIRE_HEADER];
}

/* CRC-64 of the arena's bytes in [from, to): what the device holds there. */
static uint64_t held(size_t from, size_t to)
{
    return crc64_update(CRC64_INIT, st.env.arena + from, to - from);
}

/* The arena bytes of tensor id: W and b in int32 storage, or in int16 (W
 * as pairs over rows4(d_l) rows, panel.h, its padding included); B int16. */
static void span_of(uint8_t id, size_t *from, size_t *to)
{
    const uint32_t kind = id >> 4, l = id & 0x0Fu;
    const int narrow = st.net.weight_bits == 16u;
    uint32_t count = 0, bytes;
    const uint8_t *p;
    *from = *to = 0;
    if (net_tensor_count(&st.net, id, &count) != 0)
        return;
    if (kind == 2u) {
        p = (const uint8_t *)st.net.fb[l];
        bytes = 2u * count;
    } else if (kind == 1u) {
        p = narrow ? (const uint8_t *)st.net.b16[l] : (const uint8_t *)st.net.b[l];
        bytes = (narrow ? 2u : 4u) * count;
    } else {
        p = narrow ? (const uint8_t *)st.net.w16[l] : (const uint8_t *)st.net.w[l];
        bytes = narrow ? 2u * rows4(st.net.dims[l]) * st.net.dims[l + 1u] : 4u * count;
    }
    *from = (size_t)(p - st.env.arena);
    *to = *from + bytes;
}

static void setup_model(uint8_t which)
{
    const uint16_t *m = models[which % 4u];
    const int narrow = (which & 4u) != 0u;
    uint8_t p[32];
    uint32_t l, e, count;
    size_t n = 5u + 2u * (m[0] + 1u);
    p[0] = (uint8_t)m[0];
    put_u16(p + 1, 4);
    put_u16(p + 3, 2);
    for (l = 0; l <= m[0]; l++)
        put_u16(p + 5 + 2u * l, m[1 + l]);
    p[n++] = narrow ? 16u : 32u; /* weight_bits */
    FUZZ_CHECK(send(1, CMD_CONFIGURE, p, n) == ST_OK);
    put_u32(p, 7);
    FUZZ_CHECK(send(2, CMD_SET_FEEDBACK_SEED, p, 4) == ST_OK);
    for (l = 0; l < m[0]; l++) /* distinct nonzero weights, the extremes included */
        if (net_tensor_count(&st.net, l, &count) == 0)
            for (e = 0; e < count; e++)
                net_tensor_set(&st.net, l, e,
                               narrow ? (e == 0 ? INT16_MAX : e == 1 ? INT16_MIN : (int16_t)(e * 2654435761u))
                                      : (e == 0 ? INT32_MAX : e == 1 ? INT32_MIN : (int32_t)(e * 2654435761u)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 1;
    uint8_t seq = 2;
    if (size < 1u)
        return 0;
    fuzz_start(&st);
    setup_model(data[0]);
    while (pos + 3u <= size) {
        const uint8_t code = commands[data[pos] & 3u];
        size_t n = get_u16(data + pos + 1u), from, to;
        uint64_t all_before, outside_before = 0, all_after;
        uint8_t status;
        pos += 3u;
        if (n > size - pos)
            n = size - pos;
        if (n > TIFED_MAX_PAYLOAD)
            n = TIFED_MAX_PAYLOAD;
        span_of(code == CMD_WRITE_DELTA && n > 0u ? data[pos] : 0xFFu, &from, &to);
        all_before = held(0, st.net.arena_used);
        if (to > from)
            outside_before = held(0, from) ^ held(to, st.net.arena_used);
        seq = (uint8_t)(seq % 255u + 1u);
        status = send(seq, code, data + pos, n);
        pos += n;
        all_after = held(0, st.net.arena_used);
        if (status != ST_OK || code == CMD_DIGEST || code == CMD_READ_LOW_BITS)
            FUZZ_CHECK(all_after == all_before); /* refused, or read only: nothing changed */
        else if (code == CMD_WRITE_DELTA)
            FUZZ_CHECK(to > from && (held(0, from) ^ held(to, st.net.arena_used)) == outside_before);
    }
    return 0;
}
