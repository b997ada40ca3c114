/* The bit reader of protocol 2's codes (codes.h). */
#include "protocol/codes.h"

void br_init(bit_reader *br, const uint8_t *p, size_t n)
{
    br->p = p;
    br->bits = n * 8u;
    br->pos = 0;
}

int br_read(bit_reader *br, uint32_t count, uint32_t *out)
{
    uint32_t v = 0;
    if (count > br->bits - br->pos)
        return -1;
    while (count != 0u) {
        const uint32_t used = (uint32_t)(br->pos & 7u), avail = 8u - used;
        const uint32_t take = count < avail ? count : avail;
        const uint32_t byte = br->p[br->pos >> 3];
        /* take <= 8 and at most 32 bits in all: v << take never loses a bit */
        v = (v << take) | ((byte >> (avail - take)) & ((1u << take) - 1u));
        br->pos += take;
        count -= take;
    }
    *out = v;
    return 0;
}

int br_rice(bit_reader *br, uint32_t k, uint32_t *out)
{
    const uint32_t q_max = 0xFFFFFFFFu >> k;
    uint32_t q = 0, low;
    for (;;) {
        uint32_t used, rest;
        if (br->pos >= br->bits)
            return -1;
        used = (uint32_t)(br->pos & 7u);
        rest = ((uint32_t)br->p[br->pos >> 3] << used) & 0xFFu; /* the byte's unread bits, at the top */
        if (rest == 0u) {                                        /* all zero: the quotient goes on */
            q += 8u - used;
            br->pos += 8u - used;
        } else {
            while ((rest & 0x80u) == 0u) {
                rest <<= 1;
                q++;
                br->pos++;
            }
            br->pos++; /* the one that ends the quotient */
            if (q > q_max)
                return -1;
            break;
        }
        if (q > q_max)
            return -1;
    }
    if (br_read(br, k, &low) != 0)
        return -1;
    *out = (q << k) | low;
    return 0;
}

int br_finish(const bit_reader *br)
{
    const size_t left = br->bits - br->pos;
    uint32_t rest;
    if (left >= 8u)
        return -1;
    if (left == 0u)
        return 0;
    rest = ((uint32_t)br->p[br->pos >> 3] << (br->pos & 7u)) & 0xFFu;
    return rest == 0u ? 0 : -1;
}
