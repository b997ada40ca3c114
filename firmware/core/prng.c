#include "core/prng.h"

#include "core/intmath.h"

uint32_t prng_mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

uint32_t prng_feedback_range(uint32_t classes, uint32_t units)
{
    return isqrt_u32((12u * 32767u) / (classes + units));
}

int16_t prng_feedback_value(uint32_t key, uint32_t i, uint32_t r)
{
    uint32_t u = prng_mix32(key + i);
    /* u * 2r < 2^32 * 2^10, so the 64-bit product never overflows; the high
     * word is in [0, 2r). r <= 443 (classes + units >= 2), so it fits int16. */
    uint32_t hi = (uint32_t)(((uint64_t)u * (2u * r)) >> 32);
    return (int16_t)((int32_t)hi - (int32_t)r);
}
