/* Protocol 2 (protocol/commands_v2.c, codes.c, crc64.c): the bit reader,
 * DIGEST, WRITE_DELTA, READ_LOW_BITS and WRITE_SAMPLES_CODED through the
 * dispatcher; every code that is truncated, overlong or corrupt is refused
 * and leaves the device as it was. The codes are built here with a small
 * bit writer that follows PROTOCOL.md, independent of the harness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/codes.h"
#include "protocol/crc64.h"
#include "protocol/dispatch.h"
#include "protocol/wire.h"
#include "tests/support_proto.h"

/* ---- a bit writer (MSB first), as PROTOCOL.md describes the codes ---- */

typedef struct {
    uint8_t buf[512];
    size_t pos; /* bits */
} bit_writer;

static void bw_put(bit_writer *w, uint32_t value, uint32_t bits)
{
    while (bits-- > 0u) {
        if ((value >> bits) & 1u)
            w->buf[w->pos >> 3] |= (uint8_t)(0x80u >> (w->pos & 7u));
        w->pos++;
    }
}

static void bw_rice(bit_writer *w, uint32_t z, uint32_t k)
{
    uint32_t q;
    for (q = z >> k; q > 0u; q--)
        bw_put(w, 0u, 1u);
    bw_put(w, 1u, 1u);
    bw_put(w, z & (k == 32u ? 0xFFFFFFFFu : (1u << k) - 1u), k);
}

static uint32_t zigzag(int32_t d)
{
    return ((uint32_t)d << 1) ^ (d < 0 ? 0xFFFFFFFFu : 0u);
}

static size_t bw_bytes(const bit_writer *w)
{
    return (w->pos + 7u) / 8u;
}

/* A WRITE_DELTA payload: header + runs + the code in w. */
static size_t delta_payload(uint8_t *p, uint8_t tensor, uint8_t form, uint16_t col, uint16_t cols,
                            const uint16_t *runs, uint8_t n_runs, const bit_writer *w)
{
    size_t k = 7;
    uint8_t i;
    p[0] = tensor;
    p[1] = form;
    put_u16(p + 2, col);
    put_u16(p + 4, cols);
    p[6] = n_runs;
    for (i = 0; i < 2u * n_runs; i++, k += 2)
        put_u16(p + k, runs[i]);
    memcpy(p + k, w->buf, bw_bytes(w));
    return k + bw_bytes(w);
}

static int32_t element(uint8_t id, uint32_t e)
{
    response r = read_tensor(id, e, 1);
    assert_int_equal(r.status, ST_OK);
    return get_i32(r.body);
}

/* ---- tests ---- */

static void crc64_check_value(void **state)
{
    (void)state;
    assert_true(crc64_final(crc64_update(CRC64_INIT, (const uint8_t *)"123456789", 9)) ==
                UINT64_C(0x995DC9BBDF1939FA));
}

static void bit_reader_limits(void **state)
{
    static const uint8_t one_31[] = {0x40, 0, 0, 0, 0};  /* 0, 1, then 31 zero bits: (1 << 31) */
    static const uint8_t two_zeros[] = {0x20, 0, 0, 0, 0}; /* q = 2 with k = 31: leaves 32 bits */
    static const uint8_t pad_bad[] = {0x81};               /* rice(k=0) = 0, then padding with a one */
    bit_reader br;
    uint32_t v;
    (void)state;
    br_init(&br, one_31, sizeof one_31);
    assert_int_equal(br_rice(&br, 31, &v), 0);
    assert_true(v == 0x80000000u);
    br_init(&br, two_zeros, sizeof two_zeros);
    assert_int_equal(br_rice(&br, 31, &v), -1);
    br_init(&br, one_31, 1); /* the low bits are missing */
    assert_int_equal(br_rice(&br, 31, &v), -1);
    br_init(&br, pad_bad, 1);
    assert_int_equal(br_rice(&br, 0, &v), 0);
    assert_int_equal(br_finish(&br), -1);
    br_init(&br, pad_bad, 1);
    assert_int_equal(br_read(&br, 8, &v), 0);
    assert_int_equal(v, 0x81);
    assert_int_equal(br_finish(&br), 0);
    assert_int_equal(br_read(&br, 1, &v), -1);
    assert_int_equal(unzigzag32(0), 0u);
    assert_int_equal(unzigzag32(1), 0xFFFFFFFFu);
    assert_int_equal(unzigzag32(0xFFFFFFFFu), 0x80000000u);
}

static void digest_covers_the_listed_tensors(void **state)
{
    static const uint16_t dims[] = {3, 5, 2};
    static const int32_t w[] = {1, -2, INT32_MIN, INT32_MAX};
    uint8_t ids[] = {2, 0x00, 0x11}, bytes[4 * 17];
    uint64_t crc;
    uint32_t e;
    response r;
    (void)state;
    assert_int_equal(req(CMD_DIGEST, ids, 3).status, ST_BAD_STATE);
    assert_int_equal(configure(2, dims, 1, 1).status, ST_OK);
    assert_int_equal(write_tensor(0x00, 3, w, 4).status, ST_OK);
    assert_int_equal(write_tensor(0x11, 0, w, 2).status, ST_OK);
    memset(bytes, 0, sizeof bytes);
    for (e = 0; e < 4; e++)
        put_i32(bytes + 4u * (3u + e), w[e]); /* W_0 (15 values), then b_1 (2) */
    put_i32(bytes + 4u * 15u, w[0]);
    put_i32(bytes + 4u * 16u, w[1]);
    crc = crc64_final(crc64_update(CRC64_INIT, bytes, sizeof bytes));
    r = req(CMD_DIGEST, ids, 3);
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(r.body_len, 8);
    assert_true(((uint64_t)get_u32(r.body + 4) << 32 | get_u32(r.body)) == crc);
    ids[0] = 3;
    assert_int_equal(req(CMD_DIGEST, ids, 3).status, ST_BAD_LENGTH);
    ids[0] = 2;
    ids[2] = 0x21; /* the last layer has no feedback */
    assert_int_equal(req(CMD_DIGEST, ids, 3).status, ST_BAD_ARGUMENT);
    ids[0] = 0;
    assert_int_equal(req(CMD_DIGEST, ids, 1).status, ST_BAD_ARGUMENT);
}

static void write_delta_each_and_shared(void **state)
{
    static const uint16_t dims[] = {4, 5, 2};
    static const int32_t start_w[] = {INT32_MAX, 7, -7, 0};
    static const uint16_t rows01[] = {0, 2};
    static const uint16_t rows0_3[] = {0, 1, 3, 1};
    static const int32_t deltas[] = {1, -3, 100000, -1}; /* rows 0, 1 of columns 1 and 2 */
    uint8_t p[600];
    bit_writer w;
    size_t n;
    uint32_t c, r;
    (void)state;
    assert_int_equal(configure(2, dims, 1, 1).status, ST_OK);
    assert_int_equal(write_tensor(0x00, 1, start_w, 4).status, ST_OK); /* W_0[0][1..4] */
    /* EACH: rows 0..1 x columns 1..2, k = 3 then k = 17. */
    memset(&w, 0, sizeof w);
    bw_put(&w, 3, 5);
    bw_rice(&w, zigzag(deltas[0]), 3);
    bw_rice(&w, zigzag(deltas[1]), 3);
    bw_put(&w, 17, 5);
    bw_rice(&w, zigzag(deltas[2]), 17);
    bw_rice(&w, zigzag(deltas[3]), 17);
    n = delta_payload(p, 0x00, 0, 1, 2, rows01, 1, &w);
    assert_int_equal(req(CMD_WRITE_DELTA, p, n).status, ST_OK);
    assert_int_equal(element(0x00, 1), INT32_MIN); /* INT32_MAX + 1 wraps, as on the wire */
    assert_int_equal(element(0x00, 6), -3);
    assert_int_equal(element(0x00, 2), 100007);
    assert_int_equal(element(0x00, 7), -1);
    assert_int_equal(element(0x00, 3), -7); /* column 3 untouched */
    /* SHARED: rows 0 and 3, columns 0..4: each column's one delta c - 2. */
    memset(&w, 0, sizeof w);
    for (c = 0; c < 5; c++) {
        bw_put(&w, 2, 5);
        bw_rice(&w, zigzag((int32_t)c - 2), 2);
    }
    n = delta_payload(p, 0x00, 1, 0, 5, rows0_3, 2, &w);
    assert_int_equal(req(CMD_WRITE_DELTA, p, n).status, ST_OK);
    assert_int_equal(element(0x00, 15 + 4), 2);
    assert_int_equal(element(0x00, 0), -2);
    assert_int_equal(element(0x00, 2), 100007);
    assert_int_equal(element(0x00, 5 + 1), -3); /* row 1 is not listed */
    for (r = 0; r < 5; r++)
        assert_int_equal(element(0x00, 10 + r), 0); /* nor row 2 */
    /* A bias is one column: b_1 += (5, -5). */
    memset(&w, 0, sizeof w);
    bw_put(&w, 4, 5);
    bw_rice(&w, zigzag(5), 4);
    bw_rice(&w, zigzag(-5), 4);
    n = delta_payload(p, 0x11, 0, 0, 1, rows01, 1, &w);
    assert_int_equal(req(CMD_WRITE_DELTA, p, n).status, ST_OK);
    assert_int_equal(element(0x11, 0), 5);
    assert_int_equal(element(0x11, 1), -5);
}

/* Every refusal leaves W_0 and the feedback as they were. */
static void write_delta_refusals_change_nothing(void **state)
{
    static const uint16_t dims[] = {4, 5, 2};
    static const uint16_t rows01[] = {0, 2};
    static const uint16_t overlap[] = {0, 2, 1, 1};
    static const uint16_t outside[] = {3, 2};
    static const uint16_t empty[] = {1, 0};
    uint8_t p[600] = {0}, digest_ids[] = {2, 0x00, 0x20};
    uint8_t before[8];
    bit_writer w;
    size_t n;
    response r;
    (void)state;
    assert_int_equal(req(CMD_WRITE_DELTA, p, 7).status, ST_BAD_STATE);
    assert_int_equal(configure(2, dims, 1, 1).status, ST_OK);
    r = req(CMD_DIGEST, digest_ids, 3);
    memcpy(before, r.body, 8);
    memset(&w, 0, sizeof w);
    bw_put(&w, 0, 5);
    bw_rice(&w, zigzag(9), 0);
    bw_rice(&w, zigzag(9), 0);
    n = delta_payload(p, 0x00, 0, 0, 1, rows01, 1, &w);
    /* Truncated, one byte too many, nonzero padding: BAD_CODE. */
    assert_int_equal(req(CMD_WRITE_DELTA, p, n - 1).status, ST_BAD_CODE);
    p[n] = 0;
    assert_int_equal(req(CMD_WRITE_DELTA, p, n + 1).status, ST_BAD_CODE);
    p[n - 1] |= 1u;
    assert_int_equal(req(CMD_WRITE_DELTA, p, n).status, ST_BAD_CODE);
    p[n - 1] &= 0xFEu;
    /* Header: short, runs past the payload, bad form, columns, runs. */
    assert_int_equal(req(CMD_WRITE_DELTA, p, 6).status, ST_BAD_LENGTH);
    assert_int_equal(req(CMD_WRITE_DELTA, p, 10).status, ST_BAD_LENGTH);
    p[1] = 2;
    assert_int_equal(req(CMD_WRITE_DELTA, p, n).status, ST_BAD_ARGUMENT);
    p[1] = 0;
    put_u16(p + 2, 5);
    assert_int_equal(req(CMD_WRITE_DELTA, p, n).status, ST_BAD_ARGUMENT);
    put_u16(p + 2, 0);
    p[0] = 0x21;
    assert_int_equal(req(CMD_WRITE_DELTA, p, n).status, ST_BAD_ARGUMENT);
    n = delta_payload(p, 0x00, 0, 0, 1, overlap, 2, &w);
    assert_int_equal(req(CMD_WRITE_DELTA, p, n).status, ST_BAD_ARGUMENT);
    n = delta_payload(p, 0x00, 0, 0, 1, outside, 1, &w);
    assert_int_equal(req(CMD_WRITE_DELTA, p, n).status, ST_BAD_ARGUMENT);
    n = delta_payload(p, 0x00, 0, 0, 1, empty, 1, &w);
    assert_int_equal(req(CMD_WRITE_DELTA, p, n).status, ST_BAD_ARGUMENT);
    /* Feedback is int16: a first value that fits and a second that does
     * not refuse the whole block, the first included. */
    memset(&w, 0, sizeof w);
    bw_put(&w, 15, 5);
    bw_rice(&w, zigzag(32767), 15);
    bw_rice(&w, zigzag(32768), 15);
    n = delta_payload(p, 0x20, 0, 0, 1, rows01, 1, &w);
    assert_int_equal(req(CMD_WRITE_DELTA, p, n).status, ST_BAD_ARGUMENT);
    r = req(CMD_DIGEST, digest_ids, 3);
    assert_memory_equal(r.body, before, 8);
}

static void read_low_bits_packs_lsb_first(void **state)
{
    static const uint16_t dims[] = {2, 3};
    static const int32_t w[] = {5, -1, 2, INT32_MIN, 0, 1};
    uint8_t p[8] = {0x00, 0, 0, 0, 0, 6, 0, 3};
    response r;
    (void)state;
    assert_int_equal(configure(1, dims, 1, 1).status, ST_OK);
    assert_int_equal(write_tensor(0x00, 0, w, 6).status, ST_OK);
    r = req(CMD_READ_LOW_BITS, p, 8); /* 3 bits: 5, 7, 2, 0, 0, 1 */
    assert_int_equal(r.status, ST_OK);
    assert_int_equal(r.body_len, 3);
    /* Each value's bits LSB first: 1,0,1 1,1,1 0,1,0 0,0,0 0,0,0 1,0,0; the
     * stream's bit j is bit j % 8 of byte j / 8. */
    assert_int_equal(r.body[0], 0xBD); /* 1,0,1,1,1,1,0,1 */
    assert_int_equal(r.body[1], 0x80); /* 0,0,0,0,0,0,0,1 */
    assert_int_equal(r.body[2], 0x00); /* 0,0 and padding */
    p[7] = 32;
    r = req(CMD_READ_LOW_BITS, p, 8);
    assert_int_equal(r.body_len, 24);
    assert_int_equal(get_i32(r.body + 12), INT32_MIN);
    p[7] = 0;
    assert_int_equal(req(CMD_READ_LOW_BITS, p, 8).status, ST_BAD_ARGUMENT);
    p[7] = 33;
    assert_int_equal(req(CMD_READ_LOW_BITS, p, 8).status, ST_BAD_ARGUMENT);
    p[7] = 1;
    p[5] = 7; /* offset 0 + 7 > 6 */
    assert_int_equal(req(CMD_READ_LOW_BITS, p, 8).status, ST_BAD_ARGUMENT);
    assert_int_equal(req(CMD_READ_LOW_BITS, p, 7).status, ST_BAD_LENGTH);
}

static void read_low_bits_answer_must_fit(void **state)
{
    static const uint16_t dims[] = {100, 100};
    uint8_t p[8] = {0x00, 0, 0, 0, 0, 0, 0, 8};
    (void)state;
    assert_int_equal(configure(1, dims, 1, 1).status, ST_OK);
    put_u16(p + 5, TIFED_MAX_PAYLOAD - 1);
    assert_int_equal(req(CMD_READ_LOW_BITS, p, 8).status, ST_OK);
    put_u16(p + 5, TIFED_MAX_PAYLOAD);
    assert_int_equal(req(CMD_READ_LOW_BITS, p, 8).status, ST_BAD_ARGUMENT);
}

/* Samples of 6 inputs: (label 1: bg bg 10 20 bg bg), (label 2: 30 bg bg bg bg bg). */
static size_t two_samples(uint8_t *p, uint16_t first)
{
    bit_writer w;
    memset(&w, 0, sizeof w);
    bw_rice(&w, 2, 1); /* sample 0: 2 background */
    bw_rice(&w, 2, 1); /* 2 literals */
    bw_put(&w, 10 + 128, 8);
    bw_put(&w, 20 + 128, 8);
    bw_rice(&w, 2, 1); /* 2 background: the end */
    bw_rice(&w, 0, 1); /* sample 1: no background */
    bw_rice(&w, 1, 1);
    bw_put(&w, 30 + 128, 8);
    bw_rice(&w, 5, 1);
    put_u16(p, first);
    put_u16(p + 2, 2);
    p[4] = 1; /* kz */
    p[5] = 1; /* kl */
    p[6] = 1;
    p[7] = 2;
    memcpy(p + 8, w.buf, bw_bytes(&w));
    return 8 + bw_bytes(&w);
}

static void write_samples_coded(void **state)
{
    static const uint16_t dims[] = {6, 3};
    static const int8_t want[12] = {-128, -128, 10, 20, -128, -128, 30, -128, -128, -128, -128, -128};
    uint8_t p[64];
    size_t n;
    (void)state;
    assert_int_equal(configure(1, dims, 4, 1).status, ST_OK);
    memset(st.net.x, 0x55, 24);
    n = two_samples(p, 1);
    assert_int_equal(req(CMD_WRITE_SAMPLES_CODED, p, n).status, ST_OK);
    assert_memory_equal(st.net.x + 6, want, 12);
    assert_int_equal(st.net.label[1], 1);
    assert_int_equal(st.net.label[2], 2);
    assert_int_equal(st.net.x[0], 0x55); /* sample 0 untouched */
    /* Refusals change nothing: a label of no class, too far, truncated, overlong. */
    memset(st.net.x, 0x55, 24);
    p[7] = 3;
    assert_int_equal(req(CMD_WRITE_SAMPLES_CODED, p, n).status, ST_BAD_ARGUMENT);
    p[7] = 2;
    put_u16(p, 3);
    assert_int_equal(req(CMD_WRITE_SAMPLES_CODED, p, n).status, ST_BAD_ARGUMENT);
    put_u16(p, 1);
    assert_int_equal(req(CMD_WRITE_SAMPLES_CODED, p, n - 1).status, ST_BAD_CODE);
    p[n] = 0;
    assert_int_equal(req(CMD_WRITE_SAMPLES_CODED, p, n + 1).status, ST_BAD_CODE);
    p[4] = 16;
    assert_int_equal(req(CMD_WRITE_SAMPLES_CODED, p, n).status, ST_BAD_ARGUMENT);
    assert_int_equal(req(CMD_WRITE_SAMPLES_CODED, p, 5).status, ST_BAD_LENGTH);
    assert_int_equal(st.net.x[6], 0x55);
    assert_int_equal(st.net.label[1], 1);
}

static void write_samples_coded_runs_must_fit_the_sample(void **state)
{
    static const uint16_t dims[] = {6, 3};
    uint8_t p[64];
    bit_writer w;
    (void)state;
    assert_int_equal(configure(1, dims, 4, 1).status, ST_OK);
    memset(st.net.x, 0x55, 24);
    put_u16(p, 0);
    put_u16(p + 2, 1);
    p[4] = 0;
    p[5] = 0;
    p[6] = 0;
    memset(&w, 0, sizeof w); /* 7 background inputs in a sample of 6 */
    bw_rice(&w, 7, 0);
    memcpy(p + 7, w.buf, bw_bytes(&w));
    assert_int_equal(req(CMD_WRITE_SAMPLES_CODED, p, 7 + bw_bytes(&w)).status, ST_BAD_CODE);
    memset(&w, 0, sizeof w); /* 1 background, then a literal run of 0 */
    bw_rice(&w, 1, 0);
    bw_rice(&w, 0, 0);
    memcpy(p + 7, w.buf, bw_bytes(&w));
    assert_int_equal(req(CMD_WRITE_SAMPLES_CODED, p, 7 + bw_bytes(&w)).status, ST_BAD_CODE);
    assert_int_equal(st.net.x[0], 0x55);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc64_check_value),
        cmocka_unit_test(bit_reader_limits),
        cmocka_unit_test_setup(digest_covers_the_listed_tensors, setup),
        cmocka_unit_test_setup(write_delta_each_and_shared, setup),
        cmocka_unit_test_setup(write_delta_refusals_change_nothing, setup),
        cmocka_unit_test_setup(read_low_bits_packs_lsb_first, setup),
        cmocka_unit_test_setup(read_low_bits_answer_must_fit, setup),
        cmocka_unit_test_setup(write_samples_coded, setup),
        cmocka_unit_test_setup(write_samples_coded_runs_must_fit_the_sample, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
