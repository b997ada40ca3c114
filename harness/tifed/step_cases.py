"""`tifed step` cases made up for tests, and where two results differ: what
the acceptance keywords and a firmware team's own pytest tests (the pytest
plugin, docs/PYTEST_PLUGIN.md) build their bit-exactness checks from."""
from __future__ import annotations

from typing import Mapping

import numpy as np

import tifed_models


def make_case(model: str, samples: int, *, batch: int, epochs: int, lr_inv: int, layer: int,
              seed: int) -> dict[str, np.ndarray]:
    """The arrays of a CASE.npz (interfaces.md "tifed step") for `model`
    ("64-32-10"): small random weights (so tanh's slopes vary and updates are
    not saturated), the run's own feedback matrices, random inputs and labels."""
    dims = tifed_models.parse_model(model)
    rng = np.random.default_rng(seed)
    case: dict[str, np.ndarray] = {}
    for l, (i, o) in enumerate(zip(dims[:-1], dims[1:])):
        case[f"w{l}"] = rng.integers(-3000, 3000, size=(i, o)).astype(np.int32)
        case[f"b{l}"] = rng.integers(-3000, 3000, size=o).astype(np.int32)
    for l, fb in enumerate(tifed_models.feedback_matrices(dims, seed)):
        case[f"fb{l}"] = np.asarray(fb, dtype=np.int64)
    labels = rng.integers(0, dims[-1], size=samples)
    case["x"] = rng.integers(-128, 128, size=(samples, dims[0])).astype(np.int8)
    case["t"] = tifed_models.targets(labels, dims[-1]).astype(np.int64)
    for key, value in (("lr_inv", lr_inv), ("batch", batch), ("epochs", epochs), ("layer", layer)):
        case[key] = np.array(value, dtype=np.int64)
    return case


def first_difference(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> str | None:
    """Where two results first differ, in words; None when identical."""
    if sorted(a) != sorted(b):
        return f"keys {sorted(a)} vs {sorted(b)}"
    for key in sorted(a):
        x, y = np.asarray(a[key]), np.asarray(b[key])
        if x.shape != y.shape:
            return f"{key}: shape {x.shape} vs {y.shape}"
        unequal = np.argwhere(x != y)
        if unequal.size:
            at = tuple(int(i) for i in unequal[0])
            return f"{key}{list(at)}: {x[at]} vs {y[at]} ({len(unequal)} of {x.size} values differ)"
    return None
