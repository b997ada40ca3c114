/* See link_stm32f4_usart2.h. Register addresses: RM0090 / RM0390 (the same
 * on the F405/F407 and F446). */
#include "link_stm32f4_usart2.h"

#include <stddef.h>
#include <stdint.h>

#include "../board.h"
#include "cortex_m.h"
#include "uart_stm32.h"

#define RCC_AHB1ENR 0x40023830u
#define RCC_APB1ENR 0x40023840u
#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER (GPIOA_BASE + 0x00u)
#define GPIOA_OSPEEDR (GPIOA_BASE + 0x08u)
#define GPIOA_PUPDR (GPIOA_BASE + 0x0Cu)
#define GPIOA_AFRL (GPIOA_BASE + 0x20u)

#define USART2_BASE 0x40004400u
#define USART2_IRQ 38u

void link_usart2_init(uint32_t apb1_hz, uint32_t baud)
{
    REG32(RCC_AHB1ENR) |= 1u << 0;  /* GPIOA */
    REG32(RCC_APB1ENR) |= 1u << 17; /* USART2 */
    (void)REG32(RCC_APB1ENR);       /* the enable takes effect before the first access */
    REG32(GPIOA_MODER) = (REG32(GPIOA_MODER) & ~(0xFu << 4)) | (0xAu << 4);
    REG32(GPIOA_OSPEEDR) = (REG32(GPIOA_OSPEEDR) & ~(0xFu << 4)) | (0x5u << 4); /* medium */
    REG32(GPIOA_PUPDR) = (REG32(GPIOA_PUPDR) & ~(0xFu << 4)) | (0x4u << 4);     /* PA3 pull-up */
    REG32(GPIOA_AFRL) = (REG32(GPIOA_AFRL) & ~(0xFFu << 8)) | (0x77u << 8);
    stm32_usart_init(USART2_BASE, apb1_hz, baud, USART2_IRQ);
}

int board_read_byte(void)
{
    return stm32_usart_read_byte(USART2_BASE, USART2_IRQ);
}

void board_write(const uint8_t *data, size_t n)
{
    stm32_usart_write(USART2_BASE, data, n);
}
