"""`tifed step`: one device's local training on a given case (interfaces.md).

The case file holds the model, the feedback matrices, the data and the
training options; the result file the trained model and its predictions on
the case's inputs. Every engine (the reference, any board) must write the
same result for the same case, which is what the bit-exactness tests check.
"""
from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tifed.errors import ConfigError
from tifed.training.config import LIMITS

SCALARS = {  # name -> (lowest, highest) a device can take: the run's limits, but a case may train 0 epochs
    "lr_inv": LIMITS["lr_inv"],
    "batch": LIMITS["batch"],
    "epochs": (0, LIMITS["epochs"][1]),
}
MAX_LAYERS = 8
MAX_CLASSES = 256  # labels travel as one byte
MAX_DEVICE_SAMPLES = 2**16 - 1  # buffer_cap is a u16


@dataclasses.dataclass
class Case:
    model: Any  # tifed_models.Model
    feedback: list[np.ndarray]  # B_l, (C, out_l) int64, one per hidden layer
    x: np.ndarray  # (n, in_0) int8
    t: np.ndarray  # (n, C) int64
    labels: np.ndarray  # (n,) int64, argmax of t
    lr_inv: int
    batch: int
    epochs: int
    layer: int  # -1: all layers
    weight_bits: int = 32  # storage of weights and biases: 32, or 16 (int16, saturating there)

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(self.model.dims)

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


def load_case(path: str | os.PathLike) -> Case:
    """Read and check a CASE.npz; every problem is one ConfigError line."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ConfigError(f"case {path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"case {path}: unreadable ({reason})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ConfigError(f"case {path}: not an .npz archive")
    try:
        with data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"case {path}: unreadable ({reason})") from None
    return validate_case(arrays, str(path))


def _integer(arrays: Mapping[str, np.ndarray], key: str, where: str) -> np.ndarray:
    a = np.asarray(arrays[key])
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise ConfigError(f"{where}: {key} must be an integer array, not {a.dtype}")
    return a


def _in_range(a: np.ndarray, key: str, lo: int, hi: int, what: str, where: str) -> None:
    if a.size and (int(a.min()) < lo or int(a.max()) > hi):
        bad = int(a.min()) if int(a.min()) < lo else int(a.max())
        raise ConfigError(f"{where}: {key} has value {bad} outside {what} ({lo}..{hi})")


def _scalar(arrays: Mapping[str, np.ndarray], key: str, where: str) -> int:
    a = _integer(arrays, key, where)
    if a.size != 1:
        raise ConfigError(f"{where}: {key} must be a scalar, got shape {a.shape}")
    return int(a.reshape(()))


def _count_layers(arrays: Mapping[str, np.ndarray], where: str) -> int:
    """L from the keys w0..w{L-1}; a gap or a stray index is an error."""
    indices = {}
    for key in arrays:
        for prefix in ("fb", "w", "b"):
            if key.startswith(prefix) and key[len(prefix):].isdigit():
                indices.setdefault(prefix, set()).add(int(key[len(prefix):]))
                break  # other keys (metadata a writer adds) are ignored
    ws = indices.get("w", set())
    if not ws:
        raise ConfigError(f"{where}: missing key 'w0' (the first layer's weights)")
    n_layers = len(ws)
    for prefix, count in (("w", n_layers), ("b", n_layers), ("fb", n_layers - 1)):
        have = indices.get(prefix, set())
        for i in range(count):
            if i not in have:
                raise ConfigError(f"{where}: missing key '{prefix}{i}'")
        extra = sorted(have - set(range(count)))
        if extra:
            why = "has no hidden layer of that index" if prefix == "fb" else "does not follow the layers before it"
            raise ConfigError(f"{where}: key '{prefix}{extra[0]}' {why} (the model has {n_layers} layers)")
    if n_layers > MAX_LAYERS:
        raise ConfigError(f"{where}: {n_layers} layers; at most {MAX_LAYERS}")
    return n_layers


def validate_case(arrays: Mapping[str, np.ndarray], where: str = "case") -> Case:
    """Check the arrays of a case (keys, dtypes, shapes that chain, ranges)."""
    import tifed_models

    for key in ("x", "t", *SCALARS, "layer"):
        if key not in arrays:
            raise ConfigError(f"{where}: missing key {key!r}")
    n_layers = _count_layers(arrays, where)
    weight_bits = _scalar(arrays, "weight_bits", where) if "weight_bits" in arrays else 32
    if weight_bits not in (16, 32):
        raise ConfigError(f"{where}: weight_bits = {weight_bits}; 16 or 32")
    limit = 2 ** (weight_bits - 1)

    weights, biases = [], []
    for l in range(n_layers):
        w = _integer(arrays, f"w{l}", where)
        b = _integer(arrays, f"b{l}", where)
        if w.ndim != 2 or 0 in w.shape:
            raise ConfigError(f"{where}: w{l} must be a non-empty (in, out) matrix, got shape {w.shape}")
        if l and w.shape[0] != weights[-1].shape[1]:
            raise ConfigError(
                f"{where}: w{l} has {w.shape[0]} inputs but w{l - 1} has {weights[-1].shape[1]} outputs"
            )
        if any(d > 2**16 - 1 for d in w.shape):
            raise ConfigError(f"{where}: w{l} shape {w.shape}: sizes must fit 16 bits")
        if b.shape != (w.shape[1],):
            raise ConfigError(f"{where}: b{l} must have shape ({w.shape[1]},) to match w{l}, got {b.shape}")
        _in_range(w, f"w{l}", -limit, limit - 1, f"int{weight_bits}", where)
        _in_range(b, f"b{l}", -limit, limit - 1, f"int{weight_bits}", where)
        weights.append(w.astype(np.int32))
        biases.append(b.astype(np.int32))
    classes = weights[-1].shape[1]
    if classes > MAX_CLASSES:
        raise ConfigError(f"{where}: {classes} classes; at most {MAX_CLASSES}")

    feedback = []
    for l in range(n_layers - 1):
        fb = _integer(arrays, f"fb{l}", where)
        if fb.shape != (classes, weights[l].shape[1]):
            raise ConfigError(f"{where}: fb{l} must have shape ({classes}, {weights[l].shape[1]}), got {fb.shape}")
        _in_range(fb, f"fb{l}", -(2**15), 2**15 - 1, "int16", where)
        feedback.append(fb.astype(np.int64))

    x = _integer(arrays, "x", where)
    if x.ndim != 2 or x.shape[1] != weights[0].shape[0]:
        raise ConfigError(f"{where}: x must have shape (n, {weights[0].shape[0]}), got {x.shape}")
    _in_range(x, "x", -128, 127, "int8", where)
    t = _integer(arrays, "t", where)
    if t.shape != (x.shape[0], classes):
        raise ConfigError(f"{where}: t must have shape ({x.shape[0]}, {classes}), got {t.shape}")
    labels = np.argmax(t, axis=1) if t.size else np.zeros(0, dtype=np.int64)
    if not np.array_equal(t, tifed_models.targets(labels, classes)):
        row = int(np.flatnonzero((t != tifed_models.targets(labels, classes)).any(axis=1))[0])
        raise ConfigError(f"{where}: t row {row} is not a one-hot target times 16")

    scalars = {key: _scalar(arrays, key, where) for key in SCALARS}
    for key, (lo, hi) in SCALARS.items():
        if not lo <= scalars[key] <= hi:
            raise ConfigError(f"{where}: {key} = {scalars[key]} outside {lo}..{hi}")
    layer = _scalar(arrays, "layer", where)
    if not -1 <= layer < n_layers:
        raise ConfigError(f"{where}: layer = {layer}; -1 (all) or 0..{n_layers - 1}")

    return Case(
        model=tifed_models.Model(weights, biases),
        feedback=feedback,
        x=x.astype(np.int8),
        t=t.astype(np.int64),
        labels=labels.astype(np.int64),
        layer=layer,
        weight_bits=weight_bits,
        **scalars,
    )


def reference_step(case: Case) -> tuple[Any, np.ndarray]:
    import tifed_models

    model = tifed_models.train(
        case.model, case.feedback, case.x, case.t, case.lr_inv, case.batch, case.epochs, case.layer,
        case.weight_bits,
    )
    return model, tifed_models.predict(model, case.x)


def device_step(client: Any, case: Case) -> tuple[Any, np.ndarray, int]:
    """The same step on a device behind a DeviceClient; also returns the
    device's instruction/cycle counter for the training."""
    n = case.n
    if n > MAX_DEVICE_SAMPLES:
        raise ConfigError(f"{n} samples; a device buffer holds at most {MAX_DEVICE_SAMPLES}")
    if client.info is None:
        client.identify()
    # CONFIGURE zeroes the model and forgets old samples, so one device can
    # serve many cases in a row.
    client.configure(case.dims, buffer_cap=max(n, 1), batch_cap=max(1, min(case.batch, n)),
                     weight_bits=case.weight_bits)
    client.write_model(case.model)
    client.write_feedback(case.feedback)
    if n:
        client.write_samples(case.x, case.labels)
    counter = 0
    if case.epochs and case.batch <= n:  # otherwise no whole batch: nothing to train
        counter = client.train(n, case.batch, case.epochs, case.lr_inv, case.layer)
    model = client.read_model(case.dims)
    return model, client.predict(n), counter


def result_arrays(model: Any, pred: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays of a RESULT.npz: w*/b* as int32 and pred as int64, whatever
    the engine, so results of different engines compare equal dtype for dtype."""
    arrays = {key: np.asarray(a, dtype=np.int32) for key, a in model.to_arrays().items()}
    arrays["pred"] = np.asarray(pred, dtype=np.int64)
    return arrays


def reference_result(arrays: Mapping[str, np.ndarray], where: str = "case") -> dict[str, np.ndarray]:
    """`tifed step --engine reference` on the arrays of a CASE.npz, in memory."""
    model, pred = reference_step(validate_case(arrays, where))
    return result_arrays(model, pred)


def device_result(client: Any, arrays: Mapping[str, np.ndarray],
                  where: str = "case") -> tuple[dict[str, np.ndarray], int]:
    """`tifed step --engine BOARD` on the arrays of a CASE.npz, in memory, on
    the device behind `client`; also its instruction/cycle counter."""
    model, pred, counter = device_step(client, validate_case(arrays, where))
    return result_arrays(model, pred), counter


def write_result(path: str | os.PathLike, model: Any, pred: np.ndarray) -> None:
    arrays = result_arrays(model, pred)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:  # a file object: np.savez adds no ".npz" suffix
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def run_step(engine: str, in_path: str | os.PathLike, out_path: str | os.PathLike) -> dict:
    """`tifed step --engine ENGINE --in CASE --out RESULT`. ENGINE is
    `reference` or a board name (`sim` is the reference too). Returns a small
    summary (engine, dims, samples, counter) for the CLI to print."""
    case = load_case(in_path)
    counter = None
    if engine in ("reference", "sim"):
        model, pred = reference_step(case)
    else:
        model, pred, counter = _step_on_board(engine, case)
    write_result(out_path, model, pred)
    return {"engine": engine, "dims": case.dims, "samples": case.n, "counter": counter}


def _step_on_board(board_name: str, case: Case) -> tuple[Any, np.ndarray, int]:
    from tifed.connected import ConnectedDevice
    from tifed.boards.registry import get_board

    board = get_board(board_name)
    available = board.availability()
    if not available.runnable:
        raise ConfigError(available.why_not(f"board {board_name}"))
    with ConnectedDevice.start(board, 0, f"{board_name} device") as device:
        return device_step(device.client, case)
