/*
 * Integer helpers with NumPy's semantics: floor division (`//`, rounding
 * toward minus infinity, not C's truncation) and int32 / int16 saturation.
 * All inline: they sit in the per-output and per-weight epilogues.
 */
#ifndef TIFED_INTMATH_H
#define TIFED_INTMATH_H

#include <stdint.h>

/* floor(n / d) for any d != 0, as NumPy's int64 `//`. Two edges C leaves
 * undefined get NumPy's answers: INT64_MIN // -1 wraps to INT64_MIN, and
 * n // 0 is 0 (the algorithm never divides by zero or a negative). */
static inline int64_t floor_div_i64(int64_t n, int64_t d)
{
    int64_t q, r;
    if (d == -1)
        return n == INT64_MIN ? INT64_MIN : -n;
    if (d == 0)
        return 0;
    q = n / d;
    r = n % d;
    if (r != 0 && ((r < 0) != (d < 0)))
        q -= 1;
    return q;
}

/* floor(n / 2^k), 0 <= k <= 63. Written without shifting a negative value
 * (implementation-defined in C99): for n < 0, ~n = -n-1 >= 0 and
 * ~(~n >> k) = -floor((-n-1) / 2^k) - 1 = floor(n / 2^k). gcc turns both
 * branches into one arithmetic shift. */
static inline int64_t floor_shift_i64(int64_t n, unsigned k)
{
    return n < 0 ? ~(~n >> k) : n >> k;
}

static inline int32_t floor_shift_i32(int32_t n, unsigned k)
{
    return n < 0 ? ~(~n >> k) : n >> k;
}

/* floor(n / d) for 0 < d <= INT32_MAX: one 32-bit hardware division (SDIV on
 * Cortex-M3/M4) when n fits 32 bits, which is the usual case, else 64-bit. */
static inline int64_t floor_div_pos(int64_t n, int32_t d)
{
    if (n >= INT32_MIN && n <= INT32_MAX) {
        int32_t n32 = (int32_t)n;
        int32_t q = n32 / d;
        if (n32 % d < 0)
            q -= 1;
        return q;
    }
    return floor_div_i64(n, d);
}

/* Clamp into int32: weights and biases saturate instead of wrapping. */
static inline int32_t sat_i32(int64_t v)
{
    if (v > INT32_MAX)
        return INT32_MAX;
    if (v < INT32_MIN)
        return INT32_MIN;
    return (int32_t)v;
}

/* Clamp into int16: 16-bit weights and biases saturate there. */
static inline int32_t sat_i16(int32_t v)
{
    return v < INT16_MIN ? INT16_MIN : v > INT16_MAX ? INT16_MAX : v;
}

/* k if v == 2^k, else -1 (v = 0 gives -1). */
static inline int log2_exact_u32(uint32_t v)
{
    int k = 0;
    if (v == 0u || (v & (v - 1u)) != 0u)
        return -1;
    while (v > 1u) {
        v >>= 1;
        k++;
    }
    return k;
}

/* floor(sqrt(v)), exact for every uint32. */
uint32_t isqrt_u32(uint32_t v);

#endif
