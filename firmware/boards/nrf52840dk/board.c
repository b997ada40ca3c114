/*
 * nrf52840dk: the Nordic nRF52840 DK (PCA10056), a physical board.
 *
 * Link: UARTE0 on P0.06 (TX) and P0.08 (RX), which the DK wires to the
 * on-board J-Link OB's virtual COM port (/dev/ttyACM0 or similar), 8N1, no
 * flow control, LINK_BAUD baud (cortex-m/hw.mk; 115200 by default, the
 * J-Link VCP takes up to 1 Mbaud). Built with NRF_UART=legacy (board.mk),
 * the same pins go through the legacy UART0 driver that renode-nrf52840
 * uses instead.
 *
 * Clocks: the nRF52840's CPU always runs at 64 MHz; there is no PLL to set
 * and no flash wait state to choose (the NVMC inserts them itself). What
 * start-up changes: HFCLK moves from the internal RC oscillator (HFINT,
 * a few percent off over temperature) to the DK's 32 MHz crystal (HFXO),
 * so the baud rate is accurate, and the NVMC's instruction cache is turned
 * on, as production firmware would.
 *
 * Counter: DWT->CYCCNT, CPU cycles at 64 MHz (BOARD_COUNTER_CYCLES).
 *
 * Memory (nRF52840 PS): 1 MB flash at 0, 256 KB RAM at 0x20000000; see
 * nrf52840dk.ld.
 */
#include <stddef.h>
#include <stdint.h>

#include "../board.h"
#include "../cortex-m/cortex_m.h"
#include "../dwt_counter.h"

#ifdef NRF_LEGACY_UART
#include "../cortex-m/uart_nrf.h"
#else
#include "../cortex-m/uarte_nrf.h"
#endif

#define UARTE0_BASE 0x40002000u /* UARTE0 and the legacy UART0 share it */
#define UARTE0_IRQ 2u
#define UART_TX_PIN 6u /* P0.06 (PSEL: pin 6, port 0, connected) */
#define UART_RX_PIN 8u /* P0.08 */

#define CLOCK_BASE 0x40000000u
#define CLOCK_TASKS_HFCLKSTART (CLOCK_BASE + 0x000u)
#define CLOCK_EVENTS_HFCLKSTARTED (CLOCK_BASE + 0x100u)
#define CLOCK_HFCLKSTAT (CLOCK_BASE + 0x40Cu)
#define HFCLKSTAT_SRC_XTAL (1u << 0)

#define NVMC_ICACHECNF 0x4001E540u
#define ICACHECNF_CACHEEN 1u

/* The crystal starts in well under 1 ms (PS: tSTART_HFXO ~0.36 ms); the
 * bound only keeps a board without one from hanging: it then stays on HFINT. */
#define HFXO_START_SPINS 2000000u

#ifndef LINK_BAUD
#define LINK_BAUD 115200u
#endif

#ifdef NRF_LEGACY_UART
#if LINK_BAUD == 115200u
#define LINK_BAUD_REG NRF_UART_BAUD_115200
#elif LINK_BAUD == 1000000u
#define LINK_BAUD_REG 0x10000000u
#else
#error "NRF_UART=legacy supports LINK_BAUD 115200 and 1000000"
#endif
#else
#if LINK_BAUD == 115200u
#define LINK_BAUD_REG NRF_UARTE_BAUD_115200
#elif LINK_BAUD == 230400u
#define LINK_BAUD_REG NRF_UARTE_BAUD_230400
#elif LINK_BAUD == 460800u
#define LINK_BAUD_REG NRF_UARTE_BAUD_460800
#elif LINK_BAUD == 921600u
#define LINK_BAUD_REG NRF_UARTE_BAUD_921600
#elif LINK_BAUD == 1000000u
#define LINK_BAUD_REG NRF_UARTE_BAUD_1000000
#else
#error "LINK_BAUD must be 115200, 230400, 460800, 921600 or 1000000 on the nRF52840"
#endif
#endif

static dwt_counter_t counter;
#ifndef NRF_LEGACY_UART
static nrf_uarte_t link;
#endif

/* Which HFCLK source start-up ended with (read it with a debugger). */
volatile uint32_t nrf52840dk_hfclk_xtal;

static void clocks_init(void)
{
    REG32(CLOCK_EVENTS_HFCLKSTARTED) = 0;
    REG32(CLOCK_TASKS_HFCLKSTART) = 1;
    for (uint32_t i = 0; i < HFXO_START_SPINS && !REG32(CLOCK_EVENTS_HFCLKSTARTED); i++) {
    }
    REG32(CLOCK_EVENTS_HFCLKSTARTED) = 0;
    nrf52840dk_hfclk_xtal = REG32(CLOCK_HFCLKSTAT) & HFCLKSTAT_SRC_XTAL;
    REG32(NVMC_ICACHECNF) = ICACHECNF_CACHEEN;
}

void board_init(void)
{
    clocks_init();
#ifdef NRF_LEGACY_UART
    nrf_uart_init(UARTE0_BASE, UART_TX_PIN, UART_RX_PIN, LINK_BAUD_REG, UARTE0_IRQ);
#else
    nrf_uarte_init(&link, UARTE0_BASE, UART_TX_PIN, UART_RX_PIN, LINK_BAUD_REG, UARTE0_IRQ);
#endif
    dwt_counter_init(&counter);
    /* The boot delimiter (PROTOCOL.md): after a reset by the harness, it
     * says the firmware is up and listening. */
    static const uint8_t ready = 0;
    board_write(&ready, 1);
}

int board_read_byte(void)
{
#ifdef NRF_LEGACY_UART
    return nrf_uart_read_byte(UARTE0_BASE, UARTE0_IRQ);
#else
    return nrf_uarte_read_byte(&link);
#endif
}

void board_write(const uint8_t *data, size_t n)
{
#ifdef NRF_LEGACY_UART
    nrf_uart_write(UARTE0_BASE, data, n);
#else
    nrf_uarte_write(&link, data, n);
#endif
}

const char *board_name(void)
{
    return "nrf52840dk";
}

uint32_t board_counter_kind(void)
{
    return BOARD_COUNTER_CYCLES;
}

uint64_t board_counter_read(void)
{
    return dwt_counter_read(&counter);
}
