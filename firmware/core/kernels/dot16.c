/*
 * panel16_dot*: the forward pass of 16-bit weights (kernels.h), one or two
 * samples against one panel, two MACs per dual_mac (SMLAD on Cortex-M4).
 * The inputs come as pairs from input_pairs_* (expand16.c), four words per
 * group of four rows, and meet the group's words of W (panel.h):
 *
 *   acc_s[k] += (x_s[r], x_s[r+2]) . (W[r][k], W[r+2][k])
 *             + (x_s[r+1], x_s[r+3]) . (W[r+1][k], W[r+3][k])
 *
 * Two samples share every load of W: 32 MACs per 16 SMLAD, 4 input and 8
 * weight loads on a full panel. Groups go eight at a time with constant
 * offsets (BLOCK), so the loop costs one compare per 256 MACs and gcc
 * keeps the 8 sums and both pointers in registers (measured on Cortex-M4:
 * 0.81 instructions per MAC in the block against 1.0 one group a turn).
 *
 * The sums run in int32 for at most 120 groups (480 rows) at a time and
 * then go into int64: |x| <= 128 and |W| <= 32768 give |sum of 480| <
 * 2^31, so every partial sum is exact whatever the weights; no bound needs
 * keeping.
 */
#include "core/kernels/kernels.h"

#define CHUNK_GROUPS 120u /* 480 rows, a whole number of blocks */

/* A core without the DSP extension (Cortex-M0) gains nothing from the
 * unrolled block (its dual_mac is C) and would pay for it in stack (952
 * bytes of spills on Cortex-M0 against 2 KB of stack on the micro:bit): it
 * takes one group a turn. The sums are the same either way; host builds
 * keep the block, so the tests run the code the Cortex-M4 runs. */
#if defined(__arm__) && !defined(__ARM_FEATURE_SIMD32)
#define BLOCK_GROUPS 1u
#define BLOCK(TWO) GROUP(0u, TWO)
#else
#define BLOCK_GROUPS 8u
#define BLOCK(TWO)                                                                         \
    do {                                                                                   \
        GROUP(0u, TWO);                                                                    \
        GROUP(1u, TWO);                                                                    \
        GROUP(2u, TWO);                                                                    \
        GROUP(3u, TWO);                                                                    \
        GROUP(4u, TWO);                                                                    \
        GROUP(5u, TWO);                                                                    \
        GROUP(6u, TWO);                                                                    \
        GROUP(7u, TWO);                                                                    \
    } while (0)
#endif

/* Half h (0: rows r, r + 2; 1: rows r + 1, r + 3) of group g of the block
 * at xp, pw: the inputs' pair words s (and t) against the four weight
 * words of the half, two at a time. TWO = 0: sample s only. */
#define HALF(g, h, TWO)                                                                    \
    do {                                                                                   \
        const uint32_t s = xp[4u * (g) + 2u * (h)], t = (TWO) ? xp[4u * (g) + 2u * (h) + 1u] : 0u; \
        uint32_t w0 = pw[8u * (g) + 4u * (h)], w1 = pw[8u * (g) + 4u * (h) + 1u];          \
        a0 = dual_mac(s, w0, a0);                                                          \
        a1 = dual_mac(s, w1, a1);                                                          \
        if (TWO) {                                                                         \
            b0 = dual_mac(t, w0, b0);                                                      \
            b1 = dual_mac(t, w1, b1);                                                      \
        }                                                                                  \
        w0 = pw[8u * (g) + 4u * (h) + 2u];                                                 \
        w1 = pw[8u * (g) + 4u * (h) + 3u];                                                 \
        a2 = dual_mac(s, w0, a2);                                                          \
        a3 = dual_mac(s, w1, a3);                                                          \
        if (TWO) {                                                                         \
            b2 = dual_mac(t, w0, b2);                                                      \
            b3 = dual_mac(t, w1, b3);                                                      \
        }                                                                                  \
    } while (0)

#define GROUP(g, TWO)                                                                      \
    do {                                                                                   \
        HALF(g, 0u, TWO);                                                                  \
        HALF(g, 1u, TWO);                                                                  \
    } while (0)

static void zero(int64_t *acc)
{
    /* Spelt out: gcc makes a loop of this a call of memset. */
    acc[0] = acc[1] = acc[2] = acc[3] = 0;
    acc[4] = acc[5] = acc[6] = acc[7] = 0;
}

/* At most CHUNK_GROUPS groups into the int64 sums, in int32. */
#define DEFINE_CHUNK(name, TWO)                                                            \
    static void name(const uint32_t *xp, const uint32_t *pw, uint32_t groups, int64_t *acc) \
    {                                                                                      \
        const uint32_t *blocks_end = xp + 4u * (groups - groups % BLOCK_GROUPS);           \
        const uint32_t *end = xp + 4u * groups;                                            \
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;            \
        for (; xp != blocks_end; xp += 4u * BLOCK_GROUPS, pw += 8u * BLOCK_GROUPS)         \
            BLOCK(TWO);                                                                    \
        for (; xp != end; xp += 4, pw += 8)                                                \
            GROUP(0u, TWO);                                                                \
        acc[0] += a0;                                                                      \
        acc[1] += a1;                                                                      \
        acc[2] += a2;                                                                      \
        acc[3] += a3;                                                                      \
        if (TWO) {                                                                         \
            acc[4] += b0;                                                                  \
            acc[5] += b1;                                                                  \
            acc[6] += b2;                                                                  \
            acc[7] += b3;                                                                  \
        }                                                                                  \
    }

DEFINE_CHUNK(chunk2, 1)
DEFINE_CHUNK(chunk1, 0)

typedef void chunk_fn(const uint32_t *xp, const uint32_t *pw, uint32_t groups, int64_t *acc);

/* The int64 sums of `groups` groups, chunk by chunk. */
static void dot16(const uint32_t *xp, const uint32_t *pw, uint32_t groups, int64_t *acc, chunk_fn *chunk)
{
    uint32_t g;
    zero(acc);
    for (g = 0; g < groups; g += CHUNK_GROUPS)
        chunk(xp + 4u * g, pw + 8u * g, groups - g < CHUNK_GROUPS ? groups - g : CHUNK_GROUPS, acc);
}

void panel16_dot2(const uint32_t *xp, const uint32_t *pw, uint32_t groups, int64_t *acc)
{
    dot16(xp, pw, groups, acc, chunk2);
}

void panel16_dot1(const uint32_t *xp, const uint32_t *pw, uint32_t groups, int64_t *acc)
{
    dot16(xp, pw, groups, acc, chunk1);
}

void panel16_dot_narrow(const uint32_t *xp, const uint32_t *pw, uint32_t groups, uint32_t width, int two,
                        int64_t *acc)
{
    uint32_t c, g;
    zero(acc);
    for (g = 0; g < groups; g += CHUNK_GROUPS) {
        const uint32_t chunk = groups - g < CHUNK_GROUPS ? groups - g : CHUNK_GROUPS;
        int32_t a[PANEL_WIDTH] = {0, 0, 0, 0}, b[PANEL_WIDTH] = {0, 0, 0, 0};
        uint32_t i;
        for (i = 0; i < chunk; i++, xp += 4, pw += 2u * width)
            for (c = 0; c < width; c++) {
                a[c] = dual_mac(xp[2], pw[width + c], dual_mac(xp[0], pw[c], a[c]));
                if (two)
                    b[c] = dual_mac(xp[3], pw[width + c], dual_mac(xp[1], pw[c], b[c]));
            }
        for (c = 0; c < width; c++) {
            acc[c] += a[c];
            acc[PANEL_WIDTH + c] += b[c];
        }
    }
}
