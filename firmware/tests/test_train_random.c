/*
 * Random training cases against a naive implementation written here
 * straight from algorithm.md (row-major, int64 everywhere, one loop per
 * formula). It checks what the hand-computed cases cannot cover: the panel
 * layout, the int32 and int64 kernels and the choice between them (weight
 * scales from 0 to the whole int32 range, feedback over all of int16),
 * odd sizes, single-layer mode, both learning-rate paths; and the same for
 * 16-bit weights (their kernels, the generic path, saturation at int16).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/intmath.h"
#include "core/net.h"
#include "tests/support_net.h"

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

/* Clamp to the storage width: int32, or int16 for 16-bit weights. */
static int64_t sat_bits(int64_t v, uint32_t bits)
{
    const int64_t hi = bits == 16u ? INT16_MAX : INT32_MAX, lo = -hi - 1;
    return v < lo ? lo : v > hi ? hi : v;
}

static void ref_train(uint32_t L, const uint32_t *dims, const int8_t *xs, const uint8_t *labels, uint32_t n,
                      uint32_t batch, uint32_t epochs, int64_t lr, int layer, uint32_t bits)
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
                        ref_w[l][i][j] = sat_bits(ref_w[l][i][j] - floor_div_i64(acc, lr), bits);
                    }
                    for (b = 0; b < batch; b++)
                        sum += d[b][l][j];
                    ref_b[l][j] = sat_bits(ref_b[l][j] - floor_div_i64(sum, lr), bits);
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

/* Uniform in [-scale, scale], scale <= INT32_MAX. */
static int32_t rnd_value(int32_t scale)
{
    uint32_t r = rnd(1u << 16) << 16 | rnd(1u << 16);
    return scale ? (int32_t)((int64_t)(r % (2u * (uint32_t)scale + 1u)) - scale) : 0;
}

/* Rounds of random cases with weights and biases stored in `bits`. */
static void random_rounds(uint32_t bits, uint32_t rounds)
{
    static const uint32_t lrs[] = {1, 2, 3, 64, 100, 2048, 4096, 5000};
    static const int32_t scales32[] = {0, 3, 1000, 200000, 50000000, INT32_MAX};
    static const int32_t scales16[] = {0, 3, 1000, 16000, 30000, INT16_MAX};
    static int8_t xs[NMAX * NMAX];
    static uint8_t labels[NMAX];
    uint32_t round;
    for (round = 0; round < rounds; round++) {
        uint32_t dims[5], L = 1 + rnd(4), l, i, j, k;
        const uint32_t n = 1 + rnd(NMAX), batch = 1 + rnd(n), epochs = 1 + rnd(3), lr = lrs[rnd(8)];
        const int32_t scale = (bits == 16u ? scales16 : scales32)[rnd(6)];
        const int layer = rnd(2) ? -1 : (int)rnd(L);
        for (l = 0; l <= L; l++)
            dims[l] = 1 + rnd(l == L ? 12 : 30);
        setup_net_bits(L, dims, n, batch, bits);
        for (l = 0; l < L; l++) {
            for (i = 0; i < dims[l]; i++)
                for (j = 0; j < dims[l + 1]; j++) {
                    int32_t v = rnd_value(scale);
                    ref_w[l][i][j] = v;
                    set_w(l, i, j, v);
                }
            for (j = 0; j < dims[l + 1]; j++) {
                int32_t v = rnd_value(scale);
                ref_b[l][j] = v;
                set_b(l, j, v);
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
        ref_train(L, dims, xs, labels, n, batch, epochs, lr, layer, bits);
        for (l = 0; l < L; l++) {
            for (i = 0; i < dims[l]; i++)
                for (j = 0; j < dims[l + 1]; j++)
                    if (w_at(l, i, j) != ref_w[l][i][j])
                        fail_msg("int%u round %u: W_%u[%u][%u] = %d, naive %lld", bits, round, l, i, j,
                                 w_at(l, i, j), (long long)ref_w[l][i][j]);
            for (j = 0; j < dims[l + 1]; j++)
                assert_true(b_at(l, j) == ref_b[l][j]);
        }
    }
}

static void train_matches_naive_reference(void **state)
{
    (void)state;
    random_rounds(32u, 300u);
}

static void int16_train_matches_naive_reference(void **state)
{
    (void)state;
    random_rounds(16u, 300u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(train_matches_naive_reference),
        cmocka_unit_test(int16_train_matches_naive_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
