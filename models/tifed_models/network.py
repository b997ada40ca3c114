"""The network: model container, forward pass, DFA training (algorithm.md)."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .arith import check_weight_bits, exact_matmul, pla_tanh, saturate_weights, weight_limits

MAX_LAYERS = 8  # the firmware's static limit (firmware/core)


def parse_model(spec: str) -> tuple[int, ...]:
    """'784-200-10' -> (784, 200, 10); at least one layer (two sizes)."""
    parts = str(spec).strip().split("-")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"malformed model spec {spec!r}: expected sizes joined by '-', e.g. 64-32-10"
        ) from None
    if len(dims) < 2:
        raise ValueError(f"malformed model spec {spec!r}: needs at least an input and an output size")
    if len(dims) - 1 > MAX_LAYERS:
        raise ValueError(f"model spec {spec!r} has {len(dims) - 1} layers; the firmware supports at most {MAX_LAYERS}")
    if any(d < 1 or d > 65535 for d in dims):
        raise ValueError(f"malformed model spec {spec!r}: every size must be between 1 and 65535")
    if dims[-1] > 256:
        raise ValueError(f"model spec {spec!r}: at most 256 classes (labels travel as one byte)")
    return dims


@dataclasses.dataclass
class Model:
    """Weights W_l (in_l, out_l) and biases b_l (out_l,), int32."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    @property
    def dims(self) -> tuple[int, ...]:
        return (self.weights[0].shape[0],) + tuple(w.shape[1] for w in self.weights)

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    @classmethod
    def zeros(cls, dims: Sequence[int]) -> "Model":
        return cls(
            [np.zeros((i, o), dtype=np.int32) for i, o in zip(dims[:-1], dims[1:])],
            [np.zeros(o, dtype=np.int32) for o in dims[1:]],
        )

    def copy(self) -> "Model":
        return Model([w.copy() for w in self.weights], [b.copy() for b in self.biases])

    def to_arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"w{l}"] = w
            out[f"b{l}"] = b
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "Model":
        n = 0
        while f"w{n}" in arrays:
            n += 1
        if n == 0:
            raise ValueError("no weight arrays w0, w1, ... found")
        ws, bs = [], []
        for l in range(n):
            if f"b{l}" not in arrays:
                raise ValueError(f"weights w{l} have no bias b{l}")
            w = np.asarray(arrays[f"w{l}"])
            b = np.asarray(arrays[f"b{l}"])
            if w.ndim != 2 or b.shape != (w.shape[1],):
                raise ValueError(f"w{l} {w.shape} and b{l} {b.shape} do not form a layer")
            if l and w.shape[0] != ws[-1].shape[1]:
                raise ValueError(f"w{l} has {w.shape[0]} inputs but layer {l - 1} has {ws[-1].shape[1]} outputs")
            ws.append(_as_int32(w, f"w{l}"))
            bs.append(_as_int32(b, f"b{l}"))
        return cls(ws, bs)

    def equal(self, other: "Model") -> bool:
        return self.n_layers == other.n_layers and all(
            np.array_equal(a, b)
            for a, b in zip(self.weights + self.biases, other.weights + other.biases)
        )


def _as_int32(a: np.ndarray, name: str) -> np.ndarray:
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array, not {a.dtype}")
    if a.size and (a.min() < -(2**31) or a.max() > 2**31 - 1):
        raise ValueError(f"{name} has values outside int32")
    return a.astype(np.int32)


def to_input(pixels: np.ndarray) -> np.ndarray:
    """Pixels 0..255 -> int8 inputs p - 128. Bytes (an IDX image set) in
    one pass: p - 128 is p with its top bit flipped, read as int8."""
    p = np.asarray(pixels)
    if p.dtype == np.uint8:
        return (p ^ np.uint8(0x80)).view(np.int8)
    return (p.astype(np.int16) - 128).astype(np.int8)


def targets(labels: np.ndarray, classes: int) -> np.ndarray:
    """16 * onehot(label), (n, C) int64."""
    labels = np.asarray(labels, dtype=np.int64)
    t = np.zeros((labels.shape[0], classes), dtype=np.int64)
    t[np.arange(labels.shape[0]), labels] = 16
    return t


def forward(model: Model, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Activations and inverse slopes of every layer, (n, out_l) int64 each."""
    acts, slopes = [], []
    a = np.asarray(x, dtype=np.int64)
    for w, b in zip(model.weights, model.biases):
        z = exact_matmul(a, w) + b.astype(np.int64)
        s = z // (256 * w.shape[0])
        a, g = pla_tanh(s)
        acts.append(a)
        slopes.append(g)
    return acts, slopes


def predict(model: Model, x: np.ndarray) -> np.ndarray:
    """Argmax of the last activation; np.argmax keeps the first index on ties."""
    return np.argmax(forward(model, x)[0][-1], axis=1).astype(np.int64)


def train(
    model: Model,
    feedback: Sequence[np.ndarray],
    x: np.ndarray,
    t: np.ndarray,
    lr_inv: int,
    batch: int,
    epochs: int,
    layer: int = -1,
    weight_bits: int = 32,
) -> Model:
    """Local DFA training: `epochs` passes over x in consecutive mini-batches
    of `batch` (a trailing partial batch is skipped). Returns a new model.
    `weight_bits` is the storage width of weights and biases: every update
    saturates at its limits (16: this project's extension, models/README.md;
    the model must then already lie in int16)."""
    if lr_inv < 1 or batch < 1 or epochs < 0:
        raise ValueError("lr_inv and batch must be >= 1, epochs >= 0")
    if not -1 <= layer < model.n_layers:
        raise ValueError(f"layer {layer} out of range for a {model.n_layers}-layer model")
    check_model_width(model, weight_bits)
    m = model.copy()
    x = np.asarray(x, dtype=np.int64)
    t = np.asarray(t, dtype=np.int64)
    fb = [np.asarray(f, dtype=np.int64) for f in feedback]
    last = m.n_layers - 1
    for _ in range(epochs):
        for start in range(0, x.shape[0] - batch + 1, batch):
            xb = x[start : start + batch]
            acts, slopes = forward(m, xb)
            e = acts[-1] - t[start : start + batch]
            for l in range(m.n_layers):
                if layer not in (-1, l):
                    continue
                err = e if l == last else exact_matmul(e, fb[l])
                d = err // slopes[l]
                a_prev = xb if l == 0 else acts[l - 1]
                dw = exact_matmul(a_prev.T, d) // lr_inv
                db = d.sum(axis=0) // lr_inv
                m.weights[l] = saturate_weights(m.weights[l].astype(np.int64) - dw, weight_bits)
                m.biases[l] = saturate_weights(m.biases[l].astype(np.int64) - db, weight_bits)
    return m


def check_model_width(model: Model, weight_bits: int) -> None:
    """ValueError unless every weight and bias fits the storage width."""
    lo, hi = weight_limits(check_weight_bits(weight_bits))
    for name, arrays in (("w", model.weights), ("b", model.biases)):
        for l, a in enumerate(arrays):
            if a.size and (int(a.min()) < lo or int(a.max()) > hi):
                bad = int(a.min()) if int(a.min()) < lo else int(a.max())
                raise ValueError(f"{name}{l} has value {bad} outside int{weight_bits} ({lo}..{hi})")
