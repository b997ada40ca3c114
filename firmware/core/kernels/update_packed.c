/*
 * update_packed_*: the packed update (kernels.h), the same sums as
 * update_pairs_i32, two samples per step. pack_delta_pairs (pack_pairs.c)
 * has rewritten each full delta panel in place as word (b / 2) * 4 + c =
 * (d[b][c], d[b + 1][c]) in two int16 halves (a zero for the missing sample
 * of an odd batch), and the scratch columns hold (c[b], c[b + 1]) in each
 * 32-bit word (zero-padded likewise), so one dual_mac (SMLAD) adds
 * c[b] d[b][c] + c[b + 1] d[b + 1][c]. The integers are those of the int32
 * path: the exact sum fits (dot32_exact), so the order of the additions
 * cannot change it. TWO = 0 updates row i alone (the last row of an odd
 * `in`, or a scratch with room for one column).
 */
#include <string.h>

#include "core/kernels/kernels.h"

#if TIFED_PACKED_UPDATE
#include "core/kernels/dual_mac.h"
#include "core/kernels/update_step.h"

#define DEFINE_UPDATE_PACKED(name, SAT, TWO)                                               \
    uint32_t name(const int16_t *c0, const int16_t *c1, const int32_t *d, uint32_t pairs,  \
                  int32_t *w, uint32_t panels, uint32_t w_step, uint32_t d_step,           \
                  unsigned shift)                                                          \
    {                                                                                      \
        const int16_t *end = c0 + 2u * pairs;                                              \
        uint32_t bits = 0, p;                                                              \
        for (p = 0; p < panels; p++, w += w_step, d += d_step) {                           \
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;        \
            const uint32_t *dp = (const uint32_t *)(const void *)d;                        \
            const int16_t *x0 = c0, *x1 = c1;                                              \
            while (x0 != end) {                                                            \
                uint32_t u, v = 0;                                                         \
                const uint32_t d0 = dp[0], d1 = dp[1], d2 = dp[2], d3 = dp[3];             \
                memcpy(&u, x0, sizeof u); /* one 32-bit load */                            \
                x0 += 2;                                                                   \
                a0 = dual_mac(u, d0, a0);                                                  \
                a1 = dual_mac(u, d1, a1);                                                  \
                a2 = dual_mac(u, d2, a2);                                                  \
                a3 = dual_mac(u, d3, a3);                                                  \
                if (TWO) {                                                                 \
                    memcpy(&v, x1, sizeof v);                                              \
                    x1 += 2;                                                               \
                    b0 = dual_mac(v, d0, b0);                                              \
                    b1 = dual_mac(v, d1, b1);                                              \
                    b2 = dual_mac(v, d2, b2);                                              \
                    b3 = dual_mac(v, d3, b3);                                              \
                }                                                                          \
                dp += PANEL_WIDTH;                                                         \
            }                                                                              \
            UPDATE_STEP(SAT, a0, 0);                                                       \
            UPDATE_STEP(SAT, a1, 1);                                                       \
            UPDATE_STEP(SAT, a2, 2);                                                       \
            UPDATE_STEP(SAT, a3, 3);                                                       \
            if (TWO) {                                                                     \
                UPDATE_STEP(SAT, b0, 4);                                                   \
                UPDATE_STEP(SAT, b1, 5);                                                   \
                UPDATE_STEP(SAT, b2, 6);                                                   \
                UPDATE_STEP(SAT, b3, 7);                                                   \
            }                                                                              \
        }                                                                                  \
        return bits;                                                                       \
    }

DEFINE_UPDATE_PACKED(update_packed_two, 0, 1)
DEFINE_UPDATE_PACKED(update_packed_two_sat, 1, 1)
DEFINE_UPDATE_PACKED(update_packed_one, 0, 0)
DEFINE_UPDATE_PACKED(update_packed_one_sat, 1, 0)
#endif
