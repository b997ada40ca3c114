"""DeviceLink: the byte link to one device as the server keeps it. It is
opened through serial_for_url (behind a fault:// injector with --faults,
and paced like a UART with --line-rate: links/line_rate.py),
and opened again when it breaks: a board that reset, a USB port that
re-enumerated (/dev/ttyACM0 gone for a second), an emulator started again
behind the same address. Attempts back off (50 ms doubling to 1 s) within
the rejoin budget (--rejoin-timeout); a device whose process exited by
itself is not waited for.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from tifed.boards.base import RunningDevice
from tifed.errors import DeviceError, DeviceGone, LinkError, ProtocolError, one_line
from tifed.links.faults import FaultSpec, fault_url, sum_fault_counts
from tifed.links.line_rate import paced
from tifed.links.transport import LINK_ERRORS, open_link

FIRST_WAIT = 0.05  # seconds before the second attempt to open a broken link
LONGEST_WAIT = 1.0  # seconds between attempts, at most


class DeviceLink:
    def __init__(self, running: RunningDevice, index: int, faults: FaultSpec | None, rejoin_timeout: float,
                 line_rate: int | None = None):
        self.running = running
        self.index = index
        self.faults = faults
        self.rejoin_timeout = rejoin_timeout
        self.line_rate = line_rate
        self.port: Any = None
        self.opened = 0  # times the link was opened
        self._closed_counts: dict | None = None  # what fault:// injected on links closed since

    def open(self) -> Any:
        """Open the device's link (LinkError if it cannot be opened now)."""
        url = self.running.url
        if self.faults is not None:  # a stream of its own for every opening, not the first one replayed
            url = fault_url(url, self.faults.for_device(self.index, self.opened))
        port = open_link(url, **(self.running.kwargs or {}))
        if hasattr(port, "power_switch"):  # fault:// reset: the injector cuts the device's power
            port.power_switch = self.running.power_cycle
        port = paced(port, self.line_rate)
        self.opened += 1
        self.port = port
        return port

    def close(self) -> None:
        port, self.port = self.port, None
        if port is None:
            return
        self._closed_counts = sum_fault_counts(self._closed_counts, _counts(port))
        try:
            port.close()
        except Exception:  # closing a link whose device is gone may fail; nothing to keep
            pass

    def fault_counts(self) -> dict | None:
        """What fault:// injected on every opening of this link (None without --faults)."""
        return sum_fault_counts(self._closed_counts, _counts(self.port))

    def rejoin(self, answers: Callable[[Any, float], None], why: str) -> int:
        """Close the link and open it again until `answers(port, seconds)`
        (the device answers on it within about `seconds`) succeeds; returns
        the attempts it took. DeviceGone when the device cannot come back
        (its process exited by itself) or is not back within the budget."""
        self.close()
        deadline = time.monotonic() + self.rejoin_timeout
        wait, attempts, last = FIRST_WAIT, 0, "not tried"
        while True:
            if not self.running.may_return():
                raise DeviceGone(f"device gone: {self.running.describe_exit()}")
            attempts += 1
            try:
                port = self.open()
                answers(port, max(0.1, deadline - time.monotonic()))
                return attempts
            except (LinkError, DeviceGone, DeviceError, ProtocolError, *LINK_ERRORS) as exc:
                last = one_line(exc)
                self.close()
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeviceGone(f"{why}; not back within {self.rejoin_timeout:g} s "
                                 f"({attempts} attempts to open its link again; last: {last})")
            time.sleep(min(wait, left))  # backoff: the device is rebooting or re-enumerating
            wait = min(2 * wait, LONGEST_WAIT)


def _counts(port: Any) -> dict | None:
    counts = getattr(port, "fault_counts", None)
    return counts() if counts is not None else None
