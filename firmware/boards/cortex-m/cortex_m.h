/*
 * What every Cortex-M board layer shares: the linker script's symbols, a few
 * core registers (NVIC, SCB) and the wait-for-interrupt idiom the UART
 * drivers use to sleep while no byte is coming.
 *
 * Interrupts stay masked (PRIMASK = 1) for the whole run: no handler ever
 * runs, so nothing the host does can add instructions to a TRAIN's count.
 * A peripheral's interrupt is only used to wake WFI, which works with
 * PRIMASK set (ARMv7-M ARM B1.5.19, ARMv6-M ARM B1.5.17).
 */
#ifndef TIFED_CORTEX_M_H
#define TIFED_CORTEX_M_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* Linker script symbols (cortex-m/sections.ld). */
extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_bottom[], __stack_top[];
extern uint8_t __arena_start[], __arena_end[];

/* NVIC and SCB (same addresses on ARMv6-M and ARMv7-M). */
#define NVIC_ISER0 0xE000E100u
#define NVIC_ICPR0 0xE000E280u
#define SCB_CPUID 0xE000ED00u
#define SCB_CFSR 0xE000ED28u /* ARMv7-M only */
#define SCB_HFSR 0xE000ED2Cu /* ARMv7-M only */
#define SCB_MMFAR 0xE000ED34u /* ARMv7-M only */
#define SCB_BFAR 0xE000ED38u  /* ARMv7-M only */

static inline void cortex_m_irq_enable(uint32_t irq)
{
    REG32(NVIC_ISER0 + 4u * (irq >> 5)) = 1u << (irq & 31u);
}

static inline void cortex_m_irq_clear_pending(uint32_t irq)
{
    REG32(NVIC_ICPR0 + 4u * (irq >> 5)) = 1u << (irq & 31u);
}

static inline void cortex_m_wfi(void)
{
    __asm volatile("dsb\n\twfi" ::: "memory");
}

/* Report a fatal error (one text line, no newline needed) and stop for
 * good. QEMU boards print it through semihosting and make QEMU exit with
 * status 1, so the harness can say why the device died. */
void cortex_m_fatal(const char *line) __attribute__((noreturn));

/* Stack painting (startup.c paints, stack.c measures). */
#define CORTEX_M_STACK_PAINT 0xC5A5C5A5u

#endif
