/*
 * Forward pass and DFA training (core/forward.c, core/train.c): small cases
 * computed by hand from algorithm.md, then random cases against a naive
 * implementation written here straight from algorithm.md (row-major,
 * one loop per formula), which checks the panel layout and the kernels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/intmath.h"
#include "core/net.h"

static uint32_t arena_words[1 << 16];
static tifed_net net;

static void configure(uint32_t n_layers, const uint32_t *dims, uint32_t buffer_cap, uint32_t batch_cap)
{
    assert_int_equal(net_configure(&net, (uint8_t *)arena_words, sizeof arena_words, n_layers, dims, buffer_cap,
                                   batch_cap),
                     0);
}

static void set_w(uint32_t l, uint32_t i, uint32_t j, int32_t v)
{
    net_tensor_set(&net, NET_TENSOR_WEIGHTS << 4 | l, i * net.dims[l + 1] + j, v);
}

static int32_t w_at(uint32_t l, uint32_t i, uint32_t j)
{
    return net_tensor_get(&net, NET_TENSOR_WEIGHTS << 4 | l, i * net.dims[l + 1] + j);
}

static void put_sample(uint32_t k, uint8_t label, const int8_t *x)
{
    net.label[k] = label;
    memcpy(net.x + k * net.dims[0], x, net.dims[0]);
}

/* 2-2, one sample x = (3, -5), label 0, zero model, lr_inv 1:
 * z = 0, s = 0, a = 0, g = 1; e = (-16, 0) = d;
 * W -= x^T d = ((-48, 0), (80, 0)); b -= d. */
static void single_layer_one_sample(void **state)
{
    static const uint32_t dims[] = {2, 2};
    static const int8_t x[] = {3, -5};
    (void)state;
    configure(1, dims, 4, 4);
    put_sample(0, 0, x);
    assert_int_equal(net_train(&net, 1, 1, 1, 1, -1), 0);
    assert_int_equal(w_at(0, 0, 0), 48);
    assert_int_equal(w_at(0, 0, 1), 0);
    assert_int_equal(w_at(0, 1, 0), -80);
    assert_int_equal(w_at(0, 1, 1), 0);
    assert_int_equal(net.b[0][0], 16);
    assert_int_equal(net.b[0][1], 0);
}

/* Two copies of that sample. As one batch of 2, both see the zero model:
 * the update doubles. As two batches of 1, the second sees W = (48, -80),
 * b = 16: z = 3*48 + 5*80 + 16 = 560, s = 560 // 512 = 1, a = 2, e = -14,
 * so W = (48 + 42, -80 - 70) and b = 16 + 14. */
static void batch_uses_pre_batch_weights(void **state)
{
    static const uint32_t dims[] = {2, 2};
    static const int8_t x[] = {3, -5};
    (void)state;
    configure(1, dims, 4, 4);
    put_sample(0, 0, x);
    put_sample(1, 0, x);
    assert_int_equal(net_train(&net, 2, 2, 1, 1, -1), 0);
    assert_int_equal(w_at(0, 0, 0), 96);
    assert_int_equal(w_at(0, 1, 0), -160);
    assert_int_equal(net.b[0][0], 32);

    configure(1, dims, 4, 4);
    put_sample(0, 0, x);
    put_sample(1, 0, x);
    assert_int_equal(net_train(&net, 2, 1, 1, 1, -1), 0);
    assert_int_equal(w_at(0, 0, 0), 90);
    assert_int_equal(w_at(0, 1, 0), -150);
    assert_int_equal(net.b[0][0], 30);
}

/* n = 3 in batches of 2: the third sample (another label) is skipped. */
static void trailing_partial_batch_is_skipped(void **state)
{
    static const uint32_t dims[] = {2, 2};
    static const int8_t x[] = {3, -5}, other[] = {100, 100};
    (void)state;
    configure(1, dims, 4, 4);
    put_sample(0, 0, x);
    put_sample(1, 0, x);
    put_sample(2, 1, other);
    assert_int_equal(net_train(&net, 3, 2, 1, 1, -1), 0);
    assert_int_equal(w_at(0, 0, 0), 96);
    assert_int_equal(w_at(0, 0, 1), 0);
    assert_int_equal(net.b[0][1], 0);
}

/* 2-1-2, x = (1, -2), label 0, zero model, B_0 = (3, -2)^T, lr_inv 32:
 * every a = 0, g = 1; e = (-16, 0); d_2 = e; d_1 = e @ B_0 = -48.
 * W_0 -= floor((-48, 96) / 32) = (-2, 3); b_0 -= floor(-48 / 32) = -2;
 * W_1 -= floor(0 / 32) = 0;  b_1 -= floor((-16, 0) / 32) = (-1, 0).
 * (Truncating division would give b_1 = (0, 0): floor matters.) */
static void two_layers_with_feedback(void **state)
{
    static const uint32_t dims[] = {2, 1, 2};
    static const int8_t x[] = {1, -2};
    int layer;
    (void)state;
    for (layer = -1; layer <= 1; layer++) {
        const int upd0 = layer != 1, upd1 = layer != 0;
        configure(2, dims, 2, 2);
        net.fb[0][0] = 3;
        net.fb[0][1] = -2;
        put_sample(0, 0, x);
        assert_int_equal(net_train(&net, 1, 1, 1, 32, layer), 0);
        assert_int_equal(w_at(0, 0, 0), upd0 ? 2 : 0);
        assert_int_equal(w_at(0, 1, 0), upd0 ? -3 : 0);
        assert_int_equal(net.b[0][0], upd0 ? 2 : 0);
        assert_int_equal(w_at(1, 0, 0), 0);
        assert_int_equal(w_at(1, 0, 1), 0);
        assert_int_equal(net.b[1][0], upd1 ? 1 : 0);
        assert_int_equal(net.b[1][1], 0);
    }
}

/* 2-2, x = (1, 0), label 1, W[0] = (512 * 40, -512 * 100):
 * s = (40, -100), a = (72, -113), g = (2, 8), e = (72, -129),
 * d = (36, floor(-129 / 8) = -17).
 * lr_inv 4: W[0] -= (9, floor(-17/4) = -5), b = (-9, 5).
 * lr_inv 3: W[0] -= (12, floor(-17/3) = -6), b = (-12, 6).
 * Then z = (20462, -51190) with lr_inv 4: s = (39, -100), predicted class 0. */
static void pla_slopes_and_both_lr_paths(void **state)
{
    static const uint32_t dims[] = {2, 2};
    static const int8_t x[] = {1, 0};
    uint8_t pred = 9;
    (void)state;
    configure(1, dims, 1, 1);
    set_w(0, 0, 0, 512 * 40);
    set_w(0, 0, 1, -512 * 100);
    put_sample(0, 1, x);
    assert_int_equal(net_forward(&net, 0, 1), 0);
    assert_int_equal(net.act[0][0], 72);
    assert_int_equal(net.act[0][1], -113);
    assert_int_equal(1 << net.g_log2[0][0], 2);
    assert_int_equal(1 << net.g_log2[0][1], 8);
    assert_int_equal(net_train(&net, 1, 1, 1, 4, -1), 0);
    assert_int_equal(w_at(0, 0, 0), 20471);
    assert_int_equal(w_at(0, 0, 1), -51195);
    assert_int_equal(w_at(0, 1, 0), 0);
    assert_int_equal(net.b[0][0], -9);
    assert_int_equal(net.b[0][1], 5);
    assert_int_equal(net_predict(&net, 0, 1, &pred), 0);
    assert_int_equal(pred, 0);
    assert_int_equal(net.act[0][0], 71);
    assert_int_equal(net.act[0][1], -113);

    configure(1, dims, 1, 1);
    set_w(0, 0, 0, 512 * 40);
    set_w(0, 0, 1, -512 * 100);
    put_sample(0, 1, x);
    assert_int_equal(net_train(&net, 1, 1, 1, 3, -1), 0);
    assert_int_equal(w_at(0, 0, 0), 20468);
    assert_int_equal(w_at(0, 0, 1), -51194);
    assert_int_equal(net.b[0][0], -12);
    assert_int_equal(net.b[0][1], 6);
}

/* Saturation, three cases with x = (127, -128) or (127).
 * 2-1, W = (MAX - 100, MAX), b = MAX - 1, label 0:
 *   z = 127 (2^31 - 101) - 128 (2^31 - 1) + 2^31 - 2 = -12701,
 *   s = -12701 // 512 = -25, a = -50, g = 1, e = d = -66;
 *   W -= x d = (-8382, 8448): W[0] saturates to MAX, W[1] = MAX - 8448;
 *   b -= -66 saturates to MAX.
 * 2-2, W[:,0] = (MIN + 100, MIN), b = 0, label 1:
 *   z = (2^31 + 12700, 0), a = (128, 0), g = (128, 1), e = (128, -16),
 *   d = (1, -16): W[0][0] = MIN + 100 - 127 saturates to MIN,
 *   W[1][0] = MIN + 128, W[:,1] = (2032, -2048), b = (-1, 16).
 * 1-2, x = (127), W = (MAX, 0), b = (MIN, 0), label 1:
 *   z0 = 127 MAX + MIN > 0, a0 = 128, d0 = 1: b0 = MIN - 1 saturates. */
static void weights_saturate_at_int32(void **state)
{
    static const uint32_t one[] = {2, 1}, two[] = {2, 2}, narrow[] = {1, 2};
    static const int8_t x[] = {127, -128};
    (void)state;
    configure(1, one, 1, 1);
    set_w(0, 0, 0, INT32_MAX - 100);
    set_w(0, 1, 0, INT32_MAX);
    net.b[0][0] = INT32_MAX - 1;
    put_sample(0, 0, x);
    assert_int_equal(net_train(&net, 1, 1, 1, 1, -1), 0);
    assert_int_equal(w_at(0, 0, 0), INT32_MAX);
    assert_int_equal(w_at(0, 1, 0), INT32_MAX - 8448);
    assert_int_equal(net.b[0][0], INT32_MAX);

    configure(1, two, 1, 1);
    set_w(0, 0, 0, INT32_MIN + 100);
    set_w(0, 1, 0, INT32_MIN);
    put_sample(0, 1, x);
    assert_int_equal(net_train(&net, 1, 1, 1, 1, -1), 0);
    assert_int_equal(w_at(0, 0, 0), INT32_MIN);
    assert_int_equal(w_at(0, 1, 0), INT32_MIN + 128);
    assert_int_equal(w_at(0, 0, 1), 2032);
    assert_int_equal(w_at(0, 1, 1), -2048);
    assert_int_equal(net.b[0][0], -1);
    assert_int_equal(net.b[0][1], 16);

    configure(1, narrow, 1, 1);
    set_w(0, 0, 0, INT32_MAX);
    net.b[0][0] = INT32_MIN;
    put_sample(0, 1, x);
    assert_int_equal(net_train(&net, 1, 1, 1, 1, -1), 0);
    assert_int_equal(w_at(0, 0, 0), INT32_MAX - 127);
    assert_int_equal(w_at(0, 0, 1), 2032);
    assert_int_equal(net.b[0][0], INT32_MIN);
    assert_int_equal(net.b[0][1], 16);
}

static void predict_ties_go_to_the_first_class(void **state)
{
    static const uint32_t dims[] = {1, 5};
    static const int8_t x[] = {0};
    uint8_t pred[3];
    (void)state;
    configure(1, dims, 3, 2);
    net.b[0][1] = 1000; /* s = 1000 // 256 = 3: a = 6 for classes 1 and 3 */
    net.b[0][3] = 1000;
    put_sample(0, 0, x);
    put_sample(1, 0, x);
    put_sample(2, 0, x);
    assert_int_equal(net_predict(&net, 0, 3, pred), 0); /* 3 samples, 2 rows: two chunks */
    assert_int_equal(pred[0], 1);
    assert_int_equal(pred[1], 1);
    assert_int_equal(pred[2], 1);
    memset(net.b[0], 0, 5 * sizeof(int32_t));
    assert_int_equal(net_predict(&net, 0, 1, pred), 0);
    assert_int_equal(pred[0], 0);
}

static void rejects_out_of_range_calls(void **state)
{
    static const uint32_t dims[] = {2, 3, 2};
    uint8_t pred[4];
    (void)state;
    configure(2, dims, 4, 2);
    assert_int_equal(net_train(&net, 4, 3, 1, 1, -1), -1); /* batch > batch_cap */
    assert_int_equal(net_train(&net, 5, 2, 1, 1, -1), -1); /* n > buffer_cap */
    assert_int_equal(net_train(&net, 4, 0, 1, 1, -1), -1);
    assert_int_equal(net_train(&net, 4, 2, 1, 0, -1), -1);
    assert_int_equal(net_train(&net, 4, 2, 1, 1, 2), -1);
    assert_int_equal(net_train(&net, 4, 2, 1, 1, -2), -1);
    assert_int_equal(net_forward(&net, 3, 2), -1);
    assert_int_equal(net_predict(&net, 2, 3, pred), -1);
    net_reset(&net);
    assert_int_equal(net_train(&net, 0, 1, 1, 1, -1), -1);
}

/* ---- a naive implementation of algorithm.md, for random comparisons ---- */

#define NMAX 48
static int64_t ref_w[4][NMAX][NMAX], ref_b[4][NMAX], ref_fb[4][NMAX][NMAX];

static void ref_forward(uint32_t L, const uint32_t *dims, const int8_t *x, int64_t a[][NMAX], int64_t g[][NMAX])
{
    uint32_t l, i, j;
    for (l = 0; l < L; l++)
        for (j = 0; j < dims[l + 1]; j++) {
            int64_t z = ref_b[l][j], s;
            for (i = 0; i < dims[l]; i++)
                z += (l == 0 ? x[i] : a[l - 1][i]) * ref_w[l][i][j];
            s = floor_div_i64(z, 256 * (int64_t)dims[l]);
            if (s >= 128) { a[l][j] = 128; g[l][j] = 128; }
            else if (s >= 75) { a[l][j] = floor_div_i64(s, 4) + 88; g[l][j] = 8; }
            else if (s >= 32) { a[l][j] = s + 32; g[l][j] = 2; }
            else if (s >= -31) { a[l][j] = 2 * s; g[l][j] = 1; }
            else if (s >= -74) { a[l][j] = s - 32; g[l][j] = 2; }
            else if (s >= -127) { a[l][j] = floor_div_i64(s, 4) - 88; g[l][j] = 8; }
            else { a[l][j] = -127; g[l][j] = 128; }
        }
}

static void ref_train(uint32_t L, const uint32_t *dims, const int8_t *xs, const uint8_t *labels, uint32_t n,
                      uint32_t batch, uint32_t epochs, int64_t lr, int layer)
{
    static int64_t a[NMAX][4][NMAX], g[NMAX][4][NMAX], d[NMAX][4][NMAX];
    const uint32_t C = dims[L];
    uint32_t ep, s, b, l, i, j, k;
    for (ep = 0; ep < epochs; ep++)
        for (s = 0; s + batch <= n; s += batch) {
            for (b = 0; b < batch; b++)
                ref_forward(L, dims, xs + (s + b) * dims[0], a[b], g[b]);
            for (b = 0; b < batch; b++)
                for (l = 0; l < L; l++)
                    for (j = 0; j < dims[l + 1]; j++) {
                        int64_t e = 0;
                        if (l == L - 1)
                            e = a[b][l][j] - (labels[s + b] == j ? 16 : 0);
                        else
                            for (k = 0; k < C; k++)
                                e += (a[b][L - 1][k] - (labels[s + b] == k ? 16 : 0)) * ref_fb[l][k][j];
                        d[b][l][j] = floor_div_i64(e, g[b][l][j]);
                    }
            for (l = 0; l < L; l++) {
                if (layer != -1 && (uint32_t)layer != l)
                    continue;
                for (j = 0; j < dims[l + 1]; j++) {
                    int64_t sum = 0;
                    for (i = 0; i < dims[l]; i++) {
                        int64_t acc = 0;
                        for (b = 0; b < batch; b++)
                            acc += (l == 0 ? xs[(s + b) * dims[0] + i] : a[b][l - 1][i]) * d[b][l][j];
                        ref_w[l][i][j] = sat_i32(ref_w[l][i][j] - floor_div_i64(acc, lr));
                    }
                    for (b = 0; b < batch; b++)
                        sum += d[b][l][j];
                    ref_b[l][j] = sat_i32(ref_b[l][j] - floor_div_i64(sum, lr));
                }
            }
        }
}

static uint32_t rng_state = 2024u;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (rng_state >> 8) % n;
}

static void train_matches_naive_reference(void **state)
{
    static const uint32_t lrs[] = {1, 2, 3, 64, 100, 2048, 4096, 5000};
    static const int32_t scales[] = {0, 3, 1000, 200000, 50000000};
    static int8_t xs[NMAX * NMAX];
    static uint8_t labels[NMAX];
    uint32_t round;
    (void)state;
    for (round = 0; round < 150; round++) {
        uint32_t dims[5], L = 1 + rnd(4), l, i, j, k;
        const uint32_t n = 1 + rnd(NMAX), batch = 1 + rnd(n), epochs = 1 + rnd(3), lr = lrs[rnd(8)];
        const int32_t scale = scales[rnd(5)];
        const int layer = rnd(2) ? -1 : (int)rnd(L);
        for (l = 0; l <= L; l++)
            dims[l] = 1 + rnd(l == L ? 12 : 30);
        configure(L, dims, n, batch);
        for (l = 0; l < L; l++) {
            for (i = 0; i < dims[l]; i++)
                for (j = 0; j < dims[l + 1]; j++) {
                    int32_t v = scale ? (int32_t)rnd(2u * (uint32_t)scale + 1u) - scale : 0;
                    ref_w[l][i][j] = v;
                    set_w(l, i, j, v);
                }
            for (j = 0; j < dims[l + 1]; j++) {
                int32_t v = scale ? (int32_t)rnd(2u * (uint32_t)scale + 1u) - scale : 0;
                ref_b[l][j] = v;
                net.b[l][j] = v;
            }
            if (l + 1 < L)
                for (k = 0; k < dims[L]; k++)
                    for (j = 0; j < dims[l + 1]; j++) {
                        int16_t v = (int16_t)((int32_t)rnd(65536) - 32768);
                        ref_fb[l][k][j] = v;
                        net.fb[l][k * dims[l + 1] + j] = v;
                    }
        }
        for (k = 0; k < n; k++) {
            labels[k] = (uint8_t)rnd(dims[L]);
            for (i = 0; i < dims[0]; i++)
                xs[k * dims[0] + i] = (int8_t)((int32_t)rnd(256) - 128);
            put_sample(k, labels[k], xs + k * dims[0]);
        }
        assert_int_equal(net_train(&net, n, batch, epochs, lr, layer), 0);
        ref_train(L, dims, xs, labels, n, batch, epochs, lr, layer);
        for (l = 0; l < L; l++) {
            for (i = 0; i < dims[l]; i++)
                for (j = 0; j < dims[l + 1]; j++)
                    if (w_at(l, i, j) != ref_w[l][i][j])
                        fail_msg("round %u: W_%u[%u][%u] = %d, naive %lld", round, l, i, j, w_at(l, i, j),
                                 (long long)ref_w[l][i][j]);
            for (j = 0; j < dims[l + 1]; j++)
                assert_true(net.b[l][j] == ref_b[l][j]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_layer_one_sample),
        cmocka_unit_test(batch_uses_pre_batch_weights),
        cmocka_unit_test(trailing_partial_batch_is_skipped),
        cmocka_unit_test(two_layers_with_feedback),
        cmocka_unit_test(pla_slopes_and_both_lr_paths),
        cmocka_unit_test(weights_saturate_at_int32),
        cmocka_unit_test(predict_ties_go_to_the_first_class),
        cmocka_unit_test(rejects_out_of_range_calls),
        cmocka_unit_test(train_matches_naive_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
