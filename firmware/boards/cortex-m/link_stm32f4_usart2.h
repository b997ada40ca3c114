/*
 * The link of the STM32F4 boards that talk on USART2 (PA2 TX / PA3 RX,
 * alternate function 7): Renode's STM32F4 Discovery and the Nucleo-64
 * boards, where the ST-LINK's virtual COM port is wired to those pins.
 * Including this file's .c in a board gives it board_read_byte() and
 * board_write(); the board's board_init() calls link_usart2_init().
 */
#ifndef TIFED_LINK_STM32F4_USART2_H
#define TIFED_LINK_STM32F4_USART2_H

#include <stdint.h>

/* Clocks GPIOA and USART2, muxes PA2/PA3 (RX pulled up, so it idles high
 * while nothing drives it) and starts the USART at `baud` from `apb1_hz`. */
void link_usart2_init(uint32_t apb1_hz, uint32_t baud);

#endif
