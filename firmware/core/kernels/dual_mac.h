/*
 * Two 16 x 16-bit multiply-accumulates in one step, for the packed update
 * (update_packed.c, update16.c) and the 16-bit weights' forward pass
 * (dot16.c): acc + lo(x) * lo(y) + hi(x) * hi(y), the halves read as int16,
 * the sum wrapping like int32 arithmetic (the callers only use it where the
 * exact sum is proven to fit). dual_mul is the same without an
 * accumulator (SMUAD). bytes02/bytes13 sign-extend bytes 0 and 2 (1 and 3)
 * of a word into its two int16 halves: four int8 inputs become two pairs
 * for dual_mac (SXTB16). dual_sub_sat subtracts halves from halves,
 * each clamped to int16 (QSUB16); sat16 clamps one value to int16 (SSAT).
 *
 * With the Arm DSP extension (Cortex-M4/M7/M33: __ARM_FEATURE_SIMD32) it is
 * one SMLAD instruction through the ACLE intrinsic; elsewhere portable C
 * with the same result, so host builds run, and test, the same path.
 * TIFED_PACKED_UPDATE says whether the packed path is worth taking: on a
 * core without SMLAD (Cortex-M0) the C version is slower than the plain
 * int32 kernel, so it stays off there. -DTIFED_PACKED_UPDATE=0/1 overrides.
 */
#ifndef TIFED_DUAL_MAC_H
#define TIFED_DUAL_MAC_H

#include <stdint.h>

#if defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>

static inline int32_t dual_mac(uint32_t x, uint32_t y, int32_t acc)
{
    return __smlad((int16x2_t)x, (int16x2_t)y, acc);
}

static inline int32_t dual_mul(uint32_t x, uint32_t y)
{
    return __smuad((int16x2_t)x, (int16x2_t)y);
}

static inline uint32_t bytes02(uint32_t x)
{
    return (uint32_t)__sxtb16((int8x4_t)x);
}

static inline uint32_t bytes13(uint32_t x)
{
    return (uint32_t)__sxtb16((int8x4_t)(x >> 8));
}

static inline uint32_t dual_sub_sat(uint32_t x, uint32_t y)
{
    return (uint32_t)__qsub16((int16x2_t)x, (int16x2_t)y);
}

static inline int32_t sat16(int32_t v)
{
    return __ssat(v, 16);
}
#ifndef TIFED_PACKED_UPDATE
#define TIFED_PACKED_UPDATE 1
#endif

#else

static inline int32_t dual_mac(uint32_t x, uint32_t y, int32_t acc)
{
    const int32_t lo = (int32_t)(int16_t)(uint16_t)x * (int16_t)(uint16_t)y;
    const int32_t hi = (int32_t)(int16_t)(uint16_t)(x >> 16) * (int16_t)(uint16_t)(y >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)lo + (uint32_t)hi);
}

static inline int32_t dual_mul(uint32_t x, uint32_t y)
{
    return dual_mac(x, y, 0);
}

static inline uint32_t bytes02(uint32_t x)
{
    return (uint32_t)(uint16_t)(int16_t)(int8_t)(uint8_t)x | (uint32_t)(uint16_t)(int16_t)(int8_t)(uint8_t)(x >> 16) << 16;
}

static inline uint32_t bytes13(uint32_t x)
{
    return bytes02(x >> 8);
}

static inline int32_t sat16(int32_t v)
{
    return v < INT16_MIN ? INT16_MIN : v > INT16_MAX ? INT16_MAX : v;
}

static inline uint32_t dual_sub_sat(uint32_t x, uint32_t y)
{
    const int32_t lo = sat16((int32_t)(int16_t)(uint16_t)x - (int16_t)(uint16_t)y);
    const int32_t hi = sat16((int32_t)(int16_t)(uint16_t)(x >> 16) - (int16_t)(uint16_t)(y >> 16));
    return (uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16;
}
#ifndef TIFED_PACKED_UPDATE
#if defined(__arm__) || defined(__thumb__)
#define TIFED_PACKED_UPDATE 0 /* an Arm core without the DSP extension */
#else
#define TIFED_PACKED_UPDATE 1 /* a host build: the path every board with SMLAD runs */
#endif
#endif

#endif

#endif
