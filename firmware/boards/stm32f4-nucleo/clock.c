/*
 * STM32F446 clock tree for the NUCLEO-F446RE (RM0390 sections 5 and 6):
 * SYSCLK 180 MHz from the PLL, AHB 180 MHz, APB1 45 MHz, APB2 90 MHz,
 * flash at 5 wait states with the ART accelerator (prefetch, I- and
 * D-cache) on: the chip's rated speed at 3.3 V.
 *
 * PLL input: the 8 MHz that the ST-LINK's MCO feeds into PH0 (HSE in bypass
 * mode, the Nucleo-64 default), else the internal 16 MHz HSI. 180 MHz
 * needs the regulator's over-drive mode, entered in the order RM0390
 * 5.1.4 gives: PLL on, ODEN, ODSWEN, then flash latency and the switch.
 *
 * Every wait is bounded. A step that does not complete leaves the chip on
 * the PLL's input clock (8 or 16 MHz, no wait states) instead of hanging,
 * and stm32_clock_init() returns the APB1 clock actually in use, from which
 * the USART divisor is computed, so the link works either way.
 */
#include "clock.h"

#include "../cortex-m/cortex_m.h"

#define RCC_BASE 0x40023800u
#define RCC_CR (RCC_BASE + 0x00u)
#define RCC_PLLCFGR (RCC_BASE + 0x04u)
#define RCC_CFGR (RCC_BASE + 0x08u)
#define RCC_APB1ENR (RCC_BASE + 0x40u)

#define CR_HSEON (1u << 16)
#define CR_HSERDY (1u << 17)
#define CR_HSEBYP (1u << 18)
#define CR_PLLON (1u << 24)
#define CR_PLLRDY (1u << 25)

#define CFGR_SW_MASK 0x3u
#define CFGR_SW_HSI 0x0u
#define CFGR_SW_HSE 0x1u
#define CFGR_SW_PLL 0x2u
#define CFGR_SWS_SHIFT 2u
#define CFGR_HPRE_DIV1 (0x0u << 4)
#define CFGR_PPRE1_DIV4 (0x5u << 10)
#define CFGR_PPRE2_DIV2 (0x4u << 13)
#define CFGR_PRESCALERS ((0xFu << 4) | (0x7u << 10) | (0x7u << 13))

#define APB1ENR_PWREN (1u << 28)

#define PWR_CR 0x40007000u
#define PWR_CSR 0x40007004u
#define PWR_CR_VOS_SCALE1 (0x3u << 14)
#define PWR_CR_ODEN (1u << 16)
#define PWR_CR_ODSWEN (1u << 17)
#define PWR_CSR_ODRDY (1u << 16)
#define PWR_CSR_ODSWRDY (1u << 17)

#define FLASH_ACR 0x40023C00u
#define ACR_LATENCY_MASK 0xFu
#define ACR_PRFTEN (1u << 8)
#define ACR_ICEN (1u << 9)
#define ACR_DCEN (1u << 10)

#define HSI_HZ 16000000u
#define HSE_HZ 8000000u /* ST-LINK MCO */
#define PLL_N 180u      /* VCO = 2 MHz * 180 = 360 MHz */
#define PLL_P_DIV2 0u   /* SYSCLK = VCO / 2 = 180 MHz */
#define PLL_Q 8u        /* 45 MHz: unused (no USB, SDIO) but must be 2..15 */
#define PLL_R 2u        /* reset value; unused */
#define PLL_SRC_HSE (1u << 22)
#define SYSCLK_PLL_HZ 180000000u
#define FLASH_WS_180MHZ 5u

/* About 5 cycles per spin at 16 MHz: 30 ms at most, where the PLL locks
 * in ~0.2 ms and the ready flags of a bypassed HSE, the over-drive and the
 * clock switch take microseconds. */
#define SPINS 100000u

static int wait_bits(uint32_t reg, uint32_t mask, uint32_t want)
{
    for (uint32_t i = 0; i < SPINS; i++) {
        if ((REG32(reg) & mask) == want) {
            return 1;
        }
    }
    return 0;
}

static int switch_sysclk(uint32_t sw)
{
    REG32(RCC_CFGR) = (REG32(RCC_CFGR) & ~CFGR_SW_MASK) | sw;
    return wait_bits(RCC_CFGR, CFGR_SW_MASK << CFGR_SWS_SHIFT, sw << CFGR_SWS_SHIFT);
}

stm32_clocks_t stm32_clock_init(void)
{
    stm32_clocks_t clk = {HSI_HZ, HSI_HZ, STM32_CLOCK_HSI};

    REG32(RCC_APB1ENR) |= APB1ENR_PWREN;
    (void)REG32(RCC_APB1ENR); /* the enable takes effect before PWR is touched */

    uint32_t pll_src = 0;
    uint32_t pll_m = HSI_HZ / 2000000u;
    REG32(RCC_CR) |= CR_HSEBYP | CR_HSEON;
    if (wait_bits(RCC_CR, CR_HSERDY, CR_HSERDY) && switch_sysclk(CFGR_SW_HSE)) {
        clk = (stm32_clocks_t){HSE_HZ, HSE_HZ, STM32_CLOCK_HSE};
        pll_src = PLL_SRC_HSE;
        pll_m = HSE_HZ / 2000000u;
    } else {
        switch_sysclk(CFGR_SW_HSI); /* HSI is on from reset; nothing else turns it off */
        REG32(RCC_CR) &= ~(CR_HSEON | CR_HSEBYP);
    }

    /* VOS may change only while the PLL is off. */
    REG32(PWR_CR) = (REG32(PWR_CR) & ~(0x3u << 14)) | PWR_CR_VOS_SCALE1;
    REG32(RCC_PLLCFGR) = pll_m | (PLL_N << 6) | (PLL_P_DIV2 << 16) | pll_src | (PLL_Q << 24) | (PLL_R << 28);
    REG32(RCC_CR) |= CR_PLLON;
    if (!wait_bits(RCC_CR, CR_PLLRDY, CR_PLLRDY)) {
        return clk;
    }
    REG32(PWR_CR) |= PWR_CR_ODEN;
    if (!wait_bits(PWR_CSR, PWR_CSR_ODRDY, PWR_CSR_ODRDY)) {
        return clk;
    }
    REG32(PWR_CR) |= PWR_CR_ODSWEN;
    if (!wait_bits(PWR_CSR, PWR_CSR_ODSWRDY, PWR_CSR_ODSWRDY)) {
        return clk;
    }

    /* Wait states first (read back: RM0090 3.5.1), prescalers next, so that
     * neither flash nor APB1 (45 MHz at most) ever runs too fast. */
    REG32(FLASH_ACR) = FLASH_WS_180MHZ | ACR_PRFTEN | ACR_ICEN | ACR_DCEN;
    if ((REG32(FLASH_ACR) & ACR_LATENCY_MASK) != FLASH_WS_180MHZ) {
        return clk;
    }
    REG32(RCC_CFGR) = (REG32(RCC_CFGR) & ~CFGR_PRESCALERS) | CFGR_HPRE_DIV1 | CFGR_PPRE1_DIV4 | CFGR_PPRE2_DIV2;
    if (!switch_sysclk(CFGR_SW_PLL)) {
        /* Still on the PLL's input: undo the APB1 divider the link relies on. */
        REG32(RCC_CFGR) &= ~CFGR_PRESCALERS;
        return clk;
    }
    clk.sysclk_hz = SYSCLK_PLL_HZ;
    clk.apb1_hz = SYSCLK_PLL_HZ / 4u;
    clk.source |= STM32_CLOCK_PLL;
    return clk;
}
