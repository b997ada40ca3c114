"""FrameSizer: the payload size a client splits its transfers into, adapted
to the line the way a transport adapts its segment size.

A byte error rate e lets a frame of n bytes through with probability
(1 - e)^n: at 0.2 % a 1 KiB frame gets through one time in eight, a
128-byte one four times in five. The right size depends on a line nobody
has measured, so the client finds it: a frame that arrives damaged twice in
a row (a NAK, a garbled answer) halves the size, and a run of frames that
pass on their first try at about the current size doubles it again, up to
the device's max_payload (or --chunk). Lost frames (timeouts) do not change
the size: a frame lost whole says nothing about its length.
"""
from __future__ import annotations

import dataclasses

MIN_FRAME_PAYLOAD = 32  # bytes: a WRITE_TENSOR of six values, a READ_TENSOR answer of seven
SHRINK_AFTER = 2  # damaged tries in a row of one frame that halve the size
GROW_AFTER = 8  # frames in a row through on their first try, at least half the size, that double it


@dataclasses.dataclass
class FrameSizeFigures:
    """What the sizer did, for results.json devices[].link.frame_payload."""

    largest: int  # the ceiling: the device's max_payload or --chunk
    current: int
    smallest: int  # the smallest size it went down to
    shrinks: int = 0
    grows: int = 0

    def to_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class FrameSizer:
    def __init__(self, ceiling: int, floor: int = MIN_FRAME_PAYLOAD):
        self.ceiling = int(ceiling)
        self.floor = min(int(floor), self.ceiling)
        self.limit = self.ceiling
        self._clean = 0  # frames through on their first try since the last damage
        self.figures = FrameSizeFigures(largest=self.ceiling, current=self.limit, smallest=self.limit)

    def damaged(self, size: int, in_a_row: int) -> bool:
        """A try of a frame with `size` payload bytes came back damaged, the
        `in_a_row`-th time for this frame. True when the size has shrunk
        below `size`, so the frame is better split again than resent."""
        self._clean = 0
        if in_a_row < SHRINK_AFTER or self.limit <= self.floor:
            return False
        new = max(self.floor, min(self.limit, size) // 2)
        if new < self.limit:
            self.limit = new
            self.figures.shrinks += 1
            self._note()
        return self.limit < size

    def passed(self, size: int, first_try: bool) -> None:
        """A frame with `size` payload bytes got through."""
        if not first_try:
            self._clean = 0
            return
        if 2 * size < self.limit:  # a small frame says little about a full one
            return
        self._clean += 1
        if self._clean >= GROW_AFTER and self.limit < self.ceiling:
            self.limit = min(self.ceiling, 2 * self.limit)
            self._clean = 0
            self.figures.grows += 1
            self._note()

    def _note(self) -> None:
        self.figures.current = self.limit
        self.figures.smallest = min(self.figures.smallest, self.limit)
