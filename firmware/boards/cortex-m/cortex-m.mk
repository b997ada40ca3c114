# Shared part of the Cortex-M boards' board.mk (see the comment block of
# firmware/Makefile). A board.mk sets CORTEX_M_CPU (gcc -mcpu), CORTEX_M_IRQS
# (entries after the 16 system vectors) and its own sources, then includes
# this file and adds to BOARD_CFLAGS / BOARD_SRCS.
#
# -O2, sections per function and data plus --gc-sections, newlib-nano for
# the few libc helpers gcc may call (memcpy, memset), no start files (ours
# are startup.c), no malloc, no printf. 64-bit and, on ARMv6-M, all integer
# division come from libgcc (__aeabi_ldivmod, __aeabi_idiv), which the gcc
# driver links after the objects.

CC := arm-none-eabi-gcc

CORTEX_M_ARCH_FLAGS := -mcpu=$(CORTEX_M_CPU) -mthumb -mfloat-abi=soft
# ARMv6-M inline assembly is in divided syntax unless told otherwise.
ifeq ($(CORTEX_M_CPU),cortex-m0)
CORTEX_M_ARCH_FLAGS += -masm-syntax-unified
endif

BOARD_CFLAGS := $(CORTEX_M_ARCH_FLAGS) -O2 -g -ffunction-sections -fdata-sections \
	-DCORTEX_M_IRQ_COUNT=$(CORTEX_M_IRQS)
BOARD_LDFLAGS := --specs=nano.specs -nostartfiles -Wl,--gc-sections \
	-Lboards/cortex-m -Tboards/$(BOARD)/$(BOARD).ld -Wl,-Map=$(BUILD)/$(BOARD).map
# Start-up code needs GNU C (naked functions, range designators, register asm).
BOARD_STD := -std=gnu99

CORTEX_M_SRCS := boards/cortex-m/startup.c boards/cortex-m/memory.c

IMAGE := $(BUILD)/tifed-$(BOARD).elf
