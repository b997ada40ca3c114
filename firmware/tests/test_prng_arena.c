/* Feedback PRNG (core/prng.c), arena formula and layout (core/arena.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/net.h"
#include "core/prng.h"

/*
 * Expected values from a tiny Python script written from models/README.md
 * alone (not from tifed_models):
 *   M = 0xFFFFFFFF
 *   def mix32(x):
 *       x ^= x >> 16; x = (x * 0x7FEB352D) & M
 *       x ^= x >> 15; x = (x * 0x846CA68B) & M
 *       x ^= x >> 16; return x
 *   key = mix32(seed); r = math.isqrt(12 * 32767 // (10 + 200))
 *   [((mix32((key + i) & M) * (2 * r)) >> 32) - r for i in range(6)]
 */
static void mix32_known_values(void **state)
{
    (void)state;
    assert_int_equal(prng_mix32(0x00000000u), 0x00000000u);
    assert_int_equal(prng_mix32(0x00000001u), 0x688990C0u);
    assert_int_equal(prng_mix32(0xDEADBEEFu), 0xE628C683u);
    assert_int_equal(prng_mix32(0xFFFFFFFFu), 0x6768824Au);
}

static void feedback_range_known_values(void **state)
{
    (void)state;
    assert_int_equal(prng_feedback_range(10, 200), 43); /* the paper's 784-200-10 */
    assert_int_equal(prng_feedback_range(10, 32), 96);
    assert_int_equal(prng_feedback_range(10, 10), 140);
    assert_int_equal(prng_feedback_range(1, 1), 443);
    assert_int_equal(prng_feedback_range(256, 65535), 2);
}

static void feedback_stream_known_values(void **state)
{
    static const int16_t seed0[6] = {-43, -8, 27, -15, 30, -13};
    static const int16_t seed12345[6] = {3, -31, -42, -41, 27, -35};
    uint32_t i;
    (void)state;
    for (i = 0; i < 6; i++) {
        assert_int_equal(prng_feedback_value(prng_mix32(0), i, 43), seed0[i]);
        assert_int_equal(prng_feedback_value(prng_mix32(12345), i, 43), seed12345[i]);
    }
    /* The counter wraps mod 2^32: key + (2^32 - 1). */
    assert_int_equal(prng_feedback_value(prng_mix32(5), 0xFFFFFFFFu, 43), 41);
}

static void feedback_values_stay_in_range(void **state)
{
    uint32_t i, r;
    (void)state;
    for (r = 1; r <= 443; r += 17)
        for (i = 0; i < 2000; i++) {
            int v = prng_feedback_value(0x12345678u, i, r);
            assert_true(v >= -(int)r && v <= (int)r - 1);
        }
}

/* The arena formula of PROTOCOL.md, values from tifed_models.arena_bytes
 * (and tiny checked by hand: 128 + 20 + 32 + 108 + 44; with 16-bit weights
 * the params are 2 * 4 * 5 + a4(10) + 2 * 8 * 2 + a4(4) = 88 instead of
 * 128, plus a pair scratch of 4 * max(2 * 4, 4, 8) = 32). */
static void arena_need_matches_the_formula(void **state)
{
    static const uint32_t mnist[] = {784, 200, 10}, tiny[] = {3, 5, 2}, one[] = {1, 1},
                          deep[] = {5, 3, 3, 3, 3, 3, 3, 3, 7}, huge[] = {65535, 65535, 256},
                          fashion[] = {784, 64, 10};
    (void)state;
    assert_true(net_arena_need(2, mnist, 50, 25, 32) == 716044u);
    assert_true(net_arena_need(2, tiny, 7, 3, 32) == 332u);
    assert_true(net_arena_need(1, one, 1, 1, 32) == 28u);
    assert_true(net_arena_need(8, deep, 9, 5, 32) == 1832u);
    assert_true(net_arena_need(2, huge, 65535, 65535, 32) == UINT64_C(51756463888));
    assert_true(net_arena_need(2, fashion, 50, 25, 32) == 257044u);
    assert_true(net_arena_need(2, mnist, 50, 25, 16) == 401160u);
    assert_true(net_arena_need(2, tiny, 7, 3, 16) == 324u);
    assert_true(net_arena_need(1, one, 1, 1, 16) == 48u);
    assert_true(net_arena_need(8, deep, 9, 5, 16) == 1728u);
    assert_true(net_arena_need(2, huge, 65535, 65535, 16) == UINT64_C(43133761808));
    assert_true(net_arena_need(2, fashion, 50, 25, 16) == 158400u);
}

static uint32_t arena_words[4096];

static int inside(const void *p, size_t bytes, const uint8_t *lo, const uint8_t *hi)
{
    const uint8_t *b = p;
    return b >= lo && b + bytes <= hi && ((uintptr_t)b & 3u) == 0u;
}

static void configure_lays_out_inside_the_need(void **state)
{
    static const uint32_t dims[] = {3, 5, 2};
    uint8_t *arena = (uint8_t *)arena_words;
    const uint8_t *end = arena + 332;
    tifed_net net;
    uint32_t l;
    (void)state;
    memset(arena_words, 0xA5, sizeof arena_words);
    assert_int_equal(net_configure(&net, arena, 332, 2, dims, 7, 3, 32), 0);
    assert_int_equal(net.arena_used, 332);
    for (l = 0; l < 2; l++) {
        uint32_t out = dims[l + 1], k;
        assert_true(inside(net.w[l], 4u * dims[l] * out, arena, end));
        assert_true(inside(net.b[l], 4u * out, arena, end));
        assert_true(inside(net.act[l], 2u * 3u * out, arena, end));
        assert_true(inside(net.g_log2[l], 3u * out, arena, end));
        assert_true(inside(net.delta[l], 4u * 3u * out, arena, end));
        for (k = 0; k < dims[l] * out; k++)
            assert_int_equal(net.w[l][k], 0); /* zeroed */
    }
    assert_true(inside(net.fb[0], 2u * 2u * 5u, arena, end));
    assert_null(net.fb[1]);
    assert_true(inside(net.x, 21, arena, end));
    assert_true(inside(net.label, 7, arena, end));
    /* Parts follow each other without overlap, in this order. */
    assert_true((uint8_t *)net.b[0] >= (uint8_t *)(net.w[0] + 15));
    assert_true((uint8_t *)net.fb[0] >= (uint8_t *)(net.b[1] + 2));
    assert_true((uint8_t *)net.x >= (uint8_t *)(net.fb[0] + 10));
    assert_true(net.label >= (uint8_t *)net.x + 21);
    assert_true((uint8_t *)net.act[0] >= net.label + 7);
    assert_true((uint8_t *)net.act[1] >= (uint8_t *)(net.delta[0] + 15));
    /* Nothing written past the need. */
    assert_int_equal(arena[332], 0xA5);
}

static void configure_refuses_what_does_not_fit(void **state)
{
    static const uint32_t dims[] = {3, 5, 2}, no_class[] = {3, 0}, many_classes[] = {3, 257};
    tifed_net net;
    (void)state;
    net.n_layers = 77; /* marker: a refusal leaves *net alone */
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words, 331, 2, dims, 7, 3, 32), -1);
    assert_int_equal(net.n_layers, 77);
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words, 4096, 1, no_class, 7, 3, 32), -1);
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words, 16384, 1, many_classes, 7, 3, 32), -1);
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words, 4096, 0, dims, 7, 3, 32), -1);
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words, 4096, 2, dims, 0, 3, 32), -1);
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words, 4096, 2, dims, 7, 0, 32), -1);
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words + 2, 4000, 2, dims, 7, 3, 32), -1); /* misaligned */
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words, 4096, 2, dims, 7, 3, 8), -1);
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words, 4096, 2, dims, 7, 3, 0), -1);
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words, 323, 2, dims, 7, 3, 16), -1);
    assert_int_equal(net.n_layers, 77);
}

/* 16-bit weights: W (rows rounded up to 8) and b as int16 inside the need,
 * the pair scratch last, everything zeroed, the int32 pointers unset;
 * every element reachable through tensor access. */
static void configure_lays_out_int16_weights(void **state)
{
    static const uint32_t dims[] = {7, 6, 3};
    uint8_t *arena = (uint8_t *)arena_words;
    tifed_net net;
    uint32_t need = (uint32_t)net_arena_need(2, dims, 5, 2, 16), l, e;
    (void)state;
    memset(arena_words, 0xA5, sizeof arena_words);
    assert_int_equal(net_configure(&net, arena, need, 2, dims, 5, 2, 16), 0);
    assert_int_equal(net.weight_bits, 16);
    assert_int_equal(net.arena_used, need);
    assert_int_equal(arena[need], 0xA5);
    for (l = 0; l < 2; l++) {
        const uint32_t count = dims[l] * dims[l + 1];
        assert_null(net.w[l]);
        assert_null(net.b[l]);
        assert_true(inside(net.w16[l], 2u * ((dims[l] + 3u) & ~3u) * dims[l + 1], arena, arena + need));
        assert_true(inside(net.b16[l], 2u * dims[l + 1], arena, arena + need));
        for (e = 0; e < count; e++) /* zeroed, and every element its own cell */
            assert_int_equal(net_tensor_get(&net, (uint32_t)l, e), 0);
        for (e = 0; e < count; e++)
            net_tensor_set(&net, (uint32_t)l, e, (int32_t)(e * 517u % 65536u) - 32768);
        for (e = 0; e < count; e++)
            assert_int_equal(net_tensor_get(&net, (uint32_t)l, e), (int32_t)(e * 517u % 65536u) - 32768);
        assert_true(net_tensor_accepts(&net, (uint32_t)l, 32767));
        assert_false(net_tensor_accepts(&net, (uint32_t)l, 32768));
        assert_false(net_tensor_accepts(&net, 1u << 4 | l, -32769));
    }
    assert_true((uint8_t *)net.b16[0] >= (uint8_t *)net.w16[0] + 2u * 8u * 6u);
    assert_true((uint8_t *)net.w16[1] >= (uint8_t *)net.b16[0] + 12u);
    assert_true(inside(net.pairs, 4u * 8u, arena, arena + need)); /* max(rows4(7), rows4(6), 2 * 2) = 8 words */
    assert_true((uint8_t *)net.pairs >= (uint8_t *)(net.delta[1] + 2u * 3u));
}

static void seed_fills_hidden_feedback_from_one_counter(void **state)
{
    static const uint32_t dims[] = {4, 200, 3, 10};
    tifed_net net;
    uint32_t e;
    uint32_t key = prng_mix32(0);
    (void)state;
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words, sizeof arena_words, 3, dims, 2, 1, 32), 0);
    net_seed_feedback(&net, 0);
    for (e = 0; e < 6; e++) /* first layer: the seed-0 stream of the test above */
        assert_int_equal(net.fb[0][e], prng_feedback_value(key, e, 43));
    /* Second hidden layer continues the counter after 10 * 200 entries,
     * with its own range r = isqrt(393204 // 13) = 173. */
    for (e = 0; e < 30; e++)
        assert_int_equal(net.fb[1][e], prng_feedback_value(key, 2000u + e, 173));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mix32_known_values),
        cmocka_unit_test(feedback_range_known_values),
        cmocka_unit_test(feedback_stream_known_values),
        cmocka_unit_test(feedback_values_stay_in_range),
        cmocka_unit_test(arena_need_matches_the_formula),
        cmocka_unit_test(configure_lays_out_inside_the_need),
        cmocka_unit_test(configure_refuses_what_does_not_fit),
        cmocka_unit_test(configure_lays_out_int16_weights),
        cmocka_unit_test(seed_fills_hidden_feedback_from_one_counter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
