"""The feedback PRNG (models/README.md): a counter-based integer hash, so all
entries come out of one vectorized expression and the C side needs no state."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

_MASK = np.uint64(0xFFFFFFFF)


def mix32(x: np.ndarray) -> np.ndarray:
    """lowbias32 hash of uint32 values (held in uint64 to multiply safely)."""
    x = np.asarray(x, dtype=np.uint64) & _MASK
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & _MASK
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & _MASK
    x ^= x >> np.uint64(16)
    return x


def feedback_range(classes: int, units: int) -> int:
    """r of algorithm.md: entries are uniform in [-r, r-1]."""
    return math.isqrt((12 * 32767) // (classes + units))


def feedback_stream(seed: int, start: int, count: int, r: int) -> np.ndarray:
    """Entries start .. start+count-1 of the stream for seed, in [-r, r-1]."""
    key = mix32(np.uint64(seed & 0xFFFFFFFF))
    i = np.arange(start, start + count, dtype=np.uint64)
    u = mix32((key + i) & _MASK)
    return ((u * np.uint64(2 * r)) >> np.uint64(32)).astype(np.int64) - r


def feedback_matrices(dims: Sequence[int], seed: int) -> list[np.ndarray]:
    """B_l (C x d_{l+1}) for every hidden layer l, drawn from one counter."""
    classes = dims[-1]
    mats = []
    counter = 0
    for units in dims[1:-1]:
        r = feedback_range(classes, units)
        n = classes * units
        mats.append(feedback_stream(seed, counter, n, r).reshape(classes, units))
        counter += n
    return mats
