# qemu-netduinoplus2: STM32F405 (Cortex-M4) under qemu-system-arm.
QEMU_MACHINE := netduinoplus2
CORTEX_M_CPU := cortex-m4
CORTEX_M_IRQS := 82
include boards/cortex-m/cortex-m.mk
include boards/cortex-m/qemu.mk

BOARD_SRCS := boards/qemu-netduinoplus2/board.c boards/cortex-m/uart_stm32.c $(CORTEX_M_SRCS)
