/*
 * cortex_m_fatal() for emulated boards: print the line through Arm
 * semihosting and ask the emulator to exit with status 1. QEMU must run with
 * `-semihosting-config enable=on,target=native` (harness/tifed/boards/qemu.py does);
 * the harness then shows the line as the reason the device died.
 *
 * Not for physical boards: without a debugger attached, BKPT 0xAB is itself
 * a fault. A physical board links its own cortex_m_fatal.
 */
#include <stdint.h>

#include "cortex_m.h"

#define SYS_WRITE0 0x04u
#define SYS_EXIT 0x18u
#define ADP_STOPPED_RUNTIME_ERROR 0x20023u /* QEMU exits with status 1 */

static uint32_t semihost_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void cortex_m_fatal(const char *line)
{
    __asm volatile("cpsid i" ::: "memory");
    semihost_call(SYS_WRITE0, "tifed firmware: ");
    semihost_call(SYS_WRITE0, line);
    semihost_call(SYS_WRITE0, "\n");
    semihost_call(SYS_EXIT, (const void *)(uintptr_t)ADP_STOPPED_RUNTIME_ERROR);
    for (;;) {
        cortex_m_wfi();
    }
}
