/*
 * qemu-mps2-an386: QEMU's "mps2-an386" machine, an Arm MPS2 board with the
 * AN386 FPGA image (Cortex-M4). The link is UART0 (CMSDK APB UART, QEMU's
 * -serial 0); the instruction counter is the FPGAIO prescaled counter.
 *
 * Memory (QEMU hw/arm/mps2.c, AN386 = AN385 layout): code in ZBT SSRAM1 at
 * 0x00000000 (4 MB), data, stack and arena in ZBT SSRAM2/3 at 0x20000000
 * (4 MB). See qemu-mps2-an386.ld.
 */
#include <stddef.h>
#include <stdint.h>

#include "../board.h"
#include "../cortex-m/cortex_m.h"
#include "../cortex-m/uart_cmsdk.h"

#define SYSCLK_HZ 25000000u
#define UART0_BASE 0x40004000u
#define UART0_RX_IRQ 0u
#define LINK_BAUD 115200u

/* FPGA system control and I/O (AN386 section 4.x "FPGAIO"). PSCNTR counts
 * down at SYSCLK from PRESCALE; COUNTER increments each time it reloads. */
#define FPGAIO_BASE 0x40028000u
#define FPGAIO_COUNTER (FPGAIO_BASE + 0x18u)
#define FPGAIO_PRESCALE (FPGAIO_BASE + 0x1Cu)
#define FPGAIO_PSCNTR (FPGAIO_BASE + 0x20u)
#define PRESCALE_RELOAD 0x7FFFFFFFu /* COUNTER ticks every 2^31 SYSCLKs */

/* Under `-icount shift=N` QEMU's virtual clock advances exactly 2^N ns per
 * instruction; SYSCLK ticks every 40 ns. With N = 8 one instruction is
 * 256/40 = 6.4 ticks, so instructions = round(ticks * 5 / 32), exact for
 * every stretch without sleep (README-qemu.md). */
#if QEMU_ICOUNT_SHIFT != 8
#error "the tick-to-instruction ratio below assumes -icount shift=8"
#endif
#define TICKS_TO_INSNS(d) (((d) * 5u + 16u) >> 5)

static uint64_t counter_last_ticks;
static uint64_t counter_instructions;

/* 2^31 * COUNTER + elapsed part of the prescaler: a 62-bit SYSCLK count that
 * never wraps in practice (5,800 years of virtual time). */
static uint64_t sysclk_ticks(void)
{
    uint32_t high, low;
    do {
        high = REG32(FPGAIO_COUNTER);
        low = REG32(FPGAIO_PSCNTR);
    } while (REG32(FPGAIO_COUNTER) != high);
    return ((uint64_t)high << 31) + (PRESCALE_RELOAD - low);
}

static void counter_init(void)
{
    REG32(FPGAIO_PRESCALE) = PRESCALE_RELOAD;
    REG32(FPGAIO_PSCNTR) = PRESCALE_RELOAD;
    REG32(FPGAIO_COUNTER) = 0;
    counter_last_ticks = sysclk_ticks();
}

void board_init(void)
{
    cmsdk_uart_init(UART0_BASE, SYSCLK_HZ, LINK_BAUD, UART0_RX_IRQ);
    counter_init();
    /* One frame delimiter: tells the harness the UART is listening (a
     * receiver ignores an empty frame). */
    static const uint8_t ready = 0;
    board_write(&ready, 1);
}

int board_read_byte(void)
{
    return cmsdk_uart_read_byte(UART0_BASE, UART0_RX_IRQ);
}

void board_write(const uint8_t *data, size_t n)
{
    cmsdk_uart_write(UART0_BASE, data, n);
}

const char *board_name(void)
{
    return "qemu-mps2-an386";
}

uint32_t board_counter_kind(void)
{
    return BOARD_COUNTER_INSTRUCTIONS;
}

/* Rounds each stretch between two reads on its own: a stretch that
 * includes a sleep in WFI is approximate (the clock then follows host
 * time), a stretch of pure execution, such as a TRAIN, is exact. */
uint64_t board_counter_read(void)
{
    uint64_t now = sysclk_ticks();
    counter_instructions += TICKS_TO_INSNS(now - counter_last_ticks);
    counter_last_ticks = now;
    return counter_instructions;
}
