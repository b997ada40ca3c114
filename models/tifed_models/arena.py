"""RAM a device needs for a model: the CONFIGURE formula of
firmware/protocol/PROTOCOL.md, so the server can refuse a model up front."""
from __future__ import annotations

from collections.abc import Sequence

from .arith import check_weight_bits


def _a4(n: int) -> int:
    return (n + 3) & ~3


def _rows4(n: int) -> int:
    return (n + 3) & ~3


def _params(dims: list[int], weight_bits: int) -> int:
    """W_l and b_l of every layer: int32; or int16 with the rows of W
    rounded up to a multiple of 4 (the firmware's groups) and b to 4 bytes."""
    if check_weight_bits(weight_bits) == 16:
        return sum(2 * _rows4(i) * o + _a4(2 * o) for i, o in zip(dims[:-1], dims[1:]))
    return sum(4 * (i * o + o) for i, o in zip(dims[:-1], dims[1:]))


def _pair_scratch(dims: list[int], batch_cap: int, weight_bits: int) -> int:
    """16-bit weights only: two samples' inputs as int16 pairs, or the
    update's columns of a batch for two row pairs (firmware/core/arena.c)."""
    if weight_bits != 16:
        return 0
    return 4 * max([2 * (batch_cap + (batch_cap & 1))] + [_rows4(d) for d in dims[:-1]])


def arena_bytes(dims: Sequence[int], buffer_cap: int, batch_cap: int, weight_bits: int = 32) -> int:
    dims = list(dims)
    classes = dims[-1]
    params = _params(dims, weight_bits)
    feedback = _a4(2 * classes * sum(dims[1:-1]))
    samples = _a4(buffer_cap * dims[0]) + _a4(buffer_cap)
    rows = sum(_a4(2 * batch_cap * d) + _a4(batch_cap * d) + 4 * batch_cap * d for d in dims[1:])
    return params + feedback + samples + rows + _pair_scratch(dims, batch_cap, weight_bits)


def arena_breakdown(dims: Sequence[int], buffer_cap: int, batch_cap: int, weight_bits: int = 32) -> dict[str, int]:
    """The same need split into its parts, for reports."""
    dims = list(dims)
    params = _params(dims, weight_bits)
    feedback = _a4(2 * dims[-1] * sum(dims[1:-1]))
    samples = _a4(buffer_cap * dims[0]) + _a4(buffer_cap)
    scratch = _pair_scratch(dims, batch_cap, weight_bits)
    total = arena_bytes(dims, buffer_cap, batch_cap, weight_bits)
    return {
        "weights": params,
        "feedback": feedback,
        "samples": samples,
        "activation_rows": total - params - feedback - samples - scratch,
        "pair_scratch": scratch,
        "total": total,
    }


def largest_hidden(inputs: int, classes: int, arena: int, buffer_cap: int, batch_cap: int,
                   weight_bits: int = 32) -> int:
    """The most hidden units H of an inputs-H-classes model whose arena fits
    `arena` bytes (0 when not even H = 1 fits). The need grows with H."""
    def fits(h: int) -> bool:
        return arena_bytes((inputs, h, classes), buffer_cap, batch_cap, weight_bits) <= arena

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while hi <= 65535 and fits(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, 65536)
    while hi - lo > 1:  # fits(lo), not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo
