"""Robot keywords that talk to a board's UART through the pseudo-terminal
its .resc creates (`emulation CreateUartPtyTerminal`), byte for byte.

Renode 1.15.3's terminal tester matches text lines only (`Wait For Bytes On
Uart` and binary testers came later); PROTOCOL.md frames are binary, so the
suites read the pty themselves, as the harness does. Standard library only:
renode-test runs Robot in its own Python, without pyserial. Timeouts are
host seconds (the emulation runs at host speed: SetGlobalAdvanceImmediately
is not set here, but the frames are small).

Used by tifed.resource as `Library  TifedUart.py`; the same keywords run
against the host build in suites/unit/test_renode_robot.py.
"""
from __future__ import annotations

import os
import re
import select
import termios
import time
import tty

DEFAULT_TIMEOUT = 30.0


class TifedUart:
    ROBOT_LIBRARY_SCOPE = "TEST"
    ROBOT_LISTENER_API_VERSION = 3

    def __init__(self):
        self.ROBOT_LIBRARY_LISTENER = self
        self._fd: int | None = None
        self._buffer = bytearray()

    def open_uart(self, path: str) -> None:
        """Open the pty behind `path` (raw mode: bytes pass unchanged; set
        at once, not after a flush, which would drop the ready byte)."""
        self.close_uart()
        self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._fd, termios.TCSANOW)
        self._buffer.clear()

    def send_frame(self, *codes: str) -> None:
        """Write the bytes given as `0x..` strings (tifed_frames.py)."""
        data = bytes(int(str(c), 0) for c in codes)
        while data:
            data = data[os.write(self._require(), data):]

    def wait_for_answer(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """Wait until the unread bytes, as Latin-1 text, start with a match of
        the regex `pattern` (`\\xNN` escapes, dot matches newline); consume
        and return the match. Empty frames before it (a lone 0x00: the
        firmware ends every answer with a second delimiter, PROTOCOL.md) are
        skipped, as every receiver skips them."""
        compiled = re.compile(pattern, re.DOTALL)
        deadline = time.monotonic() + float(timeout)
        while True:
            while self._buffer[:1] == b"\x00":
                del self._buffer[0]
            match = compiled.match(self._buffer.decode("latin-1"))
            if match:
                del self._buffer[: match.end()]
                return match.group(0).encode("latin-1")
            self._read_more(deadline, f"no answer matching {pattern!r}", timeout)

    def wait_for_ready_byte(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """The firmware writes one 0x00 once its UART receives (bytes sent
        earlier would be dropped by the UART model)."""
        deadline = time.monotonic() + float(timeout)
        while b"\x00" not in self._buffer:
            self._read_more(deadline, "no ready byte", timeout)
        del self._buffer[: self._buffer.index(b"\x00") + 1]

    def _read_more(self, deadline: float, what: str, timeout: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{what} within {float(timeout):g} s; unread bytes: {bytes(self._buffer)!r}")
        if select.select([self._require()], [], [], left)[0]:
            chunk = os.read(self._require(), 4096)
            if not chunk:
                raise AssertionError("the UART closed")
            self._buffer += chunk

    def close_uart(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _require(self) -> int:
        if self._fd is None:
            raise AssertionError("no UART open (Open Uart first)")
        return self._fd

    def end_test(self, data, result) -> None:
        self.close_uart()
