# nrf52840dk: Nordic nRF52840 DK (nRF52840, Cortex-M4F at 64 MHz), a
# physical board. Link: UARTE0 through the J-Link OB's VCP. NRF_UART=legacy
# builds the legacy-UART driver instead of the EasyDMA one (same pins).
CORTEX_M_CPU := cortex-m4
CORTEX_M_IRQS := 48
include boards/cortex-m/cortex-m.mk
include boards/cortex-m/hw.mk

NRF_UART ?= uarte
ifeq ($(NRF_UART),legacy)
NRF_UART_SRC := boards/cortex-m/uart_nrf.c
BOARD_CFLAGS += -DNRF_LEGACY_UART
else ifeq ($(NRF_UART),uarte)
NRF_UART_SRC := boards/cortex-m/uarte_nrf.c
else
$(error NRF_UART must be uarte or legacy, not '$(NRF_UART)')
endif

BOARD_SRCS := boards/nrf52840dk/board.c $(NRF_UART_SRC) $(CORTEX_M_SRCS)
