"""A serial line made of two pseudo-terminals joined by socat
(`socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B`): what a USB serial
adapter with a board at its far end looks like to the harness, without
hardware. `port` is the harness's end; `device` the board's, where a test
runs the host firmware on stdin/stdout (or writes a byte itself)."""
from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tifed.boards.process import spawn, terminate  # children that die with the test process

START_TIMEOUT = 10.0


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        terminate(proc)


class PtyPair:
    def __init__(self, directory: Path):
        if shutil.which("socat") is None:
            pytest.skip("socat not installed (apt-get install socat)")
        self.port = directory / "port"
        self.device = directory / "device"
        self.firmware: subprocess.Popen | None = None
        # -d -d: socat says "starting data transfer loop" once both ptys exist.
        self.socat = spawn(
            ["socat", "-d", "-d", f"pty,raw,echo=0,link={self.device}", f"pty,raw,echo=0,link={self.port}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            self._await_line(b"starting data transfer loop")
        except BaseException:
            self.stop()
            raise

    def _await_line(self, text: bytes) -> None:
        fd = self.socat.stderr.fileno()
        seen = b""
        deadline = time.monotonic() + START_TIMEOUT
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while text not in seen:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise TimeoutError(f"socat did not start within {START_TIMEOUT:g} s: {seen!r}")
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(f"socat exited: {seen!r}")
                seen += chunk

    def run_firmware(self, image: Path) -> subprocess.Popen:
        """The host firmware serving the protocol on the device end."""
        with open(self.device, "r+b", buffering=0) as end:
            self.firmware = spawn([str(image)], stdin=end, stdout=end, stderr=subprocess.DEVNULL)
        return self.firmware

    def stop(self) -> None:
        _stop(self.firmware)
        _stop(self.socat)
        if self.socat.stderr is not None:
            self.socat.stderr.close()
