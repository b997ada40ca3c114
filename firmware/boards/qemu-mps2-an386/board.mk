# qemu-mps2-an386: Arm MPS2 + AN386 (Cortex-M4) under qemu-system-arm.
QEMU_MACHINE := mps2-an386
CORTEX_M_CPU := cortex-m4
CORTEX_M_IRQS := 32
include boards/cortex-m/cortex-m.mk
include boards/cortex-m/qemu.mk

BOARD_SRCS := boards/qemu-mps2-an386/board.c boards/cortex-m/uart_cmsdk.c $(CORTEX_M_SRCS)
