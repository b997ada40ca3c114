/*
 * The ARMv7-M DWT cycle counter (DWT->CYCCNT) as board.h's 64-bit counter,
 * for Cortex-M3/M4/M7 boards. Header-only so each board layer compiles it
 * in without a Makefile change.
 *
 * On silicon CYCCNT counts core clock cycles. Renode has no DWT in its stock
 * platforms; renode/tifed-dwt.repl adds one whose CYCCNT is the CPU's own
 * count of executed instructions (Renode's DWT model, derived from virtual
 * time, lags the CPU between synchronisation points).
 */
#ifndef TIFED_DWT_COUNTER_H
#define TIFED_DWT_COUNTER_H

#include <stdint.h>

#include "cortex-m/cortex_m.h"

#define DWT_DEMCR 0xE000EDFCu /* Debug Exception and Monitor Control */
#define DWT_DEMCR_TRCENA (1u << 24)
#define DWT_CTRL 0xE0001000u
#define DWT_CTRL_CYCCNTENA 1u
#define DWT_CYCCNT 0xE0001004u

typedef struct {
    uint32_t last;  /* CYCCNT at the previous read */
    uint64_t total; /* counts since dwt_counter_init */
} dwt_counter_t;

static inline void dwt_counter_init(dwt_counter_t *c)
{
    REG32(DWT_DEMCR) |= DWT_DEMCR_TRCENA; /* silicon gates the DWT on this */
    REG32(DWT_CYCCNT) = 0;
    REG32(DWT_CTRL) |= DWT_CTRL_CYCCNTENA;
    c->last = REG32(DWT_CYCCNT);
    c->total = 0;
}

/* Adds the difference since the last read (modulo 2^32), so the total is
 * exact as long as two reads are less than 2^32 counts apart (4.3e9
 * instructions: 67 s at 64 MHz, 25 s at 168 MHz). The app reads it before
 * and after each TRAIN, so one TRAIN must stay under 2^32 instructions. */
static inline uint64_t dwt_counter_read(dwt_counter_t *c)
{
    uint32_t now = REG32(DWT_CYCCNT);
    c->total += (uint32_t)(now - c->last);
    c->last = now;
    return c->total;
}

#endif
