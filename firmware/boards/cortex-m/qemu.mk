# Shared by the QEMU boards' board.mk, after cortex-m.mk and QEMU_MACHINE.
#
# QEMU_ICOUNT_SHIFT is the N of `-icount shift=N`: QEMU's virtual clock then
# advances exactly 2^N ns per guest instruction, which is what the boards'
# instruction counters rely on (README-qemu.md). harness/tifed/boards/qemu.py reads
# QEMU_MACHINE and QEMU_ICOUNT_SHIFT from board.mk, so the emulator and the
# image always agree.
QEMU_ICOUNT_SHIFT := 8

BOARD_CFLAGS += -DQEMU_ICOUNT_SHIFT=$(QEMU_ICOUNT_SHIFT)
# Fatal errors leave through semihosting: QEMU prints the line and exits.
CORTEX_M_SRCS += boards/cortex-m/semihost.c
