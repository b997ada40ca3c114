/* Network fixture for test_train.c and test_train_random.c. */
#include "tests/support_net.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static uint32_t arena_words[1 << 16];
tifed_net net;

void setup_net_bits(uint32_t n_layers, const uint32_t *dims, uint32_t buffer_cap, uint32_t batch_cap,
                    uint32_t weight_bits)
{
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words, sizeof arena_words, n_layers, dims, buffer_cap,
                                   batch_cap, weight_bits),
                     0);
}

void setup_net(uint32_t n_layers, const uint32_t *dims, uint32_t buffer_cap, uint32_t batch_cap)
{
    setup_net_bits(n_layers, dims, buffer_cap, batch_cap, 32u);
}

void set_w(uint32_t l, uint32_t i, uint32_t j, int32_t v)
{
    net_tensor_set(&net, NET_TENSOR_WEIGHTS << 4 | l, i * net.dims[l + 1] + j, v);
}

int32_t w_at(uint32_t l, uint32_t i, uint32_t j)
{
    return net_tensor_get(&net, NET_TENSOR_WEIGHTS << 4 | l, i * net.dims[l + 1] + j);
}

void set_b(uint32_t l, uint32_t j, int32_t v)
{
    net_tensor_set(&net, NET_TENSOR_BIAS << 4 | l, j, v);
}

int32_t b_at(uint32_t l, uint32_t j)
{
    return net_tensor_get(&net, NET_TENSOR_BIAS << 4 | l, j);
}

void put_sample(uint32_t k, uint8_t label, const int8_t *x)
{
    net.label[k] = label;
    memcpy(net.x + k * net.dims[0], x, net.dims[0]);
}
