# Shared part of the physical boards' board.mk, included after cortex-m.mk.
#
#   LINK_BAUD   the UART's baud rate (default 115200); the fleet file's
#               `baud` (or --baud) must say the same:
#               make -C firmware BOARD=nrf52840dk LINK_BAUD=1000000
#
# Besides the ELF (pyOCD, OpenOCD), make writes an Intel HEX (nrfjprog) and
# a raw binary (drag-and-drop on a DAPLink/ST-LINK mass-storage drive).

LINK_BAUD ?= 115200
BOARD_CFLAGS += -DLINK_BAUD=$(LINK_BAUD)u
# No semihosting on a board without a debugger: fatal errors park the core.
CORTEX_M_SRCS += boards/cortex-m/fatal_park.c

OBJCOPY := arm-none-eabi-objcopy
BOARD_EXTRA := $(BUILD)/tifed-$(BOARD).hex $(BUILD)/tifed-$(BOARD).bin

$(BUILD)/tifed-$(BOARD).hex: $(IMAGE)
	$(OBJCOPY) -O ihex $< $@

$(BUILD)/tifed-$(BOARD).bin: $(IMAGE)
	$(OBJCOPY) -O binary $< $@

# make does not notice a changed variable: a stamp that changes only when
# LINK_BAUD does makes board.c recompile, so an image never keeps an old rate.
$(BUILD)/obj/boards/$(BOARD)/board.o: $(BUILD)/link-baud.stamp
$(BUILD)/link-baud.stamp: FORCE
	@mkdir -p $(@D)
	@echo $(LINK_BAUD) | cmp -s - $@ || echo $(LINK_BAUD) > $@
.PHONY: FORCE
FORCE:
