/*
 * Arm CMSDK APB UART driver (Cortex-M System Design Kit TRM, "APB UART").
 *
 * The receiver holds one byte. No byte is lost to a burst as long as the
 * sender is flow controlled: QEMU's model offers the chardev a byte only
 * while the holding register is empty, so the rest waits in the host socket.
 */
#include "uart_cmsdk.h"

#include "cortex_m.h"

#define UART_DATA 0x00u
#define UART_STATE 0x04u
#define UART_CTRL 0x08u
#define UART_INTCLEAR 0x0Cu /* INTSTATUS on read */
#define UART_BAUDDIV 0x10u

#define STATE_TX_FULL (1u << 0)
#define STATE_RX_FULL (1u << 1)
#define CTRL_TX_EN (1u << 0)
#define CTRL_RX_EN (1u << 1)
#define CTRL_RX_INTEN (1u << 3)
#define INT_RX (1u << 1)

void cmsdk_uart_init(uint32_t base, uint32_t pclk_hz, uint32_t baud, uint32_t rx_irq)
{
    /* The divider must be at least 16, or the UART (and QEMU's model)
     * neither sends nor receives. */
    uint32_t div = pclk_hz / baud;
    REG32(base + UART_BAUDDIV) = div < 16u ? 16u : div;
    REG32(base + UART_CTRL) = CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INTEN;
    cortex_m_irq_enable(rx_irq); /* only wakes WFI: PRIMASK stays set */
}

uint8_t cmsdk_uart_read_byte(uint32_t base, uint32_t rx_irq)
{
    for (;;) {
        if (REG32(base + UART_STATE) & STATE_RX_FULL) {
            return (uint8_t)REG32(base + UART_DATA);
        }
        /* The RX interrupt status is latched: clear it, then the NVIC's
         * pending bit, then look again so a byte that arrived in between is
         * not slept over. A byte arriving after the last look raises the
         * line again and ends the WFI. */
        REG32(base + UART_INTCLEAR) = INT_RX;
        cortex_m_irq_clear_pending(rx_irq);
        if (REG32(base + UART_STATE) & STATE_RX_FULL) {
            continue;
        }
        cortex_m_wfi();
    }
}

void cmsdk_uart_write(uint32_t base, const uint8_t *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (REG32(base + UART_STATE) & STATE_TX_FULL) {
        }
        REG32(base + UART_DATA) = data[i];
    }
}
