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
 * 16-bit weights (CONFIGURE's weight_bits 16) use the same panels of 4
 * columns, but over rows4 = rows rounded up to a multiple of 4 (the pad
 * rows hold 0 and stay 0), and inside a panel the rows go in groups of
 * four, each group stored as two runs of `width` 32-bit words, each word an
 * int16 pair (low half first):
 *
 *   (W[r][k], W[r+2][k]) for every column k, then (W[r+1][k], W[r+3][k])
 *
 * so that one word pairs with the inputs (x[r], x[r+2]) or (x[r+1],
 * x[r+3]) that one SXTB16 pulls out of four int8 inputs, and one SMLAD
 * does two MACs (kernels/dot16.c); in the update, rows r and r + 2 share
 * their words (kernels/update16.c). panel16_index numbers the int16 halves
 * (half e is the low half of word e / 2 when e is even); the storage is an
 * array of uint32_t words, read and written whole by the kernels and by
 * half through pair_half / pair_set_half.
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

/* Rows of a 16-bit weight matrix as stored: a whole number of groups. */
static inline uint32_t rows4(uint32_t rows)
{
    return (rows + 3u) & ~3u;
}

/* Half number of element (r, k) of a rows x cols matrix of 16-bit weights. */
static inline uint32_t panel16_index(uint32_t r, uint32_t k, uint32_t rows, uint32_t cols)
{
    const uint32_t width = panel_width(k, cols), c = k & 3u;
    return panel_start(k, rows4(rows)) + (r & ~3u) * width + 2u * ((r & 1u) * width + c) + ((r >> 1) & 1u);
}

static inline int32_t pair_half(const uint32_t *words, uint32_t e)
{
    return (int16_t)(uint16_t)(words[e >> 1] >> (16u * (e & 1u)));
}

/* v must fit int16. */
static inline void pair_set_half(uint32_t *words, uint32_t e, int32_t v)
{
    const unsigned shift = 16u * (e & 1u);
    words[e >> 1] = (words[e >> 1] & ~(0xFFFFu << shift)) | (uint32_t)(uint16_t)v << shift;
}

#endif
