/*
 * panel16_dot_*: one input row against one panel of 16-bit weights
 * (panel.h, panel16_index), exact int64 sums, two MACs per dual_mac
 * (SMLAD on Cortex-M4).
 *
 * Each step takes four inputs x[r..r+3] and one group of the panel: the
 * word (W[r][k], W[r+2][k]) meets the pair (x[r], x[r+2]) and the word
 * (W[r+1][k], W[r+3][k]) the pair (x[r+1], x[r+3]). int8 inputs become
 * those pairs with two SXTB16 (bytes02/bytes13 of one 32-bit load); int16
 * inputs with two pack-halfword steps.
 *
 * The sums run in int32 for at most 256 rows at a time and then go into
 * int64: |x| <= 128 and |W| <= 32768 give |sum of 256| <= 2^30, so every
 * partial sum is exact whatever the weights; no bound needs keeping.
 */
#include <string.h>

#include "core/kernels/kernels.h"

/* Four int8 inputs are read as one little-endian word (x[0] in bits 0..7). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the packed kernels assume a little-endian core"
#endif

#define CHUNK_GROUPS 64u /* 256 rows */

/* (x[0], x[2]) and (x[1], x[3]) of four int8 inputs. */
#define PAIRS_I8(x, even, odd)                                                             \
    do {                                                                                   \
        uint32_t raw_;                                                                     \
        memcpy(&raw_, (x), sizeof raw_);                                                   \
        (even) = bytes02(raw_);                                                            \
        (odd) = bytes13(raw_);                                                             \
    } while (0)

/* The same of four int16 inputs: halves 0 and 2, 1 and 3 of two words. */
#define PAIRS_I16(x, even, odd)                                                            \
    do {                                                                                   \
        uint32_t lo_, hi_;                                                                 \
        memcpy(&lo_, (x), sizeof lo_);                                                     \
        memcpy(&hi_, (x) + 2, sizeof hi_);                                                 \
        (even) = (lo_ & 0xFFFFu) | (hi_ << 16);                                            \
        (odd) = (lo_ >> 16) | (hi_ & 0xFFFF0000u);                                         \
    } while (0)

#define DEFINE_DOT16(name, in_t, W, PAIRS)                                                 \
    static void name(const in_t *x, const uint32_t *pw, uint32_t rows, int64_t *acc)     \
    {                                                                                      \
        const in_t *group_end = x + (rows & ~3u), *tail_end = x + rows;                    \
        int64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0;                                            \
        uint32_t c, e;                                                                     \
        while (x != group_end) {                                                           \
            const in_t *stop = (uint32_t)(group_end - x) > 4u * CHUNK_GROUPS                \
                                   ? x + 4u * CHUNK_GROUPS : group_end;                    \
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                        \
            do {                                                                           \
                uint32_t even, odd;                                                        \
                PAIRS(x, even, odd);                                                       \
                x += 4;                                                                    \
                a0 = dual_mac(even, pw[0], a0);                                            \
                if ((W) > 1)                                                               \
                    a1 = dual_mac(even, pw[1], a1);                                        \
                if ((W) > 2)                                                               \
                    a2 = dual_mac(even, pw[2], a2);                                        \
                if ((W) > 3)                                                               \
                    a3 = dual_mac(even, pw[3], a3);                                        \
                a0 = dual_mac(odd, pw[(W)], a0);                                           \
                if ((W) > 1)                                                               \
                    a1 = dual_mac(odd, pw[(W) + 1], a1);                                   \
                if ((W) > 2)                                                               \
                    a2 = dual_mac(odd, pw[(W) + 2], a2);                                   \
                if ((W) > 3)                                                               \
                    a3 = dual_mac(odd, pw[(W) + 3], a3);                                   \
                pw += 2 * (W);                                                             \
            } while (x != stop);                                                           \
            t0 += a0;                                                                      \
            t1 += a1;                                                                      \
            t2 += a2;                                                                      \
            t3 += a3;                                                                      \
        }                                                                                  \
        for (e = 0; x != tail_end; x++, e += (W)) { /* the rows % 4 left after the groups */ \
            const int32_t v = *x;                                                          \
            t0 += v * pair_half(pw, e);                                                    \
            if ((W) > 1)                                                                   \
                t1 += v * pair_half(pw, e + 1u);                                           \
            if ((W) > 2)                                                                   \
                t2 += v * pair_half(pw, e + 2u);                                           \
            if ((W) > 3)                                                                   \
                t3 += v * pair_half(pw, e + 3u);                                           \
        }                                                                                  \
        acc[0] = t0;                                                                       \
        for (c = 1; c < (W); c++)                                                          \
            acc[c] = c == 1u ? t1 : c == 2u ? t2 : t3;                                     \
    }

/* Every width for one input type, and its dispatcher. */
#define DEFINE_DOT16_FAMILY(in_t, sfx, PAIRS)                                              \
    DEFINE_DOT16(dot16_##sfx##_w1, in_t, 1, PAIRS)                                         \
    DEFINE_DOT16(dot16_##sfx##_w2, in_t, 2, PAIRS)                                         \
    DEFINE_DOT16(dot16_##sfx##_w3, in_t, 3, PAIRS)                                         \
    DEFINE_DOT16(dot16_##sfx##_w4, in_t, 4, PAIRS)                                         \
                                                                                           \
    void panel16_dot_##sfx(const in_t *x, const uint32_t *p, uint32_t rows, uint32_t width, \
                           int64_t *acc)                                                   \
    {                                                                                      \
        switch (width) {                                                                   \
        case 4u: dot16_##sfx##_w4(x, p, rows, acc); break;                                 \
        case 3u: dot16_##sfx##_w3(x, p, rows, acc); break;                                 \
        case 2u: dot16_##sfx##_w2(x, p, rows, acc); break;                                 \
        default: dot16_##sfx##_w1(x, p, rows, acc); break;                                 \
        }                                                                                  \
    }

DEFINE_DOT16_FAMILY(int8_t, i8, PAIRS_I8)
DEFINE_DOT16_FAMILY(int16_t, i16, PAIRS_I16)
