/*
 * renode-stm32f4: Renode's STM32F4 Discovery (STM32F407, Cortex-M4),
 * platform renode/tifed-stm32f4.repl = Renode's
 * platforms/boards/stm32f4_discovery-kit.repl with a DWT added and USART2's
 * model clocked like the firmware assumes.
 *
 * The link is USART2 (PA2 TX / PA3 RX, alternate function 7; shared with
 * the Nucleo: cortex-m/link_stm32f4_usart2.c), at 115200 baud from the 16 MHz HSI the chip starts on (no PLL: Renode's RCC is a
 * mock, and a loop waiting for PLL lock is the classic way to hang there).
 * The counter is DWT->CYCCNT, one count per instruction under Renode
 * (dwt_counter.h), so TRAIN reports instructions. Renode has no
 * semihosting handler: a fatal error parks the core (cortex-m/fatal_park.c).
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
#include "../cortex-m/link_stm32f4_usart2.h"
#include "../dwt_counter.h"

#define HSI_HZ 16000000u /* clock after reset; nothing here changes it */
#define LINK_BAUD 115200u

static dwt_counter_t counter;

void board_init(void)
{
    link_usart2_init(HSI_HZ, LINK_BAUD); /* APB1 runs at HCLK = HSI after reset */
    dwt_counter_init(&counter);
    /* One frame delimiter: tells the harness the USART is listening (Renode's
     * model drops bytes that arrive before UE and RE are set). */
    static const uint8_t ready = 0;
    board_write(&ready, 1);
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
