/*
 * panel_dot64_*: one input row against one panel of W (or of the deltas),
 * int64 accumulators; exact for any values (kernels.h). One macro instance
 * per input type and panel width, so the width is a constant and unused
 * accumulators vanish. The loop is deliberately not unrolled: gcc keeps the
 * accumulators of this shape in registers without shuffling them, which it
 * does not for unrolled int64 loops (measured: 3.0 instructions per MAC on
 * Cortex-M4 at -O2).
 */
#include "core/kernels/kernels.h"

#define DEFINE_DOT64(name, in_t, W)                                                        \
    static void name(const in_t *x, const int32_t *p, uint32_t n, int64_t *acc)            \
    {                                                                                      \
        int64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                            \
        const in_t *end = x + n;                                                           \
        while (x != end) {                                                                 \
            const int32_t v = *x++;                                                        \
            a0 += (int64_t)v * p[0];                                                       \
            if ((W) > 1)                                                                   \
                a1 += (int64_t)v * p[1];                                                   \
            if ((W) > 2)                                                                   \
                a2 += (int64_t)v * p[2];                                                   \
            if ((W) > 3)                                                                   \
                a3 += (int64_t)v * p[3];                                                   \
            p += (W);                                                                      \
        }                                                                                  \
        acc[0] = a0;                                                                       \
        if ((W) > 1)                                                                       \
            acc[1] = a1;                                                                   \
        if ((W) > 2)                                                                       \
            acc[2] = a2;                                                                   \
        if ((W) > 3)                                                                       \
            acc[3] = a3;                                                                   \
    }

/* Every width for one input type, and its dispatcher. */
#define DEFINE_DOT64_FAMILY(in_t, sfx)                                                     \
    DEFINE_DOT64(dot64_##sfx##_w1, in_t, 1)                                                \
    DEFINE_DOT64(dot64_##sfx##_w2, in_t, 2)                                                \
    DEFINE_DOT64(dot64_##sfx##_w3, in_t, 3)                                                \
    DEFINE_DOT64(dot64_##sfx##_w4, in_t, 4)                                                \
                                                                                           \
    void panel_dot64_##sfx(const in_t *x, const int32_t *p, uint32_t n, uint32_t width,    \
                           int64_t *acc)                                                   \
    {                                                                                      \
        switch (width) {                                                                   \
        case 4u: dot64_##sfx##_w4(x, p, n, acc); break;                                    \
        case 3u: dot64_##sfx##_w3(x, p, n, acc); break;                                    \
        case 2u: dot64_##sfx##_w2(x, p, n, acc); break;                                    \
        default: dot64_##sfx##_w1(x, p, n, acc); break;                                    \
        }                                                                                  \
    }

DEFINE_DOT64_FAMILY(int8_t, i8)
DEFINE_DOT64_FAMILY(int16_t, i16)
