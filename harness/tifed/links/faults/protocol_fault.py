"""pyserial URL handler `fault://`: a port that wraps another pyserial URL and
damages the bytes both ways (injector.py) at the rates of a FaultSpec.

    fault://<inner URL>#<spec>     e.g. fault:///dev/pts/3#corrupt=0.01,drop=0.01,seed=1
                                        fault://socket://127.0.0.1:4000#drop=0.05

pyserial finds this module once `tifed.links.faults.register()` has added the
package to `serial.protocol_handler_packages`; then `serial_for_url` (and so
every link of the harness) accepts the scheme. The inner URL is opened with
the same keyword arguments (baud rate, ...).

The link faults `reset=N` and `hangup=N` end the link right after the N-th
request frame written to it (a frame sent again is not a new request): from then on every read and write raises, as
on a port whose device went away. For a reset the port first throws the
device's power switch (`power_switch`, set by whoever owns the device:
RunningDevice.power_cycle), so the device also loses its RAM and comes back
after `reset_s` seconds; a hangup leaves the device running. Either way the
harness must notice, open the link again and find out what the device still
holds.
"""
from __future__ import annotations

import math
import time

import serial
from serial.serialutil import PortNotOpenError, SerialBase, SerialException
from serial.urlhandler.protocol_socket import Serial as SocketPort

from typing import Callable

from tifed.errors import TifedError
from tifed.links.faults.injector import FaultCounts, FaultStream
from tifed.links.faults.spec import parse_faults

POLL = 0.01  # seconds one read of the inner port may block


def split_url(url: str) -> tuple[str, str]:
    """`fault://INNER#SPEC` -> (INNER, SPEC)."""
    if not url.lower().startswith("fault://"):
        raise SerialException(f"expected a fault:// URL, got {url!r}")
    inner, sep, spec = url[len("fault://"):].rpartition("#")
    if not sep or not inner:
        raise SerialException(f"{url!r}: expected fault://<inner URL>#<faults>")
    return inner, spec


class Serial(SerialBase):
    def __init__(self, *args, **kwargs):
        self._inner = None
        self._tx: FaultStream | None = None
        self._rx: FaultStream | None = None
        self._ready = bytearray()
        self._requests = 0  # request frames written so far (not counting a frame sent again)
        self._last_frame = b""
        self._lost: str | None = None  # why the link ended (a reset or hangup fault)
        self.resets = 0
        self.hangups = 0
        # Throws the device's power: power_switch(off_seconds) makes it lose
        # its RAM and come back after that long (RunningDevice.power_cycle).
        self.power_switch: Callable[[float], None] | None = None
        super().__init__(*args, **kwargs)

    # --- pyserial's port life cycle ----------------------------------------------

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        inner_url, text = split_url(self.portstr)
        try:
            spec = parse_faults(text, where="fault:// URL")
        except TifedError as exc:  # pyserial's callers expect its own exception
            raise SerialException(str(exc)) from None
        self._inner = serial.serial_for_url(inner_url, baudrate=self._baudrate, timeout=POLL)
        self._tx = FaultStream(spec, "tx")
        self._rx = FaultStream(spec, "rx")
        self._ready.clear()
        self.spec = spec
        self.is_open = True

    def close(self) -> None:
        if self._inner is not None:
            try:
                self._inner.close()
            finally:
                self._inner = None
        self.is_open = False

    def _reconfigure_port(self) -> None:
        if self._inner is not None and self._inner.baudrate != self._baudrate:
            self._inner.baudrate = self._baudrate

    # --- bytes -------------------------------------------------------------------

    def write(self, data) -> int:
        self._check_link()
        data = bytes(data)
        now = time.monotonic()
        self._tx.feed(data, now)
        self._flush_tx(now)
        for frame in filter(None, data.split(b"\x00")[:-1]):  # each frame ended in this write
            if frame != self._last_frame:  # a frame sent again is the same request
                self._last_frame = frame
                self._requests += 1
                self._link_faults()
        return len(data)

    def _link_faults(self) -> None:
        spec, n = self.spec, self._requests
        if spec.reset and n % spec.reset == 0:
            if self.power_switch is None:
                raise SerialException("fault:// reset: nothing can power-cycle this device")
            self.resets += 1
            self.power_switch(spec.reset_s)
            self._lose(f"device power-cycled after request {n} (fault injector: reset={spec.reset})")
        elif spec.hangup and n % spec.hangup == 0:
            self.hangups += 1
            self._lose(f"link hung up after request {n} (fault injector: hangup={spec.hangup})")

    def _lose(self, why: str) -> None:
        self._lost = why
        self._ready.clear()
        if self._inner is not None:
            self._inner.close()
            self._inner = None

    def _check_link(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()
        if self._lost is not None:
            raise SerialException(f"link lost: {self._lost}")

    def read(self, size: int = 1) -> bytes:
        self._check_link()
        deadline = math.inf if self._timeout is None else time.monotonic() + self._timeout
        while True:
            now = time.monotonic()
            self._flush_tx(now)
            self._ready += self._rx.take(now)
            if len(self._ready) >= size:
                break
            if now >= deadline:  # timeout 0 (or spent): what is there without waiting
                self._pump(0.0)
                self._ready += self._rx.take(time.monotonic())
                break
            wait = min(POLL, deadline - now)
            due = min(filter(None, (self._rx.next_release(), self._tx.next_release())), default=None)
            if due is not None:
                wait = max(0.0, min(wait, due - now))
            self._pump(wait)
        out = bytes(self._ready[:size])
        del self._ready[:size]
        return out

    @property
    def in_waiting(self) -> int:
        self._check_link()
        self._flush_tx(time.monotonic())
        self._pump(0.0)
        self._ready += self._rx.take(time.monotonic())
        return len(self._ready)

    def reset_input_buffer(self) -> None:
        self._check_link()
        self._ready.clear()
        self._inner.reset_input_buffer()

    def reset_output_buffer(self) -> None:
        self._check_link()
        self._inner.reset_output_buffer()

    def fault_counts(self) -> dict[str, dict[str, int] | int]:
        """What was injected so far, per direction (tx: to the device), and
        the link faults."""
        tx = self._tx.counts if self._tx else FaultCounts()
        rx = self._rx.counts if self._rx else FaultCounts()
        return {"tx": tx.to_json(), "rx": rx.to_json(), "resets": self.resets, "hangups": self.hangups}

    # --- the inner port ------------------------------------------------------------

    def _flush_tx(self, now: float) -> None:
        out = self._tx.take(now)
        if out:
            self._inner.write(out)

    def _pump(self, wait: float) -> None:
        """Move what the inner port has (waiting up to `wait` for a first
        byte) through the receive injector."""
        inner = self._inner
        if isinstance(inner, SocketPort):
            # pyserial's socket port counts in_waiting as 0 or 1: a read with
            # timeout 0 after the first byte takes everything there is.
            inner.timeout = wait
            data = inner.read(1)
            if data:
                inner.timeout = 0
                data += inner.read(1 << 16)
        else:
            n = inner.in_waiting
            if not n and wait > 0:
                data = inner.read(1)  # blocks at most POLL (the inner timeout)
                n = inner.in_waiting
                data += inner.read(n) if n else b""
            else:
                data = inner.read(n) if n else b""
        if data:
            self._rx.feed(data, time.monotonic())
