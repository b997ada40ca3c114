/*
 * The board layer: everything the shared application loop (firmware/app/)
 * needs from a board. The core (firmware/core/) and the protocol
 * (firmware/protocol/) never include this header; only app/ and boards/ do.
 * Each board implements it in firmware/boards/<board>/.
 */
#ifndef TIFED_BOARD_H
#define TIFED_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Counter kinds, as reported by IDENTIFY (see protocol/PROTOCOL.md). */
#define BOARD_COUNTER_NONE 0u
#define BOARD_COUNTER_INSTRUCTIONS 1u
#define BOARD_COUNTER_CYCLES 2u

/* Bring up clocks, the UART and the counter. Called once, first thing in main. */
void board_init(void);

/* Block until one byte arrives on the link. Returns 0..255, or -1 when the
 * link has closed for good (host board: EOF); the app loop then exits. */
int board_read_byte(void);

/* Write n bytes to the link; returns when they are queued or sent. */
void board_write(const uint8_t *data, size_t n);

/* Short board name as reported by IDENTIFY, e.g. "qemu-mps2-an386". */
const char *board_name(void);

/* The RAM arena the model lives in (statically allocated by the board or its
 * linker script), 4-byte aligned; app/ skips leading bytes of an unaligned
 * one and IDENTIFY then reports the smaller size. */
uint8_t *board_arena(void);
uint32_t board_arena_bytes(void);

/* Monotonic instruction or cycle counter (board_counter_kind() says which);
 * 64 bits so it never wraps in a run. Boards without one return 0. */
uint32_t board_counter_kind(void);
uint64_t board_counter_read(void);

/* Stack use measured by painting: the deepest byte ever written below the
 * initial stack pointer, and the stack's size. 0, 0 when not measured. */
uint32_t board_stack_peak(void);
uint32_t board_stack_size(void);

#endif
