/*
 * The update of a layer of 16-bit weights (update.h): the arithmetic of
 * update_int32.c, W -= floor((a_prev^T @ d) / lr_inv) and b -= floor(
 * sum_batch(d) / lr_inv), but every new weight and bias saturates at the
 * int16 limits (this project's extension, models/README.md).
 *
 * The usual case (the sums provably int32, every delta in int16, lr_inv a
 * power of two above 1, room for two padded scratch columns) runs
 * kernels/update16.c on row pairs (r, r + 2) of each group of four rows,
 * which share their pair words (panel.h), two samples per SMLAD. Whatever
 * that kernel does not cover (the rows % 4 rows after the groups, the
 * narrow last panel, and every row when the usual case does not hold)
 * goes through the generic path below, one weight at a time, with the
 * same integers.
 */
#include <stddef.h>

#include "core/update.h"

typedef struct {
    uint32_t *w; /* the layer's pair words */
    uint32_t in, out, n;
    const int32_t *d;
    int shift;
    uint32_t lr_inv;
    int narrow; /* int32 sums are exact */
} update16_ctx;

/* W[r][k] = sat16(W[r][k] - q). */
static void apply(const update16_ctx *u, uint32_t r, uint32_t k, int64_t q)
{
    const uint32_t e = panel16_index(r, k, u->in, u->out);
    const int64_t v = (int64_t)pair_half(u->w, e) - q;
    pair_set_half(u->w, e, v < INT16_MIN ? INT16_MIN : v > INT16_MAX ? INT16_MAX : (int32_t)v);
}

/* Rows r0 (input column c0) and, when c1 is not NULL, r1 (column c1)
 * against the delta panels from column j on, which must not be packed. */
static void update_generic(const update16_ctx *u, uint32_t j, uint32_t r0, const int16_t *c0, uint32_t r1,
                           const int16_t *c1)
{
    uint32_t c;
    for (; j < u->out; j += PANEL_WIDTH) {
        const uint32_t width = panel_width(j, u->out);
        const int32_t *dp = u->d + panel_start(j, u->n);
        if (u->narrow) {
            int32_t acc[2u * PANEL_WIDTH];
            panel_dot32_i16(c0, c1, dp, u->n, width, acc);
            for (c = 0; c < width; c++) {
                apply(u, r0, j + c, scale32(acc[c], u->shift, u->lr_inv));
                if (c1)
                    apply(u, r1, j + c, scale32(acc[PANEL_WIDTH + c], u->shift, u->lr_inv));
            }
        } else {
            int64_t acc[PANEL_WIDTH];
            panel_dot64_i16(c0, dp, u->n, width, acc);
            for (c = 0; c < width; c++)
                apply(u, r0, j + c, scale64(acc[c], u->shift, u->lr_inv));
            if (c1) {
                panel_dot64_i16(c1, dp, u->n, width, acc);
                for (c = 0; c < width; c++)
                    apply(u, r1, j + c, scale64(acc[c], u->shift, u->lr_inv));
            }
        }
    }
}

void update_layer_int16(tifed_net *net, uint32_t l, uint32_t first, uint32_t n, uint32_t lr_inv,
                        uint32_t delta_bits)
{
    const uint32_t in = net->dims[l], out = net->dims[l + 1u], classes = net->dims[net->n_layers];
    const int8_t *x = l == 0u ? net->x + first * in : NULL;
    const int16_t *a_prev = l == 0u ? NULL : net->act[l - 1u];
    /* Scratch columns: batch_cap * classes int16 (the last layer's
     * activation rows, free once the deltas exist). */
    const uint32_t n_pad = n + (n & 1u), scratch = net->batch_cap * classes, grouped = in & ~3u;
    const uint32_t full = out / PANEL_WIDTH;
    int16_t *c0 = net->act[net->n_layers - 1u], *c1;
    int16_t *bias = net->b16[l];
    update16_ctx u;
    uint32_t i, j, c;
    int packed;

    u.w = net->w16[l];
    u.in = in;
    u.out = out;
    u.n = n;
    u.d = net->delta[l];
    u.shift = log2_exact_u32(lr_inv);
    u.lr_inv = lr_inv;
    /* |delta| <= delta_bits + 1; products with |a| <= 128 must stay int32. */
    u.narrow = delta_bits < UINT32_MAX && dot32_exact(n, delta_bits + 1u);

    for (j = 0; j < out; j += PANEL_WIDTH) {
        const uint32_t width = panel_width(j, out);
        int64_t sum[PANEL_WIDTH];
        delta_column_sums(u.d, n, j, width, sum);
        for (c = 0; c < width; c++) {
            const int64_t v = bias[j + c] - scale64(sum[c], u.shift, lr_inv);
            bias[j + c] = (int16_t)(v < INT16_MIN ? INT16_MIN : v > INT16_MAX ? INT16_MAX : v);
        }
    }

    packed = u.narrow && u.shift >= 1 && delta_bits <= 0x7FFFu && 2u * n_pad <= scratch && full >= 1u;
    if (!packed) {
        const uint32_t step_i = 2u * n <= scratch ? 2u : 1u;
        c1 = c0 + n;
        for (i = 0; i < in; i += step_i) {
            int16_t *const second = step_i == 2u && i + 1u < in ? c1 : NULL;
            fill_columns(x, a_prev, in, n, i, c0, i + 1u, second);
            update_generic(&u, 0u, i, c0, i + 1u, second);
        }
        return;
    }

    /* The rows after the groups first, while the deltas are not packed. */
    c1 = c0 + n_pad;
    for (i = grouped; i < in; i++) {
        fill_columns(x, a_prev, in, n, i, c0, 0u, NULL);
        update_generic(&u, 0u, i, c0, 0u, NULL);
    }
    pack_delta_pairs(net->delta[l], n, full);
    c0[n_pad - 1u] = 0; /* the pad of an odd batch (overwritten below when n is even) */
    c1[n_pad - 1u] = 0;
    for (i = 0; i < grouped; i += 4u) {
        uint32_t h;
        for (h = 0; h < 2u; h++) {
            /* Rows i + h and i + h + 2: the low and high halves of the words
             * of run h of the group (panel.h), PANEL_WIDTH words a run. */
            fill_columns(x, a_prev, in, n, i + h, c0, i + h + 2u, c1);
            update16_pairs(c0, c1, u.d, n_pad / 2u, u.w + i * PANEL_WIDTH / 2u + h * PANEL_WIDTH, full,
                           2u * in, PANEL_WIDTH * n, (unsigned)u.shift);
            if (full * PANEL_WIDTH < out)
                update_generic(&u, full * PANEL_WIDTH, i + h, c0, i + h + 2u, c1);
        }
    }
}
