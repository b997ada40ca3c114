/*
 * A stand-in main() for testing a Cortex-M board layer by itself, without
 * the protocol: suites/emulated builds it with
 *   make BOARD=<board> APP_MAIN=boards/cortex-m/probe/counter_probe.c BUILD=build/probe-<board>
 * and talks to it over the board's UART with single-letter commands
 * (integers little-endian):
 *   'c' n:u32   -> u64: board_counter_read() difference around a loop of
 *                  exactly 2n + 1 instructions (checks the counter is exact)
 *   'e' n:u32 + n bytes -> the same n bytes back (checks no byte is lost
 *                  when the host sends a burst)
 *   'f'         -> a HardFault (checks the fault report reaches the harness)
 */
#include <stddef.h>
#include <stdint.h>

#include "boards/board.h"

/* n >= 1 iterations of SUBS + BNE, then BX LR: 2n + 1 instructions. */
__attribute__((naked, noinline)) static void spin(uint32_t n)
{
    (void)n;
    __asm__ volatile(
        "1: subs r0, r0, #1\n\t"
        "bne 1b\n\t"
        "bx lr\n");
}

static uint8_t read_u8(void)
{
    return (uint8_t)board_read_byte();
}

static uint32_t read_u32(void)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4u; i++) {
        v |= (uint32_t)read_u8() << (8u * i);
    }
    return v;
}

static void write_u64(uint64_t v)
{
    uint8_t bytes[8];
    for (unsigned i = 0; i < 8u; i++) {
        bytes[i] = (uint8_t)(v >> (8u * i));
    }
    board_write(bytes, sizeof bytes);
}

int main(void)
{
    board_init();
    for (;;) {
        uint8_t command = read_u8();
        if (command == 'c') {
            uint32_t n = read_u32();
            uint64_t before = board_counter_read();
            spin(n == 0u ? 1u : n);
            uint64_t after = board_counter_read();
            write_u64(after - before);
        } else if (command == 'e') {
            uint32_t n = read_u32();
            for (uint32_t i = 0; i < n; i++) {
                uint8_t b = read_u8();
                board_write(&b, 1);
            }
        } else if (command == 'f') {
            __asm__ volatile("udf #0");
        }
    }
}
