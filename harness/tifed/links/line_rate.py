"""The line-rate model: a link no faster than a real UART.

A host process, an emulator's socket or a pty moves bytes as fast as the
machine does; a physical board's UART moves one byte per 10 bit times
(8N1: a start bit, 8 data bits, a stop bit). `PacedLink` wraps any opened
link (host, QEMU, Renode, ser2net, fault://) and lets bytes through at
`baud` in each direction, so the round time of a board behind such a UART
can be measured here (`tifed run --line-rate BAUD`, the bench's line-rate
section).

The model, per direction (`UartLine`): the line is busy until the last byte
given to it has been shifted out. Towards the device, a write of n bytes
starts when the line is free and lasts n byte times; the device gets the
bytes when the last one is through (it acts on whole frames only). From
the device, each byte arrives one byte time after the later of its
appearance and the previous byte's arrival.
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable

from tifed.links.settings import BITS_PER_BYTE
from tifed.links.reading import read_available

INNER_POLL = 0.05  # seconds the reader thread blocks on the wrapped link at a time


def paced(port: Any, baud: int | None) -> Any:
    """`port` behind a PacedLink at `baud`; `port` itself for None."""
    return port if baud is None else PacedLink(port, baud)


class UartLine:
    """One direction of a UART: when bytes handed to it are through."""

    def __init__(self, baud: int):
        if baud < 1:
            raise ValueError(f"a line rate must be at least 1 baud, got {baud}")
        self.byte_time = BITS_PER_BYTE / baud
        self.free_at = 0.0

    def carry(self, now: float, n: int) -> float:
        """n bytes given at `now`: when the line has carried the first
        (returned) ... the last is through `n - 1` byte times later. The
        line is busy until then."""
        first = max(now, self.free_at) + self.byte_time
        self.free_at = first + (n - 1) * self.byte_time
        return first


class PacedLink:
    """A pyserial-like link (read, write, in_waiting, timeout,
    reset_input_buffer, close) that paces `inner` at `baud`."""

    def __init__(self, inner: Any, baud: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self._inner = inner
        self._clock, self._sleep = clock, sleep
        self.baud = baud
        self._down = UartLine(baud)
        self._up = UartLine(baud)
        self.timeout: float | None = getattr(inner, "timeout", None)
        self._cond = threading.Condition()
        self._queue: collections.deque[list] = collections.deque()  # [first byte's arrival, bytes, taken]
        self._error: BaseException | None = None
        self._closed = False
        try:
            inner.timeout = INNER_POLL
        except Exception:  # noqa: BLE001 - a link whose timeout is fixed: its own then
            pass
        self._reader = threading.Thread(target=self._pump, name="line-rate", daemon=True)
        self._reader.start()

    # --- towards the device -----------------------------------------------------

    def write(self, data: bytes) -> int:
        data = bytes(data)
        if not data:
            return 0
        last = self._down.carry(self._clock(), len(data)) + (len(data) - 1) * self._down.byte_time
        wait = last - self._clock()
        if wait > 0:
            self._sleep(wait)
        return self._inner.write(data)

    # --- from the device --------------------------------------------------------

    def _pump(self) -> None:
        while not self._closed:
            try:
                data = self._inner.read(1)
                if data:
                    data += read_available(self._inner, INNER_POLL)
            except Exception as exc:  # noqa: BLE001 - the link's own error, given to the next read
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            if data:
                with self._cond:
                    self._queue.append([self._up.carry(self._clock(), len(data)), data, 0])
                    self._cond.notify_all()

    def _arrived(self, now: float) -> int:
        count = 0
        for first, data, taken in self._queue:
            if first > now:
                break
            through = min(len(data), int((now - first) / self._up.byte_time + 1e-9) + 1)
            count += through - taken
            if through < len(data):
                break
        return count

    def _take(self, now: float, limit: int) -> bytes:
        out = bytearray()
        while self._queue and len(out) < limit:
            item = self._queue[0]
            first, data, taken = item
            if first > now:
                break
            through = min(len(data), int((now - first) / self._up.byte_time + 1e-9) + 1)
            n = min(through - taken, limit - len(out))
            out += data[taken : taken + n]
            item[2] = taken + n
            if item[2] == len(data):
                self._queue.popleft()
            elif item[2] == through:
                break
        return bytes(out)

    def _next_arrival(self) -> float | None:
        if not self._queue:
            return None
        first, _, taken = self._queue[0]
        return first + taken * self._up.byte_time

    def read(self, size: int = 1) -> bytes:
        """Up to `size` bytes that have arrived, waiting up to `timeout`
        for `size` of them (pyserial's semantics)."""
        deadline = None if self.timeout is None else self._clock() + self.timeout
        out = bytearray()
        with self._cond:
            while True:
                now = self._clock()
                out += self._take(now, size - len(out))
                if len(out) >= size or (deadline is not None and now >= deadline):
                    break
                if self._error is not None and not self._queue:
                    if out:
                        break
                    raise self._error
                until = self._next_arrival()
                if deadline is not None:
                    until = deadline if until is None else min(until, deadline)
                self._cond.wait(None if until is None else max(0.0, until - now))
        return bytes(out)

    @property
    def in_waiting(self) -> int:
        with self._cond:
            return self._arrived(self._clock())

    def reset_input_buffer(self) -> None:
        with self._cond:
            self._queue.clear()
        self._inner.reset_input_buffer()

    def close(self) -> None:
        self._closed = True
        try:
            self._inner.close()
        finally:
            self._reader.join(timeout=2 * INNER_POLL + 1)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)  # what the wrapped link reports (fault counts, port name, ...)
