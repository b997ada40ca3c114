/*
 * The piecewise-linear tanh of algorithm.md. It returns the activation `a`
 * and stores log2 of the inverse slope `g` (g is always 1, 2, 8 or 128), so
 * the DFA error division floor(e / g) becomes one arithmetic shift.
 */
#ifndef TIFED_PLA_H
#define TIFED_PLA_H

#include <stdint.h>

#include "core/intmath.h"

/* The table for -127 <= s < 128, in 32-bit arithmetic. */
static inline int16_t pla_tanh_mid(int32_t s, uint8_t *g_log2)
{
    if (s >= 75) {
        *g_log2 = 3u;
        return (int16_t)(floor_shift_i32(s, 2) + 88);
    }
    if (s >= 32) {
        *g_log2 = 1u;
        return (int16_t)(s + 32);
    }
    if (s >= -31) {
        *g_log2 = 0u;
        return (int16_t)(2 * s);
    }
    if (s >= -74) {
        *g_log2 = 1u;
        return (int16_t)(s - 32);
    }
    *g_log2 = 3u;
    return (int16_t)(floor_shift_i32(s, 2) - 88);
}

static inline int16_t pla_tanh(int64_t s, uint8_t *g_log2)
{
    if (s >= 128) {
        *g_log2 = 7u;
        return 128;
    }
    if (s < -127) {
        *g_log2 = 7u;
        return -127;
    }
    return pla_tanh_mid((int32_t)s, g_log2);
}

#endif
