/*
 * libFuzzer target: the command dispatcher with well-framed requests. The
 * input is a sequence of records
 *
 *     flags u8, code u8, length u16 (little-endian), payload[length]
 *
 * (a short last record takes what is left). Each record becomes a raw frame
 * with a correct CRC, so every mutation reaches the commands instead of
 * dying at the CRC check. flags bit 0 sends the same frame twice, and the
 * second answer must repeat the first byte for byte (duplicate
 * suppression); bit 1 sends it with version 2 (BAD_VERSION, never stored).
 *
 * TRAIN's epochs field is reduced to 0..3 before sending: the loops' bounds
 * are what can go wrong, and 65535 passes would only make one input take
 * seconds. Everything else reaches the device as the fuzzer wrote it.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz/fuzz_env.h"
#include "protocol/crc16.h"
#include "protocol/dispatch.h"
#include "protocol/wire.h"

static proto_state st;
static uint8_t frame[WIRE_RAW_MAX + 64u];
static uint8_t first[WIRE_RAW_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Raw frame of (version, seq, code, payload) in `frame`; its length. */
static size_t build(uint8_t version, uint8_t seq, uint8_t code, const uint8_t *payload, size_t n)
{
    frame[0] = version;
    frame[1] = seq;
    frame[2] = code;
    memcpy(frame + WIRE_HEADER, payload, n);
    if (code == CMD_TRAIN && n >= 6u) { /* epochs (u16 at payload offset 4) -> 0..3 */
        frame[WIRE_HEADER + 4u] &= 3u;
        frame[WIRE_HEADER + 5u] = 0u;
    }
    put_u16(frame + WIRE_HEADER + n, crc16_ccitt_false(frame, WIRE_HEADER + n));
    return WIRE_HEADER + n + WIRE_CRC;
}

static size_t exchange(size_t len, const uint8_t **resp)
{
    size_t n = proto_handle_frame(&st, frame, len, resp);
    fuzz_check_response(*resp, n);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    uint8_t seq = 0;
    fuzz_start(&st);
    while (pos + 4u <= size) {
        const uint8_t flags = data[pos], code = data[pos + 1u];
        size_t n = get_u16(data + pos + 2u), len, k;
        const uint8_t *resp;
        pos += 4u;
        if (n > size - pos)
            n = size - pos;
        if (n > TIFED_MAX_PAYLOAD + 32u)
            n = TIFED_MAX_PAYLOAD + 32u; /* a little past the limit: TOO_LARGE */
        seq = (uint8_t)(seq % 255u + 1u);
        len = build((flags & 2u) ? 2u : 1u, seq, code, data + pos, n);
        pos += n;
        k = exchange(len, &resp);
        if (n > TIFED_MAX_PAYLOAD) {
            FUZZ_CHECK(resp[2] == WIRE_NAK_CODE && resp[WIRE_HEADER] == ST_TOO_LARGE);
            continue;
        }
        FUZZ_CHECK(resp[1] == seq && resp[2] == (uint8_t)(code | WIRE_RESPONSE_BIT));
        /* An error answer is the status alone, CONFIGURE's NO_ROOM aside. */
        if (resp[WIRE_HEADER] != ST_OK && !(code == CMD_CONFIGURE && resp[WIRE_HEADER] == ST_NO_ROOM))
            FUZZ_CHECK(k == WIRE_HEADER + 1u + WIRE_CRC);
        if (flags & 1u) {
            memcpy(first, resp, k);
            FUZZ_CHECK(exchange(len, &resp) == k);
            FUZZ_CHECK(memcmp(first, resp, k) == 0);
        }
    }
    return 0;
}
