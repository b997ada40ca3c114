/* COBS, CRC-16/CCITT-FALSE and the byte-at-a-time frame receiver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/cobs.h"
#include "protocol/crc16.h"
#include "protocol/frame_rx.h"

static void crc_check_value(void **state)
{
    static const uint8_t check[] = "123456789";
    (void)state;
    assert_int_equal(crc16_ccitt_false(check, 9), 0x29B1);
    assert_int_equal(crc16_ccitt_false(check, 0), 0xFFFF);
}

/* Published COBS examples (Cheshire & Baker; the Wikipedia table), which
 * Python's cobs.encode reproduces byte for byte. */
static void cobs_known_encodings(void **state)
{
    static const struct {
        uint8_t in[8];
        size_t n;
        uint8_t out[8];
        size_t m;
    } cases[] = {
        {{0}, 0, {0x01}, 1},
        {{0x00}, 1, {0x01, 0x01}, 2},
        {{0x00, 0x00}, 2, {0x01, 0x01, 0x01}, 3},
        {{0x11, 0x22, 0x00, 0x33}, 4, {0x03, 0x11, 0x22, 0x02, 0x33}, 5},
        {{0x11, 0x22, 0x33, 0x44}, 4, {0x05, 0x11, 0x22, 0x33, 0x44}, 5},
        {{0x11, 0x00, 0x00, 0x00}, 4, {0x02, 0x11, 0x01, 0x01, 0x01}, 5},
    };
    uint8_t out[16];
    size_t i;
    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t m = cobs_encode(cases[i].in, cases[i].n, out);
        assert_int_equal(m, cases[i].m);
        assert_memory_equal(out, cases[i].out, m);
    }
}

static void cobs_long_blocks(void **state)
{
    uint8_t in[300], out[310], back[300];
    size_t i, m, n;
    (void)state;
    /* 01..FE: one full block, no trailing code byte. */
    for (i = 0; i < 254; i++)
        in[i] = (uint8_t)(i + 1);
    m = cobs_encode(in, 254, out);
    assert_int_equal(m, 255);
    assert_int_equal(out[0], 0xFF);
    assert_memory_equal(out + 1, in, 254);
    /* 00 01 .. FE: 01 FF 01 .. FE */
    for (i = 0; i < 255; i++)
        in[i] = (uint8_t)i;
    m = cobs_encode(in, 255, out);
    assert_int_equal(m, 256);
    assert_int_equal(out[0], 0x01);
    assert_int_equal(out[1], 0xFF);
    assert_memory_equal(out + 2, in + 1, 254);
    assert_int_equal(cobs_decode(out, m, back, sizeof back, &n), 0);
    assert_int_equal(n, 255);
    assert_memory_equal(back, in, 255);
}

static void cobs_round_trips(void **state)
{
    static uint8_t in[1100], enc[1110], dec[1100];
    static const size_t lengths[] = {0, 1, 2, 253, 254, 255, 256, 507, 508, 509, 1000, 1100};
    uint32_t rng = 12345u;
    size_t li, i, pattern;
    (void)state;
    for (pattern = 0; pattern < 4; pattern++)
        for (li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            size_t n = lengths[li], m, got;
            for (i = 0; i < n; i++) {
                rng = rng * 1103515245u + 12345u;
                in[i] = pattern == 0 ? 0 : pattern == 1 ? 0xAB : pattern == 2 ? (uint8_t)(rng >> 24)
                                                                                : (uint8_t)(i % 7 ? 0x5A : 0);
            }
            m = cobs_encode(in, n, enc);
            assert_true(m <= n + n / 254 + 1);
            assert_null(memchr(enc, 0, m));
            assert_int_equal(cobs_decode(enc, m, dec, sizeof dec, &got), 0);
            assert_int_equal(got, n);
            assert_memory_equal(dec, in, n);
            /* In place, as the receiver does it. */
            assert_int_equal(cobs_decode(enc, m, enc, sizeof enc, &got), 0);
            assert_int_equal(got, n);
            assert_memory_equal(enc, in, n);
        }
}

static void cobs_rejects_malformed_input(void **state)
{
    static const uint8_t short_block[] = {0x03, 0x11};          /* block runs past the end */
    static const uint8_t zero_code[] = {0x02, 0x11, 0x00, 0x22}; /* a zero inside a frame */
    static const uint8_t zero_data[] = {0x03, 0x00, 0x11};
    static const uint8_t fine[] = {0x03, 0x11, 0x22, 0x02, 0x33};
    uint8_t out[8];
    size_t n = 99;
    (void)state;
    assert_int_equal(cobs_decode(short_block, sizeof short_block, out, sizeof out, &n), -1);
    assert_int_equal(cobs_decode(zero_code, sizeof zero_code, out, sizeof out, &n), -1);
    assert_int_equal(cobs_decode(zero_data, sizeof zero_data, out, sizeof out, &n), -1);
    assert_int_equal(n, 99); /* untouched on failure */
    assert_int_equal(cobs_decode(fine, sizeof fine, out, 3, &n), -1); /* output capacity */
    assert_int_equal(cobs_decode(fine, sizeof fine, out, 4, &n), 0);
    assert_int_equal(n, 4);
}

/* The receiver, followed by a guard: nothing may ever be written past it. */
static struct {
    frame_rx rx;
    uint8_t guard[64];
} fixture;

static rx_event push_all(const uint8_t *bytes, size_t n, const uint8_t **frame, size_t *len)
{
    rx_event last = RX_NONE;
    size_t i;
    for (i = 0; i < n; i++) {
        rx_event e = frame_rx_push(&fixture.rx, bytes[i], frame, len);
        if (e != RX_NONE) {
            assert_int_equal(i, n - 1); /* events only at the delimiter */
            last = e;
        }
    }
    return last;
}

static int setup_rx(void **state)
{
    (void)state;
    frame_rx_init(&fixture.rx);
    memset(fixture.guard, 0x77, sizeof fixture.guard);
    return 0;
}

static void guard_intact(void)
{
    size_t i;
    for (i = 0; i < sizeof fixture.guard; i++)
        assert_int_equal(fixture.guard[i], 0x77);
}

static void receiver_delivers_a_frame(void **state)
{
    static const uint8_t wire[] = {0x03, 0x11, 0x22, 0x02, 0x33, 0x00};
    static const uint8_t raw[] = {0x11, 0x22, 0x00, 0x33};
    const uint8_t *frame = NULL;
    size_t len = 0;
    (void)state;
    assert_int_equal(push_all(wire, sizeof wire, &frame, &len), RX_FRAME);
    assert_int_equal(len, 4);
    assert_memory_equal(frame, raw, 4);
}

static void receiver_ignores_empty_frames(void **state)
{
    static const uint8_t zeros[] = {0x00, 0x00, 0x00};
    const uint8_t *frame;
    size_t len;
    size_t i;
    (void)state;
    for (i = 0; i < sizeof zeros; i++)
        assert_int_equal(frame_rx_push(&fixture.rx, zeros[i], &frame, &len), RX_NONE);
}

static void receiver_drops_oversized_frame_and_recovers(void **state)
{
    static const uint8_t next[] = {0x02, 0x42, 0x00};
    const uint8_t *frame = NULL;
    size_t len = 0, i;
    (void)state;
    /* Far more bytes than the buffer holds, then the delimiter. */
    for (i = 0; i < 3 * sizeof fixture.rx.buf; i++)
        assert_int_equal(frame_rx_push(&fixture.rx, 0x01, &frame, &len), RX_NONE);
    guard_intact();
    assert_int_equal(frame_rx_push(&fixture.rx, 0x00, &frame, &len), RX_TOO_LARGE);
    /* The next frame arrives intact. */
    assert_int_equal(push_all(next, sizeof next, &frame, &len), RX_FRAME);
    assert_int_equal(len, 1);
    assert_int_equal(frame[0], 0x42);
    guard_intact();
}

static void receiver_refuses_a_frame_that_decodes_too_long(void **state)
{
    /* Zeros cost no COBS overhead: WIRE_RAW_MAX + 1 zero bytes encode to
     * WIRE_RAW_MAX + 2 bytes, which fit the buffer but decode too long. */
    const uint8_t *frame;
    size_t len, i;
    (void)state;
    for (i = 0; i < WIRE_RAW_MAX + 2u; i++)
        assert_int_equal(frame_rx_push(&fixture.rx, 0x01, &frame, &len), RX_NONE);
    assert_int_equal(frame_rx_push(&fixture.rx, 0x00, &frame, &len), RX_TOO_LARGE);
    guard_intact();
}

static void receiver_resyncs_after_garbage(void **state)
{
    /* Garbage that is not COBS (a block longer than what follows), joined
     * mid-stream, then a good frame after the next zero. */
    static const uint8_t garbage[] = {0x7F, 0x13, 0x99, 0x00};
    static const uint8_t good[] = {0x05, 0x01, 0x02, 0x03, 0x04, 0x00};
    static const uint8_t raw[] = {0x01, 0x02, 0x03, 0x04};
    const uint8_t *frame = NULL;
    size_t len = 0;
    (void)state;
    assert_int_equal(push_all(garbage, sizeof garbage, &frame, &len), RX_BAD);
    assert_int_equal(push_all(good, sizeof good, &frame, &len), RX_FRAME);
    assert_int_equal(len, 4);
    assert_memory_equal(frame, raw, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc_check_value),
        cmocka_unit_test(cobs_known_encodings),
        cmocka_unit_test(cobs_long_blocks),
        cmocka_unit_test(cobs_round_trips),
        cmocka_unit_test(cobs_rejects_malformed_input),
        cmocka_unit_test_setup(receiver_delivers_a_frame, setup_rx),
        cmocka_unit_test_setup(receiver_ignores_empty_frames, setup_rx),
        cmocka_unit_test_setup(receiver_drops_oversized_frame_and_recovers, setup_rx),
        cmocka_unit_test_setup(receiver_refuses_a_frame_that_decodes_too_long, setup_rx),
        cmocka_unit_test_setup(receiver_resyncs_after_garbage, setup_rx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
