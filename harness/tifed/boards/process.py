"""Child processes that never outlive the harness (host firmware, QEMU,
Renode): one spawning thread sets PR_SET_PDEATHSIG on each child, and
`terminate` stops and reaps one (SIGTERM, then SIGKILL)."""
from __future__ import annotations

import ctypes
import os
import queue
import resource
import select
import signal
import subprocess
import threading

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
