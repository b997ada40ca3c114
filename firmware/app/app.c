/*
 * The main loop: bytes from the link -> frame receiver -> dispatcher ->
 * response frame -> link. The only file that joins the board (board.h) to
 * the protocol: it hands the dispatcher the board's functions as pointers.
 * A board's main() calls app_run() (app/main.c, or the board's own).
 */
#include "app/app.h"

#include <stddef.h>
#include <stdint.h>

#include "boards/board.h"
#include "protocol/dispatch.h"
#include "protocol/frame_rx.h"

/* Static, not on the stack: together they are a few KiB, more than the
 * smallest boards' stacks. */
static frame_rx rx;
static proto_state state;
static uint8_t tx[WIRE_ENCODED_MAX];
/* Sent after every response frame: a second delimiter, so that a line that
 * corrupts the first one still ends the frame (the harness sees a damaged
 * frame at once instead of waiting for its retransmission timeout); on a
 * clean line it is an empty frame, which receivers ignore. */
static const uint8_t second_delimiter = 0u;

int app_run(void)
{
    proto_env env;
    uint8_t *arena;
    uint32_t bytes, skip;

    board_init();
    /* The core needs a 4-byte aligned arena; a board that gives less loses
     * the few leading bytes (and IDENTIFY reports what is left). */
    arena = board_arena();
    bytes = board_arena_bytes();
    skip = (uint32_t)((4u - ((uintptr_t)arena & 3u)) & 3u);
    env.board_name = board_name();
    env.arena = arena + skip;
    env.arena_bytes = bytes > skip ? bytes - skip : 0u;
    env.counter_kind = board_counter_kind();
    env.counter_read = env.counter_kind != 0u ? board_counter_read : NULL;
    env.stack_peak = board_stack_peak;
    env.stack_size = board_stack_size;
    proto_init(&state, &env);
    frame_rx_init(&rx);

    for (;;) {
        const uint8_t *frame = NULL, *resp = NULL;
        size_t len = 0, n;
        int c = board_read_byte();
        rx_event event;
        if (c < 0)
            return 0;
        event = frame_rx_push(&rx, (uint8_t)c, &frame, &len);
        if (event == RX_NONE)
            continue;
        if (event == RX_FRAME)
            n = proto_handle_frame(&state, frame, len, &resp);
        else
            n = proto_handle_rx_error(&state, event, &resp);
        board_write(tx, proto_encode_frame(resp, n, tx));
        board_write(&second_delimiter, 1u);
    }
}
