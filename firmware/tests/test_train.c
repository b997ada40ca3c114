/*
 * Forward pass and DFA training (core/forward.c, core/train.c): small cases
 * computed by hand from algorithm.md. test_train_random.c compares random
 * cases with a naive implementation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/net.h"
#include "tests/support_net.h"

/* 2-2, one sample x = (3, -5), label 0, zero model, lr_inv 1:
 * z = 0, s = 0, a = 0, g = 1; e = (-16, 0) = d;
 * W -= x^T d = ((-48, 0), (80, 0)); b -= d. */
static void single_layer_one_sample(void **state)
{
    static const uint32_t dims[] = {2, 2};
    static const int8_t x[] = {3, -5};
    (void)state;
    setup_net(1, dims, 4, 4);
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
    setup_net(1, dims, 4, 4);
    put_sample(0, 0, x);
    put_sample(1, 0, x);
    assert_int_equal(net_train(&net, 2, 2, 1, 1, -1), 0);
    assert_int_equal(w_at(0, 0, 0), 96);
    assert_int_equal(w_at(0, 1, 0), -160);
    assert_int_equal(net.b[0][0], 32);

    setup_net(1, dims, 4, 4);
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
    setup_net(1, dims, 4, 4);
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
        setup_net(2, dims, 2, 2);
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
    setup_net(1, dims, 1, 1);
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

    setup_net(1, dims, 1, 1);
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
    setup_net(1, one, 1, 1);
    set_w(0, 0, 0, INT32_MAX - 100);
    set_w(0, 1, 0, INT32_MAX);
    net.b[0][0] = INT32_MAX - 1;
    put_sample(0, 0, x);
    assert_int_equal(net_train(&net, 1, 1, 1, 1, -1), 0);
    assert_int_equal(w_at(0, 0, 0), INT32_MAX);
    assert_int_equal(w_at(0, 1, 0), INT32_MAX - 8448);
    assert_int_equal(net.b[0][0], INT32_MAX);

    setup_net(1, two, 1, 1);
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

    setup_net(1, narrow, 1, 1);
    set_w(0, 0, 0, INT32_MAX);
    net.b[0][0] = INT32_MIN;
    put_sample(0, 1, x);
    assert_int_equal(net_train(&net, 1, 1, 1, 1, -1), 0);
    assert_int_equal(w_at(0, 0, 0), INT32_MAX - 127);
    assert_int_equal(w_at(0, 0, 1), 2032);
    assert_int_equal(net.b[0][0], INT32_MIN);
    assert_int_equal(net.b[0][1], 16);
}

/* The same clamp on the fused fast path (full panels of 4 outputs, two input
 * rows, int32 sums, lr_inv a power of two). 2-4, x = (127, -128), every
 * W = MAX - 10, label 0: z = -(MAX - 10), a = -127, g = 128 everywhere,
 * e = (-143, -127, -127, -127), d = (-2, -1, -1, -1); lr_inv 1:
 * W[0] += 127 |d| saturates, W[1] -= 128 |d|, b -= d. */
static void fused_update_saturates(void **state)
{
    static const uint32_t dims[] = {2, 4};
    static const int8_t x[] = {127, -128};
    uint32_t j;
    (void)state;
    setup_net(1, dims, 1, 1);
    for (j = 0; j < 4; j++) {
        set_w(0, 0, j, INT32_MAX - 10);
        set_w(0, 1, j, INT32_MAX - 10);
    }
    put_sample(0, 0, x);
    assert_int_equal(net_train(&net, 1, 1, 1, 1, -1), 0);
    for (j = 0; j < 4; j++)
        assert_int_equal(w_at(0, 0, j), INT32_MAX);
    assert_int_equal(w_at(0, 1, 0), INT32_MAX - 10 - 256);
    assert_int_equal(w_at(0, 1, 1), INT32_MAX - 10 - 128);
    assert_int_equal(w_at(0, 1, 3), INT32_MAX - 10 - 128);
    assert_int_equal(net.b[0][0], 2);
    assert_int_equal(net.b[0][3], 1);
}

/* 3-5-3 with all weights 0: every a = 0, g = 1, e = (-16, 0, 0) (label 0),
 * so the hidden deltas are d_j = -16 B[0][j] for every sample. With
 * B[0] = (2048, 2047, -2047, 1, 5): d = (-32768, -32752, 32752, -16, -80),
 * all int16, which the packed update takes (odd batch of 3: a zero pad;
 * rows 0-1 as a pair, row 2 alone; one full panel, then a one-column tail
 * in int32). With B[0][0] = -2048, d_0 = 32768 is not int16 and the int32
 * path does the same sums. Layer 0 at lr_inv 1: W[i][j] = -d_j S_i with
 * S = the column sums of x = (-2, 11, 6), and b[j] = -3 d_j. */
static void deltas_at_the_int16_edge(void **state)
{
    static const uint32_t dims[] = {3, 5, 3};
    static const int8_t x[3][3] = {{1, -2, 3}, {4, 5, -6}, {-7, 8, 9}};
    static const int16_t fb_row0[2][5] = {{2048, 2047, -2047, 1, 5}, {-2048, 2047, -2047, 1, 5}};
    static const int32_t column_sums[3] = {-2, 11, 6};
    uint32_t v, i, j, b;
    (void)state;
    for (v = 0; v < 2; v++) {
        setup_net(2, dims, 3, 3);
        for (j = 0; j < 5; j++)
            net.fb[0][j] = fb_row0[v][j]; /* B[0][j]: fb[l][k * out + j] with k = 0 */
        for (b = 0; b < 3; b++)
            put_sample(b, 0, x[b]);
        assert_int_equal(net_train(&net, 3, 3, 1, 1, 0), 0);
        for (j = 0; j < 5; j++) {
            const int32_t d = -16 * fb_row0[v][j];
            for (i = 0; i < 3; i++)
                assert_int_equal(w_at(0, i, j), -d * column_sums[i]);
            assert_int_equal(net.b[0][j], -3 * d);
        }
    }
}

/* 16-bit weights saturate at the int16 limits, on the fused path (lr_inv 2:
 * rows 0 and 2, 1 and 3 share pair words) and the generic one (lr_inv 1).
 * 4-4, x = (127, -128, 127, -128), label 0, every W = 32757:
 *   z = 2 (127 - 128) 32757 = -65514, s = -64, a = -96, g = 2,
 *   e = (-112, -96, -96, -96), d = (-56, -48, -48, -48);
 *   W[0], W[2] -= floor(127 d / lr) go past 32767 and stay there,
 *   W[1], W[3] -= floor(-128 d / lr) = (3584, 3072) / 2 or (7168, 6144) / 1,
 *   b -= floor(d / lr).
 * Every W = -32757 instead: z = 65514, s = 63, a = 95, g = 2,
 *   d = (39, 47, 47, 47): W[0], W[2] fall below -32768 and stay there,
 *   W[1], W[3] += (2496, 3008) at lr_inv 2, b = (-19, -23, -23, -23). */
static void int16_weights_saturate(void **state)
{
    static const uint32_t dims[] = {4, 4};
    static const int8_t x[] = {127, -128, 127, -128};
    static const uint32_t lrs[] = {2, 1};
    uint32_t v, i, j;
    (void)state;
    for (v = 0; v < 2; v++) {
        const int32_t lr = (int32_t)lrs[v], q0 = -128 * -56 / lr, q = -128 * -48 / lr;
        setup_net_bits(1, dims, 1, 1, 16);
        for (i = 0; i < 4; i++)
            for (j = 0; j < 4; j++)
                set_w(0, i, j, 32757);
        put_sample(0, 0, x);
        assert_int_equal(net_train(&net, 1, 1, 1, lrs[v], -1), 0);
        for (i = 0; i < 4; i += 2)
            for (j = 0; j < 4; j++) {
                assert_int_equal(w_at(0, i, j), INT16_MAX);
                assert_int_equal(w_at(0, i + 1, j), 32757 - (j == 0 ? q0 : q));
            }
        assert_int_equal(b_at(0, 0), 56 / lr);
        assert_int_equal(b_at(0, 3), 48 / lr);
    }
    setup_net_bits(1, dims, 1, 1, 16);
    for (i = 0; i < 4; i++)
        for (j = 0; j < 4; j++)
            set_w(0, i, j, -32757);
    put_sample(0, 0, x);
    assert_int_equal(net_train(&net, 1, 1, 1, 2, -1), 0);
    for (j = 0; j < 4; j++) {
        assert_int_equal(w_at(0, 0, j), INT16_MIN);
        assert_int_equal(w_at(0, 2, j), INT16_MIN);
        assert_int_equal(w_at(0, 1, j), -32757 + (j == 0 ? 2496 : 3008));
        assert_int_equal(w_at(0, 3, j), -32757 + (j == 0 ? 2496 : 3008));
    }
    assert_int_equal(b_at(0, 0), -19);
    assert_int_equal(b_at(0, 1), -23);
}

/* 16-bit weights need no bound: the forward pass is exact when a_prev @ W
 * leaves int32. 1027-3 (256 groups of 4 rows, three rows after them), every
 * x = -128: column 0 all -32768 gives z = 1027 * 2^22 > 2^32 (a = 128),
 * column 1 all 32767 gives z < -2^32 (a = -127); column 2 is zero but for
 * W[513][2] = 30000 (x = 5 there) and the three last rows (1000, 2000,
 * -500): z = 150000 - 128 * 2500 = -170000, s = -1, a = -2. */
static void int16_forward_is_exact_past_int32(void **state)
{
    static const uint32_t dims[] = {1027, 3};
    static int8_t x[1027];
    uint32_t i;
    (void)state;
    setup_net_bits(1, dims, 1, 1, 16);
    for (i = 0; i < 1027; i++) {
        x[i] = -128;
        set_w(0, i, 0, INT16_MIN);
        set_w(0, i, 1, INT16_MAX);
    }
    x[513] = 5;
    set_w(0, 513, 2, 30000);
    set_w(0, 1024, 2, 1000);
    set_w(0, 1025, 2, 2000);
    set_w(0, 1026, 2, -500);
    put_sample(0, 0, x);
    assert_int_equal(net_forward(&net, 0, 1), 0);
    assert_int_equal(net.act[0][0], 128);
    assert_int_equal(net.act[0][1], -127);
    assert_int_equal(net.act[0][2], -2);
}

static void predict_ties_go_to_the_first_class(void **state)
{
    static const uint32_t dims[] = {1, 5};
    static const int8_t x[] = {0};
    uint8_t pred[3];
    (void)state;
    setup_net(1, dims, 3, 2);
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
    setup_net(2, dims, 4, 2);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_layer_one_sample),
        cmocka_unit_test(batch_uses_pre_batch_weights),
        cmocka_unit_test(trailing_partial_batch_is_skipped),
        cmocka_unit_test(two_layers_with_feedback),
        cmocka_unit_test(pla_slopes_and_both_lr_paths),
        cmocka_unit_test(weights_saturate_at_int32),
        cmocka_unit_test(fused_update_saturates),
        cmocka_unit_test(deltas_at_the_int16_edge),
        cmocka_unit_test(int16_weights_saturate),
        cmocka_unit_test(int16_forward_is_exact_past_int32),
        cmocka_unit_test(predict_ties_go_to_the_first_class),
        cmocka_unit_test(rejects_out_of_range_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
