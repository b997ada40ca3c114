"""`tifed step`: case validation (one clear error each) and the reference engine."""
from __future__ import annotations

import numpy as np
import pytest

import tifed_models
from tifed.errors import ConfigError
from tifed.step import load_case, run_step, validate_case


def valid_case(dims=(6, 4, 3), n=5):
    rng = np.random.default_rng(0)
    case = {}
    for l, (i, o) in enumerate(zip(dims[:-1], dims[1:])):
        case[f"w{l}"] = rng.integers(-1000, 1000, size=(i, o)).astype(np.int32)
        case[f"b{l}"] = rng.integers(-1000, 1000, size=o).astype(np.int32)
    for l, o in enumerate(dims[1:-1]):
        case[f"fb{l}"] = rng.integers(-40, 40, size=(dims[-1], o)).astype(np.int64)
    case["x"] = rng.integers(-128, 128, size=(n, dims[0])).astype(np.int8)
    case["t"] = tifed_models.targets(rng.integers(0, dims[-1], size=n), dims[-1])
    case.update(lr_inv=np.int64(16), batch=np.int64(2), epochs=np.int64(2), layer=np.int64(-1))
    return case


def changed(**edits):
    case = valid_case()
    for key, value in edits.items():
        if value is None:
            del case[key]
        else:
            case[key] = value
    return case


def test_valid_case_is_accepted():
    case = validate_case(valid_case())
    assert case.dims == (6, 4, 3) and case.n == 5 and case.layer == -1
    assert list(case.labels) == list(np.argmax(valid_case()["t"], axis=1))


@pytest.mark.parametrize(
    "edits, message",
    [
        (dict(x=None), "missing key 'x'"),
        (dict(lr_inv=None), "missing key 'lr_inv'"),
        (dict(b1=None), "missing key 'b1'"),
        (dict(fb0=None), "missing key 'fb0'"),
        (dict(w0=None), "missing key 'w0'"),
        (dict(w3=np.zeros((3, 3), np.int32)), "missing key 'w2'"),
        (dict(b2=np.zeros(3, np.int32)), "'b2' does not follow"),
        (dict(fb1=np.zeros((3, 3), np.int32)), "'fb1' has no hidden layer"),
        (dict(w1=np.zeros((5, 3), np.int32)), "w1 has 5 inputs but w0 has 4 outputs"),
        (dict(b0=np.zeros(5, np.int32)), "b0 must have shape (4,)"),
        (dict(fb0=np.zeros((4, 3), np.int32)), "fb0 must have shape (3, 4)"),
        (dict(x=np.full((5, 6), 128)), "x has value 128 outside int8"),
        (dict(x=np.zeros((5, 7), np.int8)), "x must have shape (n, 6)"),
        (dict(x=np.zeros((5, 6), np.float32)), "x must be an integer array"),
        (dict(t=np.zeros((5, 3), np.int64)), "t row 0 is not a one-hot target times 16"),
        (dict(t=np.zeros((4, 3), np.int64)), "t must have shape (5, 3)"),
        (dict(w0=np.full((6, 4), 2**31)), "w0 has value 2147483648 outside int32"),
        (dict(fb0=np.full((3, 4), 40000)), "fb0 has value 40000 outside int16"),
        (dict(lr_inv=np.int64(0)), "lr_inv = 0 outside"),
        (dict(batch=np.int64(0)), "batch = 0 outside"),
        (dict(epochs=np.int64(-1)), "epochs = -1 outside"),
        (dict(layer=np.int64(2)), "layer = 2; -1 (all) or 0..1"),
        (dict(batch=np.array([1, 2])), "batch must be a scalar"),
    ],
)
def test_each_problem_has_one_clear_error(edits, message):
    with pytest.raises(ConfigError) as info:
        validate_case(changed(**edits))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_case(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ConfigError, match="unreadable"):
        load_case(tmp_path / "junk.npz")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(ConfigError, match="not an .npz archive"):
        load_case(tmp_path / "plain.npy")


def test_reference_step_writes_the_trained_model(tmp_path):
    case = valid_case()
    np.savez(tmp_path / "case.npz", **case)
    run_step("reference", tmp_path / "case.npz", tmp_path / "result")
    result = np.load(tmp_path / "result")  # written where asked, no ".npz" appended
    model = tifed_models.train(
        tifed_models.Model.from_arrays(case), [case["fb0"]], case["x"], case["t"], 16, 2, 2, -1
    )
    for key, value in model.to_arrays().items():
        assert result[key].dtype == np.int32
        assert np.array_equal(result[key], value)
    assert result["pred"].dtype == np.int64
    assert np.array_equal(result["pred"], tifed_models.predict(model, case["x"]))
    assert not model.equal(tifed_models.Model.from_arrays(case))  # training did change it


def test_unknown_engine_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "case.npz", **valid_case())
    with pytest.raises(ConfigError, match="unknown board 'nope'"):
        run_step("nope", tmp_path / "case.npz", tmp_path / "out.npz")
