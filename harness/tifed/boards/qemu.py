"""QEMU boards (`qemu-mps2-an386`, `qemu-netduinoplus2`, `qemu-microbit`):
the Cortex-M firmware image run by qemu-system-arm, its UART on a TCP socket
that the harness opens as `socket://127.0.0.1:PORT`.

How a device starts, and why:
- The harness binds and listens on an ephemeral port itself and hands the
  listening socket to QEMU (`-chardev socket,fd=N,server=on,wait=on`): no
  port is ever picked and freed for someone else to take, and a connect can
  never come too early, since the kernel queues it from the first moment.
  A power cycle (the reset fault) kills QEMU and, after the off time, binds
  the same port again for a new one: the device is back at its address.
- With wait=on QEMU runs the guest only once a client is connected. That
  first client is this module: it waits for the single 0x00 byte each board
  sends once its UART is enabled (QEMU's STM32 USART drops bytes that arrive
  earlier), then disconnects, and QEMU listens again for the harness.
- nodelay=on: the guest sends byte by byte; with Nagle's algorithm each
  answer would wait ~40 ms for the harness's delayed ACK.
- `-icount shift=N,sleep=off` makes the virtual clock advance exactly 2^N ns
  per instruction, and not with host time while the guest sleeps, so the
  boards' timers count instructions (firmware/boards/README-qemu.md). N and
  the machine come from the board's board.mk, so image and emulator agree.
- No QEMU outlives the harness: each is reaped by stop(), by a finalizer at
  interpreter exit, and, if the harness is killed outright, by the kernel
  (PR_SET_PDEATHSIG, set from one long-lived spawning thread because the
  signal follows the thread that forked, not the process).
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from tifed.firmware import build
from tifed.boards.base import Availability, Board, RunningDevice
from tifed.boards.cross_image import CrossImage
from tifed.boards.process import STOP_TIMEOUT, PowerCycledProcess, exit_reason, spawn, terminate
from tifed.errors import ConfigError, DeviceError, DeviceGone

QEMU = "qemu-system-arm"
READY_TIMEOUT = 30.0  # seconds from QEMU's start to the firmware's ready byte
READY_BYTE = b"\x00"

# QEMU's own chatter that says nothing about why a device died.
_LOG_NOISE = ("QEMU waiting for connection", "icount sleep disabled")
# Lines that do: the firmware's fatal report (semihosting), QEMU's errors.
_LOG_TELLING = ("tifed firmware:", "qemu: ", "qemu-system-arm: ")


# --- board settings (board.mk) -------------------------------------------------

def _make_variable(text: str, name: str) -> str | None:
    match = re.search(rf"^\s*{name}\s*:?=\s*(\S+)\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


@functools.lru_cache(maxsize=None)
def board_settings(name: str) -> tuple[str, int]:
    """(QEMU machine, icount shift) from boards/<name>/board.mk, where the
    shift may come from the shared boards/cortex-m/qemu.mk it includes."""
    boards = build.firmware_dir() / "boards"
    try:
        board_mk = (boards / name / "board.mk").read_text()
    except OSError:
        raise ConfigError(f"board {name}: firmware/boards/{name}/board.mk is missing") from None
    machine = _make_variable(board_mk, "QEMU_MACHINE")
    shift = _make_variable(board_mk, "QEMU_ICOUNT_SHIFT")
    if shift is None:
        try:
            shift = _make_variable((boards / "cortex-m" / "qemu.mk").read_text(), "QEMU_ICOUNT_SHIFT")
        except OSError:
            shift = None
    if machine is None or shift is None or not shift.isdigit():
        raise ConfigError(f"board {name}: board.mk does not set QEMU_MACHINE and QEMU_ICOUNT_SHIFT")
    return machine, int(shift)


@functools.lru_cache(maxsize=None)
def _qemu_machines() -> frozenset[str]:
    try:
        done = subprocess.run([QEMU, "-M", "help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(line.split()[0] for line in done.stdout.splitlines()[1:] if line.strip())


# --- one running QEMU ----------------------------------------------------------

class QemuDevice(PowerCycledProcess, RunningDevice):
    def __init__(self, board: str, index: int, image: Path, machine: str, shift: int,
                 ready_timeout: float = READY_TIMEOUT):
        self.board = board
        self.index = index
        self.kwargs = {}
        self._image, self._machine, self._shift = image, machine, shift
        self._ready_timeout = ready_timeout
        self._log = tempfile.TemporaryFile()
        self._log_at_stop = ""
        self.port = 0  # chosen by the kernel at the first start, kept across power cycles
        self._init_power_switch()
        # Reaps QEMU even if the caller forgets stop() or the interpreter
        # exits on an exception.
        self._finalizer = weakref.finalize(self, _shut_down, self._current)
        try:
            self._launch()
        except BaseException:
            self.stop()
            raise
        self.url = f"socket://127.0.0.1:{self.port}"

    def _launch(self) -> None:
        """Start QEMU on a listening socket of our own (the same port again
        after a power cycle) and wait for the firmware's ready byte."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ready_link = None
        try:
            # A port of connections just cut by a killed QEMU is still in
            # TIME_WAIT; binding it again needs SO_REUSEADDR.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(4)
            self.port = listener.getsockname()[1]
            # Queued first, so QEMU's first client is the ready-byte watcher
            # even when the harness is already knocking to reconnect.
            ready_link = socket.create_connection(("127.0.0.1", self.port), timeout=self._ready_timeout)
            self.command = [
                QEMU, "-M", self._machine, "-nographic", "-monitor", "none", "-no-reboot",
                "-icount", f"shift={self._shift},sleep=off",
                "-semihosting-config", "enable=on,target=native",
                "-chardev", f"socket,id=link,fd={listener.fileno()},server=on,wait=on,nodelay=on",
                "-serial", "chardev:link",
                "-kernel", str(self._image),
            ]
            self._current[:] = [spawn(
                self.command, pass_fds=(listener.fileno(),), stdin=subprocess.DEVNULL,
                stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
            )]
        except OSError as exc:
            if ready_link is not None:
                ready_link.close()
            raise DeviceError(f"{self._who()}: cannot start {QEMU}: {exc.strerror or exc}") from None
        finally:
            listener.close()  # QEMU holds its own copy
        with ready_link:
            self._await_ready(ready_link, self._ready_timeout)

    def _who(self) -> str:
        return f"{self.board} device {self.index}"

    def _await_ready(self, link: socket.socket, timeout: float) -> None:
        """Be QEMU's first client until the firmware's ready byte arrives."""
        deadline = time.monotonic() + timeout
        link.settimeout(0.1)  # how often a dead QEMU is noticed
        while True:
            try:
                data = link.recv(1)
            except socket.timeout:
                if self._proc.poll() is not None:
                    raise DeviceGone(f"{self._who()} did not start: {self.describe_exit()}") from None
                if time.monotonic() > deadline:
                    raise DeviceError(f"{self._who()}: the firmware sent no ready byte within {timeout:g} s") from None
                continue
            if not data:  # QEMU closed the socket: it is exiting
                try:
                    self._proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass
                raise DeviceGone(f"{self._who()} did not start: {self.describe_exit()}")
            if data != READY_BYTE:
                raise DeviceError(f"{self._who()}: the firmware sent {data!r} where the ready byte 0x00 belongs")
            return

    @property
    def pid(self) -> int:
        return self._proc.pid

    def stop(self) -> None:
        self._switch_off(self._finalizer)  # runs _shut_down once; later calls do nothing
        if not self._log.closed:
            self._log_at_stop = self._last_log_line()
            self._log.close()

    def _last_log_line(self) -> str:
        if self._log.closed:
            return self._log_at_stop
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - 4096))
        lines = [
            line.strip()
            for line in self._log.read().decode("utf-8", errors="replace").splitlines()
            if line.strip() and not any(noise in line for noise in _LOG_NOISE)
        ]
        # A register dump may follow the line that says what happened.
        telling = [line for line in lines if line.startswith(_LOG_TELLING)]
        return (telling or lines or [""])[-1]

    def describe_exit(self) -> str:
        cycling = self._power_state(self._who())
        if cycling:
            return cycling
        code = self._proc.poll()
        who = f"{self._who()} (QEMU pid {self._proc.pid})"
        if code is None:
            return f"{who} is still running"
        how = exit_reason(code, "exited with status")
        last = self._last_log_line()
        return f"{who} {how}" + (f": {last}" if last else "")


def _shut_down(current: list[subprocess.Popen]) -> None:
    for proc in current:
        terminate(proc)


# --- the board -----------------------------------------------------------------

class QemuBoard(CrossImage, Board):
    family = "qemu"
    can_power_cycle = True

    def __init__(self, name: str, ready_timeout: float = READY_TIMEOUT):
        self.name = name
        self.ready_timeout = ready_timeout

    def availability(self) -> Availability:
        build_missing = list(build.missing_build_tools(self.name))
        if not (build.firmware_dir() / "Makefile").is_file():
            build_missing.append("firmware/Makefile")
        run_missing: list[str] = []
        hint = build.install_hint(build_missing)
        if shutil.which(QEMU) is None:
            run_missing.append(QEMU)
            hint = build.install_hint(build_missing + run_missing)
        elif board_settings(self.name)[0] not in _qemu_machines():
            run_missing.append(f"{QEMU} with machine {board_settings(self.name)[0]}")
            hint = "; ".join(filter(None, [hint, "apt-get install qemu-system-arm (QEMU 7.2 or newer)"]))
        fresh_image = not build.needs_build(self.name, self.image_path())
        return Availability(
            buildable=not build_missing,
            runnable=not run_missing and (not build_missing or fresh_image),
            missing=tuple(build_missing + run_missing),
            install_hint=hint,
        )

    def start(self, index: int) -> RunningDevice:
        machine, shift = board_settings(self.name)
        if shutil.which(QEMU) is None:
            raise DeviceError(f"cannot start {self.name}: {QEMU} not found (install: {build.install_hint([QEMU])})")
        image = build.ensure_built(self.name, self.image_path())
        return QemuDevice(self.name, index, image, machine, shift, self.ready_timeout)
