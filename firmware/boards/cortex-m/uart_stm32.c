/*
 * STM32 USART driver (RM0090 section 30.6, register map of the F4 family).
 *
 * Receive is polled; between bytes the core sleeps in WFI, woken by the
 * RXNE interrupt line (RXNEIE set, PRIMASK set so no handler runs).
 * QEMU's model drops bytes that arrive before UE and RE are set, which is
 * why the board announces readiness only after this init (README-qemu.md).
 */
#include "uart_stm32.h"

#include "cortex_m.h"

#define USART_SR 0x00u
#define USART_DR 0x04u
#define USART_BRR 0x08u
#define USART_CR1 0x0Cu
#define USART_CR2 0x10u
#define USART_CR3 0x14u

#define SR_RXNE (1u << 5)
#define SR_TXE (1u << 7)
#define SR_TC (1u << 6)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_RXNEIE (1u << 5)
#define CR1_UE (1u << 13)

void stm32_usart_init(uint32_t base, uint32_t pclk_hz, uint32_t baud, uint32_t irq)
{
    REG32(base + USART_CR1) = 0;
    /* 16x oversampling: BRR = mantissa << 4 | fraction = pclk / baud, rounded. */
    REG32(base + USART_BRR) = (pclk_hz + baud / 2u) / baud;
    REG32(base + USART_CR2) = 0; /* 1 stop bit */
    REG32(base + USART_CR3) = 0; /* no flow control, no DMA */
    REG32(base + USART_CR1) = CR1_UE | CR1_TE | CR1_RE | CR1_RXNEIE;
    cortex_m_irq_enable(irq); /* only wakes WFI: PRIMASK stays set */
}

uint8_t stm32_usart_read_byte(uint32_t base, uint32_t irq)
{
    for (;;) {
        /* Reading SR then DR also clears an overrun (ORE). */
        if (REG32(base + USART_SR) & SR_RXNE) {
            return (uint8_t)REG32(base + USART_DR);
        }
        cortex_m_irq_clear_pending(irq);
        if (REG32(base + USART_SR) & SR_RXNE) {
            continue;
        }
        cortex_m_wfi();
    }
}

void stm32_usart_write(uint32_t base, const uint8_t *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (!(REG32(base + USART_SR) & SR_TXE)) {
        }
        REG32(base + USART_DR) = data[i];
    }
    while (!(REG32(base + USART_SR) & SR_TC)) {
    }
}
