/*
 * Nordic legacy UART driver (nRF51 RM v3 chapter 29; nRF52 PS "UART").
 *
 * Receive: wait for EVENTS_RXDRDY, clear it, then read RXD (in this order:
 * reading RXD pops the 6-byte FIFO and raises RXDRDY again if more bytes
 * wait). Between bytes the core sleeps in WFI, woken by the RXDRDY
 * interrupt line (INTENSET, PRIMASK set so no handler runs).
 */
#include "uart_nrf.h"

#include "cortex_m.h"

#define TASKS_STARTRX 0x000u
#define TASKS_STARTTX 0x008u
#define EVENTS_RXDRDY 0x108u
#define EVENTS_TXDRDY 0x11Cu
#define INTENSET 0x304u
#define ENABLE 0x500u
#define PSELTXD 0x50Cu
#define PSELRXD 0x514u
#define RXD 0x518u
#define TXD 0x51Cu
#define BAUDRATE 0x524u
#define CONFIG 0x56Cu

#define INT_RXDRDY (1u << 2)
#define ENABLE_UART 4u

void nrf_uart_init(uint32_t base, uint32_t tx_pin, uint32_t rx_pin, uint32_t baud_reg, uint32_t irq)
{
    REG32(base + PSELTXD) = tx_pin;
    REG32(base + PSELRXD) = rx_pin;
    REG32(base + BAUDRATE) = baud_reg;
    REG32(base + CONFIG) = 0; /* no parity, no flow control */
    REG32(base + ENABLE) = ENABLE_UART;
    REG32(base + EVENTS_RXDRDY) = 0;
    REG32(base + EVENTS_TXDRDY) = 0;
    REG32(base + INTENSET) = INT_RXDRDY;
    REG32(base + TASKS_STARTRX) = 1;
    REG32(base + TASKS_STARTTX) = 1;
    cortex_m_irq_enable(irq); /* only wakes WFI: PRIMASK stays set */
}

uint8_t nrf_uart_read_byte(uint32_t base, uint32_t irq)
{
    for (;;) {
        if (REG32(base + EVENTS_RXDRDY)) {
            REG32(base + EVENTS_RXDRDY) = 0;
            (void)REG32(base + EVENTS_RXDRDY); /* nRF52: let the write land first */
            return (uint8_t)REG32(base + RXD);
        }
        cortex_m_irq_clear_pending(irq);
        if (REG32(base + EVENTS_RXDRDY)) {
            continue;
        }
        cortex_m_wfi();
    }
}

void nrf_uart_write(uint32_t base, const uint8_t *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        REG32(base + TXD) = data[i];
        while (!REG32(base + EVENTS_TXDRDY)) {
        }
        REG32(base + EVENTS_TXDRDY) = 0;
    }
}
