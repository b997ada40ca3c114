"""The heart of the project: the host firmware and the NumPy reference give
the same integers for the same `tifed step` case.

Hundreds of generated cases (1..3 layers, weights at the int32 limits so
updates saturate, all-zero models whose predictions tie, batches that do not
divide n, every `layer` value, lr_inv powers of two and not) go through ONE
host device process; so do the same kinds of cases with 16-bit weights
(`weight_bits` 16: weights at the int16 limits, inputs wide enough that a
forward sum leaves int32). A few go through the whole `run_step` path
(files, process start and stop). A mismatch saves its case as an .npz to
reproduce with `tifed step`.
"""
from __future__ import annotations

import numpy as np
import pytest

import tifed_models
from tifed.boards.host import HostBoard
from tifed.protocol.client import DeviceClient
from tifed.step import device_step, reference_step, run_step, validate_case
from tifed.links.transport import open_link

N_CASES = 400
N_INT16_CASES = 200  # seeds N_CASES .. N_CASES + N_INT16_CASES - 1
INT32_MAX = 2**31 - 1
LR_INVS = [1, 2, 3, 7, 16, 100, 1000, 2048, 4096, 8192, 65535, 1_000_003]


def _tensor(rng, shape, style, weight_bits=32):
    top = 2 ** (weight_bits - 1) - 1
    if style == "zero":
        return np.zeros(shape, dtype=np.int64)
    if style == "small":
        return rng.integers(-3000, 3000, size=shape)
    if style == "wide":
        return rng.integers(-(top // 128), top // 128, size=shape)
    # "limit": within 40 of the width's lowest or highest value, so an update saturates
    sign = rng.choice([-1, 1], size=shape)
    near = rng.integers(0, 40, size=shape)
    return np.where(sign > 0, top - near, -top - 1 + near)


def make_case(seed: int, weight_bits: int = 32) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_layers = int(rng.choice([1, 2, 3], p=[0.2, 0.4, 0.4]))
    big = rng.random() < 0.1  # tensors and sample buffers that span many frames
    # 16-bit weights: some layers 0 of 600+ inputs whose every column has one
    # sign, fed rows of one sign, so that x @ W leaves int32 (the firmware's
    # int32 partial sums must not wrap).
    past_int32 = weight_bits == 16 and rng.random() < 0.15
    big = big or past_int32
    inputs, hidden = (301, 65) if big else (25, 17)
    dims = [int(rng.integers(600, 1016) if past_int32 else rng.integers(1, inputs))]  # one sample per frame
    dims += [int(d) for d in rng.integers(1, hidden, size=n_layers - 1)]
    dims.append(int(rng.integers(1, 11)))
    styles = ["zero", "small", "wide", "limit"]
    case: dict[str, np.ndarray] = {}
    for l, (i, o) in enumerate(zip(dims[:-1], dims[1:])):
        style = styles[seed % 4] if rng.random() < 0.7 else str(rng.choice(styles))
        case[f"w{l}"] = _tensor(rng, (i, o), style, weight_bits).astype(np.int32)
        case[f"b{l}"] = _tensor(rng, (o,), style, weight_bits).astype(np.int32)
    for l, units in enumerate(dims[1:-1]):
        if rng.random() < 0.15:  # the extremes of int16
            fb = rng.choice([-32768, 32767, 0], size=(dims[-1], units))
        else:
            r = tifed_models.feedback_range(dims[-1], units)
            fb = rng.integers(-r, r, size=(dims[-1], units))
        case[f"fb{l}"] = fb.astype(np.int64)
    n = int(rng.integers(0, 121 if big else 41))
    if past_int32:
        top = 2 ** (weight_bits - 1) - 1
        signs = rng.choice([-1, 1], size=dims[1])
        case["w0"] = np.where(signs > 0, top - rng.integers(0, 40, size=(dims[0], dims[1])),
                              -top - 1 + rng.integers(0, 40, size=(dims[0], dims[1]))).astype(np.int32)
        x = np.repeat(rng.choice([-128, 127], size=(n, 1)), dims[0], axis=1)
    elif rng.random() < 0.2:
        x = rng.choice([-128, 127, 0], size=(n, dims[0]))
    else:
        x = rng.integers(-128, 128, size=(n, dims[0]))
    case["x"] = x.astype(np.int8)
    case["t"] = tifed_models.targets(rng.integers(0, dims[-1], size=n), dims[-1])
    if rng.random() < 0.9:
        batch = int(rng.integers(1, max(2, n // 2 + 1)))
    else:  # no whole batch, or exactly one
        batch = max(1, n + int(rng.integers(0, 3)))
    case["batch"] = np.int64(batch)
    case["epochs"] = np.int64(rng.choice([0, 1, 1, 2, 3]))
    case["lr_inv"] = np.int64(rng.choice(LR_INVS))
    case["layer"] = np.int64(-1 if rng.random() < 0.4 else rng.integers(0, n_layers))
    if weight_bits != 32:
        case["weight_bits"] = np.int64(weight_bits)
    return case


CASES = {seed: make_case(seed) for seed in range(N_CASES)}
CASES.update({seed: make_case(seed, 16) for seed in range(N_CASES, N_CASES + N_INT16_CASES)})


def test_generated_cases_cover_the_edges(monkeypatch):
    """The generator really produces the cases this file promises."""
    assert sum(c["w0"].size > 1024 for c in CASES.values()) >= 10  # more than one 1 KiB frame
    import tifed_models.network as network

    clipped = []
    original = network.saturate_weights

    def counting_saturate(values, weight_bits=32):
        values = np.asarray(values)
        top = 2 ** (weight_bits - 1) - 1
        clipped.append(bool(values.size) and (values.max() > top or values.min() < -top - 1))
        return original(values, weight_bits)

    monkeypatch.setattr(network, "saturate_weights", counting_saturate)
    saturating, moved = {32: 0, 16: 0}, {32: 0, 16: 0}
    for case in CASES.values():
        clipped.clear()
        before = validate_case(case)
        model = reference_step(before)[0]
        saturating[before.weight_bits] += any(clipped)
        moved[before.weight_bits] += not model.equal(before.model)
    assert saturating[32] >= 10 and saturating[16] >= 10
    assert moved[32] >= N_CASES // 2 and moved[16] >= N_INT16_CASES // 2
    # 16-bit weights whose exact forward sum x @ W0 leaves int32.
    wide16 = [c for c in CASES.values() if "weight_bits" in c and len(c["x"])
              and int(np.abs(c["x"].astype(np.int64) @ c["w0"].astype(np.int64)).max()) > INT32_MAX]
    assert len(wide16) >= 5
    assert any(len(c["x"]) and c["batch"] <= len(c["x"]) and len(c["x"]) % c["batch"] for c in CASES.values())
    assert {int(c["layer"]) for c in CASES.values() if "w2" in c} == {-1, 0, 1, 2}
    all_zero = [c for c in CASES.values() if not any(v.any() for k, v in c.items() if k[0] in "wb" and k[1:].isdigit())]
    assert sum(len(c["x"]) > 1 and c["t"].shape[1] > 1 for c in all_zero) >= 5  # argmax ties
    assert {2048, 3, 1_000_003} <= {int(c["lr_inv"]) for c in CASES.values()}
    assert any(c["batch"] > len(c["x"]) for c in CASES.values())  # no whole batch at all


@pytest.fixture(scope="module")
def host_client(host_image):
    device = HostBoard().start(0)
    port = open_link(device.url)
    client = DeviceClient(port, name="host device", device=device, timeout=10)
    client.identify()
    yield client
    port.close()
    device.stop()


def _save(case: dict, directory, seed: int) -> str:
    path = directory / f"case-{seed}.npz"
    np.savez(path, **case)
    return str(path)


def differences(expected_model, expected_pred, got_model, got_pred) -> list[str]:
    """Where two step results differ, first index of each array."""
    problems = []
    got = got_model.to_arrays()
    for key, want in expected_model.to_arrays().items():
        have = got[key]
        if have.shape != want.shape:
            problems.append(f"{key}: shape {have.shape} vs {want.shape}")
        elif not np.array_equal(have, want):
            where = tuple(int(i) for i in np.argwhere(have != want)[0])
            problems.append(f"{key}{list(where)}: device {have[where]} reference {want[where]}")
    if not np.array_equal(got_pred, expected_pred):
        i = int(np.flatnonzero(got_pred != expected_pred)[0]) if got_pred.shape == expected_pred.shape else 0
        problems.append(f"pred[{i}]: device {got_pred[i:i+1]} reference {expected_pred[i:i+1]}")
    return problems


def test_differences_are_found():
    model, pred = reference_step(validate_case(CASES[7]))
    assert differences(model, pred, model.copy(), pred.copy()) == []
    off = model.copy()
    off.biases[-1][0] ^= 1
    assert differences(model, pred, off, pred)[0].startswith(f"b{len(off.biases) - 1}[0]")
    assert differences(model, pred, model, pred + 1)[0].startswith("pred[0]")


@pytest.mark.parametrize("seed", sorted(CASES))
def test_host_matches_reference(seed, host_client, tmp_path_factory):
    case = validate_case(CASES[seed])
    got_model, got_pred, _ = device_step(host_client, case)
    problems = differences(*reference_step(case), got_model, got_pred)
    if problems:
        saved = _save(CASES[seed], tmp_path_factory.mktemp("mismatch"), seed)
        pytest.fail(f"case {seed} dims {case.dims} ({saved}): " + "; ".join(problems[:4]))


@pytest.mark.parametrize("seed", [5, 42, 123, N_CASES + 3])
def test_run_step_files_match(seed, host_image, tmp_path):
    case_path = tmp_path / "case.npz"
    np.savez(case_path, **CASES[seed])
    run_step("reference", case_path, tmp_path / "reference.npz")
    summary = run_step("host", case_path, tmp_path / "host.npz")
    assert summary["engine"] == "host"
    with np.load(tmp_path / "reference.npz") as want, np.load(tmp_path / "host.npz") as have:
        assert sorted(want.files) == sorted(have.files)
        for key in want.files:
            assert have[key].dtype == want[key].dtype, key
            assert np.array_equal(have[key], want[key]), key
