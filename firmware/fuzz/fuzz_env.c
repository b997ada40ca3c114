#include "fuzz/fuzz_env.h"

#include <string.h>

#include "protocol/cobs.h"
#include "protocol/crc16.h"
#include "protocol/wire.h"

static uint32_t arena_words[FUZZ_ARENA_BYTES / 4u];
static uint64_t counter;

static uint64_t fake_counter(void)
{
    return counter += 1000u;
}

void fuzz_start(proto_state *st)
{
    proto_env env;
    env.board_name = "fuzz";
    env.arena = (uint8_t *)arena_words;
    env.arena_bytes = sizeof arena_words;
    env.counter_kind = 1u;
    env.counter_read = fake_counter;
    env.stack_peak = NULL;
    env.stack_size = NULL;
    proto_init(st, &env);
}

void fuzz_check_response(const uint8_t *raw, size_t n)
{
    static uint8_t wire[WIRE_ENCODED_MAX], back[WIRE_RAW_MAX];
    size_t m, got = 0;
    FUZZ_CHECK(n >= WIRE_HEADER + 1u + WIRE_CRC && n <= WIRE_RAW_MAX);
    FUZZ_CHECK(raw[0] == TIFED_FRAME_VERSION);
    FUZZ_CHECK(raw[WIRE_HEADER] <= ST_BAD_CODE);
    FUZZ_CHECK(crc16_ccitt_false(raw, n - WIRE_CRC) == get_u16(raw + n - WIRE_CRC));
    m = proto_encode_frame(raw, n, wire);
    FUZZ_CHECK(m <= sizeof wire && wire[m - 1] == 0u);
    FUZZ_CHECK(memchr(wire, 0, m - 1) == NULL);
    FUZZ_CHECK(cobs_decode(wire, m - 1, back, sizeof back, &got) == 0);
    FUZZ_CHECK(got == n && memcmp(back, raw, n) == 0);
}
