/*
 * The commands of PROTOCOL.md. Each handler checks the payload length, the
 * device state and every field before it changes anything, so a refused
 * request leaves the device exactly as it was.
 */
#include <string.h>

#include "core/net.h"
#include "protocol/commands_v2.h"
#include "protocol/dispatch.h"
#include "protocol/wire.h"

#define RESPONSE_ROOM WIRE_RESPONSE_ROOM

static int configured(const proto_state *st)
{
    return st->net.n_layers != 0u;
}

static size_t put_str(uint8_t *out, const char *s, size_t room)
{
    size_t n = s ? strlen(s) : 0u;
    if (n > 255u)
        n = 255u;
    if (n + 1u > room)
        n = room - 1u;
    out[0] = (uint8_t)n;
    if (n != 0u)
        memcpy(out + 1, s, n);
    return n + 1u;
}

static uint8_t cmd_identify(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    size_t k;
    (void)req;
    if (n != 0u)
        return ST_BAD_LENGTH;
    out[0] = (uint8_t)TIFED_PROTO_VERSION;
    put_u16(out + 1, TIFED_MAX_PAYLOAD);
    put_u32(out + 3, st->env.arena_bytes);
    out[7] = (uint8_t)st->env.counter_kind;
    k = 8u;
    k += put_str(out + k, TIFED_FW_VERSION, RESPONSE_ROOM - k);
    k += put_str(out + k, st->env.board_name, RESPONSE_ROOM - k);
    *out_n = k;
    return ST_OK;
}

static uint8_t cmd_configure(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    uint32_t dims[TIFED_MAX_LAYERS + 1u], layers, buffer_cap, batch_cap, weight_bits = 32u, l;
    size_t fixed;
    uint64_t need;
    if (n < 1u)
        return ST_BAD_LENGTH;
    layers = req[0];
    if (layers < 1u || layers > TIFED_MAX_LAYERS)
        return ST_BAD_ARGUMENT;
    fixed = 5u + 2u * (layers + 1u);
    if (n != fixed && n != fixed + 1u) /* the weight_bits byte is optional */
        return ST_BAD_LENGTH;
    buffer_cap = get_u16(req + 1);
    batch_cap = get_u16(req + 3);
    for (l = 0; l <= layers; l++) {
        dims[l] = get_u16(req + 5 + 2u * l);
        if (dims[l] < 1u)
            return ST_BAD_ARGUMENT;
    }
    if (n == fixed + 1u)
        weight_bits = req[fixed];
    if (dims[layers] > TIFED_MAX_CLASSES || buffer_cap < 1u || batch_cap < 1u ||
        (weight_bits != 32u && weight_bits != 16u))
        return ST_BAD_ARGUMENT;
    need = net_arena_need(layers, dims, buffer_cap, batch_cap, weight_bits);
    put_u32(out, need > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)need);
    put_u32(out + 4, st->env.arena_bytes);
    *out_n = 8u;
    if (need > st->env.arena_bytes)
        return ST_NO_ROOM; /* nothing changes: the old model stays */
    if (net_configure(&st->net, st->env.arena, st->env.arena_bytes, layers, dims, buffer_cap, batch_cap,
                      weight_bits) != 0)
        return ST_BAD_ARGUMENT;
    return ST_OK;
}

/* Tensor id, offset and count of WRITE_TENSOR/READ_TENSOR, checked. */
static uint8_t tensor_range(const proto_state *st, const uint8_t *req, uint32_t *id, uint32_t *offset,
                            uint32_t *count)
{
    uint32_t size;
    *id = req[0];
    *offset = get_u32(req + 1);
    *count = get_u16(req + 5);
    if (net_tensor_count(&st->net, *id, &size) != 0)
        return ST_BAD_ARGUMENT;
    if ((uint64_t)*offset + *count > size)
        return ST_BAD_ARGUMENT;
    return ST_OK;
}

static uint8_t cmd_write_tensor(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    uint32_t id, offset, count, k;
    uint8_t status;
    (void)out;
    (void)out_n;
    if (n < 7u || n != 7u + 4u * (size_t)get_u16(req + 5))
        return ST_BAD_LENGTH;
    if (!configured(st))
        return ST_BAD_STATE;
    status = tensor_range(st, req, &id, &offset, &count);
    if (status != ST_OK)
        return status;
    for (k = 0; k < count; k++)
        if (!net_tensor_accepts(&st->net, id, get_i32(req + 7 + 4u * k)))
            return ST_BAD_ARGUMENT; /* an int16 tensor and a value outside int16: nothing written */
    for (k = 0; k < count; k++)
        net_tensor_set(&st->net, id, offset + k, get_i32(req + 7 + 4u * k));
    return ST_OK;
}

static uint8_t cmd_read_tensor(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    uint32_t id, offset, count, k;
    uint8_t status;
    if (n != 7u)
        return ST_BAD_LENGTH;
    if (!configured(st))
        return ST_BAD_STATE;
    status = tensor_range(st, req, &id, &offset, &count);
    if (status != ST_OK)
        return status;
    if (4u * (size_t)count > RESPONSE_ROOM)
        return ST_BAD_ARGUMENT; /* the answer would not fit max_payload */
    for (k = 0; k < count; k++)
        put_i32(out + 4u * k, net_tensor_get(&st->net, id, offset + k));
    *out_n = 4u * (size_t)count;
    return ST_OK;
}

static uint8_t cmd_set_feedback_seed(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    (void)out;
    (void)out_n;
    if (n != 4u)
        return ST_BAD_LENGTH;
    if (!configured(st))
        return ST_BAD_STATE;
    net_seed_feedback(&st->net, get_u32(req));
    return ST_OK;
}

static uint8_t cmd_write_samples(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    uint32_t first, count, k, d0, classes;
    const uint8_t *rec;
    (void)out;
    (void)out_n;
    if (n < 4u)
        return ST_BAD_LENGTH;
    if (!configured(st))
        return ST_BAD_STATE;
    first = get_u16(req);
    count = get_u16(req + 2);
    d0 = st->net.dims[0];
    classes = st->net.dims[st->net.n_layers];
    if ((uint64_t)n != 4u + (uint64_t)count * (1u + d0))
        return ST_BAD_LENGTH;
    if (first + count > st->net.buffer_cap)
        return ST_BAD_ARGUMENT;
    for (k = 0, rec = req + 4; k < count; k++, rec += 1u + d0)
        if (rec[0] >= classes)
            return ST_BAD_ARGUMENT; /* a label names no class; nothing stored */
    for (k = 0, rec = req + 4; k < count; k++, rec += 1u + d0) {
        st->net.label[first + k] = rec[0];
        memcpy(st->net.x + (size_t)(first + k) * d0, rec + 1, d0); /* i8 on the wire = int8 */
    }
    return ST_OK;
}

static uint8_t cmd_train(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    uint32_t samples, batch, epochs, lr_inv;
    int layer;
    uint64_t before, after;
    if (n != 11u)
        return ST_BAD_LENGTH;
    if (!configured(st))
        return ST_BAD_STATE;
    samples = get_u16(req);
    batch = get_u16(req + 2);
    epochs = get_u16(req + 4);
    lr_inv = get_u32(req + 6);
    layer = req[10] < 128u ? (int)req[10] : (int)req[10] - 256;
    if (batch < 1u || batch > st->net.batch_cap || samples > st->net.buffer_cap || lr_inv < 1u || layer < -1 ||
        layer >= (int)st->net.n_layers)
        return ST_BAD_ARGUMENT;
    before = st->env.counter_read ? st->env.counter_read() : 0u;
    net_train(&st->net, samples, batch, epochs, lr_inv, layer);
    after = st->env.counter_read ? st->env.counter_read() : 0u;
    put_u64(out, after - before);
    *out_n = 8u;
    return ST_OK;
}

static uint8_t cmd_predict(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    uint32_t first, count;
    if (n != 4u)
        return ST_BAD_LENGTH;
    if (!configured(st))
        return ST_BAD_STATE;
    first = get_u16(req);
    count = get_u16(req + 2);
    if (first + count > st->net.buffer_cap || count > RESPONSE_ROOM)
        return ST_BAD_ARGUMENT;
    net_predict(&st->net, first, count, out);
    *out_n = count;
    return ST_OK;
}

static uint8_t cmd_stats(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    (void)req;
    if (n != 0u)
        return ST_BAD_LENGTH;
    put_u32(out, st->env.stack_peak ? st->env.stack_peak() : 0u);
    put_u32(out + 4, st->env.stack_size ? st->env.stack_size() : 0u);
    put_u32(out + 8, st->net.arena_used);
    put_u32(out + 12, st->frames_ok);
    put_u32(out + 16, st->frames_bad);
    *out_n = 20u;
    return ST_OK;
}

static uint8_t cmd_reset(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    (void)req;
    (void)out;
    (void)out_n;
    if (n != 0u)
        return ST_BAD_LENGTH;
    net_reset(&st->net); /* the frame counters stay */
    st->session = 0u;    /* as after power-on */
    return ST_OK;
}

/* Empty: report the token; 4 bytes: hold this token from now on. */
static uint8_t cmd_session(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    if (n != 0u && n != 4u)
        return ST_BAD_LENGTH;
    if (n == 4u)
        st->session = get_u32(req);
    put_u32(out, st->session);
    *out_n = 4u;
    return ST_OK;
}

uint8_t proto_execute(proto_state *st, uint8_t code, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    *out_n = 0;
    switch (code) {
    case CMD_IDENTIFY: return cmd_identify(st, req, n, out, out_n);
    case CMD_CONFIGURE: return cmd_configure(st, req, n, out, out_n);
    case CMD_WRITE_TENSOR: return cmd_write_tensor(st, req, n, out, out_n);
    case CMD_READ_TENSOR: return cmd_read_tensor(st, req, n, out, out_n);
    case CMD_SET_FEEDBACK_SEED: return cmd_set_feedback_seed(st, req, n, out, out_n);
    case CMD_WRITE_SAMPLES: return cmd_write_samples(st, req, n, out, out_n);
    case CMD_TRAIN: return cmd_train(st, req, n, out, out_n);
    case CMD_PREDICT: return cmd_predict(st, req, n, out, out_n);
    case CMD_STATS: return cmd_stats(st, req, n, out, out_n);
    case CMD_RESET: return cmd_reset(st, req, n, out, out_n);
    case CMD_SESSION: return cmd_session(st, req, n, out, out_n);
#if TIFED_PROTO_VERSION >= 2
    case CMD_DIGEST: return cmd_digest(st, req, n, out, out_n);
    case CMD_WRITE_DELTA: return cmd_write_delta(st, req, n, out, out_n);
    case CMD_READ_LOW_BITS: return cmd_read_low_bits(st, req, n, out, out_n);
    case CMD_WRITE_SAMPLES_CODED: return cmd_write_samples_coded(st, req, n, out, out_n);
#endif
    default: return ST_UNKNOWN;
    }
}
