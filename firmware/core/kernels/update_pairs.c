/*
 * update_pairs_i32*: the common case of the weight update, fused for speed
 * (kernels.h): two rows i, i + 1 of W against every full panel of deltas,
 * int32 sums (dot32_exact holds), lr_inv = 2^shift. The loop is the
 * two-row dot32 (dot32.c); the epilogue (update_step.h) follows at once on
 * the 8 sums still in registers. Rows i and i + 1 of a full panel are the
 * 8 adjacent weights w[0..7].
 */
#include "core/kernels/kernels.h"
#include "core/kernels/update_step.h"

#define DEFINE_UPDATE_PAIRS(name, SAT)                                                     \
    uint32_t name(const int16_t *c0, const int16_t *c1, const int32_t *d, uint32_t n,      \
                  int32_t *w, uint32_t panels, uint32_t w_step, unsigned shift)            \
    {                                                                                      \
        const int16_t *end = c0 + n;                                                       \
        uint32_t bits = 0, p;                                                              \
        for (p = 0; p < panels; p++, w += w_step) {                                        \
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;        \
            const int16_t *x0 = c0, *x1 = c1;                                              \
            while (x0 != end) {                                                            \
                const int32_t u = *x0++, v = *x1++;                                        \
                const int32_t d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3];                  \
                a0 += u * d0;                                                              \
                b0 += v * d0;                                                              \
                a1 += u * d1;                                                              \
                b1 += v * d1;                                                              \
                a2 += u * d2;                                                              \
                b2 += v * d2;                                                              \
                a3 += u * d3;                                                              \
                b3 += v * d3;                                                              \
                d += PANEL_WIDTH; /* the next panel starts where this one ends */          \
            }                                                                              \
            UPDATE_STEP(SAT, a0, 0);                                                       \
            UPDATE_STEP(SAT, a1, 1);                                                       \
            UPDATE_STEP(SAT, a2, 2);                                                       \
            UPDATE_STEP(SAT, a3, 3);                                                       \
            UPDATE_STEP(SAT, b0, 4);                                                       \
            UPDATE_STEP(SAT, b1, 5);                                                       \
            UPDATE_STEP(SAT, b2, 6);                                                       \
            UPDATE_STEP(SAT, b3, 7);                                                       \
        }                                                                                  \
        return bits;                                                                       \
    }

DEFINE_UPDATE_PAIRS(update_pairs_i32, 0)
DEFINE_UPDATE_PAIRS(update_pairs_i32_sat, 1)
