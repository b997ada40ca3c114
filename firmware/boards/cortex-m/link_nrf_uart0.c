/* See link_nrf_uart0.h. UART0: nRF51 RM / nRF52840 PS, the same base and
 * interrupt number on both families. */
#include "link_nrf_uart0.h"

#include <stddef.h>
#include <stdint.h>

#include "../board.h"
#include "uart_nrf.h"

#define UART0_BASE 0x40002000u
#define UART0_IRQ 2u

void link_uart0_init(uint32_t tx_pin, uint32_t rx_pin)
{
    nrf_uart_init(UART0_BASE, tx_pin, rx_pin, NRF_UART_BAUD_115200, UART0_IRQ);
}

int board_read_byte(void)
{
    return nrf_uart_read_byte(UART0_BASE, UART0_IRQ);
}

void board_write(const uint8_t *data, size_t n)
{
    nrf_uart_write(UART0_BASE, data, n);
}
