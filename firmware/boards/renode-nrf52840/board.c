/*
 * renode-nrf52840: an nRF52840 (Cortex-M4) under Renode, platform
 * renode/tifed-nrf52840.repl = Renode's platforms/cpus/nrf52840.repl with
 * UART0 switched to the legacy (non-EasyDMA) UART and a DWT added.
 *
 * The link is UART0 at 0x40002000 (pins P0.06 TX / P0.08 RX on the
 * nRF52840 DK), the micro:bit's legacy-UART link (cortex-m/link_nrf_uart0.c).
 * Renode has no semihosting handler: a fatal error parks the core
 * (cortex-m/fatal_park.c). The
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
#include "../cortex-m/link_nrf_uart0.h"
#include "../dwt_counter.h"

#define UART_TX_PIN 6u /* PSEL: pin 6 of port 0, CONNECT (bit 31) = 0 */
#define UART_RX_PIN 8u

static dwt_counter_t counter;

void board_init(void)
{
    link_uart0_init(UART_TX_PIN, UART_RX_PIN);
    dwt_counter_init(&counter);
    /* One frame delimiter: tells the harness the UART is listening (Renode's
     * model drops bytes that arrive before STARTRX). */
    static const uint8_t ready = 0;
    board_write(&ready, 1);
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
