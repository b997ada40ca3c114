"""A serial line made of two pseudo-terminals joined by socat
(`socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B`): what a USB serial
adapter with a board at its far end looks like to the harness, without
hardware. `port` is the harness's end; `device` the board's, where a test
runs the host firmware on stdin/stdout (or writes a byte itself)."""
from __future__ import annotations

import ctypes
import os
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

START_TIMEOUT = 10.0
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """Nothing outlives the test process, even when it is killed outright."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class PtyPair:
    def __init__(self, directory: Path):
        if shutil.which("socat") is None:
            pytest.skip("socat not installed (apt-get install socat)")
        self.port = directory / "port"
        self.device = directory / "device"
        self.firmware: subprocess.Popen | None = None
        # -d -d: socat says "starting data transfer loop" once both ptys exist.
        self.socat = subprocess.Popen(
            ["socat", "-d", "-d", f"pty,raw,echo=0,link={self.device}", f"pty,raw,echo=0,link={self.port}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
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
            self.firmware = subprocess.Popen([str(image)], stdin=end, stdout=end, stderr=subprocess.DEVNULL,
                                             preexec_fn=_die_with_parent)
        return self.firmware

    def stop(self) -> None:
        _stop(self.firmware)
        _stop(self.socat)
        if self.socat.stderr is not None:
            self.socat.stderr.close()
