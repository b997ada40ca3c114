"""RAM a device needs for a model: the CONFIGURE formula of
firmware/protocol/PROTOCOL.md, so the server can refuse a model up front."""
from __future__ import annotations

from collections.abc import Sequence


def _a4(n: int) -> int:
    return (n + 3) & ~3


def arena_bytes(dims: Sequence[int], buffer_cap: int, batch_cap: int) -> int:
    dims = list(dims)
    classes = dims[-1]
    params = sum(4 * (i * o + o) for i, o in zip(dims[:-1], dims[1:]))
    feedback = _a4(2 * classes * sum(dims[1:-1]))
    samples = _a4(buffer_cap * dims[0]) + _a4(buffer_cap)
    rows = sum(_a4(2 * batch_cap * d) + _a4(batch_cap * d) + 4 * batch_cap * d for d in dims[1:])
    return params + feedback + samples + rows


def arena_breakdown(dims: Sequence[int], buffer_cap: int, batch_cap: int) -> dict[str, int]:
    """The same need split into its parts, for reports."""
    dims = list(dims)
    params = sum(4 * (i * o + o) for i, o in zip(dims[:-1], dims[1:]))
    feedback = _a4(2 * dims[-1] * sum(dims[1:-1]))
    samples = _a4(buffer_cap * dims[0]) + _a4(buffer_cap)
    total = arena_bytes(dims, buffer_cap, batch_cap)
    return {
        "weights": params,
        "feedback": feedback,
        "samples": samples,
        "activation_rows": total - params - feedback - samples,
        "total": total,
    }
