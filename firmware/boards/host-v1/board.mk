# The host board as a protocol 1 device (PROTOCOL.md): the same sources as
# boards/host, built with -DTIFED_PROTO_VERSION=1, so IDENTIFY says 1 and
# the commands protocol 2 added answer UNKNOWN. For the harness's tests of a
# fleet that mixes protocol 1 and 2 devices (suites/unit/test_protocol2_host.py).
# Not a board of its own: `tifed` never runs it.
CC := cc
BOARD_CFLAGS := -O2 -DTIFED_PROTO_VERSION=1
BOARD_LDFLAGS :=
BOARD_SRCS := boards/host/board.c boards/host/main.c
APP_MAIN :=
IMAGE := $(BUILD)/tifed-host
