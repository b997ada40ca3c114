/*
 * pack_delta_pairs (kernels.h): each of the `full` full panels of an
 * n x out delta matrix rewritten in place as sample pairs, for the packed
 * update (update_packed.c, update16.c), panel p's words from word
 * p * stride of d on (stride = 4 n: each panel where it was; 2 * ceil(n / 2)
 * * 2: the packed panels back to back). Word m = (b / 2) * 4 + c of panel
 * p overwrites a word at or before d[p][b / 2][m % 4], the delta of sample
 * b / 2 of that panel: already packed (b >= 2) or read in this very step
 * (b = 0), so no value is lost before it is used.
 */
#include "core/kernels/kernels.h"

void pack_delta_pairs(int32_t *d, uint32_t n, uint32_t full, uint32_t stride)
{
    uint32_t p, b, c;
    for (p = 0; p < full; p++, d += PANEL_WIDTH * n) {
        uint32_t *packed = (uint32_t *)(void *)(d - p * (PANEL_WIDTH * n - stride));
        for (b = 0; b < n; b += 2u)
            for (c = 0; c < PANEL_WIDTH; c++) {
                const int32_t lo = d[b * PANEL_WIDTH + c];
                const int32_t hi = b + 1u < n ? d[(b + 1u) * PANEL_WIDTH + c] : 0;
                packed[(b / 2u) * PANEL_WIDTH + c] = (uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16;
            }
    }
}
