/*
 * Nordic nRF52 UARTE driver (nRF52840 PS, "UARTE - Universal asynchronous
 * receiver/transmitter with EasyDMA").
 *
 * Receive: one-byte EasyDMA transfers. STARTRX with RXD.MAXCNT = 1; ENDRX
 * says the byte is in RAM; read it, then STARTRX again. Bytes that arrive
 * between ENDRX and the next STARTRX wait in the UARTE's RX FIFO (the reason
 * the FLUSHRX task exists), and the gap is a few instructions, far below
 * one character time even at 1 Mbaud. This is the scheme Zephyr's polled
 * UARTE input uses. Between bytes the core sleeps in WFI, woken by the
 * ENDRX (or ERROR) interrupt line; PRIMASK stays set, so no handler runs.
 *
 * Transmit: copy up to NRF_UARTE_TX_CHUNK bytes into the RAM bounce
 * buffer, STARTTX, wait for ENDTX; repeat.
 */
#include "uarte_nrf.h"

#include "cortex_m.h"

#define TASKS_STARTRX 0x000u
#define TASKS_STARTTX 0x008u
#define EVENTS_ENDRX 0x110u
#define EVENTS_ENDTX 0x120u
#define EVENTS_ERROR 0x124u
#define INTENSET 0x304u
#define ERRORSRC 0x480u
#define ENABLE 0x500u
#define PSEL_RTS 0x508u
#define PSEL_TXD 0x50Cu
#define PSEL_CTS 0x510u
#define PSEL_RXD 0x514u
#define BAUDRATE 0x524u
#define RXD_PTR 0x534u
#define RXD_MAXCNT 0x538u
#define TXD_PTR 0x544u
#define TXD_MAXCNT 0x548u
#define CONFIG 0x56Cu

#define INT_ENDRX (1u << 4)
#define INT_ERROR (1u << 9)
#define ENABLE_UARTE 8u
#define PSEL_DISCONNECTED 0xFFFFFFFFu

/* GPIO port 0 (the pins the UARTE uses must be set up as for the legacy
 * UART: TX an output driven high while idle, RX an input). */
#define GPIO_P0 0x50000000u
#define GPIO_OUTSET 0x508u
#define GPIO_PIN_CNF(pin) (0x700u + 4u * (pin))
#define PIN_CNF_OUTPUT 0x3u          /* DIR output, input buffer disconnected */
#define PIN_CNF_INPUT_PULLUP 0xCu    /* DIR input, buffer connected, pull-up */

static void start_rx(nrf_uarte_t *u)
{
    REG32(u->base + RXD_PTR) = (uint32_t)(uintptr_t)&u->rx;
    REG32(u->base + RXD_MAXCNT) = 1u;
    REG32(u->base + TASKS_STARTRX) = 1u;
}

void nrf_uarte_init(nrf_uarte_t *u, uint32_t base, uint32_t tx_pin, uint32_t rx_pin, uint32_t baud_reg,
                    uint32_t irq)
{
    u->base = base;
    u->irq = irq;
    REG32(GPIO_P0 + GPIO_OUTSET) = 1u << tx_pin;
    REG32(GPIO_P0 + GPIO_PIN_CNF(tx_pin)) = PIN_CNF_OUTPUT;
    /* A pull-up keeps RX idle (high) while the probe's VCP is not driving it. */
    REG32(GPIO_P0 + GPIO_PIN_CNF(rx_pin)) = PIN_CNF_INPUT_PULLUP;

    REG32(base + PSEL_TXD) = tx_pin;
    REG32(base + PSEL_RXD) = rx_pin;
    REG32(base + PSEL_RTS) = PSEL_DISCONNECTED;
    REG32(base + PSEL_CTS) = PSEL_DISCONNECTED;
    REG32(base + BAUDRATE) = baud_reg;
    REG32(base + CONFIG) = 0; /* 8N1, no flow control */
    REG32(base + EVENTS_ENDRX) = 0;
    REG32(base + EVENTS_ENDTX) = 0;
    REG32(base + EVENTS_ERROR) = 0;
    REG32(base + ENABLE) = ENABLE_UARTE;
    REG32(base + INTENSET) = INT_ENDRX | INT_ERROR;
    start_rx(u);
    cortex_m_irq_enable(irq); /* only wakes WFI: PRIMASK stays set */
}

uint8_t nrf_uarte_read_byte(nrf_uarte_t *u)
{
    const uint32_t base = u->base;
    for (;;) {
        if (REG32(base + EVENTS_ENDRX)) {
            REG32(base + EVENTS_ENDRX) = 0;
            uint8_t byte = u->rx;
            start_rx(u);
            return byte;
        }
        if (REG32(base + EVENTS_ERROR)) {
            /* Framing, parity, break or overrun: the frame's CRC catches a
             * byte that went wrong, so just clear the flags (write 1s) and
             * keep receiving. */
            REG32(base + ERRORSRC) = REG32(base + ERRORSRC);
            REG32(base + EVENTS_ERROR) = 0;
        }
        cortex_m_irq_clear_pending(u->irq);
        if (REG32(base + EVENTS_ENDRX) || REG32(base + EVENTS_ERROR)) {
            continue;
        }
        cortex_m_wfi();
    }
}

void nrf_uarte_write(nrf_uarte_t *u, const uint8_t *data, size_t n)
{
    const uint32_t base = u->base;
    while (n > 0) {
        size_t chunk = n < NRF_UARTE_TX_CHUNK ? n : NRF_UARTE_TX_CHUNK;
        for (size_t i = 0; i < chunk; i++) {
            u->tx[i] = data[i];
        }
        REG32(base + TXD_PTR) = (uint32_t)(uintptr_t)u->tx;
        REG32(base + TXD_MAXCNT) = (uint32_t)chunk;
        REG32(base + EVENTS_ENDTX) = 0;
        REG32(base + TASKS_STARTTX) = 1u;
        while (!REG32(base + EVENTS_ENDTX)) {
        }
        REG32(base + EVENTS_ENDTX) = 0;
        data += chunk;
        n -= chunk;
    }
}
