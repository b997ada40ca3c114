/* The dispatcher's frame handling (protocol/dispatch.c): identification,
 * configuration, NAKs, duplicate suppression, RESET, the encoded path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/cobs.h"
#include "protocol/dispatch.h"
#include "protocol/frame_rx.h"
#include "protocol/wire.h"
#include "tests/support_proto.h"

static void identify_reports_the_device(void **state)
{
    response r = req(CMD_IDENTIFY, NULL, 0);
    (void)state;
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(r.body[0], TIFED_PROTO_VERSION); /* protocol 2 */
    assert_int_equal(get_u16(r.body + 1), TIFED_MAX_PAYLOAD);
    assert_int_equal(get_u32(r.body + 3), FIXTURE_ARENA_BYTES);
    assert_int_equal(r.body[7], 1);
    assert_int_equal(r.body[8], strlen(TIFED_FW_VERSION));
    assert_memory_equal(r.body + 9, TIFED_FW_VERSION, strlen(TIFED_FW_VERSION));
    assert_int_equal(r.body[9 + strlen(TIFED_FW_VERSION)], 10);
    assert_memory_equal(r.body + 10 + strlen(TIFED_FW_VERSION), "test-board", 10);
    assert_int_equal(r.body_len, 8 + 1 + strlen(TIFED_FW_VERSION) + 1 + 10);
    assert_int_equal(req(CMD_IDENTIFY, (const uint8_t *)"x", 1).status, ST_BAD_LENGTH);
}

static void configure_reports_need_and_no_room(void **state)
{
    static const uint16_t mnist[] = {784, 200, 10}, tiny[] = {3, 5, 2};
    response r;
    (void)state;
    start(1000);
    r = configure(2, mnist, 50, 25);
    assert_int_equal(r.status, ST_NO_ROOM);
    assert_int_equal(r.body_len, 8);
    assert_int_equal(get_u32(r.body), 716044); /* tifed_models.arena_bytes((784, 200, 10), 50, 25) */
    assert_int_equal(get_u32(r.body + 4), 1000);
    r = configure(2, tiny, 7, 3);
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(get_u32(r.body), 332);
    assert_int_equal(get_u32(r.body + 4), 1000);
    /* A refused CONFIGURE changes nothing: the 3-5-2 model stays. */
    assert_int_equal(configure(2, mnist, 50, 25).status, ST_NO_ROOM);
    r = req(CMD_STATS, NULL, 0);
    assert_int_equal(get_u32(r.body + 8), 332);
    assert_int_equal(read_tensor(0x00, 0, 15).status, ST_OK);
}

static void configure_checks_its_fields(void **state)
{
    static const uint16_t ok[] = {3, 5, 2}, zero_dim[] = {3, 0, 2}, many_classes[] = {3, 257},
                          max_classes[] = {3, 256}, nine[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    uint8_t p[3] = {2, 0, 0};
    (void)state;
    assert_int_equal(configure(2, zero_dim, 7, 3).status, ST_BAD_ARGUMENT);
    assert_int_equal(configure(1, many_classes, 7, 3).status, ST_BAD_ARGUMENT);
    assert_int_equal(configure(1, max_classes, 7, 3).status, ST_OK);
    assert_int_equal(configure(2, ok, 0, 3).status, ST_BAD_ARGUMENT);
    assert_int_equal(configure(2, ok, 7, 0).status, ST_BAD_ARGUMENT);
    assert_int_equal(configure(9, nine, 1, 1).status, ST_BAD_ARGUMENT);
    assert_int_equal(req(CMD_CONFIGURE, p, 3).status, ST_BAD_LENGTH);
    assert_int_equal(req(CMD_CONFIGURE, NULL, 0).status, ST_BAD_LENGTH);
}

static void commands_need_a_model(void **state)
{
    static const uint8_t seed[4] = {1, 2, 3, 4}, pred[4] = {0, 0, 1, 0};
    (void)state;
    assert_int_equal(read_tensor(0x00, 0, 1).status, ST_BAD_STATE);
    assert_int_equal(write_tensor(0x00, 0, NULL, 0).status, ST_BAD_STATE);
    assert_int_equal(req(CMD_SET_FEEDBACK_SEED, seed, 4).status, ST_BAD_STATE);
    assert_int_equal(req(CMD_WRITE_SAMPLES, pred, 4).status, ST_BAD_STATE);
    assert_int_equal(train(1, 1, 1, 1, -1).status, ST_BAD_STATE);
    assert_int_equal(req(CMD_PREDICT, pred, 4).status, ST_BAD_STATE);
}

static void duplicate_request_gets_stored_response(void **state)
{
    response first, again, r;
    uint8_t copy[64];
    size_t copy_len;
    (void)state;
    tiny_model();
    first = request(7, CMD_TRAIN, (const uint8_t *)"\x01\x00\x01\x00\x01\x00\x01\x00\x00\x00\xff", 11);
    assert_int_equal(first.status, ST_OK);
    copy_len = first.raw_len;
    memcpy(copy, first.raw, copy_len);
    /* The same (seq, code) again: same bytes, no second training. */
    again = request(7, CMD_TRAIN, (const uint8_t *)"\x01\x00\x01\x00\x01\x00\x01\x00\x00\x00\xff", 11);
    assert_int_equal(again.raw_len, copy_len);
    assert_memory_equal(again.raw, copy, copy_len);
    assert_int_equal(counter_reads, 2);
    r = request(8, CMD_READ_TENSOR, (const uint8_t *)"\x00\x00\x00\x00\x00\x01\x00", 7);
    assert_int_equal(get_i32(r.body), 48); /* trained once, not twice (96) */
    /* A NAK in between does not replace the stored response. */
    build(1, 9, CMD_STATS, NULL, 0);
    frame_buf[3] ^= 0xFF; /* break the CRC */
    r = send_frame(5);
    assert_int_equal(r.code, WIRE_NAK_CODE);
    r = request(8, CMD_READ_TENSOR, (const uint8_t *)"\x00\x00\x00\x00\x00\x01\x00", 7);
    assert_int_equal(get_i32(r.body), 48);
    /* A new seq trains again. */
    r = request(9, CMD_TRAIN, (const uint8_t *)"\x01\x00\x01\x00\x01\x00\x01\x00\x00\x00\xff", 11);
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(counter_reads, 4);
    /* The same seq with another code is a new request too. */
    r = request(9, CMD_IDENTIFY, NULL, 0);
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(r.body[0], TIFED_PROTO_VERSION);
    /* The same (seq, code) with other bytes is a new request as well (a
     * restarted harness reusing seq numbers): executed, not answered from
     * storage. */
    r = request(10, CMD_READ_TENSOR, (const uint8_t *)"\x00\x00\x00\x00\x00\x01\x00", 7);
    assert_int_equal(r.body_len, 4);
    r = request(10, CMD_READ_TENSOR, (const uint8_t *)"\x00\x00\x00\x00\x00\x02\x00", 7);
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(r.body_len, 8);
}

static void bad_frames_get_naks(void **state)
{
    const uint8_t *resp;
    response r;
    size_t n;
    (void)state;
    /* CRC mismatch. */
    n = build(1, 5, CMD_IDENTIFY, NULL, 0);
    frame_buf[n - 1] ^= 0x01;
    r = send_frame(n);
    assert_int_equal(r.seq, 0);
    assert_int_equal(r.code, WIRE_NAK_CODE);
    assert_int_equal(r.status, ST_BAD_CRC);
    assert_int_equal(r.body_len, 0);
    /* Too short to be a frame. */
    n = proto_handle_frame(&st, frame_buf, 4, &resp);
    r = parse(resp, n);
    assert_int_equal(r.code, WIRE_NAK_CODE);
    assert_int_equal(r.status, ST_BAD_CRC);
    /* The receiver's events. */
    r = parse(resp, proto_handle_rx_error(&st, RX_TOO_LARGE, &resp));
    assert_int_equal(r.status, ST_TOO_LARGE);
    r = parse(resp, proto_handle_rx_error(&st, RX_BAD, &resp));
    assert_int_equal(r.status, ST_BAD_CRC);
    /* Wrong version: answered (seq echoed) but not executed or stored. */
    r = send_frame(build(2, 6, CMD_RESET, NULL, 0));
    assert_int_equal(r.seq, 6);
    assert_int_equal(r.code, CMD_RESET | 0x80);
    assert_int_equal(r.status, ST_BAD_VERSION);
    /* Unknown command. */
    r = request(7, 0x42, NULL, 0);
    assert_int_equal(r.status, ST_UNKNOWN);
    /* Counters: 2 good frames (bad version, unknown) + this STATS, 4 bad. */
    r = request(8, CMD_STATS, NULL, 0);
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(r.body_len, 20);
    assert_int_equal(get_u32(r.body), 123);
    assert_int_equal(get_u32(r.body + 4), 4096);
    assert_int_equal(get_u32(r.body + 8), 0);
    assert_int_equal(get_u32(r.body + 12), 3);
    assert_int_equal(get_u32(r.body + 16), 4);
}

static void reset_forgets_the_model_keeps_counters(void **state)
{
    response r;
    (void)state;
    tiny_model();
    assert_int_equal(req(CMD_RESET, NULL, 0).status, ST_OK);
    assert_int_equal(read_tensor(0x00, 0, 1).status, ST_BAD_STATE);
    r = req(CMD_STATS, NULL, 0);
    assert_int_equal(get_u32(r.body + 8), 0);
    assert_int_equal(get_u32(r.body + 12), 5); /* configure, samples, reset, read, stats */
    assert_int_equal(req(CMD_RESET, (const uint8_t *)"x", 1).status, ST_BAD_LENGTH);
}

/* SESSION: 0 from power-on; a set token is held (and needs no model), a
 * RESET or a new dispatcher (power-on) clears it. */
static void session_token_is_held_until_reset(void **state)
{
    uint8_t token[5] = {0}; /* one byte more for the too-long request */
    response r;
    (void)state;
    r = req(CMD_SESSION, NULL, 0);
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(r.body_len, 4);
    assert_int_equal(get_u32(r.body), 0);
    put_u32(token, 0xC0FFEE01u);
    r = request(40, CMD_SESSION, token, 4);
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(get_u32(r.body), 0xC0FFEE01u);
    tiny_model(); /* CONFIGURE and the data commands leave it alone */
    assert_int_equal(get_u32(req(CMD_SESSION, NULL, 0).body), 0xC0FFEE01u);
    assert_int_equal(req(CMD_SESSION, token, 3).status, ST_BAD_LENGTH);
    assert_int_equal(req(CMD_SESSION, token, 5).status, ST_BAD_LENGTH);
    assert_int_equal(req(CMD_RESET, NULL, 0).status, ST_OK);
    assert_int_equal(get_u32(req(CMD_SESSION, NULL, 0).body), 0);
    put_u32(token, 7u);
    assert_int_equal(get_u32(request(50, CMD_SESSION, token, 4).body), 7u);
    start(FIXTURE_ARENA_BYTES); /* power-on */
    assert_int_equal(get_u32(req(CMD_SESSION, NULL, 0).body), 0);
}

static void encoded_round_trip(void **state)
{
    static frame_rx rx;
    static uint8_t wire[WIRE_ENCODED_MAX], out[WIRE_ENCODED_MAX], raw[WIRE_RAW_MAX];
    const uint8_t *frame = NULL, *resp = NULL;
    size_t len = 0, i, m, n, got;
    rx_event ev = RX_NONE;
    (void)state;
    frame_rx_init(&rx);
    m = proto_encode_frame(frame_buf, build(1, 3, CMD_IDENTIFY, NULL, 0), wire);
    assert_int_equal(wire[m - 1], 0);
    for (i = 0; i < m; i++)
        ev = frame_rx_push(&rx, wire[i], &frame, &len);
    assert_int_equal(ev, RX_FRAME);
    n = proto_handle_frame(&st, frame, len, &resp);
    m = proto_encode_frame(resp, n, out);
    assert_null(memchr(out, 0, m - 1));
    assert_int_equal(cobs_decode(out, m - 1, raw, sizeof raw, &got), 0);
    assert_int_equal(got, n);
    assert_int_equal(parse(raw, got).code, CMD_IDENTIFY | 0x80);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(identify_reports_the_device, setup),
        cmocka_unit_test_setup(configure_reports_need_and_no_room, setup),
        cmocka_unit_test_setup(configure_checks_its_fields, setup),
        cmocka_unit_test_setup(commands_need_a_model, setup),
        cmocka_unit_test_setup(duplicate_request_gets_stored_response, setup),
        cmocka_unit_test_setup(bad_frames_get_naks, setup),
        cmocka_unit_test_setup(reset_forgets_the_model_keeps_counters, setup),
        cmocka_unit_test_setup(session_token_is_held_until_reset, setup),
        cmocka_unit_test_setup(encoded_round_trip, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
