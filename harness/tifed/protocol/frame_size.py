"""FrameSizer: the payload size a client splits its transfers into, adapted
to the line as a transport adapts its segment size.

A byte error rate e lets a frame of w bytes through with probability
(1 - e)^w: at 0.2 % a 1 KiB frame gets through one time in eight, a
128-byte one four times in five. Short frames get through, but each costs
a round trip; which size moves the most payload per second depends on the
error rate and on how the link's time splits into a fixed part per
exchange (the device's turnaround, an emulator's scheduling) and a part per
byte (the baud rate). Nobody measured either for a given cable, so the
client does, from its own exchanges:

- the byte error rate, from the share of tries that came back damaged (a
  NAK, a garbled answer) and their size: e = 1 - (1 - q)^(1/w);
- the time of one exchange, a + b * bytes, fitted to the answers that came
  back on their first try;

and picks, among the powers of two from MIN_FRAME_PAYLOAD up to the
device's max_payload (or --chunk), the size with the most payload per
second, (n - header) * (1 - e)^(n + overhead) / (a + b * (n + overhead)),
of those that get through at least a quarter of the time (so a poor
timing estimate never sends frames that hardly ever arrive). Both figures
are running averages that forget old exchanges (a line that gets better
lets the size grow back). Lost frames (timeouts) say nothing about size and
are not counted.
"""
from __future__ import annotations

import dataclasses
import math

MIN_FRAME_PAYLOAD = 32  # bytes: a WRITE_TENSOR of six values, a READ_TENSOR answer of seven
MIN_SUCCESS = 0.25  # the chosen size gets through on a try at least this often, by the estimate
FORGET = 0.97  # each try's weight in the running figures decays by this per later try
OVERHEAD = 26  # wire bytes of an exchange besides the payload: framing, the request or the answer
HEADER = 7  # payload bytes of a transfer frame that carry no data (WRITE_TENSOR's header)


@dataclasses.dataclass
class FrameSizeFigures:
    """What the sizer did, for results.json devices[].link.frame_payload."""

    largest: int  # the ceiling: the device's max_payload or --chunk
    current: int
    smallest: int  # the smallest size it went down to
    shrinks: int = 0
    grows: int = 0
    byte_error_rate: float = 0.0  # the estimate it chose by

    def to_json(self) -> dict[str, int | float]:
        return dataclasses.asdict(self)


class FrameSizer:
    def __init__(self, ceiling: int, floor: int = MIN_FRAME_PAYLOAD):
        self.ceiling = int(ceiling)
        self.floor = min(int(floor), self.ceiling)
        self.limit = self.ceiling
        sizes = [self.floor]
        while sizes[-1] * 2 < self.ceiling:
            sizes.append(sizes[-1] * 2)
        self.sizes = sorted(set(sizes + [self.ceiling]))
        # Running (forgetting) sums: tries, damaged tries, their wire bytes.
        self._tries = self._damaged = self._bytes = 0.0
        # Answers on the first try: count, sum of bytes, of seconds, of bytes^2, of bytes*seconds.
        self._n = self._sw = self._st = self._sww = self._swt = 0.0
        self.figures = FrameSizeFigures(largest=self.ceiling, current=self.limit, smallest=self.limit)

    # --- what the exchange tells it ----------------------------------------------

    def damaged(self, size: int) -> bool:
        """A try of a frame with `size` payload bytes came back damaged.
        True when the size has shrunk below `size`, so the frame is better
        split again than resent."""
        self._count_try(size, damaged=True)
        self._choose()
        return self.limit < size

    def passed(self, size: int, first_try: bool, seconds: float | None = None) -> None:
        """A frame with `size` payload bytes got through; `seconds` is the
        exchange's time when it got through on its first try."""
        self._count_try(size, damaged=False)
        if first_try and seconds is not None and seconds >= 0:
            self._time_sample(size + OVERHEAD, seconds)
        self._choose()

    # --- the estimates ----------------------------------------------------------------

    def _count_try(self, size: int, damaged: bool) -> None:
        self._tries = self._tries * FORGET + 1
        self._damaged = self._damaged * FORGET + damaged
        self._bytes = self._bytes * FORGET + size + OVERHEAD

    def _time_sample(self, wire: int, seconds: float) -> None:
        self._n = self._n * FORGET + 1
        self._sw = self._sw * FORGET + wire
        self._st = self._st * FORGET + seconds
        self._sww = self._sww * FORGET + wire * wire
        self._swt = self._swt * FORGET + wire * seconds

    def byte_error_rate(self) -> float:
        if self._damaged <= 0:
            return 0.0
        share = min(self._damaged / self._tries, 0.99)
        return 1 - (1 - share) ** (self._tries / self._bytes)

    def exchange_cost(self) -> tuple[float, float]:
        """(seconds per exchange, seconds per byte), fitted; with too little
        spread in sizes to tell them apart, all of it is per byte (the
        cautious guess: it favours short frames)."""
        if self._n < 2:
            return 0.0, 1.0
        mean_w, mean_t = self._sw / self._n, self._st / self._n
        var_w = self._sww / self._n - mean_w * mean_w
        if var_w <= (0.1 * mean_w) ** 2:
            return 0.0, max(mean_t / mean_w, 1e-9)
        per_byte = (self._swt / self._n - mean_w * mean_t) / var_w
        per_byte = max(per_byte, 1e-9)
        return max(mean_t - per_byte * mean_w, 0.0), per_byte

    def _choose(self) -> None:
        e = self.byte_error_rate()
        fixed, per_byte = self.exchange_cost()
        best, best_rate = self.sizes[0], -1.0
        for n in self.sizes:
            through = (1 - e) ** (n + OVERHEAD)
            if n != self.sizes[0] and through < MIN_SUCCESS:
                break
            rate = (n - HEADER) * through / (fixed + per_byte * (n + OVERHEAD))
            if rate > best_rate:
                best, best_rate = n, rate
        self.figures.byte_error_rate = round(e, 6)
        if best != self.limit:
            if best < self.limit:
                self.figures.shrinks += 1
            else:
                self.figures.grows += 1
            self.limit = best
            self.figures.current = best
            self.figures.smallest = min(self.figures.smallest, best)


def through_probability(byte_error_rate: float, payload: int) -> float:
    """How often a frame of `payload` bytes gets through (the sizer's model)."""
    return math.pow(1 - byte_error_rate, payload + OVERHEAD)
