"""`host`: the firmware compiled natively (firmware/boards/host), run as a
process. `tifed-host --pty` opens a pseudo-terminal, prints `PTY /dev/pts/N`
on stdout and serves the protocol there; the harness opens it, through a
symlink of the device's own that outlives a power cycle, with pyserial like
any other port."""
from __future__ import annotations

import collections
import os
import selectors
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path

from tifed.firmware import build
from tifed.boards.base import Availability, Board, RunningDevice
from tifed.firmware.build import FirmwareInfo
from tifed.boards.process import PowerCycledProcess, exit_reason, spawn, terminate
from tifed.errors import BuildError, DeviceError, DeviceGone

START_TIMEOUT = 10.0  # seconds for the process to print its PTY line


class HostDevice(PowerCycledProcess, RunningDevice):
    """One firmware process. Its `url` is a symlink in a folder of its own
    to the process's pty, as udev's /dev/serial/by-id names are to a USB
    port: power_cycle() kills the process (the port disappears with its RAM)
    and starts a new one behind the same name after the off time."""

    def __init__(self, image: Path, index: int, arena_bytes: int | None, start_timeout: float):
        self.index = index
        self.kwargs = {}
        # --stay: the process outlives the harness closing its port, as a
        # board outlives a pulled cable (the link may be opened again); the
        # harness ends it with stop() (and the kernel, if the harness dies).
        self._args = [str(image), "--pty", "--stay"] + ([] if arena_bytes is None else ["--arena", str(arena_bytes)])
        self._start_timeout = start_timeout
        self._stderr = tempfile.TemporaryFile()
        self._stdout_tail: collections.deque[str] = collections.deque(maxlen=5)
        self._stderr_at_stop = ""
        self._dir = tempfile.mkdtemp(prefix=f"tifed-host{index}-")
        self.url = os.path.join(self._dir, "tty")
        self._init_power_switch()
        # Reaps the current process and removes the folder even if the caller
        # forgets stop() or the interpreter exits on an exception.
        self._finalizer = weakref.finalize(self, _shut_down, self._current, self._dir)
        try:
            self._launch()
        except BaseException:
            self.stop()
            raise

    def _launch(self) -> None:
        try:
            proc = spawn(self._args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, bufsize=0)
        except OSError as exc:
            raise DeviceError(f"cannot start {self._args[0]}: {exc.strerror or exc}") from None
        self._current[:] = [proc]
        pty = self._read_pty_line(proc, self._start_timeout)
        threading.Thread(target=self._drain_stdout, args=(proc,), name=f"host-{self.index}-stdout", daemon=True).start()
        link = self.url + ".new"
        os.symlink(pty, link)
        os.replace(link, self.url)  # the port appears at once, whole

    def _read_pty_line(self, proc: subprocess.Popen, timeout: float) -> str:
        """The first stdout line, `PTY <path>`, waited for with a deadline."""
        out = proc.stdout
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
                    proc.wait()
                    raise DeviceGone(f"host device {self.index} did not start: {self.describe_exit()}")
                line += chunk
        text = line.decode("ascii", errors="replace").strip()
        parts = text.split(maxsplit=1)
        if len(parts) != 2 or parts[0] != "PTY":
            raise DeviceError(f"host device {self.index} printed {text!r}, expected 'PTY <path>'")
        return parts[1]

    def _drain_stdout(self, proc: subprocess.Popen) -> None:
        # Anything the firmware prints later must not fill the pipe and block it.
        for raw in iter(proc.stdout.readline, b""):
            self._stdout_tail.append(raw.decode("utf-8", errors="replace").rstrip())

    @property
    def pid(self) -> int:
        return self._proc.pid

    def wait_gone(self, timeout: float) -> bool:
        if self._cycling:
            return False  # off for now, but coming back
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _on_power_off(self) -> None:
        """The port name goes with the power, as a USB port's does."""
        try:
            os.unlink(self.url)
        except FileNotFoundError:
            pass

    def stop(self) -> None:
        self._switch_off(self._finalizer)  # runs _shut_down once; later calls do nothing
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
        cycling = self._power_state(f"host device {self.index}")
        if cycling:
            return cycling
        code = self._proc.poll()
        if code is None:
            return f"host device {self.index} (pid {self._proc.pid}) is still running"
        how = exit_reason(code)
        last = self._last_stderr_line()
        return f"host device {self.index} (pid {self._proc.pid}) {how}" + (f": {last}" if last else "")


def _shut_down(current: list[subprocess.Popen], folder: str) -> None:
    for proc in current:
        terminate(proc)
    shutil.rmtree(folder, ignore_errors=True)


class HostBoard(Board):
    name = "host"
    family = "host"
    can_power_cycle = True

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
