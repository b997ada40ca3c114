/* Tensor access for WRITE_TENSOR/READ_TENSOR, and the feedback seed. */
#include <stddef.h>

#include "core/net.h"
#include "core/panel.h"
#include "core/prng.h"

int net_tensor_count(const tifed_net *net, uint32_t id, uint32_t *count)
{
    const uint32_t kind = id >> 4, l = id & 0x0Fu;
    *count = 0;
    if (l >= net->n_layers)
        return -1;
    switch (kind) {
    case NET_TENSOR_WEIGHTS:
        *count = net->dims[l] * net->dims[l + 1u];
        return 0;
    case NET_TENSOR_BIAS:
        *count = net->dims[l + 1u];
        return 0;
    case NET_TENSOR_FEEDBACK:
        if (l + 1u >= net->n_layers)
            return -1; /* the last layer has no feedback matrix */
        *count = net->dims[net->n_layers] * net->dims[l + 1u];
        return 0;
    default:
        return -1;
    }
}

int net_tensor_shape(const tifed_net *net, uint32_t id, uint32_t *rows, uint32_t *cols)
{
    const uint32_t kind = id >> 4, l = id & 0x0Fu;
    uint32_t count;
    *rows = 0;
    *cols = 0;
    if (net_tensor_count(net, id, &count) != 0)
        return -1;
    *cols = kind == NET_TENSOR_BIAS ? 1u : net->dims[l + 1u];
    *rows = count / *cols;
    return 0;
}

/* Where element e (row-major on the wire) of tensor id lives: an int32
 * cell, an int16 cell (feedback, 16-bit biases), or half `half` of a
 * 16-bit weight matrix's pair words; W is stored in panels (panel.h). */
typedef struct {
    int32_t *i32;
    int16_t *i16;
    uint32_t *pairs;
    uint32_t half;
} cell;

static cell locate(const tifed_net *net, uint32_t id, uint32_t e)
{
    const uint32_t kind = id >> 4, l = id & 0x0Fu;
    const int wide = net->weight_bits != 16u;
    cell at = {NULL, NULL, NULL, 0u};
    if (kind == NET_TENSOR_WEIGHTS) {
        const uint32_t in = net->dims[l], out = net->dims[l + 1u];
        if (wide) {
            at.i32 = net->w[l] + panel_index(e / out, e % out, in, out);
        } else {
            at.pairs = net->w16[l];
            at.half = panel16_index(e / out, e % out, in, out);
        }
    } else if (kind == NET_TENSOR_BIAS) {
        if (wide)
            at.i32 = net->b[l] + e;
        else
            at.i16 = net->b16[l] + e;
    } else {
        at.i16 = net->fb[l] + e;
    }
    return at;
}

int net_tensor_accepts(const tifed_net *net, uint32_t id, int32_t value)
{
    const int narrow = (id >> 4) == NET_TENSOR_FEEDBACK || net->weight_bits == 16u;
    return !narrow || (value >= INT16_MIN && value <= INT16_MAX);
}

int32_t net_tensor_get(const tifed_net *net, uint32_t id, uint32_t e)
{
    const cell at = locate(net, id, e);
    if (at.i32)
        return *at.i32;
    if (at.i16)
        return *at.i16;
    return pair_half(at.pairs, at.half);
}

void net_tensor_set(tifed_net *net, uint32_t id, uint32_t e, int32_t value)
{
    const cell at = locate(net, id, e);
    if ((id >> 4) == NET_TENSOR_WEIGHTS) {
        /* |INT32_MIN| = 2^31 fits uint32. */
        const uint32_t magnitude = value < 0 ? 0u - (uint32_t)value : (uint32_t)value;
        if (magnitude > net->w_bound[id & 0x0Fu])
            net->w_bound[id & 0x0Fu] = magnitude;
    }
    if (at.i32)
        *at.i32 = value;
    else if (at.i16)
        *at.i16 = (int16_t)value;
    else
        pair_set_half(at.pairs, at.half, value);
}

void net_seed_feedback(tifed_net *net, uint32_t seed)
{
    /* One counter i runs through the hidden layers in order and each B_l in
     * row-major order (models/README.md); each layer has its own range r. */
    const uint32_t key = prng_mix32(seed), classes = net->dims[net->n_layers];
    uint32_t i = 0, l, e;
    for (l = 0; l + 1u < net->n_layers; l++) {
        const uint32_t units = net->dims[l + 1u], r = prng_feedback_range(classes, units);
        int16_t *fb = net->fb[l];
        for (e = 0; e < classes * units; e++, i++)
            fb[e] = prng_feedback_value(key, i, r);
    }
}
