/*
 * The epilogue of the fused update kernels (update_pairs.c,
 * update_packed.c): w[k] -= floor(acc / 2^shift) for one weight, on a sum
 * still in a register. SAT = 0 when the caller has proved |w - q| <=
 * INT32_MAX, so the clamp is skipped.
 *
 * In unsigned arithmetic (every step defined): the subtraction overflowed
 * exactly when w and q differ in sign and the result differs in sign from
 * w. The magnitude bits of the new weight are OR-ed into `bits` (as
 * magnitude_bits() in train.c: |v| <= bits + 1).
 */
#ifndef TIFED_KERNELS_UPDATE_STEP_H
#define TIFED_KERNELS_UPDATE_STEP_H

#include "core/intmath.h"

#define UPDATE_STEP(SAT, acc, k)                                                           \
    do {                                                                                   \
        const uint32_t uw = (uint32_t)w[k], uq = (uint32_t)floor_shift_i32(acc, shift);   \
        uint32_t v = uw - uq;                                                              \
        if ((SAT) && ((uw ^ uq) & (uw ^ v)) >> 31)                                         \
            v = (uw >> 31) ? 0x80000000u : 0x7FFFFFFFu;                                    \
        w[k] = v <= 0x7FFFFFFFu ? (int32_t)v : -(int32_t)(~v) - 1;                         \
        bits |= v ^ (0u - (v >> 31));                                                      \
    } while (0)

#endif
