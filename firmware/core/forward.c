/*
 * Forward pass: z = a_prev @ W + b (int64), s = floor(z / (256 * in)),
 * a, g = PLA tanh(s), for a block of consecutive samples. W is stored in
 * panels of 4 outputs (panel.h). When the layer's weight bound proves that
 * a_prev @ W cannot leave int32 (|a| <= 128), two samples are computed at
 * once in int32; otherwise one sample at a time in int64. Both give the
 * same integers; the bias is always added in int64. 16-bit weights take
 * their own kernel (kernels/dot16.c), exact for any weights.
 */
#include <stddef.h>

#include "core/intmath.h"
#include "core/net.h"
#include "core/kernels/kernels.h"
#include "core/pla.h"

/* pla_tanh(floor(z / (256 in))), once per output, never per MAC. The
 * table is flat for s >= 128 and s < -127, that is for z >= 32768 in and
 * z < -32512 in (floor(floor(z / 256) / in) = floor(z / (256 in))); in
 * between |z| < 2^31, so one 32-bit shift and division give s. */
static int16_t activate(int64_t z, uint32_t in, uint8_t *g_log2)
{
    if (z >= (int64_t)32768 * in)
        return pla_tanh(128, g_log2);
    if (z < (int64_t)-32512 * in)
        return pla_tanh(-128, g_log2);
    return pla_tanh_mid((int32_t)floor_div_pos(floor_shift_i32((int32_t)z, 8), (int32_t)in), g_log2);
}

/* layer_forward for 16-bit weights: two samples at a time, their inputs
 * first turned into pairs in the pair scratch (kernels/expand16.c). */
static void layer_forward16(const tifed_net *net, uint32_t l, const int8_t *in8, const int16_t *in16,
                            uint32_t count)
{
    const uint32_t in = net->dims[l], out = net->dims[l + 1u], groups = rows4(in) / 4u;
    const int16_t *bias = net->b16[l];
    uint32_t r, j, c;
    for (r = 0; r < count; r += 2u) {
        const int two = r + 1u < count;
        int16_t *act = net->act[l] + r * out;
        uint8_t *g = net->g_log2[l] + r * out;
        if (in8)
            input_pairs_i8(in8 + r * in, two ? in8 + (r + 1u) * in : NULL, in, net->pairs);
        else
            input_pairs_i16(in16 + r * in, two ? in16 + (r + 1u) * in : NULL, in, net->pairs);
        for (j = 0; j < out; j += PANEL_WIDTH) {
            const uint32_t width = panel_width(j, out);
            const uint32_t *panel = net->w16[l] + panel_start(j, rows4(in)) / 2u;
            int64_t acc[2u * PANEL_WIDTH];
            if (width < PANEL_WIDTH)
                panel16_dot_narrow(net->pairs, panel, groups, width, two, acc);
            else if (two)
                panel16_dot2(net->pairs, panel, groups, acc);
            else
                panel16_dot1(net->pairs, panel, groups, acc);
            for (c = 0; c < width; c++) {
                act[j + c] = activate(acc[c] + bias[j + c], in, &g[j + c]);
                if (two)
                    act[out + j + c] = activate(acc[PANEL_WIDTH + c] + bias[j + c], in, &g[out + j + c]);
            }
        }
    }
}

/* Layer l for `count` samples whose inputs are rows of `in8` (layer 0: the
 * int8 samples) or of `in16` (the previous layer's activations). */
static void layer_forward(const tifed_net *net, uint32_t l, const int8_t *in8, const int16_t *in16,
                          uint32_t count)
{
    const uint32_t in = net->dims[l], out = net->dims[l + 1u];
    const int32_t *bias = net->b[l];
    const int narrow = dot32_exact(in, net->w_bound[l]);
    uint32_t r, j, c;

    for (r = 0; r < count; r += narrow ? 2u : 1u) {
        const uint32_t rows = narrow && r + 1u < count ? 2u : 1u;
        int16_t *act = net->act[l] + r * out;
        uint8_t *g = net->g_log2[l] + r * out;
        for (j = 0; j < out; j += PANEL_WIDTH) {
            const uint32_t width = panel_width(j, out);
            const int32_t *panel = net->w[l] + panel_start(j, in);
            if (narrow) {
                int32_t acc[2u * PANEL_WIDTH];
                if (in8)
                    panel_dot32_i8(in8 + r * in, rows == 2u ? in8 + (r + 1u) * in : NULL, panel, in, width, acc);
                else
                    panel_dot32_i16(in16 + r * in, rows == 2u ? in16 + (r + 1u) * in : NULL, panel, in, width,
                                    acc);
                for (c = 0; c < width; c++) {
                    act[j + c] = activate((int64_t)acc[c] + bias[j + c], in, &g[j + c]);
                    if (rows == 2u)
                        act[out + j + c] = activate((int64_t)acc[PANEL_WIDTH + c] + bias[j + c], in, &g[out + j + c]);
                }
            } else {
                int64_t acc[PANEL_WIDTH];
                if (in8)
                    panel_dot64_i8(in8 + r * in, panel, in, width, acc);
                else
                    panel_dot64_i16(in16 + r * in, panel, in, width, acc);
                for (c = 0; c < width; c++)
                    act[j + c] = activate(acc[c] + bias[j + c], in, &g[j + c]);
            }
        }
    }
}

typedef void layer_fn(const tifed_net *net, uint32_t l, const int8_t *in8, const int16_t *in16, uint32_t count);

int net_forward(const tifed_net *net, uint32_t first, uint32_t count)
{
    layer_fn *const layer = net->weight_bits == 16u ? layer_forward16 : layer_forward;
    uint32_t l;
    if (net->n_layers == 0u || count > net->batch_cap || first > net->buffer_cap ||
        count > net->buffer_cap - first)
        return -1;
    layer(net, 0u, net->x + first * net->dims[0], NULL, count);
    for (l = 1; l < net->n_layers; l++)
        layer(net, l, NULL, net->act[l - 1u], count);
    return 0;
}

int net_predict(const tifed_net *net, uint32_t first, uint32_t count, uint8_t *pred)
{
    const uint32_t classes = net->dims[net->n_layers];
    uint32_t done = 0;
    if (net->n_layers == 0u || first > net->buffer_cap || count > net->buffer_cap - first)
        return -1;
    while (done < count) {
        const uint32_t chunk = count - done < net->batch_cap ? count - done : net->batch_cap;
        const int16_t *a = net->act[net->n_layers - 1u];
        uint32_t r, k;
        net_forward(net, first + done, chunk);
        for (r = 0; r < chunk; r++, a += classes) {
            uint32_t best = 0;
            for (k = 1; k < classes; k++)
                if (a[k] > a[best]) /* strict: the first index wins a tie */
                    best = k;
            pred[done + r] = (uint8_t)best;
        }
        done += chunk;
    }
    return 0;
}
