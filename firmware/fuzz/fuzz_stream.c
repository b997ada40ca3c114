/*
 * libFuzzer target: the device's whole receive path on an arbitrary byte
 * stream, exactly as app/app.c runs it: bytes -> frame_rx (COBS, resync at
 * every zero, oversized frames dropped) -> proto_handle_frame or a NAK ->
 * response frame. Every input starts from a device fresh from power-on.
 *
 * Random bytes rarely carry a valid CRC, so this target mostly exercises the
 * framing, NAK and resync paths; the seed corpus (valid sessions recorded by
 * make_corpus.py) lets mutations reach the commands too. fuzz_requests.c
 * goes deeper into the commands.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz/fuzz_env.h"
#include "protocol/dispatch.h"
#include "protocol/frame_rx.h"

static frame_rx rx;
static proto_state st;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t i;
    fuzz_start(&st);
    frame_rx_init(&rx);
    for (i = 0; i < size; i++) {
        const uint8_t *frame = NULL, *resp = NULL;
        size_t len = 0, n;
        rx_event event = frame_rx_push(&rx, data[i], &frame, &len);
        if (event == RX_NONE)
            continue;
        if (event == RX_FRAME) {
            FUZZ_CHECK(len <= WIRE_RAW_MAX);
            n = proto_handle_frame(&st, frame, len, &resp);
        } else {
            n = proto_handle_rx_error(&st, event, &resp);
        }
        fuzz_check_response(resp, n);
    }
    return 0;
}
