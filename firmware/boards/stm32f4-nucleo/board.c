/*
 * stm32f4-nucleo: the ST NUCLEO-F446RE (STM32F446RE, Cortex-M4F), a
 * physical board.
 *
 * Link: USART2 on PA2 (TX) / PA3 (RX), alternate function 7
 * (cortex-m/link_stm32f4_usart2.c), which the Nucleo-64 wires to the ST-LINK/V2-1's virtual COM port, 8N1, no flow
 * control, LINK_BAUD baud (cortex-m/hw.mk; 115200 by default).
 *
 * Clocks: 180 MHz from the PLL, APB1 45 MHz, 5 flash wait states with the
 * ART accelerator (clock.c). The USART divisor comes from the APB1 clock
 * clock.c actually reached, so a board without the ST-LINK's 8 MHz on PH0
 * still talks (from the HSI).
 *
 * Counter: DWT->CYCCNT, CPU cycles (BOARD_COUNTER_CYCLES).
 *
 * Memory (STM32F446xC/E datasheet): 512 KB flash at 0x08000000, 128 KB SRAM
 * (SRAM1 112 KB + SRAM2 16 KB, contiguous) at 0x20000000; see
 * stm32f4-nucleo.ld. An F401RE (96 KB SRAM, 84 MHz) would need its own
 * linker script and clock tree.
 */
#include <stddef.h>
#include <stdint.h>

#include "../board.h"
#include "../cortex-m/cortex_m.h"
#include "../cortex-m/link_stm32f4_usart2.h"
#include "../dwt_counter.h"
#include "clock.h"

#ifndef LINK_BAUD
#define LINK_BAUD 115200u
#endif

static dwt_counter_t counter;

/* What clock.c reached (read it with a debugger: sysclk_hz, apb1_hz, source). */
volatile stm32_clocks_t stm32f4_nucleo_clocks;

void board_init(void)
{
    stm32_clocks_t clk = stm32_clock_init();
    stm32f4_nucleo_clocks = clk;
    link_usart2_init(clk.apb1_hz, LINK_BAUD);
    dwt_counter_init(&counter);
    /* The boot delimiter (PROTOCOL.md): after a reset by the harness, it
     * says the firmware is up and listening. */
    static const uint8_t ready = 0;
    board_write(&ready, 1);
}

const char *board_name(void)
{
    return "stm32f4-nucleo";
}

uint32_t board_counter_kind(void)
{
    return BOARD_COUNTER_CYCLES;
}

uint64_t board_counter_read(void)
{
    return dwt_counter_read(&counter);
}
