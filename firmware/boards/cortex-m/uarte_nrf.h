/*
 * Nordic nRF52 UARTE (the EasyDMA UART, nRF52840 PS "UARTE"), for physical
 * nRF52 boards. The legacy UART (uart_nrf.h) sits at the same address and
 * still works on the nRF52840, but Nordic lists it as deprecated there.
 *
 * EasyDMA reads and writes data RAM only, so the driver keeps its own RAM
 * buffers: one byte for receiving, a bounce buffer for sending (the bytes
 * to send may live in flash, e.g. a const ready byte).
 */
#ifndef TIFED_UARTE_NRF_H
#define TIFED_UARTE_NRF_H

#include <stddef.h>
#include <stdint.h>

/* BAUDRATE register values of the UARTE (they differ from the legacy
 * UART's: nRF52840 PS, UARTE BAUDRATE). */
#define NRF_UARTE_BAUD_115200 0x01D60000u
#define NRF_UARTE_BAUD_230400 0x03B00000u
#define NRF_UARTE_BAUD_460800 0x07400000u
#define NRF_UARTE_BAUD_921600 0x0F000000u
#define NRF_UARTE_BAUD_1000000 0x10000000u

#define NRF_UARTE_TX_CHUNK 256u

typedef struct {
    uint32_t base;
    uint32_t irq;
    volatile uint8_t rx;            /* EasyDMA target of the one-byte receive */
    uint8_t tx[NRF_UARTE_TX_CHUNK]; /* EasyDMA source of each transmit */
} nrf_uarte_t;

void nrf_uarte_init(nrf_uarte_t *u, uint32_t base, uint32_t tx_pin, uint32_t rx_pin, uint32_t baud_reg,
                    uint32_t irq);
uint8_t nrf_uarte_read_byte(nrf_uarte_t *u);
void nrf_uarte_write(nrf_uarte_t *u, const uint8_t *data, size_t n);

#endif
