#include "protocol/cobs.h"

size_t cobs_encode(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t code_at = 0, o = 1, i;
    uint8_t code = 1;
    for (i = 0; i < n; i++) {
        if (in[i] == 0u) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            if (++code == 0xFFu && i + 1u < n) {
                /* A full block of 254 data bytes (no implied zero after it)
                 * with more to come; at the very end the block just closes,
                 * as Python's cobs does. */
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    return o;
}

int cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    /* Writes never overtake reads (o < i after every code byte), which is why
     * in-place decoding works. */
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = in[i++];
        uint8_t k;
        if (code == 0u)
            return -1;
        for (k = 1; k < code; k++) {
            if (i >= n || in[i] == 0u || o >= cap)
                return -1;
            out[o++] = in[i++];
        }
        if (code != 0xFFu && i < n) {
            if (o >= cap)
                return -1;
            out[o++] = 0;
        }
    }
    *out_len = o;
    return 0;
}
