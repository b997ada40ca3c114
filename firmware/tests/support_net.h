/* Test fixture: a network in a static arena, and element access helpers. */
#ifndef TIFED_TEST_SUPPORT_NET_H
#define TIFED_TEST_SUPPORT_NET_H

#include <stdint.h>

#include "core/net.h"

extern tifed_net net;

/* net_configure on the fixture's 256 KiB arena; fails the test on refusal.
 * setup_net: int32 weights; setup_net_bits: weight_bits 16 or 32. */
void setup_net(uint32_t n_layers, const uint32_t *dims, uint32_t buffer_cap, uint32_t batch_cap);
void setup_net_bits(uint32_t n_layers, const uint32_t *dims, uint32_t buffer_cap, uint32_t batch_cap,
                    uint32_t weight_bits);

/* W_l[i][j], row-major indices as on the wire, and b_l[j], in either width. */
void set_w(uint32_t l, uint32_t i, uint32_t j, int32_t v);
int32_t w_at(uint32_t l, uint32_t i, uint32_t j);
void set_b(uint32_t l, uint32_t j, int32_t v);
int32_t b_at(uint32_t l, uint32_t j);

/* Store sample k of the buffer. */
void put_sample(uint32_t k, uint8_t label, const int8_t *x);

#endif
