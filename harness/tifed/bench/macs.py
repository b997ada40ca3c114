"""Counting what a training step costs, independent of any board.

A MAC (interfaces.md "DIR/bench.json") is one multiply-accumulate of the
forward pass or of the weight update, per training sample. For a-b-c:
a*b + b*c forward, the same again for the update, plus C*b for the feedback
product e @ B_l of each hidden layer (C classes).
"""
from __future__ import annotations

from collections.abc import Sequence


def _pairs(dims: Sequence[int]) -> list[tuple[int, int]]:
    dims = [int(d) for d in dims]
    if len(dims) < 2 or any(d < 1 for d in dims):
        raise ValueError(f"a model needs at least two positive sizes, got {dims}")
    return list(zip(dims[:-1], dims[1:]))


def forward_macs(dims: Sequence[int]) -> int:
    return sum(i * o for i, o in _pairs(dims))


def macs_per_sample(dims: Sequence[int], layer: int = -1) -> int:
    """MACs of one training sample; `layer` -1 trains every layer (full
    mode), else only that one (single mode: the forward pass is still whole,
    the update and the feedback product only for the trained layer)."""
    pairs = _pairs(dims)
    if not -1 <= layer < len(pairs):
        raise ValueError(f"layer {layer} out of range for a {len(pairs)}-layer model")
    classes = int(dims[-1])
    last = len(pairs) - 1
    total = forward_macs(dims)
    for l, (i, o) in enumerate(pairs):
        if layer in (-1, l):
            total += i * o + (classes * o if l != last else 0)
    return total


def parameters(dims: Sequence[int], layers: Sequence[int] | None = None) -> int:
    """Weights and biases of the given layers (all when None)."""
    pairs = _pairs(dims)
    chosen = range(len(pairs)) if layers is None else layers
    return sum(pairs[l][0] * pairs[l][1] + pairs[l][1] for l in chosen)


def raw_int32_bytes(dims: Sequence[int], trained_layers: Sequence[int] | None = None) -> int:
    """One device-round's model traffic as bare int32 values, no framing:
    the global model down (every layer) and the trained layers back up."""
    return 4 * (parameters(dims) + parameters(dims, trained_layers))


def model_name(dims: Sequence[int]) -> str:
    return "-".join(str(int(d)) for d in dims)
