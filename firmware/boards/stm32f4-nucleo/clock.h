/* Clock set-up of the stm32f4-nucleo board (clock.c). */
#ifndef TIFED_STM32F4_NUCLEO_CLOCK_H
#define TIFED_STM32F4_NUCLEO_CLOCK_H

#include <stdint.h>

#define STM32_CLOCK_HSI 0x1u
#define STM32_CLOCK_HSE 0x2u
#define STM32_CLOCK_PLL 0x4u /* added to HSI or HSE: the PLL runs from it */

typedef struct {
    uint32_t sysclk_hz; /* the CPU's clock, what the DWT cycle counter counts */
    uint32_t apb1_hz;   /* USART2's clock */
    uint32_t source;    /* STM32_CLOCK_* bits */
} stm32_clocks_t;

stm32_clocks_t stm32_clock_init(void);

#endif
