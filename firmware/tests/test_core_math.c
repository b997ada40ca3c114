/* Integer helpers (core/intmath.h) and the PLA tanh (core/pla.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/intmath.h"
#include "core/pla.h"

/* Expected quotients from Python's `n // d` (floor division on unbounded
 * integers, the same as NumPy's int64 `//` wherever the result fits). */
static const struct {
    int64_t n, d, q;
} floor_table[] = {
    {INT64_C(7), INT64_C(2), INT64_C(3)},
    {INT64_C(-7), INT64_C(2), INT64_C(-4)},
    {INT64_C(7), INT64_C(-2), INT64_C(-4)},
    {INT64_C(-7), INT64_C(-2), INT64_C(3)},
    {INT64_C(6), INT64_C(3), INT64_C(2)},
    {INT64_C(-6), INT64_C(3), INT64_C(-2)},
    {INT64_C(6), INT64_C(-3), INT64_C(-2)},
    {INT64_C(-6), INT64_C(-3), INT64_C(2)},
    {INT64_C(-1), INT64_C(2), INT64_C(-1)},
    {INT64_C(1), INT64_C(-2), INT64_C(-1)},
    {INT64_C(0), INT64_C(5), INT64_C(0)},
    {INT64_C(0), INT64_C(-5), INT64_C(0)},
    {INT64_C(-1), INT64_C(2048), INT64_C(-1)},
    {INT64_C(-2048), INT64_C(2048), INT64_C(-1)},
    {INT64_C(-2049), INT64_C(2048), INT64_C(-2)},
    {INT64_C(2047), INT64_C(2048), INT64_C(0)},
    {INT64_MIN, INT64_C(1), INT64_MIN},
    {INT64_MIN, INT64_C(2), INT64_C(-4611686018427387904)},
    {INT64_MIN, INT64_C(3), INT64_C(-3074457345618258603)},
    {INT64_MIN, INT64_C(-2), INT64_C(4611686018427387904)},
    {INT64_MIN, INT64_C(-3), INT64_C(3074457345618258602)},
    {INT64_MAX, INT64_C(2), INT64_C(4611686018427387903)},
    {INT64_MAX, INT64_C(-2), INT64_C(-4611686018427387904)},
    {INT64_MAX, INT64_C(3), INT64_C(3074457345618258602)},
    {INT64_MAX, INT64_C(-3), INT64_C(-3074457345618258603)},
    {INT64_MIN + 1, INT64_C(-1), INT64_MAX},
    {INT64_MAX, INT64_C(-1), INT64_MIN + 1},
    {INT64_MIN, INT64_MAX, INT64_C(-2)},
    {INT64_MAX, INT64_MIN, INT64_C(-1)},
    {INT64_MIN, INT64_MIN, INT64_C(1)},
    {INT64_C(-5), INT64_MIN, INT64_C(0)},
    {INT64_C(5), INT64_MIN, INT64_C(-1)},
    {INT64_C(-5), INT64_MAX, INT64_C(-1)},
    {INT64_C(5), INT64_MAX, INT64_C(0)},
    {INT64_C(-1099511627777), INT64_C(200704), INT64_C(-5478275)},
    {INT64_C(1099511627777), INT64_C(-200704), INT64_C(-5478275)},
};

static void floor_div_matches_python(void **state)
{
    size_t i;
    (void)state;
    for (i = 0; i < sizeof floor_table / sizeof floor_table[0]; i++) {
        int64_t got = floor_div_i64(floor_table[i].n, floor_table[i].d);
        if (got != floor_table[i].q)
            fail_msg("%lld // %lld: got %lld, want %lld", (long long)floor_table[i].n,
                     (long long)floor_table[i].d, (long long)got, (long long)floor_table[i].q);
    }
}

static void floor_div_edges_follow_numpy(void **state)
{
    (void)state;
    /* NumPy wraps INT64_MIN // -1 and gives 0 for // 0; C leaves both undefined. */
    assert_true(floor_div_i64(INT64_MIN, -1) == INT64_MIN);
    assert_true(floor_div_i64(12345, 0) == 0);
}

/* Numerators near every interesting edge, for the fast-path comparisons. */
static const int64_t probes[] = {
    0, 1, -1, 2, -2, 3, -3, 255, -255, 256, -256, 257, -257, 2047, -2047, 2048, -2048, 2049, -2049,
    INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1, (int64_t)INT32_MIN - 1, INT64_C(1) << 40,
    -(INT64_C(1) << 40) - 1, INT64_C(123456789012345), INT64_C(-123456789012345),
    INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1,
};

static void shift_fast_path_equals_floor_division(void **state)
{
    size_t i;
    unsigned k;
    (void)state;
    for (i = 0; i < sizeof probes / sizeof probes[0]; i++)
        for (k = 0; k <= 62; k++) {
            int64_t want = floor_div_i64(probes[i], INT64_C(1) << k);
            assert_true(floor_shift_i64(probes[i], k) == want);
            if (probes[i] >= INT32_MIN && probes[i] <= INT32_MAX && k <= 30)
                assert_true(floor_shift_i32((int32_t)probes[i], k) == want);
        }
    /* Shifting by 63: only 0 and -1 are possible quotients. */
    assert_true(floor_shift_i64(INT64_MIN, 63) == -1);
    assert_true(floor_shift_i64(INT64_MAX, 63) == 0);
}

static void division_fast_path_equals_generic(void **state)
{
    static const int32_t divisors[] = {1, 2, 3, 7, 256, 784 * 256, 200 * 256, 65535 * 256, INT32_MAX};
    size_t i, j;
    (void)state;
    for (i = 0; i < sizeof probes / sizeof probes[0]; i++)
        for (j = 0; j < sizeof divisors / sizeof divisors[0]; j++)
            assert_true(floor_div_pos(probes[i], divisors[j]) == floor_div_i64(probes[i], divisors[j]));
}

static void saturation_clamps_to_int32(void **state)
{
    (void)state;
    assert_int_equal(sat_i32(0), 0);
    assert_int_equal(sat_i32(-5), -5);
    assert_int_equal(sat_i32(INT32_MAX), INT32_MAX);
    assert_int_equal(sat_i32((int64_t)INT32_MAX + 1), INT32_MAX);
    assert_int_equal(sat_i32(INT32_MIN), INT32_MIN);
    assert_int_equal(sat_i32((int64_t)INT32_MIN - 1), INT32_MIN);
    assert_int_equal(sat_i32(INT64_MAX), INT32_MAX);
    assert_int_equal(sat_i32(INT64_MIN), INT32_MIN);
}

static void log2_and_isqrt(void **state)
{
    uint32_t v;
    (void)state;
    assert_int_equal(log2_exact_u32(1), 0);
    assert_int_equal(log2_exact_u32(2048), 11);
    assert_int_equal(log2_exact_u32(0x80000000u), 31);
    assert_int_equal(log2_exact_u32(0), -1);
    assert_int_equal(log2_exact_u32(3), -1);
    assert_int_equal(log2_exact_u32(5000), -1);
    assert_int_equal(isqrt_u32(0), 0);
    assert_int_equal(isqrt_u32(1872), 43); /* 12 * 32767 // 210 */
    assert_int_equal(isqrt_u32(1848), 42);
    assert_int_equal(isqrt_u32(1849), 43);
    assert_int_equal(isqrt_u32(0xFFFFFFFFu), 65535);
    for (v = 0; v < 70000u; v++) {
        uint32_t r = isqrt_u32(v);
        assert_true(r * r <= v && (r + 1u) * (r + 1u) > v);
    }
}

/* Every boundary of the algorithm.md table: a and g on both sides. */
static const struct {
    int64_t s;
    int a;
    unsigned g;
} pla_table[] = {
    {INT64_MIN, -127, 128}, {-1000000, -127, 128}, {-129, -127, 128}, {-128, -127, 128},
    {-127, -120, 8}, /* floor(-127/4) - 88 = -32 - 88 */
    {-75, -107, 8},  /* floor(-75/4) - 88 = -19 - 88 */
    {-74, -106, 2}, {-32, -64, 2},
    {-31, -62, 1}, {0, 0, 1}, {31, 62, 1},
    {32, 64, 2}, {74, 106, 2},
    {75, 106, 8},  /* 75 // 4 + 88 = 18 + 88 */
    {127, 119, 8}, /* 31 + 88 */
    {128, 128, 128}, {129, 128, 128}, {1000000, 128, 128}, {INT64_MAX, 128, 128},
};

static void pla_tanh_at_every_boundary(void **state)
{
    size_t i;
    (void)state;
    for (i = 0; i < sizeof pla_table / sizeof pla_table[0]; i++) {
        uint8_t g_log2 = 99;
        int a = pla_tanh(pla_table[i].s, &g_log2);
        if (a != pla_table[i].a || (1u << g_log2) != pla_table[i].g)
            fail_msg("s = %lld: got a %d g %u, want a %d g %u", (long long)pla_table[i].s, a, 1u << g_log2,
                     pla_table[i].a, pla_table[i].g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(floor_div_matches_python),
        cmocka_unit_test(floor_div_edges_follow_numpy),
        cmocka_unit_test(shift_fast_path_equals_floor_division),
        cmocka_unit_test(division_fast_path_equals_generic),
        cmocka_unit_test(saturation_clamps_to_int32),
        cmocka_unit_test(log2_and_isqrt),
        cmocka_unit_test(pla_tanh_at_every_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
