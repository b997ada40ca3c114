/*
 * The inputs of the 16-bit weights' kernels as int16 pairs (kernels.h),
 * written to the pair scratch once per sample (forward pass) or per row
 * pair (update), so that the kernels themselves only load words.
 *
 * input_pairs_*: per group of four inputs x[4g..4g+3] of two samples s, t,
 * four words (x_s[4g], x_s[4g+2]), (x_t[4g], x_t[4g+2]), (x_s[4g+1],
 * x_s[4g+3]), (x_t[4g+1], x_t[4g+3]): the pairs that meet the group's words
 * of W (panel.h). Inputs past `rows` are 0, and so is the second sample
 * when there is none.
 *
 * column_pairs_*: the update's input columns of one group's rows r..r+3
 * over a batch of n samples, interleaved, for the row pairs that share
 * words of W: per sample pair p, cols0 gets (x_2p[r], x_2p+1[r]) and
 * (x_2p[r+2], x_2p+1[r+2]), cols1 the same of rows r + 1 and r + 3; 0 past
 * the batch and for the rows past the layer's inputs (their weights are
 * pad).
 */
#include <string.h>

#include "core/kernels/kernels.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the pair kernels assume a little-endian core"
#endif

static inline uint32_t half(int32_t v)
{
    return (uint32_t)(uint16_t)v;
}

/* Four int8 inputs as one word (one load); the ones past `left` are 0. */
static inline uint32_t four_i8(const int8_t *x, uint32_t left)
{
    uint32_t raw = 0, k;
    if (left >= 4u) {
        memcpy(&raw, x, sizeof raw);
        return raw;
    }
    for (k = 0; k < left; k++)
        raw |= (uint32_t)(uint8_t)x[k] << (8u * k);
    return raw;
}

void input_pairs_i8(const int8_t *x0, const int8_t *x1, uint32_t rows, uint32_t *xp)
{
    uint32_t r;
    for (r = 0; r < rows; r += 4u, xp += 4) {
        const uint32_t s = four_i8(x0 + r, rows - r), t = x1 ? four_i8(x1 + r, rows - r) : 0u;
        xp[0] = bytes02(s);
        xp[1] = bytes02(t);
        xp[2] = bytes13(s);
        xp[3] = bytes13(t);
    }
}

/* a[r], or 0 past the inputs. */
static inline uint32_t at16(const int16_t *a, uint32_t r, uint32_t rows)
{
    return r < rows ? half(a[r]) : 0u;
}

void input_pairs_i16(const int16_t *a0, const int16_t *a1, uint32_t rows, uint32_t *xp)
{
    uint32_t r;
    for (r = 0; r < rows; r += 4u, xp += 4) {
        xp[0] = at16(a0, r, rows) | at16(a0, r + 2u, rows) << 16;
        xp[2] = at16(a0, r + 1u, rows) | at16(a0, r + 3u, rows) << 16;
        xp[1] = a1 ? at16(a1, r, rows) | at16(a1, r + 2u, rows) << 16 : 0u;
        xp[3] = a1 ? at16(a1, r + 1u, rows) | at16(a1, r + 3u, rows) << 16 : 0u;
    }
}

/* The columns of one group's rows r..r+3 for the sample pair (s, t), from
 * the pairs (x_s[r], x_s[r+2]) and (x_t[r], x_t[r+2]) and likewise for the
 * odd rows: rows r, r + 2 into cols0, rows r + 1, r + 3 into cols1. */
static inline void transpose(uint32_t even_s, uint32_t even_t, uint32_t odd_s, uint32_t odd_t, uint32_t *cols0,
                             uint32_t *cols1)
{
    cols0[0] = (even_s & 0xFFFFu) | even_t << 16;
    cols0[1] = even_s >> 16 | (even_t & 0xFFFF0000u);
    cols1[0] = (odd_s & 0xFFFFu) | odd_t << 16;
    cols1[1] = odd_s >> 16 | (odd_t & 0xFFFF0000u);
}

void column_pairs_i8(const int8_t *x, uint32_t in, uint32_t n, uint32_t r, uint32_t *cols0, uint32_t *cols1)
{
    const uint32_t left = in - r;
    uint32_t b;
    for (b = 0; b < n; b += 2u, cols0 += 2, cols1 += 2) {
        const uint32_t s = four_i8(x + b * in + r, left);
        const uint32_t t = b + 1u < n ? four_i8(x + (b + 1u) * in + r, left) : 0u;
        transpose(bytes02(s), bytes02(t), bytes13(s), bytes13(t), cols0, cols1);
    }
}

/* (a[r], a[r+2]) and (a[r+1], a[r+3]) of one sample, 0 past the inputs. */
static inline void pairs_i16(const int16_t *a, uint32_t r, uint32_t rows, uint32_t *even, uint32_t *odd)
{
    *even = at16(a, r, rows) | at16(a, r + 2u, rows) << 16;
    *odd = at16(a, r + 1u, rows) | at16(a, r + 3u, rows) << 16;
}

void column_pairs_i16(const int16_t *a, uint32_t in, uint32_t n, uint32_t r, uint32_t *cols0, uint32_t *cols1)
{
    uint32_t b;
    for (b = 0; b < n; b += 2u, cols0 += 2, cols1 += 2) {
        uint32_t even_s, odd_s, even_t = 0, odd_t = 0;
        pairs_i16(a + b * in, r, in, &even_s, &odd_s);
        if (b + 1u < n)
            pairs_i16(a + (b + 1u) * in, r, in, &even_t, &odd_t);
        transpose(even_s, even_t, odd_s, odd_t, cols0, cols1);
    }
}
