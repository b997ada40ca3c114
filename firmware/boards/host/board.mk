# The host board: the firmware as a native executable (see the Makefile's
# header for what a board.mk defines).
CC := cc
BOARD_CFLAGS := -O2
BOARD_LDFLAGS :=
BOARD_SRCS := boards/host/board.c boards/host/main.c
APP_MAIN :=
IMAGE := $(BUILD)/tifed-host
