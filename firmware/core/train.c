/*
 * DFA training (algorithm.md, "Backward"). Per mini-batch of n samples:
 *   1. forward pass of all n samples with the weights as they were before
 *      the batch (net_forward fills act/g_log2 of every layer);
 *   2. deltas: last layer d = floor(e / g), hidden d = floor((e @ B_l) / g),
 *      e = a_last - 16 * onehot(label);
 *   3. every trained layer: W -= floor((a_prev^T @ d) / lr_inv),
 *      b -= floor(sum_batch(d) / lr_inv), saturated to int32.
 *      With 16-bit weights (CONFIGURE) the same, saturated to int16.
 *
 * The deltas are stored as an n x out matrix in panel layout (panel.h);
 * their magnitude bound tells the update which kernel is exact. Step 3
 * lives in update_int32.c and update_int16.c, one per storage width, and
 * the kernels themselves in core/kernels/ (kernels.h).
 */
#include <stddef.h>

#include "core/update.h"

/* Last layer: d = floor((a - t) / g), t = 16 at the label. Returns the
 * magnitude bits of the deltas. */
static uint32_t deltas_last(const tifed_net *net, const uint8_t *labels, uint32_t n)
{
    const uint32_t l = net->n_layers - 1u, classes = net->dims[l + 1u];
    const int16_t *a = net->act[l];
    const uint8_t *g = net->g_log2[l];
    int32_t *d = net->delta[l];
    uint32_t b, k, bits = 0;
    for (b = 0; b < n; b++, a += classes, g += classes)
        for (k = 0; k < classes; k++) {
            const int32_t e = a[k] - (labels[b] == k ? 16 : 0);
            const int32_t v = floor_shift_i32(e, g[k]);
            d[panel_index(b, k, n, classes)] = v;
            bits |= magnitude_bits(v);
        }
    return bits;
}

/* Hidden layer l: d = floor((e @ B_l) / g). With e = a_last - t,
 * e @ B_l = a_last @ B_l - 16 * B_l[label, :]. The sum is exact in int32:
 * |a| <= 128, |B| <= 32768 and at most 256 classes give |a @ B| <= 2^30,
 * and 16 |B| <= 2^19 more. One panel of up to 4 columns at a time, so the
 * deltas go to their panel-layout cells in a row and each a[k] is loaded
 * once per 4 products. */
static uint32_t deltas_hidden(const tifed_net *net, uint32_t l, const uint8_t *labels, uint32_t n)
{
    const uint32_t last = net->n_layers - 1u, classes = net->dims[last + 1u], out = net->dims[l + 1u];
    const int16_t *fb = net->fb[l];
    const int16_t *a = net->act[last];
    const uint8_t *g = net->g_log2[l];
    int32_t *d = net->delta[l];
    uint32_t b, j, k, c, bits = 0;
    for (b = 0; b < n; b++, a += classes, g += out) {
        /* Labels are checked on arrival; an out-of-range one has no target. */
        const int16_t *fb_label = labels[b] < classes ? fb + labels[b] * out : NULL;
        for (j = 0; j < out; j += PANEL_WIDTH) {
            const uint32_t width = panel_width(j, out);
            int32_t *cell = d + panel_start(j, n) + b * width;
            const int16_t *col = fb + j;
            int32_t acc[PANEL_WIDTH] = {0, 0, 0, 0};
            if (fb_label)
                for (c = 0; c < width; c++)
                    acc[c] = -16 * fb_label[j + c];
            if (width == PANEL_WIDTH) {
                int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
                for (k = 0; k < classes; k++, col += out) {
                    const int32_t ak = a[k];
                    s0 += ak * col[0];
                    s1 += ak * col[1];
                    s2 += ak * col[2];
                    s3 += ak * col[3];
                }
                acc[0] = s0;
                acc[1] = s1;
                acc[2] = s2;
                acc[3] = s3;
            } else {
                for (k = 0; k < classes; k++, col += out)
                    for (c = 0; c < width; c++)
                        acc[c] += a[k] * col[c];
            }
            for (c = 0; c < width; c++) {
                const int32_t v = floor_shift_i32(acc[c], g[j + c]);
                cell[c] = v;
                bits |= magnitude_bits(v);
            }
        }
    }
    return bits;
}

int net_train(tifed_net *net, uint32_t n, uint32_t batch, uint32_t epochs, uint32_t lr_inv, int layer)
{
    void (*const update)(tifed_net *, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t) =
        net->weight_bits == 16u ? update_layer_int16 : update_layer_int32;
    const int last = (int)net->n_layers - 1;
    uint32_t epoch, first, delta_bits[TIFED_MAX_LAYERS];
    int l;
    if (net->n_layers == 0u || batch < 1u || batch > net->batch_cap || n > net->buffer_cap || lr_inv < 1u ||
        layer < -1 || layer > last)
        return -1;
    for (epoch = 0; epoch < epochs; epoch++) {
        for (first = 0; n - first >= batch; first += batch) {
            const uint8_t *labels = net->label + first;
            net_forward(net, first, batch);
            /* Every delta before any update: the update's scratch columns
             * overwrite the last layer's activations. */
            for (l = 0; l <= last; l++) {
                if (layer != -1 && layer != l)
                    continue;
                delta_bits[l] = l == last ? deltas_last(net, labels, batch)
                                          : deltas_hidden(net, (uint32_t)l, labels, batch);
            }
            for (l = 0; l <= last; l++)
                if (layer == -1 || layer == l)
                    update(net, (uint32_t)l, first, batch, lr_inv, delta_bits[l]);
        }
    }
    return 0;
}
