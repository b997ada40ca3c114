/*
 * Start-up code shared by every Cortex-M board: the vector table, the reset
 * handler (paint the stack, copy .data, zero .bss, call main) and the fault
 * handlers, which turn a crash into one readable line instead of a hang.
 *
 * Interrupts are masked before anything else and stay masked (see
 * cortex_m.h): every vector past the system ones is a catch-all that reports
 * the unexpected exception.
 */
#include <stdint.h>

#include "cortex_m.h"

#ifndef CORTEX_M_IRQ_COUNT
#define CORTEX_M_IRQ_COUNT 32
#endif

#define SCB_VTOR 0xE000ED08u

extern int main(void);

void Reset_Handler(void) __attribute__((noreturn));
void HardFault_Handler(void) __attribute__((naked, noreturn));
void Default_Handler(void) __attribute__((noreturn));
void cortex_m_hardfault_report(const uint32_t *frame, uint32_t exc_return) __attribute__((noreturn, used));

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) const vector_t cortex_m_vectors[16 + CORTEX_M_IRQ_COUNT] = {
    [0] = (vector_t)(uintptr_t)__stack_top,
    [1] = Reset_Handler,
    [2] = Default_Handler,   /* NMI */
    [3] = HardFault_Handler, /* on ARMv6-M every fault is a HardFault */
    [4] = HardFault_Handler, /* MemManage (ARMv7-M; disabled, so escalates anyway) */
    [5] = HardFault_Handler, /* BusFault */
    [6] = HardFault_Handler, /* UsageFault */
    [7 ... 15] = Default_Handler,
    [16 ... 16 + CORTEX_M_IRQ_COUNT - 1] = Default_Handler,
};

/* No loop here may become a memset/memcpy call: .bss is not zeroed yet and
 * the C library must not run before the C run-time exists. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void Reset_Handler(void)
{
    __asm volatile("cpsid i" ::: "memory");
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
    REG32(SCB_VTOR) = (uint32_t)(uintptr_t)cortex_m_vectors;
#endif

    /* Paint the unused stack below our own frame; stack.c later finds the
     * deepest word that no longer holds the pattern. */
    uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = __stack_bottom; p < sp; p++) {
        *p = CORTEX_M_STACK_PAINT;
    }

    const uint32_t *src = __data_load;
    for (uint32_t *dst = __data_start; dst < __data_end; dst++) {
        *dst = *src++;
    }
    for (uint32_t *dst = __bss_start; dst < __bss_end; dst++) {
        *dst = 0;
    }

    main();
    cortex_m_fatal("main returned");
}

/* Find the exception frame (always on MSP here, but check EXC_RETURN so the
 * report stays right if a board ever uses PSP). Thumb-1 only, for ARMv6-M. */
void HardFault_Handler(void)
{
    __asm volatile(
        "movs r0, #4\n\t"
        "mov r1, lr\n\t"
        "tst r0, r1\n\t"
        "beq 1f\n\t"
        "mrs r0, psp\n\t"
        "b 2f\n"
        "1:\n\t"
        "mrs r0, msp\n"
        "2:\n\t"
        "ldr r2, =cortex_m_hardfault_report\n\t"
        "bx r2\n\t"
        ".ltorg\n");
}

static char *put_text(char *out, const char *text)
{
    while (*text) {
        *out++ = *text++;
    }
    return out;
}

static char *put_hex(char *out, const char *label, uint32_t value)
{
    static const char digits[] = "0123456789abcdef";
    out = put_text(out, label);
    *out++ = '0';
    *out++ = 'x';
    for (int shift = 28; shift >= 0; shift -= 4) {
        *out++ = digits[(value >> shift) & 0xFu];
    }
    return out;
}

void cortex_m_hardfault_report(const uint32_t *frame, uint32_t exc_return)
{
    (void)exc_return;
    static char line[200];
    char *out = put_text(line, "HardFault");
    /* Stacked frame: r0 r1 r2 r3 r12 lr pc xpsr. */
    out = put_hex(out, " pc=", frame[6]);
    out = put_hex(out, " lr=", frame[5]);
    out = put_hex(out, " xpsr=", frame[7]);
    out = put_hex(out, " sp=", (uint32_t)(uintptr_t)frame);
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
    uint32_t cfsr = REG32(SCB_CFSR);
    out = put_hex(out, " cfsr=", cfsr);
    out = put_hex(out, " hfsr=", REG32(SCB_HFSR));
    if (cfsr & (1u << 15)) { /* BFARVALID */
        out = put_hex(out, " bfar=", REG32(SCB_BFAR));
    }
    if (cfsr & (1u << 7)) { /* MMARVALID */
        out = put_hex(out, " mmfar=", REG32(SCB_MMFAR));
    }
#endif
    if ((uint32_t)(uintptr_t)frame < (uint32_t)(uintptr_t)__stack_bottom + 64u) {
        out = put_text(out, " (stack overflow?)");
    }
    *out = '\0';
    cortex_m_fatal(line);
}

void Default_Handler(void)
{
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    static char line[48];
    char *out = put_hex(line, "unexpected exception ", ipsr & 0x1FFu);
    *out = '\0';
    cortex_m_fatal(line);
}
