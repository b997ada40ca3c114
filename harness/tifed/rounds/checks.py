"""Is a device's update one that honest training could have produced?

Two checks, either of which rejects an update (it is logged and left out of
the aggregate):

- bounds (always): one pass of algorithm.md over n samples in mini-batches
  of `batch` moves each weight by a bounded amount, whatever the data, so a
  value further from the global model than that is corrupt or forged;
- validation (with --validate): the reference's own update for the same
  model and buffer, compared bit for bit (done by the federation).

The bound per mini-batch: |x| <= 128 and |a| <= 128 (PLA tanh); the error
e = a - t lies in [-143, 128]; the last layer's delta is e / g with g >= 1,
a hidden layer's is (e @ B_l) / g with |B_l| <= r (the feedback range), so
|d| <= 143 (last) or 143 * C * r (hidden). The step is
floor(sum over the batch of a_prev * d / lr_inv), so
|dW| <= batch * 128 * |d|max // lr_inv + 1 and |db| <= batch * |d|max // lr_inv + 1
(the +1: floor of a negative). Saturation at the int32 limits only shortens a step.
"""
from __future__ import annotations

from typing import Any, Collection, Mapping, Sequence

import numpy as np

import tifed_models

# The per-mini-batch bound itself is tifed_models.fleet.batch_step_bound (the
# fast path uses it to know when saturation can happen).


def step_bounds(dims: Sequence[int], n: int, batch: int, lr_inv: int) -> list[tuple[int, int]]:
    """Per layer: (largest |change| of a weight, of a bias) in one round."""
    batches = n // batch
    bounds = []
    for l in range(len(dims) - 1):
        w_step, b_step = tifed_models.fleet.batch_step_bound(dims, l, batch, lr_inv)
        bounds.append((batches * w_step, batches * b_step))
    return bounds


def out_of_bounds(before: tifed_models.Model, after: tifed_models.Model, layers: Sequence[int],
                  bounds: Sequence[tuple[int, int]]) -> str | None:
    """Why `after` cannot come from one round of training `before`, or None."""
    for l in layers:
        for kind, old, new, bound in (("W", before.weights[l], after.weights[l], bounds[l][0]),
                                      ("b", before.biases[l], after.biases[l], bounds[l][1])):
            if new.shape != old.shape:
                return f"{kind}{l} has shape {new.shape}, expected {old.shape}"
            step = np.abs(new.astype(np.int64) - old.astype(np.int64))
            worst = int(step.max()) if step.size else 0
            if worst > bound:
                where = np.unravel_index(int(step.argmax()), step.shape)
                return (f"{kind}{l}{list(map(int, where))} moved by {worst} in one round, "
                        f"more than training can ({bound})")
    return None


def differences(got: tifed_models.Model, want: tifed_models.Model, layers: Sequence[int], show: int = 3) -> str:
    """Which values of `got` differ from `want` in `layers`: how many, and
    the first few with both values ("" when none)."""
    count, shown = 0, []
    for l in layers:
        for kind, a, b in (("W", got.weights[l], want.weights[l]), ("b", got.biases[l], want.biases[l])):
            where = np.argwhere(np.asarray(a) != np.asarray(b))
            count += len(where)
            for idx in where[: max(0, show - len(shown))]:
                at = tuple(int(i) for i in idx)
                shown.append(f"{kind}{l}{list(at)} {int(a[at])} (reference {int(b[at])})")
    if not count:
        return ""
    verb = "value differs" if count == 1 else "values differ"
    return f"{count} {verb}: {', '.join(shown)}{', ...' if count > len(shown) else ''}"


def same_layers(a: tifed_models.Model, b: tifed_models.Model, layers: Sequence[int]) -> bool:
    return all(np.array_equal(a.weights[l], b.weights[l]) and np.array_equal(a.biases[l], b.biases[l]) for l in layers)


def judge_updates(before: tifed_models.Model, received: Mapping[int, Any],
                  reference: Mapping[int, tifed_models.Model | None] | None,
                  layers: Mapping[int, Sequence[int]], bounds: Sequence[tuple[int, int]],
                  digests: Mapping[int, str] | None = None, trusted: Collection[int] = ()):
    """Sort the round's updates (device -> an object with `.model` and
    `.digest`) into (accepted, rejections [{"device", "reason"}], mismatched
    devices); the last is None without validation (`reference` None). A
    device whose reference entry is None (board sim) is its own reference;
    a `trusted` device's update was computed by the server itself (sim): no
    bounds check. An update that carries a digest of the buffer it trained
    on must match `digests` (the server's copy of that buffer) or it is a
    mismatch."""
    accepted: dict[int, Any] = {}
    rejected: list[dict[str, Any]] = []
    mismatched: list[int] | None = None if reference is None else []
    for i in sorted(received):
        update = received[i]
        reason = None if i in trusted else out_of_bounds(before, update.model, layers[i], bounds)
        digest = getattr(update, "digest", None)
        if digest is not None and digest != (digests or {}).get(i):
            reason = reason or "trained on another buffer than the server's copy of its shard"
            if mismatched is not None:
                mismatched.append(i)
        else:
            expected = reference.get(i) if reference is not None else None
            if expected is not None and not same_layers(update.model, expected, layers[i]):
                mismatched.append(i)
                reason = reason or ("differs from the reference's update for the same model and buffer ("
                                    + differences(update.model, expected, layers[i]) + ")")
        if reason is None:
            accepted[i] = update
        else:
            rejected.append({"device": i, "reason": reason})
    return accepted, rejected, mismatched
