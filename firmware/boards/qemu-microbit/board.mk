# qemu-microbit: BBC micro:bit v1, nRF51822 (Cortex-M0, 16 KB RAM), under
# qemu-system-arm. Small frames save RAM for the arena.
QEMU_MACHINE := microbit
CORTEX_M_CPU := cortex-m0
CORTEX_M_IRQS := 32
include boards/cortex-m/cortex-m.mk
include boards/cortex-m/qemu.mk

BOARD_CFLAGS += -DTIFED_MAX_PAYLOAD=256
BOARD_SRCS := boards/qemu-microbit/board.c boards/cortex-m/link_nrf_uart0.c boards/cortex-m/uart_nrf.c $(CORTEX_M_SRCS)
