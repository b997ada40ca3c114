"""How often to look again when Flower gives no event to wait on.

Flower's processes talk by polling: a SuperNode asks its SuperLink for
work, the ServerApp asks for replies, `tifed node` asks its SuperNode for
tasks. A fixed interval is either slow (Flower's SuperNode waits 3 s after
an empty pull) or, short, a steady load on a machine that idles for hours.
A Backoff is both quick and quiet: it looks again soon after the wait began
and ever less often as it goes on, so what arrives late in a long wait is
seen a fraction of that wait later, and an idle process settles at `most`.
"""
from __future__ import annotations


class Backoff:
    """Intervals `first`, `first * factor`, ... up to `most`; `reset()`
    when the awaited thing came (the next wait starts short again).

    After waiting a total T the next interval is about T * (factor - 1),
    so a thing that arrives during it is seen at most that much later."""

    def __init__(self, first: float, most: float, factor: float = 1.25):
        if not 0 < first <= most or factor < 1:
            raise ValueError(f"Backoff needs 0 < first <= most and factor >= 1, got {first}, {most}, {factor}")
        self.first = first
        self.most = most
        self.factor = factor
        self._next = first

    def next(self) -> float:
        """The interval to wait now."""
        wait = self._next
        self._next = min(self.most, wait * self.factor)
        return wait

    def reset(self) -> None:
        self._next = self.first
