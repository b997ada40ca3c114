/*
 * renode-stm32f4: Renode's STM32F4 Discovery (STM32F407, Cortex-M4),
 * platform renode/tifed-stm32f4.repl = Renode's
 * platforms/boards/stm32f4_discovery-kit.repl with a DWT added and USART2's
 * model clocked like the firmware assumes.
 *
 * The link is USART2 (PA2 TX / PA3 RX, alternate function 7), at 115200
 * baud from the 16 MHz HSI the chip starts on (no PLL: Renode's RCC is a
 * mock, and a loop waiting for PLL lock is the classic way to hang there).
 * The counter is DWT->CYCCNT, one count per instruction under Renode
 * (dwt_counter.h), so TRAIN reports instructions.
 *
 * Memory (RM0090): flash at 0x08000000 (1 MB on the F407VG; Renode maps
 * 2 MB), SRAM1 + SRAM2 = 128 KB contiguous at 0x20000000 (Renode maps
 * 256 KB; the linker script keeps to what silicon has). See
 * renode-stm32f4.ld.
 */
#include <stddef.h>
#include <stdint.h>

#include "../board.h"
#include "../cortex-m/cortex_m.h"
#include "../cortex-m/uart_stm32.h"
#include "../dwt_counter.h"

#define HSI_HZ 16000000u /* clock after reset; nothing here changes it */
#define LINK_BAUD 115200u

#define RCC_BASE 0x40023800u
#define RCC_AHB1ENR (RCC_BASE + 0x30u)
#define RCC_APB1ENR (RCC_BASE + 0x40u)
#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER (GPIOA_BASE + 0x00u)
#define GPIOA_AFRL (GPIOA_BASE + 0x20u)

#define USART2_BASE 0x40004400u
#define USART2_IRQ 38u

#define NVIC_ICER0 0xE000E180u

static dwt_counter_t counter;

static void clocks_and_pins_init(void)
{
    REG32(RCC_AHB1ENR) |= 1u << 0;  /* GPIOA */
    REG32(RCC_APB1ENR) |= 1u << 17; /* USART2 */
    /* PA2 = USART2_TX, PA3 = USART2_RX: alternate function 7. */
    REG32(GPIOA_MODER) = (REG32(GPIOA_MODER) & ~(0xFu << 4)) | (0xAu << 4);
    REG32(GPIOA_AFRL) = (REG32(GPIOA_AFRL) & ~(0xFFu << 8)) | (0x77u << 8);
}

void board_init(void)
{
    clocks_and_pins_init();
    stm32_usart_init(USART2_BASE, HSI_HZ, LINK_BAUD, USART2_IRQ);
    dwt_counter_init(&counter);
    /* One frame delimiter: tells the harness the USART is listening (Renode's
     * model drops bytes that arrive before UE and RE are set). */
    static const uint8_t ready = 0;
    board_write(&ready, 1);
}

int board_read_byte(void)
{
    return stm32_usart_read_byte(USART2_BASE, USART2_IRQ);
}

void board_write(const uint8_t *data, size_t n)
{
    stm32_usart_write(USART2_BASE, data, n);
}

const char *board_name(void)
{
    return "renode-stm32f4";
}

uint32_t board_counter_kind(void)
{
    return BOARD_COUNTER_INSTRUCTIONS;
}

uint64_t board_counter_read(void)
{
    return dwt_counter_read(&counter);
}

/* As on renode-nrf52840: no semihosting handler in Renode's platform, so
 * the line stays in RAM and the core parks with every interrupt off. */
volatile char tifed_fatal_line[160];

void cortex_m_fatal(const char *line)
{
    __asm volatile("cpsid i" ::: "memory");
    size_t i = 0;
    for (; line[i] != '\0' && i + 1 < sizeof tifed_fatal_line; i++) {
        tifed_fatal_line[i] = line[i];
    }
    tifed_fatal_line[i] = '\0';
    REG32(NVIC_ICER0 + 4u * (USART2_IRQ >> 5)) = 1u << (USART2_IRQ & 31u);
    for (;;) {
        cortex_m_wfi();
    }
}
