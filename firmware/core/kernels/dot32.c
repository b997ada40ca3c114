/*
 * panel_dot32_*: two input rows at once (one when x1 is NULL) against one
 * panel, int32 accumulators, eight in registers; exact only under
 * dot32_exact() (kernels.h). Two rows share every load of p: 2.25
 * instructions per MAC on Cortex-M4 at -O2. One macro instance per input
 * type and panel width, not unrolled (see dot64.c).
 */
#include <stddef.h>

#include "core/kernels/kernels.h"

#define DEFINE_DOT32_TWO(name, in_t, W)                                                    \
    static void name(const in_t *x0, const in_t *x1, const int32_t *p, uint32_t n,         \
                     int32_t *acc)                                                         \
    {                                                                                      \
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;            \
        const in_t *end = x0 + n;                                                          \
        while (x0 != end) {                                                                \
            const int32_t u = *x0++, v = *x1++;                                            \
            const int32_t p0 = p[0];                                                       \
            a0 += u * p0;                                                                  \
            b0 += v * p0;                                                                  \
            if ((W) > 1) {                                                                 \
                const int32_t p1 = p[1];                                                   \
                a1 += u * p1;                                                              \
                b1 += v * p1;                                                              \
            }                                                                              \
            if ((W) > 2) {                                                                 \
                const int32_t p2 = p[2];                                                   \
                a2 += u * p2;                                                              \
                b2 += v * p2;                                                              \
            }                                                                              \
            if ((W) > 3) {                                                                 \
                const int32_t p3 = p[3];                                                   \
                a3 += u * p3;                                                              \
                b3 += v * p3;                                                              \
            }                                                                              \
            p += (W);                                                                      \
        }                                                                                  \
        acc[0] = a0;                                                                       \
        acc[1] = a1;                                                                       \
        acc[2] = a2;                                                                       \
        acc[3] = a3;                                                                       \
        acc[4] = b0;                                                                       \
        acc[5] = b1;                                                                       \
        acc[6] = b2;                                                                       \
        acc[7] = b3;                                                                       \
    }

#define DEFINE_DOT32_ONE(name, in_t, W)                                                    \
    static void name(const in_t *x, const int32_t *p, uint32_t n, int32_t *acc)            \
    {                                                                                      \
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                            \
        const in_t *end = x + n;                                                           \
        while (x != end) {                                                                 \
            const int32_t v = *x++;                                                        \
            a0 += v * p[0];                                                                \
            if ((W) > 1)                                                                   \
                a1 += v * p[1];                                                            \
            if ((W) > 2)                                                                   \
                a2 += v * p[2];                                                            \
            if ((W) > 3)                                                                   \
                a3 += v * p[3];                                                            \
            p += (W);                                                                      \
        }                                                                                  \
        acc[0] = a0;                                                                       \
        acc[1] = a1;                                                                       \
        acc[2] = a2;                                                                       \
        acc[3] = a3;                                                                       \
    }

/* Every width of both shapes for one input type, and their dispatcher. */
#define DEFINE_DOT32_FAMILY(in_t, sfx)                                                     \
    DEFINE_DOT32_TWO(dot32x2_##sfx##_w1, in_t, 1)                                          \
    DEFINE_DOT32_TWO(dot32x2_##sfx##_w2, in_t, 2)                                          \
    DEFINE_DOT32_TWO(dot32x2_##sfx##_w3, in_t, 3)                                          \
    DEFINE_DOT32_TWO(dot32x2_##sfx##_w4, in_t, 4)                                          \
    DEFINE_DOT32_ONE(dot32x1_##sfx##_w1, in_t, 1)                                          \
    DEFINE_DOT32_ONE(dot32x1_##sfx##_w2, in_t, 2)                                          \
    DEFINE_DOT32_ONE(dot32x1_##sfx##_w3, in_t, 3)                                          \
    DEFINE_DOT32_ONE(dot32x1_##sfx##_w4, in_t, 4)                                          \
                                                                                           \
    void panel_dot32_##sfx(const in_t *x0, const in_t *x1, const int32_t *p, uint32_t n,   \
                           uint32_t width, int32_t *acc)                                   \
    {                                                                                      \
        if (x1 == NULL) {                                                                  \
            switch (width) {                                                               \
            case 4u: dot32x1_##sfx##_w4(x0, p, n, acc); break;                             \
            case 3u: dot32x1_##sfx##_w3(x0, p, n, acc); break;                             \
            case 2u: dot32x1_##sfx##_w2(x0, p, n, acc); break;                             \
            default: dot32x1_##sfx##_w1(x0, p, n, acc); break;                             \
            }                                                                              \
            return;                                                                        \
        }                                                                                  \
        switch (width) {                                                                   \
        case 4u: dot32x2_##sfx##_w4(x0, x1, p, n, acc); break;                             \
        case 3u: dot32x2_##sfx##_w3(x0, x1, p, n, acc); break;                             \
        case 2u: dot32x2_##sfx##_w2(x0, x1, p, n, acc); break;                             \
        default: dot32x2_##sfx##_w1(x0, x1, p, n, acc); break;                             \
        }                                                                                  \
    }

DEFINE_DOT32_FAMILY(int8_t, i8)
DEFINE_DOT32_FAMILY(int16_t, i16)
