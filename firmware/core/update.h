/*
 * The weight update of one layer (train.c, step 3), one file per storage
 * width: update_int32.c (the paper's int32 weights) and update_int16.c
 * (16-bit weights), and what both share. Internal to core/.
 */
#ifndef TIFED_UPDATE_H
#define TIFED_UPDATE_H

#include <stdint.h>

#include "core/intmath.h"
#include "core/kernels/kernels.h"
#include "core/net.h"

/* A cheap magnitude bound: OR-ing these over many t gives m with
 * |t| <= m + 1 for every t (for t < 0, ~t = |t| - 1). */
static inline uint32_t magnitude_bits(int32_t t)
{
    return (uint32_t)(t < 0 ? ~t : t);
}

/* floor(acc / lr_inv): a shift when lr_inv = 2^shift (shift >= 0). */
static inline int64_t scale32(int32_t acc, int shift, uint32_t lr_inv)
{
    if (shift >= 0)
        return floor_shift_i32(acc, (unsigned)shift);
    return lr_inv <= (uint32_t)INT32_MAX ? floor_div_pos(acc, (int32_t)lr_inv) : floor_div_i64(acc, lr_inv);
}

static inline int64_t scale64(int64_t acc, int shift, uint32_t lr_inv)
{
    return shift >= 0 ? floor_shift_i64(acc, (unsigned)shift) : floor_div_i64(acc, (int64_t)lr_inv);
}

/* sum[c] = sum over the n samples of the deltas of columns j .. j + width - 1
 * (the panel of column j of the n x out delta matrix d, not packed). */
static inline void delta_column_sums(const int32_t *d, uint32_t n, uint32_t j, uint32_t width, int64_t *sum)
{
    const int32_t *dp = d + panel_start(j, n);
    uint32_t b, c;
    for (c = 0; c < width; c++)
        sum[c] = 0;
    for (b = 0; b < n; b++, dp += width)
        for (c = 0; c < width; c++)
            sum[c] += dp[c];
}

/* What the update of one layer knows of the batch, in either width. */
typedef struct {
    uint32_t in, out, n;  /* the layer's inputs and outputs, the batch's samples */
    const int32_t *d;     /* the deltas, n x out in panel layout */
    int shift;            /* lr_inv = 2^shift, or -1 */
    uint32_t lr_inv;
    int narrow;           /* the sums a_prev^T @ d are exact in int32 */
} update_batch;

static inline update_batch update_batch_of(const tifed_net *net, uint32_t l, uint32_t n, uint32_t lr_inv,
                                           uint32_t delta_bits)
{
    update_batch b;
    b.in = net->dims[l];
    b.out = net->dims[l + 1u];
    b.n = n;
    b.d = net->delta[l];
    b.shift = log2_exact_u32(lr_inv);
    b.lr_inv = lr_inv;
    /* |delta| <= delta_bits + 1; products with |a| <= 128 must stay int32. */
    b.narrow = delta_bits < UINT32_MAX && dot32_exact(n, delta_bits + 1u);
    return b;
}

/* Scratch columns of the update: c0[b] = a_prev[b][i0] and, when c1 is not
 * NULL, c1[b] = a_prev[b][i1], for the n samples of the batch. a_prev is
 * the batch's int8 samples x (layer 0) or the previous layer's activations
 * a, `in` values per sample either way. */
static inline void fill_columns(const int8_t *x, const int16_t *a, uint32_t in, uint32_t n, uint32_t i0,
                                int16_t *c0, uint32_t i1, int16_t *c1)
{
    uint32_t b;
    for (b = 0; b < n; b++) {
        c0[b] = x ? x[b * in + i0] : a[b * in + i0];
        if (c1)
            c1[b] = x ? x[b * in + i1] : a[b * in + i1];
    }
}

/* Layer l's update for the mini-batch of the n samples from `first`, from
 * the deltas in net->delta[l] (|delta| <= delta_bits + 1). */
void update_layer_int32(tifed_net *net, uint32_t l, uint32_t first, uint32_t n, uint32_t lr_inv,
                        uint32_t delta_bits);
void update_layer_int16(tifed_net *net, uint32_t l, uint32_t first, uint32_t n, uint32_t lr_inv,
                        uint32_t delta_bits);

#endif
