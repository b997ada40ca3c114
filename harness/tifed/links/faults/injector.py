"""The fault injector of one direction of a link: bytes in, possibly damaged
bytes out, at the rates of a FaultSpec, from a seeded random stream.

Bytes are passed on frame by frame: a frame's bytes are held until its 0x00
delimiter arrives, so that a frame can be dropped, duplicated or delayed
whole. Byte faults apply as bytes arrive; a corrupted byte may become 0x00
and split a frame in two, as line noise does.
"""
from __future__ import annotations

import dataclasses
import random

from tifed.links.faults.spec import FaultSpec


@dataclasses.dataclass
class FaultCounts:
    bytes: int = 0  # bytes that went through the injector
    frames: int = 0
    bytes_corrupted: int = 0
    bytes_dropped: int = 0
    frames_dropped: int = 0
    frames_duplicated: int = 0
    frames_delayed: int = 0

    def add(self, other: "FaultCounts") -> "FaultCounts":
        return FaultCounts(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def to_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def sum_fault_counts(a: dict | None, b: dict | None) -> dict | None:
    """Two fault:// ports' fault_counts() added up (a link opened again)."""
    if a is None or b is None:
        return b if a is None else a
    return {k: sum_fault_counts(a[k], b[k]) if isinstance(a[k], dict) else a[k] + b[k] for k in a}


class FaultStream:
    def __init__(self, spec: FaultSpec, direction: str):
        self.spec = spec if spec.applies_to(direction) else FaultSpec(seed=spec.seed)
        # A string seed is hashed the same way in every process (unlike hash()).
        self._rng = random.Random(f"tifed-faults/{spec.seed}/{direction}")
        self._partial = bytearray()
        self._held: list[tuple[float, int, bytes]] = []  # (release time, order, frame)
        self._order = 0
        self.counts = FaultCounts()

    def feed(self, data: bytes, now: float) -> None:
        s, rng = self.spec, self._rng
        self.counts.bytes += len(data)
        if not (s.corrupt or s.byte_drop):
            self._split(data, now)
            return
        for byte in data:
            if s.byte_drop and rng.random() < s.byte_drop:
                self.counts.bytes_dropped += 1
                continue
            if s.corrupt and rng.random() < s.corrupt:
                byte ^= rng.randrange(1, 256)
                self.counts.bytes_corrupted += 1
            self._partial.append(byte)
            if byte == 0:
                self._frame_done(now)

    def _split(self, data: bytes, now: float) -> None:
        start = 0
        while (end := data.find(0, start)) >= 0:
            self._partial += data[start : end + 1]
            self._frame_done(now)
            start = end + 1
        self._partial += data[start:]

    def _frame_done(self, now: float) -> None:
        frame = bytes(self._partial)
        self._partial.clear()
        s, rng = self.spec, self._rng
        self.counts.frames += 1
        if len(frame) > 1:  # a lone delimiter is no frame to lose or repeat
            if s.drop and rng.random() < s.drop:
                self.counts.frames_dropped += 1
                return
            copies = 1
            if s.dup and rng.random() < s.dup:
                copies = 2
                self.counts.frames_duplicated += 1
            release = now
            if s.delay and rng.random() < s.delay:
                release = now + s.delay_s
                self.counts.frames_delayed += 1
            frame = frame * copies
        else:
            release = now
        self._order += 1
        self._held.append((release, self._order, frame))

    def take(self, now: float) -> bytes:
        """Every byte whose time has come, in release order."""
        if not self._held:
            return b""
        due = sorted(item for item in self._held if item[0] <= now)
        if not due:
            return b""
        self._held = [item for item in self._held if item[0] > now]
        return b"".join(frame for _, _, frame in due)

    def next_release(self) -> float | None:
        return min(item[0] for item in self._held) if self._held else None
