/*
 * The board.h memory queries every Cortex-M board answers the same way, from
 * the linker script (sections.ld):
 * - the arena is all the RAM the linker left between the end of .bss and the
 *   end of RAM, so its size is exact and needs no tuning as buffers change;
 * - the stack is a fixed region at the bottom of RAM, painted at reset.
 */
#include <stddef.h>
#include <stdint.h>

#include "../board.h"
#include "cortex_m.h"

uint8_t *board_arena(void)
{
    return __arena_start;
}

uint32_t board_arena_bytes(void)
{
    return (uint32_t)(__arena_end - __arena_start);
}

uint32_t board_stack_size(void)
{
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom);
}

/* The deepest the stack has ever been: everything from the first word (from
 * the bottom) that lost the paint up to the top. A word that happens to be
 * written with the paint value itself would hide at most that one word. */
uint32_t board_stack_peak(void)
{
    const volatile uint32_t *p = __stack_bottom;
    while (p < __stack_top && *p == CORTEX_M_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}
