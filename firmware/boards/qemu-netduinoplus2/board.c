/*
 * qemu-netduinoplus2: QEMU's "netduinoplus2" machine (STM32F405, Cortex-M4).
 * The link is USART1 (QEMU's -serial 0; PA9/PA10 on the real chip); the
 * instruction counter is TIM2, a 32-bit timer.
 *
 * Memory (QEMU hw/arm/stm32f405_soc.c): 1 MB flash at 0x08000000 (aliased
 * at 0), 192 KB SRAM at 0x20000000 in one piece. QEMU 7.2 has no CCM RAM;
 * a physical STM32F405 has 112 + 16 KB SRAM there and 64 KB CCM at
 * 0x10000000, so a physical-board variant needs its own linker script.
 */
#include <stddef.h>
#include <stdint.h>

#include "../board.h"
#include "../cortex-m/cortex_m.h"
#include "../cortex-m/uart_stm32.h"

#define HSI_HZ 16000000u /* clock after reset; nothing here changes it */
#define LINK_BAUD 115200u

#define RCC_BASE 0x40023800u
#define RCC_AHB1ENR (RCC_BASE + 0x30u)
#define RCC_APB1ENR (RCC_BASE + 0x40u)
#define RCC_APB2ENR (RCC_BASE + 0x44u)
#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER (GPIOA_BASE + 0x00u)
#define GPIOA_AFRH (GPIOA_BASE + 0x24u)

#define USART1_BASE 0x40011000u
#define USART1_IRQ 37u

#define TIM2_BASE 0x40000000u
#define TIM2_CR1 (TIM2_BASE + 0x00u)
#define TIM2_EGR (TIM2_BASE + 0x14u)
#define TIM2_CNT (TIM2_BASE + 0x24u)
#define TIM2_PSC (TIM2_BASE + 0x28u)
#define TIM2_ARR (TIM2_BASE + 0x2Cu)

/* QEMU clocks the STM32F405 timers at 1 GHz, i.e. one tick per virtual ns,
 * and under `-icount shift=N` the virtual clock advances exactly 2^N ns per
 * instruction. A prescaler of 2^N makes TIM2 count instructions one for one
 * (README-qemu.md). */
#ifndef QEMU_ICOUNT_SHIFT
#error "QEMU_ICOUNT_SHIFT must match the harness's -icount shift"
#endif
#define TIM2_PRESCALER ((1u << QEMU_ICOUNT_SHIFT) - 1u)

static uint32_t counter_last;
static uint64_t counter_instructions;

static void clocks_and_pins_init(void)
{
    REG32(RCC_AHB1ENR) |= 1u << 0; /* GPIOA */
    REG32(RCC_APB1ENR) |= 1u << 0; /* TIM2 */
    REG32(RCC_APB2ENR) |= 1u << 4; /* USART1 */
    /* PA9 = USART1_TX, PA10 = USART1_RX: alternate function 7. */
    REG32(GPIOA_MODER) = (REG32(GPIOA_MODER) & ~(0xFu << 18)) | (0xAu << 18);
    REG32(GPIOA_AFRH) = (REG32(GPIOA_AFRH) & ~(0xFFu << 4)) | (0x77u << 4);
}

static void counter_init(void)
{
    REG32(TIM2_CR1) = 0;
    REG32(TIM2_PSC) = TIM2_PRESCALER;
    REG32(TIM2_ARR) = 0xFFFFFFFFu;
    REG32(TIM2_EGR) = 1u; /* UG: load the prescaler, clear the count */
    REG32(TIM2_CR1) = 1u; /* CEN */
    counter_last = REG32(TIM2_CNT);
}

void board_init(void)
{
    clocks_and_pins_init();
    stm32_usart_init(USART1_BASE, HSI_HZ, LINK_BAUD, USART1_IRQ);
    counter_init();
    /* One frame delimiter: tells the harness the USART is listening. QEMU's
     * USART drops bytes that arrive before it is enabled, so the harness
     * waits for this byte before it sends anything. */
    static const uint8_t ready = 0;
    board_write(&ready, 1);
}

int board_read_byte(void)
{
    return stm32_usart_read_byte(USART1_BASE, USART1_IRQ);
}

void board_write(const uint8_t *data, size_t n)
{
    stm32_usart_write(USART1_BASE, data, n);
}

const char *board_name(void)
{
    return "qemu-netduinoplus2";
}

uint32_t board_counter_kind(void)
{
    return BOARD_COUNTER_INSTRUCTIONS;
}

/* Extends the 32-bit count by the difference since the last read: exact as
 * long as reads are less than 2^32 instructions apart while running (a
 * stretch spent asleep in WFI only follows host time anyway). */
uint64_t board_counter_read(void)
{
    uint32_t now = REG32(TIM2_CNT);
    counter_instructions += (uint32_t)(now - counter_last);
    counter_last = now;
    return counter_instructions;
}
