# renode-nrf52840: nRF52840 (Cortex-M4) under Renode, platform
# renode/tifed-nrf52840.repl. The 48 nRF52840 interrupts get vectors; only
# UART0's is ever enabled, and only to wake WFI.
CORTEX_M_CPU := cortex-m4
CORTEX_M_IRQS := 48
include boards/cortex-m/cortex-m.mk

# No semihost.c: Renode's platform has no semihosting handler, so a fatal
# error parks the core (fatal_park.c), as on the physical boards.
BOARD_SRCS := boards/renode-nrf52840/board.c boards/cortex-m/link_nrf_uart0.c boards/cortex-m/uart_nrf.c boards/cortex-m/fatal_park.c $(CORTEX_M_SRCS)
