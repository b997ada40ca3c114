"""Child processes that never outlive the harness (host firmware, QEMU,
Renode): one spawning thread sets PR_SET_PDEATHSIG on each child, and
`terminate` stops and reaps one (SIGTERM, then SIGKILL). PowerCycledProcess
is the power switch of a device that is such a process (the reset fault)."""
from __future__ import annotations

import ctypes
import os
import queue
import resource
import select
import signal
import subprocess
import threading
from typing import Callable

STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL

PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved now: no dlopen after fork
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _child_setup(parent_pid: int):
    def preexec() -> None:
        # An emulator aborts when the guest locks up; that needs no core file.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if _prctl is not None:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class _Spawner:
    """Runs every Popen on one daemon thread that lives as long as the
    harness, so PR_SET_PDEATHSIG fires when the harness dies and not when
    the (pool) thread that called start() finishes: the signal follows the
    thread that forked, not the process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def popen(self, args: list[str], **kwargs) -> subprocess.Popen:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="tifed-spawner", daemon=True)
                self._thread.start()
        done = threading.Event()
        box: dict = {}
        self._jobs.put((args, kwargs, done, box))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["proc"]

    def _serve(self) -> None:
        while True:
            args, kwargs, done, box = self._jobs.get()
            try:
                box["proc"] = subprocess.Popen(args, preexec_fn=_child_setup(os.getpid()), **kwargs)
            except BaseException as exc:  # handed to the caller's thread
                box["error"] = exc
            done.set()


_spawner = _Spawner()


def spawn(args: list[str], **kwargs) -> subprocess.Popen:
    """subprocess.Popen(args, **kwargs) for a child that dies with the harness."""
    return _spawner.popen(args, **kwargs)


def terminate(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    """Stop and reap `proc` (also fit for weakref.finalize at interpreter exit)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_exited(proc: subprocess.Popen, timeout: float | None) -> bool:
    """True once `proc` has exited, WITHOUT reaping it: while it is an
    unreaped zombie its pid (which is also its process-group id) cannot be
    reused, so the group can still be signalled safely afterwards."""
    if proc.returncode is not None:
        return True
    try:
        pidfd = os.pidfd_open(proc.pid)  # readable once the process has exited
    except (AttributeError, OSError):  # not Linux >= 5.3: reap, and accept the tiny pid-reuse window
        try:
            proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def kill_group_and_reap(proc: subprocess.Popen) -> None:
    """SIGKILL whatever is left in `proc`'s process group (the children of a
    wrapper such as renode-run outlive their parent otherwise), then reap
    `proc`. For a child started with start_new_session=True."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def exit_reason(code: int, exited: str = "exited with code") -> str:
    """How a reaped child ended: 'killed by SIGKILL' or '<exited> 3'."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"{exited} {code}"


class PowerCycledProcess:
    """The power switch of a device that is a process the harness runs (host
    firmware, QEMU), for the reset fault: power_cycle() kills the process
    now (its RAM and its link die with it) and starts a new one with
    _launch() after the off time. Meanwhile the device counts as alive (it
    is rebooting) and describe_exit says so. A subclass calls
    _init_power_switch() first, keeps its process in self._current (where
    _launch() puts each new one), and may add what else goes with the power
    in _on_power_off()."""

    _launch: Callable[[], None]

    def _init_power_switch(self) -> None:
        self._current: list[subprocess.Popen] = []
        self._lock = threading.Lock()  # a power cycle against stop()
        self._cycling = False  # off, or starting again, after power_cycle()
        self._stopped = False
        self._comeback_error = ""

    @property
    def _proc(self) -> subprocess.Popen:
        return self._current[0]

    def alive(self) -> bool:
        return self._cycling or self._proc.poll() is None

    def power_cycle(self, off_seconds: float) -> None:
        with self._lock:
            if self._stopped or self._cycling:
                return
            self._cycling = True
            self._proc.kill()
            self._proc.wait()
            self._on_power_off()
        timer = threading.Timer(off_seconds, self._power_on)
        timer.daemon = True
        timer.start()

    def _on_power_off(self) -> None:
        """What else goes when the power does (held under the lock)."""

    def _power_on(self) -> None:
        with self._lock:
            try:
                if not self._stopped:
                    self._launch()
            except Exception as exc:  # told by describe_exit(); the device then stays gone
                self._comeback_error = str(exc)
            finally:
                self._cycling = False

    def _switch_off(self, finalizer: Callable[[], object]) -> None:
        """stop(): for good; `finalizer` reaps the process (once)."""
        with self._lock:
            self._stopped = True
            finalizer()

    def _power_state(self, who: str) -> str | None:
        """describe_exit()'s line while a power cycle is under way or failed."""
        if self._comeback_error:
            return f"{who} did not come back after a power cycle: {self._comeback_error}"
        if self._cycling:
            return f"{who} is being power-cycled"
        return None
