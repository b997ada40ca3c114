/* Test fixture: a network in a static arena, and element access helpers. */
#ifndef TIFED_TEST_SUPPORT_NET_H
#define TIFED_TEST_SUPPORT_NET_H

#include <stdint.h>

#include "core/net.h"

extern tifed_net net;

/* net_configure on the fixture's 256 KiB arena; fails the test on refusal. */
void setup_net(uint32_t n_layers, const uint32_t *dims, uint32_t buffer_cap, uint32_t batch_cap);

/* W_l[i][j], row-major indices as on the wire. */
void set_w(uint32_t l, uint32_t i, uint32_t j, int32_t v);
int32_t w_at(uint32_t l, uint32_t i, uint32_t j);

/* Store sample k of the buffer. */
void put_sample(uint32_t k, uint8_t label, const int8_t *x);

#endif
