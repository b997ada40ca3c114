/* Dispatcher fixture for test_dispatch.c and test_commands.c. */
#include "tests/support_proto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/crc16.h"

static uint32_t arena_words[FIXTURE_ARENA_BYTES / 4u];
proto_state st;
unsigned counter_reads;

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

void start(uint32_t arena_bytes)
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

int setup(void **state)
{
    (void)state;
    start(sizeof arena_words);
    return 0;
}

response parse(const uint8_t *raw, size_t n)
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

uint8_t frame_buf[WIRE_RAW_MAX + 16];

size_t build(uint8_t version, uint8_t seq, uint8_t code, const uint8_t *payload, size_t n)
{
    frame_buf[0] = version;
    frame_buf[1] = seq;
    frame_buf[2] = code;
    if (n)
        memcpy(frame_buf + 3, payload, n);
    put_u16(frame_buf + 3 + n, crc16_ccitt_false(frame_buf, 3 + n));
    return 5 + n;
}

response send_frame(size_t len)
{
    const uint8_t *resp = NULL;
    size_t n = proto_handle_frame(&st, frame_buf, len, &resp);
    return parse(resp, n);
}

response request(uint8_t seq, uint8_t code, const uint8_t *payload, size_t n)
{
    response r = send_frame(build(1, seq, code, payload, n));
    assert_int_equal(r.seq, seq);
    assert_int_equal(r.code, code | 0x80);
    return r;
}

static uint8_t seq_counter;
response req(uint8_t code, const uint8_t *payload, size_t n)
{
    seq_counter = (uint8_t)(seq_counter % 255u + 1u);
    return request(seq_counter, code, payload, n);
}

response configure_bits(uint32_t n_layers, const uint16_t *dims, uint16_t buffer_cap, uint16_t batch_cap,
                        int weight_bits)
{
    uint8_t p[5 + 2 * (TIFED_MAX_LAYERS + 2) + 1]; /* room for one layer too many, and the width */
    const size_t n = 5 + 2 * (n_layers + 1);
    uint32_t l;
    p[0] = (uint8_t)n_layers;
    put_u16(p + 1, buffer_cap);
    put_u16(p + 3, batch_cap);
    for (l = 0; l <= n_layers; l++)
        put_u16(p + 5 + 2 * l, dims[l]);
    if (weight_bits < 0)
        return req(CMD_CONFIGURE, p, n);
    p[n] = (uint8_t)weight_bits;
    return req(CMD_CONFIGURE, p, n + 1);
}

response configure(uint32_t n_layers, const uint16_t *dims, uint16_t buffer_cap, uint16_t batch_cap)
{
    return configure_bits(n_layers, dims, buffer_cap, batch_cap, -1);
}

response read_tensor(uint8_t id, uint32_t offset, uint16_t count)
{
    uint8_t p[7];
    p[0] = id;
    put_u32(p + 1, offset);
    put_u16(p + 5, count);
    return req(CMD_READ_TENSOR, p, 7);
}

response write_tensor(uint8_t id, uint32_t offset, const int32_t *v, uint16_t count)
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

response train(uint16_t n, uint16_t batch, uint16_t epochs, uint32_t lr_inv, int8_t layer)
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
void tiny_model(void)
{
    static const uint16_t dims[] = {2, 2};
    static const uint8_t samples[] = {0, 0, 1, 0, 0, 3, (uint8_t)-5};
    assert_int_equal(configure(1, dims, 4, 4).status, ST_OK);
    assert_int_equal(req(CMD_WRITE_SAMPLES, samples, sizeof samples).status, ST_OK);
}

