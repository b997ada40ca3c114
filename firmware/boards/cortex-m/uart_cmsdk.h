/*
 * Arm CMSDK APB UART (the MPS2 FPGA images' UARTs): polled transmit, polled
 * receive that sleeps in WFI until the RX interrupt line rises.
 */
#ifndef TIFED_UART_CMSDK_H
#define TIFED_UART_CMSDK_H

#include <stddef.h>
#include <stdint.h>

void cmsdk_uart_init(uint32_t base, uint32_t pclk_hz, uint32_t baud, uint32_t rx_irq);
uint8_t cmsdk_uart_read_byte(uint32_t base, uint32_t rx_irq);
void cmsdk_uart_write(uint32_t base, const uint8_t *data, size_t n);

#endif
