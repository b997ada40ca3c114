/*
 * Panel layout: how the firmware stores the weight matrices W_l and the DFA
 * deltas.
 *
 * A rows x cols matrix is cut into panels of 4 columns; each panel is stored
 * row after row, 4 values per row (the last panel is narrower when cols is
 * not a multiple of 4):
 *
 *   element (r, k) at (k & ~3) * rows + r * width(k) + (k & 3),
 *   width(k) = min(4, cols - (k & ~3))
 *
 * Both big products of training then read one int32 pointer forward:
 *   forward  z[j..j+3] = sum_i a[i] * W[i][j..j+3]        (rows = inputs)
 *   update   G[j..j+3] = sum_b col[b] * delta[b][j..j+3]  (rows = samples)
 * with all accumulators in registers and no stride arithmetic. On the wire
 * (WRITE_TENSOR/READ_TENSOR) W stays row-major; net.c maps the offsets.
 *
 * The kernels that walk this layout: core/kernels/kernels.h.
 */
#ifndef TIFED_PANEL_H
#define TIFED_PANEL_H

#include <stdint.h>

#define PANEL_WIDTH 4u

static inline uint32_t panel_width(uint32_t k, uint32_t cols)
{
    uint32_t left = cols - (k & ~3u);
    return left < PANEL_WIDTH ? left : PANEL_WIDTH;
}

/* First element of the panel that holds column k. */
static inline uint32_t panel_start(uint32_t k, uint32_t rows)
{
    return (k & ~3u) * rows;
}

static inline uint32_t panel_index(uint32_t r, uint32_t k, uint32_t rows, uint32_t cols)
{
    return panel_start(k, rows) + r * panel_width(k, cols) + (k & 3u);
}

#endif
