# stm32f4-nucleo: ST NUCLEO-F446RE (STM32F446RE, Cortex-M4F, 180 MHz), a
# physical board. Link: USART2 through the ST-LINK/V2-1's VCP. The F446 has
# 97 interrupts; only USART2's is ever enabled, and only to wake WFI.
CORTEX_M_CPU := cortex-m4
CORTEX_M_IRQS := 97
include boards/cortex-m/cortex-m.mk
include boards/cortex-m/hw.mk

BOARD_SRCS := boards/stm32f4-nucleo/board.c boards/stm32f4-nucleo/clock.c boards/cortex-m/link_stm32f4_usart2.c boards/cortex-m/uart_stm32.c \
	$(CORTEX_M_SRCS)
