"""`host`: the firmware compiled natively (firmware/boards/host), run as a
process. `tifed-host --pty` opens a pseudo-terminal, prints `PTY /dev/pts/N`
on stdout and serves the protocol there; the harness opens that path with
pyserial like any other port."""
from __future__ import annotations

import collections
import os
import selectors
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path

from tifed.firmware import build
from tifed.boards.base import Availability, Board, RunningDevice
from tifed.firmware.build import FirmwareInfo
from tifed.boards.process import exit_reason, spawn, terminate
from tifed.errors import BuildError, DeviceError, DeviceGone

START_TIMEOUT = 10.0  # seconds for the process to print its PTY line


class HostDevice(RunningDevice):
    def __init__(self, image: Path, index: int, arena_bytes: int | None, start_timeout: float):
        self.index = index
        self.kwargs = {}
        self._stderr = tempfile.TemporaryFile()
        self._stdout_tail: collections.deque[str] = collections.deque(maxlen=5)
        self._stderr_at_stop = ""
        args = [str(image), "--pty"] + ([] if arena_bytes is None else ["--arena", str(arena_bytes)])
        try:
            self._proc = spawn(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0
            )
        except OSError as exc:
            self._stderr.close()
            raise DeviceError(f"cannot start {image}: {exc.strerror or exc}") from None
        # Reaps the process even if the caller forgets stop() or the
        # interpreter exits on an exception.
        self._finalizer = weakref.finalize(self, terminate, self._proc)
        try:
            self.url = self._read_pty_line(start_timeout)
        except BaseException:
            self.stop()
            raise
        threading.Thread(target=self._drain_stdout, name=f"host-{index}-stdout", daemon=True).start()

    def _read_pty_line(self, timeout: float) -> str:
        """The first stdout line, `PTY <path>`, waited for with a deadline."""
        out = self._proc.stdout
        line = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(out, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise DeviceError(f"host device {self.index} printed no PTY line within {timeout:g} s")
                chunk = os.read(out.fileno(), 1)  # byte by byte: nothing past the line is consumed
                if not chunk:
                    self._proc.wait()
                    raise DeviceGone(f"host device {self.index} did not start: {self.describe_exit()}")
                line += chunk
        text = line.decode("ascii", errors="replace").strip()
        parts = text.split(maxsplit=1)
        if len(parts) != 2 or parts[0] != "PTY":
            raise DeviceError(f"host device {self.index} printed {text!r}, expected 'PTY <path>'")
        return parts[1]

    def _drain_stdout(self) -> None:
        # Anything the firmware prints later must not fill the pipe and block it.
        for raw in iter(self._proc.stdout.readline, b""):
            self._stdout_tail.append(raw.decode("utf-8", errors="replace").rstrip())

    @property
    def pid(self) -> int:
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc.poll() is None

    def wait_gone(self, timeout: float) -> bool:
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self) -> None:
        self._finalizer()  # runs terminate once; later calls do nothing
        if not self._stderr.closed:
            self._stderr_at_stop = self._last_stderr_line()
            self._stderr.close()

    def _last_stderr_line(self) -> str:
        if self._stderr.closed:
            return self._stderr_at_stop
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - 4096))
        lines = [l for l in self._stderr.read().decode("utf-8", errors="replace").splitlines() if l.strip()]
        return lines[-1].strip() if lines else ""

    def describe_exit(self) -> str:
        code = self._proc.poll()
        if code is None:
            return f"host device {self.index} (pid {self._proc.pid}) is still running"
        how = exit_reason(code)
        last = self._last_stderr_line()
        return f"host device {self.index} (pid {self._proc.pid}) {how}" + (f": {last}" if last else "")


class HostBoard(Board):
    name = "host"
    family = "host"

    def __init__(self, arena_bytes: int | None = None, start_timeout: float = START_TIMEOUT):
        """`arena_bytes` limits the device's RAM arena (`--arena`), e.g. to
        mimic a small board; None keeps the firmware's default."""
        self.arena_bytes = arena_bytes
        self.start_timeout = start_timeout

    def image_path(self) -> Path:
        return build.build_dir("host") / "tifed-host"

    def availability(self) -> Availability:
        missing = tuple(build.missing_build_tools("host"))
        hints = [build.install_hint(missing)]
        if not (build.firmware_dir() / "Makefile").is_file():
            missing += ("firmware/Makefile",)
            hints.append("pip install -e a checkout, or set TIFED_FIRMWARE_DIR to its firmware/")
        fresh_image = not build.needs_build("host", self.image_path())
        return Availability(
            buildable=not missing,
            runnable=not missing or fresh_image,
            missing=missing,
            install_hint="; ".join(h for h in hints if h),
        )

    def firmware_info(self) -> FirmwareInfo | None:
        image = self.image_path()
        if not image.is_file():
            return None
        try:
            return build.firmware_info(image)
        except BuildError:
            return None

    def ram_arena_bytes(self) -> int | None:
        return self.arena_bytes

    def start(self, index: int) -> RunningDevice:
        image = build.ensure_built("host", self.image_path())
        return HostDevice(image, index, self.arena_bytes, self.start_timeout)
