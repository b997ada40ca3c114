/*
 * qemu-microbit: QEMU's "microbit" machine, a BBC micro:bit v1 (nRF51822,
 * Cortex-M0: no hardware divide, 16 KB RAM). The link is UART0 (QEMU's
 * -serial 0; pins P0.24/P0.25 on the board); the instruction counter is
 * TIMER0 in 32-bit mode.
 *
 * Memory (QEMU hw/arm/nrf51_soc.c): 256 KB flash at 0, 16 KB RAM at
 * 0x20000000. Only small models fit (PROTOCOL.md arena formula).
 */
#include <stddef.h>
#include <stdint.h>

#include "../board.h"
#include "../cortex-m/cortex_m.h"
#include "../cortex-m/link_nrf_uart0.h"

#define UART_TX_PIN 24u
#define UART_RX_PIN 25u

#define TIMER0_BASE 0x40008000u
#define TIMER_START (TIMER0_BASE + 0x000u)
#define TIMER_CLEAR (TIMER0_BASE + 0x00Cu)
#define TIMER_CAPTURE0 (TIMER0_BASE + 0x040u)
#define TIMER_MODE (TIMER0_BASE + 0x504u)
#define TIMER_BITMODE (TIMER0_BASE + 0x508u)
#define TIMER_PRESCALER (TIMER0_BASE + 0x510u)
#define TIMER_CC0 (TIMER0_BASE + 0x540u)

/* TIMER0 ticks at 16 MHz (62.5 ns); under `-icount shift=8` the virtual
 * clock advances 256 ns per instruction, 4.096 ticks. So instructions =
 * round(ticks * 125 / 512), exact for every stretch without sleep
 * (README-qemu.md). */
#if QEMU_ICOUNT_SHIFT != 8
#error "the tick-to-instruction ratio below assumes -icount shift=8"
#endif
#define TICKS_TO_INSNS(d) (((uint64_t)(d) * 125u + 256u) >> 9)

static uint32_t counter_last;
static uint64_t counter_instructions;

static uint32_t timer0_ticks(void)
{
    REG32(TIMER_CAPTURE0) = 1;
    return REG32(TIMER_CC0);
}

static void counter_init(void)
{
    REG32(TIMER_MODE) = 0;      /* timer */
    REG32(TIMER_BITMODE) = 3;   /* 32 bit */
    REG32(TIMER_PRESCALER) = 0; /* 16 MHz */
    REG32(TIMER_CLEAR) = 1;
    REG32(TIMER_START) = 1;
    counter_last = timer0_ticks();
}

void board_init(void)
{
    link_uart0_init(UART_TX_PIN, UART_RX_PIN);
    counter_init();
    /* One frame delimiter: tells the harness the UART is listening. */
    static const uint8_t ready = 0;
    board_write(&ready, 1);
}

const char *board_name(void)
{
    return "qemu-microbit";
}

uint32_t board_counter_kind(void)
{
    return BOARD_COUNTER_INSTRUCTIONS;
}

/* Rounds each stretch between two reads on its own (see qemu-mps2-an386);
 * the 32-bit tick count wraps after 2^32 ticks, about 10^9 instructions,
 * far more than a TRAIN of a model that fits in 16 KB takes. */
uint64_t board_counter_read(void)
{
    uint32_t now = timer0_ticks();
    counter_instructions += TICKS_TO_INSNS((uint32_t)(now - counter_last));
    counter_last = now;
    return counter_instructions;
}
