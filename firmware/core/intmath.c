#include "core/intmath.h"

uint32_t isqrt_u32(uint32_t v)
{
    /* Bit-by-bit method: no division, no overflow, exact. */
    uint32_t root = 0u;
    uint32_t bit = 1u << 30;
    while (bit > v)
        bit >>= 2;
    while (bit != 0u) {
        if (v >= root + bit) {
            v -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}
