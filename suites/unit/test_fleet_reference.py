"""The fast path (tifed_models.fleet) against the reference (network.train,
network.forward): the same integers on generated cases and edge values. The
reference itself is checked against the plain loops in test_reference.py
and against the firmware by the host and QEMU suites."""
import numpy as np
import pytest

import tifed_models as tm
from tifed_models import fleet

from test_reference import _random_case


def _random_fleet(rng, k=None):
    """test_reference's generated case for device 0, and devices 1..K-1 with
    their own inputs, targets and layer."""
    model, fb, x, t, lr_inv, batch, epochs, layer = _random_case(rng)
    k = k or int(rng.integers(1, 6))
    xs, ts, layers = [x], [t], [layer]
    for _ in range(k - 1):
        xs.append(rng.integers(-128, 127, x.shape, endpoint=True).astype(np.int8))
        ts.append(tm.targets(rng.integers(0, t.shape[1], t.shape[0]), t.shape[1]))
        layers.append(int(rng.integers(-1, model.n_layers)))
    return model, fb, xs, ts, int(rng.choice([lr_inv, 8192])), batch, epochs, layers


def _reference(model, fb, xs, ts, lr_inv, batch, epochs, layers):
    return [tm.train(model, fb, x, t, lr_inv, batch, epochs, layer) for x, t, layer in zip(xs, ts, layers)]


def _assert_same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.equal(w)
        assert all(a.dtype == np.int32 for a in g.weights + g.biases)


@pytest.mark.parametrize("seed", range(300))
def test_fleet_equals_the_reference_on_generated_cases(seed):
    case = _random_fleet(np.random.default_rng(seed))
    _assert_same(fleet.train_fleet(*case), _reference(*case))


@pytest.mark.parametrize("mode", ["full", "single"])
def test_fleet_equals_the_reference_on_the_paper_network(mode):
    """784-200-10, 8 devices, buffer 50, batch 25, from a model trained a
    little (so activations leave zero), as the sim runs it."""
    rng = np.random.default_rng(7)
    dims = (784, 200, 10)
    fb = tm.feedback_matrices(dims, 3)
    xs = [rng.integers(-128, 127, (50, 784), endpoint=True).astype(np.int8) for _ in range(8)]
    ts = [tm.targets(rng.integers(0, 10, 50), 10) for _ in range(8)]
    g = tm.Model.zeros(dims)
    layers = [-1] * 8 if mode == "full" else tm.layer_groups(8, 2)
    for _ in range(3):
        want = _reference(g, fb, xs, ts, 2048, 25, 1, layers)
        _assert_same(fleet.train_fleet(g, fb, xs, ts, 2048, 25, 1, layers), want)
        g = tm.aggregate(want) if mode == "full" else tm.aggregate_layers(g, want, layers)
    acts, slopes = tm.forward(g, xs[0])
    fast_acts, fast_slopes = fleet.forward_exact(g, xs[0])
    assert all(np.array_equal(a, b) for a, b in zip(acts + slopes, fast_acts + fast_slopes))


def test_saturation_at_both_int32_limits():
    # z = -1 for output 0 on x = 1 and for output 1 on x = -1: a = -2, e = -18,
    # so device 0 pushes W[0, 0] up past INT32_MAX, device 1 W[0, 1] down past INT32_MIN.
    m = tm.Model.zeros((1, 2))
    m.weights[0][0] = [tm.INT32_MAX - 1, tm.INT32_MIN + 1]
    m.biases[0][:] = [tm.INT32_MIN + 1, tm.INT32_MIN]
    xs = [np.ones((4, 1), dtype=np.int8), -np.ones((4, 1), dtype=np.int8)]
    ts = [np.array([[16, 0]] * 4), np.array([[0, 16]] * 4)]
    got = fleet.train_fleet(m, [], xs, ts, 1, 4, 3, [-1, -1])
    want = _reference(m, [], xs, ts, 1, 4, 3, [-1, -1])
    _assert_same(got, want)
    values = np.concatenate([np.r_[g.weights[0].ravel(), g.biases[0]] for g in got])
    assert tm.INT32_MAX in values and tm.INT32_MIN in values


def test_largest_magnitudes_the_bounds_allow():
    """Every input -128 and every weight INT32_MIN: |z| is the largest a
    layer of this size can make, and the floor divisions are of negatives."""
    dims = (4096, 3, 2)
    m = tm.Model([np.full((4096, 3), tm.INT32_MIN, np.int32), np.full((3, 2), tm.INT32_MAX, np.int32)],
                 [np.full(3, tm.INT32_MIN, np.int32), np.full(2, tm.INT32_MIN, np.int32)])
    fb = tm.feedback_matrices(dims, 1)
    xs = [np.full((2, 4096), -128, np.int8), np.full((2, 4096), 127, np.int8)]
    ts = [tm.targets(np.array([0, 1]), 2)] * 2
    assert fleet.exact_bounds(dims, 2)
    _assert_same(fleet.train_fleet(m, fb, xs, ts, 3, 2, 2, [-1, 0]), _reference(m, fb, xs, ts, 3, 2, 2, [-1, 0]))
    for x in xs:
        assert all(np.array_equal(a, b) for a, b in zip(tm.forward(m, x)[0], fleet.forward_exact(m, x)[0]))


def test_floor_division_rounds_negative_steps_down_for_every_lr_inv():
    # d = -16 on one input of 100: the step is floor(-1600 / lr_inv), never truncated toward zero.
    m = tm.Model.zeros((1, 1))
    xs = [np.array([[100]], dtype=np.int8)]
    ts = [np.array([[16]])]
    for lr_inv in (1, 3, 1000, 1024, 1600, 1601, 2048, 4095):
        got = fleet.train_fleet(m, [], xs, ts, lr_inv, 1, 1, [-1])[0]
        assert got.weights[0][0, 0] == -(-1600 // lr_inv)
        _assert_same([got], _reference(m, [], xs, ts, lr_inv, 1, 1, [-1]))


def test_pla_table_is_pla_tanh_everywhere():
    s = np.concatenate([np.arange(-1000, 1001), [-(2**40), 2**40, -(2**62), 2**62]])
    a, g = fleet._pla(s)
    want_a, want_g = tm.pla_tanh(s)
    assert np.array_equal(a, want_a) and np.array_equal(g, want_g)


def test_exact_bounds_refuse_a_layer_too_wide_and_train_still_agrees():
    assert fleet.exact_bounds((784, 200, 10), 25)
    assert not fleet.exact_bounds((40000, 2), 1)  # 128 * 2^31 * 40000 > 2^53
    assert not fleet.exact_bounds((4, 3, 2), 2**40)
    # A shape past the bound takes the reference device by device.
    rng = np.random.default_rng(0)
    m = tm.Model([rng.integers(-(2**31), 2**31, (40000, 2)).astype(np.int32)], [np.zeros(2, np.int32)])
    xs = [rng.integers(-128, 128, (2, 40000)).astype(np.int8) for _ in range(2)]
    ts = [tm.targets(np.array([0, 1]), 2)] * 2
    _assert_same(fleet.train_fleet(m, [], xs, ts, 7, 1, 1, [-1, -1]), _reference(m, [], xs, ts, 7, 1, 1, [-1, -1]))


def test_devices_with_different_buffer_sizes_take_the_reference():
    rng = np.random.default_rng(1)
    model, fb, xs, ts, lr_inv, batch, epochs, layers = _random_fleet(rng, k=3)
    xs = [xs[0], xs[1][:1], xs[2]]
    ts = [ts[0], ts[1][:1], ts[2]]
    case = (model, fb, xs, ts, lr_inv, batch, epochs, layers)
    _assert_same(fleet.train_fleet(*case), _reference(*case))


def test_bad_arguments_are_refused_like_train():
    m = tm.Model.zeros((2, 2))
    with pytest.raises(ValueError, match="one entry per device"):
        fleet.train_fleet(m, [], [np.zeros((1, 2), np.int8)], [], 1, 1, 1, [-1])
    with pytest.raises(ValueError, match="out of range"):
        fleet.train_fleet(m, [], [np.zeros((1, 2), np.int8)], [np.zeros((1, 2))], 1, 1, 1, [3])
    assert fleet.train_fleet(m, [], [], [], 1, 1, 1, []) == []


@pytest.mark.parametrize("seed", range(40))
def test_fleet_equals_the_reference_with_weights_at_the_int32_limits(seed):
    """Generated models whose weights sit within a few steps of INT32_MIN or
    INT32_MAX, with small 1/lr: many updates saturate, on both sides."""
    rng = np.random.default_rng(1000 + seed)
    model, fb, xs, ts, _, batch, epochs, layers = _random_fleet(rng, k=3)
    for arr in model.weights + model.biases:
        near = rng.integers(0, 300, arr.shape)
        arr[...] = np.where(rng.random(arr.shape) < 0.5, tm.INT32_MIN + near, tm.INT32_MAX - near)
    lr_inv = int(rng.choice([1, 2, 3]))
    case = (model, fb, xs, ts, lr_inv, batch, epochs, layers)
    got = fleet.train_fleet(*case)
    _assert_same(got, _reference(*case))


@pytest.mark.parametrize("seed", range(100))
def test_fleet_equals_the_reference_with_16_bit_weights(seed):
    """weight_bits 16: the clip at the int16 limits, on generated fleets whose
    weights go up to them (test_reference's int16 cases)."""
    rng = np.random.default_rng(10_000 + seed)
    model, fb, x, t, lr_inv, batch, epochs, layer = _random_case(rng, 16)
    k = int(rng.integers(1, 5))
    xs = [x] + [rng.integers(-128, 127, x.shape, endpoint=True).astype(np.int8) for _ in range(k - 1)]
    ts = [t] + [tm.targets(rng.integers(0, t.shape[1], t.shape[0]), t.shape[1]) for _ in range(k - 1)]
    layers = [layer] + [int(rng.integers(-1, model.n_layers)) for _ in range(k - 1)]
    want = [tm.train(model, fb, xi, ti, lr_inv, batch, epochs, li, weight_bits=16) for xi, ti, li in zip(xs, ts, layers)]
    _assert_same(fleet.train_fleet(model, fb, xs, ts, lr_inv, batch, epochs, layers, weight_bits=16), want)


def test_16_bit_weights_saturate_on_the_fast_path_as_in_the_reference():
    """Every weight within 300 of an int16 limit and 1/lr 1: the fast path
    clips at int16 where int32 storage would not, like the reference."""
    rng = np.random.default_rng(16)
    dims = (6, 5, 3)
    model = tm.Model([rng.choice([-32768, 32767], (i, o)) - rng.integers(-300, 300, (i, o)).clip(None, 0)
                      * np.sign(rng.choice([-1, 1], (i, o))) for i, o in zip(dims[:-1], dims[1:])],
                     [rng.integers(-300, 300, o) for o in dims[1:]])
    model = tm.Model([np.clip(w, -32768, 32767).astype(np.int32) for w in model.weights],
                     [b.astype(np.int32) for b in model.biases])
    fb = tm.feedback_matrices(dims, 1)
    xs = [rng.integers(-128, 127, (8, 6), endpoint=True).astype(np.int8) for _ in range(3)]
    ts = [tm.targets(rng.integers(0, 3, 8), 3) for _ in range(3)]
    want = [tm.train(model, fb, x, t, 1, 4, 2, -1, weight_bits=16) for x, t in zip(xs, ts)]
    got = fleet.train_fleet(model, fb, xs, ts, 1, 4, 2, [-1] * 3, weight_bits=16)
    _assert_same(got, want)
    assert any((w == 32767).any() or (w == -32768).any() for m in got for w in m.weights)
    assert not all(m.equal(n) for m, n in zip(got, fleet.train_fleet(model, fb, xs, ts, 1, 4, 2, [-1] * 3)))
