/* Frame checks, NAKs, duplicate suppression and response framing. */
#include "protocol/dispatch.h"

#include <string.h>

#include "protocol/cobs.h"
#include "protocol/crc16.h"

void proto_init(proto_state *st, const proto_env *env)
{
    memset(st, 0, sizeof *st);
    st->env = *env;
    net_reset(&st->net);
}

/* Header and CRC around a payload already in place at buf + WIRE_HEADER. */
static size_t finish(uint8_t *buf, uint8_t seq, uint8_t code, size_t payload)
{
    const size_t body = WIRE_HEADER + payload;
    buf[0] = (uint8_t)TIFED_FRAME_VERSION;
    buf[1] = seq;
    buf[2] = code;
    put_u16(buf + body, crc16_ccitt_false(buf, body));
    return body + WIRE_CRC;
}

static size_t nak(proto_state *st, uint8_t status, const uint8_t **resp)
{
    st->frames_bad++;
    st->small[WIRE_HEADER] = status;
    *resp = st->small;
    return finish(st->small, 0u, (uint8_t)WIRE_NAK_CODE, 1u);
}

size_t proto_handle_rx_error(proto_state *st, rx_event event, const uint8_t **resp)
{
    return nak(st, event == RX_TOO_LARGE ? (uint8_t)ST_TOO_LARGE : (uint8_t)ST_BAD_CRC, resp);
}

size_t proto_handle_frame(proto_state *st, const uint8_t *frame, size_t len, const uint8_t **resp)
{
    uint8_t seq, code, status;
    uint16_t crc;
    size_t payload, out_n = 0;

    if (len < WIRE_HEADER + WIRE_CRC)
        return nak(st, ST_BAD_CRC, resp);
    payload = len - WIRE_HEADER - WIRE_CRC;
    crc = get_u16(frame + len - WIRE_CRC);
    if (crc16_ccitt_false(frame, len - WIRE_CRC) != crc)
        return nak(st, ST_BAD_CRC, resp);
    if (payload > TIFED_MAX_PAYLOAD)
        return nak(st, ST_TOO_LARGE, resp);
    st->frames_ok++;

    seq = frame[1];
    code = frame[2];
    if (frame[0] != TIFED_FRAME_VERSION) {
        st->small[WIRE_HEADER] = ST_BAD_VERSION;
        *resp = st->small;
        return finish(st->small, seq, (uint8_t)(code | WIRE_RESPONSE_BIT), 1u);
    }
    *resp = st->resp;
    if (st->have_last && seq == st->last_seq && code == st->last_code && crc == st->last_crc)
        return st->resp_len; /* a retransmission: the response was lost */

    /* The request payload is read from the receive buffer while the
     * response is written to st->resp: they never overlap. */
    status = proto_execute(st, code, frame + WIRE_HEADER, payload, st->resp + WIRE_HEADER + 1u, &out_n);
    if (status != ST_OK && !(code == CMD_CONFIGURE && status == ST_NO_ROOM))
        out_n = 0; /* an error answer is the status alone (CONFIGURE's NO_ROOM aside) */
    st->resp[WIRE_HEADER] = status;
    st->resp_len = finish(st->resp, seq, (uint8_t)(code | WIRE_RESPONSE_BIT), 1u + out_n);
    st->have_last = 1;
    st->last_seq = seq;
    st->last_code = code;
    st->last_crc = crc;
    return st->resp_len;
}

size_t proto_encode_frame(const uint8_t *raw, size_t n, uint8_t *out)
{
    size_t m = cobs_encode(raw, n, out);
    out[m] = 0u;
    return m + 1u;
}
