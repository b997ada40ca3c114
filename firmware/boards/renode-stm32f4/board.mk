# renode-stm32f4: STM32F407 (Cortex-M4) on Renode's STM32F4 Discovery,
# platform renode/tifed-stm32f4.repl. The 82 STM32F407 interrupts get
# vectors; only USART2's is ever enabled, and only to wake WFI.
CORTEX_M_CPU := cortex-m4
CORTEX_M_IRQS := 82
include boards/cortex-m/cortex-m.mk

# No semihost.c: Renode's platform has no semihosting handler, so a fatal
# error parks the core (fatal_park.c), as on the physical boards.
BOARD_SRCS := boards/renode-stm32f4/board.c boards/cortex-m/link_stm32f4_usart2.c boards/cortex-m/uart_stm32.c boards/cortex-m/fatal_park.c $(CORTEX_M_SRCS)
