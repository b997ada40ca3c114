# The host board under AddressSanitizer and UndefinedBehaviorSanitizer: the
# same sources as boards/host, for driving an instrumented device from the
# harness's tests (suites/unit/test_host_asan.py). A sanitizer report ends
# the process with a message on stderr, which the harness shows as the
# device's exit reason. Not a board of its own: `tifed` never runs it.
CC := cc
BOARD_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
BOARD_LDFLAGS :=
BOARD_SRCS := boards/host/board.c boards/host/main.c
APP_MAIN :=
IMAGE := $(BUILD)/tifed-host
