/*
 * update16_pairs*: the weight update of 16-bit weights (kernels.h). Rows r
 * and r + 2 of a group share their pair words (panel.h), so the kernel
 * updates both at once: `cols` holds their input columns over the batch as
 * sample pairs, interleaved (column_pairs_*, expand16.c), and `d` the full
 * delta panels rewritten by pack_delta_pairs, so one dual_mac (SMLAD) adds
 * two samples' products. The exact sums fit int32 (the caller proves
 * dot32_exact), so the order of the additions cannot change them.
 *
 * Epilogue per weight: w = sat16(w - floor(sum / 2^shift)), shift >= 1 (the
 * caller takes another path for shift 0). _small: the caller has proved
 * |floor(sum / 2^shift)| <= 32767, so both steps of a word fit one int16
 * pair and one dual_sub_sat (QSUB16) does the two clamped subtractions.
 * Otherwise |floor(sum / 2^shift)| <= 2^30, so w - q is exact in int32
 * before sat16.
 *
 * Every board runs these kernels for 16-bit weights, also without SMLAD
 * (Cortex-M0, where dual_mac is portable C): there is no int32 twin.
 */
#include "core/intmath.h"
#include "core/kernels/kernels.h"

static inline uint32_t pack(int32_t lo, int32_t hi)
{
    return (uint32_t)(uint16_t)lo | (uint32_t)hi << 16;
}

static inline uint32_t step_wide(uint32_t pair, int32_t lo_sum, int32_t hi_sum, unsigned shift)
{
    const int32_t lo = sat16((int16_t)(uint16_t)pair - floor_shift_i32(lo_sum, shift));
    const int32_t hi = sat16((int16_t)(uint16_t)(pair >> 16) - floor_shift_i32(hi_sum, shift));
    return pack(lo, hi);
}

static inline uint32_t step_small(uint32_t pair, int32_t lo_sum, int32_t hi_sum, unsigned shift)
{
    return dual_sub_sat(pair, pack(floor_shift_i32(lo_sum, shift), floor_shift_i32(hi_sum, shift)));
}

/* Sample pair k before cp, dp (they point past the block): its column
 * words u (row r), v (row r + 2) against the four packed delta words. */
#define PAIR_WITH(k, MAC)                                                                  \
    do {                                                                                   \
        const uint32_t *c_ = cp - 2u * (k), *d_ = dp - PANEL_WIDTH * (k);                  \
        const uint32_t u = c_[0], v = c_[1];                                               \
        uint32_t dd;                                                                       \
        dd = d_[0];                                                                        \
        a0 = MAC(u, dd, a0);                                                               \
        b0 = MAC(v, dd, b0);                                                               \
        dd = d_[1];                                                                        \
        a1 = MAC(u, dd, a1);                                                               \
        b1 = MAC(v, dd, b1);                                                               \
        dd = d_[2];                                                                        \
        a2 = MAC(u, dd, a2);                                                               \
        b2 = MAC(v, dd, b2);                                                               \
        dd = d_[3];                                                                        \
        a3 = MAC(u, dd, a3);                                                               \
        b3 = MAC(v, dd, b3);                                                               \
    } while (0)
#define PAIR(k) PAIR_WITH(k, dual_mac)
#define START(x, y, acc) dual_mul((x), (y)) /* the first pair sets the sums */

#define BLOCK_PAIRS 16u

/*
 * Per panel: the sample pairs in blocks of up to 16, each block one
 * straight run entered at its first pair (a switch that falls through, as
 * in Duff's device): constant offsets from two pointers and no loop test
 * per pair leave the 8 sums, both pointers and the operands in registers
 * (measured on Cortex-M4: about 13 instructions per pair, 16 MACs, against
 * 16 for a loop of one pair a turn).
 */
#define DEFINE_UPDATE16(name, STEP)                                                        \
    void name(const uint32_t *cols, const int32_t *d, uint32_t pairs, uint32_t *w, uint32_t panels, \
              uint32_t w_step, unsigned shift)                                             \
    {                                                                                      \
        const uint32_t *dp = (const uint32_t *)(const void *)d, *w_end = w + panels * w_step; \
        const uint32_t first = (pairs - 1u) % BLOCK_PAIRS + 1u; /* 1..16: the first block */ \
        for (; w != w_end; w += w_step) {                                                  \
            int32_t a0, a1, a2, a3, b0, b1, b2, b3;                                        \
            const uint32_t *cp = cols + 2u * first;                                        \
            uint32_t run = first - 1u, left = pairs - first; /* after the first block */   \
            /* dp runs on from panel to panel: they lie back to back */                    \
            dp += PANEL_WIDTH * first;                                                     \
            PAIR_WITH(first, START);                                                       \
            for (;;) {                                                                     \
                switch (run) {                                                             \
                default: PAIR(16); /* FALLTHROUGH */                                       \
                case 15u: PAIR(15); /* FALLTHROUGH */                                      \
                case 14u: PAIR(14); /* FALLTHROUGH */                                      \
                case 13u: PAIR(13); /* FALLTHROUGH */                                      \
                case 12u: PAIR(12); /* FALLTHROUGH */                                      \
                case 11u: PAIR(11); /* FALLTHROUGH */                                      \
                case 10u: PAIR(10); /* FALLTHROUGH */                                      \
                case 9u: PAIR(9); /* FALLTHROUGH */                                        \
                case 8u: PAIR(8); /* FALLTHROUGH */                                        \
                case 7u: PAIR(7); /* FALLTHROUGH */                                        \
                case 6u: PAIR(6); /* FALLTHROUGH */                                        \
                case 5u: PAIR(5); /* FALLTHROUGH */                                        \
                case 4u: PAIR(4); /* FALLTHROUGH */                                        \
                case 3u: PAIR(3); /* FALLTHROUGH */                                        \
                case 2u: PAIR(2); /* FALLTHROUGH */                                        \
                case 1u: PAIR(1); /* FALLTHROUGH */                                        \
                case 0u: break;                                                            \
                }                                                                          \
                if (left == 0u)                                                            \
                    break;                                                                 \
                run = BLOCK_PAIRS;                                                         \
                left -= BLOCK_PAIRS;                                                       \
                cp += 2u * BLOCK_PAIRS;                                                    \
                dp += PANEL_WIDTH * BLOCK_PAIRS;                                           \
            }                                                                              \
            w[0] = STEP(w[0], a0, b0, shift);                                              \
            w[1] = STEP(w[1], a1, b1, shift);                                              \
            w[2] = STEP(w[2], a2, b2, shift);                                              \
            w[3] = STEP(w[3], a3, b3, shift);                                              \
        }                                                                                  \
    }

DEFINE_UPDATE16(update16_pairs, step_wide)
DEFINE_UPDATE16(update16_pairs_small, step_small)
