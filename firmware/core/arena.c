/*
 * Arena layout (PROTOCOL.md CONFIGURE). The byte count is a contract with the
 * harness (tifed_models.arena_bytes); the order of the parts is ours:
 *
 *   W_0 b_0 W_1 b_1 ...      int32, or int16 (each a4) params
 *   B_0 B_1 ... B_{L-2}      int16, one a4 block      feedback
 *   x                        int8,  a4                samples
 *   labels                   u8,    a4
 *   per layer l = 0..L-1, rows for batch_cap samples of its output d_{l+1}:
 *     act int16 (a4), g_log2 u8 (a4), delta int32
 *   16-bit weights only: the pair scratch, 4 * max(rows4(d_l), 2 even B) bytes
 *     (kernels/kernels.h: two samples' inputs as pairs; the update's columns)
 *
 * Every part starts at a multiple of 4, so int32 and int16 accesses are
 * aligned when the arena itself is.
 */
#include <stddef.h>
#include <string.h>

#include "core/net.h"
#include "core/panel.h"

static uint64_t a4(uint64_t n)
{
    return (n + 3u) & ~(uint64_t)3u;
}

static int dims_valid(uint32_t n_layers, const uint32_t *dims, uint32_t buffer_cap, uint32_t batch_cap,
                      uint32_t weight_bits)
{
    uint32_t l;
    if (n_layers < 1u || n_layers > TIFED_MAX_LAYERS || (weight_bits != 32u && weight_bits != 16u))
        return 0;
    for (l = 0; l <= n_layers; l++)
        if (dims[l] < 1u || dims[l] > TIFED_MAX_DIM)
            return 0;
    if (dims[n_layers] > TIFED_MAX_CLASSES)
        return 0;
    return buffer_cap >= 1u && buffer_cap <= TIFED_MAX_DIM && batch_cap >= 1u && batch_cap <= TIFED_MAX_DIM;
}

/* The 16-bit weights' pair scratch, in bytes (see the layout above). */
static uint64_t pair_scratch(uint32_t n_layers, const uint32_t *dims, uint32_t batch_cap)
{
    uint64_t words = 2u * ((uint64_t)batch_cap + (batch_cap & 1u));
    uint32_t l;
    for (l = 0; l < n_layers; l++)
        if (rows4(dims[l]) > words)
            words = rows4(dims[l]);
    return 4u * words;
}

uint64_t net_arena_need(uint32_t n_layers, const uint32_t *dims, uint32_t buffer_cap, uint32_t batch_cap,
                        uint32_t weight_bits)
{
    uint64_t params = 0, hidden = 0, rows = 0, scratch = 0;
    uint64_t classes = dims[n_layers];
    uint32_t l;
    for (l = 0; l < n_layers; l++) {
        uint64_t in = dims[l], out = dims[l + 1u];
        if (weight_bits == 16u)
            params += 2u * rows4(dims[l]) * out + a4(2u * out);
        else
            params += 4u * (in * out + out);
        if (l + 1u < n_layers)
            hidden += out;
        rows += a4(2u * (uint64_t)batch_cap * out) + a4((uint64_t)batch_cap * out) + 4u * (uint64_t)batch_cap * out;
    }
    if (weight_bits == 16u)
        scratch = pair_scratch(n_layers, dims, batch_cap);
    return params + a4(2u * classes * hidden) + a4((uint64_t)buffer_cap * dims[0]) + a4(buffer_cap) + rows +
           scratch;
}

void net_reset(tifed_net *net)
{
    memset(net, 0, sizeof *net);
}

int net_configure(tifed_net *net, uint8_t *arena, uint32_t arena_bytes, uint32_t n_layers,
                  const uint32_t *dims, uint32_t buffer_cap, uint32_t batch_cap, uint32_t weight_bits)
{
    uint64_t need;
    uint8_t *p;
    uint32_t l, classes;

    if (!dims_valid(n_layers, dims, buffer_cap, batch_cap, weight_bits) || ((uintptr_t)arena & 3u) != 0u)
        return -1;
    need = net_arena_need(n_layers, dims, buffer_cap, batch_cap, weight_bits);
    if (need > arena_bytes)
        return -1;

    net_reset(net);
    net->n_layers = n_layers;
    for (l = 0; l <= n_layers; l++)
        net->dims[l] = dims[l];
    net->buffer_cap = buffer_cap;
    net->batch_cap = batch_cap;
    net->arena_used = (uint32_t)need;
    net->weight_bits = weight_bits;
    classes = dims[n_layers];

    /* Zero everything first: weights, biases, feedback and samples start at 0
     * (and stale rows of an earlier model cannot leak into this one). */
    memset(arena, 0, (size_t)need);
    p = arena;
    for (l = 0; l < n_layers; l++) {
        if (weight_bits == 16u) {
            net->w16[l] = (uint32_t *)(void *)p;
            p += 2u * rows4(dims[l]) * dims[l + 1u];
            net->b16[l] = (int16_t *)(void *)p;
            p += a4(2u * (uint64_t)dims[l + 1u]);
        } else {
            net->w[l] = (int32_t *)(void *)p;
            p += 4u * dims[l] * dims[l + 1u];
            net->b[l] = (int32_t *)(void *)p;
            p += 4u * dims[l + 1u];
        }
    }
    {
        uint8_t *fb_start = p;
        for (l = 0; l + 1u < n_layers; l++) {
            net->fb[l] = (int16_t *)(void *)p;
            p += 2u * classes * dims[l + 1u];
        }
        p = fb_start + a4((uint64_t)(p - fb_start));
    }
    net->x = (int8_t *)(void *)p;
    p += a4((uint64_t)buffer_cap * dims[0]);
    net->label = p;
    p += a4(buffer_cap);
    for (l = 0; l < n_layers; l++) {
        uint32_t cells = batch_cap * dims[l + 1u];
        net->act[l] = (int16_t *)(void *)p;
        p += a4(2u * (uint64_t)cells);
        net->g_log2[l] = p;
        p += a4(cells);
        net->delta[l] = (int32_t *)(void *)p;
        p += 4u * (uint64_t)cells;
    }
    if (weight_bits == 16u)
        net->pairs = (uint32_t *)(void *)p;
    return 0;
}
