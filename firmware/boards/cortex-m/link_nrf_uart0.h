/*
 * The link of the nRF51/nRF52 boards that talk on the legacy UART0 at
 * 0x40002000 (QEMU's micro:bit, Renode's nRF52840): board_read_byte() and
 * board_write() for them; board_init() calls link_uart0_init() with the
 * board's pins. (The nRF52840 DK uses UARTE0 with EasyDMA: uarte_nrf.h.)
 */
#ifndef TIFED_LINK_NRF_UART0_H
#define TIFED_LINK_NRF_UART0_H

#include <stdint.h>

/* 115200 8N1 on the given P0 pins; RX interrupts armed to wake WFI. */
void link_uart0_init(uint32_t tx_pin, uint32_t rx_pin);

#endif
