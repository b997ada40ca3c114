/*
 * Nordic nRF51/nRF52 UART (the legacy, non-EasyDMA UART0: same registers on
 * both families), for QEMU's microbit, Renode's nRF52840 and real boards.
 */
#ifndef TIFED_UART_NRF_H
#define TIFED_UART_NRF_H

#include <stddef.h>
#include <stdint.h>

/* BAUDRATE register values (nRF51 RM 29.10.12, nRF52 PS "UART BAUDRATE"). */
#define NRF_UART_BAUD_115200 0x01D7E000u

void nrf_uart_init(uint32_t base, uint32_t tx_pin, uint32_t rx_pin, uint32_t baud_reg, uint32_t irq);
uint8_t nrf_uart_read_byte(uint32_t base, uint32_t irq);
void nrf_uart_write(uint32_t base, const uint8_t *data, size_t n);

#endif
