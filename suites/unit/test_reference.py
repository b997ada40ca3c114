"""The NumPy reference against the spec's tables and an independent
plain-loop implementation, on generated cases and edge values."""
import math

import numpy as np
import pytest

import tifed_models as tm
from tifed_models import naive


def test_pla_tanh_matches_the_table_at_every_boundary():
    s = np.array([-10**9, -128, -127, -75, -74, -32, -31, 31, 32, 74, 75, 127, 128, 10**9])
    a, g = tm.pla_tanh(s)
    assert a.tolist() == [-127, -127, -120, -107, -106, -64, -62, 62, 64, 106, 106, 119, 128, 128]
    assert g.tolist() == [128, 128, 8, 8, 2, 2, 1, 1, 2, 2, 8, 8, 128, 128]


def test_pla_tanh_agrees_with_the_loop_version_everywhere_near_zero():
    s = np.arange(-400, 401)
    a, g = tm.pla_tanh(s)
    assert [naive._pla(int(v)) for v in s] == list(zip(a.tolist(), g.tolist()))


def test_feedback_range_is_43_for_the_paper_network():
    assert tm.feedback_range(10, 200) == 43
    assert tm.feedback_range(10, 32) == math.isqrt(12 * 32767 // 42)


def test_feedback_matrices_are_reproducible_and_in_range():
    dims = (20, 30, 7, 5)
    a = tm.feedback_matrices(dims, 1234)
    b = tm.feedback_matrices(dims, 1234)
    c = tm.feedback_matrices(dims, 1235)
    assert [m.shape for m in a] == [(5, 30), (5, 7)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    for m, units in zip(a, dims[1:-1]):
        r = tm.feedback_range(5, units)
        assert m.min() >= -r and m.max() <= r - 1


def test_feedback_prng_known_values():
    # Computed by hand from the README formula with Python ints (no NumPy).
    def mix(x):
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        x ^= x >> 16
        return x

    seed, r = 7, 43
    want = [((mix((mix(seed) + i) & 0xFFFFFFFF) * 2 * r) >> 32) - r for i in range(50)]
    assert tm.feedback_stream(seed, 0, 50, r).tolist() == want


def test_feedback_prng_is_uniform_enough():
    v = tm.feedback_stream(99, 0, 200_000, 43)
    counts = np.bincount(v + 43, minlength=86)
    assert counts.min() > 0.9 * 200_000 / 86 and counts.max() < 1.1 * 200_000 / 86


def test_floor_division_of_negative_values():
    # -1 // 2048 must be -1 (floor), not 0 (C truncation)
    m = tm.Model.zeros((1, 1))
    m.weights[0][0, 0] = 0
    x = np.array([[100]], dtype=np.int8)
    t = np.array([[0]])
    # forward: z=0 -> s=0 -> a=0, g=1; e=0-0=0 -> no change
    assert tm.train(m, [], x, t, 2048, 1, 1).equal(m)
    t = np.array([[16]])  # e = -16, d = -16, dW = floor(100*-16/2048) = floor(-0.78) = -1
    out = tm.train(m, [], x, t, 2048, 1, 1)
    assert out.weights[0][0, 0] == 1 and out.biases[0][0] == 1


def test_aggregation_truncates_toward_zero():
    models = [tm.Model.zeros((1, 3)) for _ in range(3)]
    for m, v in zip(models, ([1, -1, 5], [1, -1, 5], [0, 0, -1])):
        m.weights[0][0] = v
    agg = tm.aggregate(models)
    assert agg.weights[0][0].tolist() == [0, 0, 3]  # 2/3 -> 0, -2/3 -> 0, 9/3 -> 3


def test_single_layer_groups_and_aggregation():
    assert tm.layer_groups(4, 2) == [0, 0, 1, 1]
    assert tm.layer_groups(6, 3) == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="multiple"):
        tm.layer_groups(5, 2)
    g = tm.Model.zeros((2, 2, 2))
    devs = [g.copy() for _ in range(4)]
    for i, d in enumerate(devs):
        d.weights[0][:] = i + 1
        d.weights[1][:] = 10 * (i + 1)
    out = tm.aggregate_layers(g, devs, [0, 0, 1, 1])
    assert (out.weights[0] == 1).all()  # trunc((1 + 2) / 2)
    assert (out.weights[1] == 35).all()  # (30 + 40) / 2


def test_saturation_at_int32_limits():
    # z = (MAX-1) + (MIN+1) = -1 -> a = -2, e = -18: the update pushes W up
    # by 72 per batch, past INT32_MAX, where it must stick.
    m = tm.Model.zeros((1, 1))
    m.weights[0][0, 0] = tm.INT32_MAX - 1
    m.biases[0][0] = tm.INT32_MIN + 1
    x = np.ones((4, 1), dtype=np.int8)
    t = np.full((4, 1), 16)
    out = tm.train(m, [], x, t, 1, 4, 3)
    assert out.weights[0].dtype == np.int32
    assert out.weights[0][0, 0] == tm.INT32_MAX
    assert _naive_model(m, [], x, t, 1, 4, 3).equal(out)


def test_to_input_of_bytes_equals_p_minus_128():
    p = np.arange(256)
    want = [v - 128 for v in range(256)]
    assert tm.to_input(p.astype(np.uint8)).tolist() == want  # the bytes path (IDX files)
    assert tm.to_input(p).tolist() == want and tm.to_input(p).dtype == np.int8


def test_saturation_at_int16_limits_with_16_bit_weights():
    # The same case one width down: W at 32766, b at -32767, z = -1 -> a = -2,
    # e = -18; the update pushes W up past 32767 (where it sticks) and b
    # further up from -32767. With int32 storage W goes on to 32766 + 3 * 72.
    m = tm.Model.zeros((1, 1))
    m.weights[0][0, 0] = 32766
    m.biases[0][0] = -32767
    x = np.ones((4, 1), dtype=np.int8)
    t = np.full((4, 1), 16)
    out = tm.train(m, [], x, t, 1, 4, 3, weight_bits=16)
    assert out.weights[0].dtype == np.int32
    assert out.weights[0][0, 0] == 32767
    assert _naive_model(m, [], x, t, 1, 4, 3, weight_bits=16).equal(out)
    assert tm.train(m, [], x, t, 1, 4, 3).weights[0][0, 0] > 32767
    # and at the bottom: 2-1, x = (-128, -128), W = (-32760, 32760), b = -32760:
    # z = b, s = -64, a = -96, g = 2, e = -112, d = -56, so W[0] -= 7168
    # (past -32768, where it sticks) and W[1] falls to 25592.
    m = tm.Model([np.array([[-32760], [32760]], np.int32)], [np.array([-32760], np.int32)])
    x = np.full((2, 2), -128, dtype=np.int8)
    out = tm.train(m, [], x, np.full((2, 1), 16), 2, 2, 1, weight_bits=16)
    assert out.weights[0][:, 0].tolist() == [-32768, 25592]


def test_16_bit_weights_refuse_a_model_outside_int16():
    m = tm.Model.zeros((2, 3))
    m.biases[0][1] = 32768
    with pytest.raises(ValueError, match=r"b0 has value 32768 outside int16"):
        tm.train(m, [], np.zeros((1, 2), np.int8), np.zeros((1, 3)), 1, 1, 1, weight_bits=16)
    with pytest.raises(ValueError, match="16 or 32"):
        tm.train(m, [], np.zeros((1, 2), np.int8), np.zeros((1, 3)), 1, 1, 1, weight_bits=8)


def test_argmax_ties_pick_the_first_index():
    m = tm.Model.zeros((3, 4))
    assert tm.predict(m, np.ones((5, 3), dtype=np.int8)).tolist() == [0] * 5


def test_model_spec_parsing():
    assert tm.parse_model("784-200-10") == (784, 200, 10)
    assert tm.parse_model("8-4") == (8, 4)
    for bad in ("", "784", "784-x-10", "784--10", "0-10", "784-200-10-"):
        with pytest.raises(ValueError, match="model spec"):
            tm.parse_model(bad)


def _naive_model(m, fb, x, t, lr_inv, batch, epochs, layer=-1, weight_bits=32):
    w, b = naive.train(
        [wl.tolist() for wl in m.weights], [bl.tolist() for bl in m.biases],
        [f.tolist() for f in fb], x.astype(int).tolist(), t.tolist(),
        lr_inv, batch, epochs, layer, weight_bits,
    )
    return tm.Model([np.array(v, dtype=np.int32) for v in w], [np.array(v, dtype=np.int32) for v in b])


def _random_case(rng, weight_bits=32):
    n_layers = int(rng.integers(1, 4))
    dims = [int(rng.integers(1, 9)) for _ in range(n_layers + 1)]
    dims[-1] = max(dims[-1], 2)
    scale = int(rng.choice([100, 10**5, 2**31 - 1] if weight_bits == 32 else [100, 10**4, 2**15 - 1]))
    model = tm.Model(
        [rng.integers(-scale, scale, (i, o), endpoint=True).astype(np.int32) for i, o in zip(dims[:-1], dims[1:])],
        [rng.integers(-scale, scale, o, endpoint=True).astype(np.int32) for o in dims[1:]],
    )
    n = int(rng.integers(1, 12))
    x = rng.integers(-128, 127, (n, dims[0]), endpoint=True).astype(np.int8)
    t = tm.targets(rng.integers(0, dims[-1], n), dims[-1])
    fb = tm.feedback_matrices(dims, int(rng.integers(0, 2**32)))
    layer = int(rng.integers(-1, n_layers))
    return model, fb, x, t, int(rng.choice([1, 3, 2048, 4096, 5000])), int(rng.integers(1, 5)), int(rng.integers(1, 3)), layer


@pytest.mark.parametrize("seed", range(200))
def test_vectorized_reference_equals_plain_loops(seed):
    model, fb, x, t, lr_inv, batch, epochs, layer = _random_case(np.random.default_rng(seed))
    got = tm.train(model, fb, x, t, lr_inv, batch, epochs, layer)
    assert got.equal(_naive_model(model, fb, x, t, lr_inv, batch, epochs, layer))
    w = [wl.tolist() for wl in got.weights]
    b = [bl.tolist() for bl in got.biases]
    assert tm.predict(got, x).tolist() == naive.predict(w, b, x.astype(int).tolist())


@pytest.mark.parametrize("seed", range(100))
def test_vectorized_reference_equals_plain_loops_with_16_bit_weights(seed):
    model, fb, x, t, lr_inv, batch, epochs, layer = _random_case(np.random.default_rng(seed), 16)
    got = tm.train(model, fb, x, t, lr_inv, batch, epochs, layer, weight_bits=16)
    assert got.equal(_naive_model(model, fb, x, t, lr_inv, batch, epochs, layer, weight_bits=16))
    assert all(-32768 <= int(a.min()) and int(a.max()) <= 32767 for a in got.weights + got.biases)


def test_exact_matmul_falls_back_to_int64_beyond_float_precision():
    a = np.array([[2**31 - 1] * 3], dtype=np.int64)
    b = np.array([[2**26 + 1]] * 3, dtype=np.int64)
    assert int(tm.exact_matmul(a, b)[0, 0]) == 3 * (2**31 - 1) * (2**26 + 1)


def test_arena_formula_for_the_paper_network():
    # 784-200-10, buffer 50, batch 25, worked out from PROTOCOL.md by hand
    params = 4 * (784 * 200 + 200 + 200 * 10 + 10)
    feedback = 2 * 10 * 200
    samples = 50 * 784 + 52
    rows = (2 * 25 * 200 + 25 * 200 + 4 * 25 * 200) + (2 * 25 * 10 + 252 + 4 * 25 * 10)
    assert tm.arena_bytes((784, 200, 10), 50, 25) == params + feedback + samples + rows
    parts = tm.arena_breakdown((784, 200, 10), 50, 25)
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")


def test_arena_formula_with_16_bit_weights():
    # The same with int16 W (rows rounded up to a multiple of 4) and b (to 4
    # bytes), plus the pair scratch of 4 * max(rows4(d_l), even batch) bytes:
    # 784-64-10 fits the 188,792-byte arena of qemu-netduinoplus2, as int32
    # does not.
    params = 2 * (784 * 64 + 64 + 64 * 10 + 10)
    rest = tm.arena_bytes((784, 64, 10), 50, 25) - 4 * (784 * 64 + 64 + 64 * 10 + 10)
    assert tm.arena_bytes((784, 64, 10), 50, 25, 16) == params + rest + 4 * 784 == 158_400
    # 3-5-2: W0 2*4*5, b0 a4(10), W1 2*8*2, b1 a4(4) = 88 (not 128), scratch 4*8
    assert tm.arena_bytes((3, 5, 2), 7, 3, 16) == 332 - 128 + 88 + 32
    parts = tm.arena_breakdown((784, 64, 10), 50, 25, 16)
    assert parts["weights"] == params and parts["pair_scratch"] == 3136
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")
    assert tm.largest_hidden(784, 10, 188_792, 50, 25, 16) == 80
    assert tm.arena_bytes((784, 80, 10), 50, 25, 16) <= 188_792 < tm.arena_bytes((784, 81, 10), 50, 25, 16)
    assert tm.largest_hidden(784, 10, 188_792, 50, 25) == 43
    assert tm.largest_hidden(784, 10, 1000, 50, 25) == 0
