/*
 * Panel layout: how the firmware stores the weight matrices W_l and the DFA
 * deltas, and the multiply-accumulate kernels that walk it.
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
 * Two kernel families:
 *  - dot64: one input row, int64 accumulators; always exact.
 *  - dot32: two input rows at once (one when x1 is NULL), int32
 *    accumulators, eight in registers. Exact only when the caller has
 *    proved that no partial sum leaves int32: with |x| <= 128 and
 *    |p| <= bound, that is 128 * n * bound <= INT32_MAX (dot32_exact).
 *    A Cortex-M4 then needs 2.25 instructions per MAC instead of 3.
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

/* True when sums of n products x * p, |x| <= 128, |p| <= bound, cannot
 * leave int32 at any step. */
static inline int dot32_exact(uint32_t n, uint32_t bound)
{
    return (uint64_t)128u * n * bound <= (uint64_t)INT32_MAX;
}

/* acc[c] = sum_{r < n} x[r] * p[r * width + c], c < width (1..4). */
void panel_dot64_i8(const int8_t *x, const int32_t *p, uint32_t n, uint32_t width, int64_t *acc);
void panel_dot64_i16(const int16_t *x, const int32_t *p, uint32_t n, uint32_t width, int64_t *acc);

/* acc[c] for row x0 and acc[4 + c] for row x1 (skipped when x1 is NULL),
 * in int32: only under dot32_exact(). */
void panel_dot32_i8(const int8_t *x0, const int8_t *x1, const int32_t *p, uint32_t n, uint32_t width,
                    int32_t *acc);
void panel_dot32_i16(const int16_t *x0, const int16_t *x1, const int32_t *p, uint32_t n, uint32_t width,
                     int32_t *acc);

#endif
