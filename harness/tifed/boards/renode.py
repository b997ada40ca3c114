"""Boards `renode-nrf52840` and `renode-stm32f4`: the firmware under Renode.

Every Renode device of a run is a machine in ONE Renode process, one
emulation, whatever its board (machines run serially in each quantum: the
same interleaving every run). Each machine's UART is a pseudo-terminal
behind a symlink in the fleet's work folder, which the server opens like
any serial port; the Monitor, on its own telnet port, builds the emulation
(renode_script.fleet_commands) and answers `sysbus.cpu ExecutedInstructions`
for RunningDevice.instructions().

Start-up checks `renode --version` once, then waits on events, each with a
deadline: Renode's log line saying the Monitor listens, the Monitor's
prompt after each command (whose answer must be what the command prints on
success), and the firmware's ready byte (a lone 0x00) on every UART. Stop:
Monitor `quit`, then SIGTERM and SIGKILL to the process group (Renode's
launcher script and renode-run keep Mono as a child). A failed start names
the Renode log it keeps.
"""
from __future__ import annotations

import collections
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path

from tifed.firmware import build
from tifed.boards import renode_script as rs
from tifed.boards.base import Availability, Board, RunningDevice
from tifed.boards.cross_image import CrossImage
from tifed.boards.process import kill_group_and_reap, spawn, wait_exited  # children die with the harness
from tifed.boards.renode_monitor import MonitorClient, MonitorError
from tifed.errors import ConfigError, DeviceError

START_TIMEOUT = 90.0  # seconds: Renode (a .NET program) is slow to start
COMMAND_TIMEOUT = 60.0  # seconds for one Monitor command (loading an ELF)
READY_TIMEOUT = 30.0  # seconds for the firmware's ready byte after `start`
QUIT_TIMEOUT = 15.0  # seconds for Renode to exit after `quit`
KILL_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
START_ATTEMPTS = 3  # a port taken between choosing it and Renode binding it
_LISTENING = "Monitor available in telnet mode on port"
# Renode deletes every folder in $TMPDIR named renode-* that no live process
# owns when it starts (TemporaryFilesManager.cs): ours must be named otherwise.
WORKDIR_PREFIX = "tifed-fleet-"

_versions: dict[tuple[str, ...], tuple[int, int, int]] = {}
_versions_lock = threading.Lock()


def checked_renode() -> list[str]:
    """The command that starts Renode, its version checked once per process."""
    command = rs.find_renode()
    if command is None:
        raise DeviceError(f"the Renode boards need Renode: {rs.missing_reason()} (install: {rs.INSTALL_HINT})")
    with _versions_lock:
        if tuple(command) not in _versions:
            try:
                _versions[tuple(command)] = rs.check_version(command)
            except rs.RenodeError as exc:
                raise DeviceError(str(exc)) from None
    return command


def _stop_process(proc: subprocess.Popen, monitor: MonitorClient | None) -> None:
    """Quit Renode politely, then terminate and kill its process group, and
    reap it (also run at interpreter exit by weakref.finalize). The Monitor
    connection stays open until Renode has gone: closing it at once could
    cut the `quit` off."""
    try:
        exited = wait_exited(proc, 0)
        if monitor is not None and not exited:
            monitor.send_quit()
            exited = wait_exited(proc, QUIT_TIMEOUT)
        for sig, wait in ((signal.SIGTERM, KILL_TIMEOUT), (signal.SIGKILL, None)):
            if exited:
                break
            try:
                os.killpg(proc.pid, sig)  # our own group: start_new_session=True
            except ProcessLookupError:
                break
            exited = wait_exited(proc, wait)
        kill_group_and_reap(proc)
    finally:
        if monitor is not None:
            monitor.close()


def _abandon(proc: subprocess.Popen, workdir: Path) -> None:
    """A fleet nobody stopped (its owner dropped it, or the interpreter is
    exiting): Renode goes, and so does its work folder, which no error named."""
    _stop_process(proc, None)
    shutil.rmtree(workdir, ignore_errors=True)


class RenodeFleet:
    """One Renode process running the machines of a run's Renode devices."""

    def __init__(self, command: list[str], members: list[tuple[str, Path, int]]):
        """members: (board name, firmware image, device index) per machine."""
        self.members = list(members)
        self.indices = [i for _, _, i in self.members]
        boards = sorted({b for b, _, _ in self.members})
        self.label = "+".join(boards)
        self.workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        self.log_path = self.workdir / "renode.log"
        self._command_prefix = command
        self._tail: collections.deque[str] = collections.deque(maxlen=20)
        self._listening = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._finalizer = None
        self.monitor: MonitorClient | None = None
        self.machines: list[rs.MachineSpec] = [
            rs.MachineSpec(f"dev{i}", board, elf, self.workdir / f"dev{i}.uart") for board, elf, i in self.members
        ]
        self._open_devices: set[int] = set()

    # --- start --------------------------------------------------------------

    def start(self) -> None:
        last: Exception | None = None
        for _ in range(START_ATTEMPTS):
            try:
                self._start_once()
                return
            except DeviceError as exc:
                last = exc
                taken = any("address already in use" in line.lower() for line in self._tail)
                self._kill()
                if not taken:
                    break
        raise DeviceError(f"{last} (Renode log: {self.log_path})")

    def _start_once(self) -> None:
        monitor_port = rs.free_tcp_port()
        try:
            commands = rs.fleet_commands(self.machines)
        except ValueError as exc:  # a path Renode's Monitor cannot take
            raise ConfigError(f"{self.label}: {exc}") from None
        title = f"TIFeD fleet: {len(self.machines)} machines ({self.label})"
        (self.workdir / "fleet.resc").write_text(rs.script_text(commands, title))  # to rerun it by hand
        self._launch(rs.renode_command(self._command_prefix, monitor_port))
        deadline = time.monotonic() + START_TIMEOUT
        try:
            self.monitor = MonitorClient.connect(
                monitor_port, deadline=deadline, listening=self._listening, alive=self.alive, timeout=COMMAND_TIMEOUT
            )
            for command in commands:
                error = rs.unexpected_output(command, self.monitor.execute(command))
                if error is not None:
                    raise MonitorError(f"`{command}` failed: {error}")
            for spec in self.machines:  # every machine must exist and have a CPU
                self.executed_instructions(spec.name)
            for spec in self.machines:
                self._await_ready_byte(spec, time.monotonic() + READY_TIMEOUT)
        except MonitorError as exc:
            raise DeviceError(f"{self.label}: Renode did not set up the fleet: {exc}{self._last_line()}") from None
        self._open_devices = set(self.indices)

    def _launch(self, argv: list[str]) -> None:
        self._tail.clear()
        self._listening.clear()
        try:
            self._proc = spawn(
                argv,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one group to signal: the launcher and its Mono
            )
        except OSError as exc:
            raise DeviceError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        self._finalizer = weakref.finalize(self, _abandon, self._proc, self.workdir)
        threading.Thread(target=self._drain_log, args=(self._proc,), name="renode-log", daemon=True).start()

    def _drain_log(self, proc: subprocess.Popen) -> None:
        """Renode's log goes to a file and a short tail; the line that says the
        Monitor listens sets the event MonitorClient.connect waits on."""
        with open(self.log_path, "ab") as log:
            for raw in iter(proc.stdout.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", errors="replace").rstrip()
                if line:
                    self._tail.append(line)
                if _LISTENING in line:
                    self._listening.set()
        proc.stdout.close()  # here, not in stop(): this thread may still be reading

    def _await_ready_byte(self, spec: rs.MachineSpec, deadline: float) -> None:
        """The firmware writes one 0x00 once its UART receives; bytes sent
        earlier would be dropped by Renode's UART model. Read from the pty
        and close it again (Renode keeps its own end open, so nothing is
        lost before the server opens it)."""
        try:
            fd = os.open(spec.uart_link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            raise MonitorError(f"{spec.name}: cannot open its UART {spec.uart_link} ({exc.strerror})") from None
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise MonitorError(f"{spec.name}: the firmware sent no ready byte within {READY_TIMEOUT:g} s")
                if not select.select([fd], [], [], left)[0]:
                    continue
                try:
                    data = os.read(fd, 256)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    raise MonitorError(f"{spec.name}: its UART failed ({exc.strerror})") from None
                if b"\x00" in data:
                    return
        finally:
            os.close(fd)

    def _last_line(self) -> str:
        return f"; last log line: {self._tail[-1]}" if self._tail else ""

    # --- running ------------------------------------------------------------

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def executed_instructions(self, machine: str) -> int:
        """`sysbus.cpu ExecutedInstructions` of one machine (since it started)."""
        if self.monitor is None:
            raise MonitorError("Renode Monitor not connected")
        with self._lock:  # `mach set` and the query must not interleave with another device's
            error = rs.unexpected_output("mach set", self.monitor.execute(f'mach set "{machine}"'))
            if error is not None:
                raise MonitorError(f"Renode Monitor: `mach set \"{machine}\"` failed: {error}")
            return self.monitor.query_number("sysbus.cpu ExecutedInstructions")

    def run_commands(self, commands: list[str]) -> None:
        """Monitor commands that print nothing when they work (power cycles)."""
        monitor = self.monitor  # stop() may clear it meanwhile (a power-on timer after the run)
        if monitor is None:
            raise MonitorError("Renode Monitor not connected")
        with self._lock:  # `mach set` and what follows must not interleave with another device's
            for command in commands:
                error = rs.unexpected_output(command, monitor.execute(command))
                if error is not None:
                    raise MonitorError(f"Renode Monitor: `{command}` failed: {error}")

    def describe_exit(self) -> str:
        if self._proc is None:
            return f"{self.label}: Renode never started"
        code = self._proc.poll()
        last = f": {self._tail[-1]}" if self._tail else ""
        if code is None:
            return f"{self.label}: Renode (pid {self._proc.pid}) is running{last}"
        how = f"exited with code {code}" if code >= 0 else f"killed by signal {-code}"
        log = f" (log: {self.log_path})" if self.log_path.is_file() else ""
        return f"{self.label}: Renode (pid {self._proc.pid}) {how}{last}{log}"

    # --- stop ---------------------------------------------------------------

    def release(self, index: int) -> None:
        """Device `index` is done; the last one stops Renode."""
        with self._lock:
            self._open_devices.discard(index)
            last = not self._open_devices
        if last:
            self.stop()

    def stop(self, keep_log: bool = False) -> None:
        """Stop Renode; its work folder (log, fleet.resc, UART links) goes
        too unless `keep_log` (a failed start names the log in its error)."""
        self._kill(polite=True)
        if keep_log:
            for spec in self.machines:  # dangling once Renode is gone
                spec.uart_link.unlink(missing_ok=True)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _kill(self, polite: bool = False) -> None:
        if self._proc is None:
            return
        if self._finalizer is not None:
            self._finalizer.detach()
        _stop_process(self._proc, self.monitor if polite else None)
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None


class RenodeDevice(RunningDevice):
    def __init__(self, fleet: RenodeFleet, index: int, spec: rs.MachineSpec):
        self.fleet = fleet
        self.index = index
        self.machine = spec.name
        self.url = str(spec.uart_link)
        self.kwargs = {}
        self._stopped = False
        self._spec = spec
        self._comeback_error = ""

    def alive(self) -> bool:
        return not self._stopped and self.fleet.alive()

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.fleet.release(self.index)

    def describe_exit(self) -> str:
        if self._comeback_error:
            return f"{self.machine} did not come back after a power cycle: {self._comeback_error}"
        return f"{self.machine}: {self.fleet.describe_exit()}"

    def power_cycle(self, off_seconds: float) -> None:
        """The machine loses its RAM now and boots again after `off_seconds`
        (rs.power_off_commands); the rest of the emulation runs on."""
        try:
            self.fleet.run_commands(rs.power_off_commands(self._spec))
        except MonitorError as exc:
            raise DeviceError(f"{self.machine}: cannot power-cycle it: {exc}") from None
        timer = threading.Timer(off_seconds, self._power_on)
        timer.daemon = True
        timer.start()

    def _power_on(self) -> None:
        if self._stopped or not self.fleet.alive():
            return
        try:
            self.fleet.run_commands(rs.power_on_commands(self._spec))
        except MonitorError as exc:  # told by describe_exit(); the machine then stays off
            self._comeback_error = str(exc)

    def instructions(self) -> int | None:
        """Instructions this machine's CPU has executed since `start` (idle
        time in WFI executes none), or None if the Monitor cannot tell."""
        if self._stopped or not self.fleet.alive():
            return None
        try:
            return self.fleet.executed_instructions(self.machine)
        except MonitorError:
            return None


class RenodeBoard(CrossImage, Board):
    family = "renode"
    can_power_cycle = True

    def __init__(self, name: str):
        if name not in rs.BOARDS:
            raise ValueError(f"not a Renode board: {name}")
        self.name = name
        self.platform = rs.BOARDS[name]

    def availability(self) -> Availability:
        build_missing = list(build.missing_build_tools(self.name))
        if not (build.firmware_dir() / "Makefile").is_file():
            build_missing.append("firmware/Makefile")
        hints = [build.install_hint(build_missing)]
        run_missing = []
        if rs.find_renode() is None:
            run_missing.append("renode")
            hints.append(rs.INSTALL_HINT)
        fresh_image = not build.needs_build(self.name, self.image_path())
        return Availability(
            buildable=not build_missing,
            runnable=not run_missing and (not build_missing or fresh_image),
            missing=tuple(build_missing + run_missing),
            install_hint="; ".join(h for h in hints if h),
        )

    def start(self, index: int) -> RunningDevice:
        return self.start_many([index])[0]

    def start_many(self, indices: list[int]) -> list[RunningDevice]:
        return self.start_together([(self, i) for i in indices])

    def start_group(self) -> object:
        return RenodeBoard  # every Renode device of a run in one emulation

    @classmethod
    def start_together(cls, members: list[tuple[Board, int]]) -> list[RunningDevice]:
        """One Renode process with a machine per (board, index)."""
        command = checked_renode()
        images = {}
        for board, _ in members:
            if board.name not in images:
                images[board.name] = build.ensure_built(board.name, board.image_path())
        fleet = RenodeFleet(command, [(board.name, images[board.name], i) for board, i in members])
        try:
            fleet.start()
        except DeviceError:
            fleet.stop(keep_log=True)
            raise
        except BaseException:
            fleet.stop()
            raise
        return [RenodeDevice(fleet, i, spec) for (_, i), spec in zip(members, fleet.machines)]
