/*
 * cortex_m_fatal() for physical boards, where semihosting would itself
 * fault without a debugger attached, and for Renode, whose platforms have
 * no semihosting handler: keep the line in RAM and park the
 * core with every interrupt disabled, so it stops answering and the harness
 * reports the device silent. Read the line with a debugger, e.g.
 *   pyocd commander -t <target> -c "read8 <address of tifed_fatal_line> 160"
 * (the address is in the board's .map file).
 */
#include <stddef.h>
#include <stdint.h>

#include "cortex_m.h"

#define NVIC_ICER0 0xE000E180u
#define NVIC_ICER_WORDS 8u /* 256 external interrupts, more than any board here */

volatile char tifed_fatal_line[160];

void cortex_m_fatal(const char *line)
{
    __asm volatile("cpsid i" ::: "memory");
    size_t i = 0;
    for (; line[i] != '\0' && i + 1 < sizeof tifed_fatal_line; i++) {
        tifed_fatal_line[i] = line[i];
    }
    tifed_fatal_line[i] = '\0';
    for (uint32_t w = 0; w < NVIC_ICER_WORDS; w++) {
        REG32(NVIC_ICER0 + 4u * w) = 0xFFFFFFFFu;
    }
    for (;;) {
        cortex_m_wfi();
    }
}
