/*
 * STM32 USART, the F1/F2/F4 register map (SR, DR, BRR, CR1): the same driver
 * serves QEMU's netduinoplus2 (STM32F405), Renode's STM32F4 and a physical
 * STM32F4 board. Clock and pin set-up (RCC, GPIO alternate function) is the
 * board's job; the driver only needs the USART's input clock.
 */
#ifndef TIFED_UART_STM32_H
#define TIFED_UART_STM32_H

#include <stddef.h>
#include <stdint.h>

void stm32_usart_init(uint32_t base, uint32_t pclk_hz, uint32_t baud, uint32_t irq);
uint8_t stm32_usart_read_byte(uint32_t base, uint32_t irq);
void stm32_usart_write(uint32_t base, const uint8_t *data, size_t n);

#endif
