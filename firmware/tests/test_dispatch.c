/* The command dispatcher (protocol/dispatch.c, protocol/commands.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/prng.h"
#include "protocol/cobs.h"
#include "protocol/crc16.h"
#include "protocol/dispatch.h"
#include "protocol/frame_rx.h"
#include "protocol/wire.h"

static uint32_t arena_words[16384]; /* 64 KiB */
static proto_state st;
static unsigned counter_reads;

static uint64_t fake_counter(void)
{
    /* 1000, 1500, 2000, ...: each TRAIN spans one step of 500. */
    return 1000u + 500u * counter_reads++;
}

static uint32_t fake_peak(void)
{
    return 123;
}

static uint32_t fake_size(void)
{
    return 4096;
}

static void start(uint32_t arena_bytes)
{
    proto_env env;
    env.board_name = "test-board";
    env.arena = (uint8_t *)arena_words;
    env.arena_bytes = arena_bytes;
    env.counter_kind = 1;
    env.counter_read = fake_counter;
    env.stack_peak = fake_peak;
    env.stack_size = fake_size;
    counter_reads = 0;
    proto_init(&st, &env);
}

static int setup(void **state)
{
    (void)state;
    start(sizeof arena_words);
    return 0;
}

typedef struct {
    uint8_t seq, code, status;
    const uint8_t *body; /* after the status byte */
    size_t body_len;
    const uint8_t *raw;
    size_t raw_len;
} response;

static response parse(const uint8_t *raw, size_t n)
{
    response r;
    assert_true(n >= 6);
    assert_int_equal(crc16_ccitt_false(raw, n - 2), get_u16(raw + n - 2));
    assert_int_equal(raw[0], 1);
    r.seq = raw[1];
    r.code = raw[2];
    r.status = raw[3];
    r.body = raw + 4;
    r.body_len = n - 6;
    r.raw = raw;
    r.raw_len = n;
    return r;
}

static uint8_t frame_buf[WIRE_RAW_MAX + 16];

static size_t build(uint8_t version, uint8_t seq, uint8_t code, const uint8_t *payload, size_t n)
{
    frame_buf[0] = version;
    frame_buf[1] = seq;
    frame_buf[2] = code;
    if (n)
        memcpy(frame_buf + 3, payload, n);
    put_u16(frame_buf + 3 + n, crc16_ccitt_false(frame_buf, 3 + n));
    return 5 + n;
}

static response send_frame(size_t len)
{
    const uint8_t *resp = NULL;
    size_t n = proto_handle_frame(&st, frame_buf, len, &resp);
    return parse(resp, n);
}

static response request(uint8_t seq, uint8_t code, const uint8_t *payload, size_t n)
{
    response r = send_frame(build(1, seq, code, payload, n));
    assert_int_equal(r.seq, seq);
    assert_int_equal(r.code, code | 0x80);
    return r;
}

static uint8_t seq_counter;
static response req(uint8_t code, const uint8_t *payload, size_t n)
{
    seq_counter = (uint8_t)(seq_counter % 255u + 1u);
    return request(seq_counter, code, payload, n);
}

static response configure(uint32_t n_layers, const uint16_t *dims, uint16_t buffer_cap, uint16_t batch_cap)
{
    uint8_t p[5 + 2 * (TIFED_MAX_LAYERS + 2)]; /* room for one layer too many */
    uint32_t l;
    p[0] = (uint8_t)n_layers;
    put_u16(p + 1, buffer_cap);
    put_u16(p + 3, batch_cap);
    for (l = 0; l <= n_layers; l++)
        put_u16(p + 5 + 2 * l, dims[l]);
    return req(CMD_CONFIGURE, p, 5 + 2 * (n_layers + 1));
}

static response read_tensor(uint8_t id, uint32_t offset, uint16_t count)
{
    uint8_t p[7];
    p[0] = id;
    put_u32(p + 1, offset);
    put_u16(p + 5, count);
    return req(CMD_READ_TENSOR, p, 7);
}

static response write_tensor(uint8_t id, uint32_t offset, const int32_t *v, uint16_t count)
{
    uint8_t p[7 + 4 * 16];
    uint16_t k;
    p[0] = id;
    put_u32(p + 1, offset);
    put_u16(p + 5, count);
    for (k = 0; k < count; k++)
        put_i32(p + 7 + 4 * k, v[k]);
    return req(CMD_WRITE_TENSOR, p, 7 + 4u * count);
}

static response train(uint16_t n, uint16_t batch, uint16_t epochs, uint32_t lr_inv, int8_t layer)
{
    uint8_t p[11];
    put_u16(p, n);
    put_u16(p + 2, batch);
    put_u16(p + 4, epochs);
    put_u32(p + 6, lr_inv);
    p[10] = (uint8_t)layer;
    return req(CMD_TRAIN, p, 11);
}

/* 2-2 model with the sample (label 0, x = (3, -5)) stored at index 0. */
static void tiny_model(void)
{
    static const uint16_t dims[] = {2, 2};
    static const uint8_t samples[] = {0, 0, 1, 0, 0, 3, (uint8_t)-5};
    assert_int_equal(configure(1, dims, 4, 4).status, ST_OK);
    assert_int_equal(req(CMD_WRITE_SAMPLES, samples, sizeof samples).status, ST_OK);
}

static void identify_reports_the_device(void **state)
{
    response r = req(CMD_IDENTIFY, NULL, 0);
    (void)state;
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(r.body[0], 1);
    assert_int_equal(get_u16(r.body + 1), TIFED_MAX_PAYLOAD);
    assert_int_equal(get_u32(r.body + 3), sizeof arena_words);
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

static void tensors_are_checked_and_round_trip(void **state)
{
    static const uint16_t dims[] = {3, 5, 2};
    static const int32_t values[] = {-1, 2, INT32_MIN, INT32_MAX};
    static const int32_t fb_bad[] = {7, 32768};
    static const int32_t fb_ok[] = {-32768, 32767};
    response r;
    (void)state;
    assert_int_equal(configure(2, dims, 7, 3).status, ST_OK);
    assert_int_equal(write_tensor(0x00, 11, values, 4).status, ST_OK); /* W_0: 3 x 5 */
    r = read_tensor(0x00, 10, 5);
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(r.body_len, 20);
    assert_int_equal(get_i32(r.body), 0);
    assert_int_equal(get_i32(r.body + 4), -1);
    assert_int_equal(get_i32(r.body + 8), 2);
    assert_int_equal(get_i32(r.body + 12), INT32_MIN);
    assert_int_equal(get_i32(r.body + 16), INT32_MAX);
    /* Bad ids: kind 3, a layer the model lacks, feedback of the last layer. */
    assert_int_equal(read_tensor(0x30, 0, 1).status, ST_BAD_ARGUMENT);
    assert_int_equal(read_tensor(0x02, 0, 1).status, ST_BAD_ARGUMENT);
    assert_int_equal(read_tensor(0x21, 0, 1).status, ST_BAD_ARGUMENT);
    assert_int_equal(read_tensor(0x12, 0, 1).status, ST_BAD_ARGUMENT);
    /* Ranges: W_0 has 15 elements, b_1 two; offsets far out must not wrap. */
    assert_int_equal(read_tensor(0x00, 14, 1).status, ST_OK);
    assert_int_equal(read_tensor(0x00, 14, 2).status, ST_BAD_ARGUMENT);
    assert_int_equal(read_tensor(0x11, 0xFFFFFFFFu, 2).status, ST_BAD_ARGUMENT);
    assert_int_equal(write_tensor(0x11, 1, values, 2).status, ST_BAD_ARGUMENT);
    /* Feedback values must fit int16; a refused write writes nothing. */
    assert_int_equal(write_tensor(0x20, 0, fb_bad, 2).status, ST_BAD_ARGUMENT);
    r = read_tensor(0x20, 0, 1);
    assert_int_equal(get_i32(r.body), 0);
    assert_int_equal(write_tensor(0x20, 8, fb_ok, 2).status, ST_OK); /* B_0: 2 x 5 */
    r = read_tensor(0x20, 8, 2);
    assert_int_equal(get_i32(r.body), -32768);
    assert_int_equal(get_i32(r.body + 4), 32767);
    assert_int_equal(write_tensor(0x20, 9, fb_ok, 2).status, ST_BAD_ARGUMENT);
    /* Length must match count; an answer must fit max_payload. */
    {
        uint8_t p[7 + 4] = {0x00, 0, 0, 0, 0, 2, 0};
        assert_int_equal(req(CMD_WRITE_TENSOR, p, 11).status, ST_BAD_LENGTH);
        assert_int_equal(req(CMD_READ_TENSOR, p, 6).status, ST_BAD_LENGTH);
    }
}

static void read_tensor_answer_must_fit(void **state)
{
    static const uint16_t dims[] = {100, 100};
    const uint16_t fits = (TIFED_MAX_PAYLOAD - 1) / 4;
    (void)state;
    assert_int_equal(configure(1, dims, 1, 1).status, ST_OK);
    assert_int_equal(read_tensor(0x00, 0, fits).status, ST_OK);
    assert_int_equal(read_tensor(0x00, 0, (uint16_t)(fits + 1)).status, ST_BAD_ARGUMENT);
}

static void samples_and_predict_are_checked(void **state)
{
    static const uint16_t dims[] = {2, 3};
    uint8_t p[4 + 3 * 3] = {2, 0, 2, 0, 1, 10, 20, 2, 30, 40};
    uint8_t q[4];
    response r;
    (void)state;
    assert_int_equal(configure(1, dims, 4, 2).status, ST_OK);
    assert_int_equal(req(CMD_WRITE_SAMPLES, p, 10).status, ST_OK); /* samples 2, 3 */
    assert_memory_equal(st.net.x + 4, "\x0a\x14\x1e\x28", 4);
    assert_int_equal(st.net.label[3], 2);
    p[0] = 3; /* 3 + 2 > buffer_cap */
    assert_int_equal(req(CMD_WRITE_SAMPLES, p, 10).status, ST_BAD_ARGUMENT);
    p[0] = 0;
    assert_int_equal(req(CMD_WRITE_SAMPLES, p, 9).status, ST_BAD_LENGTH);
    p[7] = 3; /* label 3 names no class of 3: nothing stored */
    assert_int_equal(req(CMD_WRITE_SAMPLES, p, 10).status, ST_BAD_ARGUMENT);
    assert_int_equal(st.net.label[0], 0);
    /* PREDICT: first + count within the buffer. */
    put_u16(q, 3);
    put_u16(q + 2, 2);
    assert_int_equal(req(CMD_PREDICT, q, 4).status, ST_BAD_ARGUMENT);
    put_u16(q, 0);
    put_u16(q + 2, 4);
    r = req(CMD_PREDICT, q, 4);
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(r.body_len, 4);
    assert_int_equal(req(CMD_PREDICT, q, 3).status, ST_BAD_LENGTH);
}

/* The hand-computed case of test_train.c through the protocol:
 * W = ((48, 0), (-80, 0)), b = (16, 0); the counter spans one step (500). */
static void train_changes_weights_as_computed(void **state)
{
    response r;
    (void)state;
    tiny_model();
    r = train(1, 1, 1, 1, -1);
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(r.body_len, 8);
    assert_int_equal(get_u32(r.body), 500);
    assert_int_equal(get_u32(r.body + 4), 0);
    r = read_tensor(0x00, 0, 4);
    assert_int_equal(get_i32(r.body), 48);
    assert_int_equal(get_i32(r.body + 4), 0);
    assert_int_equal(get_i32(r.body + 8), -80);
    assert_int_equal(get_i32(r.body + 12), 0);
    r = read_tensor(0x10, 0, 2);
    assert_int_equal(get_i32(r.body), 16);
    assert_int_equal(get_i32(r.body + 4), 0);
}

static void train_checks_its_fields(void **state)
{
    (void)state;
    tiny_model();
    assert_int_equal(train(1, 5, 1, 1, -1).status, ST_BAD_ARGUMENT); /* batch > batch_cap */
    assert_int_equal(train(1, 0, 1, 1, -1).status, ST_BAD_ARGUMENT);
    assert_int_equal(train(5, 1, 1, 1, -1).status, ST_BAD_ARGUMENT); /* n > buffer_cap */
    assert_int_equal(train(1, 1, 1, 0, -1).status, ST_BAD_ARGUMENT);
    assert_int_equal(train(1, 1, 1, 1, 1).status, ST_BAD_ARGUMENT);  /* one layer only */
    assert_int_equal(train(1, 1, 1, 1, -2).status, ST_BAD_ARGUMENT);
    assert_int_equal(counter_reads, 0);                             /* nothing ran */
    assert_int_equal(train(1, 1, 1, 1, 0).status, ST_OK);
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
    assert_int_equal(r.body[0], 1);
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

static void feedback_seed_fills_hidden_layers(void **state)
{
    static const uint16_t dims[] = {4, 200, 10};
    uint8_t seed[4];
    response r;
    uint32_t k;
    (void)state;
    assert_int_equal(configure(2, dims, 1, 1).status, ST_OK);
    put_u32(seed, 12345);
    assert_int_equal(req(CMD_SET_FEEDBACK_SEED, seed, 4).status, ST_OK);
    assert_int_equal(req(CMD_SET_FEEDBACK_SEED, seed, 3).status, ST_BAD_LENGTH);
    r = read_tensor(0x20, 0, 6);
    for (k = 0; k < 6; k++)
        assert_int_equal(get_i32(r.body + 4 * k), prng_feedback_value(prng_mix32(12345), k, 43));
    assert_int_equal(get_i32(r.body), 3); /* seed 12345 stream (test_prng_arena.c) */
}

/* The whole path: encoded bytes in, encoded bytes out. */
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
        cmocka_unit_test_setup(tensors_are_checked_and_round_trip, setup),
        cmocka_unit_test_setup(read_tensor_answer_must_fit, setup),
        cmocka_unit_test_setup(samples_and_predict_are_checked, setup),
        cmocka_unit_test_setup(train_changes_weights_as_computed, setup),
        cmocka_unit_test_setup(train_checks_its_fields, setup),
        cmocka_unit_test_setup(duplicate_request_gets_stored_response, setup),
        cmocka_unit_test_setup(bad_frames_get_naks, setup),
        cmocka_unit_test_setup(reset_forgets_the_model_keeps_counters, setup),
        cmocka_unit_test_setup(feedback_seed_fills_hidden_layers, setup),
        cmocka_unit_test_setup(encoded_round_trip, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
