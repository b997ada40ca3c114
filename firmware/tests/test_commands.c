/* The data commands (protocol/commands.c): tensors, samples, TRAIN,
 * PREDICT, the feedback seed; every field check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/prng.h"
#include "protocol/dispatch.h"
#include "protocol/wire.h"
#include "tests/support_proto.h"

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

/* CONFIGURE's optional weight_bits byte: 16 or 32 (absent: 32), the arena
 * formula with that width, and 16-bit weights and biases refuse values
 * outside int16 on WRITE_TENSOR (nothing written) and read back exactly. */
static void configure_weight_width(void **state)
{
    static const uint16_t dims[] = {3, 5, 2};
    static const int32_t edge[] = {-32768, 32767, -1};
    static const int32_t too_big[] = {5, 32768};
    response r;
    (void)state;
    r = configure_bits(2, dims, 7, 3, 16);
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(get_u32(r.body), 324u); /* tifed_models.arena_bytes((3, 5, 2), 7, 3, 16) */
    assert_int_equal(st.net.weight_bits, 16);
    assert_int_equal(write_tensor(0x00, 12, edge, 3).status, ST_OK);
    r = read_tensor(0x00, 11, 4);
    assert_int_equal(get_i32(r.body), 0);
    assert_int_equal(get_i32(r.body + 4), -32768);
    assert_int_equal(get_i32(r.body + 8), 32767);
    assert_int_equal(get_i32(r.body + 12), -1);
    assert_int_equal(write_tensor(0x11, 0, edge, 2).status, ST_OK);
    assert_int_equal(write_tensor(0x00, 0, too_big, 2).status, ST_BAD_ARGUMENT);
    assert_int_equal(write_tensor(0x10, 3, too_big, 2).status, ST_BAD_ARGUMENT);
    r = read_tensor(0x00, 0, 1);
    assert_int_equal(get_i32(r.body), 0); /* the refused write wrote nothing */
    r = read_tensor(0x11, 0, 2);
    assert_int_equal(get_i32(r.body), -32768);
    assert_int_equal(get_i32(r.body + 4), 32767);
    /* 32 explicitly, or no byte: int32 weights. */
    r = configure_bits(2, dims, 7, 3, 32);
    assert_int_equal(get_u32(r.body), 332u);
    assert_int_equal(st.net.weight_bits, 32);
    assert_int_equal(write_tensor(0x00, 0, too_big, 2).status, ST_OK);
    assert_int_equal(configure(2, dims, 7, 3).status, ST_OK);
    assert_int_equal(st.net.weight_bits, 32);
    /* Any other width is refused, and changes nothing. */
    assert_int_equal(configure_bits(2, dims, 7, 3, 8).status, ST_BAD_ARGUMENT);
    assert_int_equal(configure_bits(2, dims, 7, 3, 0).status, ST_BAD_ARGUMENT);
    assert_int_equal(st.net.weight_bits, 32);
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
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(tensors_are_checked_and_round_trip, setup),
        cmocka_unit_test_setup(configure_weight_width, setup),
        cmocka_unit_test_setup(read_tensor_answer_must_fit, setup),
        cmocka_unit_test_setup(samples_and_predict_are_checked, setup),
        cmocka_unit_test_setup(train_changes_weights_as_computed, setup),
        cmocka_unit_test_setup(train_checks_its_fields, setup),
        cmocka_unit_test_setup(feedback_seed_fills_hidden_layers, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
