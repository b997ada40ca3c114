"""Integer building blocks: exact matrix products, saturation and the PLA tanh.

Everything is int64 NumPy arithmetic; `//` is floor division, which is what
algorithm.md means by floor (the firmware has a helper for the same)."""
from __future__ import annotations

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# Storage widths of weights and biases: 32 is the paper's; 16 is this
# project's extension (models/README.md), saturating at the int16 limits.
WEIGHT_BITS = (32, 16)

# float64 represents every integer below 2**53 exactly, and BLAS sums in
# float64 are then exact too: the product is identical to an int64 product,
# only much faster. Above that bound we fall back to NumPy's int64 matmul.
_FLOAT_EXACT = 2**53


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for integer arrays, exact, as int64."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    inner = a.shape[-1]
    if a.size == 0 or b.size == 0 or inner == 0:
        return a @ b
    bound = int(np.abs(a).max()) * int(np.abs(b).max()) * inner
    if bound < _FLOAT_EXACT:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


def saturate_int32(v: np.ndarray) -> np.ndarray:
    """Clip int64 values into the int32 range (the firmware saturates too)."""
    return np.clip(v, INT32_MIN, INT32_MAX).astype(np.int32)


def weight_limits(weight_bits: int) -> tuple[int, int]:
    """The lowest and highest weight or bias of a storage width."""
    check_weight_bits(weight_bits)
    return -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1


def check_weight_bits(weight_bits: int) -> int:
    if isinstance(weight_bits, bool) or weight_bits not in WEIGHT_BITS:
        raise ValueError(f"weight storage width must be 16 or 32 bits, not {weight_bits!r}")
    return int(weight_bits)


def saturate_weights(v: np.ndarray, weight_bits: int = 32) -> np.ndarray:
    """Clip int64 values into the storage width's range (int32 arrays: a
    Model holds int32 whatever the width)."""
    lo, hi = weight_limits(weight_bits)
    return np.clip(v, lo, hi).astype(np.int32)


def pla_tanh(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-linear tanh of algorithm.md: activation a and inverse slope g."""
    s = np.asarray(s, dtype=np.int64)
    conditions = [
        s >= 128,
        s >= 75,
        s >= 32,
        s >= -31,
        s >= -74,
        s >= -127,
    ]
    a = np.select(
        conditions,
        [128, s // 4 + 88, s + 32, 2 * s, s - 32, s // 4 - 88],
        default=-127,
    )
    g = np.select(conditions, [128, 8, 2, 1, 2, 8], default=128)
    return a.astype(np.int64), g.astype(np.int64)


def trunc_div(num: np.ndarray, den: int) -> np.ndarray:
    """Division truncated toward zero (C's `/`), for the aggregation mean."""
    num = np.asarray(num, dtype=np.int64)
    q = np.abs(num) // den
    return np.where(num < 0, -q, q)
