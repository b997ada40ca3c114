/*
 * renode-nrf52840: an nRF52840 (Cortex-M4) under Renode, platform
 * renode/tifed-nrf52840.repl = Renode's platforms/cpus/nrf52840.repl with
 * UART0 switched to the legacy (non-EasyDMA) UART and a DWT added.
 *
 * The link is UART0 at 0x40002000 (pins P0.06 TX / P0.08 RX on the
 * nRF52840 DK), with the legacy-UART driver the micro:bit board uses. The
 * counter is DWT->CYCCNT, one count per instruction under Renode
 * (dwt_counter.h), so TRAIN reports instructions.
 *
 * Memory (nRF52840 PS; the same in Renode's platform): 1 MB flash at 0,
 * 256 KB RAM at 0x20000000. See renode-nrf52840.ld.
 */
#include <stddef.h>
#include <stdint.h>

#include "../board.h"
#include "../cortex-m/cortex_m.h"
#include "../cortex-m/uart_nrf.h"
#include "../dwt_counter.h"

#define UART0_BASE 0x40002000u
#define UART0_IRQ 2u
#define UART_TX_PIN 6u /* PSEL: pin 6 of port 0, CONNECT (bit 31) = 0 */
#define UART_RX_PIN 8u

#define NVIC_ICER0 0xE000E180u

static dwt_counter_t counter;

void board_init(void)
{
    nrf_uart_init(UART0_BASE, UART_TX_PIN, UART_RX_PIN, NRF_UART_BAUD_115200, UART0_IRQ);
    dwt_counter_init(&counter);
    /* One frame delimiter: tells the harness the UART is listening (Renode's
     * model drops bytes that arrive before STARTRX). */
    static const uint8_t ready = 0;
    board_write(&ready, 1);
}

int board_read_byte(void)
{
    return nrf_uart_read_byte(UART0_BASE, UART0_IRQ);
}

void board_write(const uint8_t *data, size_t n)
{
    nrf_uart_write(UART0_BASE, data, n);
}

const char *board_name(void)
{
    return "renode-nrf52840";
}

uint32_t board_counter_kind(void)
{
    return BOARD_COUNTER_INSTRUCTIONS;
}

uint64_t board_counter_read(void)
{
    return dwt_counter_read(&counter);
}

/* Renode runs no semihosting handler unless a platform adds one, so the
 * line is kept in RAM (read it with `sysbus ReadBytes` on the symbol's
 * address, or from GDB) and the core parks: no interrupt stays enabled, so
 * WFI never returns and the harness sees the device stop answering. */
volatile char tifed_fatal_line[160];

void cortex_m_fatal(const char *line)
{
    __asm volatile("cpsid i" ::: "memory");
    size_t i = 0;
    for (; line[i] != '\0' && i + 1 < sizeof tifed_fatal_line; i++) {
        tifed_fatal_line[i] = line[i];
    }
    tifed_fatal_line[i] = '\0';
    REG32(NVIC_ICER0) = 1u << UART0_IRQ;
    for (;;) {
        cortex_m_wfi();
    }
}
