/*
 * The update of a layer of int32 weights (update.h): W -= floor((a_prev^T @
 * d) / lr_inv), b -= floor(sum_batch(d) / lr_inv), saturated to int32.
 *
 * Input columns a_prev[:, i] are first copied to contiguous scratch rows
 * (the last layer's activation rows, free once the deltas exist), so
 * updating W[i..i+1][j..j+3] is one panel kernel call over the batch. Its
 * sums are int32 when the deltas' bound proves that exact (the usual
 * case), else int64. When every delta also fits in int16, the packed path
 * does two of those MACs per instruction. A bound on |W| (net->w_bound)
 * tells when the int32 clamp can be skipped.
 */
#include <stddef.h>

#include "core/update.h"

/* w - q saturated to int32; the result's magnitude goes into *bits. */
static inline int32_t step(int32_t w, int64_t q, uint32_t *bits)
{
    const int32_t v = sat_i32((int64_t)w - q);
    *bits |= magnitude_bits(v);
    return v;
}

typedef struct {
    update_batch b;
    int packed;       /* ... and the full panels hold int16 sample pairs */
    int may_saturate; /* |w - q| might exceed INT32_MAX */
    uint32_t bits;
} update_ctx;

/* Rows i (input column c0) and, when c1 is not NULL, i + 1 (column c1) of W. */
static void update_rows(update_ctx *u, int32_t *w, uint32_t i, const int16_t *c0, const int16_t *c1)
{
    uint32_t j = 0, c;
#if TIFED_PACKED_UPDATE
    if (u->packed) {
        const uint32_t full = u->b.out / PANEL_WIDTH, pairs = (u->b.n + 1u) / 2u;
        const uint32_t w_step = PANEL_WIDTH * u->b.in, d_step = PANEL_WIDTH * u->b.n;
        int32_t *w_row = w + i * PANEL_WIDTH;
        if (c1)
            u->bits |= (u->may_saturate ? update_packed_two_sat : update_packed_two)(
                c0, c1, u->b.d, pairs, w_row, full, w_step, d_step, (unsigned)u->b.shift);
        else
            u->bits |= (u->may_saturate ? update_packed_one_sat : update_packed_one)(
                c0, NULL, u->b.d, pairs, w_row, full, w_step, d_step, (unsigned)u->b.shift);
        j = full * PANEL_WIDTH; /* the narrow last panel, if any, below (int32 deltas) */
    } else
#endif
    if (u->b.narrow && u->b.shift >= 0 && c1) {
        const uint32_t full = u->b.out / PANEL_WIDTH;
        u->bits |= (u->may_saturate ? update_pairs_i32_sat : update_pairs_i32)(
            c0, c1, u->b.d, u->b.n, w + i * PANEL_WIDTH, full, PANEL_WIDTH * u->b.in, (unsigned)u->b.shift);
        j = full * PANEL_WIDTH; /* the narrow last panel, if any, below */
    }
    for (; j < u->b.out; j += PANEL_WIDTH) {
        const uint32_t width = panel_width(j, u->b.out);
        const int32_t *dp = u->b.d + panel_start(j, u->b.n);
        int32_t *w0 = w + panel_start(j, u->b.in) + i * width, *w1 = w0 + width;
        if (u->b.narrow) {
            int32_t acc[2u * PANEL_WIDTH];
            panel_dot32_i16(c0, c1, dp, u->b.n, width, acc);
            for (c = 0; c < width; c++)
                w0[c] = step(w0[c], scale32(acc[c], u->b.shift, u->b.lr_inv), &u->bits);
            if (c1)
                for (c = 0; c < width; c++)
                    w1[c] = step(w1[c], scale32(acc[PANEL_WIDTH + c], u->b.shift, u->b.lr_inv), &u->bits);
        } else {
            int64_t acc[PANEL_WIDTH];
            panel_dot64_i16(c0, dp, u->b.n, width, acc);
            for (c = 0; c < width; c++)
                w0[c] = step(w0[c], scale64(acc[c], u->b.shift, u->b.lr_inv), &u->bits);
            if (c1) {
                panel_dot64_i16(c1, dp, u->b.n, width, acc);
                for (c = 0; c < width; c++)
                    w1[c] = step(w1[c], scale64(acc[c], u->b.shift, u->b.lr_inv), &u->bits);
            }
        }
    }
}

void update_layer_int32(tifed_net *net, uint32_t l, uint32_t first, uint32_t n, uint32_t lr_inv,
                        uint32_t delta_bits)
{
    const uint32_t in = net->dims[l], out = net->dims[l + 1u], classes = net->dims[net->n_layers];
    const int8_t *x = l == 0u ? net->x + first * in : NULL;
    const int16_t *a_prev = l == 0u ? NULL : net->act[l - 1u];
    /* Scratch columns: batch_cap * classes int16, room for two when two
     * columns fit. The packed path pads each to an even length (it reads
     * sample pairs, and c1 stays 4-byte aligned); the others do not. */
    const uint32_t n_pad = n + (n & 1u), scratch = net->batch_cap * classes;
    int16_t *c0 = net->act[net->n_layers - 1u], *c1;
    uint32_t column, step_i;
    int32_t *bias = net->b[l];
    update_ctx u;
    uint32_t i, j, c, unused = 0;

    u.b = update_batch_of(net, l, n, lr_inv, delta_bits);
    /* Then |q| <= (128 n |delta|max >> shift) + 1, and w - q cannot leave
     * int32 while |w| + |q| <= INT32_MAX. */
    u.may_saturate = 1;
    if (u.b.narrow && u.b.shift >= 0) {
        const uint64_t q_max = (((uint64_t)128u * n * (delta_bits + 1u)) >> u.b.shift) + 1u;
        u.may_saturate = (uint64_t)net->w_bound[l] + q_max > (uint64_t)INT32_MAX;
    }
    u.bits = 0;

    /* The bias first: it reads the deltas as int32, before any packing. */
    for (j = 0; j < out; j += PANEL_WIDTH) {
        const uint32_t width = panel_width(j, out);
        int64_t sum[PANEL_WIDTH];
        delta_column_sums(u.b.d, n, j, width, sum);
        for (c = 0; c < width; c++)
            bias[j + c] = step(bias[j + c], scale64(sum[c], u.b.shift, lr_inv), &unused);
    }

    /* Packed when the int32 sums are exact, lr_inv is a power of two, every
     * delta fits in int16 (magnitude bits <= 0x7FFF: -32768..32767) and a
     * padded column fits in the scratch. */
    u.packed = 0;
#if TIFED_PACKED_UPDATE
    u.packed = u.b.narrow && u.b.shift >= 0 && delta_bits <= 0x7FFFu && n_pad <= scratch && out >= PANEL_WIDTH;
#endif
    column = u.packed ? n_pad : n;
    step_i = 2u * column <= scratch ? 2u : 1u;
    c1 = c0 + column;
#if TIFED_PACKED_UPDATE
    if (u.packed) {
        pack_delta_pairs(net->delta[l], n, out / PANEL_WIDTH, PANEL_WIDTH * n);
        c0[n_pad - 1u] = 0; /* the pad of an odd batch (overwritten below when n is even) */
        if (step_i == 2u)
            c1[n_pad - 1u] = 0; /* c1 exists only then: past the scratch otherwise */
    }
#endif

    for (i = 0; i < in; i += step_i) {
        int16_t *const second = step_i == 2u && i + 1u < in ? c1 : NULL;
        fill_columns(x, a_prev, in, n, i, c0, i + 1u, second);
        update_rows(&u, net->w[l], i, c0, second);
    }
    net->w_bound[l] = u.bits + 1u; /* bits <= INT32_MAX, so no wrap */
}

