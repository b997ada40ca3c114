"""Server-side arithmetic of the federated schedule: aggregation and groups."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .arith import trunc_div
from .network import Model


def _mean(arrays: Sequence[np.ndarray]) -> np.ndarray:
    total = np.zeros(np.shape(arrays[0]), dtype=np.int64)
    for a in arrays:
        total += a  # int32 into int64: exact
    return trunc_div(total, len(arrays)).astype(np.int32)


def aggregate(models: Sequence[Model]) -> Model:
    """Full-network mode: per weight and bias, trunc(sum / K)."""
    if not models:
        raise ValueError("nothing to aggregate")
    n = models[0].n_layers
    return Model(
        [_mean([m.weights[l] for m in models]) for l in range(n)],
        [_mean([m.biases[l] for m in models]) for l in range(n)],
    )


def layer_groups(devices: int, layers: int) -> list[int]:
    """Single-layer mode: device i trains layer i // (K / L)."""
    if devices < layers or devices % layers:
        raise ValueError(
            f"single-layer mode needs the number of devices ({devices}) to be a "
            f"multiple of the number of layers ({layers})"
        )
    per = devices // layers
    return [i // per for i in range(devices)]


def aggregate_layers(global_model: Model, models: Sequence[Model], layers: Sequence[int]) -> Model:
    """Single-layer mode: layer l is the mean over the devices that trained l;
    a layer nobody trained keeps the global value."""
    out = global_model.copy()
    for l in range(global_model.n_layers):
        members = [m for m, lay in zip(models, layers) if lay == l]
        if members:
            out.weights[l] = _mean([m.weights[l] for m in members])
            out.biases[l] = _mean([m.biases[l] for m in members])
    return out
