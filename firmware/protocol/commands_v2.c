/*
 * The commands protocol 2 adds (PROTOCOL.md "Protocol 2"): DIGEST,
 * WRITE_DELTA, READ_LOW_BITS and WRITE_SAMPLES_CODED.
 *
 * A coded request is decoded twice: a first pass checks every code and
 * every resulting value without writing anything, the second applies it.
 * So a truncated or corrupt code, or a value the tensor cannot store, is
 * refused whole (BAD_CODE, BAD_ARGUMENT) and never half applied; and no
 * pass needs memory beyond a few locals.
 */
#include <string.h>

#include "core/net.h"
#include "protocol/codes.h"
#include "protocol/commands_v2.h"
#include "protocol/crc64.h"
#include "protocol/wire.h"

#define DIGEST_MAX_TENSORS 16u
#define DELTA_HEADER 7u /* tensor, form, col, cols, runs */
#define DELTA_RUN 4u    /* first row, rows */
#define FORM_EACH 0u
#define FORM_SHARED 1u
#define K_BITS 5u
#define SAMPLES_HEADER 6u /* first, count, kz, kl */
#define RUN_K_MAX 15u
#define DIGEST_BATCH 16u /* values per crc64_update call */

static int configured(const proto_state *st)
{
    return st->net.n_layers != 0u;
}

/* ---- DIGEST -------------------------------------------------------------- */

uint8_t cmd_digest(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    uint8_t buf[4u * DIGEST_BATCH];
    uint64_t crc = CRC64_INIT;
    uint32_t i, count, e;
    if (n < 1u || n != 1u + (size_t)req[0])
        return ST_BAD_LENGTH;
    if (!configured(st))
        return ST_BAD_STATE;
    if (req[0] < 1u || req[0] > DIGEST_MAX_TENSORS)
        return ST_BAD_ARGUMENT;
    for (i = 1; i <= req[0]; i++)
        if (net_tensor_count(&st->net, req[i], &count) != 0)
            return ST_BAD_ARGUMENT;
    for (i = 1; i <= req[0]; i++) {
        uint32_t fill = 0;
        (void)net_tensor_count(&st->net, req[i], &count);
        for (e = 0; e < count; e++) {
            put_i32(buf + 4u * fill, net_tensor_get(&st->net, req[i], e));
            if (++fill == DIGEST_BATCH) {
                crc = crc64_update(crc, buf, sizeof buf);
                fill = 0;
            }
        }
        crc = crc64_update(crc, buf, 4u * fill);
    }
    put_u64(out, crc64_final(crc));
    *out_n = 8u;
    return ST_OK;
}

/* ---- WRITE_DELTA --------------------------------------------------------- */

typedef struct {
    uint32_t id, cols;           /* the tensor and its width as a matrix */
    uint32_t form, col, ncols;   /* the block's columns */
    uint32_t runs;               /* row runs, DELTA_RUN bytes each at run_table */
    const uint8_t *run_table;
    int check_values;            /* 0 when the tensor stores every int32 */
} delta_block;

/* One pass over the block's code: apply == 0 checks, 1 writes. */
static uint8_t delta_pass(tifed_net *net, const delta_block *b, const uint8_t *code, size_t code_n, int apply)
{
    bit_reader br;
    uint32_t c, i, r, k, z = 0;
    br_init(&br, code, code_n);
    for (c = b->col; c < b->col + b->ncols; c++) {
        if (br_read(&br, K_BITS, &k) != 0)
            return ST_BAD_CODE;
        if (b->form == FORM_SHARED && br_rice(&br, k, &z) != 0)
            return ST_BAD_CODE;
        for (i = 0; i < b->runs; i++) {
            const uint32_t first = get_u16(b->run_table + DELTA_RUN * i);
            const uint32_t last = first + get_u16(b->run_table + DELTA_RUN * i + 2u);
            for (r = first; r < last; r++) {
                const uint32_t e = r * b->cols + c;
                int32_t value;
                if (b->form == FORM_EACH && br_rice(&br, k, &z) != 0)
                    return ST_BAD_CODE;
                if (!apply && !b->check_values)
                    continue;
                /* new = held + delta, modulo 2^32 */
                value = i32_of((uint32_t)net_tensor_get(net, b->id, e) + unzigzag32(z));
                if (apply)
                    net_tensor_set(net, b->id, e, value);
                else if (!net_tensor_accepts(net, b->id, value))
                    return ST_BAD_ARGUMENT;
            }
        }
    }
    return br_finish(&br) == 0 ? (uint8_t)ST_OK : (uint8_t)ST_BAD_CODE;
}

uint8_t cmd_write_delta(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    delta_block b;
    uint32_t rows, i, end = 0;
    size_t header;
    uint8_t status;
    (void)out;
    (void)out_n;
    if (n < DELTA_HEADER)
        return ST_BAD_LENGTH;
    header = DELTA_HEADER + DELTA_RUN * (size_t)req[6];
    if (n < header)
        return ST_BAD_LENGTH;
    if (!configured(st))
        return ST_BAD_STATE;
    b.id = req[0];
    b.form = req[1];
    b.col = get_u16(req + 2);
    b.ncols = get_u16(req + 4);
    b.runs = req[6];
    b.run_table = req + DELTA_HEADER;
    if (net_tensor_shape(&st->net, b.id, &rows, &b.cols) != 0 || b.form > FORM_SHARED || b.ncols < 1u ||
        b.col + b.ncols > b.cols || b.runs < 1u)
        return ST_BAD_ARGUMENT;
    for (i = 0; i < b.runs; i++) { /* ascending, disjoint runs inside the tensor */
        const uint32_t first = get_u16(b.run_table + DELTA_RUN * i), count = get_u16(b.run_table + DELTA_RUN * i + 2u);
        if (count < 1u || first < end || first + count > rows)
            return ST_BAD_ARGUMENT;
        end = first + count;
    }
    b.check_values = !(net_tensor_accepts(&st->net, b.id, INT32_MIN) && net_tensor_accepts(&st->net, b.id, INT32_MAX));
    status = delta_pass(&st->net, &b, req + header, n - header, 0);
    if (status != ST_OK)
        return status;
    return delta_pass(&st->net, &b, req + header, n - header, 1);
}

/* ---- READ_LOW_BITS -------------------------------------------------------- */

uint8_t cmd_read_low_bits(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    uint32_t id, offset, count, bits, mask, e, have = 0, size;
    uint64_t acc = 0;
    size_t o = 0;
    if (n != 8u)
        return ST_BAD_LENGTH;
    if (!configured(st))
        return ST_BAD_STATE;
    id = req[0];
    offset = get_u32(req + 1);
    count = get_u16(req + 5);
    bits = req[7];
    if (net_tensor_count(&st->net, id, &size) != 0 || (uint64_t)offset + count > size || bits < 1u || bits > 32u)
        return ST_BAD_ARGUMENT;
    if (((uint64_t)count * bits + 7u) / 8u > WIRE_RESPONSE_ROOM)
        return ST_BAD_ARGUMENT; /* the answer would not fit max_payload */
    mask = bits == 32u ? 0xFFFFFFFFu : (1u << bits) - 1u;
    for (e = offset; e < offset + count; e++) { /* LSB first, value after value */
        acc |= (uint64_t)((uint32_t)net_tensor_get(&st->net, id, e) & mask) << have;
        for (have += bits; have >= 8u; have -= 8u) {
            out[o++] = (uint8_t)acc;
            acc >>= 8;
        }
    }
    if (have != 0u)
        out[o++] = (uint8_t)acc;
    *out_n = o;
    return ST_OK;
}

/* ---- WRITE_SAMPLES_CODED -------------------------------------------------- */

static uint8_t samples_pass(tifed_net *net, uint32_t first, uint32_t count, uint32_t kz, uint32_t kl,
                            const uint8_t *labels, const uint8_t *code, size_t code_n, int apply)
{
    const uint32_t d0 = net->dims[0];
    bit_reader br;
    uint32_t s, at, run, pixel;
    br_init(&br, code, code_n);
    for (s = 0; s < count; s++) {
        int8_t *x = net->x + (size_t)(first + s) * d0;
        for (at = 0; at < d0;) {
            if (br_rice(&br, kz, &run) != 0 || run > d0 - at)
                return ST_BAD_CODE;
            if (apply)
                memset(x + at, 0x80, run); /* background: x = -128 */
            at += run;
            if (at == d0)
                break;
            if (br_rice(&br, kl, &run) != 0 || run < 1u || run > d0 - at)
                return ST_BAD_CODE;
            for (; run != 0u; run--, at++) {
                if (br_read(&br, 8u, &pixel) != 0)
                    return ST_BAD_CODE;
                if (apply)
                    x[at] = (int8_t)((int32_t)pixel - 128);
            }
        }
        if (apply)
            net->label[first + s] = labels[s];
    }
    return br_finish(&br) == 0 ? (uint8_t)ST_OK : (uint8_t)ST_BAD_CODE;
}

uint8_t cmd_write_samples_coded(proto_state *st, const uint8_t *req, size_t n, uint8_t *out, size_t *out_n)
{
    uint32_t first, count, kz, kl, k;
    size_t header;
    uint8_t status;
    (void)out;
    (void)out_n;
    if (n < SAMPLES_HEADER)
        return ST_BAD_LENGTH;
    header = SAMPLES_HEADER + (size_t)get_u16(req + 2);
    if (n < header)
        return ST_BAD_LENGTH;
    if (!configured(st))
        return ST_BAD_STATE;
    first = get_u16(req);
    count = get_u16(req + 2);
    kz = req[4];
    kl = req[5];
    if (first + count > st->net.buffer_cap || kz > RUN_K_MAX || kl > RUN_K_MAX)
        return ST_BAD_ARGUMENT;
    for (k = 0; k < count; k++)
        if (req[SAMPLES_HEADER + k] >= st->net.dims[st->net.n_layers])
            return ST_BAD_ARGUMENT; /* a label names no class */
    status = samples_pass(&st->net, first, count, kz, kl, req + SAMPLES_HEADER, req + header, n - header, 0);
    if (status != ST_OK)
        return status;
    return samples_pass(&st->net, first, count, kz, kl, req + SAMPLES_HEADER, req + header, n - header, 1);
}
