/*
 * The update of a layer of 16-bit weights (update.h): the arithmetic of
 * update_int32.c, W -= floor((a_prev^T @ d) / lr_inv) and b -= floor(
 * sum_batch(d) / lr_inv), but every new weight and bias saturates at the
 * int16 limits (this project's extension, models/README.md).
 *
 * The usual case (the sums provably int32, every delta in int16, lr_inv a
 * power of two above 1) runs kernels/update16.c on the row pairs (r, r + 2)
 * of each group of four rows, which share their pair words (panel.h), two
 * samples per SMLAD, with the input columns as pairs in the pair scratch;
 * the narrow last panel, if any, takes the same columns here. Otherwise
 * every row goes through the generic path below, one weight at a time,
 * with the same integers.
 */
#include <stddef.h>

#include "core/update.h"

typedef struct {
    update_batch b;
    uint32_t *w; /* the layer's pair words */
} update16_ctx;

/* W[r][k] = sat16(W[r][k] - q). */
static void apply(const update16_ctx *u, uint32_t r, uint32_t k, int64_t q)
{
    const uint32_t e = panel16_index(r, k, u->b.in, u->b.out);
    const int64_t v = (int64_t)pair_half(u->w, e) - q;
    pair_set_half(u->w, e, v < INT16_MIN ? INT16_MIN : v > INT16_MAX ? INT16_MAX : (int32_t)v);
}

/* Rows r0 (input column c0) and, when c1 is not NULL, r0 + 1 (column c1)
 * against every delta panel (none packed). */
static void update_generic(const update16_ctx *u, uint32_t r0, const int16_t *c0, const int16_t *c1)
{
    uint32_t j, c;
    for (j = 0; j < u->b.out; j += PANEL_WIDTH) {
        const uint32_t width = panel_width(j, u->b.out);
        const int32_t *dp = u->b.d + panel_start(j, u->b.n);
        if (u->b.narrow) {
            int32_t acc[2u * PANEL_WIDTH];
            panel_dot32_i16(c0, c1, dp, u->b.n, width, acc);
            for (c = 0; c < width; c++) {
                apply(u, r0, j + c, scale32(acc[c], u->b.shift, u->b.lr_inv));
                if (c1)
                    apply(u, r0 + 1u, j + c, scale32(acc[PANEL_WIDTH + c], u->b.shift, u->b.lr_inv));
            }
        } else {
            int64_t acc[PANEL_WIDTH];
            panel_dot64_i16(c0, dp, u->b.n, width, acc);
            for (c = 0; c < width; c++)
                apply(u, r0, j + c, scale64(acc[c], u->b.shift, u->b.lr_inv));
            if (c1) {
                panel_dot64_i16(c1, dp, u->b.n, width, acc);
                for (c = 0; c < width; c++)
                    apply(u, r0 + 1u, j + c, scale64(acc[c], u->b.shift, u->b.lr_inv));
            }
        }
    }
}

/* The narrow last panel (columns j.., not packed) for rows r0 and r1 of
 * the packed path, from their column pairs; int32 sums (exact there). */
static void update_narrow_panel(const update16_ctx *u, uint32_t j, const uint32_t *cols, uint32_t r0, uint32_t r1)
{
    const uint32_t width = panel_width(j, u->b.out);
    const int32_t *dp = u->b.d + panel_start(j, u->b.n);
    int32_t a[PANEL_WIDTH] = {0, 0, 0, 0}, b[PANEL_WIDTH] = {0, 0, 0, 0};
    uint32_t s, c;
    for (s = 0; s < u->b.n; s++, dp += width) {
        const uint32_t shift = 16u * (s & 1u);
        const int32_t x0 = (int16_t)(uint16_t)(cols[2u * (s / 2u)] >> shift);
        const int32_t x1 = (int16_t)(uint16_t)(cols[2u * (s / 2u) + 1u] >> shift);
        for (c = 0; c < width; c++) {
            a[c] += x0 * dp[c];
            b[c] += x1 * dp[c];
        }
    }
    for (c = 0; c < width; c++) {
        apply(u, r0, j + c, scale32(a[c], u->b.shift, u->b.lr_inv));
        if (r1 < u->b.in)
            apply(u, r1, j + c, scale32(b[c], u->b.shift, u->b.lr_inv));
    }
}

void update_layer_int16(tifed_net *net, uint32_t l, uint32_t first, uint32_t n, uint32_t lr_inv,
                        uint32_t delta_bits)
{
    const uint32_t in = net->dims[l], out = net->dims[l + 1u], full = out / PANEL_WIDTH;
    const int8_t *x = l == 0u ? net->x + first * in : NULL;
    const int16_t *a_prev = l == 0u ? NULL : net->act[l - 1u];
    const uint32_t pairs = (n + 1u) / 2u;
    int16_t *bias = net->b16[l];
    update16_ctx u;
    uint32_t i, j, c;

    u.b = update_batch_of(net, l, n, lr_inv, delta_bits);
    u.w = net->w16[l];

    for (j = 0; j < out; j += PANEL_WIDTH) {
        const uint32_t width = panel_width(j, out);
        int64_t sum[PANEL_WIDTH];
        delta_column_sums(u.b.d, n, j, width, sum);
        for (c = 0; c < width; c++) {
            const int64_t v = bias[j + c] - scale64(sum[c], u.b.shift, lr_inv);
            bias[j + c] = (int16_t)(v < INT16_MIN ? INT16_MIN : v > INT16_MAX ? INT16_MAX : v);
        }
    }

    if (!(u.b.narrow && u.b.shift >= 1 && delta_bits <= 0x7FFFu && full >= 1u)) {
        /* The pair scratch holds two plain columns of n int16 (arena.c). */
        int16_t *c0 = (int16_t *)(void *)net->pairs, *c1 = c0 + n;
        for (i = 0; i < in; i += 2u) {
            int16_t *const second = i + 1u < in ? c1 : NULL;
            fill_columns(x, a_prev, in, n, i, c0, i + 1u, second);
            update_generic(&u, i, c0, second);
        }
        return;
    }

    {
        /* |floor(sum / 2^shift)| <= (128 n |d|max >> shift) + 1: within
         * int16, one QSUB16 does a word's two steps. */
        const uint64_t q_max = (((uint64_t)128u * n * (delta_bits + 1u)) >> u.b.shift) + 1u;
        void (*const kernel)(const uint32_t *, const int32_t *, uint32_t, uint32_t *, uint32_t, uint32_t,
                             unsigned) = q_max <= 32767u ? update16_pairs_small : update16_pairs;
        const uint32_t w_step = 2u * rows4(in); /* words per full panel */
        /* Both row pairs' columns of a group: 2 * pairs words each. */
        uint32_t *cols[2];
        cols[0] = net->pairs;
        cols[1] = net->pairs + 2u * pairs;
        pack_delta_pairs(net->delta[l], n, full, PANEL_WIDTH * pairs); /* back to back */
        for (i = 0; i < in; i += 4u) {
            uint32_t h;
            if (x)
                column_pairs_i8(x, in, n, i, cols[0], cols[1]);
            else
                column_pairs_i16(a_prev, in, n, i, cols[0], cols[1]);
            for (h = 0; h < 2u && i + h < in; h++) {
                /* Rows i + h and i + h + 2: the low and high halves of run h
                 * of the group's words (panel.h); a row past `in` is pad. */
                kernel(cols[h], u.b.d, pairs, u.w + 2u * i + PANEL_WIDTH * h, full, w_step, (unsigned)u.b.shift);
                if (full * PANEL_WIDTH < out)
                    update_narrow_panel(&u, full * PANEL_WIDTH, cols[h], i + h, i + h + 2u);
            }
        }
    }
}
