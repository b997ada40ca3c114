"""A fast path for the `sim` board and the bench: the local updates of K
devices in one round at once, and the forward pass over a whole test set.

Same integers as network.train / network.forward (the reference), proven by
tests (suites/unit/test_fleet_reference.py) on generated cases and edge
values; it is never used to validate a device. Three things make it fast:

- Every product goes through float64 BLAS without looking at the data: an
  activation is at most 128 in magnitude (int8 input, PLA tanh output), a
  weight or bias at most 2^31 (int32), an error delta at most
  143 * C * r (update_checks.py), so `exact_bounds` shows from the model's
  shape alone that no partial sum of any product reaches 2^53, below which
  float64 adds and multiplies integers exactly, in any order. A shape for
  which it cannot show that (an input layer of 32,768 or more) takes the
  reference, device by device.
- The K devices are stacked: one (K, n, in) @ (K, in, out) product per layer
  instead of K calls, and in full mode the first mini-batch of every device
  starts from the one global model, so it is a single (K*n, in) @ (in, out)
  product. Weights stay float64 between mini-batches (no conversions).
- PLA tanh is a table of its 257 distinct inputs (network.pla_tanh applied
  to -128..128, clipped there: it is constant beyond). A power-of-two 1/lr
  scales the deltas before the product (d / lr_inv is exact, and so is every
  partial sum, a multiple of 1 / lr_inv below 2^53 / lr_inv), so the (K, in,
  out) weight step needs one floor and one subtraction; the saturation clip
  runs only when a weight could reach the int32 limits (batch_step_bound).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .arith import INT32_MAX, pla_tanh, weight_limits
from .network import Model, check_model_width, forward, train
from .prng import feedback_range

FLOAT_EXACT = 2**53  # every integer of smaller magnitude is a float64, and so are sums that stay below it
MAX_ACTIVATION = 128  # |x| for int8 inputs, |a| for PLA tanh outputs
MAX_ERROR = 143  # |a - t|, a in [-127, 128], t in {0, 16}

_PLA_INPUTS = np.arange(-128, 129)
_PLA_A, _PLA_G = pla_tanh(_PLA_INPUTS)


def _pla(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pla_tanh by table: a and g for every s (int64 array)."""
    i = np.clip(s, -128, 128) + 128
    return _PLA_A[i], _PLA_G[i]


def delta_bound(dims: Sequence[int], layer: int) -> int:
    """Largest |d| of a layer: |e| <= 143 for the last, |e @ B_l| <= 143 * C * r
    for a hidden one (|B_l| <= r), and dividing by g >= 1 only shrinks it."""
    classes = dims[-1]
    if layer == len(dims) - 2:
        return MAX_ERROR
    return MAX_ERROR * classes * feedback_range(classes, dims[layer + 1])


def batch_step_bound(dims: Sequence[int], layer: int, batch: int, lr_inv: int) -> tuple[int, int]:
    """Largest |change| one mini-batch makes to a weight and to a bias of
    `layer`: floor(sum of batch products / lr_inv), +1 for the floor of a
    negative (the server's update check and the saturation test below)."""
    d_max = delta_bound(dims, layer)
    return batch * MAX_ACTIVATION * d_max // lr_inv + 1, batch * d_max // lr_inv + 1


def exact_bounds(dims: Sequence[int], batch: int) -> bool:
    """True when every product of training and inference for a model of
    `dims` with mini-batches of `batch` stays below 2^53 (module docstring)."""
    for l, n_in in enumerate(dims[:-1]):
        if MAX_ACTIVATION * (INT32_MAX + 1) * n_in + (INT32_MAX + 1) >= FLOAT_EXACT:  # z = a @ W + b
            return False
        if MAX_ACTIVATION * delta_bound(dims, l) * batch >= FLOAT_EXACT:  # a_prev^T @ d
            return False
    return True


def _layer_forward(a: np.ndarray, w: np.ndarray, b: np.ndarray, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """a: (K, n, in) float64; w: (in, out) shared or (K, in, out); b: (out,) or (K, out)."""
    if w.ndim == 2:
        k, n, _ = a.shape
        z = (a.reshape(k * n, -1) @ w).reshape(k, n, -1)
    else:
        z = np.matmul(a, w)
    z += b if b.ndim == 1 else b[:, None, :]
    s = z.astype(np.int64) // (256 * n_in)
    return _pla(s)


def forward_exact(model: Model, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """network.forward for one model on many samples (a test set): the same
    activations and slopes, int64. x may be given as float64 already (a
    caller that evaluates often converts its test set once)."""
    dims = model.dims
    if not exact_bounds(dims, 1):
        return forward(model, x)
    a = np.asarray(x, dtype=np.float64)[None]
    acts, slopes = [], []
    for w, b, n_in in zip(model.weights, model.biases, dims[:-1]):
        act, g = _layer_forward(a, w.astype(np.float64), b.astype(np.float64), n_in)
        acts.append(act[0])
        slopes.append(g[0])
        a = act.astype(np.float64)
    return acts, slopes


def train_fleet(
    model: Model,
    feedback: Sequence[np.ndarray],
    xs: Sequence[np.ndarray],
    ts: Sequence[np.ndarray],
    lr_inv: int,
    batch: int,
    epochs: int,
    layers: Sequence[int],
    weight_bits: int = 32,
) -> list[Model]:
    """[network.train(model, feedback, xs[k], ts[k], lr_inv, batch, epochs,
    layers[k], weight_bits) for every device k], computed together."""
    k = len(xs)
    if not (len(ts) == len(layers) == k):
        raise ValueError("xs, ts and layers must have one entry per device")
    if lr_inv < 1 or batch < 1 or epochs < 0:
        raise ValueError("lr_inv and batch must be >= 1, epochs >= 0")
    for layer in layers:
        if not -1 <= layer < model.n_layers:
            raise ValueError(f"layer {layer} out of range for a {model.n_layers}-layer model")
    check_model_width(model, weight_bits)
    low, high = weight_limits(weight_bits)
    sizes = {np.shape(x)[0] for x in xs}
    if k == 0:
        return []
    if len(sizes) != 1 or not exact_bounds(model.dims, batch):
        return [train(model, feedback, x, t, lr_inv, batch, epochs, layer, weight_bits)
                for x, t, layer in zip(xs, ts, layers)]
    n = sizes.pop()
    x = np.stack([np.asarray(v, dtype=np.float64) for v in xs])  # (K, n, in0)
    t = np.stack([np.asarray(v, dtype=np.int64) for v in ts])  # (K, n, C)
    fb = [np.asarray(f, dtype=np.float64) for f in feedback]
    n_layers = model.n_layers
    dims = model.dims
    # Per layer: the devices that train it, and the weights: (in, out) while
    # every device still has the global ones, (K, in, out) once they differ.
    trainers = [np.array([i for i, lay in enumerate(layers) if lay in (-1, l)], dtype=np.intp)
                for l in range(n_layers)]
    ws = [w.astype(np.float64) for w in model.weights]
    bs = [b.astype(np.float64) for b in model.biases]
    pow2 = lr_inv & (lr_inv - 1) == 0
    # How far from zero each layer's weights and biases can be by now: the
    # clip to the storage width is needed only once that may pass its limit.
    reach = [[float(np.abs(w).max(initial=0)), float(np.abs(b).max(initial=0))] for w, b in zip(ws, bs)]
    steps = [batch_step_bound(dims, l, batch, lr_inv) for l in range(n_layers)]
    scratch: list[np.ndarray | None] = [None] * n_layers
    for _ in range(epochs):
        for start in range(0, n - batch + 1, batch):
            xb = x[:, start : start + batch]
            acts, slopes = [], []
            a = xb
            for l in range(n_layers):
                act, g = _layer_forward(a, ws[l], bs[l], dims[l])
                acts.append(act)
                slopes.append(g)
                a = act.astype(np.float64)
            e = acts[-1] - t[:, start : start + batch]
            for l in range(n_layers):
                who = trainers[l]
                if who.size == 0:
                    continue
                if l == n_layers - 1:
                    err = e[who]
                else:
                    err = np.matmul(e[who].astype(np.float64), fb[l]).astype(np.int64)
                d = err // slopes[l][who]
                a_prev = xb[who] if l == 0 else acts[l - 1][who].astype(np.float64)
                if scratch[l] is None:
                    scratch[l] = np.empty((who.size, dims[l], dims[l + 1]))
                step = scratch[l]
                if pow2:  # (a^T @ (d / lr)) is exactly dW / lr
                    np.matmul(a_prev.transpose(0, 2, 1), d * (1.0 / lr_inv), out=step)
                    np.floor(step, out=step)
                else:
                    np.matmul(a_prev.transpose(0, 2, 1), d.astype(np.float64), out=step)
                    step[...] = step.astype(np.int64) // lr_inv
                db = (d.sum(axis=1) // lr_inv).astype(np.float64)
                if ws[l].ndim == 2 and who.size == k:
                    ws[l] = ws[l][None] - step  # the devices part from the global weights here
                    bs[l] = bs[l][None] - db
                else:
                    if ws[l].ndim == 2:
                        ws[l] = np.repeat(ws[l][None], k, axis=0)
                        bs[l] = np.repeat(bs[l][None], k, axis=0)
                    if who.size == k:
                        ws[l] -= step
                        bs[l] -= db
                    else:
                        ws[l][who] -= step
                        bs[l][who] -= db
                for kind, arr in ((0, ws[l]), (1, bs[l])):
                    reach[l][kind] += steps[l][kind]
                    if reach[l][kind] > high:  # saturate (algorithm.md; int16 storage: models/README.md)
                        np.clip(arr, low, high, out=arr)
    out = []
    for i in range(k):
        out.append(Model(
            [(w if w.ndim == 2 else w[i]).astype(np.int32) for w in ws],
            [(b if b.ndim == 1 else b[i]).astype(np.int32) for b in bs],
        ))
    return out
