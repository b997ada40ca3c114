/*
 * update16_pairs (kernels.h): the weight update of 16-bit weights, fused
 * like update_packed.c. Rows r and r + 2 of one group (panel.h) share
 * their pair words, so the kernel updates both: c0 and c1 hold their input
 * columns as sample pairs, d the full delta panels rewritten by
 * pack_delta_pairs, and one dual_mac (SMLAD) adds two samples' products.
 * The exact sums fit int32 (the caller proves dot32_exact), so the order
 * of the additions cannot change them.
 *
 * Epilogue per weight: w = sat16(w - floor(sum / 2^shift)). With
 * shift >= 1, |floor(sum / 2^shift)| <= 2^30, so w - q is exact in int32
 * before the clamp; the caller takes another path for shift 0.
 *
 * Every board runs this kernel for 16-bit weights, also without SMLAD
 * (Cortex-M0, where dual_mac is portable C): there is no int32 twin.
 */
#include <string.h>

#include "core/intmath.h"
#include "core/kernels/kernels.h"

static inline uint32_t step16(uint32_t pair, int32_t lo_sum, int32_t hi_sum, unsigned shift)
{
    const int32_t lo = sat_i16((int16_t)(uint16_t)pair - floor_shift_i32(lo_sum, shift));
    const int32_t hi = sat_i16((int16_t)(uint16_t)(pair >> 16) - floor_shift_i32(hi_sum, shift));
    return (uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16;
}

void update16_pairs(const int16_t *c0, const int16_t *c1, const int32_t *d, uint32_t pairs, uint32_t *w,
                    uint32_t panels, uint32_t w_step, uint32_t d_step, unsigned shift)
{
    const int16_t *end = c0 + 2u * pairs;
    uint32_t p;
    for (p = 0; p < panels; p++, w += w_step, d += d_step) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        const uint32_t *dp = (const uint32_t *)(const void *)d;
        const int16_t *x0 = c0, *x1 = c1;
        while (x0 != end) {
            uint32_t u, v;
            const uint32_t d0 = dp[0], d1 = dp[1], d2 = dp[2], d3 = dp[3];
            memcpy(&u, x0, sizeof u); /* one 32-bit load */
            memcpy(&v, x1, sizeof v);
            x0 += 2;
            x1 += 2;
            a0 = dual_mac(u, d0, a0);
            a1 = dual_mac(u, d1, a1);
            a2 = dual_mac(u, d2, a2);
            a3 = dual_mac(u, d3, a3);
            b0 = dual_mac(v, d0, b0);
            b1 = dual_mac(v, d1, b1);
            b2 = dual_mac(v, d2, b2);
            b3 = dual_mac(v, d3, b3);
            dp += PANEL_WIDTH;
        }
        w[0] = step16(w[0], a0, b0, shift);
        w[1] = step16(w[1], a1, b1, shift);
        w[2] = step16(w[2], a2, b2, shift);
        w[3] = step16(w[3], a3, b3, shift);
    }
}
